from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from ..models import Graph, GraphVersion, Run, RunEvent
from ..selectors import node_state_summary


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
        fields = ["id", "name", "description", "workspace", "owner", "version", "created_at", "updated_at", "spec"]

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
                  "cancel_requested", "last_seq", "nodes"]

    def get_tokens(self, run: Run):
        return {"prompt": run.prompt_tokens, "completion": run.completion_tokens, "total": run.total_tokens}

    def get_nodes(self, run: Run):
        if not self.context.get("with_nodes", True):
            return None
        return {ns.node_id: node_state_summary(ns.data) for ns in run.node_states.all()}


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
