"""scripts/serve's command on a busy port: one clear line on stderr and a non-zero exit, before it
migrates or starts anything (it used to print the URL, log a CRITICAL line and exit 0)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT


def test_a_busy_port_exits_non_zero_with_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**os.environ, "KAIZEN_VAR_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "manage.py", "kaizen_serve", "--port", str(port), "--no-demo"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""  # no URL, no banner: nothing started
    lines = done.stderr.strip().splitlines()
    assert lines == [f"CommandError: port {port} on 127.0.0.1 is already in use (another server running?); "
                     "stop it or choose another with --port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_url_comes_last_after_the_worker_line_then_one_line_per_request(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}  # the embedded default
    env.update(KAIZEN_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "kaizen_serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)
            if line.startswith("Open http://"):
                break
        out = "".join(seen)
        assert f"Open http://127.0.0.1:{port}/" in out
        # one line says the worker started (Celery's banner and its root warning are not printed)
        assert re.search(rf"^Worker embedded@{re.escape(socket.gethostname())}: \d+ threads, in-process broker", out, re.M), out
        assert "[queues]" not in out and "SecurityWarning" not in out, out
        assert out.index("Worker embedded@") < out.index("Open http://")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30) as res:
            assert res.status == 200
        logged = proc.stdout.readline()
        assert re.fullmatch(r"\d\d:\d\d:\d\d GET /accounts/login/ 200 \d+B \d+ms\n", logged), logged
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.django_db(transaction=True)
def test_distributed_serve_runs_several_web_processes_that_share_runs_and_streams(user, celery_worker, fake_llm, tmp_path):
    """KAIZEN_WEB_PROCESSES=2: requests are answered by both processes (the request log names the
    pid), and every websocket, whichever process holds it, streams a run's every event (published
    by the worker through the Redis channel layer); a long-poll answers when the run ends."""
    import asyncio
    import json
    import threading

    from django.db import connection
    from websockets.asyncio.client import connect

    from apitokens.services import token_create
    from graphs import services
    from tests.conftest import session_cookie, worker_env
    from tests.helpers import chain

    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        pytest.skip("needs DATABASE_URL=postgres://... and REDIS_URL (scripts/test sets them)")
    port, base = free_port(), None
    env = worker_env(connection.settings_dict["NAME"], fake_llm.base_url, KAIZEN_WEB_PROCESSES="2", KAIZEN_VAR_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "manage.py", "kaizen_serve", "--port", str(port), "--no-demo"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()

    def wait_for(predicate, what: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while not (found := predicate()):
            assert time.monotonic() < deadline and proc.poll() is None, f"no {what}:\n{''.join(lines)}"
            time.sleep(0.1)
        return found

    def pids_of(text: str) -> set[str]:
        return {m.group(1) for line in list(lines) if text in line and (m := re.search(r"\[(\d+)\]$", line.strip()))}

    try:
        wait_for(lambda: any(line.startswith("Open http://") for line in lines), "URL")
        pids = set(wait_for(lambda: next((re.findall(r"\d+", line) for line in lines if "web processes:" in line), None),
                            "process list")[1:])
        assert len(pids) == 2
        # the start-up check of the model endpoint is a call like a run's: no line of the HTTP client's
        assert not [line for line in lines if "HTTP Request:" in line], "".join(lines)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):  # (a new connection each: the kernel gives each to whichever process accepts first)
            with urllib.request.urlopen(f"{base}/api/node-kinds/", timeout=30) as res:
                assert res.status == 200
            if pids_of("GET /api/node-kinds/") == pids:
                break
        assert pids_of("GET /api/node-kinds/") == pids

        fake_llm.script(latency=0.3)
        graph = services.graph_create(owner=user, name="g", spec=chain(3)).graph
        token, cookie = token_create(user=user, name="serve")[1], session_cookie(user)
        run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
        path = f"/ws/runs/{run.pk}/"

        async def stream(ws) -> list[int]:
            seqs = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame.get("type") != "events":  # (streamed answers' token frames: live only)
                    continue
                seqs += [e["seq"] for e in frame["events"]]
                if frame["events"][-1]["event"] == "run_finished":
                    return seqs

        async def watch() -> tuple[list[list[int]], dict]:
            sockets = []
            try:
                while pids_of(f"WS connected {path}") != pids:  # (sockets on both processes)
                    assert len(sockets) < 40, "every websocket went to one process"
                    sockets.append(await connect(f"ws://127.0.0.1:{port}{path}?after=0", origin=base,
                                                 additional_headers={"Cookie": f"sessionid={cookie}"}))
                    await asyncio.sleep(0.05)
                request = urllib.request.Request(f"{base}/api/runs/{run.pk}/?wait=60", headers={"Authorization": f"Token {token}"})
                waited = asyncio.ensure_future(asyncio.to_thread(lambda: json.load(urllib.request.urlopen(request, timeout=90))))
                return list(await asyncio.gather(*(stream(ws) for ws in sockets))), await waited
            finally:
                for ws in sockets:
                    await ws.close()

        streams, final = asyncio.run(watch())
        assert final["status"] == "succeeded"
        for seqs in streams:
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 3
    finally:
        proc.terminate()
        proc.wait(30)
