"""The permission matrix (issue 10, Tests): every endpoint of the OpenAPI schema, every page and
the websocket, called by each role of a team workspace, by a member of another workspace (a
superuser: staff is no back door) and by an anonymous caller. Nobody outside the team gets a
2xx that reveals the team's data or changes it; members get exactly what their role allows.

The team's data carries a marker (MARK) in every name; the outsider's and the anonymous
caller's answers must never contain it, and a snapshot of everything the team owns must be the
same after their calls as before."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from audit.models import AuditEntry, GraphHook
from graphs.connections import connection_save
from graphs.credentials import credential_set
from graphs.models import Connection, Credential, Graph, MemoryRecord, Run, RunEvent
from graphs.pattern_templates import TEMPLATES
from graphs.services import graph_create, run_start
from tests.helpers import chain
from workspaces.models import Membership

from .conftest import ROLES

MARK = "zq7team"
CALLERS = [*ROLES, "outsider", "anonymous"]

# What each non-GET operation needs (workspaces.permissions.ACTIONS); GETs need "view" unless listed.
NEEDS = {
    ("POST", "/api/graphs/"): "edit",
    ("PUT", "/api/graphs/{id}/"): "edit",
    ("DELETE", "/api/graphs/{id}/"): "delete",
    ("POST", "/api/graphs/{id}/versions/{number}/restore/"): "edit",
    ("POST", "/api/graphs/{id}/runs/"): "run",
    ("POST", "/api/runs/{id}/cancel/"): "run",
    ("POST", "/api/runs/{id}/resume/"): "run",
    ("POST", "/api/graphs/{id}/hooks/"): "edit",
    ("PATCH", "/api/graphs/{id}/hooks/{hook_id}/"): "edit",
    ("DELETE", "/api/graphs/{id}/hooks/{hook_id}/"): "edit",
    ("GET", "/api/credentials/"): "edit",
    ("POST", "/api/credentials/"): "credentials",
    ("PUT", "/api/credentials/{name}/"): "credentials",
    ("DELETE", "/api/credentials/{name}/"): "credentials",
    ("GET", "/api/connections/"): "edit",
    ("POST", "/api/connections/"): "connections",
    ("GET", "/api/connections/{id}/"): "edit",
    ("PUT", "/api/connections/{id}/"): "connections",
    ("DELETE", "/api/connections/{id}/"): "connections",
    ("POST", "/api/templates/{slug}/instantiate/"): "edit",
}
LEAST = {"view": "viewer", "run": "runner", "edit": "editor", "delete": "admin", "credentials": "admin", "connections": "admin"}
# Calls any signed-in user may make whatever their role: they touch no workspace's data.
OPEN = {("POST", "/api/graphs/validate/")}


def operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = [(method.upper(), path) for path, item in schema["paths"].items() for method in item
           if method in ("get", "post", "put", "patch", "delete")]
    order = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
    return sorted(ops, key=lambda op: (order[op[0]], op[1]))


def body_for(method: str, path: str, team) -> dict[str, Any] | None:
    spec = chain(1)
    return {
        ("POST", "/api/graphs/"): {"name": "new", "spec": spec},
        ("PUT", "/api/graphs/{id}/"): {"spec": spec},
        ("POST", "/api/graphs/{id}/runs/"): {"inputs": {"task": "t"}},
        ("POST", "/api/graphs/validate/"): {"spec": spec},
        ("POST", "/api/graphs/{id}/hooks/"): {"kind": "error"},
        ("PATCH", "/api/graphs/{id}/hooks/{hook_id}/"): {"enabled": False},
        ("POST", "/api/credentials/"): {"name": "other-key", "api_key": "sk-new-key-0123456789"},
        ("PUT", "/api/credentials/{name}/"): {"api_key": "sk-rotated-0123456789"},
        ("POST", "/api/connections/"): {"name": "another", "base_url": "https://8.8.4.4/v1"},
        ("PUT", "/api/connections/{id}/"): {"base_url": "https://1.1.1.1/v1"},
        ("POST", "/api/templates/{slug}/instantiate/"): {"name": "from template"},
    }.get((method, path))


@pytest.fixture
def data(team, settings):
    """The team's objects, each named with MARK, plus a graph without runs (to delete)."""
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    ws, admin = team.workspace, team.members["admin"]
    Graph.objects.filter(pk=team.graph.pk).update(name=f"{MARK} graph")
    run = run_start(graph=team.graph, user=admin, inputs={"task": f"{MARK} input"})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)  # resumable
    RunEvent.objects.create(run=run, seq=1, event="run_started", created_at=datetime.now(UTC), data={"note": MARK})
    hook = GraphHook.objects.create(graph=team.graph, kind="error", name=f"{MARK} hook")
    credential, _ = credential_set(owner=admin, workspace=ws, name=f"{MARK}-key", api_key="sk-team-secret-0123456789")
    connection = connection_save(workspace=ws, user=admin, data={"name": f"{MARK}-conn", "base_url": "https://8.8.8.8/v1",
                                                                 "credential": credential.name, "models": [f"{MARK}-model"]})
    MemoryRecord.objects.create(workspace=ws, session_id=f"{MARK}-session", turns=[{"user": MARK}])
    doomed = graph_create(owner=admin, workspace=ws, name=f"{MARK} doomed", spec=chain(1)).graph
    entry = AuditEntry.objects.filter(workspace_id=ws.pk).order_by("-id").first()
    return {"pk:graphs": team.graph.pk, "pk:runs": run.pk, "pk:connections": connection.pk, "number": 1, "seq": 1,
            "hook_id": hook.pk, "name": credential.name, "slug": TEMPLATES[0].slug, "doomed": doomed.pk,
            "workspace": ws.pk, "entry": entry.pk, "member_id": Membership.objects.get(workspace=ws, user=admin).pk,
            "graph_id": team.graph.pk, "node_id": "s1"}


