"""The runs list (/runs/): its pager keeps the filters it was opened with.

The "Older"/"Newer" links once carried only ``status``, so page 2 of one graph's runs showed every
graph's runs. This follows the links the page renders, as a browser (htmx) would."""

from __future__ import annotations

import html
import re

import pytest

from graphs.models import Graph, GraphVersion, Run
from tests.helpers import chain

pytestmark = pytest.mark.django_db


def _graph_with_runs(user, name: str, n: int, status: str) -> Graph:
    graph = Graph.objects.create(name=name, owner=user)
    version = GraphVersion.objects.create(graph=graph, number=1, spec=chain(1), created_by=user)
    Run.objects.bulk_create(Run(graph=graph, version=version, created_by=user, status=status) for _ in range(n))
    return graph


def _pager_link(body: str, label: str) -> str:
    match = re.search(r'hx-get="([^"]*)"[^>]*>[^<]*' + re.escape(label), body)
    assert match, f"no {label!r} link"
    return html.unescape(match.group(1))


def test_pager_links_keep_the_graph_and_status_filters(client, user):
    alpha = _graph_with_runs(user, "alpha-graph", 30, "succeeded")
    _graph_with_runs(user, "beta-graph", 30, "succeeded")
    Run.objects.bulk_create(Run(graph=alpha, version=alpha.versions.get(), created_by=user, status="failed") for _ in range(5))
    client.force_login(user)

    first = client.get(f"/runs/?graph={alpha.pk}&status=succeeded").content.decode()
    assert "beta-graph" not in first and "page 1 of 2" in first
    older = _pager_link(first, "Older")
    assert f"graph={alpha.pk}" in older and "status=succeeded" in older and "page=2" in older

    second = client.get(f"/runs/{older}", HTTP_HX_REQUEST="true").content.decode()
    assert "page 2 of 2" in second
    assert second.count("alpha-graph") == 5 and "beta-graph" not in second  # 30 succeeded = 25 + 5
    assert "status-failed" not in second
    newer = _pager_link(second, "Newer")
    assert f"graph={alpha.pk}" in newer and "page=1" in newer


def test_runs_say_what_started_them(client, user, api_client, django_capture_on_commit_callbacks):
    """A run started by a trigger or a schedule says so on its page and in the list; the page's
    button and the API record their own origin (the API shows it to callers)."""
    from graphs import services

    graph = services.graph_create(owner=user, name="origins", spec=chain(1)).graph
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"/graphs/{graph.pk}/run/", {"input_task": "x", "dry_run": "1"}).status_code == 302
        by_api = api_client.post(f"/api/graphs/{graph.pk}/runs/", {"inputs": {"task": "y"}}, format="json")
        scheduled = services.run_start(graph=graph, user=user, inputs={"task": "z"}, origin=Run.Origin.SCHEDULE,
                                       origin_label='schedule #7 "nightly"')
    assert by_api.status_code == 202
    assert api_client.get(f"/api/runs/{by_api.data['id']}/").data["origin"] == "api"
    assert [r.origin for r in Run.objects.order_by("id")] == ["page", "api", "schedule"]
    page = client.get(f"/runs/{scheduled.pk}/").content.decode()
    assert 'via schedule #7 &quot;nightly&quot;' in page
    listing = client.get("/runs/").content.decode()
    assert listing.count('class="badge" title="schedule #7') == 1, "only the scheduled run carries a badge"
