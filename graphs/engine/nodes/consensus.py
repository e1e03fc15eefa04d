"""consensus: N voters (each its own model, temperature, persona) vote in rounds until a share
of at least ``consensus_threshold`` agrees or ``max_rounds`` is reached. Voters of a round run in
parallel and see the previous round's votes; every round is checkpointed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ..schema import PORT_PATTERN, FieldSpec
from .base import NodeConfig, NodeContext, NodeKind
from .llmjson import ModelSettings, Out, ask_json, gather_all, text
from .registry import registry


class Voter(ModelSettings):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PORT_PATTERN, description="Voter name (shown with its votes).")
    persona: str = Field("You are a balanced analyst.", max_length=5000, description="System prompt: the voter's personality.")


def _voters() -> list[Voter]:
    return [Voter(name="conservative", temperature=0.2, persona="You are a conservative, risk-averse analyst."),
            Voter(name="innovative", temperature=0.9, persona="You are an innovative, opportunity-seeking analyst."),
            Voter(name="balanced", temperature=0.5, persona="You are a balanced, pragmatic analyst.")]


class ConsensusConfig(NodeConfig):
    voters: list[Voter] = Field(default_factory=_voters, min_length=2, max_length=20, description="The voting agents.")
    consensus_threshold: float = Field(0.66, gt=0, le=1, description="Share of voters that must agree, in (0, 1].")
    max_rounds: int = Field(3, ge=1, le=10, description="Rounds of voting before giving up.")
    options: list[str] = Field(default_factory=list, max_length=50, description="Allowed decisions; free text if empty.")
    max_format_retries: int = Field(2, ge=0, le=5)
    timeout_s: float = Field(600.0, gt=0, le=24 * 3600, description="Fail the node after this many seconds (all rounds).")

    @model_validator(mode="after")
    def _unique(self) -> ConsensusConfig:
        names = [v.name for v in self.voters]
        if len(set(names)) != len(names):
            raise ValueError("voters: names must be unique")
        return self


def normalise(decision: str) -> str:
    return " ".join(decision.strip().lower().rstrip(".!").split())


def tally(votes: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    counts = Counter(normalise(v["decision"]) for v in votes)
    top, n = counts.most_common(1)[0]
    share = n / len(votes)
    agreeing = [v for v in votes if normalise(v["decision"]) == top]
    shown = agreeing[0]["decision"]
    mean_conf = sum(float(v.get("confidence", 1.0)) for v in agreeing) / len(agreeing)
    return {"decision": shown, "agreement": round(share, 4), "achieved": share + 1e-9 >= threshold,
            "confidence": round(share, 4), "voter_confidence": round(mean_conf, 4), "counts": dict(counts)}


@registry.register
class ConsensusNode(NodeKind[ConsensusConfig]):
    kind = "consensus"
    title = "Consensus"
    description = "Several voter agents decide together; rounds until the threshold share agrees."
    category = "agents"
    icon = "users"
    Config = ConsensusConfig

    def inputs(self, config: ConsensusConfig) -> dict[str, FieldSpec]:
        return {"task": FieldSpec(type="string", description="The question to decide"),
                "context": FieldSpec(type="any", description="Background for the voters", required=False)}

    def outputs(self, config: ConsensusConfig) -> dict[str, FieldSpec]:
        return {"final_decision": FieldSpec(type="string", description="The majority decision"),
                "consensus_achieved": FieldSpec(type="boolean", description="Did the threshold share agree?"),
                "confidence_score": FieldSpec(type="number", description="Share of the last round that agreed with the decision"),
                "votes": FieldSpec(type="list", description="Every vote of every round"),
                "rounds": FieldSpec(type="integer", description="Rounds held")}

    async def run(self, ctx: NodeContext, config: ConsensusConfig, inputs: dict[str, Any]) -> dict[str, Any]:
        rounds: list[list[dict[str, Any]]] = ctx.state.scratch.setdefault("rounds", [])
        result: dict[str, Any] = tally(rounds[-1], config.consensus_threshold) if rounds else {}
        while len(rounds) < config.max_rounds and not result.get("achieved"):
            number = len(rounds) + 1
            previous = rounds[-1] if rounds else None
            votes = await gather_all([self._vote(ctx, config, v, inputs, number, previous) for v in config.voters])
            rounds.append(list(votes))
            result = tally(rounds[-1], config.consensus_threshold)
            await ctx.emit("decision", {"round": number, "votes": votes, **result})
            await ctx.checkpoint()
        return {"final_decision": result["decision"], "consensus_achieved": result["achieved"],
                "confidence_score": result["confidence"], "rounds": len(rounds),
                "votes": [{**vote, "round": i + 1} for i, r in enumerate(rounds) for vote in r]}

    async def _vote(self, ctx: NodeContext, config: ConsensusConfig, voter: Voter, inputs: dict[str, Any],
                    number: int, previous: list[dict[str, Any]] | None) -> dict[str, Any]:
        user = f"Question: {inputs['task']}\n"
        if inputs.get("context") is not None:
            user += f"Context: {text(inputs['context'])}\n"
        if config.options:
            user += f"Choose one of: {', '.join(config.options)}\n"
        if previous:
            shown = "\n".join(f"- {v['voter']}: {v['decision']} ({v['reasoning']})" for v in previous)
            user += f"\nRound {number}. The previous round's votes:\n{shown}\nReconsider and vote again.\n"
        options = {normalise(o) for o in config.options}
        answer = await ask_json(
            ctx, voter, voter.persona, user,
            [Out("decision", "string", "Your decision, short", schema={"enum": list(config.options)} if config.options else None),
             Out("reasoning", "string", "Why"),
             Out("confidence", "number", "How sure you are, 0 to 1", schema={"minimum": 0, "maximum": 1})],
            check=lambda d: "" if not options or normalise(d["decision"]) in options
            else f"decision must be one of {', '.join(config.options)}",
            retries=config.max_format_retries, key=f"r{number}/{voter.name}",
            name="vote", seed=f"{ctx.run_id}/{ctx.node_id}/{voter.name}",  # (a dry run's voters may disagree)
        )
        return {"voter": voter.name, "model": voter.model, "decision": answer["decision"],
                "reasoning": answer["reasoning"], "confidence": answer["confidence"]}
