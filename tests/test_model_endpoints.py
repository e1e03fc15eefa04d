"""Whose key goes where, and where a model endpoint may point (issue 10, item 2).

The operator's OPENAI_API_KEY is sent only to OPENAI_BASE_URL; an agent's own ``base_url`` needs
a stored credential and must pass the SSRF guard (public addresses, checked at save time and
again by the worker's transport, which connects to the address it checked). A second local HTTP
server stands for "somebody else's endpoint" and records the Authorization header it receives.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from django.db import transaction

from graphs.credentials import credential_set
from graphs.engine.llm import LLMError, LLMRequest
from graphs.engine.llm.openai_provider import ERROR_CHARS, OpenAIProvider
from graphs.engine.llm.urlguard import GuardedTransport, UnsafeModelURL, check_model_url, normalize
from graphs.models import Graph, GraphVersion, Run, RunEvent
from graphs.runner.execution import execute_run
from tests.helpers import chain

OPERATOR_KEY = "sk-operator-secret-0123456789"
REFUSED = ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/v1", "http://10.0.0.7/v1",
           "http://[::1]:9/v1", "http://localhost:9/v1", "http://[fd00::1]/v1", "http://0.0.0.0:9/v1",
           "http://100.64.0.1/v1", "http://[::ffff:169.254.169.254]/v1"]


class Recorder(ThreadingHTTPServer):
    """Somebody else's endpoint: records every request's path, Host and Authorization, and answers
    an OpenAI-style completion, or (``fail_with``) an error status with a very long body."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[dict[str, str | None]] = []
        self.fail_with: int | None = None
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _RecorderHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append({"path": self.path, "host": self.headers.get("Host"),
                                 "authorization": self.headers.get("Authorization")})
        if self.server.fail_with:
            status, body = self.server.fail_with, json.dumps({"error": {"message": "internal details " * 500}}).encode()
        else:
            status, body = 200, json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": '{"result": "theirs"}'}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def other_server():
    server = Recorder()
    yield server
    server.shutdown()
    server.server_close()


def ask(base_url: str | None = None, api_key: str | None = None) -> LLMRequest:
    return LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}], base_url=base_url, api_key=api_key, timeout_s=10)


# --- the provider (engine, plain Python) -------------------------------------------------------

async def test_operator_key_goes_only_to_the_operator_endpoint(fake_llm_server, other_server):
    fake_llm_server.reset()
    provider = OpenAIProvider(fake_llm_server.base_url, OPERATOR_KEY, max_retries=0, allow_private=True)
    try:
        await provider.complete(ask())  # the operator's endpoint: its key
        await provider.complete(ask(fake_llm_server.base_url + "/"))  # the same endpoint, written differently
        assert [c["authorization"] for c in fake_llm_server.calls()] == [f"Bearer {OPERATOR_KEY}"] * 2

        with pytest.raises(LLMError, match="needs a credential") as refused:
            await provider.complete(ask(other_server.base_url))  # no credential: refused, nothing sent
        assert not refused.value.retryable and other_server.seen == []

        answer = await provider.complete(ask(other_server.base_url, api_key="sk-users-own-key"))
        assert answer.content == '{"result": "theirs"}'
        assert [s["authorization"] for s in other_server.seen] == ["Bearer sk-users-own-key"]
    finally:
        await provider.aclose()
    assert all(OPERATOR_KEY not in (s["authorization"] or "") for s in other_server.seen)


async def test_openai_default_is_the_operator_endpoint_when_unset():
    provider = OpenAIProvider(None, OPERATOR_KEY)
    assert provider.is_operator_url("https://api.openai.com/v1/") and provider.is_operator_url("HTTPS://API.OPENAI.COM:443/v1")
    assert not provider.is_operator_url("https://api.openai.com.evil.example/v1")
    assert not provider.is_operator_url("http://api.openai.com/v1")  # not over plain http
    with pytest.raises(LLMError, match="needs a credential"):
        provider.endpoint(ask("https://example.com/v1"))


@pytest.mark.parametrize("url", REFUSED)
async def test_private_and_link_local_endpoints_refused_at_call_time(url, other_server):
    provider = OpenAIProvider("https://api.openai.com/v1", OPERATOR_KEY, max_retries=0)
    try:
        with pytest.raises(LLMError, match="private, loopback or reserved") as refused:
            await provider.complete(ask(url, api_key="sk-users-own-key"))
        assert not refused.value.retryable
    finally:
        await provider.aclose()


async def test_the_transport_itself_refuses_and_pins(other_server):
    """Without the provider's pre-check, the transport still refuses a private address; allowed,
    it connects to the address it resolved and keeps the name in the Host header."""
    url = other_server.base_url.replace("127.0.0.1", "localhost") + "/chat/completions"
    async with httpx2.AsyncClient(transport=GuardedTransport()) as client:
        with pytest.raises(httpx2.ConnectError, match="refused model endpoint"):
            await client.post(url, json={})
    assert other_server.seen == []
    async with httpx2.AsyncClient(transport=GuardedTransport(allow_private=True)) as client:
        assert (await client.post(url, json={})).status_code == 200
    assert other_server.seen[0]["host"] == f"localhost:{other_server.server_address[1]}"


async def test_provider_error_bodies_are_trimmed(other_server):
    other_server.fail_with = 400
    provider = OpenAIProvider(None, OPERATOR_KEY, max_retries=0, allow_private=True)
    try:
        with pytest.raises(LLMError) as failed:
            await provider.complete(ask(other_server.base_url, api_key="sk-users-own-key"))
    finally:
        await provider.aclose()
    assert len(str(failed.value)) < ERROR_CHARS + 100 and "more characters" in str(failed.value)


