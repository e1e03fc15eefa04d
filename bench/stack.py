"""The processes, databases and folders bench/compare.py starts, and their clean-up.

Everything the comparison creates is registered in one ``Cleanup`` as it is created, so that an
error, Ctrl-C or SIGTERM at any point still ends every process group it started (by id), drops
every database it created and removes every temp dir. Every wait here has a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N8N_DIR = ROOT / "bench" / ".n8n"  # gitignored: n8n from npm, installed on first use
N8N_VERSION = "2.8.4"  # the figure in shared/docs/facts.md; 2.9+ needs Node 24
PG_ADMIN = "postgres://postgres:postgres@127.0.0.1:5432/postgres"
DROP_ENV = ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "KAIZEN_VAR_DIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url(db: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + db


def bench_secrets(env: MutableMapping[str, str] = os.environ) -> None:
    """The distributed mode is production mode (REDIS_URL set): it needs its secrets, and plain
    http on loopback. Bench-only values unless the caller's environment has its own."""
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")
    env.setdefault("KAIZEN_ENCRYPTION_KEY", "YmVuY2gtb25seS1mZXJuZXQta2V5LTMyLWJ5dGVzISE=")
    env.setdefault("KAIZEN_HTTPS", "0")


class Cleanup:
    """Registry of what to undo; ``close`` is idempotent and runs from atexit and signal handlers."""

    def __init__(self, keep_dirs: bool = False) -> None:
        self.keep_dirs = keep_dirs
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.dbs: list[str] = []
        self.dirs: list[Path] = []
        self.redis_urls: list[str] = []

    def tempdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"kaizen-cmp-{prefix}-"))
        self.dirs.append(path)
        return path

    def spawn(self, name: str, args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
        """A child in its own session (process group), so that its children (n8n's task runner,
        Celery's pool) end with it."""
        out = open(log, "w")
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
        # the group may have members left after its leader exited
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.dbs.append(name)
        return pg_url(name)

    def drop_db(self, name: str) -> None:
        import psycopg

        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001  (report, keep cleaning)
            print(f"# could not drop database {name}: {exc}", file=sys.stderr)
        if name in self.dbs:
            self.dbs.remove(name)

    def flush_redis(self, url: str) -> None:
        import redis

        redis.Redis.from_url(url, socket_timeout=5).flushdb()
        if url not in self.redis_urls:
            self.redis_urls.append(url)

    def close(self) -> None:
        for _name, proc in list(reversed(self.procs)):
            self.stop(proc)
        for name in list(self.dbs):
            self.drop_db(name)
        for url in self.redis_urls:
            try:
                self.flush_redis(url)
            except Exception:  # noqa: BLE001
                pass
        self.redis_urls.clear()
        for path in self.dirs:
            if self.keep_dirs:
                print(f"# kept {path}", file=sys.stderr)
            else:
                shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()

    def install_handlers(self) -> None:
        import atexit

        atexit.register(self.close)

        def on_signal(signum, _frame):
            raise SystemExit(128 + signum)  # unwinds the finally blocks, then atexit

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except Exception:  # noqa: BLE001  (not listening yet)
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up; log {log}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def wait_log(log: Path, text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in {log}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def fake_llm(cleanup: Cleanup, latency: float, lean: bool = False) -> str:
    """tests/fakellm.py in a process of its own (as a real endpoint: it does not share our GIL);
    ``lean``: the same answers from bench/llm_server.py (one asyncio loop, no thread per
    connection), for hundreds of calls at once."""
    log = cleanup.tempdir("llm") / "fakellm.log"
    port = free_port()
    module = "bench.llm_server" if lean else "tests.fakellm"
    proc = cleanup.spawn(f"fakellm-{latency}", [sys.executable, "-m", module, str(port), "--latency", str(latency)],
                         dict(os.environ, PYTHONUNBUFFERED="1"), log)
    wait_log(log, "http://", proc, 20)
    return f"http://127.0.0.1:{port}/v1"


def private_redis(cleanup: Cleanup) -> str:
    """A Redis server of the bench's own (no persistence), for a second distributed stack: two
    stacks on one Redis database would share the Celery queue and the channel groups."""
    port = free_port()
    log = cleanup.tempdir("redis") / "redis.log"
    proc = cleanup.spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], dict(os.environ), log)
    wait_log(log, "Ready to accept connections", proc, 20)
    return f"redis://127.0.0.1:{port}/0"


