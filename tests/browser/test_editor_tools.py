"""An agent's tools in the editor: the user's MCP server connections, their tools listed with their
argument schemas (through the SSRF guard), enabled one by one into the agent's config."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs import selectors, services
from graphs.mcp_servers import mcp_server_set
from tests.browser.conftest import open_editor, select_node, shot
from tests.helpers import agent, edge

pytestmark = pytest.mark.browser


def test_mcp_tools_are_listed_and_enabled_one_by_one(login_context, editor_user, mcp_test_server, settings):
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = True  # (the suite's MCP server listens on 127.0.0.1)
    mcp_server_set(owner=editor_user, name="docs", url=mcp_test_server.url)
    spec = {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
            "nodes": [agent("helper", ["task"], ["answer"])],
            "edges": [edge("@inputs", "task", "helper", "task"), edge("helper", "answer", "@outputs", "answer")]}
    graph = services.graph_create(owner=editor_user, name="tools", spec=spec).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "helper")
    picker = page.get_by_test_id("mcp-picker")
    picker.get_by_test_id("mcp-list").click()
    search = picker.locator('[data-tool="search"]')
    expect(search).to_contain_text("search(query, limit?)")
    expect(search).to_contain_text("read-only")
    search.locator("input").check()
    picker.locator('[data-tool="add"] input').check()
    picker.locator('[data-tool="add"] input').uncheck()
    shot(page, "agent-mcp-tools")
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    graph.refresh_from_db()
    saved = selectors.graph_latest(graph).spec["nodes"][0]["config"]["tools"]
    assert saved == [{"type": "mcp", "server": "docs", "tools": ["search"]}]
    problems.check()
