"""Where a wide fan-out of LLM calls spends its time over the ideal (issue 13): sending, not receiving.

    .venv/bin/python bench/fanout_send.py [--sizes 200,500] [--repeat 3]

For each size n, n agent nodes at once through the engine's OpenAI provider (built once, as a
worker does, with a warm-up run first so connections are pooled), against bench/llm_server.py in
its own process, and two measurements:

- **spread**: the server stamps when each request arrives and when its answer leaves (1 s after);
  printed: the last arrival and the run's end, both from the run's start. ``wall - 1 s`` is close
  to the last arrival: the calls leave one after another on one event loop, and the answers are
  read as fast as they come back.
- **send CPU per call**: the same warm-up, then the run against a server that holds every request, this process's
  CPU time over 1.5 s divided by n (the sends only: no answer comes back), and the same for the
  engine alone (SimulatedProvider with a long latency: node start, prompt, journal, up to the
  provider). The difference is the provider's call up to its socket write: the openai SDK's
  request building, httpx and httpcore's pool, our fencing and probes.

Figures are CPU-bound: compare rows of one invocation, not across hours of a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
from bench import llm_server

class Stamping(llm_server.Server):
    arrived: list = []
    left: list = []

    async def reply(self, method, path, body):
        self.served_all = getattr(self, "served_all", 0) + 1
        if self.served_all > HOLD_AFTER:
            await asyncio.sleep(3600)
        Stamping.arrived.append(time.time())
        out = await super().reply(method, path, body)
        Stamping.left.append(time.time())
        return out

async def main(port, latency, stamps):
    listener = await asyncio.start_server(Stamping(latency).handle, "127.0.0.1", port, backlog=2048)
    print("ready", flush=True)
    async def dump():
        while True:
            await asyncio.sleep(0.2)
            with open(stamps, "w") as f:
                json.dump({"arrived": Stamping.arrived, "left": Stamping.left}, f)
    asyncio.ensure_future(dump())
    async with listener:
        await listener.serve_forever()

HOLD_AFTER = int(sys.argv[5])  # requests answered; the rest are held
asyncio.run(main(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]))
"""


class Server:
    def __init__(self, latency: float, hold_after: int = 10**9) -> None:
        self.stamps = Path(tempfile.mkstemp(prefix="fanout-stamps-")[1])
        from bench.stack import free_port

        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(self.port), str(latency), str(self.stamps),
                                      str(hold_after)], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == b"ready"
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def read(self) -> dict[str, list[float]]:
        time.sleep(0.5)
        return json.loads(self.stamps.read_text())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stamps.unlink(missing_ok=True)


def engine(doc, providers):
    from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
    from graphs.engine.runtime import Engine

    return Engine(doc, run_id="bench", providers=providers, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink())


def openai_providers(url: str):
    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.openai_provider import OpenAIProvider

    return ProviderRegistry({"openai": OpenAIProvider(url, "bench", max_retries=0)}, "openai")


def spread(n: int) -> dict[str, float]:
    """The fan-out section's measurement (a warm-up run, then a timed one); the server's stamps of
    the timed one."""
    from bench import shapes

    server = Server(1.0)
    try:
        wall = shapes.kaizen_llm_fanout(n, server.url)
        end = time.time()
        start = end - wall
        stamps = server.read()
        arrived = stamps["arrived"][n:]
        return {"wall_over_ideal": wall, "last_arrival_ms": (max(arrived) - start) * 1000,
                "after_last_answer_ms": (end - max(stamps["left"][n:])) * 1000}
    finally:
        server.stop()


def send_cpu(n: int, providers_for, warm: bool = True) -> float:
    """CPU ms per call of a run whose calls are all sent and none answered (after a warm-up run that
    is answered: its connections are pooled, as in the spread's timed run)."""
    from bench import shapes

    server = Server(0.0, hold_after=n)
    try:
        providers = providers_for(server.url)
        doc = shapes.kaizen_agent_fanout(n)

        async def main() -> float:
            if warm:
                assert (await engine(doc, providers).run({"task": "t"})).status == "succeeded"
            shapes.settle_heap()
            run = asyncio.ensure_future(engine(doc, providers).run({"task": "t"}))
            started = time.process_time()
            await asyncio.sleep(1.5)
            cpu = time.process_time() - started
            run.cancel()
            try:
                await run
            except BaseException:  # noqa: BLE001  (cancelled mid-call)
                pass
            return cpu * 1000 / n

        return asyncio.run(main())
    finally:
        server.stop()


def simulated(_url: str):
    from graphs.engine.llm import ProviderRegistry
    from graphs.engine.llm.simulated import SimulatedProvider

    return ProviderRegistry({"simulated": SimulatedProvider(60.0)}, "simulated")


def med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,500")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from bench import compare

    compare.like_a_worker_process()
    print(f"{'calls':>6} {'wall/ideal':>10} {'last request arrives':>21} {'end after last answer':>22} "
          f"{'send CPU/call':>14} {'engine alone':>13} {'provider call':>14}")
    for n in [int(s) for s in args.sizes.split(",")]:
        rows = [spread(n) for _ in range(args.repeat)]
        sends = [send_cpu(n, openai_providers) for _ in range(args.repeat)]
        alone = [send_cpu(n, simulated, warm=False) for _ in range(args.repeat)]
        print(f"{n:>6} {med(rows, 'wall_over_ideal'):>10.3f} {med(rows, 'last_arrival_ms'):>18.0f} ms {med(rows, 'after_last_answer_ms'):>19.0f} ms "
              f"{statistics.median(sends):>11.2f} ms {statistics.median(alone):>10.2f} ms "
              f"{statistics.median(sends) - statistics.median(alone):>11.2f} ms")
        print(json.dumps({"calls": n, "spread": rows, "send_cpu_ms": sends, "engine_alone_ms": alone}))
    print(f"(median of {args.repeat}; wall/ideal: the run's wall time over the 1 s every call waits; a call's "
          "CPU: process time while the calls leave, answers held)")


if __name__ == "__main__":
    main()
