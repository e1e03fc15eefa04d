"""Engine overhead per node: a 200-node chain and a 200-wide fan-out.

    .venv/bin/python bench/engine_overhead.py [--nodes 200] [--skip-celery]

1. engine only, in-memory checkpoints, zero-latency LLM (simulated provider, in process);
2. the worker's code path (execute_run) with PostgreSQL checkpoints and events, zero-latency LLM;
3. through Celery: a real worker process, Redis broker, PostgreSQL; the LLM is the zero-latency
   simulated provider, then the real openai SDK over HTTP against the scripted server with zero
   latency (the SDK's own CPU per call is in that row), its answers streamed (the default) and not;
   ``--stream-rounds N`` measures only that row, streamed and not, interleaved N rounds each;
4. a 200-wide fan-out of LLM calls with 1 s latency, over HTTP through the openai SDK.
Needs PostgreSQL and Redis (scripts/test starts them); uses database `kaizen_bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphs.engine.llm import ProviderRegistry  # noqa: E402
from graphs.engine.llm.openai_provider import OpenAIProvider  # noqa: E402
from graphs.engine.llm.simulated import SimulatedProvider  # noqa: E402
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink  # noqa: E402
from graphs.engine.runtime import Engine  # noqa: E402
from tests.fakellm import FakeLLM  # noqa: E402
from tests.helpers import agent, chain, edge  # noqa: E402


def fanout(n: int) -> dict:
    nodes = [agent(f"p{i}", ["task"], ["result"], instructions=f"branch {i}: {{{{task}}}}") for i in range(n)]
    edges = [edge("@inputs", "task", f"p{i}", "task") for i in range(n)]
    return {"inputs": {"task": {"type": "string"}}, "outputs": {}, "nodes": nodes, "edges": edges}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def gaps_ms(finish_times: list[float]) -> list[float]:
    finish_times = sorted(finish_times)
    return [(b - a) * 1000 for a, b in zip(finish_times, finish_times[1:], strict=False)]


async def _engine_once(doc: dict, providers: ProviderRegistry) -> tuple[float, dict]:
    engine = Engine(doc, run_id="bench", providers=providers, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink())
    started = time.perf_counter()
    result = await engine.run({"task": "t"})
    assert result.status == "succeeded", result.error
    return time.perf_counter() - started, result.nodes


async def engine_only(doc: dict, providers: ProviderRegistry) -> tuple[float, dict, int]:
    """Timed without tracemalloc (it slows Python down); peak memory from a second, traced run."""
    await _engine_once(doc, providers)  # warm-up: imports, pydantic schemas, HTTP connections
    wall, nodes = await _engine_once(doc, providers)
    tracemalloc.start()
    await _engine_once(doc, providers)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, nodes, peak


def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/kaizen_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
    os.environ["KAIZEN_SIMULATED_LATENCY_S"] = "0"
    import psycopg

    url = os.environ["DATABASE_URL"]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = 'kaizen_bench'").fetchone():
            conn.execute("create database kaizen_bench")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def db_run(doc: dict):
    from django.contrib.auth import get_user_model

    from graphs import services

    user, _ = get_user_model().objects.get_or_create(username="bench")
    graph = services.graph_create(owner=user, name="bench", spec=doc).graph
    return graph, user


def node_finish_times(run_id: int) -> list[float]:
    from graphs.models import NodeState

    return [ns.data["finished_at"] for ns in NodeState.objects.filter(run_id=run_id)]


def pg_in_process(doc: dict) -> tuple[float, list[float]]:
    from django.db import transaction

    from graphs import services
    from graphs.runner.execution import execute_run

    graph, user = db_run(doc)
    with transaction.atomic():
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, dry_run=True)
        transaction.get_connection().run_on_commit.clear()  # executed here, not through the broker
    started = time.perf_counter()
    status = execute_run(run.pk)
    wall = time.perf_counter() - started
    assert status == "succeeded", status
    return wall, gaps_ms(node_finish_times(run.pk))


def through_celery(doc: dict, fake: FakeLLM, dry_run: bool = False, stream: bool = True) -> tuple[float, list[float]]:
    """A real worker process runs the graph; dry_run uses the zero-latency simulated provider
    (no HTTP), else the openai SDK against the scripted server, its answers streamed or not
    (KAIZEN_LLM_STREAM)."""
    import redis
    from django.conf import settings

    from graphs import services
    from graphs.models import Run

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    env = dict(os.environ, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench", KAIZEN_LLM_MAX_RETRIES="0",
               KAIZEN_LLM_STREAM="1" if stream else "0")
    log = open("/tmp/kaizen-bench-worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "kaizen_web", "worker", "--pool=threads",
                               "--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                               "--without-heartbeat"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(4)
        settings.OPENAI_BASE_URL, settings.KAIZEN_DEFAULT_PROVIDER = fake.base_url, "openai"
        graph, user = db_run(doc)
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"}, dry_run=dry_run)
        while Run.objects.get(pk=run.pk).status in ("queued", "running"):
            time.sleep(0.02)
        run = Run.objects.get(pk=run.pk)
        assert run.status == "succeeded", run.error
        return (run.finished_at - run.started_at).total_seconds(), gaps_ms(node_finish_times(run.pk))
    finally:
        worker.terminate()
        worker.wait(10)


def stream_comparison(doc: dict, fake: FakeLLM, rounds: int, answer_chars: int) -> None:
    """The HTTP row with streaming off and on, interleaved (off, on, on, off, ...): medians of the
    per-round p50 gap, and the ratio."""
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for r in range(rounds):
        for stream in ((False, True) if r % 2 == 0 else (True, False)):
            wall, g = through_celery(doc, fake, stream=stream)
            results[stream].append((wall, statistics.median(g), pct(g, 95)))
            print(f"round {r + 1} stream={'on' if stream else 'off'}: wall {wall:.3f} s, p50 {results[stream][-1][1]:.3f} "
                  f"ms/node, load {os.getloadavg()[0]:.1f}", flush=True)
    answer = f"{answer_chars}-character answers" if answer_chars else "short answers"
    print(f"\n{'chain, Celery+Redis+PG, openai SDK/HTTP':<44} {'rounds':>6} {'wall s med':>11} {'ms/node p50 med':>16} "
          f"{'ms/node p95 med':>16}   ({answer}, {fake.chunk_chars} characters per chunk)")
    print("-" * 100)
    for stream in (False, True):
        rows = results[stream]
        print(f"{'streaming ' + ('on' if stream else 'off'):<44} {len(rows):>6} {statistics.median(r[0] for r in rows):>11.3f} "
              f"{statistics.median(r[1] for r in rows):>16.3f} {statistics.median(r[2] for r in rows):>16.3f}")
    on, off = (statistics.median(r[1] for r in results[s]) for s in (True, False))
    print(f"\nstreaming on / off, median p50 ms/node: {on / off:.3f} (target <= 1.10)")
    client_cpu(doc, rounds, answer_chars)


def client_cpu(doc: dict, rounds: int, answer_chars: int) -> None:
    """The client side's CPU per node (engine + openai SDK, in memory, a token sink as the worker
    has), streamed and not, interleaved: CPU time is less at the mercy of a loaded machine than wall time.
    The scripted server runs in its own process (its CPU is not counted)."""
    from graphs.engine.ports import MemoryTokenSink

    server = subprocess.Popen([sys.executable, "-c", "import sys, threading; from tests.fakellm import FakeLLM; "
                               f"f = FakeLLM().start(); n = {answer_chars}; "
                               "n and f.script(reply={'result': ('lorem ipsum ' * (n // 12 + 1))[:n]}); "
                               "print(f.base_url, flush=True); threading.Event().wait()"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        cpu: dict[bool, list[float]] = {False: [], True: []}

        async def once(stream: bool) -> float:
            provider = OpenAIProvider(base_url, "bench", max_retries=0, stream=stream)
            providers = ProviderRegistry({"openai": provider}, "openai")
            engine = Engine(doc, run_id="cpu", providers=providers, checkpoints=MemoryCheckpointStore(),
                            events=MemoryEventSink(), token_sink=MemoryTokenSink())
            started = time.process_time()
            result = await engine.run({"task": "t"})
            assert result.status == "succeeded", result.error
            return (time.process_time() - started) * 1000 / len(engine.nodes)

        async def measure() -> None:
            await once(False)
            await once(True)  # warm-up: clients, imports
            for r in range(max(rounds, 3)):
                for stream in ((False, True) if r % 2 == 0 else (True, False)):
                    cpu[stream].append(await once(stream))

        asyncio.run(measure())
    finally:
        server.terminate()
    on, off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"client CPU per node (engine + SDK, in memory), median of {len(cpu[True])}: streaming off {off:.3f} ms, "
          f"on {on:.3f} ms, on / off {on / off:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--stream-rounds", type=int, default=0,
                        help="only the HTTP row, streamed and not (KAIZEN_LLM_STREAM=1/0), interleaved this many rounds each")
    parser.add_argument("--answer-chars", type=int, default=0,
                        help="scripted answers of this many characters (default: the short automatic answer)")
    args = parser.parse_args()
    n = args.nodes
    fake = FakeLLM().start()
    if args.answer_chars:
        fake.script(reply={"result": ("lorem ipsum " * (args.answer_chars // 12 + 1))[:args.answer_chars]})
    if args.stream_rounds:
        setup_django()
        stream_comparison(chain(n), fake, args.stream_rounds, args.answer_chars)
        fake.stop()
        return
    sim = ProviderRegistry({"simulated": SimulatedProvider(0.0)}, "simulated")
    rows = []

    wall, nodes, peak = asyncio.run(engine_only(chain(n), sim))
    g = gaps_ms([s["finished_at"] for s in nodes.values()])
    rows.append((f"chain {n}, engine, memory checkpoints", wall, statistics.median(g), pct(g, 95), peak / 1e6))
    wall, nodes, peak = asyncio.run(engine_only(fanout(n), sim))
    rows.append((f"fan-out {n}, engine, memory checkpoints", wall, wall * 1000 / n, None, peak / 1e6))

    setup_django()
    wall, g = pg_in_process(chain(n))
    rows.append((f"chain {n}, worker path, PostgreSQL", wall, statistics.median(g), pct(g, 95), None))
    wall, g = pg_in_process(fanout(n))
    rows.append((f"fan-out {n}, worker path, PostgreSQL", wall, wall * 1000 / n, None, None))
    if not args.skip_celery:
        wall, g = through_celery(chain(n), fake, dry_run=True)
        rows.append((f"chain {n}, Celery+Redis+PG, zero-latency LLM", wall, statistics.median(g), pct(g, 95), None))
        wall, g = through_celery(chain(n), fake)
        rows.append((f"chain {n}, Celery+Redis+PG, openai SDK/HTTP", wall, statistics.median(g), pct(g, 95), None))
        wall, g = through_celery(chain(n), fake, stream=False)
        rows.append(("  the same, KAIZEN_LLM_STREAM=0", wall, statistics.median(g), pct(g, 95), None))

    fake.stop()
    # The 1 s LLM lives in its own process, as a real endpoint would (not sharing our GIL).
    server = subprocess.Popen([sys.executable, "-m", "tests.fakellm", "0", "--latency", "1.0"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        http = ProviderRegistry({"openai": OpenAIProvider(base_url, "bench", max_retries=0)}, "openai")
        wall, _nodes, peak = asyncio.run(engine_only(fanout(n), http))
        rows.append((f"fan-out {n} x 1 s LLM, openai SDK/HTTP", wall, None, None, peak / 1e6))
    finally:
        server.terminate()

    print(f"\n{'scenario':<46} {'wall s':>8} {'ms/node p50':>12} {'ms/node p95':>12} {'peak MB':>8}")
    print("-" * 90)
    for name, wall, p50, p95, mem in rows:
        fmt = lambda v, spec: format(v, spec) if v is not None else "-"  # noqa: E731
        print(f"{name:<46} {wall:>8.3f} {fmt(p50, '>12.3f')} {fmt(p95, '>12.3f')} {fmt(mem, '>8.1f')}")
    print("\nms/node for chains: gaps between consecutive node completions (scheduling + LLM call + "
          "checkpoint + events);\nfor fan-outs: wall / nodes. Targets: <1 ms/node in memory, <5 ms/node "
          "with PostgreSQL, 200 x 1 s fan-out < 1.5 s.")


if __name__ == "__main__":
    main()
