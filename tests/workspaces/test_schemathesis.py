"""Schemathesis over the whole API (every operation of /api/schema/) as a workspace member with
data: whatever it sends, the answer is never a 5xx. Path ids are drawn from the generated
values and from the member's real objects, so the operations run on data, not only on 404s.
Bounded: five examples per operation, marked slow (38 operations: 8.5 min with 8 examples on the loaded
2-core machine; an idle one takes a fraction of that)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

REAL: dict[str, dict[str, object]] = {}  # path template section -> {parameter: a real value}


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Each path id: the generated one or a real one of the member's (graph, run, hook...)."""
    if not path_parameters:
        return st.just(path_parameters)
    path = context.operation.path if context.operation else ""
    real = {**REAL.get("common", {}), **REAL.get(path.split("/")[2] if path.count("/") > 2 else "", {})}
    choices = {k: st.sampled_from([v, real[k]]) if k in real else st.just(v) for k, v in path_parameters.items()}
    return st.fixed_dictionaries(choices)


@pytest.fixture
def api_data(team, settings):
    settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS = False
    from datetime import UTC, datetime

    from audit.models import GraphHook
    from graphs.connections import connection_save
    from graphs.credentials import credential_set
    from graphs.models import RunEvent
    from graphs.services import run_start

    admin, ws = team.members["admin"], team.workspace
    run = run_start(graph=team.graph, user=admin, inputs={"task": "t"})
    RunEvent.objects.create(run=run, seq=1, event="run_started", created_at=datetime.now(UTC), data={})
    hook = GraphHook.objects.create(graph=team.graph, kind="error")
    credential, _ = credential_set(owner=admin, workspace=ws, name="key", api_key="sk-fuzz-0123456789")
    connection = connection_save(workspace=ws, user=admin, data={"name": "conn", "base_url": "https://8.8.8.8/v1"})
    REAL.clear()
    REAL.update({"graphs": {"id": team.graph.pk, "hook_id": hook.pk, "number": 1}, "runs": {"id": run.pk, "seq": 1},
                 "connections": {"id": connection.pk}, "credentials": {"name": credential.name},
                 "templates": {"slug": "hierarchical-planning"}})
    # In process, inside the test's transaction: a request must not close the connection (as
    # Django's own test client arranges).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield team
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _load():
    """The schema /api/schema/ serves (drf-spectacular), called in process through WSGI."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load()


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_error(case, api_data):
    team = api_data
    token, _ = Token.objects.get_or_create(user=team.members["admin"])
    case.call_and_validate(headers={"Authorization": f"Token {token.key}", "X-Kaizen-Workspace": str(team.workspace.pk)},
                           checks=[not_a_server_error])
