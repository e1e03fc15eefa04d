"""Kaizen Web side by side with n8n and LangGraph, in one invocation (issue 13, item 5).

    .venv/bin/python bench/compare.py [--quick] [--only fullstack,nodes,fanout,scale] [--rounds N]

Prints a JSON line per measurement as it is taken, then one table: min and median over the
rounds, the target and whether it is met. The systems are interleaved (A, B, A, B...) in every
round, because the machine is noisy. Sections:

- fullstack: 20 concurrent clients each start a run through the API and wait for its result
  (one request, ``POST .../runs/?wait=30``; ``--requests 2``: POST, then ``GET ?wait=30``):
  a graph with no LLM call (``@inputs -> join -> @outputs``) and a 2-agent chain against a
  zero-latency scripted OpenAI-compatible server; Kaizen distributed (PostgreSQL + Redis, Daphne,
  2 Celery worker processes) and embedded (kaizen_serve on SQLite), beside n8n (Webhook -> Set,
  one instance, executions saved). runs/s and p50/p99 start-to-result.
- nodes: per-node overhead of no-op nodes, chain and fan-out, 50 to 2,000 nodes, in memory and
  with PostgreSQL checkpoints, beside LangGraph with InMemorySaver and PostgresSaver (in memory
  a measurement is the best of 3 invocations after a warm-up; with PostgreSQL one, after a warm-up).
- fanout: 200 and 500 parallel LLM calls of 1 s each, wall / ideal, beside LangGraph and a
  floor (the same calls over raw sockets: what the server and the machine allow), against
  bench/llm_server.py (the scripted server's answers from one asyncio loop: tests/fakellm.py's
  thread per connection alone held 200 raw calls to 1.26-1.28).
  (nodes and fanout run in this process, its start-up heap frozen first and the collector's
  young threshold raised, as Kaizen's web and worker processes do: kaizen_web/heap.py; the same
  for both systems.)
- scale: runs/s against 1, 2, 4 worker processes; a worker's RSS and PostgreSQL connections
  with 100 and 500 concurrent runs.

Needs PostgreSQL and Redis on loopback (scripts/test starts them) and the `bench` extra
(installed into .venv on first use); n8n is installed from npm into bench/.n8n on first use.
Every database, process and temp dir it creates is removed on exit, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTIONS = ("fullstack", "nodes", "fanout", "scale")


def ensure_bench_extra() -> None:
    """The `bench` extra (LangGraph, pinned in pyproject.toml) into this interpreter, once."""
    try:
        import langgraph  # noqa: F401
        import langgraph.checkpoint.postgres  # noqa: F401
    except ImportError:
        # Constrained by requirements.lock (its pins without the hashes, which pip refuses beside an
        # editable install), so adding LangGraph moves none of the packages the suite was locked with.
        print("# installing the bench extra: pip install -c <lock pins> -e '.[bench]'", file=sys.stderr)
        lock = (ROOT / "requirements.lock").read_text().splitlines()
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
            pins.write("\n".join(line.removesuffix(" \\") for line in lock if line[:1].isalnum()) + "\n")
            pins.flush()
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", pins.name, "-e", f"{ROOT}[bench]"],
                           check=True, timeout=900)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


@dataclass
class Report:
    """Measurements (one JSON line each, printed at once) and their summary table."""

    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, case: str, system: str, round_: int, **metrics) -> dict:
        row = {"section": section, "case": case, "system": system, "round": round_,
               **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()},
               "load1": round(os.getloadavg()[0], 2)}  # the machine's load average: is this figure trustworthy?
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        return row

    def values(self, section: str, case: str, system: str, metric: str) -> list[float]:
        return [r[metric] for r in self.rows if r["section"] == section and r["case"] == case
                and r["system"] == system and isinstance(r.get(metric), int | float)]

    def median(self, section: str, case: str, system: str, metric: str) -> float | None:
        v = self.values(section, case, system, metric)
        return statistics.median(v) if v else None


# --- fullstack ---------------------------------------------------------------------------------

def section_fullstack(rep: Report, cleanup, args) -> None:
    from bench import load, shapes, stack

    llm = stack.fake_llm(cleanup, 0.0)
    systems: dict[str, object] = {}
    graphs: dict[tuple[str, str], int] = {}
    # kaizen-distributed: KAIZEN_WEB_PROCESSES web processes (default one per core) with the API's
    # fast path; --baseline adds the same stack as it was before both: one web process, DRF only.
    modes = [("distributed", "kaizen-distributed", {}), ("embedded", "kaizen-embedded", {})]
    if args.baseline:
        modes.insert(1, ("distributed", "kaizen-distributed-before", {"KAIZEN_WEB_PROCESSES": "1", "KAIZEN_FAST_API": "0"}))
    for mode, name, extra in modes:
        redis_url = stack.private_redis(cleanup) if name == "kaizen-distributed-before" else args.redis_url
        k = stack.Kaizen(cleanup, mode, llm, redis_url, workers=2, extra_env=extra,
                         tag=name.removeprefix(f"kaizen-{mode}").replace("-", "_")).start()
        systems[name] = k
        for case, spec in (("no-llm", shapes.no_llm_graph()), ("2-agent", shapes.two_agent_chain())):
            graphs[(name, case)] = asyncio.run(load.kaizen_create_graph(k.base, k.token, spec, f"bench {case}"))
    if not args.no_n8n:
        try:
            systems["n8n"] = stack.N8n(cleanup).start()
        except Exception as exc:  # noqa: BLE001  (the Kaizen rows still stand; say why n8n is missing)
            rep.notes.append(f"n8n not measured: {exc}"[:500])
            print(f"# {rep.notes[-1]}", file=sys.stderr)
    n, clients, limit = args.fs_runs, 20, args.fs_limit

    def measure(system: str, case: str, round_: int, runs: int) -> None:
        target = systems[system]
        if system == "n8n":
            res = load.n8n_load(target.webhook, runs, clients, limit)
        else:
            spies = profile(args, target, f"{system}-{case}") if round_ == 0 and system == "kaizen-distributed" else []
            try:
                res = load.kaizen_load(target.base, target.token, graphs[(system, case)], runs, clients, limit, args.requests)
            finally:
                for spy in spies:
                    spy.send_signal(2)  # (py-spy writes its samples on SIGINT)
                    spy.wait(60)
        if round_ < 0:
            return  # warm-up
        lat = res.latencies
        rep.add("fullstack", case, system, round_, runs=len(lat), failures=len(res.failures),
                runs_per_s=len(lat) / res.wall if res.wall else 0.0, p50_ms=pct(lat, 50) * 1000 if lat else None,
                p99_ms=pct(lat, 99) * 1000 if lat else None, gets_per_run=(res.gets / max(1, len(res.latencies) + len(res.failures)))
                if system != "n8n" else None, first_failure=res.failures[0] if res.failures else None)

    wanted = set(args.cases.split(","))
    cases = [(case, names) for case, names in (("no-llm", list(systems)), ("2-agent", [s for s in systems if s != "n8n"]))
             if case in wanted]
    for case, names in cases:
        for name in names:
            measure(name, case, -1, clients)
    for round_ in range(args.rounds):
        for case, names in cases:
            for name in (names if round_ % 2 == 0 else list(reversed(names))):
                measure(name, case, round_, n)
    if "n8n" in systems:
        saved = systems["n8n"].executions_saved()
        rep.notes.append(f"n8n executions saved in its database: {saved}")
    for s in systems.values():
        s.stop()


def profile(args, target, label: str) -> list[subprocess.Popen]:
    """py-spy (the bench extra) on the web processes and the workers of ``target`` while a
    measurement runs: collapsed stacks into --profile DIR, one file per process group."""
    if not args.profile:
        return []
    import shutil

    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, proc in [("web", target.web), *((f"worker{i}", p) for i, p in enumerate(target.worker_procs))]:
        spies.append(subprocess.Popen([spy, "record", "--pid", str(proc.pid), "--subprocesses", "--idle", "--rate", "50",
                                       "--format", "raw", "--output", str(out / f"{label}-{name}.txt")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)  # (attached before the load starts)
    return spies


# --- nodes -------------------------------------------------------------------------------------

def setup_django(cleanup, args) -> None:
    """Django in this process, on a database of the bench's own (for the worker's code path)."""
    import django

    from bench import stack

    if getattr(setup_django, "done", False):
        return
    db = f"kaizen_bench_nodes_{os.getpid()}"
    url = cleanup.create_db(db)
    for key in stack.DROP_ENV:
        os.environ.pop(key, None)
    os.environ.update(DATABASE_URL=url, REDIS_URL=args.redis_url, DJANGO_SETTINGS_MODULE="kaizen_web.settings",
                      KAIZEN_VAR_DIR=str(cleanup.tempdir("django")), KAIZEN_LOG_LEVEL="WARNING", DJANGO_DEBUG="0",
                      KAIZEN_SIMULATED_LATENCY_S="0")
    stack.bench_secrets()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    setup_django.done, setup_django.url = True, url


def like_a_worker_process() -> None:
    """Freeze what this process has loaded and raise the young threshold, as web and worker
    processes do once started (kaizen_web/heap.py): a full collection then walks what the runs
    made, not the libraries (Django, the openai SDK, LangGraph), for Kaizen and LangGraph alike."""
    import langgraph.graph  # noqa: F401
    from langgraph.checkpoint.postgres import PostgresSaver  # noqa: F401

    import graphs.engine.llm.openai_provider  # noqa: F401
    import graphs.engine.runtime  # noqa: F401
    from kaizen_web.heap import freeze_heap

    freeze_heap()


def section_nodes(rep: Report, cleanup, args) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.postgres import PostgresSaver

    from bench import shapes

    setup_django(cleanup, args)
    like_a_worker_process()
    budget_s = args.node_budget
    over: set[tuple[str, str]] = set()  # (system, shape) whose last size took over the budget
    with PostgresSaver.from_conn_string(setup_django.url) as pg_saver:
        pg_saver.setup()
        counter = iter(range(10**9))

        def kaizen(shape: str, n: int, backend: str) -> float:
            doc = shapes.kaizen_chain(n) if shape == "chain" else shapes.kaizen_fanout(n)
            return shapes.kaizen_memory_time(doc, repeat=3) if backend == "memory" else shapes.kaizen_pg_time(doc)

        def langgraph(shape: str, n: int, backend: str) -> float:
            saver = InMemorySaver() if backend == "memory" else pg_saver
            build = shapes.lg_chain if shape == "chain" else shapes.lg_fanout
            shapes.lg_time(build(10, saver), 10, f"w{next(counter)}", "sync")  # warm-up: imports, connection, caches
            graph = build(n, saver)
            return shapes.lg_time(graph, n, f"t{next(counter)}", "sync", repeat=3 if backend == "memory" else 1)

        shapes.kaizen_pg_time(shapes.kaizen_chain(10))  # warm-up: connections, imports, the writer thread
        systems = {"kaizen-memory": (kaizen, "memory"), "langgraph-memory": (langgraph, "memory"),
                   "kaizen-postgres": (kaizen, "postgres"), "langgraph-postgres": (langgraph, "postgres")}
        for round_ in range(args.rounds):
            for n in args.node_sizes:
                for shape in ("chain", "fanout"):
                    names = list(systems) if round_ % 2 == 0 else list(reversed(systems))
                    for name in names:
                        if (name, shape) in over:
                            continue
                        fn, backend = systems[name]
                        try:
                            wall = fn(shape, n, backend)
                        except Exception as exc:  # noqa: BLE001
                            rep.add("nodes", f"{shape} {n}", name, round_, error=f"{type(exc).__name__}: {exc}"[:300])
                            continue
                        rep.add("nodes", f"{shape} {n}", name, round_, nodes=n, wall_s=wall, ms_per_node=wall * 1000 / n)
                        if wall > budget_s:
                            over.add((name, shape))
                            rep.notes.append(f"{name} {shape}: {n} nodes took {wall:.1f} s (> {budget_s} s), larger sizes skipped")


# --- fanout ------------------------------------------------------------------------------------

def section_fanout(rep: Report, cleanup, args) -> None:
    from bench import shapes, stack

    like_a_worker_process()
    latency = 1.0
    llm = stack.fake_llm(cleanup, latency, lean=args.fanout_server == "lean")
    # ("floor": the same calls from raw sockets, no client work to speak of: what the server and
    # the machine allow, so the rows above it show the clients' own cost)
    systems = {"kaizen": shapes.kaizen_llm_fanout, "langgraph": shapes.lg_llm_fanout, "floor": shapes.raw_llm_fanout}
    for round_ in range(args.rounds):
        for n in args.fanout_sizes:
            for name in (list(systems) if round_ % 2 == 0 else list(reversed(systems))):
                try:
                    wall = systems[name](n, llm)
                except Exception as exc:  # noqa: BLE001
                    rep.add("fanout", f"{n} x 1 s", name, round_, error=f"{type(exc).__name__}: {exc}"[:300])
                    continue
                rep.add("fanout", f"{n} x 1 s", name, round_, calls=n, wall_s=wall, wall_over_ideal=wall / latency)


# --- scale -------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory of a process and the members of its process group (Celery's children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError, ValueError):
            continue
    return total / 1024


def _start_into(ids: list[int], base: str, token: str, graph_id: int, n: int) -> None:
    from bench import load

    try:
        ids.extend(load.start_many(base, token, graph_id, n))
    except Exception as exc:  # noqa: BLE001  (the sampler reports how many started)
        print(f"# starting runs: {exc}"[:300], file=sys.stderr)


def section_scale(rep: Report, cleanup, args) -> None:
    import psycopg

    from bench import load, shapes, stack

    llm = stack.fake_llm(cleanup, 0.0)
    k = stack.Kaizen(cleanup, "distributed", llm, args.redis_url, workers=0, tag="_scale").start()
    gid = asyncio.run(load.kaizen_create_graph(k.base, k.token, shapes.two_agent_chain(), "bench scale"))
    for round_ in range(args.rounds):
        counts = args.worker_counts if round_ % 2 == 0 else list(reversed(args.worker_counts))
        for w in counts:
            procs = k.start_workers(w, concurrency=8)
            load.kaizen_load(k.base, k.token, gid, 2 * w, 2 * w, args.fs_limit, args.requests)  # warm-up: a run or two per process
            res = load.kaizen_load(k.base, k.token, gid, args.scale_runs, 20, args.fs_limit, args.requests)
            lat = res.latencies
            rep.add("scale", f"workers={w}", "kaizen-distributed", round_, runs=len(lat), failures=len(res.failures),
                    runs_per_s=len(lat) / res.wall, p50_ms=pct(lat, 50) * 1000 if lat else None,
                    p99_ms=pct(lat, 99) * 1000 if lat else None, first_failure=res.failures[0] if res.failures else None)
            for p in procs:
                cleanup.stop(p)
            k.worker_procs.clear()
            k.discard_unfinished()  # runs that timed out must not load the next configuration
    k.stop()

    # Concurrent runs held by one worker: LLM calls slow enough that every run is in flight at once.
    for n in args.concurrent_runs:
        latency = max(5.0, n / 25)
        slow = stack.fake_llm(cleanup, latency)
        k = stack.Kaizen(cleanup, "distributed", slow, args.redis_url, workers=0, tag=f"_c{n}").start()
        gid = asyncio.run(load.kaizen_create_graph(k.base, k.token, shapes.two_agent_chain(), "bench concurrent"))
        (proc,) = k.start_workers(1, concurrency=n)
        base_rss = rss_mb(proc.pid)
        peak = {"running": 0, "conns": 0, "rss": base_rss}
        guard_hit = False
        with psycopg.connect(stack.pg_url(k.db), autocommit=True) as conn:
            # (started from a thread: the sampler below runs while the clients start runs)
            import threading

            started: list[int] = []
            starter = threading.Thread(target=_start_into, args=(started, k.base, k.token, gid, n), daemon=True)
            starter.start()
            deadline = time.monotonic() + 4 * latency + 120
            while time.monotonic() < deadline:
                running, pending = conn.execute(
                    "select count(*) filter (where status = 'running'), count(*) filter (where status in ('queued', 'running')) "
                    "from graphs_run").fetchone()
                # (this stack's database only: other benches on the same server name their workers alike)
                conns = conn.execute("select count(*) from pg_stat_activity where application_name like 'bench-worker-%%' "
                                     "and datname = %s", (k.db,)).fetchone()[0]
                peak["running"] = max(peak["running"], running)
                peak["conns"] = max(peak["conns"], conns)
                peak["rss"] = max(peak["rss"], rss_mb(proc.pid))
                if conns > args.max_db_conns:
                    guard_hit = True  # protect the shared server's connection limit: stop here
                    rep.notes.append(f"{n} concurrent runs: the worker held {conns} connections (> guard "
                                     f"{args.max_db_conns}); measurement stopped early")
                    break
                if not starter.is_alive() and pending == 0:
                    break
                time.sleep(0.25)
            starter.join(1)
            done = conn.execute("select status, count(*) from graphs_run group by status").fetchall()
        rep.add("scale", f"{n} concurrent runs, 1 worker", "kaizen-distributed", 0, runs_started=len(started),
                peak_running=peak["running"], peak_db_conns=peak["conns"], guard_stopped=guard_hit,
                rss_idle_mb=base_rss, rss_peak_mb=peak["rss"], statuses=dict(done), llm_latency_s=latency)
        k.stop()


# --- table -------------------------------------------------------------------------------------

def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(rep: Report, args) -> None:
    lines: list[tuple] = []  # (section, case, system, metric, min, median, target, met)

    def summary(section, case, system, metric, target=None, ok=None):
        v = rep.values(section, case, system, metric)
        if not v:
            return
        lines.append((section, case, system, metric, min(v), statistics.median(v), target or "", "" if ok is None else ("yes" if ok else "NO")))

    med = rep.median
    n8n = med("fullstack", "no-llm", "n8n", "runs_per_s")
    for case in ("no-llm", "2-agent"):
        for system in ("kaizen-distributed", "kaizen-distributed-before", "kaizen-embedded", "n8n"):
            rps = med("fullstack", case, system, "runs_per_s")
            p99 = med("fullstack", case, system, "p99_ms")
            rps_t = rps_ok = p99_t = p99_ok = None
            if system.startswith("kaizen") and system != "kaizen-distributed-before" and n8n:
                factor = 4 if case == "no-llm" else 1
                rps_t, rps_ok = f">= {factor}x n8n ({factor * n8n:.1f})", rps is not None and rps >= factor * n8n
            if system in ("kaizen-distributed", "kaizen-embedded") and case == "no-llm":
                p99_t, p99_ok = "< 150 ms", p99 is not None and p99 < 150
            summary("fullstack", case, system, "runs_per_s", rps_t, rps_ok)
            summary("fullstack", case, system, "p50_ms")
            summary("fullstack", case, system, "p99_ms", p99_t, p99_ok)
            summary("fullstack", case, system, "gets_per_run")
            if any(rep.values("fullstack", case, system, "failures")):
                summary("fullstack", case, system, "failures")
    smallest = min(args.node_sizes)
    for n in args.node_sizes:
        for shape in ("chain", "fanout"):
            case = f"{shape} {n}"
            for backend, factor in (("memory", 0.5), ("postgres", 1.0)):
                k = med("nodes", case, f"kaizen-{backend}", "ms_per_node")
                lg = med("nodes", case, f"langgraph-{backend}", "ms_per_node")
                t, ok = (f"<= {factor}x LangGraph ({factor * lg:.3f})", k is not None and k <= factor * lg) if lg else (None, None)
                if n == max(args.node_sizes) and n != smallest and k is not None:
                    base = med("nodes", f"{shape} {smallest}", f"kaizen-{backend}", "ms_per_node")
                    if base:
                        t = (t + "; " if t else "") + f"<= 1.2x {smallest} nodes ({1.2 * base:.3f})"
                        ok = (ok is not False) and k <= 1.2 * base
                summary("nodes", case, f"kaizen-{backend}", "ms_per_node", t, ok)
                summary("nodes", case, f"langgraph-{backend}", "ms_per_node")
    for n in args.fanout_sizes:
        case = f"{n} x 1 s"
        limit = {200: 1.10, 500: 1.25}.get(n)
        k = med("fanout", case, "kaizen", "wall_over_ideal")
        summary("fanout", case, "kaizen", "wall_over_ideal", f"<= {limit}" if limit else None,
                (k is not None and k <= limit) if limit else None)
        summary("fanout", case, "langgraph", "wall_over_ideal")
        summary("fanout", case, "floor", "wall_over_ideal")
    for w in args.worker_counts:
        summary("scale", f"workers={w}", "kaizen-distributed", "runs_per_s")
        summary("scale", f"workers={w}", "kaizen-distributed", "p99_ms")
        if any(rep.values("scale", f"workers={w}", "kaizen-distributed", "failures")):
            summary("scale", f"workers={w}", "kaizen-distributed", "failures")
    for n in args.concurrent_runs:
        case = f"{n} concurrent runs, 1 worker"
        conns = med("scale", case, "kaizen-distributed", "peak_db_conns")
        t = "<= 10 (at 500 runs)" if n == 500 else None
        summary("scale", case, "kaizen-distributed", "peak_db_conns", t, (conns is not None and conns <= 10) if n == 500 else None)
        summary("scale", case, "kaizen-distributed", "peak_running")
        summary("scale", case, "kaizen-distributed", "rss_peak_mb")

    print()
    print(f"{'section':<10} {'case':<28} {'system':<20} {'metric':<16} {'min':>10} {'median':>10}  {'target':<56} met?")
    print("-" * 164)
    for section, case, system, metric, lo, mid, target, ok in lines:
        spec = ".3f" if metric in ("ms_per_node", "wall_over_ideal") else ".1f"
        print(f"{section:<10} {case:<28} {system:<20} {metric:<16} {_fmt(lo, spec):>10} {_fmt(mid, spec):>10}  {target:<56} {ok}")
    for note in rep.notes:
        print(f"note: {note}")
    loads = [r["load1"] for r in rep.rows]
    if loads:
        print(f"\nload average (1 min) during the measurements: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs "
              "(figures taken well above the CPU count are indicative only)")
    print(f"rounds: {args.rounds}{' (quick sizes)' if args.quick else ''}; min and median over the rounds; "
          "runs/s: a round's successful runs / its wall time; p50/p99: start request -> final result.")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 rounds: a smoke test (every measurement is bounded in time)")
    parser.add_argument("--rounds", type=int, help="rounds per section (default 3, --quick 2)")
    parser.add_argument("--no-n8n", action="store_true", help="leave n8n out of the fullstack section")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                        help="a Redis database the bench may flush (default db 9)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (servers' and workers' logs) for a look")
    parser.add_argument("--max-db-conns", type=int, default=30,
                        help="stop the concurrent-runs measurement when a worker holds more connections (shared server)")
    parser.add_argument("--baseline", action="store_true",
                        help="fullstack: also the distributed stack with one web process and no API fast path (before issue 13's last part)")
    parser.add_argument("--profile", metavar="DIR", help="fullstack: py-spy the distributed web and worker processes in round 0 (collapsed stacks into DIR)")
    parser.add_argument("--runs", type=int, help="runs per fullstack measurement (20 clients)")
    parser.add_argument("--requests", type=int, choices=(1, 2), default=1,
                        help="Kaizen clients: 1, start and wait in one request (POST ?wait=30); 2, POST then GET ?wait=30")
    parser.add_argument("--cases", default="no-llm,2-agent",
                        help="fullstack: comma-separated cases (no-llm, 2-agent); 'no-llm' alone is the quickest ratio to n8n")
    parser.add_argument("--node-sizes", help="comma-separated node counts for the nodes section")
    parser.add_argument("--fanout-sizes", help="comma-separated numbers of parallel 1 s calls")
    parser.add_argument("--fanout-server", choices=("lean", "scripted"), default="lean",
                        help="the 1 s fan-out's endpoint: bench/llm_server.py (default) or tests/fakellm.py")
    parser.add_argument("--workers", help="comma-separated worker-process counts for the scale section")
    parser.add_argument("--concurrent", help="comma-separated concurrent-run counts for the scale section")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    q = args.quick
    args.rounds = args.rounds or (2 if q else 3)
    args.fs_runs = 40 if q else 300          # runs per fullstack measurement (20 clients)
    args.fs_limit = 30.0 if q else 120.0     # seconds, at most, to start a measurement's runs
    args.scale_runs = 20 if q else 200       # runs per workers=N measurement

    def sizes(given: str | None, default: list[int]) -> list[int]:
        return [int(x) for x in given.split(",") if x.strip()] if given else default

    args.fs_runs = args.runs or args.fs_runs
    args.node_sizes = sizes(args.node_sizes, [50, 200] if q else [50, 200, 1000, 2000])
    args.node_budget = 20.0 if q else 60.0   # a system/shape slower than this skips larger sizes
    args.fanout_sizes = sizes(args.fanout_sizes, [200] if q else [200, 500])
    args.worker_counts = sizes(args.workers, [1, 2] if q else [1, 2, 4])
    args.concurrent_runs = sizes(args.concurrent, [20, 100] if q else [100, 500])
    return args


def meta(args) -> dict:
    """What was measured, on what: versions, the commit, the machine."""
    from importlib.metadata import PackageNotFoundError, version

    from bench import stack

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"commit": commit, "python": sys.version.split()[0], "cpus": os.cpu_count(), "load1": os.getloadavg()[0],
            "web_processes": int(os.environ.get("KAIZEN_WEB_PROCESSES") or 0) or os.cpu_count(),
            "langgraph": v("langgraph"), "langgraph-checkpoint-postgres": v("langgraph-checkpoint-postgres"),
            "n8n": stack.N8N_VERSION, "sections": args.only, "quick": args.quick, "rounds": args.rounds}


def main(argv=None) -> None:
    args = parse_args(argv)
    from bench import stack

    ensure_bench_extra()
    if args.quick:
        from bench import load

        load.RUN_TIMEOUT_S = 45.0
    cleanup = stack.Cleanup(keep_dirs=args.keep)
    cleanup.install_handlers()
    rep = Report()
    print(json.dumps({"meta": meta(args)}), flush=True)
    sections = {"fullstack": section_fullstack, "nodes": section_nodes, "fanout": section_fanout, "scale": section_scale}
    try:
        for name in SECTIONS:
            if name in args.only:
                started = time.monotonic()
                try:
                    sections[name](rep, cleanup, args)
                except Exception as exc:  # noqa: BLE001  (the other sections still run; the table says what failed)
                    rep.notes.append(f"section {name} failed: {type(exc).__name__}: {exc}"[:800])
                    print(f"# {rep.notes[-1]}", file=sys.stderr)
                print(f"# section {name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    finally:
        cleanup.close()
    table(rep, args)


if __name__ == "__main__":
    main()
