"""The Connections page in chromium: an admin changes where a stored key may be sent (htmx), a bad
rule is refused next to the field; the default connection's row says when the model is simulated."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs.credentials import credential_set
from graphs.models import Credential
from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

SECRET = "sk-browser-hosts-0123456789abcdef"


def test_admin_edits_a_keys_hosts_and_a_bad_rule_is_shown_at_the_field(login_context, editor_user, settings):
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.KAIZEN_DEFAULT_PROVIDER = "", "", "simulated"
    workspace = editor_user.personal_workspace
    credential_set(owner=editor_user, workspace=workspace, name="svc", api_key=SECRET, allowed_hosts=["api.example.com"])
    ctx, problems = login_context(editor_user)
    page = ctx.new_page()
    page.goto(f"/workspaces/{workspace.pk}/connections/")
    expect(page.locator('tr[data-connection="default"]')).to_contain_text("simulated (no model server)")
    shot(page, "connections-simulated-default")
    row = page.locator('tr[data-credential="svc"]')
    expect(row.get_by_test_id("credential-hosts")).to_have_text("api.example.com")
    row.get_by_text("Edit hosts").click()
    hosts = row.locator('textarea[name="allowed_hosts"]')
    expect(hosts).to_have_value("api.example.com")
    hosts.fill("api.example.com\nnot a host!")
    row.get_by_role("button", name="Save hosts").click()
    error = page.locator('tr[data-credential="svc"]').get_by_test_id("credential-hosts-error")
    expect(error).to_contain_text("allowed_hosts[1] 'not a host!'")
    expect(page.locator('tr[data-credential="svc"] textarea[name="allowed_hosts"]')).to_have_value("api.example.com\nnot a host!")
    shot(page, "connections-hosts-error")
    assert Credential.objects.get(name="svc").allowed_hosts == ["api.example.com"]
    page.locator('tr[data-credential="svc"] textarea[name="allowed_hosts"]').fill("api.example.com, *.example.org")
    page.locator('tr[data-credential="svc"]').get_by_role("button", name="Save hosts").click()
    expect(page.locator('tr[data-credential="svc"]').get_by_test_id("credential-hosts")).to_have_text(
        "api.example.com, *.example.org")
    expect(page.get_by_test_id("credential-hosts-error")).to_have_count(0)
    assert Credential.objects.get(name="svc").allowed_hosts == ["api.example.com", "*.example.org"]
    assert SECRET not in page.content()
    shot(page, "connections-hosts-saved")
    problems.check()
