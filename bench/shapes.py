"""The same graph shapes for Kaizen's engine and for LangGraph, timed the same way.

Per-node overhead uses no-op nodes on both sides (Kaizen: ``join`` nodes passing a value on;
LangGraph: a function returning its state's value), so the figure is the framework's own cost per
node: scheduling, state, checkpoint and (Kaizen) events. The 1 s fan-out uses agent nodes (Kaizen)
and async nodes calling the openai SDK (LangGraph), against the same scripted server.

Every timed run, on either side, starts from a collected heap (``settle_heap``): what the previous
measurement left (the other system's graphs, states and checkpoints among it) is not collected on
the next one's clock. What a run allocates itself is still collected during it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import operator
import time
from typing import Annotated, Any, TypedDict


def join_node(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "kind": "join", "position": {"x": 0, "y": 0},
            "config": {"inputs": [{"name": "a", "type": "any", "required": False}]}}


def edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, Any]:
    return {"source": source, "source_port": source_port, "target": target, "target_port": target_port, "kind": "data"}


def no_llm_graph() -> dict[str, Any]:
    """``@inputs -> join -> @outputs``: the analogue of n8n's Webhook -> Set."""
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "any"}},
            "nodes": [join_node("set")],
            "edges": [edge("@inputs", "task", "set", "a"), edge("set", "first", "@outputs", "result")]}


def kaizen_chain(n: int) -> dict[str, Any]:
    nodes, edges, prev, port = [], [], "@inputs", "task"
    for i in range(n):
        nodes.append(join_node(f"j{i}"))
        edges.append(edge(prev, port, f"j{i}", "a"))
        prev, port = f"j{i}", "first"
    edges.append(edge(prev, port, "@outputs", "result"))
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "any"}},
            "nodes": nodes, "edges": edges}


def kaizen_fanout(n: int) -> dict[str, Any]:
    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {},
            "nodes": [join_node(f"j{i}") for i in range(n)],
            "edges": [edge("@inputs", "task", f"j{i}", "a") for i in range(n)]}


def kaizen_agent_fanout(n: int) -> dict[str, Any]:
    from tests.helpers import agent

    return {"schema_version": 1, "inputs": {"task": {"type": "string"}}, "outputs": {},
            "nodes": [agent(f"p{i}", ["task"], ["result"], instructions=f"branch {i}: {{{{task}}}}") for i in range(n)],
            "edges": [edge("@inputs", "task", f"p{i}", "task") for i in range(n)]}


def two_agent_chain() -> dict[str, Any]:
    from tests.helpers import chain

    return chain(2)


# --- LangGraph ---------------------------------------------------------------------------------

class ChainState(TypedDict):
    v: str


class FanState(TypedDict):
    v: str
    done: Annotated[int, operator.add]


def lg_chain(n: int, checkpointer=None):
    from langgraph.graph import END, START, StateGraph

    g = StateGraph(ChainState)
    for i in range(n):
        g.add_node(f"n{i}", lambda s: {"v": s["v"]})
    g.add_edge(START, "n0")
    for i in range(1, n):
        g.add_edge(f"n{i - 1}", f"n{i}")
    g.add_edge(f"n{n - 1}", END)
    return g.compile(checkpointer=checkpointer)


def lg_fanout(n: int, checkpointer=None, node=None):
    from langgraph.graph import END, START, StateGraph

    g = StateGraph(FanState)
    for i in range(n):
        g.add_node(f"n{i}", node or (lambda s: {"done": 1}))
        g.add_edge(START, f"n{i}")
        g.add_edge(f"n{i}", END)
    return g.compile(checkpointer=checkpointer)


def settle_heap() -> None:
    """Collect what earlier measurements left, before a timed run."""
    gc.collect()


