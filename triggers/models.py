"""Ways a graph's published version starts without anyone pressing a button: inbound webhook
triggers and schedules (their clock is Celery beat's DatabaseScheduler, django-celery-beat), and
the record of every firing a schedule made (unique per schedule and firing time)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


class WebhookTrigger(models.Model):
    class Auth(models.TextChoices):
        TOKEN = "token", "Header token"
        HMAC = "hmac", "HMAC-SHA256 signature"

    class Mode(models.TextChoices):
        ASYNC = "async", "Answer 202 with the run id at once"
        WAIT = "wait", "Wait for the run and answer with its outputs"

    graph = models.ForeignKey("graphs.Graph", on_delete=models.CASCADE, related_name="webhook_triggers")
    name = models.CharField(max_length=100, blank=True, default="")
    # The URL is /hooks/t/<public_id>/: random, so trigger ids cannot be enumerated.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.TOKEN)
    # Token mode keeps only a SHA-256 of the token; HMAC mode needs the key itself, kept encrypted
    # with the credentials' keys (kaizen_web/crypto.py). Either is shown once, when made.
    token_sha256 = models.CharField(max_length=64, blank=True, default="")
    encrypted_secret = models.TextField(blank=True, default="")
    secret_hint = models.CharField(max_length=12, blank=True, default="")
    # {graph input: JSON pointer ("/a/b/0") or dotted path ("a.b.0")} into the request's JSON body;
    # empty: the body itself (an object) is the inputs. Data only: nothing in it is executed.
    mapping = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.ASYNC)
    wait_s = models.PositiveSmallIntegerField(default=30)  # wait mode: at most this long, then 202
    rate_limit = models.CharField(max_length=20, blank=True, default="60/min")  # "" = none
    max_body_bytes = models.PositiveIntegerField(default=256 * 1024)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"trigger {self.name or self.public_id} on graph {self.graph_id}"

    @property
    def path(self) -> str:
        return f"/hooks/t/{self.public_id}/"


class RefusalWindow(models.Model):
    """Refused calls of one trigger with one HTTP status, counted from the first of them for
    ``KAIZEN_TRIGGER_REFUSAL_WINDOW_S``: that first call is in the audit log (its reason and
    caller), the others of the window only add to ``count`` here. A flood of calls without the
    secret is one audit row per trigger, status and window, not one per call."""

    trigger = models.ForeignKey(WebhookTrigger, on_delete=models.CASCADE, related_name="refusal_windows")
    http_status = models.PositiveSmallIntegerField()
    opened_at = models.DateTimeField()
    last_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)  # the window's refusals, its first included
    last_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["trigger", "http_status", "-opened_at"], name="trigger_refusal_latest")]

    def __str__(self) -> str:
        return f"{self.count} x {self.http_status} for trigger {self.trigger_id} from {self.opened_at:%H:%M:%S}"


class Schedule(models.Model):
    class Kind(models.TextChoices):
        CRON = "cron", "Cron expression"
        INTERVAL = "interval", "Every N seconds"

    class Missed(models.TextChoices):
        SKIP = "skip", "Skip missed firings"
        RUN_ONCE = "run_once", "Run once for missed firings"

    graph = models.ForeignKey("graphs.Graph", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100, blank=True, default="")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CRON)
    cron = models.CharField(max_length=120, blank=True, default="")  # 5 fields: minute hour day month weekday
    interval_s = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # Interval firings fall on anchor + k * interval_s (also what beat's start_time is).
    anchor = models.DateTimeField()
    inputs = models.JSONField(default=dict, blank=True)
    missed = models.CharField(max_length=8, choices=Missed.choices, default=Missed.RUN_ONCE)
    enabled = models.BooleanField(default=True)
    # The row beat reads (django-celery-beat); kept in step by triggers.services.
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="kaizen_schedule")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"schedule {self.name or self.pk} on graph {self.graph_id}"


class ScheduleFiring(models.Model):
    """One firing of a schedule. The unique (schedule, fire_at) key, inserted in the transaction
    that starts the run, is what makes a firing start at most one run, however many beat
    processes sent it and however many workers received it."""

    class Outcome(models.TextChoices):
        STARTED = "started"
        SKIPPED = "skipped"  # missed, and the policy is skip
        REFUSED = "refused"  # no published version, or inputs the published version refuses

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="firings")
    fire_at = models.DateTimeField()
    run = models.ForeignKey("graphs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    late_s = models.FloatField(default=0)  # how long after fire_at the message was sent
    detail = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "fire_at"], name="schedule_firing_once")]
