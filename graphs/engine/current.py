"""Which node a piece of engine work is for, and the fencing check its requests pass, as context
variables.

The engine sets it when a node's task starts (``Engine._execute``); every task, thread pool job or
context copy the node makes from then on inherits it, and nothing outside the node sees it. Log
filters read it (audit/logs.py) to put the node id on every line a node causes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

CURRENT_NODE: ContextVar[str | None] = ContextVar("kaizen_current_node", default=None)

# The run's fencing check (``Engine.ensure_current``: free while the claim was renewed lately),
# set with CURRENT_NODE. Outbound transports (llm/fencing.py) await it as a request leaves, so a
# worker frozen between the check before an attempt and the send (a GC pause, SIGSTOP, a loaded
# machine) sends nothing once it thaws under a lapsed claim. Outside a node: None, no check.
SEND_CHECK: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("kaizen_send_check", default=None)
