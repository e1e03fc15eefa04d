from django.apps import AppConfig


class GraphsConfig(AppConfig):
    name = "graphs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import run_delete  # noqa: F401  (deleting a run opens its events' guard)
        from .runner import tasks, worker  # noqa: F401  (the run tasks, by their names in graphs/dispatch.py; Celery worker signals)
