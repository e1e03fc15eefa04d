"""A cheaper idle-connection probe for httpcore's connection pool.

Why: each time a request enters or leaves an httpcore pool, the pool asks every idle connection
whether the server closed it (``has_expired``), and the anyio stream answers by looking up its
socket through anyio's typed attributes, which build a dict of lambdas (and call ``getpeername``)
on every lookup: about 25 µs a connection. With a few hundred pooled connections (a wide fan-out
of LLM calls) that scan was the largest single cost of a call: 32,000 probes, a quarter of the
loop's CPU, for 500 parallel calls (cProfile, notes of 2026-12-04 (c)).

Here every stream the pool opens is wrapped so that its socket is looked up once, when the pool
first probes it, and each probe is then httpcore's own readability check (one ``poll`` with no
timeout). A stream upgraded to TLS is wrapped again (its socket is the same one).

The wrapper also sends a request's head and body in one write (h11 hands them over apart: one
syscall and one TCP segment per call fewer, ~6 % of a call's client CPU at zero latency).

It is the last place fencing looks before bytes leave (fencing.py installs it on
every fenced pool): each send first awaits the node's fencing check (``SEND_CHECK``; no check
outside a node), as ``FencedTransport`` did when httpx handed over the request. Between the two lie the connection pool and h11, several turns of
the event loop; a worker frozen there (SIGSTOP, a long GC pause) past its lease sent the request
once thawed (seen in CI: a call started 30 ms after the thaw, then aborted). The check is free
while the claim was renewed lately (no await inside), so what remains between it and the socket
is the one turn anyio takes before it sends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
from httpcore2._utils import is_socket_readable  # (what httpcore's anyio stream calls per probe)

from ..current import SEND_CHECK

_UNKNOWN = object()
HOLD_HEAD_BYTES = 16_384


class ProbedStream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: Any = _UNKNOWN
        self._head: bytes | None = None  # a request head held for the write after it

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._head is not None:
            await self._send(b"", timeout)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # h11 writes a request's head and its body apart: the head is held and goes out with what
        # follows (the body, or the empty write that ends a request without one; a read sends it
        # too), one send instead of two (a syscall and a TCP segment per call saved).
        if self._head is None and buffer.endswith(b"\r\n\r\n") and len(buffer) <= HOLD_HEAD_BYTES:
            self._head = buffer
            return
        await self._send(buffer, timeout)

    async def _send(self, buffer: bytes, timeout: float | None) -> None:
        if self._head is not None:
            buffer, self._head = self._head + buffer, None
        check = SEND_CHECK.get() if buffer else None
        if check is not None:
            await check()  # (ClaimLost: nothing is sent; httpcore closes the connection)
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        self._head = None
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore2.AsyncNetworkStream:
        return ProbedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._sock is _UNKNOWN:
                self._sock = self._inner.get_extra_info("socket")
            return is_socket_readable(self._sock)  # (httpcore's own check, given the socket)
        return self._inner.get_extra_info(info)


class ProbedBackend(httpcore2.AsyncNetworkBackend):
    """Wraps another backend's streams in ProbedStream."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        return ProbedStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        return ProbedStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def cheap_probes(transport: httpx2.AsyncHTTPTransport) -> httpx2.AsyncHTTPTransport:
    """Give ``transport``'s connection pool the wrapped backend (before it opens a connection).

    httpx builds its pool without a way to pass a backend, so this sets the pool's backend
    attribute; the pinned httpx2/httpcore2 versions have it, and tests/engine/test_llm_probes.py
    fails if a new version renames it.
    """
    pool = transport._pool  # noqa: SLF001 (see the docstring)
    backend = pool._network_backend  # noqa: SLF001
    if not isinstance(backend, ProbedBackend):
        pool._network_backend = ProbedBackend(backend)  # noqa: SLF001
    return transport
