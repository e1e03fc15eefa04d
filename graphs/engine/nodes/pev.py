"""pev (plan-execute-verify): plans, executes and has a verifier judge the result; iterates with
the verifier's feedback up to ``max_iterations`` until it is accepted. Every iteration is
checkpointed, so a resumed node continues with the next iteration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..schema import FieldSpec
from .base import NodeConfig, NodeContext, NodeKind
from .llmjson import ModelSettings, ask_json, text
from .registry import registry

THRESHOLDS = {"strict": 0.9, "moderate": 0.7, "lenient": 0.5}


class PEVConfig(NodeConfig, ModelSettings):
    max_iterations: int = Field(3, ge=1, le=20, description="Plan-execute-verify rounds before giving up.")
    verification_strictness: Literal["strict", "moderate", "lenient"] = Field(
        "strict", description="Verifier score needed: strict 0.9, moderate 0.7, lenient 0.5 (and passed=true).")
    verifier_model: str | None = Field(None, max_length=200, description="Model of the verifier (default: model).")
    fail_unverified: bool = Field(False, description="Fail the node when no iteration is accepted.")
    system_prompt: str = Field("You are a careful executor.", max_length=50_000)
    max_format_retries: int = Field(2, ge=0, le=5)
    timeout_s: float = Field(900.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds (all rounds).")


@registry.register
class PEVNode(NodeKind[PEVConfig]):
    kind = "pev"
    title = "Plan-execute-verify"
    description = "Iterates plan -> execute -> verify until the verifier accepts (checkpointed per iteration)."
    category = "agents"
    icon = "refresh-cw"
    Config = PEVConfig

    def inputs(self, config: PEVConfig) -> dict[str, FieldSpec]:
        return {"task": FieldSpec(type="string", description="What to do"),
                "context": FieldSpec(type="any", description="Background", required=False)}

    def outputs(self, config: PEVConfig) -> dict[str, FieldSpec]:
        return {"result": FieldSpec(type="string", description="The last (accepted) result"),
                "verified": FieldSpec(type="boolean", description="Did the verifier accept it?"),
                "score": FieldSpec(type="number", description="The verifier's last score"),
                "feedback": FieldSpec(type="string", description="The verifier's last feedback"),
                "iterations": FieldSpec(type="integer", description="Iterations run"),
                "history": FieldSpec(type="list", description="Every iteration: plan, result, verdict")}

    async def run(self, ctx: NodeContext, config: PEVConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        from .base import NodeFailure

        history: list[dict[str, Any]] = ctx.state.scratch.setdefault("iterations", [])
        threshold = THRESHOLDS[config.verification_strictness]
        task = inputs["task"] + (f"\nContext: {text(inputs['context'])}" if inputs.get("context") is not None else "")
        retries = config.max_format_retries
        while len(history) < config.max_iterations and not (history and history[-1]["accepted"]):
            n = len(history) + 1
            feedback = f"\nThe previous attempt was rejected: {history[-1]['feedback']}" if history else ""
            plan = await ask_json(ctx, config, "You plan how to do a task.", f"Task: {task}{feedback}",
                                  [("plan", "string", "A short plan")], retries=retries, key=f"i{n}/plan")
            done = await ask_json(ctx, config, config.system_prompt, f"Task: {task}\nPlan: {plan['plan']}{feedback}",
                                  [("result", "string", "The result of carrying out the plan")], retries=retries, key=f"i{n}/execute")
            verdict = await ask_json(
                ctx, config, "You verify results strictly against the task.",
                f"Task: {task}\nResult: {done['result']}\nDoes the result accomplish the task?",
                [("passed", "boolean", "true if the result is acceptable"), ("score", "number", "Quality 0 to 1"),
                 ("feedback", "string", "What is wrong or missing")],
                retries=retries, key=f"i{n}/verify", model=config.verifier_model)
            score = float(verdict["score"])
            accepted = bool(verdict["passed"]) and score >= threshold
            history.append({"iteration": n, "plan": plan["plan"], "result": done["result"], "passed": verdict["passed"],
                            "score": score, "feedback": verdict["feedback"], "accepted": accepted})
            await ctx.emit("decision", {"iteration": n, "accepted": accepted, "score": score, "threshold": threshold,
                                        "feedback": verdict["feedback"]})
            await ctx.checkpoint()
        last = history[-1]
        if not last["accepted"] and config.fail_unverified:
            raise NodeFailure(f"not verified after {len(history)} iterations", {"history": history})
        return {"result": last["result"], "verified": last["accepted"], "score": last["score"],
                "feedback": last["feedback"], "iterations": len(history), "history": list(history)}
