"""The one place that answers "may this user do ACTION on this object".

Every object belongs to a workspace (directly or through its graph); a user may act on it when
they are a member of that workspace with at least the role the action needs. Nothing else counts:
staff and superusers get no access here (Django admin is their tool). Objects in workspaces the
user is not a member of are *invisible*: ``get_for`` answers 404 for them, exactly as for a
missing id; a member whose role is too low for the action gets 403.

    graphs_visible_to(user)                       # a queryset
    scoped(user, Credential, "credentials")       # any model below, filtered
    get_for(user, Run, pk, "run")                 # 404 / 403 / the object
    CompiledGetFor(lambda: Run.objects.all())     # the same, its statement compiled once (hot paths)
    may(user, "edit", graph)                      # a bool
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import connections, router
from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # (what ModelIterable uses; not in the stubs)
from django.http import Http404

from .models import Membership, Role

# The least role each action needs.
ACTIONS: dict[str, int] = {
    "view": Role.VIEWER,         # read graphs, runs, events, audit entries, hooks, memory
    "run": Role.RUNNER,          # start, cancel, resume runs
    "edit": Role.EDITOR,         # create and save graphs, restore versions, hooks; list connections
    "delete": Role.ADMIN,        # delete graphs
    "members": Role.ADMIN,       # add members, change roles
    "connections": Role.ADMIN,   # define model connections
    "credentials": Role.ADMIN,   # store, rotate, delete API keys
}

# How each model reaches its workspace (a lookup path from the model).
WORKSPACE_PATH: dict[str, str] = {
    "workspaces.workspace": "pk",
    "workspaces.membership": "workspace",
    "graphs.graph": "workspace",
    "graphs.graphversion": "graph__workspace",
    "graphs.run": "graph__workspace",
    "graphs.runevent": "run__graph__workspace",
    "graphs.credential": "workspace",
    "graphs.connection": "workspace",
    "graphs.mcpserver": "workspace",
    "graphs.memoryrecord": "workspace",
    "audit.auditentry": "workspace_id",
    "audit.graphhook": "graph__workspace",
}


def need(action: str) -> int:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def abilities(role: int | None) -> dict[str, bool]:
    """{action: allowed} for a member holding ``role`` (None: not a member): the pages show only
    the buttons the server would accept (``{% if can.run %}``)."""
    return {action: role is not None and role >= least for action, least in ACTIONS.items()}


def workspace_ids(user: Any, action: str = "view") -> QuerySet:
    """Ids of the workspaces where ``user`` may do ``action`` (a subquery, never evaluated here)."""
    if user is None or not user.is_authenticated:
        return Membership.objects.none().values_list("workspace_id", flat=True)
    return Membership.objects.filter(user_id=user.pk, role__gte=need(action)).values_list("workspace_id", flat=True)


def role_of(user: Any, workspace_id: int | None) -> int | None:
    if user is None or not user.is_authenticated or workspace_id is None:
        return None
    return Membership.objects.filter(user_id=user.pk, workspace_id=workspace_id).values_list("role", flat=True).first()


def _path(model: type[Model]) -> str:
    try:
        return WORKSPACE_PATH[model._meta.label_lower]
    except KeyError:
        raise ValueError(f"{model._meta.label} has no workspace") from None


def _ref(model: type[Model]) -> str:
    """The lookup that names the workspace id of ``model``'s rows."""
    path = _path(model)
    return path if path.endswith("_id") or path == "pk" else f"{path}_id"


def scoped(user: Any, qs: QuerySet | type[Model], action: str = "view") -> QuerySet:
    """``qs`` (or all of a model) narrowed to the workspaces where ``user`` may do ``action``."""
    if not isinstance(qs, QuerySet):
        qs = qs._default_manager.all()
    return qs.filter(**{f"{_ref(qs.model)}__in": workspace_ids(user, action)})


def workspace_id_of(obj: Model) -> int | None:
    path = _path(type(obj))
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, last if last.endswith("_id") else f"{last}_id")


def may(user: Any, action: str, obj: Model) -> bool:
    role = role_of(user, workspace_id_of(obj))
    return role is not None and role >= need(action)


def check(user: Any, action: str, obj: Model) -> Model:
    """``obj`` if ``user`` may do ``action`` on it; 404 when they may not even see it, else 403."""
    role = role_of(user, workspace_id_of(obj))
    if role is None:
        raise Http404(f"No {type(obj)._meta.object_name} matches the given query.")
    if role < need(action):
        raise PermissionDenied(f"your role in this workspace may not {action} this")
    return obj


def get_for(user: Any, qs: QuerySet | type[Model], pk: Any = None, action: str = "view", **lookup: Any) -> Any:
    """The object (by ``pk`` or ``lookup``) if visible to ``user`` and ``action`` is allowed:
    404 for a missing object or one outside the user's workspaces, 403 for a role too low.
    One query: the caller's role in the object's workspace comes with the object."""
    base = qs if isinstance(qs, QuerySet) else qs._default_manager.all()
    missing = Http404(f"No {base.model._meta.object_name} matches the given query.")
    if pk is not None:
        lookup["pk"] = _valid_pk(pk, missing)
    if user is None or not user.is_authenticated:
        raise missing
    return _allowed(_with_role(base, user.pk, lookup).first(), action, missing)


