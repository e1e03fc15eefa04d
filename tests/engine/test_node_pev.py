"""pev: iterate until the verifier accepts, per-iteration checkpoints, resume."""

from __future__ import annotations

from tests.helpers import edge

OUT = ("result", "verified", "iterations", "score")


def pev_doc(**config):
    return {"inputs": {"task": {"type": "string"}}, "outputs": {k: {"type": "any"} for k in OUT},
            "nodes": [{"id": "pev", "kind": "pev", "config": {"max_iterations": 3, **config}}],
            "edges": [edge("@inputs", "task", "pev", "task")] + [edge("pev", k, "@outputs", k) for k in OUT]}


def verdict(passed, score):
    return {"passed": passed, "score": score, "feedback": "needs more" if not passed else "good"}


async def test_iterates_until_the_verifier_accepts(harness):
    harness.fake.script(match="verify results", replies=[verdict(False, 0.3), verdict(True, 0.95)])
    result = await harness.run(pev_doc(), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs["verified"] is True and result.outputs["iterations"] == 2
    assert "needs more" in harness.fake.calls("You plan how")[1]["text"]  # feedback reaches the next plan
    assert len(harness.checkpoints.saved["r1"]["pev"]["scratch"]["iterations"]) == 2


async def test_strictness_decides_acceptance(harness):
    harness.fake.script(match="verify results", reply=verdict(True, 0.75))
    strict = await harness.run(pev_doc(verification_strictness="strict"), {"task": "t"})
    assert strict.outputs["verified"] is False and strict.outputs["iterations"] == 3
    lenient = await harness.run(pev_doc(verification_strictness="lenient"), {"task": "t"}, run_id="r2")
    assert lenient.outputs["verified"] is True and lenient.outputs["iterations"] == 1


async def test_resume_continues_with_the_next_iteration(harness):
    harness.fake.script(match="verify results", replies=[verdict(False, 0.1), verdict(False, 0.2), verdict(True, 1.0)])
    await harness.run(pev_doc(), {"task": "t"})
    state = harness.checkpoints.saved["r1"]["pev"]
    state["status"] = "running"
    state["scratch"]["iterations"] = state["scratch"]["iterations"][:1]  # died after iteration 1 was saved
    before = len(harness.fake.requests)
    result = await harness.run(pev_doc(), {"task": "t"})
    assert result.outputs["iterations"] == 3 and result.outputs["verified"] is True
    assert len(harness.fake.requests) == before  # iterations 2 and 3 replayed from the journal
