"""Which node a piece of engine work is for, as a context variable.

The engine sets it when a node's task starts (``Engine._execute``); every task, thread pool job or
context copy the node makes from then on inherits it, and nothing outside the node sees it. Log
filters read it (audit/logs.py) to put the node id on every line a node causes.
"""

from __future__ import annotations

from contextvars import ContextVar

CURRENT_NODE: ContextVar[str | None] = ContextVar("kaizen_current_node", default=None)
