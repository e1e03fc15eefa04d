"""for_each: runs an inline subgraph (``body``) once per item of a list, in parallel where the
items are independent (items with ``id``/``depends_on``, as a planner emits, wait for their
dependencies), and collects the results. Each item is a child run with namespaced checkpoints;
finished items are kept in the node's scratch, so a resumed node never repeats them."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field, field_validator

from ..money import BudgetExceeded
from ..scheduling import Completions, DependencyCounter, drive
from ..schema import PORT_PATTERN, FieldSpec
from ..tools.base import raise_tool_interruption
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind
from .registry import registry


def default_body() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "inputs": {"item": {"type": "any", "description": "One item"}},
        "outputs": {"answer": {"type": "string"}},
        "nodes": [{"id": "worker", "kind": "agent", "position": {"x": 200, "y": 0}, "config": {
            "signature": {"inputs": [{"name": "item", "type": "any"}], "outputs": [{"name": "answer", "type": "string"}]}}}],
        "edges": [{"source": "@inputs", "source_port": "item", "target": "worker", "target_port": "item"},
                  {"source": "worker", "source_port": "answer", "target": "@outputs", "target_port": "answer"}],
    }


def check_body(body: dict[str, Any], item_input: str | None = None) -> dict[str, Any]:
    """Validate an inline graph; errors name the nested path (``body.nodes[0]...``)."""
    from ..validate import validate_graph  # validate imports the node registry

    issues = validate_graph(body)
    if issues:
        raise ValueError("; ".join(f"body.{i.path}: {i.message}" for i in issues[:5]))
    if item_input is not None and item_input not in (body.get("inputs") or {}):
        raise ValueError(f"item_input: the body has no input {item_input!r} (has: {', '.join(body.get('inputs') or {}) or 'none'})")
    return body


class ForEachConfig(NodeConfig):
    body: dict[str, Any] = Field(default_factory=default_body, description="The subgraph run per item (a graph document).",
                                 json_schema_extra={"x-kaizen-widget": "graph"})
    item_input: str = Field("item", pattern=PORT_PATTERN, description="Body input that receives the item.")
    item_field: str | None = Field(None, max_length=64, description="Pass item[field] instead of the item (e.g. description).")
    concurrency: int = Field(4, ge=1, le=64, description="Items running at once.")
    respect_dependencies: bool = Field(True, description="Items with depends_on wait for those items.")
    on_item_error: Literal["fail", "collect"] = Field("fail", description="collect: keep going and report failures.")
    timeout_s: float = Field(3600.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds.")

    @field_validator("body")
    @classmethod
    def _body(cls, body: dict[str, Any], info: Any) -> dict[str, Any]:
        return check_body(body)


def item_id(item: Any, index: int) -> str:
    return str(item["id"]) if isinstance(item, dict) and "id" in item else str(index)


def item_plan(items: list[Any], respect_dependencies: bool) -> tuple[list[str], dict[str, list[str]]]:
    """Each item's id (its ``id``, else its position) and the ids it waits for (its
    ``depends_on`` that name an item). Duplicate ids: by position, and no item waits (the
    dependencies could not be told apart)."""
    ids = [item_id(item, i) for i, item in enumerate(items)]
    if len(set(ids)) != len(ids):
        ids = [str(i) for i in range(len(items))]
        respect_dependencies = False
    known = set(ids)
    upstream = {sid: [str(d) for d in item.get("depends_on") or [] if str(d) in known]
                if respect_dependencies and isinstance(item, dict) else [] for sid, item in zip(ids, items, strict=True)}
    return ids, upstream


def item_inputs(config: ForEachConfig, body_inputs: set[str], item: Any, index: int, context: Any,
                done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What one item's run of the body receives: the item (or its ``item_field``), and the
    ``index``, ``context`` and finished ``dependencies``' outputs where the body takes them."""
    value = item.get(config.item_field) if config.item_field and isinstance(item, dict) else item
    inputs: dict[str, Any] = {config.item_input: value}
    if "index" in body_inputs:
        inputs["index"] = index
    if "context" in body_inputs and context is not None:
        inputs["context"] = context
    if "dependencies" in body_inputs and isinstance(item, dict):
        inputs["dependencies"] = [done[str(d)]["outputs"] for d in item.get("depends_on") or [] if str(d) in done]
    return inputs


