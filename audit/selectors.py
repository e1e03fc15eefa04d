"""Reads: who may see which entries, the list filters, figures for the dashboard and /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, FloatField, Func, Lookup, Q, QuerySet, Sum, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from graphs.engine.hooks import HookEvent

from .models import AuditEntry, GraphHook

USER_EVENTS = ["graph.created", "graph.saved", "graph.restored", "graph.deleted", "run.started", "run.cancelled",
               "run.resumed", "credential.added", "credential.rotated", "credential.hosts_changed", "credential.deleted", "hook.created", "hook.updated",
               "hook.deleted", "alert.slow_node", "alert.error", "run.answered", "run.answer_timeout", "run.rerun", "run.forked",
               "graph.published", "connection.saved", "connection.deleted", "mcp_server.added", "mcp_server.changed",
               "mcp_server.deleted", "workspace.created", "member.added", "member.invited", "member.role", "member.removed",
               "trigger.created", "trigger.updated", "trigger.deleted", "trigger.secret_regenerated", "schedule.created",
               "schedule.updated", "schedule.deleted"]
# What arrives from outside, not from a person: shown with "Everything", on the trigger's and schedule's
# pages, and through the event filter; the runs they start show in the default view by their outcome.
MACHINE_EVENTS = ["trigger.called", "schedule.fired"]
EVENT_CHOICES = USER_EVENTS + MACHINE_EVENTS + [e.value for e in HookEvent]
# What the log opens on: what people did and how runs ended. The engine's step-by-step events
# (checkpoints, LLM calls, node starts) are one choice away ("show").
OUTCOME_EVENTS = ["run_finished", "on_error", "interrupted", "cancelled", "run_waiting"]
VIEWS = {
    "": ("People and outcomes", USER_EVENTS + OUTCOME_EVENTS),  # (a run or node filter: all its events)
    "llm": ("LLM calls", ["pre_llm_call", "post_llm_call", "llm_retry"]),
    "checkpoints": ("Checkpoints", ["pre_checkpoint_save", "post_checkpoint_save", "node_restored"]),
    "all": ("Everything", None),
}
STATUS_CHOICES = ["succeeded", "failed", "running", "retrying", "skipped", "interrupted", "cancelled"]


# A person's own events (sign-ins, their API tokens): they belong to no workspace. (Sign-ins recorded
# before that rule carry the user's personal workspace: they are left out of workspace views by their event.)
ACCOUNT_EVENTS = ["user.login", "token_created", "token_revoked"]


def entries_visible(user, workspace=None) -> QuerySet[AuditEntry]:
    """The entries of the workspaces ``user`` is a member of (staff included: no back door),
    narrowed to ``workspace`` when given. People's sign-ins and tokens are not a workspace's: account_entries."""
    from workspaces.permissions import scoped

    qs = scoped(user, AuditEntry).exclude(event__in=ACCOUNT_EVENTS)
    return qs.filter(workspace_id=workspace.pk) if workspace is not None else qs


def account_entries(user) -> QuerySet[AuditEntry]:
    """``user``'s own sign-ins and API tokens made or revoked, newest first (the audit page's "Your account")."""
    if user is None or not user.is_authenticated:
        return AuditEntry.objects.none()
    return AuditEntry.objects.filter(actor_id=user.pk, event__in=ACCOUNT_EVENTS).order_by("-id")


@dataclass
class AuditFilter:
    start: str = ""
    end: str = ""
    user: str = ""
    graph: str = ""
    run: str = ""
    node: str = ""
    event: str = ""
    status: str = ""
    q: str = ""
    show: str = ""  # a key of VIEWS; "" is people's actions and run outcomes

    @classmethod
    def from_params(cls, params: Mapping[str, Any], default_show: str = "") -> AuditFilter:
        """Without a ``show``, the page opens on people and outcomes (``default_show``; exports
        take everything)."""
        f = cls(**{k: str(params.get(k, "")).strip()[:200] for k in cls.__dataclass_fields__})
        if "show" not in params:
            f.show = default_show
        if f.show not in VIEWS:
            f.show = ""
        return f

    def as_params(self) -> dict[str, str]:
        """The non-empty filters, for URLs (pagination, export links); ``show`` always, so that an
        export takes what the page shows."""
        return {k: v for k, v in asdict(self).items() if v or k == "show"}


def _when(text: str, end: bool = False) -> datetime | None:
    """Accepts 2026-11-25, 2026-11-25T09:30 (datetime-local) or a full ISO timestamp; UTC if naive."""
    if not text:
        return None
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = parse_datetime(text) if day is None else None
    except ValueError:  # 2026-13-45 and friends: ignore the bound rather than fail the page
        return None
    if day is not None:  # a whole day: "to 2026-11-25" includes that day
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _int(text: str) -> int | None:
    """An id, or None when it is not one (nor fits a bigint: 30 digits must not reach SQL)."""
    if not text.lstrip("-").isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def filter_entries(qs: QuerySet[AuditEntry], f: AuditFilter) -> QuerySet[AuditEntry]:
    """Every filter narrows (AND); an unparseable id matches nothing rather than everything."""
    start, end = _when(f.start), _when(f.end, end=True)
    if start:
        qs = qs.filter(timestamp__gte=start)
    if end:
        qs = qs.filter(timestamp__lt=end)
    if f.user:
        uid = _int(f.user)
        if uid is None:
            uid = get_user_model().objects.filter(username=f.user).values_list("pk", flat=True).first()
        qs = qs.filter(actor_id=uid) if uid is not None else qs.none()
    for name, column in (("graph", "graph_id"), ("run", "run_id")):
        value = getattr(f, name)
        if value:
            number = _int(value.lstrip("#"))
            qs = qs.filter(**{column: number}) if number is not None else qs.none()
    if f.node:
        qs = qs.filter(node_id=f.node)
    if f.event:  # one event asked for by name: whichever view it belongs to
        qs = qs.filter(event=f.event)
    elif f.show or not (f.run or f.node):  # (the default view of one run or node is all of its events)
        events = VIEWS.get(f.show, VIEWS[""])[1]
        if events is not None:
            qs = qs.filter(event__in=events)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.q:
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        qs = qs.alias(search=SearchText("summary", "node_id", "event", "actor_name")).filter(search__audit_ilike=pattern)
    return qs


class SearchText(Func):
    """summary || ' ' || node_id || ' ' || event || ' ' || actor_name: the expression of the
    audit_search_trgm index (migration 0003), so PostgreSQL answers ILIKE from that index."""

    arg_joiner = " || ' ' || "
    template = "(%(expressions)s)"
    output_field = TextField()


@TextField.register_lookup
class AuditILike(Lookup):
    lookup_name = "audit_ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        operator = "ILIKE" if connection.vendor == "postgresql" else "LIKE"  # SQLite's LIKE ignores case
        escape = "" if connection.vendor == "postgresql" else " ESCAPE '\\'"
        return f"{lhs} {operator} {rhs}{escape}", [*lhs_params, *rhs_params]


MAX_PAGE = 100_000  # (5 million entries back; narrow the filters to go further)


def entries_page(qs: QuerySet[AuditEntry], page: int, per_page: int = 50) -> tuple[list[AuditEntry], bool]:
    """One page, newest first, without COUNT(*) (which costs a full scan on a million rows)."""
    page = min(max(page, 1), MAX_PAGE)
    start = (page - 1) * per_page
    rows = list(qs.order_by("-id")[start:start + per_page + 1])
    return rows[:per_page], len(rows) > per_page


def hooks_for_graph(graph) -> QuerySet[GraphHook]:
    return GraphHook.objects.filter(graph=graph).order_by("id")


# -- figures -------------------------------------------------------------------------------
def _num(key: str):
    return Coalesce(Cast(KeyTextTransform(key, "data"), FloatField()), 0.0, output_field=FloatField())


def runs_by_status(user=None) -> dict[str, int]:
    from graphs.models import Run
    from graphs.selectors import runs_visible

    qs = runs_visible(user) if user is not None else Run.objects.all()
    return dict(qs.order_by().values_list("status").annotate(n=Count("id")))


def llm_usage_by_model(since: datetime | None = None, user=None) -> list[dict[str, Any]]:
    # replayed calls were paid for once, when first made; rows without the key are real calls
    qs = (entries_visible(user) if user is not None else AuditEntry.objects).filter(Q(data__replayed__isnull=True) | Q(data__replayed=False), event="post_llm_call")
    if since:
        qs = qs.filter(timestamp__gte=since)
    rows = (qs.annotate(model=KeyTextTransform("model", "data")).order_by().values("model")
            .annotate(calls=Count("id"), prompt_tokens=Sum(_num("prompt_tokens")),
                      completion_tokens=Sum(_num("completion_tokens")), cost_usd=Sum(_num("cost_usd"))))
    return [{**r, "model": r["model"] or "unknown"} for r in rows]


def dashboard_figures(user, days: int = 30, workspace=None) -> dict[str, Any]:
    """Runs per day, cost per day by model, p95 node latency by kind and error rate per day (of
    ``workspace`` when given, else of every workspace ``user`` is a member of)."""
    from graphs.selectors import runs_visible

    since = timezone.now() - timedelta(days=days)
    runs_qs = runs_visible(user) if workspace is None else runs_visible(user).filter(graph__workspace=workspace)
    per_day = (runs_qs.filter(created_at__gte=since).annotate(day=TruncDate("created_at")).order_by()
               .values("day").annotate(total=Count("id"), failed=Count("id", filter=Q(status="failed")),
                                       finished=Count("id", filter=Q(status__in=["succeeded", "failed"]))))
    runs = sorted(per_day, key=lambda r: r["day"])
    entries = entries_visible(user, workspace).filter(timestamp__gte=since)
    cost_rows = (entries.filter(event="post_llm_call").annotate(day=TruncDate("timestamp"), model=KeyTextTransform("model", "data"))
                 .order_by().values("day", "model").annotate(cost=Sum(_num("cost_usd"))))
    cost: dict[str, dict[str, float]] = {}
    for r in cost_rows:
        cost.setdefault(r["model"] or "unknown", {})[r["day"].isoformat()] = round(r["cost"] or 0, 6)
    durations: dict[str, list[float]] = {}
    latest = (entries.filter(event="post_node", data__node_kind__isnull=False).annotate(kind=KeyTextTransform("node_kind", "data"), ms=_num("duration_ms"))
              .order_by("-id").values_list("kind", "ms")[:20000])
    for kind, ms in latest:
        durations.setdefault(kind or "unknown", []).append(ms)
    return {
        "days": [r["day"].isoformat() for r in runs],
        "runs": [r["total"] for r in runs],
        "error_rate": [round(r["failed"] / r["finished"], 4) if r["finished"] else 0 for r in runs],
        "cost_by_model": cost,
        "p95_ms_by_kind": {k: round(_p95(v), 1) for k, v in sorted(durations.items())},
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else 0.0



def object_names(entries: list[AuditEntry]) -> dict[tuple[str, int | None], str]:
    """Names of the graphs and runs a page of entries talks about, fetched in two queries:
    ("graph", 6) -> "Support triage", ("run", 5) -> "Run #5 of Support triage". An object deleted
    since has no name (the entry shows its id)."""
    from graphs.models import Graph, Run

    graph_ids = {e.graph_id for e in entries if e.graph_id}
    run_ids = {e.run_id for e in entries if e.run_id}
    names: dict[tuple[str, int | None], str] = {}
    for pk, name in Graph.objects.filter(pk__in=graph_ids).values_list("pk", "name"):
        names["graph", pk] = name
    for pk, graph_id in Run.objects.filter(pk__in=run_ids).values_list("pk", "graph_id"):
        names["run", pk] = f"Run #{pk}" + (f" of {names['graph', graph_id]}" if ("graph", graph_id) in names else "")
    return names