def _valid_pk(pk: Any, missing: Http404) -> int:
    try:  # ids from URLs and forms: anything but a sensible integer is simply not there
        pk = int(pk)
    except (TypeError, ValueError):
        raise missing from None
    if not 0 < pk < 2**63:
        raise missing
    return pk


def _with_role(base: QuerySet, user_id: Any, lookup: dict[str, Any]) -> QuerySet:
    """``base`` narrowed by ``lookup`` to the rows whose workspace ``user_id`` is a member of, each
    with that member's role (``kaizen_role``)."""
    role = Membership.objects.filter(user_id=user_id, workspace_id=OuterRef(_ref(base.model))).values("role")[:1]
    return base.filter(**lookup).annotate(kaizen_role=Subquery(role)).filter(kaizen_role__isnull=False)


def _allowed(obj: Model | None, action: str, missing: Http404) -> Any:
    if obj is None:
        raise missing
    if obj.kaizen_role < need(action):  # type: ignore[attr-defined]
        raise PermissionDenied(f"your role in this workspace may not {action} this")
    return obj


# Stand-ins for the id and the user's id while get_for's statement is compiled once
# (CompiledGetFor): found again among its parameters, replaced by the real ones on each call.
# (In range of a 32-bit id field: Django drops a filter on an out-of-range value.)
_PK, _USER = 2_000_000_011, 2_000_000_003


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    pk_at: tuple[int, ...]  # where the stand-ins are among the parameters
    user_at: tuple[int, ...]  # (the role's subquery is both selected and filtered on: twice)
    query: Any  # (a compiler of this thread's connection is made from it per call, to convert a row)
    converters: dict[int, Any]  # the columns' converters (their fields' and the backend's: no state)
    model: type[Model]
    fields: slice  # the model's own columns
    attnames: list[str]
    populators: list[Any]  # select_related's objects
    annotations: dict[str, int]


class CompiledGetFor:
    """``get_for(user, queryset(), pk, action)`` for the API's hot paths (graphs/selectors.py): the
    same statement, object and answers, but the ORM compiles the statement once per process and
    database instead of on every call (compiling it cost ~2 ms of CPU, ten times running it).
    ``queryset``: a function giving the queryset (select_related, defer, annotations; no prefetch).
    Each call executes the statement with its own pk and user, and builds the object as Django's
    ModelIterable does from a row."""

    def __init__(self, queryset: Callable[[], QuerySet]) -> None:
        self.queryset = queryset
        self.compiled: dict[str, _Compiled] = {}  # by database alias (a race compiles it twice: harmless)
        self.model: type[Model] | None = None

    def __call__(self, user: Any, pk: Any, action: str = "view") -> Any:
        if self.model is None:
            self.model = self.queryset().model
        missing = Http404(f"No {self.model._meta.object_name} matches the given query.")
        pk = _valid_pk(pk, missing)
        if user is None or not user.is_authenticated:
            raise missing
        alias = router.db_for_read(self.model)
        compiled = self.compiled.get(alias) or self._compile(alias)
        params = list(compiled.params)
        for i in compiled.pk_at:
            params[i] = pk
        for i in compiled.user_at:
            params[i] = user.pk
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        return _allowed(None if row is None else self._build(compiled, alias, row), action, missing)

    def _compile(self, alias: str) -> _Compiled:
        qs = _with_role(self.queryset(), _USER, {"pk": _PK})[:1]
        if qs._prefetch_related_lookups or qs._known_related_objects:  # type: ignore[attr-defined]
            raise ImproperlyConfigured("CompiledGetFor: a queryset without prefetches or known related objects")
        compiler = qs.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        at = {stand_in: tuple(i for i, p in enumerate(params) if p == stand_in) for stand_in in (_PK, _USER)}
        if not all(at.values()):
            raise ImproperlyConfigured(f"CompiledGetFor: a stand-in is not among the parameters {params!r}")
        info, select = compiler.klass_info, compiler.select
        fields = slice(info["select_fields"][0], info["select_fields"][-1] + 1)
        self.compiled[alias] = compiled = _Compiled(
            sql, tuple(params), at[_PK], at[_USER], qs.query, compiler.get_converters([col for col, _sql, _alias in select]),
            info["model"], fields, [col.target.attname for col, _sql, _alias in select[fields]],
            get_related_populators(info, select, alias), dict(compiler.annotation_col_map))
        return compiled

    @staticmethod
    def _build(compiled: _Compiled, alias: str, row: tuple[Any, ...]) -> Model:
        values = next(compiled.query.get_compiler(using=alias).apply_converters([row], compiled.converters))
        obj = compiled.model.from_db(alias, compiled.attnames, values[compiled.fields])
        for populator in compiled.populators:
            populator.populate(values, obj)
        for name, i in compiled.annotations.items():
            setattr(obj, name, values[i])
        return obj


def graphs_visible_to(user: Any, action: str = "view") -> QuerySet:
    from graphs.models import Graph

    return scoped(user, Graph.objects.select_related("owner", "workspace"), action)


def runs_visible_to(user: Any, action: str = "view") -> QuerySet:
    from graphs.models import Run

    return scoped(user, Run.objects.select_related("graph", "version", "created_by"), action)
