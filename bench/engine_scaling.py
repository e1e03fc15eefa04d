"""Engine overhead per node as graphs grow: chains of 50 / 200 / 1,000 / 2,000 agent nodes, in
memory, zero-latency simulated LLM (so what is measured is the scheduler, checkpoints, events and
the node's own work). A linear scheduler keeps ms/node flat: the target is 2,000 nodes within
1.2x of 50.

    .venv/bin/python bench/engine_scaling.py [--sizes 50,200,1000,2000] [--repeat 5] [--shape chain|joins|fanout]

Runs are interleaved across sizes (A, B, C, A, B, C...) because the machine is noisy; the table
reports min and median ms/node per size, and the ratio of each to the smallest size's. After the
warm-up the process treats its heap as a worker does (``kaizen_web.heap.freeze_heap``; without it,
``--no-freeze``, full collections walk every library's objects and a 2,000-wide fan-out measures
~2x its 50-node cost per node: the collector's, not the scheduler's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_overhead import fanout  # noqa: E402
from graphs.engine.llm import ProviderRegistry  # noqa: E402
from graphs.engine.llm.simulated import SimulatedProvider  # noqa: E402
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink  # noqa: E402
from graphs.engine.runtime import Engine  # noqa: E402
from kaizen_web.heap import freeze_heap  # noqa: E402
from tests.helpers import chain, edge  # noqa: E402


def join_chain(n: int) -> dict:
    """No-op-ish nodes: joins passing the task along (no LLM call), so only the engine is timed."""
    nodes = [{"id": f"j{i}", "kind": "join", "config": {"inputs": [{"name": "a", "type": "any", "required": False}]}}
             for i in range(1, n + 1)]
    edges = [edge("@inputs", "task", "j1", "a")] + [edge(f"j{i}", "first", f"j{i + 1}", "a") for i in range(1, n)]
    edges.append(edge(f"j{n}", "first", "@outputs", "result"))
    return {"inputs": {"task": {"type": "string"}}, "outputs": {"result": {"type": "any"}}, "nodes": nodes, "edges": edges}


async def once(doc: dict, providers: ProviderRegistry) -> float:
    engine = Engine(doc, run_id="bench", providers=providers, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink())
    started = time.perf_counter()
    result = await engine.run({"task": "t"})
    assert result.status == "succeeded", result.error
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200,1000,2000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shape", choices=["chain", "joins", "fanout"], default="chain",
                        help="chain: agent nodes (zero-latency simulated LLM); joins: a chain of join nodes (no LLM); "
                             "fanout: agent nodes side by side")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the garbage collector as Python starts it (a worker freezes its start-up "
                             "heap and raises the young threshold: kaizen_web/heap.py)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shape = args.shape
    build = {"chain": chain, "joins": join_chain, "fanout": fanout}[shape]
    docs = {n: build(n) for n in sizes}
    providers = ProviderRegistry({"simulated": SimulatedProvider()}, "simulated")
    for n in sizes:  # warm-up: imports, pydantic schemas
        await once(docs[n], providers)
    if not args.no_freeze:
        freeze_heap()  # as a worker does once started: its garbage collector skips what start-up loaded
    per_node: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(args.repeat):
        for n in sizes:
            per_node[n].append(await once(docs[n], providers) * 1000 / n)
    base = statistics.median(per_node[sizes[0]])
    print(f"{shape:>8} {'nodes':>6} {'min ms/node':>12} {'median':>8} {'x ' + str(sizes[0]):>8}")
    for n in sizes:
        med = statistics.median(per_node[n])
        print(f"{shape:>8} {n:>6} {min(per_node[n]):>12.3f} {med:>8.3f} {med / base:>8.2f}")
    for n in sizes:
        print(json.dumps({"bench": "engine_scaling", "shape": shape, "nodes": n, "min_ms_per_node": round(min(per_node[n]), 4),
                          "median_ms_per_node": round(statistics.median(per_node[n]), 4),
                          "ratio_to_smallest": round(statistics.median(per_node[n]) / base, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
