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
def test_the_url_comes_last_after_the_worker_banner_then_one_line_per_request(tmp_path):
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
        assert f"embedded@{socket.gethostname()}" in out and "%h" not in out  # the worker's banner, expanded
        assert out.index("[queues]") < out.index("Open http://")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30) as res:
            assert res.status == 200
        logged = proc.stdout.readline()
        assert re.fullmatch(r"\d\d:\d\d:\d\d GET /accounts/login/ 200 \d+B \d+ms\n", logged), logged
    finally:
        proc.terminate()
        proc.wait(30)
