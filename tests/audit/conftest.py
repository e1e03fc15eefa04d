"""Audit fixtures: entries for two users, a local webhook receiver, and a Chromium page."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from audit.models import AuditEntry

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def make_entry(**fields) -> AuditEntry:
    """An entry; one about an ``owner_id``'s object is in that user's personal workspace."""
    from workspaces.models import Workspace

    base = {"timestamp": datetime.now(UTC), "object_type": "run", "object_id": "1", "event": "post_node",
            "status": "succeeded", "summary": "", "data": {}}
    if fields.get("owner_id") and "workspace_id" not in fields:
        fields["workspace_id"] = Workspace.objects.get(personal_for_id=fields["owner_id"]).pk
    return AuditEntry.objects.create(**{**base, **fields})


@pytest.fixture
def entries(user, other_user):
    """Alice owns graph 10 (runs 100, 101); Bob owns graph 20 (run 200). Times spread over 3 days."""
    now = datetime.now(UTC)
    rows = []
    for i in range(6):
        rows.append(make_entry(timestamp=now - timedelta(days=i % 3), actor=user, actor_name="alice", owner_id=user.pk,
                               graph_id=10, run_id=100 + i % 2, object_id=str(100 + i % 2), node_id=f"n{i % 3}",
                               event="post_node" if i % 2 else "on_error", status="succeeded" if i % 2 else "failed",
                               summary=f"alice step {i}", data={"i": i}))
    rows.append(make_entry(actor=other_user, actor_name="bob", owner_id=other_user.pk, graph_id=20, run_id=200,
                           object_id="200", node_id="n0", event="on_error", status="failed", summary="bob secret failure"))
    return rows


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers with scripted statuses and records requests."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def start(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield start
    for r in made:
        r.stop()


@pytest.fixture
def audit_page(live_server, user, tmp_path):
    """A signed-in Chromium page on the live server (skipped when Chromium is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    from django.conf import settings as dj_settings
    from django.test import Client
    from playwright.sync_api import sync_playwright

    client = Client()
    client.force_login(user)
    cookie = client.cookies[dj_settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.add_cookies([{"name": dj_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        page = context.new_page()
        page.base_url = live_server.url
        yield page
        context.close()
        browser.close()
