"""Where a run's time goes: the no-LLM run path under load, stage by stage (issue 13).

    .venv/bin/python bench/run_path.py [--runs 300] [--clients 20] [--requests 1|2|both] [--rounds N]
                                       [--case no-llm|2-agent] [--profile DIR] [--redis-url URL]

Starts the distributed stack as bench/compare.py does (PostgreSQL, Redis, kaizen_serve's web
processes, 2 Celery worker processes), lets ``--clients`` clients each start a run of the
no-LLM graph (``@inputs -> join -> @outputs``; ``--case 2-agent``: the 2-agent chain against the
zero-latency scripted server, as in bench/compare.py) and wait for its result: in one request,
``POST .../runs/?wait=30`` (``--requests 1``, the default), or with a POST and then one
``GET ?wait=30`` (``--requests 2``); ``both`` measures the two interleaved (1, 2, 1, 2...) on the
same stack, ``--rounds`` times. Then it splits every run's latency by the timestamps the stack
stores anyway (one clock: one machine):

    sent      the client sends POST                       (client)
    accepted  run_start's INSERT                          (Run.enqueued_at, web process)
    answered  the client has the 202                      (client; two requests only)
    claimed   a worker's claim                            (Run.started_at)
    started   the engine's run_started event              (first RunEvent.created_at)
    ended     the engine's run_finished event             (last RunEvent.created_at)
    final     the driver's final fields                   (Run.finished_at; committed after)
    result    the client has the final body               (client)

and prints the median and p90 of each stage, per measurement, and at the end one line per
measurement: runs/s and CPU ms per run of each process group. With ``--profile DIR``, py-spy records the web and
worker processes meanwhile (samples on CPU only) and the top frames of our code are
printed per process group (inclusive and self samples); the CPU seconds each process group spent per run are
printed too (web, workers, the database's backends of the bench database, the client).
Machines are shared: compare stages and profiles of one invocation, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = [("sent", "accepted", "web: request -> INSERT"), ("accepted", "answered", "web: INSERT -> 202 received"),
          ("accepted", "claimed", "queue: INSERT -> worker claim"), ("claimed", "started", "worker: claim -> run_started"),
          ("started", "ended", "engine: run_started -> run_finished"), ("ended", "final", "worker: run_finished -> final fields"),
          ("final", "result", "final fields -> client has the result"), ("sent", "result", "total")]


def drive(base: str, token: str, graph_id: int, runs: int, clients: int, requests: int = 1) -> tuple[dict[int, dict[str, float]], float]:
    """Client-side timestamps (time.time()) per run id, and the wall time of the whole load;
    ``requests``: 1, start and wait in one request; 2, start, then GET ?wait=."""
    import httpx

    from bench.load import FINAL

    stamps: dict[int, dict[str, float]] = {}
    failures: list[str] = []
    counter = iter(range(runs))
    headers = {"Authorization": f"Token {token}"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            for _ in counter:
                try:
                    sent = time.time()
                    r = await http.post(f"/api/graphs/{graph_id}/runs/", json={"inputs": {"task": "t"}},
                                        params={"wait": "30"} if requests == 1 else None)
                    answered = time.time()
                    if r.status_code != (201 if requests == 1 else 202):
                        raise RuntimeError(f"start: {r.status_code} {r.text[:300]}")
                    run_id, status = r.json()["id"], r.json()["status"]
                    while status not in FINAL:
                        g = await http.get(f"/api/runs/{run_id}/", params={"wait": "30"})
                        if g.status_code != 200:
                            raise RuntimeError(f"get: {g.status_code} {g.text[:300]}")
                        status = g.json()["status"]
                    stamps[run_id] = {"sent": sent, "result": time.time(), **({"answered": answered} if requests == 2 else {})}
                except Exception as exc:  # noqa: BLE001  (counted and shown: a shared server may refuse now and then)
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.monotonic() - started

    wall = asyncio.run(main())
    if failures:
        print(f"# {len(failures)} runs failed; the first: {failures[0]}", file=sys.stderr)
    return stamps, wall


def server_stamps(db_url: str, stamps: dict[int, dict[str, float]]) -> None:
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT r.id, r.enqueued_at, r.started_at, r.finished_at, "
            "(SELECT min(created_at) FROM graphs_runevent e WHERE e.run_id = r.id AND e.event = 'run_started'), "
            "(SELECT max(created_at) FROM graphs_runevent e WHERE e.run_id = r.id AND e.event = 'run_finished') "
            "FROM graphs_run r WHERE r.id = ANY(%s)", [list(stamps)]).fetchall()
    for run_id, accepted, claimed, final, started, ended in rows:
        stamps[run_id].update({k: v.timestamp() for k, v in (("accepted", accepted), ("claimed", claimed), ("final", final),
                                                              ("started", started), ("ended", ended)) if v is not None})


def stage_table(stamps: dict[int, dict[str, float]]) -> list[str]:
    lines = [f"{'stage':44} {'p50 ms':>8} {'p90 ms':>8}"]
    for a, b, label in STAGES:
        values = sorted((s[b] - s[a]) * 1000 for s in stamps.values() if a in s and b in s)
        if values:
            p90 = values[min(len(values) - 1, int(0.9 * (len(values) - 1)))]
            lines.append(f"{label:44} {statistics.median(values):8.1f} {p90:8.1f}")
    return lines


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def postgres_pids(db_url: str, db: str) -> list[int]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                           [db]).fetchall()]


def summarize_profile(path: Path, top: int = 25) -> list[str]:
    """py-spy's raw (collapsed) stacks: inclusive samples per frame of our code, and self samples
    per leaf frame (any code), as shares of all samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaf[frames[-1]] += n
        ours = {f for f in frames if any(p in f for p in ("graphs/", "audit/", "kaizen_web/", "apitokens/", "workspaces/"))}
        for f in ours:
            inclusive[f] += n
    if not total:
        return [f"{path.name}: no samples"]
    out = [f"{path.name}: {total} samples on CPU", "  inclusive (our frames):"]
    out += [f"    {100 * n / total:5.1f}%  {f[:150]}" for f, n in inclusive.most_common(top)]
    out += ["  self (leaf frames):"]
    out += [f"    {100 * n / total:5.1f}%  {f[:150]}" for f, n in leaf.most_common(top)]
    return out


