from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from ..models import Graph, GraphVersion, Run, RunEvent
from ..selectors import node_state_summary, run_node_data


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, not silently dropped."""

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({k: ["unknown field"] for k in sorted(unknown)})
        return attrs


class GraphCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    spec = serializers.JSONField()


class GraphSaveSerializer(StrictSerializer):
    spec = serializers.JSONField()
    base_version = serializers.IntegerField(required=False, min_value=1)
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    message = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class RunCreateSerializer(StrictSerializer):
    inputs = serializers.DictField(required=False, default=dict)
    version = serializers.IntegerField(required=False, min_value=1)
    dry_run = serializers.BooleanField(required=False, default=False)
    budget_usd = serializers.DecimalField(required=False, max_digits=12, decimal_places=6, min_value=Decimal("0.000001"))


class ResumeSerializer(StrictSerializer):
    budget_usd = serializers.DecimalField(required=False, max_digits=12, decimal_places=6, min_value=Decimal("0.000001"))
    # A run interrupted during a tool call that is not idempotent: make the call again, or skip it.
    tool_call = serializers.ChoiceField(choices=["retry", "skip"], required=False)


class GraphVersionSerializer(serializers.ModelSerializer):
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = GraphVersion
        fields = ["number", "message", "created_by", "created_at"]


class GraphSerializer(serializers.ModelSerializer):
    owner: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    workspace: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(source="latest_version")
    spec = serializers.SerializerMethodField()

    class Meta:
        model = Graph
        fields = ["id", "name", "description", "workspace", "owner", "version", "published_version", "created_at", "updated_at", "spec"]
        read_only_fields = ["published_version"]

    def get_spec(self, graph: Graph):
        if not self.context.get("with_spec", True):
            return None
        return graph.versions.get(number=graph.latest_version).spec


class RunSerializer(serializers.ModelSerializer):
    graph: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(source="version.number")
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    tokens = serializers.SerializerMethodField()
    nodes = serializers.SerializerMethodField()
    cost_usd = serializers.FloatField()
    budget_usd = serializers.FloatField(allow_null=True)

    class Meta:
        model = Run
        fields = ["id", "graph", "version", "status", "dry_run", "inputs", "outputs", "error", "cost_usd", "budget_usd",
                  "tokens", "created_by", "created_at", "started_at", "finished_at", "celery_task_id",
                  "cancel_requested", "last_seq", "nodes", "waiting", "forked_from", "forked_from_node", "fork_edits",
                  "origin", "origin_label"]
        read_only_fields = ["origin", "origin_label"]

    waiting = serializers.SerializerMethodField(help_text="Human nodes waiting for an answer: node -> question, inputs, form")

    def get_waiting(self, run: Run):
        if run.status != Run.Status.WAITING:
            return None
        from ..selectors import run_waiting_nodes

        return run_waiting_nodes(run)

    def get_tokens(self, run: Run):
        return {"prompt": run.prompt_tokens, "completion": run.completion_tokens, "total": run.total_tokens}

    def get_nodes(self, run: Run):
        if not self.context.get("with_nodes", True):
            return None
        return node_summaries(run)


def _when(value) -> str | None:
    """A datetime as DRF's DateTimeField writes it (ISO 8601 in the current time zone, UTC as Z)."""
    if not value:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _float(value) -> float | None:
    return None if value is None else float(value)


def run_body(run: Run, nodes: dict | None) -> dict:
    """RunSerializer's output, written out: the API's fast path (graphs/api/fast.py) answers with
    it for a fraction of the serializer's cost (tests/test_fast_api.py holds the two equal).
    ``run`` comes with its version and creator loaded; ``nodes`` from ``node_summaries``."""
    return {
        "id": run.pk, "graph": run.graph_id, "version": run.version.number, "status": run.status, "dry_run": run.dry_run,
        "inputs": run.inputs, "outputs": run.outputs, "error": run.error, "cost_usd": _float(run.cost_usd),
        "budget_usd": _float(run.budget_usd),
        "tokens": {"prompt": run.prompt_tokens, "completion": run.completion_tokens, "total": run.total_tokens},
        "created_by": None if run.created_by_id is None else str(run.created_by),
        "created_at": _when(run.created_at), "started_at": _when(run.started_at), "finished_at": _when(run.finished_at),
        "celery_task_id": run.celery_task_id, "cancel_requested": run.cancel_requested, "last_seq": run.last_seq,
        "nodes": nodes, "waiting": RunSerializer().get_waiting(run),
        "forked_from": run.forked_from_id, "forked_from_node": run.forked_from_node, "fork_edits": run.fork_edits,
        "origin": run.origin, "origin_label": run.origin_label,
    }


def node_summaries(run: Run) -> dict:
    """The run's nodes as the API shows them (the fast path's and RunSerializer's: one statement)."""
    return {node_id: node_state_summary(data) for node_id, data in run_node_data(run.pk)}


class BlankAsNullField(serializers.CharField):
    """A run-level event's node_id is stored as "" and sent as null, as over the websocket
    (graphs/events.py event_dict): one wire format."""

    def to_representation(self, value):
        return value or None


class RunEventSerializer(serializers.ModelSerializer):
    node_id = BlankAsNullField(allow_null=True, read_only=True, help_text="The node's id; null for run-level events.")

    class Meta:
        model = RunEvent
        fields = ["seq", "event", "node_id", "created_at", "data"]


class AnswerSerializer(serializers.Serializer):
    node = serializers.CharField(max_length=200, help_text="The waiting human node's id")
    answer = serializers.JSONField(help_text="approval: {action: approve|reject, comment}; input: an object valid for its form's JSON Schema")


class ForkSerializer(serializers.Serializer):
    node = serializers.CharField(max_length=200, help_text="Re-run this node and everything after it")
    inputs = serializers.JSONField(required=False, help_text="Other graph inputs (default: the source run's)")
    outputs = serializers.JSONField(required=False, help_text="{node: {port: value}}: edited outputs of nodes before the fork point")
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31,
                                       help_text="A newer version of the graph whose part before the fork point is unchanged")
