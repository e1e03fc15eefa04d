"""Triggers and schedules through the real parts: Daphne, Celery worker processes, beat processes
(distributed), and `manage.py kaizen_serve` (embedded: beat on a thread of the in-process worker)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from graphs import services as graph_services
from graphs.models import Run
from tests.conftest import ROOT, _die_with_parent, free_port, worker_env
from tests.helpers import chain, wait_for_run, wait_until
from triggers import services
from triggers.models import ScheduleFiring


def post(url: str, body: dict, headers: dict[str, str], timeout: float = 90) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_wait_mode_answers_with_the_run_outputs(user, daphne_server, celery_worker, fake_llm):
    fake_llm.script(match="step 2", reply={"result": "from the hook"}, latency=0.3)
    graph = graph_services.graph_create(owner=user, name="hooked", spec=chain(2)).graph
    graph_services.graph_publish(graph=graph, user=user, number=1)
    trigger, secret = services.trigger_create(graph=graph, user=user, mode="wait", wait_s=45, mapping={"task": "/text"})
    status, body = post(daphne_server.url + trigger.path, {"text": "go"}, {"Authorization": f"Bearer {secret}"})
    assert status == 200, body
    assert body["status"] == "succeeded" and body["outputs"] == {"result": "from the hook"}, body
    assert Run.objects.get(pk=body["run_id"]).inputs == {"task": "go"}
    # a run slower than the trigger's wait: 202 with the run id, still running
    fake_llm.script(match="step 1", reply={"result": "slow"}, latency=4)
    services.trigger_update(trigger=trigger, user=user, wait_s=1)
    status, body = post(daphne_server.url + trigger.path, {"text": "slow"}, {"Authorization": f"Bearer {secret}"})
    assert status == 202 and body["status"] in ("queued", "running") and "still running" in body["detail"], body
    assert wait_for_run(body["run_id"], 60).status == "succeeded"
    assert "Traceback" not in daphne_server.log_path.read_text()


class BeatProcess:
    """A real `celery beat` process with the app's scheduler (triggers.beat:Scheduler)."""

    def __init__(self, env: dict[str, str], name: str, log_dir: Path) -> None:
        self.log_path = log_dir / f"beat-{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "kaizen_web", "beat", "--loglevel=INFO",
                                      "--max-interval=1", f"--schedule={log_dir / name}.db"],
                                     cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def assert_on_the_grid(firings, anchor: datetime, every: float) -> None:
    offsets = [(f.fire_at - anchor).total_seconds() for f in firings]
    assert all(o % every == 0 for o in offsets), offsets
    steps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert all(step == every for step in steps), f"firings missed or doubled: {offsets}"
    # each firing was sent after its time and before the next one's
    assert all(0 <= f.late_s < every for f in firings), [f.late_s for f in firings]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_beats_and_two_workers_start_one_run_per_firing(user, start_worker, fake_llm, tmp_path):
    from django.db import connection

    fake_llm.script(match="step 1", reply={"result": "tick"})
    graph = graph_services.graph_create(owner=user, name="scheduled", spec=chain(1)).graph
    graph_services.graph_publish(graph=graph, user=user, number=1)
    # (the task's result line, where a refused duplicate shows, is logged with KAIZEN_LOG_TASKS only)
    start_worker("w1", KAIZEN_LOG_TASKS="1")
    start_worker("w2", KAIZEN_LOG_TASKS="1")
    env = worker_env(connection.settings_dict["NAME"], fake_llm.base_url)
    beats = [BeatProcess(env, name, tmp_path) for name in ("b1", "b2")]
    every = 3
    try:
        time.sleep(2)  # (both beats have read the (empty) schedule: the new one reaches them as a change)
        schedule = services.schedule_create(graph=graph, user=user, kind="interval", interval_s=every, timezone="UTC",
                                            inputs={"task": "tick"})
        wait_until(lambda: ScheduleFiring.objects.filter(schedule=schedule).count() >= 5, timeout=120, interval=0.2,
                   message="five firings")
        services.schedule_update(schedule=schedule, user=user, enabled=False)
    finally:
        for beat in beats:
            beat.stop()
    time.sleep(1)
    firings = list(ScheduleFiring.objects.filter(schedule=schedule).order_by("fire_at"))
    assert all(f.outcome == "started" and f.run_id for f in firings)
    assert Run.objects.filter(graph=graph).count() == len(firings), "one run per firing"
    assert_on_the_grid(firings, schedule.anchor, every)
    sent = sum(len(re.findall(r"Scheduler: Sending due task kaizen-schedule", b.log_path.read_text())) for b in beats)
    logs = "".join((tmp_path / f"worker-{w}.log").read_text() for w in ("w1", "w2"))
    duplicates = len(re.findall(r"'duplicate'", logs))
    assert sent > len(firings) and duplicates >= 1, (sent, len(firings), duplicates)  # both beats sent; dedupe refused
    for f in firings:
        assert wait_for_run(f.run_id, 60).status == "succeeded"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_schedule_fires_on_time_in_the_embedded_default(tmp_path):
    """`manage.py kaizen_serve` as scripts/serve starts it (no DATABASE_URL, no REDIS_URL): the
    in-process worker runs beat too; nothing else is started."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")}
    env.update({"KAIZEN_VAR_DIR": str(tmp_path), "KAIZEN_SIMULATED_LATENCY_S": "0.05", "PYTHONUNBUFFERED": "1"})
    port, log_path = free_port(), tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "manage.py", "kaizen_serve", "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.poll() is not None or b"Open http" in log_path.read_bytes(), timeout=90, interval=0.2,
                   message="the server")
        assert server.poll() is None, log_path.read_text()[-3000:]
        made = subprocess.run([sys.executable, "manage.py", "kaizen_token", "demo"], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        auth = {"Authorization": f"Bearer {made.stdout.split()[2]}"}
        status, graph = post(f"{base}/api/graphs/", {"name": "nightly", "spec": chain(1)}, auth)
        assert status == 201, graph
        assert post(f"{base}/api/graphs/{graph['id']}/versions/1/publish/", {}, auth)[0] == 200
        every = 2
        status, schedule = post(f"{base}/api/graphs/{graph['id']}/schedules/",
                                {"kind": "interval", "interval_s": every, "inputs": {"task": "tick"}}, auth)
        assert status == 201, schedule

        def firings() -> list[dict]:
            request = urllib.request.Request(f"{base}/api/graphs/{graph['id']}/schedules/{schedule['id']}/", headers=auth)
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["firings"]

        done = wait_until(lambda: f if len(f := firings()) >= 4 else None, timeout=90, interval=0.5, message="four firings")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    done = sorted(done, key=lambda f: f["fire_at"])
    assert all(f["outcome"] == "started" and f["run"] for f in done), done
    anchor = datetime.fromisoformat(schedule["next_firings"][0]) - timedelta(seconds=every)

    class F:  # (the API's rows, as assert_on_the_grid reads them)
        def __init__(self, row):
            self.fire_at, self.late_s = datetime.fromisoformat(row["fire_at"].replace("Z", "+00:00")), row["late_s"]

    rows = [F(r) for r in done]
    assert_on_the_grid(rows, rows[0].fire_at - timedelta(seconds=every), every)
    assert (rows[0].fire_at - anchor).total_seconds() % every == 0
    assert "Traceback" not in log_path.read_text()
