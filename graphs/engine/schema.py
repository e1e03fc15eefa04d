"""The graph document (schema_version 1) as pydantic models.

Shape::

    {"schema_version": 1,
     "inputs":  {"topic": {"type": "string", "description": "...", "required": true}},
     "outputs": {"summary": {"type": "string"}},
     "nodes": [{"id": "n1", "kind": "agent", "config": {...}, "position": {"x": 0, "y": 0}}],
     "edges": [{"source": "@inputs", "source_port": "topic", "target": "n1",
                "target_port": "topic", "kind": "data"}]}

Graph inputs are the outputs of the pseudo-node ``@inputs``; graph outputs are the inputs of
the pseudo-node ``@outputs``. An ``error`` edge names a fallback handler: when its source fails,
the handler runs with the source's inputs and its outputs stand in for the source's.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .types import FieldType

SCHEMA_VERSION: Final = 1
INPUTS_NODE = "@inputs"
OUTPUTS_NODE = "@outputs"
MAX_NODES = 2000
MAX_EDGES = 10000
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
PORT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


PortName = Annotated[str, StringConstraints(pattern=PORT_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    """A typed field: a graph input/output or a signature field of an agent."""

    type: FieldType = "string"
    description: str = Field("", max_length=2000)
    required: bool = True


class Position(_Strict):
    x: float = 0.0
    y: float = 0.0


class NodeSpec(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    kind: str = Field(min_length=1, max_length=64)
    label: str = Field("", max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)


class EdgeSpec(_Strict):
    source: str = Field(min_length=1, max_length=64)
    source_port: str = Field("", max_length=64)
    target: str = Field(min_length=1, max_length=64)
    target_port: str = Field("", max_length=64)
    kind: Literal["data", "error"] = "data"

    @property
    def label(self) -> str:
        arrow = "-error->" if self.kind == "error" else "->"
        return f"{self.source}.{self.source_port} {arrow} {self.target}.{self.target_port}"


class GraphSpec(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    description: str = Field("", max_length=10000)
    inputs: dict[PortName, FieldSpec] = Field(default_factory=dict, max_length=256)
    outputs: dict[PortName, FieldSpec] = Field(default_factory=dict, max_length=256)
    nodes: list[NodeSpec] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[EdgeSpec] = Field(default_factory=list, max_length=MAX_EDGES)
    settings: dict[str, Any] = Field(default_factory=dict)

    def node(self, node_id: str) -> NodeSpec | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None
