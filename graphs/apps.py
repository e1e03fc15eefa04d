from django.apps import AppConfig


class GraphsConfig(AppConfig):
    name = "graphs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import run_delete, worker  # noqa: F401  (deleting a run opens its events' guard; Celery worker signals)
