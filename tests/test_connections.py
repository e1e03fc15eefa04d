"""Model connections (issue 10, item 2): a workspace admin's named endpoints. The operator's key
belongs to the built-in default connection only; a connection sends its own key (or none) to its
own URL, which must pass the SSRF guard unless KAIZEN_ALLOW_PRIVATE_MODEL_URLS=1."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from graphs.credentials import credential_set
from graphs.engine.llm import LLMError
from graphs.engine.llm.base import LLMRequest
from graphs.engine.llm.openai_provider import OpenAIProvider
from graphs.models import Connection, Run
from graphs.runner.execution import execute_run
from graphs.services import graph_create
from tests.helpers import chain
from tests.test_model_endpoints import OPERATOR_KEY, REFUSED, Recorder
from workspaces.models import Membership, Role, Workspace

LINK_LOCAL_AND_PRIVATE = [*REFUSED, "http://192.168.1.10:11434/v1", "http://172.16.0.1/v1", "http://[fe80::1]/v1"]


@pytest.fixture
def other_server():
    """A connection's endpoint: records the Authorization header of every request."""
    server = Recorder()
    yield server
    server.shutdown()
    server.server_close()


def workspace_of(user) -> Workspace:
    return Workspace.objects.get(personal_for=user)


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the provider: a named connection never gets the operator's key ---------------------------------

async def test_a_connection_never_gets_the_operators_key_even_at_the_operators_url(fake_llm_server, other_server):
    fake_llm_server.reset()
    provider = OpenAIProvider(fake_llm_server.base_url, OPERATOR_KEY, max_retries=0, allow_private=True)
    try:
        def ask(base_url, key=None):
            return LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}], connection="theirs",
                              base_url=base_url, api_key=key, timeout_s=10)

        await provider.complete(ask(other_server.base_url))  # a connection without a key: no key at all
        await provider.complete(ask(other_server.base_url, "sk-their-own"))
        await provider.complete(ask(fake_llm_server.base_url))  # named connection at the operator's own URL
        await provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}], timeout_s=10))
    finally:
        await provider.aclose()
    sent = [s["authorization"] for s in other_server.seen]
    assert sent[1] == "Bearer sk-their-own" and OPERATOR_KEY not in (sent[0] or "")
    assert [c["authorization"] for c in fake_llm_server.calls()][0] != f"Bearer {OPERATOR_KEY}"
    assert [c["authorization"] for c in fake_llm_server.calls()][1] == f"Bearer {OPERATOR_KEY}"  # the default connection


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/v1", "http://[fe80::1]/v1"])
async def test_a_connection_to_a_private_address_is_refused_at_call_time(url):
    provider = OpenAIProvider(None, OPERATOR_KEY, max_retries=0)
    try:
        with pytest.raises(LLMError, match="private, loopback or reserved"):
            await provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": "x"}],
                                               connection="c", base_url=url, api_key="k", timeout_s=5))
    finally:
        await provider.aclose()


