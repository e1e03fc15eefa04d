"""The pure parts of scheduling, without an event loop: dependency counters (who may start
when a node settles), the ready queue (in what order, how many at once), input gathering (a
node's, a for_each item's), resolved outputs through error handlers, retry waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from graphs.engine.llm.base import LLMError, parse_retry_after
from graphs.engine.nodes.for_each import ForEachConfig, item_inputs, item_plan
from graphs.engine.runtime.retry import RetryPolicy
from graphs.engine.scheduling import DependencyCounter, ReadyQueue, gather_inputs, resolved, settled, source_value


@dataclass
class S:
    status: str = "pending"
    outputs: dict = field(default_factory=dict)
    recovered_by: str | None = None


def E(source, source_port, target_port):
    return SimpleNamespace(source=source, source_port=source_port, target_port=target_port)


def test_a_chain_releases_one_node_per_settle():
    counter = DependencyCounter({"a": [], "b": ["a"], "c": ["b"]}, eligible=["a", "b", "c"])
    assert counter.initial() == ["a"]
    assert counter.settle("a", produced=True) == ["b"]
    assert counter.settle("b", produced=True) == ["c"]
    assert counter.settle("c", produced=True) == []
    assert counter.unreleased() == []


def test_a_diamond_waits_for_both_branches_and_duplicate_edges_count_once():
    counter = DependencyCounter({"a": [], "b": [], "c": ["a", "b", "a"]}, eligible=["a", "b", "c"])
    assert counter.initial() == ["a", "b"]
    assert counter.settle("a", produced=True) == []
    assert counter.settle("a", produced=True) == []  # settling twice changes nothing
    assert counter.settle("b", produced=False) == ["c"]  # a skipped branch settles too


def test_quorum_releases_on_produced_upstreams_only():
    counter = DependencyCounter({"x": [], "y": [], "z": [], "j": ["x", "y", "z"]}, eligible=["x", "y", "z", "j"],
                                quorum={"j": 2})
    assert counter.initial() == ["x", "y", "z"]
    assert counter.settle("x", produced=False) == []  # skipped: settled, but produced nothing
    assert counter.settle("y", produced=True) == []
    assert counter.settle("z", produced=True) == ["j"]


def test_quorum_reached_before_the_rest_settles_releases_once():
    counter = DependencyCounter({"x": [], "y": [], "j": ["x", "y"]}, eligible=["x", "y", "j"], quorum={"j": 1})
    counter.initial()
    assert counter.settle("x", produced=True) == ["j"]
    assert counter.settle("y", produced=True) == []


def test_resume_counts_what_already_settled_and_ineligible_nodes_never_start():
    upstream = {"a": [], "b": ["a"], "h": [], "c": ["b"]}
    counter = DependencyCounter(upstream, eligible=["b", "c"], settled=["a"], produced=["a"])  # h: a handler
    assert counter.initial() == ["b"]
    assert counter.settle("b", produced=True) == ["c"]
    assert "h" not in counter.unreleased()


def test_a_cycle_leaves_its_members_unreleased():
    counter = DependencyCounter({"a": ["b"], "b": ["a"], "c": []}, eligible=["a", "b", "c"])
    assert counter.initial() == ["c"]
    assert counter.settle("c", produced=True) == []
    assert counter.unreleased() == ["a", "b"]


def test_the_ready_queue_is_first_in_first_out_and_fills_free_slots_only():
    queue = ReadyQueue(limit=2)
    queue.add(["a", "b", "c"])
    assert queue.take(running=0) == "a" and queue.take(running=1) == "b"
    assert queue.take(running=2) is None and len(queue) == 1  # c waits for a slot
    queue.add(["d"])
    assert queue.take(running=1) == "c" and queue.take(running=1) == "d" and queue.take(running=0) is None
    unbounded = ReadyQueue()
    unbounded.add(range(100))
    assert [unbounded.take(running=n) for n in range(100)] == list(range(100))


def test_for_each_items_ids_and_what_each_waits_for():
    items = [{"id": "a"}, {"id": "b", "depends_on": ["a", "nowhere"]}, "plain", {"id": 7, "depends_on": [3]}]
    assert item_plan(items, True) == (["a", "b", "2", "7"], {"a": [], "b": ["a"], "2": [], "7": []})
    assert item_plan(items, False)[1] == {"a": [], "b": [], "2": [], "7": []}
    # duplicate ids: by position, and nobody waits (dependencies cannot be told apart)
    assert item_plan([{"id": "x"}, {"id": "x", "depends_on": ["x"]}], True) == (["0", "1"], {"0": [], "1": []})
    counter = DependencyCounter(item_plan(items, True)[1], eligible=["b", "2", "7"], settled=["a"])  # a done before a resume
    assert counter.initial() == ["b", "2", "7"]


def test_for_each_item_inputs_take_the_field_index_context_and_finished_dependencies():
    config = ForEachConfig(item_field="text")
    item = {"id": "b", "text": "B", "depends_on": ["a", "c"]}
    done = {"a": {"outputs": {"answer": "A!"}}}
    assert item_inputs(config, {"item"}, item, 1, "ctx", done) == {"item": "B"}
    full = item_inputs(config, {"item", "index", "context", "dependencies"}, item, 1, "ctx", done)
    assert full == {"item": "B", "index": 1, "context": "ctx", "dependencies": [{"answer": "A!"}]}
    assert item_inputs(ForEachConfig(), {"item", "context"}, "plain", 0, None, {}) == {"item": "plain"}


def test_resolved_follows_recovery_through_handlers():
    states = {"main": S("failed", recovered_by="h1"), "h1": S("failed", recovered_by="h2"), "h2": S("succeeded", {"x": 1}),
              "lost": S("failed"), "skip": S("skipped")}
    assert resolved(states, "main") == {"x": 1}
    assert resolved(states, "lost") is None
    assert settled(states, "main") and settled(states, "skip") and not settled(states, "lost")


def test_source_value_and_gather_inputs():
    states = {"a": S("succeeded", {"out": "A"}), "s": S("skipped")}
    inputs = {"task": "T"}

    def value_of(edge):
        return source_value(states, edge, inputs, "@inputs")

    ports = {"task": SimpleNamespace(required=True), "x": SimpleNamespace(required=True),
             "opt": SimpleNamespace(required=False)}
    assert gather_inputs([E("@inputs", "task", "task"), E("a", "out", "x")], ports, value_of) == {"task": "T", "x": "A"}
    assert gather_inputs([E("a", "out", "x"), E("s", "out", "opt")], ports, value_of) == {"x": "A"}  # optional: left out
    assert gather_inputs([E("s", "out", "x")], ports, value_of) is None  # required from a skipped branch
    assert gather_inputs([E("@inputs", "missing", "opt")], ports, value_of) == {}


def test_retry_waits_honour_retry_after_else_back_off_with_jitter():
    policy = RetryPolicy(base_s=0.5, cap_s=4.0)
    assert 2.0 <= policy.wait_s(1, LLMError("429", status=429, retry_after=2.0), rng=lambda: 0.5) <= 2.1
    low = [policy.wait_s(n, LLMError("500"), rng=lambda: 0.0) for n in (1, 2, 3, 4, 5)]
    high = [policy.wait_s(n, LLMError("500"), rng=lambda: 1.0) for n in (1, 2, 3, 4, 5)]
    assert low == [0.25, 0.5, 1.0, 2.0, 2.0] and high == [0.5, 1.0, 2.0, 4.0, 4.0]  # doubling, capped, jittered


def test_parse_retry_after():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