@registry.register
class ForEachNode(NodeKind[ForEachConfig]):
    kind = "for_each"
    title = "For each"
    description = "Runs a subgraph once per list item (parallel where independent) and collects the results."
    category = "control"
    icon = "repeat"
    Config = ForEachConfig

    def inputs(self, config: ForEachConfig) -> dict[str, FieldSpec]:
        return {"items": FieldSpec(type="list", description="The list to go through (e.g. a planner's steps)"),
                "context": FieldSpec(type="any", description="Passed to the body's 'context' input", required=False)}

    def outputs(self, config: ForEachConfig) -> dict[str, FieldSpec]:
        return {"results": FieldSpec(type="list", description="Per item: {id, item, status, outputs}"),
                "count": FieldSpec(type="integer", description="Items that succeeded"),
                "failures": FieldSpec(type="list", description="Items that failed (on_item_error=collect)")}

    async def run(self, ctx: NodeContext, config: ForEachConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        items = inputs["items"]
        if not isinstance(items, list):
            raise NodeFailure(f"input 'items' must be a list, got {type(items).__name__}")
        body_inputs = set(config.body.get("inputs") or {})
        if config.item_input not in body_inputs:
            raise NodeFailure(f"item_input: the body has no input {config.item_input!r}")
        ids, upstream = item_plan(items, config.respect_dependencies)
        done: dict[str, dict[str, Any]] = ctx.state.scratch.setdefault("done", {})
        index = {sid: i for i, sid in enumerate(ids)}
        # The engine's scheduling: a dependency counter per item, the engine's loop (``drive``)
        # with at most ``concurrency`` items at once; items finished together share one checkpoint.
        counter = DependencyCounter(upstream, eligible=[sid for sid in ids if sid not in done], settled=list(done))
        running: Completions[str] = Completions()

        async def launch(sid: str) -> list[str]:
            i = index[sid]
            running.start(sid, self._item(ctx, config, body_inputs, items[i], i, sid, inputs, done))
            return []

        async def settle(sid: str, task: asyncio.Task[Any]) -> list[str]:
            done[sid] = task.result()  # an item that failed fails the node (the others are cancelled)
            return counter.settle(sid, produced=True)

        try:
            await drive(running, counter.initial(), launch=launch, settle=settle, after_batch=ctx.checkpoint,
                        limit=config.concurrency)
        finally:
            running.cancel_all()
            await running.wait_all()
        if len(done) < len(items):
            raise NodeFailure("items wait for each other (dependency cycle)", {"pending": [s for s in ids if s not in done]})
        results = [done[sid] for sid in ids]
        failures = [r for r in results if r["status"] != "succeeded"]
        return {"results": results, "count": len(results) - len(failures), "failures": failures}

    async def _item(self, ctx: NodeContext, config: ForEachConfig, body_inputs: set[str], item: Any, i: int, sid: str,
                    inputs: dict[str, Any], done: dict[str, dict[str, Any]]) -> dict[str, Any]:
        child_inputs = item_inputs(config, body_inputs, item, i, inputs.get("context"), done)  # (when it starts)
        result = await ctx.subgraph(config.body, child_inputs, key=f"{i}")
        if result.status == "interrupted":
            raise_tool_interruption(result.error)
        if result.status == "interrupted" and (result.error or {}).get("type") == "budget":
            err = result.error or {}
            raise BudgetExceeded(err.get("spent", 0.0), err.get("budget", 0.0), err.get("scope", ""), err.get("unit", "usd"))
        if result.status != "succeeded" and config.on_item_error == "fail":
            raise NodeFailure(f"item {sid} failed: {(result.error or {}).get('message', result.status)}",
                              {"item": sid, "error": result.error})
        return {"id": sid, "item": item, "status": result.status, "outputs": result.outputs, "error": result.error,
                "cost_usd": result.cost_usd}
