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
