"""The worker process's event loop: every run this process executes is a task on it.

A thread-pool Celery worker calls ``execute_run`` on one of its threads. Were each thread to run
its own loop, fifty runs would be fifty loops on fifty threads contending for the GIL at once
(the latency tail of every run grows with them), each with its own Redis connection. Instead
the run is handed to this one loop and the worker thread just waits for its result. Nothing a
run does blocks the loop: its database work goes to the run's own DB thread (RunRecorder.db),
writes to the process's group-commit thread, and LLM calls are asynchronous HTTP.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid = 0


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()  # (a forked child starts its own: threads don't survive fork)
            _thread = threading.Thread(target=loop.run_forever, name="kaizen-runs", daemon=True)
            _thread.start()
            _loop, _pid = loop, os.getpid()
        return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this process's run loop; block the calling thread until it is done."""
    loop = _running_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("runloop.run() called from the run loop itself: await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def call_soon(fn: Any, *args: Any) -> None:
    """Schedule a plain call on this process's run loop, from any thread."""
    _running_loop().call_soon_threadsafe(fn, *args)
