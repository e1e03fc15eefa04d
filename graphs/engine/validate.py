"""validate_graph(document) -> list of issues, each naming the node/edge/field at fault.

Checks, in order: document size, shape (pydantic), duplicate ids, unknown kinds, node configs,
edges (dangling, unknown ports, type mismatches, ports fed twice, error-edge rules), required
inputs and outputs left unfed, human nodes inside subgraphs, and cycles.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from .nodes.base import NodeConfig, NodeKind
from .nodes.registry import registry
from .schema import INPUTS_NODE, MAX_DOCUMENT_BYTES, OUTPUTS_NODE, EdgeSpec, FieldSpec, GraphSpec
from .types import compatible, value_matches


@dataclass
class Issue:
    path: str
    message: str
    node: str | None = None
    edge: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GraphInvalid(ValueError):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues[:5]))
        self.issues = issues


def loc_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def input_issues(declared: Mapping[str, FieldSpec], inputs: Any, *, extra_ok: bool = False) -> list[Issue]:
    """A run's inputs against its graph's declared inputs: the one rule, checked by the API before
    a run is queued (graphs/services.py) and by the engine when the run starts."""
    if not isinstance(inputs, dict):
        return [Issue("inputs", "must be an object")]
    issues = [] if extra_ok else [Issue(f"inputs.{k}", "unknown input") for k in inputs if k not in declared]
    for name, field in declared.items():
        if name not in inputs:
            if field.required:
                issues.append(Issue(f"inputs.{name}", "this input is required"))
        elif not value_matches(inputs[name], field.type):
            issues.append(Issue(f"inputs.{name}", f"must be {field.type}"))
    return issues


@dataclass
class CompiledNode:
    spec: Any
    kind: NodeKind[Any]
    config: NodeConfig
    inputs: dict[str, FieldSpec]
    outputs: dict[str, FieldSpec]


def parse_document(document: Any) -> tuple[GraphSpec | None, list[Issue]]:
    if isinstance(document, GraphSpec):
        return document, []
    if not isinstance(document, dict):
        return None, [Issue("", "the graph must be a JSON object")]
    size = len(json.dumps(document, separators=(",", ":")).encode())
    if size > MAX_DOCUMENT_BYTES:
        return None, [Issue("", f"document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")]
    try:
        return GraphSpec.model_validate(document), []
    except ValidationError as exc:
        issues = []
        for err in exc.errors()[:50]:
            node = None
            if len(err["loc"]) >= 2 and err["loc"][0] == "nodes" and isinstance(err["loc"][1], int):
                nodes = document.get("nodes") or []
                if err["loc"][1] < len(nodes) and isinstance(nodes[err["loc"][1]], dict):
                    node = nodes[err["loc"][1]].get("id")
            issues.append(Issue(loc_path("", err["loc"]), err["msg"], node=node))
        return None, issues


def compile_nodes(spec: GraphSpec, issues: list[Issue]) -> dict[str, CompiledNode]:
    compiled: dict[str, CompiledNode] = {}
    for i, node in enumerate(spec.nodes):
        if node.id in compiled:
            issues.append(Issue(f"nodes[{i}].id", f"duplicate node id {node.id!r}", node=node.id))
            continue
        kind = registry.get(node.kind)
        if kind is None:
            issues.append(Issue(f"nodes[{i}].kind", f"unknown node kind {node.kind!r} (known: {', '.join(registry.kinds())})", node=node.id))
            continue
        try:
            config = kind.parse(node.config)
        except ValidationError as exc:
            for err in exc.errors()[:20]:
                issues.append(Issue(loc_path(f"nodes[{i}].config", err["loc"]), err["msg"], node=node.id))
            continue
        compiled[node.id] = CompiledNode(node, kind, config, kind.inputs(config), kind.outputs(config))
    return compiled


def _ports(compiled: dict[str, CompiledNode], spec: GraphSpec, node_id: str, side: str) -> dict[str, FieldSpec] | None:
    if node_id == INPUTS_NODE:
        return spec.inputs if side == "out" else {}
    if node_id == OUTPUTS_NODE:
        return spec.outputs if side == "in" else {}
    node = compiled.get(node_id)
    if node is None:
        return None
    return node.outputs if side == "out" else node.inputs


def check_edges(spec: GraphSpec, compiled: dict[str, CompiledNode], node_ids: set[str], issues: list[Issue]) -> None:
    fed: dict[tuple[str, str], int] = {}
    handler_of: dict[str, int] = {}
    for i, edge in enumerate(spec.edges):
        path = f"edges[{i}]"
        ok = True
        for end, nid in (("source", edge.source), ("target", edge.target)):
            if nid not in node_ids and nid not in (INPUTS_NODE, OUTPUTS_NODE):
                issues.append(Issue(f"{path}.{end}", f"edge {edge.label} points at missing node {nid!r}", edge=i))
                ok = False
        if not ok:
            continue
        if edge.source == OUTPUTS_NODE or edge.target == INPUTS_NODE:
            issues.append(Issue(path, "@outputs only receives edges and @inputs only sends them", edge=i))
            continue
        if (edge.source != INPUTS_NODE and edge.source not in compiled) or (
            edge.target != OUTPUTS_NODE and edge.target not in compiled
        ):
            continue  # the node itself is invalid and already reported
        if edge.kind == "error":
            _check_error_edge(i, edge, compiled, handler_of, issues)
            continue
        out_ports = _ports(compiled, spec, edge.source, "out") or {}
        in_ports = _ports(compiled, spec, edge.target, "in") or {}
        src = out_ports.get(edge.source_port)
        dst = in_ports.get(edge.target_port)
        if src is None:
            issues.append(Issue(f"{path}.source_port", f"{edge.source} has no output port {edge.source_port!r} (has: {', '.join(out_ports) or 'none'})", node=edge.source, edge=i))
        if dst is None:
            issues.append(Issue(f"{path}.target_port", f"{edge.target} has no input port {edge.target_port!r} (has: {', '.join(in_ports) or 'none'})", node=edge.target, edge=i))
        if src is None or dst is None:
            continue
        if not compatible(src.type, dst.type):
            issues.append(Issue(f"{path}", f"type mismatch: {edge.source}.{edge.source_port} is {src.type} but {edge.target}.{edge.target_port} expects {dst.type}", node=edge.target, edge=i))
        key = (edge.target, edge.target_port)
        if key in fed:
            issues.append(Issue(f"{path}.target_port", f"{edge.target}.{edge.target_port} is already fed by edges[{fed[key]}]", node=edge.target, edge=i))
        else:
            fed[key] = i
    _check_unfed(spec, compiled, fed, set(handler_of), issues)


def _check_error_edge(i: int, edge: EdgeSpec, compiled: dict[str, CompiledNode], handler_of: dict[str, int], issues: list[Issue]) -> None:
    path = f"edges[{i}]"
    if edge.source not in compiled or edge.target not in compiled:
        issues.append(Issue(path, "error edges connect two nodes (not @inputs/@outputs)", edge=i))
        return
    if edge.target in handler_of:
        issues.append(Issue(f"{path}.target", f"{edge.target} already handles errors of another node (edges[{handler_of[edge.target]}])", node=edge.target, edge=i))
        return
    handler_of[edge.target] = i
    src, handler = compiled[edge.source], compiled[edge.target]
    for name, port in handler.inputs.items():
        if port.required and name not in src.inputs:
            issues.append(Issue(f"{path}.target", f"fallback {edge.target} needs input {name!r}, which {edge.source} does not receive", node=edge.target, edge=i))
    for name, port in src.outputs.items():
        alt = handler.outputs.get(name)
        if alt is None:
            issues.append(Issue(f"{path}.target", f"fallback {edge.target} lacks output {name!r} of {edge.source}", node=edge.target, edge=i))
        elif not compatible(alt.type, port.type):
            issues.append(Issue(f"{path}.target", f"fallback {edge.target}.{name} is {alt.type}, {edge.source}.{name} is {port.type}", node=edge.target, edge=i))


def _check_unfed(spec: GraphSpec, compiled: dict[str, CompiledNode], fed: dict[tuple[str, str], int], handlers: set[str], issues: list[Issue]) -> None:
    index = {n.id: i for i, n in enumerate(spec.nodes)}
    for node_id, node in compiled.items():
        if node_id in handlers:
            if any(t == node_id for (t, _p) in fed):
                issues.append(Issue(f"nodes[{index[node_id]}]", f"{node_id} is an error handler: it receives the failed node's inputs and takes no data edges", node=node_id))
            continue
        for name, port in node.inputs.items():
            if port.required and (node_id, name) not in fed:
                issues.append(Issue(f"nodes[{index[node_id]}].inputs.{name}", f"required input {name!r} of {node_id} is not connected", node=node_id))
    for name, port in spec.outputs.items():
        if port.required and (OUTPUTS_NODE, name) not in fed:
            issues.append(Issue(f"outputs.{name}", f"graph output {name!r} is not connected"))


def _subgraphs(config: NodeConfig) -> list[tuple[str, dict[str, Any]]]:
    """The inline graphs of a node's config (fields the editor draws as a graph: for_each's and
    budget's ``body``), by their path in the config."""
    found = []
    for name, field in type(config).model_fields.items():
        extra = field.json_schema_extra
        value = getattr(config, name, None)
        if isinstance(extra, dict) and extra.get("x-kaizen-widget") == "graph" and isinstance(value, dict):
            found.append((field.alias or name, value))
    return found


