"""Structured logs: one JSON object per line with run_id, node_id and user_id on every line.

The ids live in context variables: the request middleware binds the user (and the run a URL
names), the run driver binds the run (``audit.hooks.attach``), and the engine sets the node in
each node's task (graphs/engine/current.py), so a log line written while a node runs, in
any task or context copy it started, carries its node id.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from graphs.engine.current import CURRENT_NODE

FIELDS = ("run_id", "node_id", "user_id")
_context: ContextVar[dict[str, Any] | None] = ContextVar("kaizen_log_context", default=None)


def bind(**fields: Any) -> Token:
    """Add ids to the current context (this task or thread and what it starts); returns a reset token."""
    return _context.set({**(_context.get() or {}), **fields})


def reset(token: Token) -> None:
    _context.reset(token)


def current() -> dict[str, Any]:
    """The bound ids; user_id is read from the request at call time, so a user that DRF
    authenticates inside the view (token auth) is seen too."""
    ctx = dict(_context.get() or {})
    request = ctx.pop("request", None)
    if ctx.get("user_id") is None and request is not None:
        try:
            user = getattr(request, "user", None)
            ctx["user_id"] = user.pk if user is not None and user.is_authenticated else None
        except Exception:  # e.g. an unloaded session user from async code: the line goes out without it
            ctx["user_id"] = None
    return ctx


class ContextFilter(logging.Filter):
    """Puts run_id, node_id and user_id on every record (None when not known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        for key in FIELDS:
            if getattr(record, key, None) is None:
                setattr(record, key, ctx.get(key))
        fields = vars(record)
        if fields.get("node_id") is None and fields.get("run_id") is not None:
            fields["node_id"] = CURRENT_NODE.get()
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s %(node_id)s %(user_id)s",
                         *args, **kwargs)


class LogContextMiddleware:
    """Binds the request (its user is read when a line is written) and a run named by the URL."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        token = bind(request=request)
        try:
            return self.get_response(request)
        finally:
            reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        match = getattr(request, "resolver_match", None)
        if match and match.url_name and match.url_name.startswith(("run", "api-run")) and "pk" in view_kwargs:
            bind(run_id=view_kwargs["pk"])
