"""The saves an engine has in flight, and waiting for "every save issued so far" in O(1).

Before each LLM call the engine waits until every save issued before it has settled (so no answer
it has used can be lost in a crash). Gathering the whole pending set per call made a wide fan-out
quadratic: 200 parallel agent nodes each copied up to 200 pending futures. Here saves are numbered
as they are issued; a waiter remembers the last number issued when it started waiting and is woken
once the oldest save still pending is newer than that (or none is pending, or one failed). Waiters
arrive with non-decreasing numbers, so they form a queue woken from its front.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable


class PendingSaves:
    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._on_error = on_error
        self._pending: OrderedDict[int, asyncio.Future[None]] = OrderedDict()  # issue number -> save
        self._issued = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._failed = False

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, save: asyncio.Future[None]) -> None:
        self._issued += 1
        number = self._issued
        self._pending[number] = save
        save.add_done_callback(lambda done: self._done(number, done))

    def _done(self, number: int, save: asyncio.Future[None]) -> None:
        self._pending.pop(number, None)
        error = None if save.cancelled() else save.exception()
        if error is not None:
            self._failed = True
            self._on_error(error)
        oldest = next(iter(self._pending), None)
        while self._waiters and (self._failed or oldest is None or self._waiters[0][0] < oldest):
            waiter = self._waiters.popleft()[1]
            if not waiter.done():
                waiter.set_result(None)

    async def issued_so_far(self) -> None:
        """Wait until every save issued before this call has settled (not those issued meanwhile);
        at once after a failure (the caller then raises it)."""
        if self._failed or not self._pending:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((self._issued, waiter))
        await waiter

    async def all(self) -> None:
        """Wait until nothing is pending, including saves issued while waiting."""
        while self._pending and not self._failed:
            await self.issued_so_far()