class Kaizen:
    """Kaizen Web as a user runs it: ``distributed`` (PostgreSQL + Redis, Daphne via kaizen_serve,
    ``workers`` Celery processes) or ``embedded`` (kaizen_serve on SQLite in a temp dir)."""

    def __init__(self, cleanup: Cleanup, mode: str, llm_url: str, redis_url: str, *, workers: int = 2,
                 concurrency: int = 8, tag: str = "", extra_env: dict[str, str] | None = None) -> None:
        self.cleanup, self.mode, self.llm_url, self.redis_url = cleanup, mode, llm_url, redis_url
        self.extra_env = extra_env or {}
        self.workers, self.concurrency = workers, concurrency
        self.dir = cleanup.tempdir(f"kaizen-{mode}{tag}")
        self.db = f"kaizen_bench_cmp_{os.getpid()}{tag}" if mode == "distributed" else None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.worker_procs: list[subprocess.Popen] = []
        self.token = ""

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env.update(KAIZEN_VAR_DIR=str(self.dir / "var"), OPENAI_BASE_URL=self.llm_url, OPENAI_API_KEY="bench",
                   KAIZEN_LLM_MAX_RETRIES="0", DJANGO_DEBUG="0", PYTHONUNBUFFERED="1",
                   # a load test of one user: the API's per-user rates would answer 429
                   KAIZEN_THROTTLE_USER="1000000/min", KAIZEN_THROTTLE_RUNS="1000000/min", KAIZEN_THROTTLE_ANON="1000000/min")
        bench_secrets(env)
        if self.mode == "distributed":
            env.update(DATABASE_URL=pg_url(self.db), REDIS_URL=self.redis_url)
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self) -> Kaizen:
        if self.mode == "distributed":
            self.cleanup.create_db(self.db)
            self.cleanup.flush_redis(self.redis_url)
        log = self.dir / "serve.log"
        self.web = self.cleanup.spawn(f"kaizen-{self.mode}", [sys.executable, "manage.py", "kaizen_serve", "--port", str(self.port)],
                                      self.env(), log)
        wait_http(self.base + "/accounts/login/", self.web, log, 120)
        # The bench's own user (the demo user exists only in the embedded mode on loopback).
        make_user = ("from django.contrib.auth import get_user_model as g; U = g(); "
                     "U.objects.filter(username='bench').exists() or U.objects.create_user('bench', password='bench-pw-123')")
        subprocess.run([sys.executable, "manage.py", "shell", "-c", make_user], cwd=ROOT, env=self.env(),
                       capture_output=True, text=True, timeout=60, check=True)
        out = subprocess.run([sys.executable, "manage.py", "kaizen_token", "bench"], cwd=ROOT, env=self.env(),
                             capture_output=True, text=True, timeout=60, check=True).stdout
        self.token = re.search(r"token (\S+)", out).group(1)
        if self.mode == "distributed" and self.workers:
            self.start_workers(self.workers, self.concurrency)
        return self

    def start_workers(self, count: int, concurrency: int) -> list[subprocess.Popen]:
        """``count`` Celery worker processes (started together, then waited for); their PostgreSQL
        connections carry application_name bench-worker-i, for pg_stat_activity."""
        started = []
        for i in range(count):
            log = self.dir / f"worker-{i}.log"
            env = self.env(DATABASE_URL=pg_url(self.db) + f"?application_name=bench-worker-{i}")
            proc = self.cleanup.spawn(f"worker-{i}", [sys.executable, "-m", "celery", "-A", "kaizen_web", "worker",
                                                      "--pool=threads", f"--concurrency={concurrency}", "--loglevel=INFO",
                                                      f"--hostname=bench{i}@%h", "--without-gossip", "--without-mingle",
                                                      "--without-heartbeat"], env, log)
            started.append((proc, log))
        for proc, log in started:
            wait_log(log, "ready.", proc, 90)
        self.worker_procs.extend(p for p, _ in started)
        return [p for p, _ in started]

    def discard_unfinished(self) -> None:
        """With no worker running: end the bench database's unfinished runs and drop their queued
        messages (a measurement's timed-out runs must not spill into the next one)."""
        import psycopg

        with psycopg.connect(pg_url(self.db), autocommit=True) as conn:
            conn.execute("update graphs_run set status = 'cancelled' where status in ('queued', 'running')")
        self.cleanup.flush_redis(self.redis_url)

    def stop(self) -> None:
        for proc in self.worker_procs + [self.web]:
            self.cleanup.stop(proc)
        if self.db:
            self.cleanup.drop_db(self.db)


