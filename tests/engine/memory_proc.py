"""One process sharing a memory session with another (tests/engine/test_memory_adapter.py runs
two): ``python -m tests.engine.memory_proc OWNER SESSION ME PEER ROUNDS``.

First in lockstep: append my i-th turn, then load until the peer's i-th turn shows (with the hot
tier on, a process that served its own stale copy would wait forever). Then free-running:
load and append with no coordination at all. Prints JSON: the tiers that served the loads."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaizen_web.settings")
django.setup()

from graphs.engine.memory import TierPolicy  # noqa: E402
from graphs.memory_adapter import build_memory  # noqa: E402

POLICY = TierPolicy(hot_promotion_threshold=1, warm_promotion_threshold=1, max_turns=10_000)


async def main(owner: int, session: str, me: str, peer: str, rounds: int) -> None:
    memory = build_memory()
    served: list[str] = []
    for i in range(rounds):
        await memory.append(owner, session, [{"user": f"{me}-{i}", "assistant": "ok"}], POLICY.max_turns, POLICY)
        deadline = time.monotonic() + 30
        while True:
            view = await memory.load(owner, session, POLICY)
            served.append(view.served_from)
            users = [t["user"] for t in view.turns]
            if f"{peer}-{i}" in users:
                break
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"{me} never saw {peer}-{i}", "turns": users}))
                sys.exit(1)
            await asyncio.sleep(0.002)
    for i in range(rounds):
        await memory.load(owner, session, POLICY)
        await memory.append(owner, session, [{"user": f"{me}-free-{i}", "assistant": "ok"}], POLICY.max_turns, POLICY)
    print(json.dumps({"served": served}))


if __name__ == "__main__":
    owner, session, me, peer, rounds = sys.argv[1:6]
    asyncio.run(main(int(owner), session, me, peer, int(rounds)))
