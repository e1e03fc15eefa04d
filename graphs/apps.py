from django.apps import AppConfig


class GraphsConfig(AppConfig):
    name = "graphs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import run_delete, worker  # noqa: F401  (deleting a run opens its events' guard; Celery worker signals)
        from .api import auth_cache

        auth_cache.connect_signals()  # (revoked credentials: every process's cached callers re-checked)
