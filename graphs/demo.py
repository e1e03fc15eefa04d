"""Demo graphs loaded for new installs (and by tests, so they stay valid)."""

from __future__ import annotations

from .builder import Layout, edge

agent = Layout().agent  # (positions as given)

RESEARCH_BRIEF = {
    "schema_version": 1,
    "description": "Two analysts work in parallel; a writer merges their notes into a brief.",
    "inputs": {"topic": {"type": "string", "description": "What the brief is about"}},
    "outputs": {"brief": {"type": "string", "description": "The finished brief"}},
    "nodes": [
        agent("optimist", "Optimist analyst", 0, 0, [("topic", "string", "Topic")], [("notes", "string", "Opportunities")],
              "You find opportunities and upsides."),
        agent("skeptic", "Skeptic analyst", 0, 160, [("topic", "string", "Topic")], [("notes", "string", "Risks")],
              "You find risks and weak spots."),
        agent("writer", "Brief writer", 320, 80, [("upsides", "string", "Opportunities"), ("risks", "string", "Risks")],
              [("brief", "string", "A balanced brief")], "You write balanced one-paragraph briefs."),
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
        agent("primary", "Primary (gpt-4o)", 0, 0, [("question", "string", "")], [("answer", "string", "")], "Answer precisely.",
              model="gpt-4o", timeout_s=30),
        agent("backup", "Backup (gpt-4o-mini)", 0, 160, [("question", "string", "")], [("answer", "string", "")], "Answer briefly.",
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
