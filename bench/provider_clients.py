"""CPU per run spent on the OpenAI provider's HTTP clients: built per run vs shared per process.

    .venv/bin/python bench/provider_clients.py [--runs 60] [--concurrency 20] [--rounds 2]

Each "run" makes two chat calls to the scripted zero-latency server (tests/fakellm.py, in this
process) through the openai SDK. ``per-run`` is how workers ran before: a provider per run whose
eight clients each build the SDK's default transport (an SSL context loading the CA bundle, even
for http://), closed at the run's end. ``shared`` is graphs/engine/llm/clients.py: the process's
pool for the loop. CPU is this process's (client and scripted server), per run; interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_run_transport(config, ssl_context):
    import httpx2

    from graphs.engine.llm.clients import LIMITS

    return httpx2.AsyncHTTPTransport(limits=LIMITS)  # (verify=True: a new CA-loading context, as the SDK's default)


async def one_run(base_url: str, i: int, shared: bool) -> None:
    from graphs.engine.llm import LLMRequest
    from graphs.engine.llm.clients import ClientPool, ConnectionConfig
    from graphs.engine.llm.openai_provider import OpenAIProvider

    pool = None
    if not shared:  # (eight clients made up front, as then)
        pool = ClientPool(per_run_transport, shards=8, fill=0)
        for _ in range(8):
            pool.client(ConnectionConfig(base_url, "bench", 0))
    provider = OpenAIProvider(base_url, "bench", max_retries=0, clients=pool)
    for step in range(2):
        await provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": f"run {i} step {step}"}]))
    await provider.aclose()


async def measure(base_url: str, shared: bool, runs: int, concurrency: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(concurrency)

    async def gated(i: int) -> None:
        async with gate:
            await one_run(base_url, i, shared)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(gated(i) for i in range(runs)))
    return (time.process_time() - cpu) / runs * 1000, runs / (time.perf_counter() - wall)


async def main_async(args) -> None:
    from tests.fakellm import FakeLLM

    fake = FakeLLM().start()
    try:
        await one_run(fake.base_url, 0, True)  # warm up
        rows: dict[str, list[tuple[float, float]]] = {"per-run": [], "shared": []}
        for _ in range(args.rounds):
            for name in rows:
                rows[name].append(await measure(fake.base_url, name == "shared", args.runs, args.concurrency))
    finally:
        fake.stop()
    print(f"{args.runs} runs x 2 calls, {args.concurrency} concurrent, {args.rounds} rounds (median / best)")
    print(f"{'clients':10} {'CPU ms/run':>18} {'runs/s':>18}")
    for name, values in rows.items():
        cpu, rate = zip(*values, strict=True)
        print(f"{name:10} {statistics.median(cpu):8.1f} / {min(cpu):7.1f} {statistics.median(rate):8.1f} / {max(rate):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