def fill(path: str, method: str, ids: dict[str, Any]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name == "id":
            if method == "DELETE" and path == "/api/graphs/{id}/":
                return str(ids["doomed"])
            section = path.split("/")[2]
            assert f"pk:{section}" in ids, f"the matrix does not know whose {{id}} {path} takes: add it to data()"
            return str(ids[f"pk:{section}"])
        assert name in ids, f"the matrix does not know {{{name}}} in {path}: add it to data()"
        return str(ids[name])
    return re.sub(r"\{(\w+)\}", one, path)


def team_state(team) -> list:
    """Everything the team owns, as comparable values."""
    ws = team.workspace
    return [
        list(Graph.objects.filter(workspace=ws).order_by("pk").values_list("pk", "name", "latest_version", "description")),
        list(Run.objects.filter(graph__workspace=ws).order_by("pk").values_list("pk", "status", "cancel_requested")),
        list(GraphHook.objects.filter(graph__workspace=ws).order_by("pk").values_list("pk", "enabled", "url", "name")),
        list(Credential.objects.filter(workspace=ws).order_by("pk").values_list("pk", "name", "hint", "rotated_at")),
        list(Connection.objects.filter(workspace=ws).order_by("pk").values_list("pk", "name", "base_url")),
        list(Membership.objects.filter(workspace=ws).order_by("pk").values_list("user_id", "role")),
        list(MemoryRecord.objects.filter(workspace=ws).values_list("session_id", "version")),
        AuditEntry.objects.filter(workspace_id=ws.pk).count(),
    ]


def client_for(team, who: str) -> Client:
    client = Client()
    if who == "outsider":
        client.force_login(team.outsider)
    elif who != "anonymous":
        client.force_login(team.members[who])
    return client


def revealed(response) -> bool:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return MARK.encode() in content


@pytest.mark.django_db
@pytest.mark.parametrize("who", CALLERS)
def test_api_matrix(team, data, who):
    client = client_for(team, who)
    header = {"HTTP_X_KAIZEN_WORKSPACE": str(team.workspace.pk)} if who in ROLES else {}
    before = team_state(team)
    problems = []
    for method, template in operations():
        url = fill(template, method, data)
        body = body_for(method, template, team)
        response = client.generic(method, url, json.dumps(body) if body is not None else "",
                                  content_type="application/json", **header)
        code = response.status_code
        line = f"{who} {method} {template} -> {code}"
        assert code < 500, line + f": {response.content[:300]!r}"
        if who in ("outsider", "anonymous"):
            if 200 <= code < 300 and revealed(response):
                problems.append(line + " reveals the team's data")
            if "{" in template and code not in (401, 403, 404, 405) and template not in ("/api/templates/{slug}/instantiate/",):
                problems.append(line + " (another workspace's object must answer 404)")
            if who == "outsider" and "{" in template and code == 403 and template != "/api/templates/{slug}/instantiate/":
                problems.append(line + " (403 tells the object exists: 404 expected)")
            continue
        need = NEEDS.get((method, template), "view" if method == "GET" else None)
        if (method, template) in OPEN:
            assert code != 403, line
            continue
        assert need is not None, f"{method} {template}: add it to NEEDS (which role may call it?)"
        allowed = ROLES.index(who) >= ROLES.index(LEAST[need])
        if allowed and code in (403, 404):
            problems.append(line + f" (a {who} may {need})")
        if not allowed and 200 <= code < 300:
            problems.append(line + f" (a {who} may not {need})")
    assert not problems, "\n".join(problems)
    if who in ("outsider", "anonymous"):
        assert team_state(team) == before, f"{who} changed the team's data"


def page_routes() -> list[tuple[str, str]]:
    """(route, name) of every page: the URL patterns outside /api/, /admin/ and /accounts/."""
    out = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append((prefix + str(p.pattern), p.name or ""))
    walk(get_resolver().url_patterns, "")
    return [(r, n) for r, n in out if not r.startswith(("api/", "admin/", "accounts/", "static/", "ws/"))]


def fill_page(route: str, ids: dict[str, Any]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(2)
        if name == "pk":
            section = route.split("/")[0]
            key = {"graphs": "pk:graphs", "runs": "pk:runs", "workspaces": "workspace", "audit": "entry"}.get(section)
            assert key, f"the matrix does not know whose <pk> the page {route} takes"
            return str(ids[key])
        if name == "action":
            return {"runs": "cancel", "workspaces": "role"}.get(route.split("/")[0], "toggle")
        assert name in ids, f"the matrix does not know <{name}> in the page {route}"
        return str(ids[name])
    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", one, route)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_pages_matrix(team, data, who):
    client = client_for(team, who)
    before = team_state(team)
    problems = []
    routes = page_routes()
    assert len(routes) >= 20, routes
    for route, name in routes:
        url = fill_page(route, data)
        for method in ("GET", "POST"):
            response = client.generic(method, url, "role=admin&who=mallory&form=connection&name=x&base_url=https://8.8.8.8/v1",
                                      content_type="application/x-www-form-urlencoded")
            code = response.status_code
            line = f"{who} {method} {url} ({name}) -> {code}"
            assert code < 500, line
            if 200 <= code < 300 and revealed(response):
                problems.append(line + " reveals the team's data")
            if who == "anonymous" and 200 <= code < 300 and name not in ("metrics",):
                problems.append(line + " (anonymous: the login page expected)")
            names_object = "<" in route.replace("<slug:slug>", "")  # (a template's slug is nobody's object)
            if who == "outsider" and names_object and code not in (404, 405):
                problems.append(line + " (another workspace's object must answer 404)")
    assert not problems, "\n".join(problems)
    assert team_state(team) == before, f"{who} changed the team's data"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", CALLERS)
async def test_websocket_matrix(team, data, who):
    from asgiref.sync import sync_to_async

    from kaizen_web.asgi import application
    from tests.conftest import session_cookie

    user = {"outsider": team.outsider, "anonymous": None}.get(who) or team.members.get(who)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await sync_to_async(session_cookie)(user)}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/runs/{data['pk:runs']}/?after=0", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    try:
        if who in ROLES:  # every member may watch a run
            frame = await communicator.receive_json_from(timeout=10)
            assert frame["type"] == "events" and frame["events"][0]["seq"] == 1
        else:
            got = await communicator.receive_output(timeout=10)
            assert got["type"] == "websocket.close" and got["code"] == (4404 if who == "outsider" else 4403), got
    finally:
        await communicator.disconnect()
