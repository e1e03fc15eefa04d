"""Event latency from the engine's emit to a websocket client's receipt (distributed setup).

    .venv/bin/python bench/ws_latency.py [--runs 50] [--rate 20] [--seconds 10] [--setups ...]

PostgreSQL + Redis (channels_redis pub/sub) + a Daphne process on loopback, and one websocket
client per run in a process of its own. Each run has a RunRecorder (the engine's event sink:
store, commit, then publish) emitting ``rate`` events/s, in emitting processes shaped like
workers. Every setup is a row: how many emitting processes, whether their runs share the
process's run loop (graphs/runner/runloop.py, as workers run them) or get a loop each (the earlier
design), and whether the runs' events are spread evenly over time or aligned (all runs emit at
the same instants); a ``tokens`` row streams answer text through the run's TokenRelay instead
(ephemeral, coalesced every 50 ms). Latency = client receipt time - emit time (same clock). Prints p50/p95/p99,
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import stack  # noqa: E402

stack.bench_secrets()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def emitter(run_id: int, rate: float, seconds: float, start: float) -> int:
    """Emit ``rate`` events/s from ``start`` (a time.time() instant) on."""
    from graphs.runner.adapters import RunRecorder

    recorder = RunRecorder(run_id)
    await recorder.load(str(run_id))
    count = int(rate * seconds)
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        await recorder.emit(str(run_id), "post_llm_call", f"n{i % 5}", {"t": time.time(), "i": i})
    await recorder.close()
    return count


async def token_emitter(run_id: int, rate: float, seconds: float, start: float) -> int:
    """Stream ``rate`` pieces of answer text/s through the run's TokenRelay (as a worker relays a
    streaming LLM call: coalesced every KAIZEN_TOKEN_FLUSH_S, never stored); each piece is its
    emit time."""
    from graphs.runner.token_relay import TokenRelay

    relay = TokenRelay(run_id)
    count, offset = int(rate * seconds), 0
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        piece = f"{time.time():.6f};"
        relay.tokens("n0", "#0", offset, piece)
        offset += len(piece)
    await relay.close()
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
            if frame["type"] == "tokens":  # streamed text: every piece is its emit time
                for chunk in frame["chunks"]:
                    for piece in chunk["text"].split(";")[:-1]:
                        latencies.append((now - float(piece)) * 1000)
                        seqs.append(len(seqs) + 1)
                continue
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


def emitters_main(run_ids: list[int], rate: float, seconds: float, mode: str, phases: list[float]) -> None:
    """Child process: a worker's share of the runs, each emitting ``rate`` events/s; prints the count."""
    sys.path.insert(0, str(ROOT))
    from bench.engine_overhead import setup_django

    setup_django()
    print("READY", flush=True)
    t0 = float(sys.stdin.readline())  # every emitting process starts at the same instant
    if mode in ("worker", "tokens"):  # as a worker runs them: a thread each (Celery's pool), all on the process's run loop
        from graphs.runner import runloop

        emit = token_emitter if mode == "tokens" else emitter

        def one(rid: int, ph: float) -> int:
            return runloop.run(emit(rid, rate, seconds, t0 + ph))
    else:  # "threads": a thread and an event loop per run (how workers ran runs before graphs/runner/runloop.py)
        def one(rid: int, ph: float) -> int:
            return asyncio.run(emitter(rid, rate, seconds, t0 + ph))
    with ThreadPoolExecutor(len(run_ids)) as pool:
        emitted = sum(pool.map(one, run_ids, phases))
    print(emitted, flush=True)


