"""planner (PlanningAgent): asks a model for a plan of steps with dependencies and validates it.

validation_mode strict re-asks (bounded) until the plan is valid, warn accepts it with a
``warning`` event (repaired: truncated, unknown dependencies dropped), off accepts it as is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..schema import FieldSpec
from .base import NodeConfig, NodeContext, NodeKind
from .llmjson import ModelSettings, Out, ask_json, text
from .registry import registry


class PlannerConfig(NodeConfig, ModelSettings):
    max_plan_steps: int = Field(10, ge=1, le=100, description="Most steps a plan may have.")
    validation_mode: Literal["strict", "warn", "off"] = Field("strict", description="strict rejects an invalid plan and asks again.")
    max_replans: int = Field(2, ge=0, le=5, description="Re-asks after an invalid (strict) or malformed plan.")
    system_prompt: str = Field("You are a planning coordinator. Break the task into concrete, independent steps "
                               "where possible; list a step's dependencies by id.", max_length=50_000)


def step_list_schema() -> dict[str, Any]:
    """The plan's steps as JSON Schema (a model answering to it can only return well-formed steps;
    whether the plan makes sense, plan_problems says)."""
    step = {"type": "object", "properties": {
        "id": {"type": "string", "description": "Unique step id, e.g. s1"},
        "description": {"type": "string", "description": "What the step does"},
        "depends_on": {"type": "array", "items": {"type": "string"}, "description": "Ids of the steps it needs first"}},
        "required": ["id", "description", "depends_on"]}
    return {"items": step, "minItems": 1}


def normalise_steps(raw: list[Any]) -> list[dict[str, Any]]:
    steps = []
    for i, item in enumerate(raw, start=1):
        if isinstance(item, str):
            item = {"description": item}
        if not isinstance(item, dict):
            steps.append({"id": f"s{i}", "description": "", "depends_on": [], "invalid": True})
            continue
        deps = item.get("depends_on") or []
        steps.append({**item, "id": str(item.get("id") or f"s{i}"), "description": str(item.get("description") or ""),
                      "depends_on": [str(d) for d in deps] if isinstance(deps, list) else []})
    return steps


def plan_problems(steps: list[dict[str, Any]], max_steps: int) -> list[str]:
    problems = []
    if not steps:
        problems.append("the plan has no steps")
    if len(steps) > max_steps:
        problems.append(f"the plan has {len(steps)} steps; at most {max_steps} are allowed")
    ids = [s["id"] for s in steps]
    if len(set(ids)) != len(ids):
        problems.append("step ids must be unique")
    for s in steps:
        if s.get("invalid") or not s["description"].strip():
            problems.append(f"step {s['id']} has no description")
        for d in s["depends_on"]:
            if d not in ids or d == s["id"]:
                problems.append(f"step {s['id']} depends on unknown step {d!r}")
    if not problems and _has_cycle(steps):
        problems.append("step dependencies form a cycle")
    return problems


def _has_cycle(steps: list[dict[str, Any]]) -> bool:
    deps = {s["id"]: set(s["depends_on"]) for s in steps}
    done: set[str] = set()
    while len(done) < len(deps):
        ready = [sid for sid, d in deps.items() if sid not in done and d <= done]
        if not ready:
            return True
        done.update(ready)
    return False


def repair(steps: list[dict[str, Any]], max_steps: int) -> list[dict[str, Any]]:
    kept = [s for s in steps if not s.get("invalid") and s["description"].strip()][:max_steps]
    ids = {s["id"] for s in kept}
    return [{**s, "depends_on": [d for d in s["depends_on"] if d in ids and d != s["id"]]} for s in kept]


@registry.register
class PlannerNode(NodeKind[PlannerConfig]):
    kind = "planner"
    title = "Planner"
    description = "PlanningAgent: turns a task into a validated plan of steps (feed it to a for-each)."
    category = "agents"
    icon = "list-checks"
    Config = PlannerConfig

    def inputs(self, config: PlannerConfig) -> dict[str, FieldSpec]:
        return {"task": FieldSpec(type="string", description="What to plan"),
                "context": FieldSpec(type="any", description="Background", required=False)}

    def outputs(self, config: PlannerConfig) -> dict[str, FieldSpec]:
        return {"steps": FieldSpec(type="list", description="Steps: {id, description, depends_on}"),
                "plan": FieldSpec(type="object", description="{task, steps, problems}")}

    async def run(self, ctx: NodeContext, config: PlannerConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        user = f"Task: {inputs['task']}\n"
        if inputs.get("context") is not None:
            user += f"Context: {text(inputs['context'])}\n"
        user += f"At most {config.max_plan_steps} steps."
        strict = config.validation_mode == "strict"

        def check(data: dict[str, Any]) -> str:
            return "; ".join(plan_problems(normalise_steps(data["steps"]), config.max_plan_steps)) if strict else ""

        answer = await ask_json(
            ctx, config, config.system_prompt, user,
            [Out("steps", "list", "Steps as objects {id, description, depends_on: [ids]}", schema=step_list_schema())],
            check=check, retries=config.max_replans, name="plan",
        )
        steps = normalise_steps(answer["steps"])
        problems = plan_problems(steps, config.max_plan_steps)
        if problems and config.validation_mode == "warn":
            await ctx.emit("warning", {"problems": problems, "raw_steps": answer["steps"]})
            steps = repair(steps, config.max_plan_steps)
        await ctx.emit("decision", {"plan_steps": len(steps), "problems": problems})
        return {"steps": steps, "plan": {"task": inputs["task"], "steps": steps, "problems": problems}}
