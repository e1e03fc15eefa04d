"""Audit table at scale: seed N entries (default 1,000,000), time filtered page loads and exports.

    .venv/bin/python bench/audit_bench.py [--rows 1000000] [--reseed]

Uses PostgreSQL database `kaizen_audit_bench` (or BENCH_DATABASE_URL); seeding uses COPY and is
skipped when the table already holds the requested number of rows. Page loads go through the
real view (Django test client: middleware, ORM, template), as an ordinary user (the access filter
applies) and as staff; each figure is the median of 5 loads after one warm-up.
Targets (issue 6): filtered page < 200 ms; CSV export > 50,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kaizen_audit_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
os.environ.setdefault("KAIZEN_LOG_LEVEL", "WARNING")

import django  # noqa: E402

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku"]
KINDS = ["agent", "router", "join", "planner", "pev"]
USERS = 20
GRAPHS_PER_USER = 10
RUNS = 20_000


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    User = get_user_model()
    users = [User.objects.get_or_create(username=f"user{i}", defaults={"is_staff": i == 0})[0] for i in range(USERS)]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute("TRUNCATE audit_auditentry RESTART IDENTITY")
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")
    rng = random.Random(6)
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / rows
    from workspaces.models import Membership, Role
    from workspaces.services import ensure_personal_workspace

    workspace_of = {u.pk: ensure_personal_workspace(u).pk for u in users}  # whose members read the rows
    for ws in workspace_of.values():  # user0 reads every workspace (staff alone is no back door any more)
        Membership.objects.get_or_create(workspace_id=ws, user=users[0], defaults={"role": Role.VIEWER})
    columns = ["timestamp", "actor_id", "actor_name", "owner_id", "workspace_id", "object_type", "object_id", "graph_id", "run_id",
               "node_id", "event", "status", "summary", "data"]
    t0 = time.perf_counter()
    raw = connection.connection if connection.connection else (connection.ensure_connection() or connection.connection)
    with raw.cursor() as cur, cur.copy(f"COPY audit_auditentry ({', '.join(columns)}) FROM STDIN") as copy:
        for i in range(rows):
            run = rng.randrange(RUNS) + 1
            owner = users[run % USERS]
            graph = run % (USERS * GRAPHS_PER_USER) + 1
            node = f"n{rng.randrange(12)}"
            r = rng.random()
            if r < 0.30:
                event, status, kind = "post_node", "succeeded", KINDS[rng.randrange(len(KINDS))]
                ms = round(rng.lognormvariate(6, 1), 1)
                data = {"status": status, "duration_ms": ms, "node_kind": kind, "cost_usd": 0.0004}
                summary = f"succeeded in {ms} ms"
            elif r < 0.55:
                model = MODELS[rng.randrange(len(MODELS))]
                p, c = rng.randrange(100, 2000), rng.randrange(20, 400)
                data = {"model": model, "prompt_tokens": p, "completion_tokens": c, "cost_usd": round((p + 4 * c) * 1e-7, 8),
                        "latency_ms": round(rng.lognormvariate(6.5, 0.6), 1), "answer": f"answer {i}"}
                event, status, summary = "post_llm_call", "", f"{model} {p}+{c} tokens: answer {i}"
            elif r < 0.98:
                event, status, summary, data = "pre_node", "running", "agent attempt 1", {"kind": "agent", "attempt": 1}
            else:
                event, status = "on_error", "failed"
                summary = f"llm_error: upstream {rng.choice([500, 502, 503])} at step {i}"
                data = {"type": "llm_error", "message": summary}
            ts = start + step * i
            copy.write_row((ts, owner.pk, owner.username, owner.pk, workspace_of[owner.pk], "run", str(run), graph, run, node, event, status,
                            summary, json.dumps(data)))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditentry")  # hint bits and visibility map, as a settled table has
    took = time.perf_counter() - t0
    print(f"seeded {rows:,} entries in {took:.1f}s ({rows / took:,.0f} rows/s, COPY)")


def timed_get(client, url: str, params: dict, repeat: int = 5) -> float:
    client.get(url, params)  # warm-up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples)


def export_rate(client, url: str, params: dict) -> tuple[int, float]:
    t0 = time.perf_counter()
    response = client.get(url, params)
    lines = 0
    size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    took = time.perf_counter() - t0
    return lines - (1 if url.endswith(".csv") else 0), took


def hot_path(owner) -> None:
    """What the audit copy adds to RunRecorder._write: batches of 50 events, with and without it."""
    from django.db import connection, transaction

    from audit.services import record_run_events
    from graphs import services
    from graphs.models import RunEvent
    from tests.helpers import chain

    graph = services.graph_create(owner=owner, name="bench", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=owner, inputs={"task": "t"})
    data = {"status": "succeeded", "duration_ms": 812.5, "cost_usd": 0.0004, "outputs": {"result": "x" * 200}}
    timings = {}
    seq = 0
    for label, with_audit in (("RunEvent only", False), ("RunEvent + audit copy", True)) * 2:
        samples = []
        for _ in range(40):
            events = []
            for _ in range(50):
                seq += 1
                events.append(RunEvent(run_id=run.pk, seq=seq, event="post_node", node_id="s1",
                                       created_at=datetime.now(UTC), data=data))
            t0 = time.perf_counter()
            with transaction.atomic():
                RunEvent.objects.bulk_create(events)
                if with_audit:
                    record_run_events(run.pk, events)
            samples.append((time.perf_counter() - t0) * 1000)
        timings[label] = statistics.median(samples)
    with transaction.atomic(), connection.cursor() as cursor:  # leave the seeded table as it was
        cursor.execute("SET LOCAL kaizen.audit_prune = 'on'")
        cursor.execute("DELETE FROM audit_auditentry WHERE run_id = %s OR graph_id = %s", [run.pk, graph.pk])
    run.delete()  # its events go with it (CASCADE); the version it used is PROTECTed until then
    graph.delete()
    base, audited = timings["RunEvent only"], timings["RunEvent + audit copy"]
    print("\nHot path: one RunRecorder batch of 50 events (median of 40 commits)")
    print(f"| RunEvent only           | {base:6.2f} ms |")
    print(f"| RunEvent + audit copy   | {audited:6.2f} ms | +{(audited - base) / 50 * 1000:.0f} us per event |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    ensure_database()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from audit.models import AuditEntry

    call_command("migrate", verbosity=0)
    have = AuditEntry.objects.filter(id__lte=args.rows).count()  # seeded rows are ids 1..N (RESTART IDENTITY)
    if args.reseed or have != args.rows:
        seed(args.rows)
    else:
        print(f"reusing {have:,} seeded entries (--reseed to start over)")
    User = get_user_model()
    staff, user = Client(), Client()
    staff.force_login(User.objects.get(username="user0"))
    user.force_login(User.objects.get(username="user7"))
    day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    run = str(AuditEntry.objects.filter(owner_id=User.objects.get(username="user7").pk).values_list("run_id", flat=True).first())
    cases = [
        ("no filter (member of every workspace)", staff, {}),
        ("no filter (user: own objects)", user, {}),
        ("user", staff, {"user": "user3"}),
        ("graph", user, {"graph": "8"}),
        ("run", user, {"run": run}),
        ("node", staff, {"node": "n3"}),
        ("event = on_error", user, {"event": "on_error"}),
        ("status = failed", staff, {"status": "failed"}),
        ("one day (time range)", user, {"start": day, "end": day}),
        ("free text 'upstream 503'", staff, {"q": "upstream 503"}),
        ("free text, rare 'step 123457'", staff, {"q": "step 123457"}),
        ("graph + event + status + day", user, {"graph": "8", "event": "on_error", "status": "failed", "start": day[:8] + "01"}),
        ("page 20 of a filter", staff, {"event": "post_node", "page": "20"}),
    ]
    print(f"\nAudit page (/audit/, 50 rows, median of 5) on {AuditEntry.objects.count():,} entries")
    print(f"| {'filter':<34} | {'ms':>7} | target |")
    print(f"|{'-' * 36}|{'-' * 9}|--------|")
    worst = 0.0
    for name, client, params in cases:
        ms = timed_get(client, "/audit/", params)
        worst = max(worst, ms)
        print(f"| {name:<34} | {ms:7.1f} | {'ok' if ms < 200 else 'SLOW':>6} |")
    print("\nExports (streamed; all rows the caller may see)")
    print(f"| {'export':<34} | {'rows':>9} | {'s':>6} | {'rows/s':>9} | target |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 8}|{'-' * 11}|--------|")
    for name, client, url, params in [
        ("CSV, staff, everything", staff, "/audit/export.csv", {}),
        ("CSV, event = post_llm_call", staff, "/audit/export.csv", {"event": "post_llm_call"}),
        ("JSONL, staff, everything", staff, "/audit/export.jsonl", {}),
    ]:
        rows, took = export_rate(client, url, params)
        rate = rows / took
        target = ("ok" if rate > 50_000 else "SLOW") if url.endswith(".csv") else "-"
        print(f"| {name:<34} | {rows:9,} | {took:6.2f} | {rate:9,.0f} | {target:>6} |")
    hot_path(User.objects.get(username="user7"))
    import resource

    print(f"\nworst page: {worst:.1f} ms; peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
