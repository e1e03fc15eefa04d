"""Serve the app with Daphne; in the embedded default, also run a Celery worker in-process.

The console reads top to bottom: the port is claimed first (a busy port is one clear line and a
non-zero exit, before anything else happens), then migrations, demos, the worker (its banner), and
the URL last, once the server really listens; then one line per request.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from kaizen_web.heap import freeze_startup_heap


def claim_port(host: str, port: int, shared: bool = False) -> socket.socket:
    """Bind and listen now, and hand the socket to Daphne: no window in which another process can
    take the port between a check and the real bind. Raises CommandError with one sentence.
    ``shared``: with SO_REUSEPORT, for the web processes' own sockets on the same port."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(1024)
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

    def __init__(self, stream, pid: bool = False) -> None:
        self.stream = stream
        self.tag = f" [{os.getpid()}]" if pid else ""  # (which web process, when there are several)

    def __call__(self, protocol, action, details) -> None:
        now = time.strftime("%H:%M:%S")
        if protocol == "http" and action == "complete":
            ms = (details.get("time_taken") or 0) * 1000
            line = f"{now} {details['method']} {details['path']} {details['status']} {details.get('size') or 0}B {ms:.0f}ms"
        elif protocol == "websocket" and action in ("connected", "disconnected", "rejected"):
            line = f"{now} WS {action} {details['path']}"
        else:
            return
        self.stream.write(line + self.tag + "\n")
        self.stream.flush()


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def skip_form_parsing() -> None:
    """Daphne's requests without Twisted's parsing of a POST's Content-Type: Twisted parses it (an
    ``email`` message per request) to decode form bodies into ``request.args``, which Daphne never
    reads (the ASGI application gets the raw body and parses it itself); 3-4 % of a web process's
    CPU on the API's start of a run."""
    from daphne import http_protocol

    if getattr(http_protocol.WebRequest, "skips_form_parsing", False):
        return

    class WebRequest(http_protocol.WebRequest):
        skips_form_parsing = True

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._parsePOSTFormSubmission = False

    http_protocol.WebRequest = WebRequest  # (what Daphne's HTTPFactory.buildProtocol gives each connection)


