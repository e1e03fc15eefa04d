"""Suite-wide fixtures: real PostgreSQL and Redis (from DATABASE_URL / REDIS_URL, set by
scripts/test), a scripted OpenAI-compatible server, and real Celery worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent

# The suite's webhook receivers listen on 127.0.0.1, which the SSRF guard refuses by default
# (tests/audit/test_urlguard.py turns it back on); worker processes inherit this.
os.environ.setdefault("KAIZEN_WEBHOOK_ALLOW_PRIVATE", "1")
# Likewise the tool servers (tests/toolservers.py) for agents' tools; tests of the guard turn it off.
os.environ.setdefault("KAIZEN_TOOLS_ALLOW_PRIVATE", "1")
# API rate limits high enough that no test trips them (tests/test_production.py sets its own);
# the environment reaches worker and server subprocesses, the fixture below this process.
TEST_API_RATES = {"user": "100000/min", "anon": "100000/min", "runs": "100000/min", "token": "100000/min"}
for _scope, _rate in TEST_API_RATES.items():
    os.environ.setdefault(f"KAIZEN_THROTTLE_{_scope.upper()}", _rate)


@pytest.fixture(autouse=True)
def _generous_api_rates(settings):
    settings.KAIZEN_API_RATES = dict(TEST_API_RATES)


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop on the main thread while
    its (session-scoped) browser lives, and async tests cannot start their own loop meanwhile."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def fake_llm_server():
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tool_api_server():
    from tests.toolservers import ToolAPI

    server = ToolAPI().start()
    yield server
    server.stop()


@pytest.fixture
def tool_api(tool_api_server):
    """A small HTTP API for HTTP tools (records every request), reset for this test."""
    tool_api_server.reset()
    yield tool_api_server
    tool_api_server.reset()


@pytest.fixture(scope="session")
def mcp_test_server():
    """An MCP server (the mcp SDK's MCPServer) over streamable HTTP on 127.0.0.1."""
    from tests.toolservers import McpTestServer

    server = McpTestServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server, settings):
    """The scripted LLM server, reset for this test; in-process code sees it as OPENAI_BASE_URL."""
    fake_llm_server.reset()
    settings.OPENAI_BASE_URL = fake_llm_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.KAIZEN_DEFAULT_PROVIDER = "openai"
    yield fake_llm_server
    fake_llm_server.reset()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus: background threads of this process (the group-commit
    writer, runs' database threads) may still hold idle connections to it when the session ends; end
    them so that pytest-django can drop it (instead of warning that it is "being accessed by other
    users").

    This wraps pytest-django's fixture instead of being a separate autouse one so that it is always
    torn down before the database is dropped: as a separate session fixture it could run after
    pytest-django had already put the settings back to the real database name, and then failed with
    `database "kaizen" does not exist` at the end of `scripts/test tests/some_file.py`. Sessions with
    no database test no longer create a test database at all."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(scope="session", autouse=True)
def _clean_redis():
    """Messages left by an earlier session must not reach this session's workers."""
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def worker_env(db_name: str, fake_url: str, **extra: str) -> dict[str, str]:
    from django.db import connection

    s = connection.settings_dict
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{db_name}",
        "OPENAI_BASE_URL": fake_url,
        "OPENAI_API_KEY": "test-key",
        "KAIZEN_LLM_MAX_RETRIES": "0",
        "KAIZEN_HEARTBEAT_S": "0.5",
        "KAIZEN_LEASE_S": "3",
        "KAIZEN_SWEEP_S": "0.5",
        "KAIZEN_REQUEUE_AFTER_S": "20",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def _die_with_parent() -> None:
    """preexec_fn: the child is killed when the test process dies (a timed-out test must not
    leave workers consuming the suite's queue)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class WorkerProcess:
    """A real `celery worker` process on the test database and the Redis broker."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path, concurrency: int = 4) -> None:
        self.name = name
        self.log_path = log_dir / f"worker-{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "kaizen_web", "worker", "--pool=threads",
             f"--concurrency={concurrency}", "--loglevel=INFO", f"--hostname={name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90) -> None:  # (a loaded 2-core machine boots a worker slowly)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.log_path.read_text()[-3000:]}")
            if "ready." in self.log_path.read_text():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, exactly like a crashed machine."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_worker(fake_llm, transactional_db, tmp_path):
    """Factory for worker processes; all are stopped at the end of the test."""
    from django.db import connection

    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("worker tests need DATABASE_URL=postgres://... and REDIS_URL (scripts/test sets them)")
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", concurrency: int = 4, **extra: str) -> WorkerProcess:
        worker = WorkerProcess(worker_env(connection.settings_dict["NAME"], fake_llm.base_url, **extra), name, tmp_path,
                               concurrency=concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker):
    """One real worker process for this test."""
    return start_worker("w1")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaphneProcess:
    """The real ASGI server (HTTP + websockets) as a subprocess on the test database and Redis."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        import urllib.request

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "daphne.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "kaizen_web.asgi:application"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        # generous: at a load of 15 (a second suite beside this one) its start took over 30 s, and
        # a first request that timed out after 1 s was only asked again, piling up on the server
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url + "/api/node-kinds/", timeout=15)
                return
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start: {self.log_path.read_text()[-3000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture
def daphne_server(fake_llm, transactional_db, tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs DATABASE_URL=postgres://... and REDIS_URL (scripts/test sets them)")
    server = DaphneProcess(worker_env(connection.settings_dict["NAME"], fake_llm.base_url), tmp_path)
    yield server
    server.stop()


def session_cookie(user) -> str:
    """A logged-in session stored in the test database, usable by any server process."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
