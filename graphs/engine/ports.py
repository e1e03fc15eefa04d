"""Protocols the engine depends on; Django/Channels (or memory, in tests) implement them."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class ClaimLost(Exception):
    """This process no longer owns the run (another worker claimed it): write nothing more,
    start no LLM or tool call, stop at once. Raised by a store's ``ensure_current`` or ``queue_save``."""


def settled() -> asyncio.Future[None]:
    """A future that is already done: a save a store made durable at once."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


class CheckpointStore(Protocol):
    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Latest saved state per node id (plain JSON dicts); empty if none."""

    def queue_save(self, run_id: str, node_id: str, state: dict[str, Any]) -> asyncio.Future[None]:
        """Store one node's state durably, in two steps: the state is in the store's queue when this
        returns (so it is ordered before every event and save issued after it, whatever runs in
        between), and the future settles once it would survive a crash (or with the save's error).
        Raises at once what the store refuses at once (a lost claim).

        A store may hold a save back for a moment so that it shares a commit with the saves and
        events that follow, until ``flush_soon`` says someone is waiting for it."""

    def flush_soon(self) -> None:
        """Someone waits for the saves made so far (an LLM call, the run's end): write them now."""

    async def ensure_current(self) -> None:
        """Raise ClaimLost if this process's claim on the run is no longer current (fencing).

        The engine calls it before every LLM or tool call, after the pending saves settled."""


class EventSink(Protocol):
    async def emit(self, run_id: str, event: str, node_id: str | None, data: dict[str, Any]) -> None:
        """Record one hook event (ordered per run)."""


class TokenSink(Protocol):
    """Where an LLM call's answer goes while it streams: ephemeral (never stored, may be dropped;
    the journal and ``post_llm_call`` keep the final text). Called on the run's event loop for
    every piece; it must not block or raise."""

    def tokens(self, node_id: str, key: str, offset: int, text: str) -> None:
        """``text`` continues call ``key`` of ``node_id`` at character ``offset`` of the current
        attempt's answer (0 again: a retry started over)."""


class MemoryStore(Protocol):
    """Conversation memory keyed by (owner, session id), shared across runs (engine.memory.TieredMemory)."""

    async def load(self, owner: Any, session_id: str, policy: Any = None) -> Any:
        """A MemoryView: the session's turns and the tier that served them; counts the access."""

    async def append(self, owner: Any, session_id: str, turns: list[dict[str, Any]], max_turns: int | None = None) -> Any:
        """Add turns, keeping the last ``max_turns``."""


class MemoryCheckpointStore:
    """In-memory store: for tests and the engine benchmark."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, dict[str, Any]]] = {}
        self.saves = 0

    async def load(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.saved.get(run_id, {}).items()}

    def queue_save(self, run_id: str, node_id: str, state: dict[str, Any]) -> asyncio.Future[None]:
        self.saves += 1
        self.saved.setdefault(run_id, {})[node_id] = state
        return settled()

    def flush_soon(self) -> None:
        pass  # nothing is ever held back

    async def ensure_current(self) -> None:
        pass  # one process owns everything in memory


class MemoryEventSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def emit(self, run_id: str, event: str, node_id: str | None, data: dict[str, Any]) -> None:
        self.events.append({"run_id": run_id, "event": event, "node_id": node_id, "data": data})

    def names(self, node_id: str | None = None) -> list[str]:
        return [e["event"] for e in self.events if node_id is None or e["node_id"] == node_id]


class MemoryTokenSink:
    """Collects streamed pieces per (node, call key): for tests."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, str, int, str]] = []

    def tokens(self, node_id: str, key: str, offset: int, text: str) -> None:
        self.pieces.append((node_id, key, offset, text))

    def text(self, node_id: str, key: str = "#0") -> str:
        """The latest attempt's streamed text of one call."""
        out = ""
        for nid, k, offset, piece in self.pieces:
            if (nid, k) == (node_id, key):
                out = out[:offset] + piece
        return out
