"""Concurrent HTTP clients for bench/compare.py: each starts a run and waits for its result.

Kaizen, one request per run (the default): ``POST /api/graphs/{id}/runs/?wait=30``, answered
when the run has ended (graphs/api/run_wait.py); a run still live after ``wait``, or a server
that answers 202 at once (one without the start-and-wait), is then waited for as below.
Two requests per run (``requests=2``, how clients did it before): ``POST /api/graphs/{id}/runs/``
then ``GET /api/runs/{id}/?wait=30`` until the run is final. Where the server holds that request
until the run settles (the long-poll), one GET is enough; a server without it answers at once,
and the client falls back to polling every ``POLL_S`` (the count of GETs per run is reported, so
it shows which one happened).
n8n: ``POST /webhook/bench`` on a Webhook (respond with the last node) -> Set workflow.
Latency = start request sent -> final result received, per run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

FINAL = {"succeeded", "failed", "interrupted", "cancelled"}
POLL_S = 0.05  # fallback polling interval (without long-poll)
RUN_TIMEOUT_S = 60.0


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, successful runs
    failures: list[str] = field(default_factory=list)
    gets: int = 0
    wall: float = 0.0


async def kaizen_create_graph(base: str, token: str, spec: dict, name: str) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30) as http:
        r = await http.post("/api/graphs/", json={"name": name, "spec": spec})
        if r.status_code != 201:
            raise RuntimeError(f"graph create: {r.status_code} {r.text[:500]}")
        return r.json()["id"]


async def kaizen_start(http, graph_id: int, inputs: dict) -> int:
    r = await http.post(f"/api/graphs/{graph_id}/runs/", json={"inputs": inputs})
    if r.status_code != 202:
        raise RuntimeError(f"start: {r.status_code} {r.text[:300]}")
    return r.json()["id"]


async def kaizen_start_and_wait(http, graph_id: int, inputs: dict, res: Result, deadline: float) -> tuple[int, str]:
    """One request: the run's id and its status once ended (a live one is waited for with GETs)."""
    r = await http.post(f"/api/graphs/{graph_id}/runs/", params={"wait": "30"}, json={"inputs": inputs}, timeout=40)
    if r.status_code not in (201, 202):
        raise RuntimeError(f"start: {r.status_code} {r.text[:300]}")
    body = r.json()
    if body["status"] in FINAL:
        return body["id"], body["status"]
    return body["id"], await kaizen_wait(http, body["id"], res, deadline)


async def kaizen_wait(http, run_id: int, res: Result, deadline: float) -> str:
    while True:
        asked = time.monotonic()
        r = await http.get(f"/api/runs/{run_id}/", params={"wait": "30"}, timeout=40)
        res.gets += 1
        if r.status_code != 200:
            raise RuntimeError(f"get: {r.status_code} {r.text[:300]}")
        status = r.json()["status"]
        if status in FINAL:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {status}")
        if time.monotonic() - asked < POLL_S:
            await asyncio.sleep(POLL_S)


async def _drive(one, n_runs: int, clients: int, limit_s: float) -> Result:
    """``clients`` loops take runs from a shared counter until ``n_runs`` started or ``limit_s`` is
    up; so a measurement lasts at most limit_s + RUN_TIMEOUT_S."""
    res = Result()
    counter = iter(range(n_runs))
    stop_at = time.monotonic() + limit_s

    async def client() -> None:
        async with _client() as http:
            for _ in counter:
                if time.monotonic() > stop_at:
                    return
                t0 = time.monotonic()
                try:  # (no new run after limit_s; one in flight may take RUN_TIMEOUT_S)
                    await one(http, res, t0 + RUN_TIMEOUT_S)
                    res.latencies.append(time.monotonic() - t0)
                except Exception as exc:  # noqa: BLE001  (counted and shown, not fatal)
                    res.failures.append(f"{type(exc).__name__}: {exc}"[:200])

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    res.wall = time.monotonic() - started
    return res


def _client():
    import httpx

    return httpx.AsyncClient(timeout=40, limits=httpx.Limits(max_connections=4, max_keepalive_connections=4))


def kaizen_load(base: str, token: str, graph_id: int, n_runs: int, clients: int, limit_s: float, requests: int = 1) -> Result:
    """``requests``: 1, start-and-wait in one request; 2, start then GET ?wait= (see the top)."""
    headers = {"Authorization": f"Token {token}"}

    async def one(http, res: Result, deadline: float) -> None:
        if requests == 1:
            run_id, status = await kaizen_start_and_wait(http, graph_id, {"task": "t"}, res, deadline)
        else:
            run_id = await kaizen_start(http, graph_id, {"task": "t"})
            status = await kaizen_wait(http, run_id, res, deadline)
        if status != "succeeded":
            raise RuntimeError(f"run {run_id} {status}")

    async def main() -> Result:
        async def bound(http, res, deadline):
            return await one(_Bound(http, base, headers), res, deadline)
        return await _drive(bound, n_runs, clients, limit_s)

    return asyncio.run(main())


def n8n_load(webhook: str, n_runs: int, clients: int, limit_s: float) -> Result:
    async def one(http, res: Result, deadline: float) -> None:
        r = await http.post(webhook, json={"task": "t"}, timeout=max(1.0, deadline - time.monotonic()))
        if r.status_code != 200 or "result" not in r.text:
            raise RuntimeError(f"webhook: {r.status_code} {r.text[:200]}")

    return asyncio.run(_drive(one, n_runs, clients, limit_s))


class _Bound:
    """An httpx client bound to a base URL and headers (one connection pool per client loop)."""

    def __init__(self, http, base: str, headers: dict[str, str]) -> None:
        self.http, self.base, self.headers = http, base, headers

    async def post(self, path: str, **kw):
        return await self.http.post(self.base + path, headers=self.headers, **kw)

    async def get(self, path: str, **kw):
        return await self.http.get(self.base + path, headers=self.headers, **kw)


def start_many(base: str, token: str, graph_id: int, n_runs: int, clients: int = 20, limit_s: float = 120) -> list[int]:
    """Start ``n_runs`` runs as fast as ``clients`` can, without waiting for them."""
    ids: list[int] = []
    headers = {"Authorization": f"Token {token}"}

    async def one(http, res: Result, deadline: float) -> None:
        ids.append(await kaizen_start(_Bound(http, base, headers), graph_id, {"task": "t"}))

    res = asyncio.run(_drive(one, n_runs, clients, limit_s))
    if res.failures:
        raise RuntimeError(f"{len(res.failures)} starts failed: {res.failures[:3]}")
    return ids
