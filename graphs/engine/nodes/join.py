"""join: waits for all (or the first k) of its inputs and merges them. Fan-out needs no node:
every node whose inputs are ready runs concurrently. Inputs from skipped branches are absent."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..schema import FieldSpec
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind, SignatureField, unique_names
from .registry import registry


class JoinConfig(NodeConfig):
    inputs: list[SignatureField] = Field(
        default_factory=lambda: [SignatureField(name="a", type="any", required=False),
                                 SignatureField(name="b", type="any", required=False)],
        min_length=1, max_length=64, description="One port per incoming branch.")
    wait_for: Literal["all", "first_k"] = Field("all", description="all: every branch settles; first_k: the first k results.")
    k: int = Field(1, ge=1, le=64, description="How many results first_k waits for.")
    min_results: int = Field(1, ge=0, le=64, description="Fail when fewer branches produced a value (all skipped).")

    _unique = field_validator("inputs")(classmethod(lambda cls, v: unique_names(v)))

    @model_validator(mode="after")
    def _k_fits(self) -> JoinConfig:
        if self.wait_for == "first_k" and self.k > len(self.inputs):
            raise ValueError(f"k: {self.k} is more than the {len(self.inputs)} inputs")
        return self


@registry.register
class JoinNode(NodeKind[JoinConfig]):
    kind = "join"
    title = "Join"
    description = "Waits for all (or the first k) incoming branches and merges their values."
    category = "control"
    icon = "merge"
    Config = JoinConfig
    dynamic_inputs = "inputs"

    def quorum(self, config: JoinConfig) -> int | None:
        """The scheduler starts this node once k sources produced (first_k)."""
        return config.k if config.wait_for == "first_k" else None

    def inputs(self, config: JoinConfig) -> dict[str, FieldSpec]:
        # Branches may be skipped (router) or still running (first_k): a join's inputs are optional.
        return {f.name: FieldSpec(type=f.type, description=f.description, required=False) for f in config.inputs}

    def outputs(self, config: JoinConfig) -> dict[str, FieldSpec]:
        return {"merged": FieldSpec(type="object", description="Port name -> value, for branches that produced one"),
                "values": FieldSpec(type="list", description="The values, in port order"),
                "first": FieldSpec(type="any", description="The first value (e.g. the routed specialist's answer)"),
                "count": FieldSpec(type="integer", description="How many branches produced a value")}

    async def run(self, ctx: NodeContext, config: JoinConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        merged = {f.name: inputs[f.name] for f in config.inputs if f.name in inputs}
        if config.wait_for == "first_k":
            merged = dict(list(merged.items())[: config.k])
        if len(merged) < config.min_results:
            raise NodeFailure(f"only {len(merged)} of {len(config.inputs)} branches produced a value (min_results={config.min_results})")
        values = list(merged.values())
        return {"merged": merged, "values": values, "first": values[0] if values else None, "count": len(values)}
