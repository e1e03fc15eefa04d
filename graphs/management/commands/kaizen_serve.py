"""Serve the app with Daphne; in the embedded default, also run a Celery worker in-process.

The console reads top to bottom: the port is claimed first (a busy port is one clear line and a
non-zero exit, before anything else happens), then migrations, demos, the worker (its banner), and
the URL last, once the server really listens; then one line per request.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


def claim_port(host: str, port: int) -> socket.socket:
    """Bind and listen now, and hand the socket to Daphne: no window in which another process can
    take the port between a check and the real bind. Raises CommandError with one sentence."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(f"port {port} on {host} is already in use (another server running?); "
                               f"stop it or choose another with --port") from None
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class RequestLog:
    """Daphne's action logger as one short line per request: time, method, path, status, size, ms."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def __call__(self, protocol, action, details) -> None:
        now = time.strftime("%H:%M:%S")
        if protocol == "http" and action == "complete":
            ms = (details.get("time_taken") or 0) * 1000
            line = f"{now} {details['method']} {details['path']} {details['status']} {details.get('size') or 0}B {ms:.0f}ms"
        elif protocol == "websocket" and action in ("connected", "disconnected", "rejected"):
            line = f"{now} WS {action} {details['path']}"
        else:
            return
        self.stream.write(line + "\n")
        self.stream.flush()


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = "Migrate, load demos, and serve (web + embedded worker unless REDIS_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true")
        parser.add_argument("--worker", choices=["auto", "yes", "no"], default="auto",
                            help="run a worker in this process (auto: only in the embedded default)")
        parser.add_argument("--no-request-log", action="store_true", help="do not print a line per request")

    def handle(self, *args, host, port, no_demo, worker, no_request_log, **options):
        sock = claim_port(host, port)
        console = sys.stdout  # (the Celery worker redirects sys.stdout to its logger once it starts)
        call_command("migrate", interactive=False, verbosity=0)
        # The demo user (demo/demo, a superuser) exists only for one person trying the embedded mode
        # on their own machine: never in a deployment, never when other machines can connect.
        demo = not no_demo and settings.EMBEDDED and is_loopback(host)
        if demo:
            call_command("kaizen_demo")
        elif not no_demo:
            self.stdout.write("No demo user: it is created only in the embedded mode bound to a loopback address. "
                              "Create an account with `manage.py createsuperuser`.")
        if worker == "yes" or (worker == "auto" and settings.EMBEDDED):
            self.start_worker()
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from kaizen_web.asgi import application

        mode = "embedded (SQLite, in-process broker and channel layer)" if settings.EMBEDDED else "distributed (Redis)"
        llm = "SIMULATED (set OPENAI_BASE_URL / OPENAI_API_KEY for a real model)" if settings.KAIZEN_DEFAULT_PROVIDER == "simulated" else settings.OPENAI_BASE_URL or "api.openai.com"
        self.stdout.write(f"Kaizen Web: {mode}; LLM: {llm}")
        from graphs import endpoint_check

        if problem := endpoint_check.check(timeout_s=2.0):
            self.stdout.write(f"Warning: the model endpoint is unreachable: {problem}. Runs will fail until it is; "
                              "set OPENAI_BASE_URL (and OPENAI_API_KEY) to one that answers.", self.style.WARNING)
        shown = f"[{host}]" if ":" in host else host

        def ready() -> None:
            login = "log in as demo / demo; " if demo else ""
            self.stdout.write(f"Open http://{shown}:{port}/  ({login}Ctrl+C stops)", self.style.SUCCESS)
            self.stdout.flush()

        if sock.family == socket.AF_INET:
            endpoints = build_endpoint_description_strings(file_descriptor=sock.fileno())
        else:  # Twisted's fd: parser adopts IPv4 sockets only; IPv6 binds again (the check above still ran)
            sock.close()
            endpoints = build_endpoint_description_strings(host=host, port=port)
        Server(application=application, endpoints=endpoints, verbosity=0, ready_callable=ready,
               action_logger=None if no_request_log else RequestLog(console)).run()

    def start_worker(self, timeout: float = 60) -> None:
        """Start the in-process worker and wait until it is ready, so its banner comes before the URL."""
        from celery.signals import worker_ready

        from graphs.runner.worker import start_embedded_worker

        started = threading.Event()

        def on_ready(**_kwargs) -> None:
            started.set()

        worker_ready.connect(on_ready, weak=False)
        start_embedded_worker()  # the worker_ready signal starts the sweeper too
        if not started.wait(timeout):
            self.stderr.write(f"the embedded worker is not ready after {timeout:.0f}s; serving anyway")
