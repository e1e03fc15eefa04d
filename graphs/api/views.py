"""REST endpoints: thin — parse, check access, call a service or selector, serialize."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.current import current_workspace, explicit_workspace
from workspaces.permissions import check, get_for

from .. import selectors, services
from ..connections import with_endpoint_issues
from ..engine.nodes import registry
from ..engine.schema import GraphSpec
from ..engine.validate import check_document
from ..models import Graph, Run, RunEvent
from .run_wait import MAX_WAIT_S
from .serializers import (
    AnswerSerializer,
    ForkSerializer,
    GraphCreateSerializer,
    GraphSaveSerializer,
    GraphSerializer,
    GraphVersionSerializer,
    ResumeSerializer,
    RunCreateSerializer,
    RunEventSerializer,
    RunSerializer,
)
from .throttles import RunStartThrottle

WAIT_SECONDS = {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S}  # (?wait=, graphs/api/run_wait.py)


# An object outside the caller's workspaces answers exactly as a missing one (404, never 403):
# ids cannot be enumerated. A member whose role is too low for ``action`` gets 403.
def graph_for(request: Request, pk: int, action: str = "view") -> Graph:
    return get_for(request.user, Graph, pk, action)


def run_for(request: Request, pk: int, action: str = "view") -> Run:
    return selectors.run_seen_by(request.user, pk, action)  # (one statement, compiled once)


def run_body_for(user, pk: int):
    """The run as RunDetailView answers it (Http404 when ``user`` may not see it)."""
    return RunSerializer(selectors.run_seen_by(user, pk)).data


def in_workspace(request: Request, qs):
    """A list narrowed to the workspace the request names (X-Kaizen-Workspace or ?workspace=), if any."""
    workspace = explicit_workspace(request)
    if workspace is None:
        return qs
    return qs.filter(workspace=workspace) if qs.model is Graph else qs.filter(graph__workspace=workspace)


def valid(serializer_cls, request: Request):
    serializer = serializer_cls(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class GraphListView(APIView):
    @extend_schema(responses=GraphSerializer(many=True))
    def get(self, request: Request) -> Response:
        graphs = in_workspace(request, selectors.graphs_visible(request.user))[:500]
        return Response(GraphSerializer(graphs, many=True, context={"with_spec": False}).data)

    @extend_schema(request=GraphCreateSerializer, responses={201: GraphSerializer})
    def post(self, request: Request) -> Response:
        workspace = check(request.user, "edit", current_workspace(request))
        data = valid(GraphCreateSerializer, request)
        version = services.graph_create(owner=request.user, workspace=workspace, **data)
        return Response(GraphSerializer(version.graph).data, status=status.HTTP_201_CREATED)


class GraphDetailView(APIView):
    @extend_schema(responses=GraphSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(GraphSerializer(graph_for(request, pk)).data)

    @extend_schema(request=GraphSaveSerializer, responses=GraphSerializer)
    def put(self, request: Request, pk: int) -> Response:
        graph = graph_for(request, pk, "edit")
        data = valid(GraphSaveSerializer, request)
        services.graph_save(graph=graph, user=request.user, **data)
        graph.refresh_from_db()
        return Response(GraphSerializer(graph).data)

    def delete(self, request: Request, pk: int) -> Response:
        services.graph_delete(graph=graph_for(request, pk, "delete"), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GraphVersionsView(APIView):
    @extend_schema(responses=GraphVersionSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        graph = graph_for(request, pk)
        return Response(GraphVersionSerializer(graph.versions.select_related("created_by")[:200], many=True).data)


class GraphVersionDetailView(APIView):
    def get(self, request: Request, pk: int, number: int) -> Response:
        graph = graph_for(request, pk)
        version = get_object_or_404(graph.versions, number=number)
        return Response({**GraphVersionSerializer(version).data, "spec": version.spec})


class GraphRestoreView(APIView):
    @extend_schema(request=None, responses=GraphSerializer)
    def post(self, request: Request, pk: int, number: int) -> Response:
        graph = graph_for(request, pk, "edit")
        services.graph_restore(graph=graph, user=request.user, number=number)
        graph.refresh_from_db()
        return Response(GraphSerializer(graph).data)


class GraphPublishView(APIView):
    """Publish a saved version: triggers and schedules run it; saving a draft changes nothing there."""

    @extend_schema(request=None, responses=GraphSerializer)
    def post(self, request: Request, pk: int, number: int | None = None) -> Response:  # (no number: /unpublish/)
        graph = graph_for(request, pk, "edit")
        services.graph_publish(graph=graph, user=request.user, number=number)
        graph.refresh_from_db()
        return Response(GraphSerializer(graph).data)


class GraphRunsView(APIView):
    def get_throttles(self):
        return [*super().get_throttles(), *([RunStartThrottle()] if self.request.method == "POST" else [])]

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        graph = graph_for(request, pk)
        runs = selectors.runs_visible(request.user).filter(graph=graph)[:200]
        return Response(RunSerializer(runs, many=True, context={"with_nodes": False}).data)

    @extend_schema(request=RunCreateSerializer, responses={202: RunSerializer, 201: RunSerializer}, parameters=[OpenApiParameter(
        "wait", WAIT_SECONDS, description="Start the run, then wait up to this many seconds (0-60) for it to end before answering: "
        "201 with a Location header and the body GET /api/runs/{id}/?wait= gives (the run's status says whether it "
        "ended). Without it, or 0: 202 at once (graphs/api/run_wait.py)")])
    def post(self, request: Request, pk: int) -> Response:
        graph, latest = selectors.graph_to_run(request.user, pk)  # (graph_for(request, pk, "run"), compiled once)
        run = services.run_start(graph=graph, user=request.user, latest=latest, **valid(RunCreateSerializer, request))
        return Response({"id": run.pk, "status": run.status, "url": f"/runs/{run.pk}/"}, status=status.HTTP_202_ACCEPTED)


class GraphValidateView(APIView):
    @extend_schema(request=None, responses=None)
    def post(self, request: Request) -> Response:
        spec = request.data.get("spec", request.data) if isinstance(request.data, dict) else request.data
        return Response(with_endpoint_issues(check_document(spec), spec, explicit_workspace(request)))  # {valid, errors, ports: {node: {inputs, outputs}}}


class RunListView(APIView):
    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request: Request) -> Response:
        runs = in_workspace(request, selectors.runs_visible(request.user))
        if request.query_params.get("waiting") == "me":  # parked on a human node this user may answer
            runs = runs.filter(pk__in=selectors.runs_waiting_for(request.user).values("pk"))
        if request.query_params.get("status"):
            runs = runs.filter(status=request.query_params["status"])
        return Response(RunSerializer(runs[:200], many=True, context={"with_nodes": False}).data)


class RunDetailView(APIView):
    """A run. ``?wait=SECONDS`` (0-60) answers as soon as the run has ended (graphs/api/run_wait.py)."""

    @extend_schema(responses=RunSerializer, parameters=[OpenApiParameter(
        "wait", WAIT_SECONDS, description="Wait up to this many seconds (0-60) for the run to end before answering")])
    def get(self, request: Request, pk: int) -> Response:
        return Response(run_body_for(request.user, pk))


class RunEventsView(APIView):
    @extend_schema(responses=RunEventSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        run = run_for(request, pk)
        try:
            after = min(max(0, int(request.query_params.get("after", 0))), 2**62)
            limit = min(max(1, int(request.query_params.get("limit", 1000))), 5000)
        except ValueError:
            return Response({"detail": "after and limit must be integers", "errors": [{"path": "after", "message": "integer expected"}]}, status=400)
        events = list(selectors.run_events_after(run, after, limit))
        return Response({"run": run.pk, "status": run.status, "last_seq": run.last_seq,
                         "events": RunEventSerializer(events, many=True).data})


class RunEventDetailView(APIView):
    def get(self, request: Request, pk: int, seq: int) -> Response:
        run = run_for(request, pk)
        return Response(RunEventSerializer(get_object_or_404(RunEvent, run=run, seq=seq)).data)


class RunCancelView(APIView):
    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = services.run_cancel(run=run_for(request, pk, "run"), user=request.user)
        return Response(RunSerializer(run, context={"with_nodes": False}).data, status=status.HTTP_202_ACCEPTED)


class RunResumeView(APIView):
    throttle_classes = [*APIView.throttle_classes, RunStartThrottle]

    @extend_schema(request=ResumeSerializer, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = run_for(request, pk, "run")
        run = services.run_resume(run=run, user=request.user, **valid(ResumeSerializer, request))
        return Response(RunSerializer(run, context={"with_nodes": False}).data, status=status.HTTP_202_ACCEPTED)


class RunAnswerView(APIView):
    """Answer a waiting human node (approval, input): 202, the run resumes; 400 with the field
    path for an answer its form refuses; 409 if the node is not waiting or was answered."""

    @extend_schema(request=AnswerSerializer, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        from ..assignees import refusal
        from ..human import run_answer

        run = run_for(request, pk)
        data = valid(AnswerSerializer, request)
        if reason := refusal(request.user, run, data["node"]):
            raise PermissionDenied(reason)
        run_answer(run=run, node_id=data["node"], answer=data["answer"], user=request.user)
        run.refresh_from_db()
        return Response(RunSerializer(run, context={"with_nodes": False}).data, status=status.HTTP_202_ACCEPTED)


class RunForkView(APIView):
    """``rerun/`` {node}: a new run of the same version that reuses this run's results before the
    node; ``fork/`` {node, inputs?, outputs?, version?}: the same with edits (graphs/fork.py)."""

    throttle_classes = [*APIView.throttle_classes, RunStartThrottle]
    edits = True

    @extend_schema(request=ForkSerializer, responses={202: RunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        from ..fork import run_fork

        run = run_for(request, pk)
        if not selectors.can_run_graph(request.user, run.graph):
            raise Http404("No Run matches the given query.")
        data = valid(ForkSerializer, request)
        if not self.edits:
            data = {"node": data["node"]}
        new = run_fork(run=run, node_id=data.pop("node"), user=request.user, **data)
        return Response({"id": new.pk, "status": new.status, "url": f"/runs/{new.pk}/", "forked_from": run.pk},
                        status=status.HTTP_202_ACCEPTED)


class GraphSchemaView(APIView):
    """The graph document's JSON Schema, with every node kind's config schema."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        schema = GraphSpec.model_json_schema()
        schema["x-node-kinds"] = {k["kind"]: k["config_schema"] for k in registry.describe()}
        return Response(schema)


class NodeKindsView(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(registry.describe())
