"""Retention: archive audit entries older than KAIZEN_AUDIT_RETENTION_DAYS to JSONL, then prune them.

    manage.py audit_prune [--days N] [--archive-dir DIR] [--dry-run]

The archive file (audit-<cutoff>-<first id>-<last id>.jsonl) is written and fsynced first; the
rows are deleted afterwards in the same transaction, the only place the append-only triggers
(PostgreSQL and SQLite) let a DELETE through (kaizen_web/append_only.py ``permit``). If anything fails
nothing is deleted.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from audit import conf
from audit.models import AuditEntry
from kaizen_web import append_only

FIELDS = ["id", "timestamp", "actor_id", "actor_name", "owner_id", "workspace_id", "object_type", "object_id", "graph_id", "run_id",
          "node_id", "event", "status", "summary", "data"]


class Command(BaseCommand):
    help = "Archive audit entries older than the retention period to JSONL, then delete them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None, help="keep this many days (default KAIZEN_AUDIT_RETENTION_DAYS)")
        parser.add_argument("--archive-dir", default=None, help="where the JSONL archive goes")
        parser.add_argument("--dry-run", action="store_true", help="count only")

    def handle(self, *args, **opts) -> None:
        days = opts["days"] if opts["days"] is not None else conf.get("KAIZEN_AUDIT_RETENTION_DAYS")
        cutoff = timezone.now() - timedelta(days=days)
        old = AuditEntry.objects.filter(timestamp__lt=cutoff).order_by("id")
        if opts["dry_run"]:
            self.stdout.write(f"{old.count()} entries older than {cutoff:%Y-%m-%d %H:%M} would be archived and pruned")
            return
        directory = Path(opts["archive_dir"] or conf.get("KAIZEN_AUDIT_ARCHIVE_DIR") or Path(settings.VAR_DIR) / "audit-archive")
        directory.mkdir(parents=True, exist_ok=True)
        with transaction.atomic():
            last_id = old.values_list("id", flat=True).last()
            if last_id is None:
                self.stdout.write("nothing to prune")
                return
            doomed = old.filter(id__lte=last_id)
            path = directory / f"audit-{cutoff:%Y%m%dT%H%M%S}-upto-{last_id}.jsonl"
            count = 0
            with open(path, "w", encoding="utf-8") as out:
                for row in doomed.values(*FIELDS).iterator(chunk_size=5000):
                    row["timestamp"] = row["timestamp"].isoformat()
                    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    count += 1
                out.flush()
                os.fsync(out.fileno())
            table = AuditEntry._meta.db_table
            with append_only.permit("audit"), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE timestamp < %s AND id <= %s", [cutoff, last_id])
                deleted = cursor.rowcount
        self.stdout.write(f"archived {count} entries to {path}; pruned {deleted}")
