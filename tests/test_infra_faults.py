"""Database and broker faults lose nothing: a private PostgreSQL restarted under load, a private
Redis killed and restarted with runs queued in it. Real worker processes, the scripted LLM."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import psycopg
import pytest

from tests.conftest import ROOT
from tests.helpers import chain, wait_for_run, wait_until
from tests.private_services import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.slow

# Long enough runs that the restarts land mid-run: on a loaded machine a restart takes seconds to
# begin, and with 4 steps the runs had all ended before it (no progress to see after it).
STEPS = 16

SEED = """
import json
from django.contrib.auth import get_user_model
from graphs import services
from tests.helpers import chain
user = get_user_model().objects.create_user("pg", password="pw-pg-123")
graph = services.graph_create(owner=user, name="g", spec=chain(STEPS)).graph
print(json.dumps([services.run_start(graph=graph, user=user, inputs={"task": f"job-{i}"}).pk for i in range(RUNS)]))
"""


def _manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _query(url: str, sql: str, *params):
    """A read that waits out the server's restart."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def private_pg():
    pg = PrivatePostgres().start()
    yield pg
    pg.stop()


@pytest.mark.timeout(360)  # (its own waits add up to 240 s on a loaded machine; the suite's default is 120 s)
def test_a_database_restart_mid_load_loses_nothing(private_pg, start_worker, fake_llm):
    runs_wanted = 8
    # a Redis database of its own, next to the suite's (a second copy of the suite with another
    # REDIS_URL database uses another one): the suite's db + 7, db 8 by default
    suite = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
    base, _, db = suite.rpartition("/")
    redis_url = f"{base}/{(int(db) + 7) % 16 if db.isdigit() else 8}"
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": private_pg.url, "REDIS_URL": redis_url}
    _manage(env, "migrate", "-v", "0")
    fake_llm.script(latency=0.3)
    extra = {"DATABASE_URL": private_pg.url, "REDIS_URL": redis_url, "KAIZEN_LEASE_S": "20", "KAIZEN_HEARTBEAT_S": "0.5"}
    start_worker("a", concurrency=8, **extra)
    start_worker("b", concurrency=8, **extra)
    runs = json.loads(_manage(env, "shell", "-c", SEED.replace("RUNS", str(runs_wanted)).replace("STEPS", str(STEPS))).strip().splitlines()[-1])

    def succeeded_nodes() -> int:
        return _query(private_pg.url, "SELECT count(*) FROM graphs_nodestate WHERE status = 'succeeded'")[0][0]

    wait_until(lambda: succeeded_nodes() >= 4, 60, 0.2, message="some progress")
    private_pg.restart("fast")
    done = succeeded_nodes()
    wait_until(lambda: succeeded_nodes() >= done + 4, 60, 0.2, message="progress after the fast restart")
    private_pg.restart("immediate", down_s=2)
    wait_until(lambda: _query(private_pg.url, "SELECT count(*) FROM graphs_run WHERE status IN "
                                              "('succeeded', 'failed', 'cancelled', 'interrupted')")[0][0] == len(runs),
               120, 0.3, message="every run finished")
    for run_id, status, error in _query(private_pg.url, "SELECT id, status, error FROM graphs_run ORDER BY id"):
        assert status == "succeeded", (run_id, error)
        rows = _query(private_pg.url, "SELECT seq, event, data FROM graphs_runevent WHERE run_id = %s ORDER BY seq", run_id)
        seqs = [r[0] for r in rows]
        names = [r[1] for r in rows]
        assert seqs == list(range(1, len(seqs) + 1)), f"run {run_id}: seq gap {seqs}"
        assert names.count("run_finished") == 1 and names[-1] == "run_finished", names[-6:]
        assert all(r[2].get("status") != "failed" for r in rows if r[1] in ("run_finished", "post_node"))
    for step in range(1, STEPS + 1):  # no call repeated for an answer that was saved: one answer per run and step
        answered = fake_llm.calls(f"step {step}:", completed=True)
        assert len(answered) == runs_wanted, f"step {step} answered {len(answered)} times for {runs_wanted} runs"


def test_queued_runs_are_resent_as_soon_as_the_broker_is_back(user, start_worker, fake_llm):
    """Redis killed (without persistence) with runs queued in it: once it is back, the sweeper
    sees the broker lost its data and re-sends them. The sweeper's other way to re-send a lost
    message (a queued run older than KAIZEN_REQUEUE_AFTER_S) is an hour away here, so every run
    that finishes was re-sent by the broker check; its log line names them."""
    from graphs import services
    from graphs.models import Run
    from graphs.runner.tasks import run_execute
    from kaizen_web.celery import app

    broker = PrivateRedis().start()
    try:
        fake_llm.script(latency=1.5)
        worker = start_worker("a", concurrency=1, REDIS_URL=broker.url, KAIZEN_REQUEUE_AFTER_S="3600")
        graph = services.graph_create(owner=user, name="g", spec=chain(2)).graph
        runs = []
        for i in range(3):
            run = services.run_start(graph=graph, user=user, inputs={"task": f"job-{i}"})
            runs.append(run.pk)
        with app.connection_for_write(broker.url) as conn:  # (the test process's own broker is another)
            for pk in runs:
                run_execute.apply_async(args=[pk], connection=conn)
        wait_until(lambda: fake_llm.calls("step 1"), 20, message="the first run started")
        queued = set(Run.objects.filter(pk__in=runs, status=Run.Status.QUEUED).values_list("pk", flat=True))
        broker.kill()
        log_before = len(worker.log_path.read_text())
        broker.start()  # same port, empty: the two queued messages are gone
        for pk in runs:
            run = wait_for_run(pk, 90)  # (a deadline for a stuck test; the age-based re-send is an hour away)
            assert run.status == "succeeded", run.error
        resent = re.findall(r"the broker lost its messages \(restarted\): re-sent runs \[([\d, ]*)\]",
                            worker.log_path.read_text()[log_before:])
        assert resent, "no sweep re-sent the queued runs after the broker came back"
        assert queued and queued <= {int(pk) for pk in resent[0].split(",")}, (queued, resent)
    finally:
        broker.stop()
