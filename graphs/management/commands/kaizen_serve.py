"""Serve the app with Daphne; in the embedded default, also run a Celery worker in-process."""

import ipaddress

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


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

    def handle(self, *args, host, port, no_demo, worker, **options):
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
            from graphs.worker import start_embedded_worker

            start_embedded_worker()  # the worker_ready signal starts the sweeper too
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from kaizen_web.asgi import application

        mode = "embedded (SQLite, in-process broker and channel layer)" if settings.EMBEDDED else "distributed (Redis)"
        llm = "SIMULATED (set OPENAI_BASE_URL / OPENAI_API_KEY for a real model)" if settings.KAIZEN_DEFAULT_PROVIDER == "simulated" else settings.OPENAI_BASE_URL or "api.openai.com"
        self.stdout.write(f"Kaizen Web: {mode}; LLM: {llm}")
        self.stdout.write(f"Open http://{host}:{port}/" + ("  (log in as demo / demo)" if demo else ""), self.style.SUCCESS)
        Server(application=application, endpoints=build_endpoint_description_strings(host=host, port=port),
               verbosity=0).run()
