"""The members page in chromium: an admin adds a member by email, changes a role (htmx), switches workspace."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from workspaces.models import Membership, Role
from workspaces.services import workspace_create

pytestmark = pytest.mark.browser


def test_admin_adds_a_member_and_changes_a_role(login_context, editor_user, django_user_model):
    team = workspace_create(user=editor_user, name="Support team")
    nora = django_user_model.objects.create_user("nora", email="nora@example.com", password="pw-nora-123")
    ctx, problems = login_context(editor_user)
    page = ctx.new_page()
    page.goto(f"/workspaces/{team.pk}/members/")
    form = page.get_by_test_id("member-add")
    form.locator('input[name="who"]').fill("nora@example.com")
    form.locator('select[name="role"]').select_option("runner")
    form.get_by_role("button", name="Add").click()
    row = page.locator('tr[data-member="nora"]')
    expect(row).to_be_visible()
    # htmx 2 wires up swapped-in content when it settles (20 ms after the swap by default; the
    # pages set 0): a change made before that fires no request (this test failed so in one CI run)
    page.wait_for_function("() => !document.querySelector('#members.htmx-settling, #members .htmx-added')")
    assert Membership.objects.get(workspace=team, user=nora).role == Role.RUNNER
    row.locator('select[name="role"]').select_option("editor")
    expect(page.locator('tr[data-member="nora"] select[name="role"]')).to_have_value("editor")
    for _ in range(50):
        if Membership.objects.get(workspace=team, user=nora).role == Role.EDITOR:
            break
        page.wait_for_timeout(100)
    assert Membership.objects.get(workspace=team, user=nora).role == Role.EDITOR
    shot(page, "members-page")
    page.get_by_test_id("workspace-switch").locator("select").select_option(str(team.pk))
    page.wait_for_url("**/members/")
    expect(page.get_by_test_id("workspace-switch").locator("select")).to_have_value(str(team.pk))
    problems.check()
