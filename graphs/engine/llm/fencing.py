"""The last fencing check, as a request leaves.

The engine checks the run's claim before every attempt of an LLM or tool call
(``NodeRun._before_attempt``). Between that check and the request's first byte there are awaits
(a URL check's DNS lookup, the SDK's request building, the connection pool): a worker frozen
there (a GC pause, SIGSTOP, a swapped-out VM) past its lease would, once thawed, send a request
for a run another worker now owns. ``FencedTransport`` closes that gap: it awaits the node's
check (``SEND_CHECK``, free while the claim was renewed lately, one conditional UPDATE after a
freeze) as httpx hands it the request, and, over httpx's own transport, once more as each write
leaves the connection pool for the socket (probes.py wraps the pool's streams): a freeze inside
the pool or h11 is caught too, leaving one event-loop turn. A lost claim raises ``ClaimLost``,
which the SDK and httpx pass through unchanged (it is not a transport error). Model calls, HTTP
tools and MCP sessions all send through it.
"""

from __future__ import annotations

import httpx2

from ..current import SEND_CHECK
from .probes import cheap_probes


class FencedTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport: every request first passes the current node's fencing check, and, when
    the inner transport is httpx's own (a pool of connections), again as each write leaves for
    the socket (its streams are wrapped by probes.py, which looks at ``SEND_CHECK`` then)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        if isinstance(inner, httpx2.AsyncHTTPTransport):
            cheap_probes(inner)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check = SEND_CHECK.get()
        if check is not None:
            await check()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