def _nested_human(document: dict[str, Any], prefix: str) -> list[tuple[str, str, str]]:
    """(path, node id, kind) of each human node in an inline graph, however deep."""
    found = []
    nodes = document.get("nodes")
    for j, child in enumerate(nodes if isinstance(nodes, list) else []):
        kind = registry.get(child["kind"]) if isinstance(child, dict) and isinstance(child.get("kind"), str) else None
        if kind is None:
            continue  # (the body's own validation reports it)
        path = f"{prefix}.nodes[{j}]"
        if getattr(kind, "human", False):
            found.append((path, str(child.get("id")), kind.kind))
            continue
        try:
            config = kind.parse(child.get("config") or {})
        except ValidationError:
            continue
        for name, body in _subgraphs(config):
            found += _nested_human(body, f"{path}.config.{name}")
    return found


def check_human_nodes(spec: GraphSpec, compiled: dict[str, CompiledNode], issues: list[Issue]) -> None:
    """A human node waits by parking the whole run, which only a top-level node can do: one inside
    a for-each or budget body is refused here, at save, with its nested path."""
    index = {n.id: i for i, n in enumerate(spec.nodes)}
    for node_id, node in compiled.items():
        for name, body in _subgraphs(node.config):
            for path, child, kind in _nested_human(body, f"nodes[{index[node_id]}].config.{name}"):
                issues.append(Issue(path, f"{kind} node {child!r} cannot wait for a person inside the subgraph of "
                                          f"{node_id} ({node.spec.kind}): put it in the top-level graph", node=node_id))