def run_benchmark(args, port: int, run_ids: list[int], cookie: str, processes: int, mode: str, aligned: bool) -> tuple:
    expected = int(args.rate * args.seconds)
    child = subprocess.Popen([sys.executable, __file__, "--clients", json.dumps([port, run_ids, cookie, expected])],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "READY"
    # Spread: run k emits 1/(runs*rate) s after run k-1, so the events arrive evenly (1,000/s);
    # aligned: every run emits at the same instants (bursts of one event per run).
    phases = [0.0 if aligned else k / (len(run_ids) * args.rate) for k in range(len(run_ids))]
    shares = [(run_ids[i::processes], phases[i::processes]) for i in range(processes)]
    workers = [subprocess.Popen([sys.executable, __file__, "--emit", json.dumps([ids, args.rate, args.seconds, mode, ph])],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for ids, ph in shares]
    for w in workers:
        assert w.stdout.readline().strip() == "READY"
    # (each emitter first reads where its run's sequence stands; streamed text is not replayed, so
    # the tokens row also gives every consumer time to have joined its run's group after accepting)
    t0 = time.time() + (2.0 if mode == "tokens" else 0.5)
    for w in workers:
        w.stdin.write(f"{t0}\n")
        w.stdin.flush()
    emitted = sum(int(w.stdout.readline()) for w in workers)
    summary = json.loads(child.stdout.readline())
    child.wait(30)
    for w in workers:
        w.wait(30)
    wall = time.time() - t0
    lat = summary["latencies"]
    return (processes, mode, "aligned" if aligned else "spread", len(run_ids), args.rate, emitted, summary["received"], summary["received"] / wall,
            statistics.median(lat), pct(lat, 95), pct(lat, 99), max(lat), summary["complete"])


def print_table(rows: list[tuple]) -> None:
    print(f"\n{'emitting processes':>18} {'runs on':>14} {'phases':>8} {'runs':>5} {'ev/s/run':>9} {'emitted':>8} {'received':>9} "
          f"{'ev/s delivered':>15} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'complete':>9}")
    print("-" * 139)
    for (procs, mode, phase, runs, rate, emitted, received, per_s, p50, p95, p99, top, complete) in rows:
        where = {"worker": "run loop", "tokens": "tokens"}.get(mode, "loop per run")
        print(f"{procs:>18} {where:>14} {phase:>8} {runs:>5} {rate:>9.0f} {emitted:>8} {received:>9} {per_s:>15.0f} "
              f"{p50:>7.1f} {p95:>7.1f} {p99:>7.1f} {top:>7.1f} {complete:>5}/{runs}")
    print("\nRows 'tokens': streamed answer text (graphs/runner/token_relay.py: pieces coalesced per run every "
          "KAIZEN_TOKEN_FLUSH_S, 50 ms, then channels_redis -> Daphne -> client; not stored), 'ev/s' = pieces/s; "
          "the latency includes the coalescing wait.")
    print("\nLatency: emit in a run's recorder (an emitting process, as a worker) -> stored -> committed -> channels_redis "
          "(pub/sub) -> Daphne -> websocket client (another process).\nTarget (issue 13): p99 < 25 ms at 1,000 events/s, every client's final "
          "sequence complete.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--setups", default="1:worker:spread,2:worker:spread,1:worker:aligned,1:threads:spread,1:tokens:spread",
                        help="comma-separated processes:mode:phases. processes = emitting processes (as workers); mode "
                             "= worker (a thread per run waiting on the process's run loop, as execute_run does) or "
                             "threads (a thread and an event loop per run, the earlier design); phases = spread "
                             "(events evenly over time) or aligned (every run emits at the same instants); mode tokens: each run "
                             "streams answer text (pieces at --rate per run) instead of storing events")
    parser.add_argument("--clients", help=argparse.SUPPRESS)
    parser.add_argument("--emit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        port, run_ids, cookie, expected = json.loads(args.clients)
        asyncio.run(clients_main(port, run_ids, cookie, expected))
        return
    if args.emit:
        emitters_main(*json.loads(args.emit))
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

    def new_runs() -> list[int]:
        return [Run.objects.create(graph=graph, version=graph.versions.first(), created_by=user, status="running").pk
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
        rows = []
        for setup in args.setups.split(","):
            processes, mode, phases = setup.split(":")
            rows.append(run_benchmark(args, port, new_runs(), cookie, int(processes), mode, phases == "aligned"))
        print_table(rows)
    finally:
        daphne.terminate()
        daphne.wait(10)


if __name__ == "__main__":
    main()
