"""Graphs with immutable versions, runs, their per-node state, checkpoints and events."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AppendOnly(models.Model):
    """Rows are written once: no code path updates or deletes them one by one."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{type(self).__name__} rows are append-only")


class Graph(models.Model):
    # The workspace owns the graph (and so its runs and hooks); ``owner`` is who created it.
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="graphs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="graphs")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    latest_version = models.PositiveIntegerField(default=0)
    # The version triggers and schedules run ("production"); saving a draft never changes it.
    published_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["workspace", "-updated_at"], name="graph_workspace_updated")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.workspace_id is None and self.owner_id is not None:  # (services pass the current workspace)
            from workspaces.services import ensure_personal_workspace

            self.workspace = ensure_personal_workspace(self.owner)
        super().save(*args, **kwargs)


class GraphVersion(AppendOnly):
    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    message = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["graph", "number"], name="graph_version_unique")]


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        INTERRUPTED = "interrupted"
        CANCELLED = "cancelled"
        # Parked: a human node waits for an answer. No worker, no lease; an answer (or its
        # timeout) puts it back to queued. The sweeper leaves it alone.
        WAITING = "waiting"

    class Origin(models.TextChoices):  # what started it (shown on the run's page and in the API)
        PAGE = "page"
        API = "api"
        TRIGGER = "trigger"
        SCHEDULE = "schedule"
        FORK = "fork"  # re-run or fork of another run (forked_from)

    RESUMABLE = (Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)
    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FORKABLE = (Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED, Status.CANCELLED)

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(GraphVersion, on_delete=models.PROTECT, related_name="runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="runs")
    inputs = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    dry_run = models.BooleanField(default=False)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    outputs = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Execution bookkeeping: every worker can take any run, so it all lives here.
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)
    # Fencing token: every claim increments it; every write a worker makes for the run is
    # conditional on the epoch it claimed still being current.
    epoch = models.PositiveBigIntegerField(default=0)
    # Poison-run detection: the newest checkpoint id when the run was last claimed, and how many
    # workers in a row died running it without saving a checkpoint since (see runs_sweep).
    progress_mark = models.PositiveBigIntegerField(default=0)
    stalled_claims = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    last_seq = models.PositiveBigIntegerField(default=0)
    # Lineage: a run re-run or forked from a node of another run reuses that run's recorded
    # results upstream of the node; ``fork_edits`` says what was changed (inputs, outputs, version).
    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    forked_from_node = models.CharField(max_length=200, blank=True, default="")
    fork_edits = models.JSONField(null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.API)
    origin_label = models.CharField(max_length=200, blank=True, default="")  # e.g. 'trigger #3 "helpdesk"'

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["graph", "-created_at"]),
            models.Index(fields=["created_by", "-created_at"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class NodeState(models.Model):
    """The latest checkpointed state of one node of one run (what resume loads)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="node_states")
    node_id = models.CharField(max_length=200)
    status = models.CharField(max_length=16)
    data = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="node_state_unique")]


class Checkpoint(AppendOnly):
    """History: every checkpoint ever saved, in order."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    node_id = models.CharField(max_length=200)
    status = models.CharField(max_length=16)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"])]


class RunEvent(AppendOnly):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    event = models.CharField(max_length=40)
    node_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_seq_unique")]


class HumanAnswer(models.Model):
    """A person's answer to a human node (approval, input) of a run, or the default action taken
    when its timeout lapsed (``source`` timeout, no user). One per node and run: the first wins."""

    class Source(models.TextChoices):
        USER = "user"
        TIMEOUT = "timeout"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="answers")
    node_id = models.CharField(max_length=200)
    answer = models.JSONField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.USER)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="human_answer_once")]

    def for_engine(self) -> dict:
        """What the node sees (graphs/engine/nodes/human.py)."""
        return {"answer": self.answer, "source": self.source, "at": self.answered_at.isoformat(),
                "by": self.answered_by.get_username() if self.answered_by else None}


class Credential(models.Model):
    """An API key, encrypted at rest (Fernet); the browser only ever sees its name and hint. It
    belongs to a workspace (names are unique there); ``owner`` is who stored it."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="credentials")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=100)
    encrypted_key = models.BinaryField()
    hint = models.CharField(max_length=12, blank=True, default="")  # e.g. "sk-…a1b2"
    base_url = models.CharField(max_length=500, blank=True, default="")
    # Where tools may send the key (hosts, *.domain or origins; graphs/engine/tools/credentials.py),
    # set by the admin who stores it. Empty: no tool may send it.
    allowed_hosts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="credential_workspace_name_unique")]


class McpServer(models.Model):
    """A named connection to an MCP server over streamable HTTP: agents enable its tools by the
    connection's name. Its auth header's secret is a stored Credential of the same workspace (named,
    never copied here). It belongs to a workspace (names are unique there); ``owner`` is who added it."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="mcp_servers")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=500)
    credential = models.CharField(max_length=100, blank=True, default="")  # name of a Credential of the workspace
    auth_header = models.CharField(max_length=100, blank=True, default="Authorization")
    auth_value = models.CharField(max_length=300, blank=True, default="Bearer {{secret}}")  # {{secret}}: the key
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="mcp_server_workspace_name_unique")]


class MemoryRecord(models.Model):
    """Cold tier of conversation memory: one row per (workspace, session), shared across its runs."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="memories")
    session_id = models.CharField(max_length=200)
    turns = models.JSONField(default=list)
    access_count = models.PositiveIntegerField(default=0)
    last_access_at = models.DateTimeField(null=True, blank=True)
    tier = models.CharField(max_length=8, default="cold")  # where it currently lives: hot, warm, cold
    # Bumped by every append: a hot or warm copy is served only while its version is this one.
    version = models.PositiveBigIntegerField(default=0)
    # The session's own TierPolicy (as a dict), written by the agent using it: demotion applies it.
    policy = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "session_id"], name="memory_workspace_session_unique")]


class Connection(models.Model):
    """A workspace's named model endpoint: an OpenAI-compatible base URL, the stored credential
    whose key is sent there (none: no key), the models it offers and optional price overrides.
    Node configs name it (``connection``); the worker resolves it at run time (graphs/connections.py).
    The operator's OPENAI_BASE_URL and key are the built-in "default" connection, never a row."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=100)
    base_url = models.CharField(max_length=500)
    credential = models.ForeignKey(Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="connections")
    model_names = models.JSONField(default=list, blank=True)  # the models it offers ([]: any name)
    prices = models.JSONField(default=dict, blank=True)  # model -> [USD per 1M prompt, per 1M completion tokens]
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="connection_workspace_name_unique")]

    def __str__(self) -> str:
        return self.name
