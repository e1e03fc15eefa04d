from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import append_only, signals  # noqa: F401  (login and worker log context)

        # SQLite drops a table's triggers when a migration rebuilds it: put the log's guards back.
        post_migrate.connect(append_only.ensure_guards, dispatch_uid="audit_append_only_guards")
