"""Where a stored key may go: admins name its hosts with the key; a graph whose HTTP tool would send
it elsewhere is refused at save (400 naming the header's field); a run whose key's hosts were
narrowed after the save fails the node on a real worker, and the tool's server never hears the
secret; MCP connections are held to the same hosts. Existing keys get the host they were stored for."""

from __future__ import annotations

import json
from importlib import import_module

import pytest
from django.apps import apps

from graphs.credentials import credential_set
from graphs.models import Credential, RunEvent
from tests.fakellm import ToolCalls
from tests.helpers import wait_for_run
from tests.test_tools_e2e import agent_graph
from tests.test_worker_e2e import start_run
from tests.toolservers import ToolAPI

SECRET = "sk-hosts-secret-0123456789abcdef"


def echo(api):
    return {"type": "http", "name": "echo", "url": f"{api.url}/echo-headers",
            "headers": [{"name": "X-Api-Key", "credential": "svc"}]}


@pytest.fixture
def second_api():
    api = ToolAPI().start()
    yield api
    api.stop()


@pytest.mark.django_db
def test_admins_set_a_keys_hosts_and_bad_rules_are_refused_with_their_path(api_client):
    bad = api_client.post("/api/credentials/", {"name": "svc", "api_key": SECRET,
                                                "allowed_hosts": ["api.example.com", "ftp://x.org"]}, format="json")
    assert bad.status_code == 400 and bad.data["errors"][0]["path"] == "allowed_hosts.1", bad.data
    created = api_client.post("/api/credentials/", {"name": "svc", "api_key": SECRET,
                                                    "allowed_hosts": ["API.example.com", "https://b.example.org/"]}, format="json")
    assert created.status_code == 201 and created.data["allowed_hosts"] == ["api.example.com", "https://b.example.org"]
    bare = api_client.post("/api/credentials/", {"name": "bare", "api_key": SECRET}, format="json")
    assert bare.data["allowed_hosts"] == []  # no hosts: no tool may send it
    stored_for = api_client.post("/api/credentials/", {"name": "model", "api_key": SECRET,
                                                       "base_url": "https://llm.example.net/v1"}, format="json")
    assert stored_for.data["allowed_hosts"] == ["llm.example.net"]
    hosts_only = api_client.put("/api/credentials/bare/", {"allowed_hosts": ["*.example.com"]}, format="json")
    assert hosts_only.status_code == 200 and hosts_only.data["allowed_hosts"] == ["*.example.com"]
    assert hosts_only.data["rotated_at"] is None  # the key itself unchanged
    empty = api_client.put("/api/credentials/bare/", {}, format="json")
    assert empty.status_code == 400 and empty.data["errors"][0]["path"] == "api_key"


@pytest.mark.django_db
def test_a_graph_sending_a_key_outside_its_hosts_is_refused_at_save(api_client, tool_api, second_api):
    api_client.post("/api/credentials/", {"name": "svc", "api_key": SECRET, "allowed_hosts": [tool_api.url]}, format="json")
    ok = api_client.post("/api/graphs/", {"name": "ok", "spec": agent_graph([echo(tool_api)])}, format="json")
    assert ok.status_code == 201, ok.data
    refused = api_client.post("/api/graphs/", {"name": "leak", "spec": agent_graph([echo(tool_api), {
        **echo(second_api), "name": "leak"}])}, format="json")
    assert refused.status_code == 400
    error = refused.data["errors"][0]
    assert error["path"] == "spec.nodes[0].config.tools[1].headers[0].credential", error
    assert "'svc'" in error["message"] and second_api.url.split("//")[1] in error["message"]
    # a Tool node's tool is checked too
    tool_node = {"inputs": {}, "outputs": {}, "nodes": [{"id": "t", "kind": "tool", "config": {"tool": echo(second_api)}}],
                 "edges": []}
    assert api_client.post("/api/graphs/", {"name": "node", "spec": tool_node}, format="json").data["errors"][0]["path"] \
        == "spec.nodes[0].config.tool.headers[0].credential"
    # a key the workspace does not have yet is left to run time (templates name keys before they exist)
    unknown = agent_graph([{**echo(second_api), "headers": [{"name": "X-Api-Key", "credential": "later"}]}])
    assert api_client.post("/api/graphs/", {"name": "later", "spec": unknown}, format="json").status_code == 201


