"""The embedded default's channel layer: Channels' in-memory layer, safe to publish to from the
worker's run loop.

Websocket consumers receive on Daphne's event loop; runs publish from the worker's run loop, on
another thread of the same process. asyncio queues are not thread-safe: a message put from the
wrong thread wakes its receiver only when Daphne's loop next wakes for something else (up to the
consumer's 2 s tail watch). Sends from another loop are therefore handed to the receivers' loop.
"""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    _home: asyncio.AbstractEventLoop | None = None  # the loop consumers receive on

    async def _at_home(self, coro):
        home, here = self._home, asyncio.get_running_loop()
        if home is None or home is here or home.is_closed():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, home))

    async def receive(self, channel):
        self._home = asyncio.get_running_loop()
        return await super().receive(channel)

    async def group_add(self, group, channel):
        self._home = asyncio.get_running_loop()
        return await super().group_add(group, channel)

    async def send(self, channel, message):
        return await self._at_home(super().send(channel, message))

    async def group_send(self, group, message):
        return await self._at_home(super().group_send(group, message))
