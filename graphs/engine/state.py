"""Per-node run state: plain data that round-trips through JSON checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Finished states survive a resume; everything else runs again (replaying recorded LLM calls).
FINISHED = {"succeeded", "skipped"}


@dataclass
class NodeState:
    status: str = "pending"  # pending running succeeded failed skipped cancelled waiting (a human node)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    recovered_by: str | None = None  # the error handler whose outputs stand in for ours
    llm_calls: list[dict[str, Any]] = field(default_factory=list)  # the replay journal
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # tools' journal: {key, digest, status, result}
    scratch: dict[str, Any] = field(default_factory=dict)  # kinds' own resumable progress

    @property
    def own_cost_usd(self) -> float:
        """What this node's own LLM and tool calls cost (nested runs' nodes hold theirs)."""
        cost: float = round(sum(c.get("cost_usd", 0.0) for c in self.llm_calls)
                            + sum(c.get("cost_usd", 0.0) for c in self.tool_calls), 8)
        return cost

    @property
    def own_tokens(self) -> tuple[int, int]:
        prompt = sum(c["response"].get("prompt_tokens", 0) for c in self.llm_calls)
        completion = sum(c["response"].get("completion_tokens", 0) for c in self.llm_calls)
        return prompt, completion

    @property
    def cost_usd(self) -> float:
        """Including the nested runs (for-each items, guarded subgraphs) this node started."""
        nested = sum(v[0] for v in self.scratch.get("_subruns", {}).values())
        cost: float = round(self.own_cost_usd + nested, 8)
        return cost

    @property
    def tokens(self) -> tuple[int, int]:
        prompt, completion = self.own_tokens
        for _cost, p, c in self.scratch.get("_subruns", {}).values():
            prompt, completion = prompt + p, completion + c
        return prompt, completion

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) * 1000, 2)

    def to_dict(self) -> dict[str, Any]:
        """A snapshot (the save is written later, while the node goes on changing its state)."""
        data = {name: _copy(getattr(self, name)) for name in _FIELDS}
        data["cost_usd"] = self.cost_usd
        data["prompt_tokens"], data["completion_tokens"] = self.tokens
        data["duration_ms"] = self.duration_ms
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeState:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def reset_for_rerun(self) -> None:
        """Keep the LLM and tool journals and scratch; everything else starts over."""
        self.status, self.outputs, self.error, self.recovered_by = "pending", {}, None, None
        self.started_at = self.finished_at = None


_FIELDS = tuple(f.name for f in fields(NodeState))


def _copy(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars), as ``dataclasses.asdict`` would make
    with ``copy.deepcopy``, without its per-object bookkeeping (a wide fan-out's checkpoints spent
    most of their time there)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return value


@dataclass
class RunResult:
    status: str  # succeeded failed interrupted cancelled waiting (parked: a human node waits)
    outputs: dict[str, Any]
    error: dict[str, Any] | None
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    nodes: dict[str, dict[str, Any]]
