"""router (meta-controller): sends the task to one specialist branch; the other branches skip.

Each specialist is an output port carrying the task; only the chosen port is filled, so nodes
fed by the other ports are marked ``skipped`` by the scheduler.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..llm.base import LLMRequest
from ..schema import PORT_PATTERN, FieldSpec
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind
from .llmjson import ModelSettings, Out, ask_json, text
from .registry import registry

RESERVED = {"decision", "route"}
# Specialists' description vectors, per process, least recently used dropped beyond _EMBED_CACHED
# (a 1,536-wide vector is ~50 kB of Python floats). It only saves a call: the requests a node makes
# do not depend on it (see RouterNode._semantic), so a replay on another worker matches the journal.
_EMBED_CACHE: OrderedDict[tuple[str | None, str | None, str | None, str, str], list[float]] = OrderedDict()
_EMBED_CACHED = 256


class Specialist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PORT_PATTERN, description="Output port of this branch; connect it to the specialist.")
    description: str = Field(min_length=1, max_length=5000, description="The specialist's capabilities.")
    keywords: list[str] = Field(default_factory=list, max_length=100, description="For strategy 'keyword'.")


class RouterConfig(NodeConfig):
    strategy: Literal["semantic", "llm", "keyword"] = Field("semantic", description="How the specialist is chosen.")
    specialists: list[Specialist] = Field(
        default_factory=lambda: [Specialist(name="general", description="General tasks")],
        min_length=1, max_length=50, description="The branches; a router needs at least one specialist.")
    error_handling: Literal["graceful", "fail"] = Field("graceful", description="graceful: no match goes to the default branch.")
    default: str | None = Field(None, description="Branch for unmatched tasks (graceful); the first specialist if empty.")
    min_score: float = Field(0.1, ge=0, le=1, description="Semantic/keyword scores below this are no match.")
    embedding_model: str = Field("text-embedding-3-small", min_length=1, max_length=200)
    llm: ModelSettings = Field(default_factory=ModelSettings, description="Model for strategy 'llm'.")

    @model_validator(mode="after")
    def _names(self) -> RouterConfig:
        names = [s.name for s in self.specialists]
        if len(set(names)) != len(names):
            raise ValueError("specialists: names must be unique")
        if RESERVED & set(names):
            raise ValueError(f"specialists: {', '.join(sorted(RESERVED & set(names)))} is reserved")
        if self.default is not None and self.default not in names:
            raise ValueError(f"default: {self.default!r} is not one of the specialists ({', '.join(names)})")
        return self


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@registry.register
class RouterNode(NodeKind[RouterConfig]):
    kind = "router"
    title = "Router"
    description = "Meta-controller: routes the task to one specialist branch (semantic, llm or keyword)."
    category = "control"
    icon = "git-branch"
    Config = RouterConfig

    def inputs(self, config: RouterConfig) -> dict[str, FieldSpec]:
        return {"task": FieldSpec(type="string", description="The task to route"),
                "context": FieldSpec(type="any", description="Passed along unchanged", required=False)}

    def outputs(self, config: RouterConfig) -> dict[str, FieldSpec]:
        ports = {s.name: FieldSpec(type="string", description=f"The task, if routed to {s.name}") for s in config.specialists}
        ports["route"] = FieldSpec(type="string", description="Name of the chosen specialist")
        ports["decision"] = FieldSpec(type="object", description="Strategy, scores and reason")
        return ports

    async def run(self, ctx: NodeContext, config: RouterConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        task = inputs["task"]
        if config.strategy == "semantic":
            scores, reason = await self._semantic(ctx, config, task), "highest embedding similarity"
        elif config.strategy == "keyword":
            scores, reason = _keyword_scores(config, task), "most keyword matches"
        else:
            scores, reason = await self._llm(ctx, config, task, inputs.get("context"))
        best = max(scores, key=lambda n: scores[n]) if scores else None
        matched = best is not None and scores[best] >= config.min_score and scores[best] > 0
        decision = {"strategy": config.strategy, "scores": scores, "reason": reason, "matched": matched}
        if not matched or best is None:
            if config.error_handling == "fail":
                await ctx.emit("decision", {**decision, "route": None})
                raise NodeFailure("no specialist matches the task", {"decision": decision})
            best = config.default or config.specialists[0].name
            decision["reason"] = f"no match ({reason}); default branch"
        decision["route"] = best
        await ctx.emit("decision", decision)
        return {best: task, "route": best, "decision": decision}

    async def _semantic(self, ctx: NodeContext, config: RouterConfig, task: str) -> dict[str, float]:
        # Two named calls, each always asking the same thing: "task" (the task alone) and, unless every
        # description's vector is cached, "specialists" (all the descriptions). The cache decides only
        # whether the second call is made, never what a call asks, so request digests stay stable.
        descriptions = [s.description for s in config.specialists]
        where = (config.llm.provider, config.llm.connection, config.llm.base_url, config.embedding_model)

        def embed(key: str, texts: list[str]) -> Any:
            return ctx.llm(LLMRequest(model=config.embedding_model, messages=[], kind="embedding", input_texts=texts,
                                      provider=config.llm.provider, base_url=config.llm.base_url,
                                      credential=config.llm.credential, connection=config.llm.connection), key=key)

        cached = [_EMBED_CACHE.get((*where, d)) for d in descriptions]
        if all(v is not None for v in cached):
            task_vec = ((await embed("task", [task])).embeddings or [[]])[0]
        else:
            task_answer, described = await asyncio.gather(embed("task", [task]), embed("specialists", descriptions))
            task_vec, cached = (task_answer.embeddings or [[]])[0], list(described.embeddings or [])
        if any(v is None or len(v) != len(task_vec) for v in cached):  # cached from another provider's model
            cached = list((await embed("specialists", descriptions)).embeddings or [])
        for d, v in zip(descriptions, cached, strict=False):
            if v is not None:
                _EMBED_CACHE[(*where, d)] = v
                _EMBED_CACHE.move_to_end((*where, d))
        while len(_EMBED_CACHE) > _EMBED_CACHED:
            _EMBED_CACHE.popitem(last=False)
        return {s.name: round(cosine(task_vec, v or []), 4) for s, v in zip(config.specialists, cached, strict=False)}

    async def _llm(self, ctx: NodeContext, config: RouterConfig, task: str, context: Any) -> tuple[dict[str, float], str]:
        names = [s.name for s in config.specialists]
        menu = "\n".join(f"- {s.name}: {s.description}" for s in config.specialists)
        user = f"Task: {task}\n" + (f"Context: {text(context)}\n" if context is not None else "") + f"\nSpecialists:\n{menu}"
        answer = await ask_json(
            ctx, config.llm, "You route tasks to the best specialist. Answer 'none' if none fits.", user,
            [Out("route", "string", f"One of: {', '.join(names)}, none", schema={"enum": [*names, "none"]}),
             Out("reason", "string", "Why this specialist")],
            check=lambda d: "" if d["route"] in (*names, "none") else f"route must be one of {', '.join(names)}, none",
            name="route", seed=f"{ctx.run_id}/{ctx.node_id}",
        )
        return {n: (1.0 if n == answer["route"] else 0.0) for n in names}, answer["reason"]


def _keyword_scores(config: RouterConfig, task: str) -> dict[str, float]:
    lowered = task.lower()
    scores = {}
    for s in config.specialists:
        hits = sum(1 for k in s.keywords if k.lower() in lowered)
        scores[s.name] = round(hits / len(s.keywords), 4) if s.keywords else 0.0
    return scores
