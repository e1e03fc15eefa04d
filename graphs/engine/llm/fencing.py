"""The last fencing check, as a request leaves.

The engine checks the run's claim before every attempt of an LLM or tool call
(``NodeRun._before_attempt``). Between that check and the request's first byte there are awaits
(a URL check's DNS lookup, the SDK's request building, the connection pool): a worker frozen
there (a GC pause, SIGSTOP, a swapped-out VM) past its lease would, once thawed, send a request
for a run another worker now owns. ``FencedTransport`` closes that gap down to the connection
pool: it awaits the node's check (``SEND_CHECK``, free while the claim was renewed lately, one
conditional UPDATE after a freeze) as httpx hands it the request. A lost claim raises
``ClaimLost``, which the SDK and httpx pass through unchanged (it is not a transport error).
"""

from __future__ import annotations

import httpx2

from ..current import SEND_CHECK


class FencedTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport: every request first passes the current node's fencing check."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check = SEND_CHECK.get()
        if check is not None:
            await check()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
