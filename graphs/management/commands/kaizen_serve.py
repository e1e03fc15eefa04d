"""Serve the app with Daphne; in the embedded default, also run a Celery worker in-process."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


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
        if not no_demo:
            call_command("kaizen_demo")
        if worker == "yes" or (worker == "auto" and settings.EMBEDDED):
            from graphs.worker import start_embedded_worker

            start_embedded_worker()  # the worker_ready signal starts the sweeper too
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from kaizen_web.asgi import application

        mode = "embedded (SQLite, in-process broker and channel layer)" if settings.EMBEDDED else "distributed (Redis)"
        llm = "SIMULATED (set OPENAI_BASE_URL / OPENAI_API_KEY for a real model)" if settings.KAIZEN_DEFAULT_PROVIDER == "simulated" else settings.OPENAI_BASE_URL or "api.openai.com"
        self.stdout.write(f"Kaizen Web: {mode}; LLM: {llm}")
        self.stdout.write(f"Open http://{host}:{port}/  (log in as demo / demo)", self.style.SUCCESS)
        Server(application=application, endpoints=build_endpoint_description_strings(host=host, port=port),
               verbosity=0).run()
