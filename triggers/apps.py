from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers and schedules"

    def ready(self) -> None:
        from . import beat, signals  # noqa: F401  (the embedded worker also runs beat: worker_ready)
