"""The human node kinds in the editor: in the palette (category human), inspector forms from
their pydantic schemas, ports from their config (an input node's ports follow its JSON Schema)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from graphs import services
from tests.browser.conftest import handle, open_editor, select_node, shot

pytestmark = pytest.mark.browser


def test_approval_and_input_from_the_palette_with_their_inspectors(login_context, editor_user):
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}}}
    spec = {"schema_version": 1, "nodes": [{"id": "ask", "kind": "input", "position": {"x": 0, "y": 0},
                                            "config": {"question": "Where to?", "schema": schema}}], "edges": []}
    graph = services.graph_create(owner=editor_user, name="Human kinds", spec=spec).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    palette = page.locator('.kz-palette-item[data-kind="approval"]')
    expect(palette).to_be_visible()
    expect(page.locator('.kz-palette-item[data-kind="input"]')).to_be_visible()
    palette.click()
    select_node(page, "approval_1")
    expect(page.locator(".kz-inspector-title")).to_have_text("Approval")
    inspector = page.locator(".kz-inspector")
    for label in ("Question", "Comment required"):
        expect(inspector.get_by_text(label, exact=False).first).to_be_visible()
    inspector.get_by_text("Advanced", exact=False).first.click()  # the timeout and its default action
    for label in ("Answer timeout", "On timeout"):
        expect(inspector.get_by_text(label, exact=False).first).to_be_visible()
    for port in ("approved", "rejected", "comment"):
        handle(page, "approval_1", port).wait_for(state="attached")
    shot(page, "editor-approval-inspector")
    select_node(page, "ask")
    expect(page.locator(".kz-inspector-title")).to_have_text("Human input")
    for port in ("answer", "city", "nights"):  # ports from the node's JSON Schema (computed by the server)
        handle(page, "ask", port).wait_for(state="attached", timeout=10_000)
    shot(page, "editor-input-inspector")
    problems.check()


def test_an_assignee_who_is_not_a_member_is_marked_on_the_node_and_its_field(login_context, editor_user, django_user_model):
    """The inspector has the approval's assignees (its pydantic field); saving a name that is not a
    member of the graph's workspace is refused with the field path, shown on the node and the field."""
    from tests.engine.test_node_human import approval_graph

    django_user_model.objects.create_user("nomad", password="pw-nomad-123")  # a user, not a member
    graph = services.graph_create(owner=editor_user, name="Assigned", spec=approval_graph()).graph
    ctx, problems = login_context(editor_user)
    page = open_editor(ctx, graph.pk)
    select_node(page, "approve")
    field = page.locator("#cfg-approve-assignees")
    expect(field).to_be_visible()
    field.fill('["nomad"]')
    page.keyboard.press("Control+s")
    page.locator(".kz-toast", has_text="Not saved").first.wait_for(timeout=8_000)
    bad = page.locator('.react-flow__node[data-id="approve"] .kz-node')
    assert "has-issues" in bad.get_attribute("class")
    assert "not a member" in page.locator('[data-field="assignees"] .field-error').inner_text()
    shot(page, "editor-assignee-error")
    field.fill('["edith"]')
    page.keyboard.press("Control+s")
    page.locator(".kz-toast", has_text="Saved as version 2").first.wait_for(timeout=8_000)
    graph.refresh_from_db()
    config = next(n for n in graph.versions.get(number=2).spec["nodes"] if n["id"] == "approve")["config"]
    assert config["assignees"] == ["edith"]
    problems.check(allow=("status of 400",))
