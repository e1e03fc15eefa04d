"""The API's hot lookups (graphs/selectors.py graph_to_run and run_seen_by) use get_for's
statement compiled once (workspaces/permissions.py CompiledGetFor): the same answers as get_for
for every caller and action (the object, 404, 403), the same object loaded, and no compiling
after the first call."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models.sql.compiler import SQLCompiler
from django.http import Http404

from graphs import selectors
from graphs.models import Graph, GraphVersion, Run
from graphs.services import graph_save, run_start
from tests.helpers import chain
from workspaces.models import Membership, Role
from workspaces.permissions import get_for

from .conftest import ROLES

pytestmark = pytest.mark.django_db

RUN_QS = Run.objects.select_related("graph", "version", "created_by").defer("version__spec")


def outcome(lookup, *args):
    """What a lookup answers: the object, or the exception's type and message."""
    try:
        return lookup(*args)
    except (Http404, PermissionDenied) as exc:
        return type(exc), str(exc)


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in obj.get_deferred_fields()}


def test_every_caller_and_action_gets_what_get_for_answers(team, django_user_model):
    admin = team.members["admin"]
    # A second version whose declared inputs the start must see, and a run of each graph.
    spec = chain(1)
    spec["inputs"] = {"task": {"type": "string"}, "n": {"type": "integer"}}
    graph_save(graph=team.graph, user=admin, spec=spec)
    team.graph.refresh_from_db()
    run = run_start(graph=team.graph, user=admin, inputs={"task": "t", "n": 1})
    outsider_run = run_start(graph=team.outsider_graph, user=team.outsider, inputs={"task": "t"})
    callers = [*(team.members[role] for role in ROLES), team.outsider, django_user_model(), AnonymousUser(), None]
    for user in callers:  # (one user after another: each call with its own user, never the first one's)
        for pk in (team.graph.pk, team.outsider_graph.pk, team.graph.pk + 10_000, "12x", 0, -1, 2**63):
            expected = outcome(get_for, user, Graph, pk, "run")
            got = outcome(selectors.graph_to_run, user, pk)
            if isinstance(expected, tuple):
                assert got == expected, (user, pk)
            else:
                graph, latest = got
                assert fields(graph) == fields(expected) and graph.kaizen_role == expected.kaizen_role, (user, pk)
                version = GraphVersion.objects.get(graph=graph, number=graph.latest_version)
                assert latest == (version.pk, version.spec["inputs"])
        for action in ("view", "run", "edit", "delete"):
            for pk in (run.pk, outsider_run.pk, run.pk + 10_000, "x", 0, 2**63):
                expected = outcome(get_for, user, RUN_QS, pk, action)
                got = outcome(selectors.run_seen_by, user, pk, action)
                if isinstance(expected, tuple):
                    assert got == expected, (user, pk, action)
                else:
                    assert fields(got) == fields(expected) and got.kaizen_role == expected.kaizen_role, (user, pk)
                    for related in ("graph", "version", "created_by"):
                        assert fields(getattr(got, related)) == fields(getattr(expected, related)), related
                    assert got.version.get_deferred_fields() == {"spec"} == expected.version.get_deferred_fields()


def test_a_role_changed_or_removed_counts_at_once(team):
    runner = team.members["runner"]
    assert selectors.graph_to_run(runner, team.graph.pk)[0] == team.graph
    membership = Membership.objects.get(workspace=team.workspace, user=runner)
    membership.role = Role.VIEWER
    membership.save()
    with pytest.raises(PermissionDenied):
        selectors.graph_to_run(runner, team.graph.pk)
    membership.delete()
    with pytest.raises(Http404):
        selectors.graph_to_run(runner, team.graph.pk)


def test_the_run_comes_with_its_relations_and_typed_values_in_one_statement(team, django_assert_num_queries):
    admin = team.members["admin"]
    run = run_start(graph=team.graph, user=admin, inputs={"task": "t"})
    Run.objects.filter(pk=run.pk).update(outputs={"result": [1, {"a": None}]}, cost_usd="0.12345678")
    with django_assert_num_queries(1):
        loaded = selectors.run_seen_by(admin, run.pk)
        assert (loaded.graph.name, loaded.version.number, str(loaded.created_by)) == ("team graph", 1, "ada")
    assert loaded.outputs == {"result": [1, {"a": None}]} and loaded.inputs == {"task": "t"}  # (JSON, decoded)
    assert str(loaded.cost_usd) == "0.12345678" and loaded.created_at == run.created_at


def test_the_statement_is_compiled_once(team):
    admin, viewer = team.members["admin"], team.members["viewer"]
    run = run_start(graph=team.graph, user=admin, inputs={"task": "t"})
    selectors.graph_to_run(admin, team.graph.pk)
    selectors.run_seen_by(admin, run.pk)
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        assert selectors.graph_to_run(admin, team.graph.pk)[0] == team.graph
        assert selectors.run_seen_by(viewer, run.pk) == run
