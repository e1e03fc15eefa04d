"""consensus: threshold, rounds seeing previous votes, parallel voters, resume, bad config."""

from __future__ import annotations

from graphs.engine.validate import validate_graph
from tests.helpers import edge


def voting(**config):
    voters = [{"name": "conservative", "model": "gpt-4o", "temperature": 0.2, "persona": "CONSERVATIVE"},
              {"name": "innovative", "model": "gpt-4o", "temperature": 0.9, "persona": "INNOVATIVE"},
              {"name": "balanced", "model": "gpt-4o-mini", "temperature": 0.5, "persona": "BALANCED"}]
    return {
        "inputs": {"task": {"type": "string"}},
        "outputs": {k: {"type": "any"} for k in ("final_decision", "consensus_achieved", "confidence_score", "votes", "rounds")},
        "nodes": [{"id": "vote", "kind": "consensus", "config": {"voters": voters, "consensus_threshold": 0.66, **config}}],
        "edges": [edge("@inputs", "task", "vote", "task")] + [
            edge("vote", k, "@outputs", k) for k in ("final_decision", "consensus_achieved", "confidence_score", "votes", "rounds")],
    }


def vote(decision, confidence=0.8):
    return {"decision": decision, "reasoning": f"because {decision}", "confidence": confidence}


async def test_two_of_three_agree_in_parallel(harness):
    harness.fake.script(match="CONSERVATIVE", reply=vote("no"), latency=0.5)
    harness.fake.script(match="INNOVATIVE", reply=vote("yes"), latency=0.5)
    harness.fake.script(match="BALANCED", reply=vote("Yes."), latency=0.5)
    result = await harness.run(voting(), {"task": "Migrate to microservices?"})
    # voters of a round overlap: all three asked before the first answer (0.5 s) could have come back
    asked = [harness.fake.calls(persona)[0]["at"] for persona in ("CONSERVATIVE", "INNOVATIVE", "BALANCED")]
    assert max(asked) - min(asked) < 0.5, asked
    assert result.status == "succeeded", result.error
    out = result.outputs
    assert out["consensus_achieved"] is True and out["rounds"] == 1
    assert out["final_decision"].lower().startswith("yes")
    assert abs(out["confidence_score"] - 2 / 3) < 0.01
    assert len(out["votes"]) == 3


async def test_later_rounds_see_previous_votes(harness):
    harness.fake.script(match="CONSERVATIVE", replies=[vote("no"), vote("yes")])
    harness.fake.script(match="INNOVATIVE", reply=vote("yes"))
    harness.fake.script(match="BALANCED", replies=[vote("maybe"), vote("yes")])
    result = await harness.run(voting(consensus_threshold=1.0), {"task": "Q"})
    assert result.outputs["consensus_achieved"] is True and result.outputs["rounds"] == 2
    assert result.outputs["confidence_score"] == 1.0
    second = harness.fake.calls("Round 2")
    assert len(second) == 3 and "innovative: yes" in second[0]["text"]


async def test_no_consensus_after_max_rounds(harness):
    harness.fake.script(match="CONSERVATIVE", reply=vote("a"))
    harness.fake.script(match="INNOVATIVE", reply=vote("b"))
    harness.fake.script(match="BALANCED", reply=vote("c"))
    result = await harness.run(voting(max_rounds=2), {"task": "Q"})
    assert result.outputs["consensus_achieved"] is False and result.outputs["rounds"] == 2


async def test_resume_replays_voters_in_any_completion_order(harness):
    harness.fake.script(match="CONSERVATIVE", reply=vote("yes"), latency=0.2)
    harness.fake.script(match="INNOVATIVE", reply=vote("yes"), latency=0.0)
    harness.fake.script(match="BALANCED", reply=vote("no"), latency=0.1)
    await harness.run(voting(), {"task": "Q"})
    state = harness.checkpoints.saved["r1"]["vote"]
    state["status"] = "running"  # as if the worker died after the round
    before = len(harness.fake.requests)
    result = await harness.run(voting(), {"task": "Q"})
    assert result.outputs["consensus_achieved"] is True
    assert len(harness.fake.requests) == before


def test_threshold_outside_range_is_invalid():
    for bad in (0, 1.5):
        issues = validate_graph(voting(consensus_threshold=bad))
        assert any(i.node == "vote" and i.path.endswith("consensus_threshold") for i in issues), issues


async def test_a_voter_answering_garbage_fails_the_node_with_the_raw_answer(harness):
    harness.fake.script(match="CONSERVATIVE", reply="I refuse to answer in JSON")
    harness.fake.script(match="INNOVATIVE", reply=vote("yes"), latency=0.5)
    result = await harness.run(voting(max_format_retries=1), {"task": "Q"})
    assert result.status == "failed"
    assert result.error["raw"] == "I refuse to answer in JSON" and result.error["key"] == "r1/conservative"
    assert len(harness.fake.calls("CONSERVATIVE")) == 2
