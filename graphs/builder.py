"""Graph documents written in Python: the one builder of the sample graphs (demo.py's graphs for
new installs, pattern_templates.py's templates). Plain dicts in the graph document's shape
(graphs/engine/schema.py); the tests validate and run what they build."""

from __future__ import annotations

from typing import Any

# A port of an agent's signature: (name, type) or (name, type, description)
Port = tuple[str, str] | tuple[str, str, str]


def port(spec: Port) -> dict[str, str]:
    name, kind, *description = spec
    return {"name": name, "type": kind, **({"description": description[0]} if description else {})}


class Layout:
    """Places nodes: a node at (col, row) stands at (col * dx, row * dy) on the canvas
    (``Layout()``: positions as given)."""

    def __init__(self, dx: float = 1, dy: float = 1) -> None:
        self.dx, self.dy = dx, dy

    def node(self, node_id: str, kind: str, label: str, col: float, row: float, **config: Any) -> dict[str, Any]:
        return {"id": node_id, "kind": kind, "label": label, "position": {"x": col * self.dx, "y": row * self.dy},
                "config": config}

    def agent(self, node_id: str, label: str, col: float, row: float, inputs: list[Port], outputs: list[Port],
              system: str, **config: Any) -> dict[str, Any]:
        signature = {"inputs": [port(p) for p in inputs], "outputs": [port(p) for p in outputs]}
        return self.node(node_id, "agent", label, col, row, signature=signature, system_prompt=system, **config)


def edge(source: str, source_port: str, target: str, target_port: str, kind: str = "data") -> dict[str, Any]:
    return {"source": source, "source_port": source_port, "target": target, "target_port": target_port, "kind": kind}


def graph(description: str, inputs: dict[str, Any], outputs: dict[str, Any], nodes: list[dict[str, Any]],
          edges: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    return {"schema_version": 1, "description": description, "inputs": inputs, "outputs": outputs,
            "nodes": nodes, "edges": edges, "settings": settings}
