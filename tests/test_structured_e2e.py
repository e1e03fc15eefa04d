"""Structured outputs through a real worker: the demo graph and the templates whose nodes ask for
routes, votes and plans succeed against a schema-honouring server (one that follows only the
json_schema it is sent, as vLLM, Ollama and OpenAI's structured outputs do), and the operator's
KAIZEN_LLM_OUTPUT_MODE reaches the worker's provider."""

from __future__ import annotations

import pytest

from graphs.demo import RESEARCH_BRIEF
from graphs.models import RunEvent
from graphs.pattern_templates import ETL_STEPS, MCP_SERVER, TEMPLATES
from tests.helpers import wait_for_run
from tests.test_templates_e2e import run_graph, run_template


def create(client, name, spec):
    response = client.post("/api/graphs/", {"name": name, "spec": spec}, format="json")
    assert response.status_code == 201, response.data
    return response.data["id"]


def test_demo_graph_succeeds_against_a_schema_honouring_server(api_client, celery_worker, fake_llm):
    fake_llm.honour_schema = True
    fake_llm.script(match="balanced one-paragraph", honour=True, reply={"brief": "Upsides and risks, weighed."})
    run = wait_for_run(run_graph(api_client, create(api_client, "Research brief", RESEARCH_BRIEF), {"topic": "remote work"}), 30)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"brief": "Upsides and risks, weighed."}
    formats = [c["response_format"] for c in fake_llm.calls()]
    assert len(formats) == 3 and all(f["type"] == "json_schema" and f["json_schema"]["strict"] for f in formats)
    assert {f["json_schema"]["name"] for f in formats} == {"optimist", "skeptic", "writer"}


INPUTS = {"task": "Analyse engagement data and build a dashboard", "steps": ETL_STEPS[:2], "question": "hello",
          "session_id": "customer_1", "request": "last week", "topic": "remote work"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.slug)
def test_every_template_succeeds_through_a_worker_against_a_schema_honouring_server(
        api_client, user, celery_worker, fake_llm, mcp_test_server, template):
    from graphs.mcp_servers import mcp_server_set

    mcp_server_set(owner=user, name=MCP_SERVER, url=mcp_test_server.url)  # (the research template's connection)
    fake_llm.honour_schema = True
    inputs = {k: v for k, v in INPUTS.items() if k in template.spec["inputs"]}
    run = wait_for_run(run_template(api_client, template.slug, inputs), 60)
    assert run.status == "succeeded", run.error
    assert run.outputs.get("status") != "error"  # (the fallback template's structured error is a success too)
    chats = fake_llm.calls()
    assert chats and all(c["response_format"]["type"] == "json_schema" for c in chats)
    assert not RunEvent.objects.filter(run_id=run.pk, event__in=("llm_retry", "fallback", "on_error")).exists()


def test_the_operator_output_mode_reaches_the_worker(api_client, start_worker, fake_llm):
    """KAIZEN_LLM_OUTPUT_MODE=json_object: the old request (keys only in the prompt), which a
    prompt-reading server answers and the agent accepts."""
    start_worker("w1", KAIZEN_LLM_OUTPUT_MODE="json_object")
    run = wait_for_run(run_graph(api_client, create(api_client, "Research brief", RESEARCH_BRIEF), {"topic": "t"}), 30)
    assert run.status == "succeeded", run.error
    assert [c["response_format"] for c in fake_llm.calls()] == [{"type": "json_object"}] * 3