N8N_WORKFLOW = {
    "name": "bench webhook set",
    "nodes": [
        {"id": "b0c3c3f4-0000-4000-8000-000000000001", "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2,
         "position": [0, 0], "webhookId": "b0c3c3f4-0000-4000-8000-0000000000aa",
         "parameters": {"httpMethod": "POST", "path": "bench", "responseMode": "lastNode", "options": {}}},
        {"id": "b0c3c3f4-0000-4000-8000-000000000002", "name": "Set", "type": "n8n-nodes-base.set", "typeVersion": 3.4,
         "position": [220, 0],
         "parameters": {"mode": "manual", "assignments": {"assignments": [
             {"id": "a1", "name": "result", "type": "string", "value": "={{ $json.body.task }}"}]}, "options": {}}},
    ],
    "connections": {"Webhook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
    "settings": {"saveDataSuccessExecution": "all", "saveManualExecutions": True, "executionOrder": "v1"},
}


def ensure_n8n(timeout: float = 1200) -> Path:
    """n8n from npm into bench/.n8n (once). Its pinned xlsx tarball lives off the registry, hence
    the override (shared/docs/facts.md)."""
    import json

    bin_path = N8N_DIR / "node_modules" / "n8n" / "bin" / "n8n"
    pkg = N8N_DIR / "node_modules" / "n8n" / "package.json"
    if bin_path.exists() and json.loads(pkg.read_text())["version"] == N8N_VERSION:
        return bin_path
    N8N_DIR.mkdir(parents=True, exist_ok=True)
    (N8N_DIR / "package.json").write_text(json.dumps({
        "name": "kaizen-bench-n8n", "private": True, "dependencies": {"n8n": N8N_VERSION},
        "overrides": {"xlsx": "npm:xlsx@0.18.5"}}, indent=2) + "\n")
    print(f"# installing n8n {N8N_VERSION} from npm into {N8N_DIR} (once; several minutes)", file=sys.stderr)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=N8N_DIR, check=True, timeout=timeout)
    return bin_path


class N8n:
    """One n8n instance (SQLite, executions saved) with a Webhook -> Set workflow, set up through
    its REST API as an owner would in the UI."""

    def __init__(self, cleanup: Cleanup) -> None:
        self.cleanup = cleanup
        self.dir = cleanup.tempdir("n8n")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.webhook = f"{self.base}/webhook/bench"

    def start(self) -> N8n:
        bin_path = ensure_n8n()
        env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
        env.update(N8N_USER_FOLDER=str(self.dir), N8N_PORT=str(self.port), N8N_LISTEN_ADDRESS="127.0.0.1",
                   N8N_HOST="127.0.0.1", N8N_PROTOCOL="http", WEBHOOK_URL=self.base + "/", N8N_SECURE_COOKIE="false",
                   N8N_DIAGNOSTICS_ENABLED="false", N8N_VERSION_NOTIFICATIONS_ENABLED="false",
                   N8N_TEMPLATES_ENABLED="false", N8N_PERSONALIZATION_ENABLED="false",
                   N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="false", N8N_RUNNERS_ENABLED="false",
                   EXECUTIONS_DATA_SAVE_ON_SUCCESS="all", EXECUTIONS_MODE="regular", N8N_LOG_LEVEL="warn")
        log = self.dir / "n8n.log"
        self.proc = self.cleanup.spawn("n8n", ["node", str(bin_path), "start"], env, log, cwd=N8N_DIR)
        wait_http(self.base + "/healthz", self.proc, log, 180)
        self._setup()
        return self

    def _setup(self) -> None:
        import httpx

        owner = {"email": "bench@example.com", "firstName": "Bench", "lastName": "Mark", "password": "Bench-pass-1234"}
        with httpx.Client(base_url=self.base, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:  # /healthz answers "n8n is starting up" (200, HTML) before the REST API is up
                try:
                    r = http.post("/rest/owner/setup", json=owner)
                    if r.headers.get("content-type", "").startswith("application/json"):
                        break
                    problem = f"{r.status_code} {r.text[:300]}"
                except httpx.TransportError as exc:  # (a loaded machine: it may reset a connection while starting)
                    problem = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"n8n REST API not up: {problem}")
                time.sleep(0.5)
            r.raise_for_status()
            r = http.post("/rest/workflows", json={**N8N_WORKFLOW, "active": False})
            r.raise_for_status()
            wf = r.json()["data"]
            # n8n 2.x publishes a version (activate); 1.x flips `active`
            r = http.post(f"/rest/workflows/{wf['id']}/activate", json={"versionId": wf["versionId"]})
            if r.status_code >= 400:
                r = http.patch(f"/rest/workflows/{wf['id']}", json={"active": True, "versionId": wf["versionId"]})
            r.raise_for_status()
            self.http_cookies = dict(http.cookies)
            deadline = time.monotonic() + 30
            while True:  # the webhook is registered asynchronously after activation
                probe = http.post(self.webhook, json={"task": "probe"})
                if probe.status_code == 200:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"n8n webhook not answering: {probe.status_code} {probe.text[:300]}")
                time.sleep(0.3)

    def executions_saved(self) -> int | None:
        import httpx

        try:
            r = httpx.get(self.base + "/rest/executions", params={"limit": 1}, cookies=self.http_cookies, timeout=10)
            return r.json()["data"].get("count")
        except Exception:  # noqa: BLE001  (informative only)
            return None

    def stop(self) -> None:
        self.cleanup.stop(self.proc)
