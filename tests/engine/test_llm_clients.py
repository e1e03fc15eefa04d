"""Provider HTTP clients are built once per process and loop (graphs/engine/llm/clients.py),
over real HTTP to the scripted server through the openai SDK."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx2

from graphs.engine.llm import LLMRequest, clients
from graphs.engine.llm.clients import FILL, ClientPool, ConnectionConfig, default_transport, shared_pool
from graphs.engine.llm.openai_provider import OpenAIProvider
from graphs.engine.llm.shared import shared_providers


def request(text: str = "hello", **kwargs) -> LLMRequest:
    return LLMRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kwargs)


async def test_many_runs_share_one_set_of_clients_per_connection_config(llm):
    """Fifty 'runs' each build their providers as a worker does, then call the model at once: the
    pool holds as many clients for the config as fifty calls in flight need (FILL each), not a set
    per run; a second key gets its own."""
    pool = shared_pool()
    before = pool.built

    async def one_run(i: int) -> str:
        providers = shared_providers(llm.base_url, "test-key", max_retries=0, simulated_latency_s=0.0, default="openai")
        return (await providers.get("openai").complete(request(f"run {i}"))).content

    answers = await asyncio.gather(*(one_run(i) for i in range(50)))
    assert len(answers) == 50 and all(answers)
    assert 1 <= pool.built - before <= -(-50 // FILL)
    built = pool.built
    provider = shared_providers(llm.base_url, "test-key", max_retries=0, simulated_latency_s=0.0, default="openai")
    assert provider is shared_providers(llm.base_url, "test-key", max_retries=0, simulated_latency_s=0.0, default="openai")
    await provider.get("openai").complete(request("with another key", api_key="key-2"))
    assert pool.built == built + 1
    assert {c["authorization"] for c in llm.calls()} == {"Bearer test-key", "Bearer key-2"}


async def test_calls_one_after_another_reuse_one_client_and_its_connection(llm):
    """A run's sequential calls go to the config's first client (the one with nothing in flight)
    and so over its one kept-alive connection: no new TCP (or TLS) handshake per call, as when
    calls went round-robin over eight clients whose connections expired between two uses."""
    pool = ClientPool()
    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0, clients=pool)
    try:
        for i in range(12):
            assert (await provider.complete(request(f"step {i}"))).content
        config = ConnectionConfig(llm.base_url, "test-key", 0)
        assert pool.built == 1 and pool.in_flight(config) == [0]
        assert len({call["peer_port"] for call in llm.calls("step")}) == 1, "one connection for all twelve"
    finally:
        await provider.aclose()


async def test_a_wide_fan_out_spreads_over_clients_of_at_most_fill_calls_each(llm):
    """Calls in flight at once fill a client up to FILL, then the next one is made; every call's
    end (a streamed answer read to the end, a plain one, an error) is counted, so an idle pool
    reads zero everywhere (a count that leaked would send later calls to ever more clients)."""
    llm.script(match="wide", latency=0.5)
    llm.script(match="broken", status=500)
    pool = ClientPool()
    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0, clients=pool)
    config = ConnectionConfig(llm.base_url, "test-key", 0)
    try:
        n = 2 * FILL + 3
        calls = [asyncio.ensure_future(provider.complete(request(f"wide {i}"))) for i in range(n)]
        while len(llm.calls("wide")) < n:
            await asyncio.sleep(0.02)
        assert pool.in_flight(config) == [FILL, FILL, 3]
        assert all(answer.content for answer in await asyncio.gather(*calls))
        assert pool.in_flight(config) == [0, 0, 0]
        plain = OpenAIProvider(llm.base_url, "test-key", max_retries=0, clients=pool, stream=False)
        assert (await plain.complete(request("plain"))).content
        failed = await asyncio.gather(provider.complete(request("broken")), return_exceptions=True)
        assert isinstance(failed[0], Exception), failed
        assert pool.in_flight(config) == [0, 0, 0] and pool.built == 3
    finally:
        await provider.aclose()


async def test_past_the_last_client_the_least_busy_takes_the_call(llm):
    llm.script(match="held", latency=0.5)
    pool = ClientPool(shards=2, fill=2)
    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0, clients=pool)
    config = ConnectionConfig(llm.base_url, "test-key", 0)
    try:
        calls = [asyncio.ensure_future(provider.complete(request(f"held {i}"))) for i in range(7)]
        while len(llm.calls("held")) < 7:
            await asyncio.sleep(0.02)
        assert sorted(pool.in_flight(config)) == [3, 4] and pool.built == 2
        assert all(answer.content for answer in await asyncio.gather(*calls))
    finally:
        await provider.aclose()


def test_each_event_loop_gets_its_own_clients(llm):
    """Clients belong to the loop that made them: two loops (here on two threads), two pools,
    each of which works; a closed loop's pool is dropped when the next pool is made."""
    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0)
    seen: dict[str, tuple[ClientPool, str]] = {}

    async def call(name: str) -> None:
        response = await provider.complete(request(name))
        seen[name] = (shared_pool(), response.content)

    threads = [threading.Thread(target=lambda n=n: asyncio.run(call(n))) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen["a"][1] and seen["b"][1]
    assert seen["a"][0] is not seen["b"][0]
    asyncio.run(call("c"))  # (makes a pool: those of the finished loops are pruned)

    assert not any(pool is seen["a"][0] or pool is seen["b"][0] for pool in clients._pools.values())


async def test_plain_http_loads_no_ca_bundle_and_https_shares_one_context():
    """An http:// endpoint's clients get a context with no CA certificate loaded; every https
    client of the process shares the one context that trusts the bundle."""
    contexts: list = []

    def factory(config, ssl_context):
        contexts.append((config.https, ssl_context))
        return default_transport(config, ssl_context)

    pool = ClientPool(factory, shards=2)
    try:
        pool.client(ConnectionConfig("http://127.0.0.1:9/v1", "k"))
        pool.client(ConnectionConfig("https://llm.example/v1", "k"))
        pool.client(ConnectionConfig(None, "k2"))  # the SDK's default endpoint is https
    finally:
        await pool.aclose()
    plain = [ctx for https, ctx in contexts if not https]
    tls = [ctx for https, ctx in contexts if https]
    assert len(plain) == 1 and len(tls) == 2  # (a config's first client; more only for concurrent calls)
    assert all(ctx is clients.plain_context() for ctx in plain)
    assert clients.plain_context().cert_store_stats()["x509_ca"] == 0
    assert clients.plain_context().verify_mode.name == "CERT_REQUIRED"  # trusts nothing, verifies all: no silent https
    assert all(ctx is clients.tls_context() for ctx in tls)
    assert clients.tls_context().cert_store_stats()["x509_ca"] > 0


async def test_a_custom_transport_carries_every_call(llm):
    """The transport factory is how a caller puts its own transport (an SSRF guard) under the
    SDK: every request of that config goes through it."""
    seen: list[str] = []

    class Recording(httpx2.AsyncBaseTransport):
        def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, req):
            seen.append(str(req.url))
            return await self.inner.handle_async_request(req)

        async def aclose(self) -> None:
            await self.inner.aclose()

    def factory(config, ssl_context):
        return Recording(default_transport(config, ssl_context))

    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0, transport_factory=factory)
    for i in range(3):
        assert (await provider.complete(request(f"call {i}"))).content
    assert seen == [f"{llm.base_url}/chat/completions"] * 3
    assert shared_pool(factory) is not shared_pool()


async def test_a_call_after_another_user_closed_its_provider_still_works(llm, caplog):
    """aclose() of a provider on the shared pool closes nothing: a task that outlives its run
    (and calls the model after the run's end) must not hit a closed client."""
    caplog.set_level(logging.DEBUG)
    first = OpenAIProvider(llm.base_url, "test-key", max_retries=0)
    assert (await first.complete(request("before"))).content
    await first.aclose()
    late = OpenAIProvider(llm.base_url, "test-key", max_retries=0)
    answers = await asyncio.gather(*(late.complete(request(f"after {i}")) for i in range(2 * FILL)))  # (two clients)
    assert all(answer.content for answer in answers)
    assert "client has been closed" not in caplog.text


async def test_an_owned_pool_is_closed_with_its_provider(llm):
    pool = ClientPool(shards=1)
    provider = OpenAIProvider(llm.base_url, "test-key", max_retries=0, clients=pool)
    assert (await provider.complete(request("x"))).content
    client = pool.client(ConnectionConfig(llm.base_url, "test-key", 0))
    await provider.aclose()
    assert client.is_closed()
