"""The Connections page's MCP servers in chromium: an admin adds the server the "Research with tools"
template names (htmx, no page load), a key whose hosts do not cover the URL is refused at the field,
the server is listed and "List tools" shows what the real MCP server offers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs.credentials import credential_set
from graphs.models import McpServer
from tests.browser.conftest import shot

pytestmark = pytest.mark.browser

SECRET = "sk-browser-mcp-0123456789abcdef"


def test_admin_adds_an_mcp_server_sees_it_listed_and_lists_its_tools(login_context, editor_user, mcp_test_server, settings):
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = True  # (the test MCP server is on 127.0.0.1)
    workspace = editor_user.personal_workspace
    credential_set(owner=editor_user, workspace=workspace, name="docs-key", api_key=SECRET, allowed_hosts=["mcp.example.com"])
    ctx, problems = login_context(editor_user)
    page = ctx.new_page()
    page.goto(f"/workspaces/{workspace.pk}/connections/")
    panel = page.get_by_test_id("mcp-panel")
    expect(panel).to_contain_text("No MCP servers yet")
    form = page.get_by_test_id("mcp-server-add")
    expect(form.locator('input[name="auth_value"]')).to_have_value("Bearer {{secret}}")
    form.locator('input[name="name"]').fill("research-docs")
    form.locator('input[name="url"]').fill(mcp_test_server.url)
    form.locator('select[name="credential"]').select_option("docs-key")
    form.get_by_role("button", name="Add server").click()
    expect(page.get_by_test_id("mcp-error-credential")).to_contain_text(
        "credential: credential 'docs-key' may not be sent to '127.0.0.1:")
    shot(page, "connections-mcp-refused")
    assert not McpServer.objects.exists()
    form = page.get_by_test_id("mcp-server-add")
    expect(form.locator('input[name="name"]')).to_have_value("research-docs")
    form.locator('select[name="credential"]').select_option("")
    form.get_by_role("button", name="Add server").click()
    row = page.locator('tr[data-mcp-server="research-docs"]')
    expect(row).to_contain_text(mcp_test_server.url)
    expect(page.get_by_test_id("mcp-error-credential")).to_have_count(0)
    assert McpServer.objects.get(workspace=workspace).name == "research-docs"
    row.get_by_role("button", name="List tools").click()
    tools = page.get_by_test_id("mcp-tools")
    expect(tools.locator('li[data-tool="search"]')).to_contain_text("Search the team's documentation")
    expect(tools.locator('li[data-tool="add"]')).to_contain_text("Add two integers")
    page.get_by_test_id("mcp-panel").scroll_into_view_if_needed()
    shot(page, "connections-mcp-tools")
    assert SECRET not in page.content()
    problems.check()