def find_cycle(spec: GraphSpec) -> list[str] | None:
    """One cycle along the edges, as node ids with the first repeated at the end, or None.

    graphlib finds it (no recursion, so a 2,000-node chain is fine); the cycle is rotated to start
    at the member whose edges come first in the document, so the message is the same every time.
    """
    predecessors: dict[str, set[str]] = {}
    first_seen: dict[str, int] = {}
    for i, edge in enumerate(spec.edges):
        predecessors.setdefault(edge.target, set()).add(edge.source)
        first_seen.setdefault(edge.source, i)
    try:
        graphlib.TopologicalSorter(predecessors).prepare()
    except graphlib.CycleError as exc:
        members: list[str] = exc.args[1][:-1]  # each node is an edge source of the next
        start = min(range(len(members)), key=lambda k: first_seen.get(members[k], len(spec.edges)))
        cycle = members[start:] + members[:start]
        return cycle + [cycle[0]]
    return None


def analyse(document: Any) -> tuple[GraphSpec | None, dict[str, CompiledNode], list[Issue]]:
    spec, issues = parse_document(document)
    if spec is None:
        return None, {}, issues
    compiled = compile_nodes(spec, issues)
    check_edges(spec, compiled, {n.id for n in spec.nodes}, issues)
    check_human_nodes(spec, compiled, issues)
    cycle = find_cycle(spec)
    if cycle:
        issues.append(Issue("edges", "cycle: " + " -> ".join(cycle) + " (loops are expressed by loop nodes such as pev)", node=cycle[0]))
    return spec, compiled, issues


def validate_graph(document: Any) -> list[Issue]:
    """All problems with a graph document; an empty list means it can run."""
    return analyse(document)[2]


_COMPILED: dict[bytes, tuple[GraphSpec, dict[str, CompiledNode]]] = {}  # by the document's JSON (hashed)
_COMPILED_KEPT = 64
_COMPILED_MAX_BYTES = 1 << 20  # (bigger documents are compiled each time: their compiled form is big too)


def compile_graph(document: Any) -> tuple[GraphSpec, dict[str, CompiledNode]]:
    """Parse, validate and compile, or raise GraphInvalid with every issue.

    A document compiled before in this process (the same JSON) is not compiled again: every run of
    a graph version, every item of a for-each body, shares its compiled form, which nothing
    changes (the engine and the node kinds only read the spec and the nodes' configs)."""
    key = _compiled_key(document)
    if key is not None and (hit := _COMPILED.get(key)) is not None:
        return hit
    spec, compiled, issues = analyse(document)
    if spec is None or issues:
        raise GraphInvalid(issues)
    if key is not None:
        while len(_COMPILED) >= _COMPILED_KEPT:
            try:
                _COMPILED.pop(next(iter(_COMPILED)), None)  # the oldest
            except (StopIteration, RuntimeError):  # (another thread changed it meanwhile)
                break
        _COMPILED[key] = entry = (spec, compiled)
        return entry
    return spec, compiled


def _compiled_key(document: Any) -> bytes | None:
    if not isinstance(document, dict):
        return None
    try:
        text = json.dumps(document, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text, digest_size=32).digest() if len(text) <= _COMPILED_MAX_BYTES else None


def check_document(document: Any) -> dict[str, Any]:
    """What an editor needs: every issue, and the exact ports of each valid node (from its config)."""
    _spec, compiled, issues = analyse(document)
    ports = {
        node_id: {"inputs": {k: v.model_dump() for k, v in node.inputs.items()},
                  "outputs": {k: v.model_dump() for k, v in node.outputs.items()}}
        for node_id, node in compiled.items()
    }
    return {"valid": not issues, "errors": [i.to_dict() for i in issues], "ports": ports}