# --- defining connections (API and page) ---------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("url", LINK_LOCAL_AND_PRIVATE)
def test_private_and_link_local_connection_urls_are_refused(user, settings, url):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    response = api_for(user).post("/api/connections/", {"name": "local", "base_url": url}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["path"] == "base_url"
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_operators_one_line_allows_a_local_ollama(user, settings):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True
    made = api_for(user).post("/api/connections/", {"name": "ollama", "base_url": "http://127.0.0.1:11434/v1",
                                                    "models": ["llama3.1", "qwen2.5"]}, format="json")
    assert made.status_code == 201 and made.json()["models"] == ["llama3.1", "qwen2.5"]


@pytest.mark.django_db
def test_admins_define_connections_editors_list_them_others_see_nothing(user, other_user, django_user_model, settings):
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    api = api_for(user)
    credential_set(owner=user, name="team-key", api_key="sk-team-key-0123456789")
    made = api.post("/api/connections/", {"name": "public", "base_url": "https://8.8.8.8/v1", "credential": "team-key",
                                          "models": ["gpt-4o-mini"], "prices": {"gpt-4o-mini": [0.1, 0.2]}}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["credential"] == "team-key" and "sk-team" not in json.dumps(body)
    listed = api.get("/api/connections/").json()
    assert [c["name"] for c in listed] == ["default", "public"] and listed[0]["builtin"]
    assert api.post("/api/connections/", {"name": "public", "base_url": "https://8.8.4.4/v1"}, format="json").status_code == 400
    assert api.post("/api/connections/", {"name": "default", "base_url": "https://8.8.4.4/v1"}, format="json").status_code == 400
    assert api.post("/api/connections/", {"name": "x", "base_url": "https://8.8.4.4/v1", "credential": "nope"},
                    format="json").json()["errors"][0]["path"] == "credential"
    assert api.delete("/api/credentials/team-key/").status_code == 409  # in use by a connection
    # another workspace's member: 404 for the object, nothing in their list
    stranger = api_for(other_user)
    assert stranger.get(f"/api/connections/{body['id']}/").status_code == 404
    assert stranger.put(f"/api/connections/{body['id']}/", {"base_url": "https://1.1.1.1/v1"}, format="json").status_code == 404
    assert [c["name"] for c in stranger.get("/api/connections/").json()] == ["default"]
    # roles in the workspace: editors list, only admins change
    editor = django_user_model.objects.create_user("ed", password="pw-ed-12345")
    Membership.objects.create(workspace=workspace_of(user), user=editor, role=Role.EDITOR)
    ed = api_for(editor)
    header = {"HTTP_X_KAIZEN_WORKSPACE": str(workspace_of(user).pk)}
    assert [c["name"] for c in ed.get("/api/connections/", **header).json()] == ["default", "public"]
    assert ed.post("/api/connections/", {"name": "mine", "base_url": "https://1.1.1.1/v1"}, format="json", **header).status_code == 403
    assert ed.delete(f"/api/connections/{body['id']}/").status_code == 403
    assert api.delete(f"/api/connections/{body['id']}/").status_code == 204


@pytest.mark.django_db
def test_the_connections_page(user, settings):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    page = Client()
    page.force_login(user)
    url = f"/workspaces/{workspace_of(user).pk}/connections/"
    assert b'data-testid="connection-add"' in page.get(url).content
    assert page.post(url, {"form": "credential", "name": "k1", "api_key": "sk-page-key-0123456789"}).status_code == 302
    refused = page.post(url, {"form": "connection", "name": "meta", "base_url": "http://169.254.169.254/v1"})
    assert refused.status_code == 400 and b"private, loopback or reserved" in refused.content
    made = page.post(url, {"form": "connection", "name": "pub", "base_url": "https://8.8.8.8/v1", "credential": "k1",
                           "models": "m1, m2", "prices": ""})
    assert made.status_code == 302
    assert Connection.objects.get(name="pub").model_names == ["m1", "m2"]
    assert b"sk-page-key" not in page.get(url).content


@pytest.mark.django_db
def test_the_default_connections_row_says_when_the_server_simulates_the_model(user, settings):
    page = Client()
    page.force_login(user)
    url = f"/workspaces/{workspace_of(user).pk}/connections/"
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.KAIZEN_DEFAULT_PROVIDER = "", "", "simulated"
    row = page.get(url).content.decode().split('<tr data-connection="default">', 1)[1].split("</tr>", 1)[0]
    assert "simulated" in row and "(no model server)" in row and "api.openai.com" not in row
    assert api_for(user).get("/api/connections/").json()[0]["simulated"] is True
    settings.OPENAI_BASE_URL, settings.KAIZEN_DEFAULT_PROVIDER = "https://llm.example.com/v1", "openai"
    row = page.get(url).content.decode().split('<tr data-connection="default">', 1)[1].split("</tr>", 1)[0]
    assert "<code>https://llm.example.com/v1</code>" in row and "simulated" not in row
    assert api_for(user).get("/api/connections/").json()[0]["simulated"] is False


# --- graphs pick a connection; the worker resolves it ------------------------------------------------

@pytest.mark.django_db
def test_graphs_name_connections_and_models_of_their_workspace(user, other_user, settings):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    Connection.objects.create(workspace=workspace_of(user), name="pub", base_url="https://8.8.8.8/v1", model_names=["m1"])
    api = api_for(user)
    assert api.post("/api/graphs/", {"name": "g", "spec": chain(1, connection="pub", model="m1")}, format="json").status_code == 201
    wrong_model = api.post("/api/graphs/", {"name": "g", "spec": chain(1, connection="pub", model="m9")}, format="json")
    assert wrong_model.status_code == 400 and wrong_model.json()["errors"][0]["path"] == "spec.nodes[0].config.model"
    missing = api_for(other_user).post("/api/graphs/", {"name": "g", "spec": chain(1, connection="pub", model="m1")}, format="json")
    assert missing.status_code == 400 and missing.json()["errors"][0]["path"] == "spec.nodes[0].config.connection"
    checked = api.post(f"/api/graphs/validate/?workspace={workspace_of(user).pk}",
                       {"spec": chain(1, connection="nope")}, format="json").json()
    assert not checked["valid"] and checked["errors"][0]["path"] == "nodes[0].config.connection"


@pytest.mark.django_db(transaction=True)
def test_the_worker_resolves_a_connection_and_the_operator_key_stays_home(user, fake_llm, other_server, settings):
    """fake_llm is the operator's endpoint (OPENAI_BASE_URL, OPENAI_API_KEY); other_server is a
    connection's endpoint. Every Authorization header each received is checked."""
    settings.OPENAI_API_KEY = OPERATOR_KEY
    settings.KAIZEN_LLM_MAX_RETRIES = 0
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True  # (both listen on 127.0.0.1)
    workspace = workspace_of(user)
    credential, _ = credential_set(owner=user, workspace=workspace, name="theirs", api_key="sk-connection-key-42")
    Connection.objects.create(workspace=workspace, name="keyed", base_url=other_server.base_url, credential=credential,
                              prices={"m": [1000.0, 1000.0]})
    Connection.objects.create(workspace=workspace, name="keyless", base_url=other_server.base_url)
    # a connection at the operator's own URL still never carries the operator's key
    Connection.objects.create(workspace=workspace, name="sneaky", base_url=fake_llm.base_url)

    def run(spec) -> Run:  # (stored directly: execute_run below is the worker's code path, no broker)
        version = graph_create(owner=user, workspace=workspace, name="g", spec=spec)
        return Run.objects.create(graph=version.graph, version=version, created_by=user, inputs={"task": "t"})

    keyed = run(chain(1, connection="keyed", model="m"))
    assert execute_run(keyed.pk) == "succeeded", Run.objects.get(pk=keyed.pk).error
    assert float(Run.objects.get(pk=keyed.pk).cost_usd) == pytest.approx(2 * 1000 / 1_000_000)  # the connection's prices
    keyless = run(chain(1, connection="keyless", model="m"))
    assert execute_run(keyless.pk) == "succeeded"
    sneaky = run(chain(1, connection="sneaky", model="m"))
    execute_run(sneaky.pk)
    default = run(chain(1))
    assert execute_run(default.pk) == "succeeded"
    assert [s["authorization"] for s in other_server.seen][:1] == ["Bearer sk-connection-key-42"]
    assert all(OPERATOR_KEY not in (s["authorization"] or "") for s in other_server.seen) and len(other_server.seen) == 2
    operator_calls = [c["authorization"] for c in fake_llm.calls()]
    assert operator_calls.count(f"Bearer {OPERATOR_KEY}") == 1 and operator_calls[-1] == f"Bearer {OPERATOR_KEY}"
    Connection.objects.filter(name="keyed").delete()
    gone = Run.objects.create(graph=keyed.graph, version=keyed.version, created_by=user, inputs={"task": "t"})
    assert execute_run(gone.pk) == "failed" and "unknown connection" in json.dumps(Run.objects.get(pk=gone.pk).error)


@pytest.mark.django_db(transaction=True)
def test_an_editor_cannot_send_the_workspaces_key_to_a_url_of_their_own(user, django_user_model, fake_llm, other_server, settings):
    """Old-style nodes (free-text base_url + credential) keep working, but a key only goes to the
    URL it was stored for: an editor naming the admin's key beside their own URL gets a 400 at save
    time and a failed node at run time, and their server never sees the key."""
    settings.KAIZEN_LLM_MAX_RETRIES = 0
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True
    workspace = workspace_of(user)
    credential_set(owner=user, workspace=workspace, name="team-key", api_key="sk-team-only-0123456789",
                   base_url="https://8.8.8.8/v1")
    editor = django_user_model.objects.create_user("eve", password="pw-eve-12345")
    Membership.objects.create(workspace=workspace, user=editor, role=Role.EDITOR)
    saved = api_for(editor).post("/api/graphs/", {"name": "exfil", "spec": chain(1, base_url=other_server.base_url,
                                 credential="team-key")}, format="json", HTTP_X_KAIZEN_WORKSPACE=str(workspace.pk))
    assert saved.status_code == 400 and saved.json()["errors"][0]["path"] == "spec.nodes[0].config.credential"
    graph = graph_create(owner=user, workspace=workspace, name="stored before the check", spec=chain(1)).graph
    from graphs.models import GraphVersion

    version = GraphVersion.objects.create(graph=graph, number=2, spec=chain(1, base_url=other_server.base_url, credential="team-key"))
    run = Run.objects.create(graph=graph, version=version, created_by=editor, inputs={"task": "t"})
    assert execute_run(run.pk) == "failed"
    assert "not one stored for this base_url" in json.dumps(Run.objects.get(pk=run.pk).error)
    assert other_server.seen == []
