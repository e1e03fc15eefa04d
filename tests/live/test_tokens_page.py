"""The API tokens page in Debian's chromium: create a token (shown once), use it against the
real server, see its last use, revoke it (the next request is 401), and it is never shown again."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_status(server, token: str) -> int:
    request = urllib.request.Request(f"{server.url}/api/graphs/", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_create_use_and_revoke_a_token_on_the_page(user, daphne_server, browser_page):
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{daphne_server.url}/settings/tokens/")
    page.fill("input[name=name]", "CI pipeline")
    page.select_option("select[name=expires_in]", "30")
    page.click("[data-testid=create-token]")
    page.wait_for_selector("[data-testid=new-token]", timeout=10_000)
    token = page.text_content("[data-testid=new-token]").strip()
    assert token.startswith("kzn_")
    page.screenshot(path=str(SHOTS / "tokens-created.png"), full_page=True)
    assert api_status(daphne_server, token) == 200
    page.reload()
    assert token not in page.content(), "shown once only"
    row = page.locator("[data-token-row]")
    assert row.count() == 1 and "CI pipeline" in row.text_content() and "just now" in row.text_content()  # last used
    assert token[:12] + "…" in row.text_content()
    page.click("[data-testid=revoke]")
    page.wait_for_selector('[data-token-row][data-state="revoked"]', timeout=10_000)
    page.screenshot(path=str(SHOTS / "tokens-revoked.png"), full_page=True)
    assert api_status(daphne_server, token) == 401
    assert page.csp_errors == []
