"""The audit store (append-only), per-graph user hooks and their delivery attempts."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk update/delete refuse too; pruning goes through ``manage.py audit_prune`` (raw SQL)."""

    def update(self, **kwargs):
        raise ValueError("audit entries are append-only")

    def delete(self):
        raise ValueError("audit entries are append-only")


class AuditEntry(models.Model):
    """One thing that happened: a user action or a run's hook event. Written once, never changed.

    Object ids are plain integers, not foreign keys: the trail outlives the graph, run or user it
    talks about. ``owner_id`` is the user who owns the object (the graph's owner), so "my
    entries" is one indexed equality.
    """

    timestamp = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, db_index=False, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, default="")
    owner_id = models.BigIntegerField(null=True, blank=True)
    workspace_id = models.BigIntegerField(null=True, blank=True)  # who may read it: that workspace's members
    object_type = models.CharField(max_length=20)  # graph, run, credential, user, hook
    object_id = models.CharField(max_length=64, blank=True, default="")
    graph_id = models.BigIntegerField(null=True, blank=True)
    run_id = models.BigIntegerField(null=True, blank=True)
    node_id = models.CharField(max_length=200, blank=True, default="")
    event = models.CharField(max_length=40)
    status = models.CharField(max_length=16, blank=True, default="")
    summary = models.CharField(max_length=300, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # every list is "newest first" (ORDER BY id DESC) under one equality filter
            models.Index(fields=["owner_id", "-id"], name="audit_owner_id"),
            models.Index(fields=["workspace_id", "-id"], name="audit_workspace_id"),
            models.Index(fields=["graph_id", "-id"], name="audit_graph_id"),
            models.Index(fields=["run_id", "-id"], name="audit_run_id"),
            models.Index(fields=["actor", "-id"], name="audit_actor_id"),
            models.Index(fields=["event", "-id"], name="audit_event_id"),
            models.Index(fields=["status", "-id"], name="audit_status_id"),
            models.Index(fields=["node_id", "-id"], name="audit_node_id"),
            models.Index(fields=["timestamp"], name="audit_timestamp"),
        ]
        verbose_name_plural = "audit entries"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.event} {self.object_type}:{self.object_id}"


ENCRYPTED_PREFIX = "fernet:"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class GraphHook(models.Model):
    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "HTTP webhook"
        SLOW_NODE = "slow_node", "Slow-node alert"
        ERROR = "error", "Error alert"

    graph = models.ForeignKey("graphs.Graph", on_delete=models.CASCADE, related_name="audit_hooks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True, default="")
    url = models.URLField(max_length=500, blank=True, default="")  # where to POST (optional for alerts)
    # HMAC key, encrypted at rest ("fernet:..."); shown once, at creation (signing_secret)
    secret = models.CharField(max_length=400, default=new_secret)
    events = models.JSONField(default=list, blank=True)  # webhook: hook event names ([] = run_finished + on_error)
    threshold_ms = models.PositiveIntegerField(null=True, blank=True)  # slow_node
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} on graph {self.graph_id}"

    def save(self, *args, **kwargs):
        from kaizen_web.crypto import encrypt_text

        if not self.secret.startswith(ENCRYPTED_PREFIX):
            self.secret = ENCRYPTED_PREFIX + encrypt_text(self.secret)
        super().save(*args, **kwargs)

    @property
    def signing_secret(self) -> str:
        """The plain HMAC key (rows written before encryption hold it as is)."""
        from kaizen_web.crypto import decrypt_text

        if self.secret.startswith(ENCRYPTED_PREFIX):
            return decrypt_text(self.secret.removeprefix(ENCRYPTED_PREFIX)) or ""
        return self.secret


class HookDelivery(models.Model):
    """One attempt to POST one payload to a hook's URL."""

    hook = models.ForeignKey(GraphHook, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=40)  # the same for every attempt of one payload
    event = models.CharField(max_length=40)
    run_id = models.BigIntegerField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.FloatField(default=0)
    next_retry_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["hook", "-id"], name="audit_delivery_hook")]
