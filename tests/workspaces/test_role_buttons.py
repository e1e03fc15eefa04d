"""The server-rendered pages show only the actions the member's role may take (the server would
answer 403 to the others): a viewer sees no Start run, an editor no member controls, and so on.
Each page is read by each role of the team workspace; every action shown is also tried."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from graphs.models import Run
from graphs.services import run_start
from triggers.services import schedule_create, trigger_create

from .conftest import ROLES

pytestmark = pytest.mark.django_db


def page_client(team, who: str) -> Client:
    client = Client()
    client.force_login(team.members[who])
    client.post("/workspaces/switch/", {"workspace": team.workspace.pk})  # the team is the current workspace
    return client


@pytest.fixture
def pages(team):
    graph, admin = team.graph, team.members["admin"]
    run = run_start(graph=graph, user=admin, inputs={"task": "t"})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)  # resumable
    trigger_create(graph=graph, user=admin, name="the trigger")
    schedule_create(graph=graph, user=admin, name="the schedule", kind="interval", interval_s=3600)
    htmx = {"HTTP_HX_REQUEST": "true"}

    def read(who: str) -> dict[str, str]:
        client = page_client(team, who)
        out = {}
        for name, url, extra in (("graphs", "/", {}), ("graph", f"/graphs/{graph.pk}/", {}),
                                 ("run", f"/runs/{run.pk}/", {}), ("triggers", f"/graphs/{graph.pk}/triggers/", htmx),
                                 ("hooks", reverse("audit:graph-hooks", args=[graph.pk]), htmx),
                                 ("members", f"/workspaces/{team.workspace.pk}/members/", {})):
            response = client.get(url, **extra)
            assert response.status_code == 200, (who, url, response.status_code)
            out[name] = response.content.decode()
        return out

    return read


# What each role must see (True) or must not (False): a marker in the page for each action.
SHOWN = {
    "start run": ("graph", ">Start run</button>", "runner"),
    "open editor (graph page)": ("graph", ">Open editor</a>", "editor"),
    "publish": ("graph", ">Publish</button>", "editor"),
    "new graph": ("graphs", ">New graph</a>", "editor"),
    "open editor (list)": ("graphs", ">Open editor</a>", "editor"),
    "new from template": ("graphs", 'action="/templates/', "editor"),
    "cancel": ("run", 'data-testid="cancel"', "runner"),
    "resume": ("run", 'data-testid="resume"', "runner"),
    "new trigger": ("triggers", 'data-testid="trigger-form"', "editor"),
    "trigger toggle": ("triggers", "/toggle/", "editor"),
    "new schedule": ("triggers", 'data-testid="schedule-form"', "editor"),
    "new secret": ("triggers", ">New secret</button>", "editor"),
    "add hook": ("hooks", ">Add hook</button>", "editor"),
    "add member": ("members", 'data-testid="member-add"', "admin"),
    "change role": ("members", "aria-label=\"Role of", "admin"),
}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_sees_only_the_actions_it_may_take(team, pages, who):
    html = pages(who)
    problems = []
    for action, (page, marker, least) in SHOWN.items():
        allowed = ROLES.index(who) >= ROLES.index(least)
        if (marker in html[page]) != allowed:
            problems.append(f"{who}: {action} {'missing' if allowed else 'shown'} on {page}")
    assert not problems, "\n".join(problems)
    if who == "viewer":
        assert "Starting runs needs the runner role" in html["graph"]
        assert 'data-testid="triggers-read-only"' in html["triggers"] and 'data-testid="hooks-read-only"' in html["hooks"]
        assert 'disabled title="Creating graphs needs the editor role' in html["graphs"]
    # everyone may read how to call a trigger
    assert "How to call" in html["triggers"]


def test_what_is_hidden_is_what_the_server_refuses(team, pages):
    """The markers above stand for real actions: below its role the server says 403 to each."""
    graph = team.graph
    run = Run.objects.get(graph=graph)
    viewer, runner = page_client(team, "viewer"), page_client(team, "runner")
    assert viewer.post(f"/graphs/{graph.pk}/run/", {"input_task": "t"}).status_code == 403
    assert viewer.post(f"/runs/{run.pk}/resume/").status_code == 403
    assert runner.post(f"/graphs/{graph.pk}/publish/", {"number": "1"}).status_code == 403
    assert runner.get(f"/graphs/{graph.pk}/edit/").status_code == 403
    assert runner.post(f"/graphs/{graph.pk}/triggers/", {"name": "x"}).status_code == 403
