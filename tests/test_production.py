"""Production defaults, login lockout and API throttling (issue 10, items 3 and 4).

Settings are read once per process, so the settings tests start `manage.py` in a subprocess with
exactly the environment they describe (the README's production section)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from django.test import Client

from graphs.management.commands.kaizen_serve import is_loopback
from tests.conftest import ROOT, free_port
from tests.helpers import chain

FERNET_KEY = "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMhISE="


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    """The README's production environment (and nothing inherited from this test session)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "KAIZEN_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://postgres:postgres@127.0.0.1:5432/kaizen",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "DJANGO_SECRET_KEY": "k8Jq0v-production-like-secret-key-with-enough-entropy-3f9a7c2e",
        "KAIZEN_ENCRYPTION_KEY": FERNET_KEY,
        "DJANGO_ALLOWED_HOSTS": "kaizen.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://kaizen.example.com",
    }
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def settings_of(env: dict[str, str], *names: str) -> list[str]:
    code = f"from django.conf import settings as s; print('|'.join(repr(getattr(s, n)) for n in {names!r}))"
    result = manage(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1].split("|")


def test_check_deploy_reports_nothing_with_the_documented_environment(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_in_the_embedded_mode(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KAIZEN_VAR_DIR": str(tmp_path / "var")}
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "security.W018" in result.stderr  # DEBUG: the embedded mode is no deployment


def test_production_defaults(tmp_path):
    debug, redirect, session, csrf, hsts = settings_of(production_env(tmp_path), "DEBUG", "SECURE_SSL_REDIRECT",
                                                       "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS")
    assert (debug, redirect, session, csrf) == ("False", "True", "True", "True") and int(hsts) >= 31_536_000
    # plain http on a private network: one switch
    assert settings_of(production_env(tmp_path, KAIZEN_HTTPS="0"), "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE") == ["False", "False"]


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "KAIZEN_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_its_secrets(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]
    result = manage(env, "check")
    assert result.returncode != 0 and f"{missing}" in result.stderr and "must be set" in result.stderr


def test_embedded_secret_key_is_random_and_kept(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KAIZEN_VAR_DIR": str(tmp_path / "var")}
    first = settings_of(env, "SECRET_KEY")
    assert settings_of(env, "SECRET_KEY") == first and len(first[0]) > 50
    other = dict(env, KAIZEN_VAR_DIR=str(tmp_path / "elsewhere"))
    assert settings_of(other, "SECRET_KEY") != first
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_loopback_hosts():
    assert all(is_loopback(h) for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
    assert not any(is_loopback(h) for h in ["0.0.0.0", "::", "192.168.1.5", "example.com"])


@pytest.mark.parametrize("host, demo", [("0.0.0.0", False), ("127.0.0.1", True)])
def test_demo_user_only_in_embedded_mode_on_loopback(tmp_path, host, demo):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KAIZEN_VAR_DIR": str(tmp_path / "var"),
           "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "kaizen_serve", "--host", host, "--port", str(free_port()),
                                 "--worker", "no"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while "Open http" not in log.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            proc.terminate()
            proc.wait(15)
    with sqlite3.connect(tmp_path / "var" / "kaizen.sqlite3") as db:
        users = [row[0] for row in db.execute("SELECT username FROM auth_user")]
    assert ("demo" in users) is demo, (users, log.read_text()[-2000:])
    assert ("demo / demo" in log.read_text()) is demo


# --- login lockout (django-axes) -------------------------------------------------------------------

@pytest.mark.django_db
def test_login_locked_after_repeated_failures_per_username(user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    statuses = [client.post("/accounts/login/", {"username": "alice", "password": f"wrong-{i}"}, REMOTE_ADDR=f"203.0.113.{i}").status_code
                for i in range(5)]
    assert statuses == [200] * 4 + [429]  # the form again, four times; the fifth failure locks
    # the right password no longer works for this username, from any address
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"}, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 429 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_locked_after_repeated_failures_per_address(user, other_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client(REMOTE_ADDR="203.0.113.50")
    for i in range(5):
        client.post("/accounts/login/", {"username": f"guess{i}", "password": "x"})
    response = client.post("/accounts/login/", {"username": "bob", "password": "pw-bob-123"})
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    # another address is not affected, and a success resets nothing it should not
    other = Client(REMOTE_ADDR="203.0.113.51")
    assert other.post("/accounts/login/", {"username": "bob", "password": "pw-bob-123"}).status_code == 302


@pytest.mark.django_db
def test_a_few_mistakes_do_not_lock(user):
    client = Client(REMOTE_ADDR="203.0.113.60")
    for _ in range(3):
        client.post("/accounts/login/", {"username": "alice", "password": "typo"})
    assert client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"}).status_code == 302


# --- API throttles ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_api_throttle_answers_429_with_retry_after(api_client, settings):
    settings.KAIZEN_API_RATES = {"user": "5/min", "anon": "3/min", "runs": None}
    codes = [api_client.get("/api/graphs/").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    limited = api_client.get("/api/graphs/")
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert limited.json()["detail"] and limited.json()["errors"] == []


@pytest.mark.django_db
def test_anonymous_callers_throttled_per_address(settings):
    settings.KAIZEN_API_RATES = {"user": None, "anon": "3/min", "runs": None}
    client = Client(REMOTE_ADDR="203.0.113.70")
    codes = [client.get("/api/node-kinds/").status_code for _ in range(4)]
    assert codes[:3] == [200] * 3 and codes[3] == 429


@pytest.mark.django_db
def test_run_creation_has_its_own_rate(api_client, settings):
    settings.KAIZEN_API_RATES = {"user": "1000/min", "anon": None, "runs": "2/min"}
    gid = api_client.post("/api/graphs/", {"name": "g", "spec": chain(1)}, format="json").json()["id"]
    starts = [api_client.post(f"/api/graphs/{gid}/runs/", {"inputs": {"task": "x"}, "dry_run": True}, format="json").status_code
              for _ in range(3)]
    assert starts == [202, 202, 429]
    assert api_client.get(f"/api/graphs/{gid}/runs/").status_code == 200  # reading is not limited by it


# --- CSP ---------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_connect_src_names_only_our_own_websocket_origin(client, user):
    client.force_login(user)
    csp = client.get("/", HTTP_HOST="localhost:8123")["Content-Security-Policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()
    assert connect == ["connect-src", "'self'", "ws://localhost:8123"]
    secure = client.get("/", HTTP_HOST="localhost:8123", secure=True)["Content-Security-Policy"]
    assert "wss://localhost:8123" in secure and "ws://localhost" not in secure.replace("wss://", "")
    assert " ws: " not in csp + " " and " wss: " not in csp + " "


@pytest.mark.django_db
def test_run_start_rate_applies_to_the_page_button_too(client, user, settings):
    from graphs import services

    settings.KAIZEN_API_RATES = {"user": None, "anon": None, "runs": "1/min"}
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    client.force_login(user)
    assert client.post(f"/graphs/{graph.pk}/run/", {"input_task": "x", "dry_run": "1"}).status_code == 302
    limited = client.post(f"/graphs/{graph.pk}/run/", {"input_task": "x", "dry_run": "1"})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert graph.runs.count() == 1


def test_a_throttled_request_costs_one_redis_round_trip(settings):
    """The counter is one pipelined round trip (INCR, EXPIRE, GET), not a list of timestamps
    read and written back: the stored value stays one small integer per window."""
    import redis
    from django.conf import settings as live

    from graphs.api.throttles import _counts

    if not live.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    client = redis.Redis.from_url(live.REDIS_URL)
    window = int(time.time() // 60)
    for _ in range(50):
        _counts("test:probe", window, 60)
    assert client.get(f"kaizen-throttle:test:probe:{window}") == b"50"
    assert 0 < client.ttl(f"kaizen-throttle:test:probe:{window}") <= 120