def test_check_model_url_rules():
    for url in REFUSED:
        with pytest.raises(UnsafeModelURL):
            check_model_url(url)
    for url in ["ftp://x.example/", "http:///v1", "http://user:pw@8.8.8.8/v1", "http://8.8.8.8:99999/v1"]:
        with pytest.raises(UnsafeModelURL):
            check_model_url(url, allow_private=True)
    assert check_model_url("http://8.8.8.8/v1") == "8.8.8.8"
    assert check_model_url("http://127.0.0.1:9/v1", allow_private=True) == "127.0.0.1"
    assert normalize(None) == normalize("https://api.openai.com:443/v1/")


# --- save and validate time (the API) --------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://127.0.0.1:8000/v1", "http://[::1]/v1"])
def test_private_base_url_refused_when_saved_and_validated(api_client, user, settings, url):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    spec = chain(1, base_url=url, credential="mine")
    response = api_client.post("/api/graphs/", {"name": "g", "spec": spec}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "spec.nodes[0].config.base_url"
    assert "private, loopback or reserved" in response.json()["errors"][0]["message"]
    assert Graph.objects.count() == 0
    checked = api_client.post("/api/graphs/validate/", {"spec": spec}, format="json").json()
    assert not checked["valid"] and checked["errors"][0]["path"] == "nodes[0].config.base_url"
    from django.test import Client

    editor = Client()
    editor.force_login(user)
    live = editor.post("/graphs/check/", {"spec": spec}, content_type="application/json").json()  # the editor's live check
    assert not live["valid"] and live["errors"][0]["path"] == "nodes[0].config.base_url"
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True  # the operator's one line for a local Ollama / vLLM
    assert api_client.post("/api/graphs/", {"name": "g", "spec": spec}, format="json").status_code == 201


@pytest.mark.django_db
def test_other_endpoint_without_credential_refused_operator_endpoint_fine(api_client, settings):
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    response = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1, base_url="https://8.8.8.8/v1")}, format="json")
    assert response.status_code == 400 and "needs a credential" in response.json()["detail"] + str(response.json()["errors"])
    assert api_client.post("/api/graphs/", {"name": "g", "spec": chain(1, base_url="https://8.8.8.8/v1", credential="mine")},
                           format="json").status_code == 201
    assert api_client.post("/api/graphs/", {"name": "g", "spec": chain(1, base_url="https://api.openai.com/v1/")},
                           format="json").status_code == 201
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").json()["id"]
    saved = api_client.put(f"/api/graphs/{gid}/", {"spec": chain(1, base_url="http://169.254.169.254/", credential="x")}, format="json")
    assert saved.status_code == 400 and saved.json()["errors"][0]["path"] == "spec.nodes[0].config.base_url"


# --- the worker, end to end ------------------------------------------------------------------------

def _run_of(user, spec) -> Run:
    """A run of ``spec`` stored directly (as a graph saved before these checks existed would be)."""
    graph = Graph.objects.create(owner=user, name="legacy", latest_version=1)
    version = GraphVersion.objects.create(graph=graph, number=1, spec=spec, created_by=user)
    with transaction.atomic():
        run = Run.objects.create(graph=graph, version=version, created_by=user, inputs={"task": "t"})
    return run


@pytest.mark.django_db(transaction=True)
def test_worker_sends_the_users_key_to_their_endpoint_never_the_operators(user, fake_llm, other_server, settings):
    settings.OPENAI_API_KEY = OPERATOR_KEY
    settings.KAIZEN_LLM_MAX_RETRIES = 0
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True  # (the recorder listens on 127.0.0.1)
    credential_set(owner=user, name="mine", api_key="sk-users-own-key", base_url=other_server.base_url)

    theirs = _run_of(user, chain(1, base_url=other_server.base_url, credential="mine"))
    assert execute_run(theirs.pk) == "succeeded", Run.objects.get(pk=theirs.pk).error["traceback"]
    assert [s["authorization"] for s in other_server.seen] == ["Bearer sk-users-own-key"]

    no_credential = _run_of(user, chain(1, base_url=other_server.base_url))
    assert execute_run(no_credential.pk) == "failed"
    assert "needs a credential" in json.dumps(Run.objects.get(pk=no_credential.pk).error)
    assert len(other_server.seen) == 1  # nothing more reached it, and never the operator's key

    ours = _run_of(user, chain(1))
    assert execute_run(ours.pk) == "succeeded"
    assert [c["authorization"] for c in fake_llm.calls()] == [f"Bearer {OPERATOR_KEY}"]


@pytest.mark.django_db(transaction=True)
def test_worker_refuses_metadata_address_and_trims_errors(user, fake_llm, other_server, settings):
    settings.KAIZEN_LLM_MAX_RETRIES = 0
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    credential_set(owner=user, name="mine", api_key="sk-users-own-key", base_url=other_server.base_url)
    credential_set(owner=user, name="meta", api_key="sk-users-own-key", base_url="http://169.254.169.254/latest")
    metadata = _run_of(user, chain(1, base_url="http://169.254.169.254/latest", credential="meta"))
    assert execute_run(metadata.pk) == "failed"
    assert "private, loopback or reserved" in json.dumps(Run.objects.get(pk=metadata.pk).error)
    local = _run_of(user, chain(1, base_url=other_server.base_url, credential="mine"))
    assert execute_run(local.pk) == "failed" and other_server.seen == []

    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = True
    other_server.fail_with = 400  # an internal server's long error body
    failing = _run_of(user, chain(1, base_url=other_server.base_url, credential="mine"))
    assert execute_run(failing.pk) == "failed"
    stored = json.dumps(Run.objects.get(pk=failing.pk).error) + json.dumps(list(RunEvent.objects.filter(run=failing).values_list("data", flat=True)))
    assert "internal details" in stored and ("internal details " * 40) not in stored
