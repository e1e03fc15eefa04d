"""HTTP clients for OpenAI-compatible endpoints, built once per process and event loop.

Why: an ``AsyncOpenAI`` client built with the SDK's defaults builds its own httpx transport,
which builds an SSL context and loads the whole CA bundle (tens of ms of CPU), even for an
``http://`` endpoint. Built per run (eight per run, as it was then) that was about three quarters of
a loaded worker's CPU. Here a worker keeps, per event loop, one set of clients per connection
config (base_url, api key, retries), as many as its concurrent calls need (FILL), reused by every
run on that loop; the TLS context that trusts the CA bundle is built once per process and only
when an ``https`` endpoint is used.

Clients belong to the loop that made them (their pooled connections are that loop's sockets),
so the process-wide cache is keyed by the running loop; pools of loops that have closed are
dropped when the next pool is made, so tests that run many short-lived loops stay bounded.
Nothing a run does closes a shared client: a task that outlives its run can still call out.

Transports come from a factory per connection config, so a caller can put its own httpx2
transport (an SSRF guard, a recorder) under every client of that config. Every one is wrapped in
the fencing check (fencing.py): a request of a run this worker no longer holds never leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx2
import openai

from .fencing import FencedTransport
from .probes import cheap_probes
from .urlguard import GuardedTransport

# Requests are spread over a few clients per connection config: httpcore's pool scans every
# pooled connection per request (and probes each idle one with a poll), so one client with hundreds
# of concurrent connections burns CPU quadratically. Measured (300 parallel calls held 0.5 s by the
# scripted server, loop thread's CPU per call): 1 client 3.2-3.3 ms, 8 clients 2.1-2.4 ms; 500
# held calls, 8 clients 0.94 ms, 64 clients 0.81 ms. A call goes to the first client with fewer
# than FILL calls in flight; when every client has FILL, a new one is made, up to MAX_SHARDS,
# past which the least busy takes it. So calls made one after another all use the first client and
# its kept-alive connection (round-robin over 8 clients had each of a run's sequential calls on
# another client, idle for longer than httpx's 5 s keep-alive: a new TCP, and for https a new TLS,
# handshake per call), and a wide fan-out spreads over as many clients as it needs.
FILL = 16
MAX_SHARDS = 64
# The SDK's own defaults (DefaultAsyncHttpxClient), which a transport we build must carry itself.
LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


@dataclass(frozen=True)
class ConnectionConfig:
    """What makes two calls share a client: where they go and with which key."""

    base_url: str | None  # None: the SDK's default (https://api.openai.com/v1, or OPENAI_BASE_URL)
    api_key: str | None
    max_retries: int = 0
    guarded: bool = False  # a user's endpoint: every connection goes through the SSRF guard
    allow_private: bool = False  # ... which then accepts private addresses (the operator allows it)

    @property
    def https(self) -> bool:
        return self.base_url is None or self.base_url.lower().startswith("https:")


TransportFactory = Callable[[ConnectionConfig, ssl.SSLContext], httpx2.AsyncBaseTransport]

_tls_lock = threading.Lock()
_tls: ssl.SSLContext | None = None
_no_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The context that verifies servers against the CA bundle: built on first use, then shared."""
    global _tls
    with _tls_lock:
        if _tls is None:
            _tls = httpx2.create_ssl_context()
        return _tls


def plain_context() -> ssl.SSLContext:
    """For ``http://`` endpoints: loads no CA bundle, and since it trusts nothing while still
    verifying, a redirect to an ``https`` URL fails loudly instead of going unverified."""
    global _no_tls
    with _tls_lock:
        if _no_tls is None:
            _no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
        return _no_tls


def default_transport(config: ConnectionConfig, ssl_context: ssl.SSLContext) -> httpx2.AsyncBaseTransport:
    """The SDK's usual transport, with the shared TLS context and the SDK's connection limits.

    (A client given a transport ignores proxy environment variables; so does this one.) Its pool
    probes idle connections cheaply (probes.py).
    """
    return cheap_probes(httpx2.AsyncHTTPTransport(verify=ssl_context, limits=LIMITS))


@dataclass
class _Shard:
    client: openai.AsyncOpenAI
    in_flight: int = 0  # calls leased and not yet ended


class ClientPool:
    """Up to ``shards`` ``AsyncOpenAI`` clients per connection config, all on one event loop, made
    as concurrent calls need them (see FILL)."""

    def __init__(self, transport_factory: TransportFactory = default_transport, shards: int = MAX_SHARDS,
                 fill: int = FILL) -> None:
        self.transport_factory = transport_factory
        self.shards = shards
        self.fill = fill
        self._clients: dict[ConnectionConfig, list[_Shard]] = {}
        self.built = 0  # clients made so far (what the tests count)

    @contextlib.contextmanager
    def lease(self, config: ConnectionConfig) -> Iterator[openai.AsyncOpenAI]:
        """The client for one call with ``config``, counted as busy until the block ends: a call is
        in flight from its choice of client (its request is built after awaits, so counting at the
        transport would let every call started in one turn of the loop pick the same client)."""
        shard = self._pick(config)
        shard.in_flight += 1
        try:
            yield shard.client
        finally:
            shard.in_flight -= 1

    def client(self, config: ConnectionConfig) -> openai.AsyncOpenAI:
        """A client for ``config``, not counted as busy (what ``lease`` would pick now)."""
        return self._pick(config).client

    def in_flight(self, config: ConnectionConfig) -> list[int]:
        """Leased calls per client of ``config`` (for tests and benches)."""
        return [shard.in_flight for shard in self._clients.get(config, [])]

    def _pick(self, config: ConnectionConfig) -> _Shard:
        shards = self._clients.setdefault(config, [])
        for shard in shards:
            if shard.in_flight < self.fill:
                return shard
        if len(shards) < self.shards:
            context = tls_context() if config.https else plain_context()
            shards.append(self._build(config, context))
            return shards[-1]
        return min(shards, key=lambda shard: shard.in_flight)

    def _build(self, config: ConnectionConfig, context: ssl.SSLContext) -> _Shard:
        if config.guarded:  # resolves, checks and pins every connection (urlguard.py)
            transport: httpx2.AsyncBaseTransport = GuardedTransport(  # (FencedTransport adds the probes)
                allow_private=config.allow_private, verify=context, limits=LIMITS)
        else:
            transport = self.transport_factory(config, context)
        http = openai.DefaultAsyncHttpxClient(transport=FencedTransport(transport))  # (fencing.py)
        self.built += 1
        return _Shard(openai.AsyncOpenAI(base_url=config.base_url, api_key=config.api_key or "not-needed",
                                         max_retries=config.max_retries, http_client=http))

    async def aclose(self) -> None:
        clients = [shard.client for shards in self._clients.values() for shard in shards]
        self._clients.clear()
        for client in clients:
            await client.close()


_pools_lock = threading.Lock()
_pools: dict[tuple[asyncio.AbstractEventLoop, TransportFactory], ClientPool] = {}


def shared_pool(transport_factory: TransportFactory = default_transport) -> ClientPool:
    """This process's pool for the running event loop (and transport factory); never closed by a run."""
    loop = asyncio.get_running_loop()
    key = (loop, transport_factory)
    pool = _pools.get(key)
    if pool is not None:
        return pool
    with _pools_lock:
        for gone in [k for k in _pools if k[0].is_closed()]:  # (their sockets died with their loop)
            del _pools[gone]
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ClientPool(transport_factory)
        return pool
