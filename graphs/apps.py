from django.apps import AppConfig


class GraphsConfig(AppConfig):
    name = "graphs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import worker  # noqa: F401  (connects the Celery worker signals)
