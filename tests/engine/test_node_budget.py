"""budget guard: switch_model continues on a cheaper model, interrupt is resumable, run budgets nest."""

from __future__ import annotations

from graphs.engine.validate import validate_graph
from tests.helpers import chain, edge


def guarded(**config):
    return {"inputs": {"task": {"type": "string"}},
            "outputs": {"result": {"type": "string"}, "model_switched": {"type": "boolean"}, "spent_usd": {"type": "number"}},
            "nodes": [{"id": "guard", "kind": "budget", "config": {"body": chain(4, model="gpt-4"), "budget_usd": 0.01,
                                                                  "fallback_model": "gpt-3.5-turbo", **config}}],
            "edges": [edge("@inputs", "task", "guard", "task")] + [
                edge("guard", k, "@outputs", k) for k in ("result", "model_switched", "spent_usd")]}


async def test_switch_model_when_the_first_budget_is_spent(harness):
    harness.fake.script(model="gpt-4", prompt_tokens=100, completion_tokens=100)  # $0.009 per call
    result = await harness.run(guarded(), {"task": "t"})
    assert result.status == "succeeded", result.error
    assert result.outputs["model_switched"] is True
    models = [c["model"] for c in harness.fake.requests]
    assert models == ["gpt-4", "gpt-4", "gpt-3.5-turbo", "gpt-3.5-turbo"]
    assert any(e["event"] == "budget" and e["data"].get("switch_model") == "gpt-3.5-turbo" for e in harness.events.events)
    assert result.cost_usd > 0.018


async def test_interrupt_ends_the_run_interrupted_and_resumes_with_a_higher_run_budget(harness):
    harness.fake.script(model="gpt-4", prompt_tokens=100, completion_tokens=100)
    doc = chain(4, model="gpt-4")
    result = await harness.run(doc, {"task": "t"}, budget_usd=0.01)
    assert result.status == "interrupted" and result.error["type"] == "budget"
    assert len(harness.fake.requests) == 2
    resumed = await harness.run(doc, {"task": "t"}, budget_usd=1.0)
    assert resumed.status == "succeeded" and len(harness.fake.requests) == 4


async def test_guard_interrupt_action_interrupts_the_run_and_a_resume_grants_the_budget_again(harness):
    harness.fake.script(model="gpt-4", prompt_tokens=100, completion_tokens=100)
    result = await harness.run(guarded(on_exceed="interrupt"), {"task": "t"})
    assert result.status == "interrupted" and result.error["scope"] == "guard/main"
    assert len(harness.fake.requests) == 2
    resumed = await harness.run(guarded(on_exceed="interrupt"), {"task": "t"})
    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs["model_switched"] is False
    assert [c["model"] for c in harness.fake.requests] == ["gpt-4"] * 4  # 2 more, none repeated


async def test_run_budget_applies_inside_the_guard(harness):
    harness.fake.script(prompt_tokens=100, completion_tokens=100)
    result = await harness.run(guarded(budget_usd=100), {"task": "t"}, budget_usd=0.01)
    assert result.status == "interrupted" and result.error["scope"] == ""


async def test_token_budget(harness):
    harness.fake.script(model="gpt-4", prompt_tokens=100, completion_tokens=100)
    result = await harness.run(guarded(budget_usd=100, budget_tokens=300), {"task": "t"})
    assert result.outputs["model_switched"] is True


def test_budget_must_be_positive():
    issues = validate_graph(guarded(budget_usd=0))
    assert any(i.node == "guard" and i.path.endswith("budget_usd") for i in issues), issues


def test_budget_message_shows_meaningful_digits_at_small_budgets():
    """A budget of $0.00012 reads as such, not "$0.0000" (issue 15)."""
    from graphs.engine.money import BudgetExceeded, usd

    assert str(BudgetExceeded(0.000125, 0.00012)) == "budget of $0.00012 reached (spent $0.000125)"
    assert usd(12.3456) == "12.35" and usd(0.5) == "0.50" and usd(0) == "0.00"
