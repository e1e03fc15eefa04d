from __future__ import annotations

import pytest

from graphs import services as graph_services
from tests.helpers import chain


@pytest.fixture
def graph(user):
    """A graph whose version 1 (a 1-agent chain, input "task") is published."""
    version = graph_services.graph_create(owner=user, name="triggered", spec=chain(1))
    graph_services.graph_publish(graph=version.graph, user=user, number=1)
    version.graph.refresh_from_db()
    return version.graph
