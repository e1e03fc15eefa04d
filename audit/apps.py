from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from graphs import signals as published
        from kaizen_web import append_only

        from . import hooks, services, signals  # noqa: F401  (login and worker log context)

        # Audit hears graphs through graphs/signals.py only: people's actions, every run's engine
        # hooks, and the copy of run events the group commit stores with them.
        published.on_action(services.record_action, row=services.action_row)
        published.on_run(hooks.attach)
        published.read_with_claim(hooks.CLAIM_READ, hooks.claim_sql())  # (the graph's hooks, read by the claim)
        published.on_run(services.remember_run)  # (the names its events' audit rows carry)
        published.copy_events_to(services.RUN_EVENT_COPY)
        # SQLite drops a table's triggers when a migration rebuilds it: put the log's guards back.
        post_migrate.connect(append_only.ensure_guards, dispatch_uid="audit_append_only_guards")
