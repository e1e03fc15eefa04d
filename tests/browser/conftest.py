"""Browser fixtures: Debian's chromium driven by Playwright against pytest-django's live server.

Every page fails its test on a Content-Security-Policy violation or an uncaught error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "static" / "build" / "editor" / "editor.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")  # not session: a live sync Playwright blocks every later event loop
def browser():
    if not BUNDLE.exists():
        pytest.skip("static/build/editor/editor.js is missing: run `npm ci && npm run build` in frontend/")
    if not Path(CHROMIUM).exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield b
            b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageProblems(list):
    def check(self, allow: tuple[str, ...] = ()):
        """Fail on any CSP violation or error; `allow` names expected ones (e.g. "status of 409")."""
        left = [p for p in self if not any(a in p for a in allow)]
        assert not left, "browser reported problems:\n" + "\n".join(left)


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


SHOTS = Path(os.environ["KAIZEN_SCREENSHOTS"]) / "editor" if os.environ.get("KAIZEN_SCREENSHOTS") else ROOT / "test-results" / "editor"


def shot(page, name: str) -> None:
    """Screenshots to look at (test-results/ is git-ignored)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def handle(page, node: str, port: str):
    return page.locator(f'.react-flow__handle[data-nodeid="{node}"][data-handleid="{port}"]')


def drag_connect(page, src: str, src_port: str, dst: str, dst_port: str, *, release: bool = True) -> None:
    a = handle(page, src, src_port).bounding_box()
    b = handle(page, dst, dst_port).bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2 + 3, b["y"] + b["height"] / 2 + 3, steps=6)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=2)
    if release:
        page.mouse.up()


def node(page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def select_node(page, node_id: str) -> None:
    node(page, node_id).locator(".kz-node-title").click()
    page.wait_for_selector(f'[data-inspector-node="{node_id}"]')


def edge_count(page) -> int:
    return page.locator(".react-flow__edge").count()