def lg_time(graph, n: int, thread: str, durability: str | None, repeat: int = 1) -> float:
    """The best of ``repeat`` invocations' wall times, each on a new thread (sync API: LangGraph's
    fastest path for sync nodes)."""
    kwargs = {"durability": durability} if durability else {}
    best = float("inf")
    for i in range(repeat):
        config: dict[str, Any] = {"recursion_limit": n + 10, "configurable": {"thread_id": f"{thread}-{i}"}}
        settle_heap()
        started = time.perf_counter()
        graph.invoke({"v": "t", "done": 0}, config, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best


def lg_llm_fanout(n: int, base_url: str) -> float:
    """n async nodes, each one chat completion through one shared AsyncOpenAI client."""
    import openai

    async def main() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)

        async def node(state):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "system", "content": "Answer as JSON with:\n- result (string)"},
                {"role": "user", "content": state["v"]}])
            return {"done": 1}

        graph = lg_fanout(n, node=node)
        await graph.ainvoke({"v": "warm", "done": 0}, {"recursion_limit": n + 10})  # connections, imports
        settle_heap()
        started = time.perf_counter()
        await graph.ainvoke({"v": "t", "done": 0}, {"recursion_limit": n + 10})
        wall = time.perf_counter() - started
        await client.close()
        return wall

    return asyncio.run(main())


def raw_llm_fanout(n: int, base_url: str) -> float:
    """The floor: n of the same chat calls at once over raw asyncio sockets (a request written,
    the answer read by its Content-Length), no client library: what the server and the machine
    allow, without a client's per-call work."""
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "Answer as JSON with:\n- result (string)"}, {"role": "user", "content": "t"}]}).encode()
    head = (f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()

    async def call() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(head + body)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        if b" 200 " not in lines[0]:
            raise RuntimeError(f"floor: {lines[0]!r}")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.close()

    async def main() -> float:
        await asyncio.gather(*[call() for _ in range(min(n, 20))])  # (warm: imports, the server's first answers)
        settle_heap()
        started = time.perf_counter()
        await asyncio.gather(*[call() for _ in range(n)])
        return time.perf_counter() - started

    return asyncio.run(main())


# --- Kaizen's engine ---------------------------------------------------------------------------

def kaizen_memory_time(doc: dict[str, Any], providers=None, repeat: int = 1) -> float:
    """The engine alone with in-memory checkpoints and events: one warm-up, then the best of
    ``repeat`` timed runs."""
    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.simulated import SimulatedProvider
    from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
    from graphs.engine.runtime import Engine

    providers = providers or ProviderRegistry({"simulated": SimulatedProvider(0.0)}, "simulated")

    async def once() -> float:
        engine = Engine(doc, run_id="bench", providers=providers, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink())
        settle_heap()
        started = time.perf_counter()
        result = await engine.run({"task": "t"})
        if result.status != "succeeded":
            raise RuntimeError(f"engine run {result.status}: {result.error}")
        return time.perf_counter() - started

    async def main() -> float:
        await once()
        return min([await once() for _ in range(repeat)])

    return asyncio.run(main())


def kaizen_llm_fanout(n: int, base_url: str) -> float:
    """n agent nodes at once through the engine's openai provider, built once (as a worker does)."""
    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.openai_provider import OpenAIProvider

    providers = ProviderRegistry({"openai": OpenAIProvider(base_url, "bench", max_retries=0)}, "openai")
    return kaizen_memory_time(kaizen_agent_fanout(n), providers)


def kaizen_pg_time(doc: dict[str, Any]) -> float:
    """The worker's code path (graphs.runner.execution.execute_run) with PostgreSQL checkpoints and
    events, in this process (Django set up on the bench database); start-to-finish of execute_run."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from graphs import services
    from graphs.runner.execution import execute_run

    user, _ = get_user_model().objects.get_or_create(username="bench")
    graph = services.graph_create(owner=user, name="bench", spec=doc).graph
    with transaction.atomic():
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, dry_run=True)
        transaction.get_connection().run_on_commit.clear()  # executed here, not through a broker
    settle_heap()
    started = time.perf_counter()
    status = execute_run(run.pk)
    wall = time.perf_counter() - started
    if status != "succeeded":
        raise RuntimeError(f"execute_run: {status}")
    return wall