def main() -> None:
    from bench import shapes, stack
    from bench.load import kaizen_create_graph

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                        help="a Redis database the bench may flush")
    parser.add_argument("--requests", choices=("1", "2", "both"), default="1",
                        help="per run: 1, POST ?wait=30; 2, POST then GET ?wait=30; both: interleaved")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each --requests form")
    parser.add_argument("--case", choices=("no-llm", "2-agent"), default="no-llm",
                        help="the graph: no LLM call, or 2 agents on a zero-latency scripted server")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the web and worker processes (raw stacks into DIR)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    args = parser.parse_args()

    cleanup = stack.Cleanup(keep_dirs=args.keep)
    cleanup.install_handlers()
    try:
        llm = stack.fake_llm(cleanup, 0.0) if args.case == "2-agent" else "http://127.0.0.1:9/v1"
        kaizen = stack.Kaizen(cleanup, "distributed", llm, args.redis_url, workers=args.workers, tag="_path").start()
        spec = shapes.two_agent_chain() if args.case == "2-agent" else shapes.no_llm_graph()
        graph_id = asyncio.run(kaizen_create_graph(kaizen.base, kaizen.token, spec, f"run path {args.case}"))
        forms = [1, 2] if args.requests == "both" else [int(args.requests)]
        for requests in forms:  # warm-up
            drive(kaizen.base, kaizen.token, graph_id, args.clients * 2, args.clients, requests)
        spies: list[tuple[Path, subprocess.Popen]] = []
        if args.profile:
            out = Path(args.profile)
            out.mkdir(parents=True, exist_ok=True)
            spy = str(Path(sys.executable).parent / "py-spy")
            for name, proc in [("web", kaizen.web), *((f"worker{i}", p) for i, p in enumerate(kaizen.worker_procs))]:
                path = out / f"{name}.txt"
                spies.append((path, subprocess.Popen([spy, "record", "--pid", str(proc.pid), "--subprocesses",
                                                      "--rate", "100", "--format", "raw", "--output", str(path)],
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            time.sleep(1.0)
        summary = []
        try:
            for round_ in range(args.rounds):
                for requests in forms:
                    load_before = os.getloadavg()[0]
                    groups = {"web": tree(kaizen.web.pid), **{f"worker{i}": tree(p.pid) for i, p in enumerate(kaizen.worker_procs)},
                              "postgres": postgres_pids(stack.pg_url(kaizen.db), kaizen.db)}
                    before = {name: cpu_s(pids) for name, pids in groups.items()}
                    me = time.process_time()
                    stamps, wall = drive(kaizen.base, kaizen.token, graph_id, args.runs, args.clients, requests)
                    cpu = {name: cpu_s(pids) - before[name] for name, pids in groups.items()}
                    cpu["client"] = time.process_time() - me
                    server_stamps(stack.pg_url(kaizen.db), stamps)
                    per_run = "  ".join(f"{k} {1000 * v / max(1, len(stamps)):.1f}" for k, v in cpu.items())
                    head = (f"{requests} request{'s' if requests > 1 else ''}, round {round_}: {len(stamps)} runs, "
                            f"{args.clients} clients, {len(stamps) / wall:.1f} runs/s")
                    print(f"# {head}, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
                    print("\n".join(stage_table(stamps)))
                    print(f"{'CPU per run (ms)':44} {per_run}", flush=True)
                    summary.append(f"{head}; CPU ms per run: {per_run}")
        finally:
            for _path, proc in spies:
                proc.send_signal(2)
                proc.wait(60)
        print("\n# summary\n" + "\n".join(summary))
        for path, _proc in spies:
            if path.exists():
                print("\n".join(summarize_profile(path)))
        kaizen.stop()
    finally:
        cleanup.close()


if __name__ == "__main__":
    main()
