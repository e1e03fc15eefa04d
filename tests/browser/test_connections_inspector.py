"""The inspector offers the workspace's model connections and the chosen connection's models."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs import services
from graphs.models import Connection
from tests.browser.conftest import open_editor, select_node, shot
from tests.helpers import chain

pytestmark = pytest.mark.browser


def test_agent_picks_a_connection_and_one_of_its_models(login_context, editor_user, settings):
    settings.KAIZEN_DEFAULT_PROVIDER = "openai"  # (a model server is configured: the default is its endpoint)
    workspace = editor_user.personal_workspace
    Connection.objects.create(workspace=workspace, name="team-vllm", base_url="https://8.8.8.8/v1",
                              model_names=["qwen2.5-72b", "llama3.1-8b"])
    graph = services.graph_create(owner=editor_user, name="Connections", spec=chain(1)).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "s1")
    connection = page.locator('select[data-widget="connection"]')
    expect(connection).to_be_visible()
    assert connection.locator("option").all_inner_texts() == ["default (server's endpoint)", "team-vllm"]
    settings.KAIZEN_DEFAULT_PROVIDER = "simulated"  # (no model server: the default answers from the simulation)
    page.reload()
    select_node(page, "s1")
    assert page.locator('select[data-widget="connection"] option').all_inner_texts() == ["default (simulated model)", "team-vllm"]
    assert page.locator('select[data-widget="model"]').count() == 0  # the default connection: any model name
    connection.select_option("team-vllm")
    model = page.locator('select[data-widget="model"]')
    expect(model).to_be_visible()
    assert model.locator("option").all_inner_texts() == ["gpt-4o-mini (not offered)", "qwen2.5-72b", "llama3.1-8b"]
    model.select_option("llama3.1-8b")
    connection.scroll_into_view_if_needed()
    shot(page, "inspector-connection-model")
    page.keyboard.press("Control+s")
    page.locator(".kz-toast", has_text="Saved as version 2").first.wait_for(timeout=15_000)
    spec = graph.versions.get(number=2).spec
    assert spec["nodes"][0]["config"]["connection"] == "team-vllm" and spec["nodes"][0]["config"]["model"] == "llama3.1-8b"
    problems.check()
