"""Event latency from the engine's emit to a websocket client's receipt (distributed setup).

    .venv/bin/python bench/ws_latency.py [--runs 50] [--rate 20] [--seconds 10]

PostgreSQL + Redis (channels_redis) + a Daphne process on loopback. Each run has a RunRecorder
(the engine's event sink: store, commit, then publish) emitting ``rate`` events/s, and one
websocket client. Latency = client receipt time - emit time (same clock). Prints p50/p95/p99,
events/s delivered, and whether every client ended with the complete contiguous sequence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def emitter(run_id: int, rate: float, seconds: float) -> int:
    from graphs.adapters import RunRecorder

    recorder = RunRecorder(run_id)
    await recorder.load(str(run_id))
    count = int(rate * seconds)
    start = time.perf_counter()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        await recorder.emit(str(run_id), "post_llm_call", f"n{i % 5}", {"t": time.time(), "i": i})
    await recorder.close()
    return count


async def client(url: str, cookie: str, origin: str, expected: int, latencies: list, result: dict, ready: asyncio.Event):
    from websockets.asyncio.client import connect

    seqs = []
    async with connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, origin=origin, max_size=None) as ws:
        ready.set()
        while len(seqs) < expected:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
            except TimeoutError:
                break
            now = time.time()
            for msg in frame["events"]:
                latencies.append((now - msg["data"]["t"]) * 1000)
                seqs.append(msg["seq"])
    result["seqs"] = seqs


async def clients_main(port: int, run_ids: list[int], cookie: str, expected: int) -> None:
    """Child process: one websocket client per run; prints READY, then a JSON summary."""
    latencies: list[float] = []
    results = [dict() for _ in run_ids]
    origin = f"http://127.0.0.1:{port}"
    readies = [asyncio.Event() for _ in run_ids]
    tasks = [asyncio.ensure_future(client(f"ws://127.0.0.1:{port}/ws/runs/{rid}/?after=0", cookie, origin,
                                          expected, latencies, results[i], readies[i])) for i, rid in enumerate(run_ids)]
    await asyncio.gather(*(r.wait() for r in readies))
    print("READY", flush=True)
    await asyncio.gather(*tasks)
    complete = sum(1 for r in results if r.get("seqs") == list(range(1, expected + 1)))
    print(json.dumps({"latencies": latencies, "complete": complete,
                      "received": sum(len(r.get("seqs", [])) for r in results)}), flush=True)


def run_benchmark(args, port: int, run_ids: list[int], cookie: str) -> None:
    expected = int(args.rate * args.seconds)
    child = subprocess.Popen([sys.executable, __file__, "--clients", json.dumps([port, run_ids, cookie, expected])],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "READY"
    time.sleep(0.5)  # let every consumer join its group before the first event
    started = time.perf_counter()

    async def emit_all() -> int:
        return sum(await asyncio.gather(*(emitter(rid, args.rate, args.seconds) for rid in run_ids)))

    emitted = asyncio.run(emit_all())
    summary = json.loads(child.stdout.readline())
    child.wait(30)
    wall = time.perf_counter() - started
    latencies = summary["latencies"]
    print(f"\n{'runs':>5} {'ev/s/run':>9} {'emitted':>8} {'received':>9} {'ev/s delivered':>15} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'complete clients':>17}")
    print("-" * 106)
    print(f"{len(run_ids):>5} {args.rate:>9.0f} {emitted:>8} {summary['received']:>9} {summary['received'] / wall:>15.0f} "
          f"{statistics.median(latencies):>8.1f} {pct(latencies, 95):>8.1f} {pct(latencies, 99):>8.1f} "
          f"{max(latencies):>8.1f} {summary['complete']:>10}/{len(run_ids)}")
    print("\nLatency: emit in the run's recorder (this process) -> stored -> committed -> channels_redis -> "
          "Daphne -> websocket client (another process).\nTarget: p99 < 100 ms, every client's final sequence complete.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        port, run_ids, cookie, expected = json.loads(args.clients)
        asyncio.run(clients_main(port, run_ids, cookie, expected))
        return
    from bench.engine_overhead import setup_django

    setup_django()
    import redis
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from graphs import services
    from graphs.models import Run
    from tests.helpers import chain

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    user, _ = get_user_model().objects.get_or_create(username="wsbench")
    graph = services.graph_create(owner=user, name="ws bench", spec=chain(1)).graph
    run_ids = [Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user, status="running").pk
               for _ in range(args.runs)]
    web = Client()
    web.force_login(user)
    cookie = web.cookies["sessionid"].value
    port = 8765
    log = open("/tmp/kaizen-bench-daphne.log", "w")
    daphne = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "kaizen_web.asgi:application"],
                              cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/node-kinds/", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        run_benchmark(args, port, run_ids, cookie)
    finally:
        daphne.terminate()
        daphne.wait(10)


if __name__ == "__main__":
    main()
