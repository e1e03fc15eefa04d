"""budget: runs an inline subgraph under its own budget (USD and/or tokens), inside the run's.

When the subgraph's budget is spent: ``interrupt`` ends the run ``interrupted`` (checkpointed;
resuming grants the guard its budget again), ``switch_model`` continues the subgraph where it stopped on a cheaper model with its
own budget (the source document's Pattern 4). Finished subgraph nodes are never run again."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..money import BudgetExceeded
from ..schema import FieldSpec
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind
from .for_each import check_body, default_body
from .registry import registry


class BudgetConfig(NodeConfig):
    body: dict[str, Any] = Field(default_factory=default_body, description="The subgraph this budget guards.",
                                 json_schema_extra={"x-kaizen-widget": "graph"})
    budget_usd: float = Field(1.0, gt=0, le=1_000_000, description="USD the subgraph may spend (must be > 0).")
    budget_tokens: int | None = Field(None, gt=0, description="Tokens the subgraph may use (optional).")
    on_exceed: Literal["interrupt", "switch_model"] = Field("switch_model", description="What happens when it is spent.")
    fallback_model: str = Field("gpt-3.5-turbo", min_length=1, max_length=200, description="The cheaper model (switch_model).")
    fallback_budget_usd: float = Field(10.0, gt=0, le=1_000_000, description="The cheaper model's own budget (must be > 0).")
    timeout_s: float = Field(3600.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds.")

    _body = field_validator("body")(classmethod(lambda cls, v: check_body(v)))


def _ports(doc: dict[str, Any]) -> dict[str, FieldSpec]:
    return {name: FieldSpec.model_validate(spec) for name, spec in (doc or {}).items()}


@registry.register
class BudgetNode(NodeKind[BudgetConfig]):
    kind = "budget"
    title = "Budget guard"
    description = "Runs a subgraph under a USD/token budget: interrupt, or switch to a cheaper model, when spent."
    category = "resilience"
    icon = "wallet"
    Config = BudgetConfig

    def inputs(self, config: BudgetConfig) -> dict[str, FieldSpec]:
        return _ports(config.body.get("inputs", {}))

    def outputs(self, config: BudgetConfig) -> dict[str, FieldSpec]:
        return {**_ports(config.body.get("outputs", {})),
                "model_switched": FieldSpec(type="boolean", description="Did the subgraph finish on the fallback model?"),
                "spent_usd": FieldSpec(type="number", description="What the subgraph spent")}

    async def run(self, ctx: NodeContext, config: BudgetConfig, inputs: dict[str, Any]) -> dict[str, Any]:

        scratch = ctx.state.scratch
        scope = f"{ctx.node_id}/main"
        while True:
            switched = scratch.get("phase") == "switched"
            if switched:
                result = await ctx.subgraph(config.body, inputs, key="main",
                                            budget_usd=scratch["primary_spent"] + config.fallback_budget_usd,
                                            model_override=config.fallback_model)
            else:
                # Resuming after an ``interrupt`` grants the guard its budget once more, on top of what it spent.
                granted = scratch.get("interrupted_spent", 0.0) + config.budget_usd
                tokens = scratch.get("interrupted_tokens", 0) + config.budget_tokens if config.budget_tokens else None
                result = await ctx.subgraph(config.body, inputs, key="main",
                                            budget_usd=granted, budget_tokens=tokens)
            err = result.error or {}
            if result.status == "succeeded":
                await ctx.emit("budget", {"status": "within budget", "spent_usd": result.cost_usd, "model_switched": switched})
                return {**result.outputs, "model_switched": switched, "spent_usd": result.cost_usd}
            if result.status != "interrupted" or err.get("type") != "budget":
                raise NodeFailure(f"subgraph {result.status}: {err.get('message', '')}", {"error": err})
            ours = err.get("scope") == scope
            await ctx.emit("budget", {"exceeded": err.get("message"), "scope": err.get("scope"), "ours": ours,
                                      "spent_usd": result.cost_usd, "action": config.on_exceed if ours and not switched else "interrupt"})
            if ours and not switched and config.on_exceed == "interrupt":
                scratch["interrupted_spent"] = result.cost_usd
                scratch["interrupted_tokens"] = result.prompt_tokens + result.completion_tokens
            if not ours or switched or config.on_exceed == "interrupt":
                raise BudgetExceeded(err.get("spent", 0.0), err.get("budget", 0.0), err.get("scope", ""), err.get("unit", "usd"))
            scratch["phase"], scratch["primary_spent"] = "switched", result.cost_usd
            await ctx.emit("budget", {"switch_model": config.fallback_model, "budget_usd": config.fallback_budget_usd})
            await ctx.checkpoint()