class Command(BaseCommand):
    help = "Migrate, load demos, and serve (web + embedded worker unless REDIS_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true")
        parser.add_argument("--worker", choices=["auto", "yes", "no"], default="auto",
                            help="run a worker in this process (auto: only in the embedded default)")
        parser.add_argument("--no-request-log", action="store_true", help="do not print a line per request")
        parser.add_argument("--processes", type=int, default=None,
                            help="web processes sharing the port (default: KAIZEN_WEB_PROCESSES; one in the embedded mode)")
        parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)  # (one of several web processes)
        parser.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)  # (a child: say ready here)

    def handle(self, *args, host, port, no_demo, worker, no_request_log, processes, serve_child, ready_fd, **options):
        if serve_child:
            return self.serve_child(host, port, ready_fd, no_request_log)
        processes = processes or settings.KAIZEN_WEB_PROCESSES
        if processes > 1 and settings.EMBEDDED:
            self.stdout.write("The embedded mode serves from one process (its worker, broker and channel layer live in it); "
                              "set DATABASE_URL and REDIS_URL for more.", self.style.WARNING)
            processes = 1
        many = processes > 1 and ":" not in host  # (Twisted's fd: endpoint adopts IPv4 sockets only)
        sock = claim_port(host, port, shared=many)
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

        if many:
            return self.serve_many(sock, host, port, processes, ready, no_request_log)
        if sock.family == socket.AF_INET:
            endpoints = build_endpoint_description_strings(file_descriptor=sock.fileno())
        else:  # Twisted's fd: parser adopts IPv4 sockets only; IPv6 binds again (the check above still ran)
            sock.close()
            endpoints = build_endpoint_description_strings(host=host, port=port)
        skip_form_parsing()
        freeze_startup_heap()
        Server(application=application, endpoints=endpoints, verbosity=0, ready_callable=ready,
               action_logger=None if no_request_log else RequestLog(console)).run()

    def serve_many(self, sock: socket.socket, host: str, port: int, processes: int, ready, quiet: bool,
                   timeout: float = 120) -> None:
        """``processes`` Daphne processes, each listening on a socket of its own on the same port
        (SO_REUSEPORT: the kernel spreads new connections evenly over them; one socket shared by
        all let whichever process woke first accept a whole burst of connections, and keep-alive
        clients then stayed on it). This process claimed the port with ``sock`` (also
        SO_REUSEPORT); it closes it once every child listens, says ready, restarts a child that
        dies, and stops them on SIGINT/SIGTERM."""
        from django.db import connections

        for conn in connections.all():  # (this process serves nothing itself: no connection, no pool kept)
            conn.close()
            if hasattr(conn, "close_pool"):
                conn.close_pool()
        ready_r, ready_w = os.pipe()
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "kaizen_serve", "--serve-child", "--host", host,
                   "--port", str(port), "--ready-fd", str(ready_w), *(["--no-request-log"] if quiet else [])]

        def spawn() -> subprocess.Popen:
            return subprocess.Popen(command, pass_fds=(ready_w,), stdin=subprocess.DEVNULL)

        children = [spawn() for _ in range(processes)]
        stopping: list[int] = []

        def on_signal(signum, _frame) -> None:
            stopping.append(signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)
        try:
            heard, deadline = 0, time.monotonic() + timeout
            while heard < processes and not stopping:
                if any(c.poll() is not None for c in children) or time.monotonic() > deadline:
                    raise CommandError("a web process did not start; see the lines above")
                if select.select([ready_r], [], [], 0.2)[0]:
                    heard += len(os.read(ready_r, processes))
            sock.close()  # (every child listens: the claim's socket must not take a share of connections)
            if not stopping:
                self.stdout.write(f"{processes} web processes: {', '.join(str(c.pid) for c in children)}")
                ready()
            while not stopping:
                for i, child in enumerate(children):
                    if child.poll() is not None and not stopping:
                        self.stderr.write(f"web process {child.pid} exited ({child.returncode}); starting another")
                        children[i] = spawn()
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(5)

    def serve_child(self, host: str, port: int, ready_fd: int | None, quiet: bool) -> None:
        """One of several web processes: Daphne on a socket of its own (SO_REUSEPORT) on the port."""
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from kaizen_web.asgi import application

        sock = claim_port(host, port, shared=True)
        said: list[bool] = []

        def ready() -> None:
            if ready_fd is not None and not said:
                said.append(True)
                os.write(ready_fd, b"1")
                os.close(ready_fd)

        skip_form_parsing()
        freeze_startup_heap()
        Server(application=application, endpoints=build_endpoint_description_strings(file_descriptor=sock.fileno()),
               verbosity=0, ready_callable=ready, action_logger=None if quiet else RequestLog(sys.stdout, pid=True)).run()

    def start_worker(self, timeout: float = 60) -> None:
        """Start the in-process worker and wait until it is ready, so the line that says so comes before the URL."""
        from celery.signals import worker_ready

        from graphs.runner.worker import EMBEDDED_HOSTNAME, start_embedded_worker

        started = threading.Event()

        def on_ready(**_kwargs) -> None:
            started.set()

        worker_ready.connect(on_ready, weak=False)
        start_embedded_worker()  # the worker_ready signal starts the sweeper too
        if not started.wait(timeout):
            self.stderr.write(f"the embedded worker is not ready after {timeout:.0f}s; serving anyway")
            return
        root = " (as root: better run it as an ordinary user)" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        broker = "in-process broker" if settings.EMBEDDED else "Redis broker"  # (--worker yes in the distributed mode)
        self.stdout.write(f"Worker {EMBEDDED_HOSTNAME}: {settings.KAIZEN_EMBEDDED_WORKER_THREADS} threads, {broker}{root}")
