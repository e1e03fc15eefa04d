"""The connection pool's idle-connection probe (graphs/engine/llm/probes.py), over real sockets:
a connection the server closed while idle is noticed and replaced, each stream's socket is looked
up once however often the pool probes it, and every transport the providers build carries it."""

from __future__ import annotations

import asyncio
import ssl

import httpx2
import pytest

from graphs.engine.current import SEND_CHECK
from graphs.engine.llm import probes
from graphs.engine.llm.clients import ClientPool, ConnectionConfig, default_transport
from graphs.engine.ports import ClaimLost

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


async def closing_server(connections: list[int]):
    """Answers one request per connection (keep-alive promised), then closes the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_a_connection_the_server_closed_while_idle_is_replaced():
    """The server closes each connection after its answer: the pool's probe sees the idle
    connection readable (EOF) and opens a new one, so every request succeeds. A probe that
    never saw the close would send the next request on the dead connection: 'Server
    disconnected without sending a response'."""
    connections: list[int] = []
    server = await closing_server(connections)
    port = server.sockets[0].getsockname()[1]
    transport = default_transport(ConnectionConfig(f"http://127.0.0.1:{port}", None), ssl.create_default_context())
    async with httpx2.AsyncClient(transport=transport) as client:
        for _ in range(3):
            response = await client.get(f"http://127.0.0.1:{port}/")
            assert response.text == "ok"
            await asyncio.sleep(0.05)  # (the server's FIN arrives)
    server.close()
    assert len(connections) == 3


async def test_each_stream_looks_up_its_socket_once(llm):
    """Many probes, one lookup of the socket per stream (anyio's lookup was the costly part)."""
    lookups: list[str] = []

    class Counting(probes.ProbedStream):
        def __init__(self, inner):
            super().__init__(inner)
            get = inner.get_extra_info

            def counted(info):
                lookups.append(info)
                return get(info)

            inner.get_extra_info = counted

    backend = probes.ProbedBackend(httpx2.AsyncHTTPTransport()._pool._network_backend)
    stream = Counting(await backend._inner.connect_tcp("127.0.0.1", int(llm.base_url.split(":")[2].split("/")[0])))
    assert not any(stream.get_extra_info("is_readable") for _ in range(50))
    assert lookups == ["socket"]
    await stream.aclose()
    assert stream.get_extra_info("is_readable")  # a closed socket reads as gone


@pytest.mark.parametrize("guarded", [False, True])
def test_every_provider_transport_probes_cheaply(guarded):
    """The default and the SSRF-guarded transports both get the wrapped backend (this fails if a
    new httpx2 renames the pool attribute cheap_probes sets)."""
    pool = ClientPool()
    client = pool.client(ConnectionConfig("http://127.0.0.1:9/v1", "k", guarded=guarded))
    fenced = client._client._transport
    assert isinstance(fenced.inner._pool._network_backend, probes.ProbedBackend)


async def test_a_claim_lost_after_the_transport_checked_sends_nothing(llm):
    """The fencing check runs again as the bytes leave: a worker frozen between the transport's
    check and the write (the pool and h11 in between) sends nothing once it thaws unfenced."""
    checks: list[int] = []

    async def check() -> None:  # (the transport's look passes; by the write the claim is gone)
        checks.append(1)
        if len(checks) > 1:
            raise ClaimLost("the run was claimed by another worker")

    pool = ClientPool()
    client = pool.client(ConnectionConfig(llm.base_url, "k"))
    token = SEND_CHECK.set(check)
    try:
        with pytest.raises(ClaimLost):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    finally:
        SEND_CHECK.reset(token)
    assert len(checks) == 2 and llm.calls() == []
    answer = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices and len(llm.calls()) == 1  # (outside a node: no check; the pool recovered)
    await pool.aclose()
