"""LLM retries in the open: the SDK retries nothing (max_retries=0), the engine retries 429s
(honouring Retry-After), 5xx and timeouts with backoff, each retry an ``llm_retry`` event;
``llm_timeout_s`` bounds one attempt and ``llm_deadline_s`` (default: one attempt's worth) all
of them, so a hung model reaches its fallback at its timeout. Times are judged by the scripted
server's clock (request arrival), with generous bounds."""

from __future__ import annotations

from graphs.engine.llm.openai_provider import OpenAIProvider
from graphs.engine.runtime import Engine
from tests.helpers import agent, chain, edge


async def run_warm(harness, doc, inputs):
    """Run ``doc`` on providers that already made a call: the SDK's first request (clients, CA
    bundle) can take a second on a loaded machine, which is not what these tests time."""
    providers = harness.providers()
    warm = Engine(chain(1, model="warm-up"), run_id="warm-up", providers=providers, checkpoints=harness.checkpoints, events=harness.events)
    assert (await warm.run({"task": "warm-up"})).status == "succeeded"
    harness.events.events.clear()  # (its request stays recorded: tests pick theirs by model or prompt)
    engine = Engine(doc, run_id="r1", providers=providers, checkpoints=harness.checkpoints, events=harness.events)
    return await engine.run(inputs)


def retries(harness, node=None):
    return [e["data"] for e in harness.events.events if e["event"] == "llm_retry" and "wait_s" in e["data"]
            and (node is None or e["node_id"] == node)]


def test_the_sdk_retries_nothing_by_default():
    assert OpenAIProvider("http://127.0.0.1:9/v1", "k").max_retries == 0


async def test_a_500_is_retried_by_the_engine_and_journaled_once(harness):
    harness.fake.script(match="step 1", replies=[500, {"result": "after 500"}])
    result = await harness.run(chain(1), {"task": "t"})
    assert result.status == "succeeded" and result.outputs == {"result": "after 500"}
    assert len(harness.fake.calls("step 1")) == 2
    (retry,) = retries(harness, "s1")
    assert retry["attempt"] == 1 and retry["status"] == 500 and "500" in retry["error"] and retry["wait_s"] > 0
    assert len(result.nodes["s1"]["llm_calls"]) == 1  # the journal holds the answer, not the attempts


async def test_a_429_waits_what_retry_after_asks(harness):
    harness.fake.script(match="step 1", replies=[429, {"result": "later"}], headers={"Retry-After": "1"})
    result = await harness.run(chain(1, llm_timeout_s=10), {"task": "t"})
    assert result.status == "succeeded", result.error
    first, second = harness.fake.calls("step 1")
    assert second["at"] - first["at"] >= 0.95  # the server's clock: it was asked again after 1 s
    (retry,) = retries(harness, "s1")
    assert retry["status"] == 429 and retry["wait_s"] >= 1.0


async def test_a_client_error_is_not_retried(harness):
    harness.fake.script(match="step 1", status=400)
    result = await harness.run(chain(1), {"task": "t"})
    assert result.status == "failed" and len(harness.fake.calls("step 1")) == 1 and retries(harness) == []


async def test_a_hung_model_reaches_its_fallback_edge_within_its_timeout(harness):
    doc = {"inputs": {"q": {"type": "string"}}, "outputs": {"answer": {"type": "string"}},
           "nodes": [agent("main", ["q"], ["answer"], model="gpt-4o", llm_timeout_s=1),
                     agent("backup", ["q"], ["answer"], model="gpt-4o-mini")],
           "edges": [edge("@inputs", "q", "main", "q"), edge("main", "", "backup", "", "error"),
                     edge("main", "answer", "@outputs", "answer")]}
    harness.fake.script(model="gpt-4o", hang=True)
    harness.fake.script(model="gpt-4o-mini", reply={"answer": "from backup"})
    result = await run_warm(harness, doc, {"q": "hello"})
    assert result.status == "succeeded" and result.outputs == {"answer": "from backup"}
    (hung,) = [c for c in harness.fake.requests if c["model"] == "gpt-4o"]
    (backup,) = [c for c in harness.fake.requests if c["model"] == "gpt-4o-mini"]
    assert backup["at"] - hung["at"] < 1 + 1, "the fallback starts within llm_timeout_s + 1 s"


async def test_a_hung_level_of_a_fallback_chain_gives_way_within_its_timeout(harness):
    levels = [{"model": "gpt-4", "quality": "high", "llm_timeout_s": 1, "level_timeout_s": 60},
              {"model": "llama3", "quality": "basic", "level_timeout_s": 60}]
    doc = {"inputs": {"task": {"type": "string"}}, "outputs": {"answer": {"type": "any"}, "level": {"type": "any"}},
           "nodes": [{"id": "fb", "kind": "fallback", "config": {"levels": levels}}],
           "edges": [edge("@inputs", "task", "fb", "task"), edge("fb", "answer", "@outputs", "answer"),
                     edge("fb", "level", "@outputs", "level")]}
    harness.fake.script(model="gpt-4", hang=True)
    result = await run_warm(harness, doc, {"task": "t"})
    assert result.status == "succeeded" and result.outputs["level"] == 2
    (hung,) = [c for c in harness.fake.requests if c["model"] == "gpt-4"]
    (level2,) = [c for c in harness.fake.requests if c["model"] == "llama3"]
    assert level2["at"] - hung["at"] < 1 + 1


async def test_the_deadline_bounds_every_attempt(harness):
    doc = chain(1, llm_timeout_s=0.5, llm_deadline_s=2.5, model="hangs")
    harness.fake.script(model="hangs", hang=True)
    result = await run_warm(harness, doc, {"task": "t"})
    assert result.status == "failed" and result.nodes["s1"]["error"]["type"] == "llm_error"
    calls = [c for c in harness.fake.requests if c["model"] == "hangs"]
    assert len(calls) >= 2, "a timeout is retried while the deadline allows"
    assert calls[-1]["at"] - calls[0]["at"] < 2.5, "no attempt starts after the deadline"
    attempts = len(retries(harness, "s1")) + 1
    assert len(calls) <= attempts <= 4  # (an attempt cut short before it reached the server is not seen there)
    assert not any(c["completed"] for c in calls)


async def test_retries_stop_at_the_nodes_own_timeout(harness):
    harness.fake.script(model="busy", status=503)
    result = await run_warm(harness, chain(1, model="busy", timeout_s=1.5, llm_deadline_s=600), {"task": "t"})
    assert result.status == "failed"
    calls = [c for c in harness.fake.requests if c["model"] == "busy"]
    assert 2 <= len(calls) <= 4 and calls[-1]["at"] - calls[0]["at"] < 1.5