def test_a_key_narrowed_after_the_save_is_never_sent_by_the_worker(user, celery_worker, fake_llm, tool_api, second_api):
    from rest_framework.test import APIClient

    credential_set(owner=user, name="svc", api_key=SECRET, allowed_hosts=[tool_api.url])
    fake_llm.script("call it", replies=[ToolCalls(("echo", {})), {"answer": "ok"}])
    client, run_id = start_run(user, agent_graph([echo(tool_api)]), {"task": "call it"})
    assert wait_for_run(run_id, 60).status == "succeeded"
    assert tool_api.calls("/echo-headers")[0]["headers"]["X-Api-Key"] == SECRET
    tool_api.reset()
    admin = APIClient()
    admin.force_authenticate(user)
    assert admin.put("/api/credentials/svc/", {"allowed_hosts": [second_api.url]}, format="json").status_code == 200
    again = client.post(f"/api/graphs/{_graph_of(run_id)}/runs/", {"inputs": {"task": "call it"}}, format="json")
    assert again.status_code == 202, again.data
    run = wait_for_run(again.data["id"], 60)
    assert run.status == "failed"
    assert run.error["type"] == "credential_host" and run.error["tool"] == "echo" and run.error["credential"] == "svc"
    assert run.error["host"] == tool_api.url.split("//")[1]
    assert tool_api.requests == [] and second_api.requests == []
    events = json.dumps(list(RunEvent.objects.filter(run_id=run.pk).values_list("data", flat=True)))
    assert SECRET not in events and "credential_host" in events


def _graph_of(run_id):
    from graphs.models import Run

    return Run.objects.get(pk=run_id).graph_id


@pytest.mark.django_db
def test_mcp_connections_are_held_to_the_keys_hosts(api_client, mcp_test_server, settings):
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = True
    api_client.post("/api/credentials/", {"name": "docs-key", "api_key": SECRET, "allowed_hosts": ["docs.example.com"]},
                    format="json")
    refused = api_client.post("/api/mcp-servers/", {"name": "docs", "url": mcp_test_server.url, "credential": "docs-key"},
                              format="json")
    assert refused.status_code == 400 and refused.data["errors"][0]["path"] == "credential"
    assert "allowed_hosts" in refused.data["errors"][0]["message"]
    api_client.put("/api/credentials/docs-key/", {"allowed_hosts": ["127.0.0.1"]}, format="json")
    created = api_client.post("/api/mcp-servers/", {"name": "docs", "url": mcp_test_server.url, "credential": "docs-key"},
                              format="json")
    assert created.status_code == 201, created.data
    api_client.put("/api/credentials/docs-key/", {"allowed_hosts": ["docs.example.com"]}, format="json")
    seen = len(mcp_test_server.headers_seen)
    listing = api_client.get("/api/mcp-servers/docs/tools/")
    assert listing.status_code == 502 and "may not be sent to '127.0.0.1" in listing.data["detail"]
    assert len(mcp_test_server.headers_seen) == seen  # nothing was sent


@pytest.mark.django_db
def test_existing_keys_get_the_host_they_were_stored_for(user):
    """The migration's default: the host of ``base_url`` and of MCP servers an admin paired the key
    with; none otherwise (tools are refused the key until an admin sets its hosts)."""
    from graphs.mcp_servers import mcp_server_set

    model_key, _ = credential_set(owner=user, name="model", api_key=SECRET, base_url="https://llm.example.net/v1")
    mcp_key, _ = credential_set(owner=user, name="mcp", api_key=SECRET)
    plain, _ = credential_set(owner=user, name="plain", api_key=SECRET)
    mcp_server_set(owner=user, name="docs", url="https://mcp.example.org/mcp", credential="mcp")
    Credential.objects.update(allowed_hosts=[])  # as the rows were before the migration
    import_module("graphs.migrations.0010_credential_allowed_hosts").default_hosts(apps, None)
    hosts = dict(Credential.objects.values_list("name", "allowed_hosts"))
    assert hosts == {"model": ["llm.example.net"], "mcp": ["mcp.example.org"], "plain": []}
