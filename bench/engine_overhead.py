"""Engine overhead per node: a 200-node chain and a 200-wide fan-out.

    .venv/bin/python bench/engine_overhead.py [--nodes 200] [--skip-celery]

1. engine only, in-memory checkpoints, zero-latency LLM (simulated provider, in process);
2. the worker's code path (execute_run) with PostgreSQL checkpoints and events, zero-latency LLM;
3. through Celery: a real worker process, Redis broker, PostgreSQL; the LLM is the zero-latency
   simulated provider, then the real openai SDK over HTTP against the scripted server with zero
   latency (the SDK's own CPU per call is in that row);
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


def through_celery(doc: dict, fake: FakeLLM, dry_run: bool = False) -> tuple[float, list[float]]:
    """A real worker process runs the graph; dry_run uses the zero-latency simulated provider
    (no HTTP), else the openai SDK against the scripted server."""
    import redis
    from django.conf import settings

    from graphs import services
    from graphs.models import Run

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    env = dict(os.environ, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench", KAIZEN_LLM_MAX_RETRIES="0")
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--skip-celery", action="store_true")
    args = parser.parse_args()
    n = args.nodes
    fake = FakeLLM().start()
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
