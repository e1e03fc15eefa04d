"""Browser fixtures: Debian's chromium driven by Playwright against pytest-django's live server.

Every page fails its test on a Content-Security-Policy violation or an uncaught error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in the test thread; Django's ORM calls from the test are
# still synchronous and safe (the documented setting for pytest-django + Playwright).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "static" / "build" / "editor" / "editor.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not BUNDLE.exists():
        pytest.skip("static/build/editor/editor.js is missing: run `npm ci && npm run build` in frontend/")
    if not Path(CHROMIUM).exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class PageProblems(list):
    def check(self):
        assert not self, "browser reported problems:\n" + "\n".join(self)


@pytest.fixture
def login_context(browser, live_server, transactional_db):
    """login_context(user) -> (context, problems): a logged-in browser context; close it yourself or let teardown."""
    from django.test import Client

    contexts = []

    def make(user, viewport=(1440, 900)):
        client = Client()
        client.force_login(user)
        ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, base_url=live_server.url,
                                  accept_downloads=True)
        ctx.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        ctx.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
        problems = PageProblems()

        def on_console(msg):
            text = msg.text
            if "Content Security Policy" in text or "Content-Security-Policy" in text or msg.type == "error":
                problems.append(f"console {msg.type}: {text}")

        ctx.on("console", on_console)
        ctx.on("weberror", lambda err: problems.append(f"page error: {err.error}"))
        contexts.append(ctx)
        return ctx, problems

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def editor_user(django_user_model):
    return django_user_model.objects.create_user("edith", password="pw-edith-123")


def open_editor(ctx, graph_id: int):
    page = ctx.new_page()
    page.goto(f"/graphs/{graph_id}/edit/")
    page.wait_for_selector(".react-flow__node-io", timeout=10_000)
    return page
