"""The API's hot read, GET /api/runs/{id}/, through Daphne: requests/s and CPU per request.

    .venv/bin/python bench/api_reads.py [--clients 20] [--seconds 8] [--rounds 2] [--setups pool,nopool]

PostgreSQL + Redis + one Daphne process on loopback; ``clients`` concurrent keep-alive HTTP
clients (token auth) read one finished run for ``seconds``. Setups: ``pool`` (the default
settings: psycopg's pool per process) and ``nopool`` (KAIZEN_DB_POOL_MAX=0: a new database
connection per request). Setups are interleaved (A, B, A, B...) and each row gives the median
and the best round; CPU is Daphne's user+system time divided by the requests it served, the
figure a loaded machine disturbs least.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def hammer(url: str, token: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.get(url)
            assert response.status_code == 200, response.text
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        await asyncio.gather(*(one(http) for _ in range(clients)))
    return len(latencies), latencies


def start_daphne(port: int, extra: dict[str, str]) -> subprocess.Popen:
    log = open("/tmp/kaizen-bench-api-daphne.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "kaizen_web.asgi:application"],
                            cwd=ROOT, env={**os.environ, "KAIZEN_LOG_LEVEL": "WARNING", **extra},
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/node-kinds/", timeout=1)
            return proc
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("daphne did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--setups", default="pool,nopool")
    args = parser.parse_args()
    from bench.engine_overhead import setup_django

    setup_django()
    from django.contrib.auth import get_user_model

    from graphs import services
    from graphs.models import Run
    from tests.helpers import chain

    user, _ = get_user_model().objects.get_or_create(username="apibench")
    from apitokens.services import token_create

    _row, token = token_create(user=user, name="api_reads bench")
    graph = services.graph_create(owner=user, name="api bench", spec=chain(2)).graph
    run = Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user, status="succeeded",
                             outputs={"result": "ok"})
    port = 8766
    results: dict[str, list[tuple[float, float, float, float]]] = {s: [] for s in args.setups.split(",")}
    for _ in range(args.rounds):
        for setup in results:
            daphne = start_daphne(port, {"KAIZEN_DB_POOL_MAX": "0"} if setup == "nopool" else {})
            try:
                url = f"http://127.0.0.1:{port}/api/runs/{run.pk}/"
                asyncio.run(hammer(url, token, args.clients, 1.0))  # warm up
                cpu0 = cpu_seconds(daphne.pid)
                started = time.perf_counter()
                count, latencies = asyncio.run(hammer(url, token, args.clients, args.seconds))
                wall = time.perf_counter() - started
                cpu = cpu_seconds(daphne.pid) - cpu0
                latencies.sort()
                results[setup].append((count / wall, latencies[len(latencies) // 2] * 1000,
                                       latencies[int(len(latencies) * 0.99)] * 1000, cpu / count * 1000))
            finally:
                daphne.terminate()
                daphne.wait(10)
    print(f"GET /api/runs/{{id}}/, {args.clients} clients, {args.seconds:g} s x {args.rounds} rounds (median / best)")
    print(f"{'setup':8} {'req/s':>16} {'p50 ms':>16} {'p99 ms':>16} {'daphne CPU ms/req':>20}")
    for setup, rows in results.items():
        cols = list(zip(*rows, strict=True))
        cells = [f"{statistics.median(c):7.1f} / {(max(c) if i == 0 else min(c)):6.1f}" for i, c in enumerate(cols)]
        print(f"{setup:8} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16} {cells[3]:>20}")


if __name__ == "__main__":
    main()
