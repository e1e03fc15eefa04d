"""Demo graphs loaded for new installs (and by tests, so they stay valid)."""

from __future__ import annotations

from typing import Any


def agent(node_id: str, label: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]],
          x: float, y: float, system: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id, "kind": "agent", "label": label, "position": {"x": x, "y": y},
        "config": {
            "signature": {
                "inputs": [{"name": n, "type": "string", "description": d} for n, d in inputs],
                "outputs": [{"name": n, "type": "string", "description": d} for n, d in outputs],
            },
            "system_prompt": system, **config,
        },
    }


def edge(source: str, source_port: str, target: str, target_port: str, kind: str = "data") -> dict[str, Any]:
    return {"source": source, "source_port": source_port, "target": target, "target_port": target_port, "kind": kind}


RESEARCH_BRIEF = {
    "schema_version": 1,
    "description": "Two analysts work in parallel; a writer merges their notes into a brief.",
    "inputs": {"topic": {"type": "string", "description": "What the brief is about"}},
    "outputs": {"brief": {"type": "string", "description": "The finished brief"}},
    "nodes": [
        agent("optimist", "Optimist analyst", [("topic", "Topic")], [("notes", "Opportunities")], 0, 0,
              "You find opportunities and upsides."),
        agent("skeptic", "Skeptic analyst", [("topic", "Topic")], [("notes", "Risks")], 0, 160,
              "You find risks and weak spots."),
        agent("writer", "Brief writer", [("upsides", "Opportunities"), ("risks", "Risks")], [("brief", "A balanced brief")],
              320, 80, "You write balanced one-paragraph briefs."),
    ],
    "edges": [
        edge("@inputs", "topic", "optimist", "topic"),
        edge("@inputs", "topic", "skeptic", "topic"),
        edge("optimist", "notes", "writer", "upsides"),
        edge("skeptic", "notes", "writer", "risks"),
        edge("writer", "brief", "@outputs", "brief"),
    ],
}

FALLBACK_ANSWER = {
    "schema_version": 1,
    "description": "A strong model answers; if it fails or times out, a cheaper one steps in (error edge).",
    "inputs": {"question": {"type": "string"}},
    "outputs": {"answer": {"type": "string"}},
    "nodes": [
        agent("primary", "Primary (gpt-4o)", [("question", "")], [("answer", "")], 0, 0, "Answer precisely.",
              model="gpt-4o", timeout_s=30),
        agent("backup", "Backup (gpt-4o-mini)", [("question", "")], [("answer", "")], 0, 160, "Answer briefly.",
              model="gpt-4o-mini"),
    ],
    "edges": [
        edge("@inputs", "question", "primary", "question"),
        edge("primary", "", "backup", "", kind="error"),
        edge("primary", "answer", "@outputs", "answer"),
    ],
}

DEMO_GRAPHS = [
    ("Research brief", "Parallel analysts and a writer: the smallest useful agent graph.", RESEARCH_BRIEF),
    ("Answer with fallback", "Multi-level fallback: a cheaper model answers when the first one fails.", FALLBACK_ANSWER),
]
