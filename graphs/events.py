"""How run events travel over Channels: group names and the (size-capped) stream payload."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

# A run's end: its run_finished, or run_waiting when it parks on a person (top level only).
END_EVENTS = frozenset({"run_finished", "run_waiting"})


def run_group(run_id: int) -> str:
    """Every event of the run (the run page's websocket)."""
    return f"run.{run_id}"


def run_end_group(run_id: int) -> str:
    """Only the run's end (a request waiting for it): a waiting web process then reads one
    message per run, not every event batch and token of it."""
    return f"run.{run_id}.end"


PUBLISH_BATCH = 100  # events per channel message


def run_messages(run_id: int, events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(group, message) for one run's committed events, in order: batches of them to the run's
    group, then, if they end the run, its end alone to the end group."""
    messages = [(run_group(run_id), batch_message(events[start:start + PUBLISH_BATCH]))
                for start in range(0, len(events), PUBLISH_BATCH)]
    ends = [ev for ev in events if ev.event in END_EVENTS and not ev.node_id]
    if ends:
        messages.append((run_end_group(run_id), batch_message(ends)))
    return messages


def event_dict(ev: Any) -> dict[str, Any]:
    """node_id is null for run-level events (stored as ""), as in the events API."""
    return {"seq": ev.seq, "event": ev.event, "node_id": ev.node_id or None,
            "ts": ev.created_at.isoformat(), "data": ev.data}


def stream_event(ev: Any) -> dict[str, Any]:
    """One event as streamed; big payloads become a preview plus a link to the full event."""
    body = event_dict(ev)
    raw = getattr(ev, "data_json", None) or json.dumps(body["data"], default=str)  # (a recorder's event has it)
    limit = settings.KAIZEN_EVENT_PREVIEW_BYTES
    if len(raw) > limit:
        body["data"] = {"truncated": True, "preview": raw[:limit], "bytes": len(raw),
                        "url": f"/api/runs/{ev.run_id}/events/{ev.seq}/"}
    return body


def batch_message(events: list[Any]) -> dict[str, Any]:
    """One channel-layer message per committed batch (fewer Redis round trips than one per event)."""
    return {"type": "run.events", "events": [stream_event(ev) for ev in events]}
