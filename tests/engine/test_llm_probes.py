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


async def test_a_request_head_leaves_with_its_body_in_one_write():
    """h11 writes a request's head and body apart; the stream sends them as one write. A head
    alone (no body: the empty write that ends the request) or before a read still leaves."""
    seen: list[bytes] = []
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), b"0"))
            received.append(head + (await reader.readexactly(length) if length else b""))
            writer.write(ANSWER)
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Recording(probes.ProbedBackend):
        async def connect_tcp(self, *args, **kwargs):
            stream = await super().connect_tcp(*args, **kwargs)
            write = stream._inner.write

            async def recorded(buffer, timeout=None):
                seen.append(buffer)
                await write(buffer, timeout)

            stream._inner.write = recorded
            return stream

    transport = httpx2.AsyncHTTPTransport()
    transport._pool._network_backend = Recording(transport._pool._network_backend)
    async with httpx2.AsyncClient(transport=transport) as client:
        posted = await client.post(f"http://127.0.0.1:{port}/x", content=b'{"a": 1}')
        got = await client.get(f"http://127.0.0.1:{port}/y")
    assert posted.text == got.text == "ok"
    nonempty = [b for b in seen if b]
    assert len(nonempty) == 2, nonempty  # one write per request
    assert nonempty[0].startswith(b"POST /x") and nonempty[0].endswith(b'\r\n\r\n{"a": 1}')
    assert nonempty[1].startswith(b"GET /y") and nonempty[1].endswith(b"\r\n\r\n")
    assert received == nonempty

    stream = await Recording(httpx2.AsyncHTTPTransport()._pool._network_backend).connect_tcp("127.0.0.1", port)
    seen.clear()
    await stream.write(b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n")  # held ...
    assert seen == []
    assert (await stream.read(1024)).endswith(b"ok")  # ... and sent by the read that wants its answer
    assert seen == [b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n"]
    await stream.aclose()
    server.close()
