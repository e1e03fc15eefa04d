"""The source document's eight autonomy patterns, and an agent researching with tools, as ready-to-run graph templates.

Each template is a graph document built only from registered node kinds; ``tests`` validate
every one and run each through a worker (tests/test_templates_e2e.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .builder import Layout, edge, graph

DX, DY = 300, 150  # grid for readable layouts


@dataclass(frozen=True)
class Template:
    slug: str
    name: str
    description: str
    spec: dict[str, Any]

    def unplaced(self) -> dict[str, Any]:
        """The spec with every node at the origin: the editor and the diagrams lay such a graph out
        for the canvas they draw it on (the grid positions fit no screen: Fit on the 13-node
        parallel template gave unreadable text)."""
        return {**self.spec, "nodes": [{**n, "position": {"x": 0, "y": 0}} for n in self.spec["nodes"]]}

    def summary(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "description": self.description,
                "nodes": len(self.spec["nodes"]), "kinds": sorted({n["kind"] for n in self.spec["nodes"]})}


GRID = Layout(DX, DY)
node, agent = GRID.node, GRID.agent


def _specialist_body() -> dict[str, Any]:
    """Pattern 1's meta-controller: a semantic router over two specialists, run per plan step."""
    return graph(
        "Route one plan step to the specialist whose capabilities match best.",
        {"item": {"type": "string", "description": "The plan step"}},
        {"answer": {"type": "any"}, "route": {"type": "string"}},
        [node("router", "router", "Meta-controller (semantic)", 1, 1, strategy="semantic", error_handling="graceful",
              specialists=[{"name": "code", "description": "Coding tasks: generate code, dashboards and unit tests",
                            "keywords": ["code", "dashboard", "test"]},
                           {"name": "data", "description": "Data analysis tasks: analyse data, engagement, insights and reports",
                            "keywords": ["data", "analyse", "analyze", "insight", "report"]}]),
         agent("code_expert", "Code expert (gpt-4)", 2, 0, [("task", "string")], [("code", "string"), ("tests", "string")],
               "You are a code expert. You write code and its unit tests.", model="gpt-4"),
         agent("data_expert", "Data expert (gpt-4)", 2, 2, [("task", "string")], [("analysis", "string"), ("visualizations", "list")],
               "You are a data analysis expert.", model="gpt-4"),
         node("collect", "join", "Collect the routed answer", 3, 1,
              inputs=[{"name": "code", "type": "any", "required": False}, {"name": "data", "type": "any", "required": False}])],
        [edge("@inputs", "item", "router", "task"), edge("router", "code", "code_expert", "task"),
         edge("router", "data", "data_expert", "task"), edge("code_expert", "code", "collect", "code"),
         edge("data_expert", "analysis", "collect", "data"), edge("collect", "first", "@outputs", "answer"),
         edge("router", "route", "@outputs", "route")],
    )


HIERARCHICAL = graph(
    "A planning coordinator splits the task into steps; each step goes through a semantic meta-controller to "
    "the code or data specialist; independent steps run in parallel.",
    {"task": {"type": "string", "description": "A complex task, e.g. analyse engagement data and build a dashboard"}},
    {"plan": {"type": "object"}, "results": {"type": "list"}},
    [node("planner", "planner", "Planning coordinator (gpt-4)", 1, 1, model="gpt-4", max_plan_steps=10, validation_mode="strict"),
     node("steps", "for_each", "For each plan step: route to a specialist", 2, 1, body=_specialist_body(),
          item_field="description", concurrency=4)],
    [edge("@inputs", "task", "planner", "task"), edge("planner", "steps", "steps", "items"),
     edge("planner", "plan", "@outputs", "plan"), edge("steps", "results", "@outputs", "results")],
)

CONSENSUS = graph(
    "Three analysts with different personalities (temperatures 0.2 / 0.9 / 0.5) vote; 2 of 3 must agree, "
    "up to 3 rounds in which each sees the others' previous votes.",
    {"task": {"type": "string", "description": "The decision, e.g. Should we migrate to microservices?"},
     "context": {"type": "object", "description": "Facts for the voters", "required": False}},
    {"final_decision": {"type": "string"}, "consensus_achieved": {"type": "boolean"},
     "confidence_score": {"type": "number"}, "votes": {"type": "list"}},
    [node("consensus", "consensus", "Consensus (2 of 3)", 1, 1, consensus_threshold=0.66, max_rounds=3, voters=[
        {"name": "conservative", "model": "gpt-4", "temperature": 0.2, "persona": "You are a conservative, risk-averse architect."},
        {"name": "innovative", "model": "gpt-4", "temperature": 0.9, "persona": "You are an innovative, opportunity-seeking architect."},
        {"name": "balanced", "model": "gpt-4", "temperature": 0.5, "persona": "You are a balanced, pragmatic architect."}])],
    [edge("@inputs", "task", "consensus", "task"), edge("@inputs", "context", "consensus", "context")]
    + [edge("consensus", k, "@outputs", k) for k in ("final_decision", "consensus_achieved", "confidence_score", "votes")],
)

ETL_STEPS = ["Extract data from 10 sources", "Transform and validate 1M records", "Load into data warehouse",
             "Generate analytics reports", "Update dashboards"]

CHECKPOINT = graph(
    "A long ETL pipeline: each step is refined by a plan-execute-verify agent and checkpointed; a crashed or "
    "restarted worker resumes at the step where it stopped, never repeating a finished step.",
    {"steps": {"type": "list", "description": "Pipeline steps, e.g. " + "; ".join(ETL_STEPS)}},
    {"results": {"type": "list"}, "completed": {"type": "integer"}},
    [node("pipeline", "for_each", "Pipeline steps (one at a time)", 1, 1, concurrency=1, body=graph(
        "One pipeline step, refined until verified.", {"item": {"type": "string"}},
        {"result": {"type": "string"}, "verified": {"type": "boolean"}},
        [node("pev", "pev", "PEV agent (gpt-4, strict)", 1, 1, model="gpt-4", max_iterations=3,
              verification_strictness="strict")],
        [edge("@inputs", "item", "pev", "task"), edge("pev", "result", "@outputs", "result"),
         edge("pev", "verified", "@outputs", "verified")]))],
    [edge("@inputs", "steps", "pipeline", "items"), edge("pipeline", "results", "@outputs", "results"),
     edge("pipeline", "count", "@outputs", "completed")],
)

BUDGET = graph(
    "Three processing stages start on gpt-4 under a $5 budget; when it is spent they continue where they "
    "stopped on gpt-3.5-turbo with its own $10 budget. A run-level budget (run settings) interrupts instead.",
    {"task": {"type": "string", "description": "The batch to process"}},
    {"result": {"type": "string"}, "model_switched": {"type": "boolean"}, "spent_usd": {"type": "number"}},
    [node("guard", "budget", "Budget guard ($5, then gpt-3.5-turbo)", 1, 1, budget_usd=5.0, on_exceed="switch_model",
          fallback_model="gpt-3.5-turbo", fallback_budget_usd=10.0, body=graph(
              "Three stages on the expensive model.", {"task": {"type": "string"}}, {"result": {"type": "string"}},
              [agent("stage1", "Stage 1: extract", 1, 1, [("task", "string")], [("result", "string")],
                     "Stage 1: extract the items to process.", model="gpt-4"),
               agent("stage2", "Stage 2: process", 2, 1, [("task", "string")], [("result", "string")],
                     "Stage 2: process the items.", model="gpt-4"),
               agent("stage3", "Stage 3: summarise", 3, 1, [("task", "string")], [("result", "string")],
                     "Stage 3: summarise the processed items.", model="gpt-4")],
              [edge("@inputs", "task", "stage1", "task"), edge("stage1", "result", "stage2", "task"),
               edge("stage2", "result", "stage3", "task"), edge("stage3", "result", "@outputs", "result")]))],
    [edge("@inputs", "task", "guard", "task")]
    + [edge("guard", k, "@outputs", k) for k in ("result", "model_switched", "spent_usd")],
)

MEMORY = graph(
    "A support agent remembers each customer's conversation across runs: cold in the database, promoted to the "
    "warm tier (Redis) after 2 accesses within an hour and to the hot tier (in process) after 5; idle sessions "
    "are demoted. See /api/memory/ for where each session lives.",
    {"question": {"type": "string", "description": "The customer's message"},
     "session_id": {"type": "string", "description": "Conversation id, e.g. customer_123"}},
    {"answer": {"type": "string"}},
    [agent("assistant", "Support agent with memory", 1, 1, [("question", "string")], [("answer", "string")],
           "You are a support agent. Use the earlier conversation.",
           memory={"session_input": "session_id", "max_turns": 100, "hot_promotion_threshold": 5,
                   "warm_promotion_threshold": 2, "access_window_seconds": 3600, "demote_after_seconds": 86400})],
    [edge("@inputs", "question", "assistant", "question"), edge("@inputs", "session_id", "assistant", "session_id"),
     edge("assistant", "answer", "@outputs", "answer")],
)

FALLBACK = graph(
    "Gracefully degrade: gpt-4 (quality high), then gpt-3.5-turbo (medium), then a local llama3 (basic), each "
    "on error or timeout; if all fail, a structured error with suggestions.",
    {"task": {"type": "string", "description": "What to do"}},
    {"answer": {"type": "string", "required": False}, "quality": {"type": "string"}, "status": {"type": "string"},
     "message": {"type": "string"}, "suggestions": {"type": "list"}},
    [node("chain", "fallback", "Multi-level fallback", 1, 1, levels=[
        {"model": "gpt-4", "quality": "high", "level_timeout_s": 30, "max_steps": 2},
        {"model": "gpt-3.5-turbo", "quality": "medium", "level_timeout_s": 20, "max_steps": 2},
        {"model": "llama3", "quality": "basic", "level_timeout_s": 20, "max_steps": 2}], final_error=True)],
    [edge("@inputs", "task", "chain", "task")]
    + [edge("chain", k, "@outputs", k) for k in ("answer", "quality", "status", "message", "suggestions")],
)

SOURCES = ["api1", "api2", "api3", "database", "s3_bucket"]
# A public demo endpoint the fetchers call (no key needed); change the tool's URL to fetch your own sources.
DEMO_URL = "https://en.wikipedia.org/api/rest_v1/page/summary/{{title}}"


def fetch_tool(name: str = "fetch_page", url: str = DEMO_URL) -> dict[str, Any]:
    """An HTTP GET tool on the demo endpoint (templates' fetchers and researchers use it)."""
    return {"type": "http", "name": name, "method": "GET", "url": url, "timeout_s": 15, "max_response_bytes": 50_000,
            "description": "Fetch the summary of an encyclopedia page by its title (use underscores for spaces).",
            "parameters": [{"name": "title", "type": "string", "description": "Page title, e.g. Remote_work"}]}


def _parallel() -> dict[str, Any]:
    nodes, edges = [], []
    for i, src in enumerate(SOURCES):
        nodes.append(agent(f"fetch_{src}", f"Fetch {src}", 1, i, [("source", "string")], [("data", "string")],
                           f"You fetch data from the source {src} with your tool, then report what it returned.",
                           instructions=f"Fetch from {src}: {{{{source}}}}", tools=[fetch_tool()], max_tool_rounds=2))
        nodes.append(agent(f"transform_{src}", f"Transform {src}", 2, i, [("data", "string")], [("dataset", "string")],
                           "You transform a fetched dataset."))
        edges += [edge("@inputs", "request", f"fetch_{src}", "source"), edge(f"fetch_{src}", "data", f"transform_{src}", "data"),
                  edge(f"transform_{src}", "dataset", "join", src)]
    nodes += [node("join", "join", "Wait for all datasets", 3, 2, inputs=[{"name": s, "type": "string"} for s in SOURCES]),
              agent("validator", "Validate all datasets", 4, 2, [("datasets", "list")], [("status", "string"), ("data", "string")],
                    "You validate datasets together."),
              agent("reporter", "Generate report", 5, 2, [("validated_data", "string")], [("summary", "string")],
                    "You write a short report.")]
    edges += [edge("join", "values", "validator", "datasets"), edge("validator", "data", "reporter", "validated_data"),
              edge("reporter", "summary", "@outputs", "summary"), edge("validator", "status", "@outputs", "validation")]
    return graph("Fetch five sources in parallel (each fetcher calls an HTTP tool: a public demo URL you can change), "
                 "transform each in parallel, then validate (after all transforms) and report: independent work "
                 "overlaps, dependencies are respected.",
                 {"request": {"type": "string", "description": "What to fetch"}},
                 {"summary": {"type": "string"}, "validation": {"type": "string"}}, nodes, edges)


PARALLEL = _parallel()

OBSERVABLE = graph(
    "Every step reports hook events: agent loops (performance), LLM calls with tokens, cost and latency, "
    "errors and the fallback that handled them (error tracking), and checkpoints (audit trail). Watch them live "
    "on the run page.",
    {"task": {"type": "string", "description": "What to analyse"}},
    {"report": {"type": "string"}},
    [agent("analyst", "Analyst", 1, 1, [("task", "string")], [("findings", "string")], "You analyse tasks carefully."),
     agent("writer", "Report writer (gpt-4o)", 2, 1, [("findings", "string")], [("report", "string")],
           "You write the final report.", model="gpt-4o", timeout_s=30),
     agent("writer_fallback", "Fallback writer (gpt-4o-mini)", 2, 2, [("findings", "string")], [("report", "string")],
           "You write a short report.", model="gpt-4o-mini")],
    [edge("@inputs", "task", "analyst", "task"), edge("analyst", "findings", "writer", "findings"),
     edge("writer", "", "writer_fallback", "", kind="error"), edge("writer", "report", "@outputs", "report")],
)

MCP_SERVER = "research-docs"  # the MCP server connection the research template expects (POST /api/mcp-servers/)

RESEARCH = graph(
    "A researcher agent gathers facts with tools: an MCP server's search tool (add a connection named "
    f"'{MCP_SERVER}' pointing at your MCP server) and an HTTP tool on a public encyclopedia; it may call them "
    "in parallel, over several rounds. A writer turns its notes into a brief. Every call shows as "
    "pre_tool_call / post_tool_call on the run page.",
    {"topic": {"type": "string", "description": "What to research, e.g. remote work"}},
    {"brief": {"type": "string"}, "sources": {"type": "list"}},
    [agent("researcher", "Researcher (MCP + HTTP tools)", 1, 1, [("topic", "string")],
           [("notes", "string"), ("sources", "list")],
           "You research with your tools before answering: search the documentation server, fetch encyclopedia "
           "pages, and list the sources you used.", instructions="Research this topic: {{topic}}",
           tools=[{"type": "mcp", "server": MCP_SERVER, "tools": ["search"]}, fetch_tool()], max_tool_rounds=4),
     agent("writer", "Brief writer", 2, 1, [("notes", "string")], [("brief", "string")],
           "You write a balanced one-paragraph brief from research notes.")],
    [edge("@inputs", "topic", "researcher", "topic"), edge("researcher", "notes", "writer", "notes"),
     edge("writer", "brief", "@outputs", "brief"), edge("researcher", "sources", "@outputs", "sources")],
)

TEMPLATES: list[Template] = [
    Template("hierarchical-planning", "Hierarchical planning", "A planner splits the task; a semantic router sends each step to a specialist.", HIERARCHICAL),
    Template("consensus", "Consensus building", "Three differently-minded agents vote until 2 of 3 agree.", CONSENSUS),
    Template("checkpoint-pipeline", "Checkpoint-driven long process", "A five-step pipeline that resumes where it stopped after a crash.", CHECKPOINT),
    Template("budget-aware", "Budget-aware processing", "Stages on gpt-4 until $5 is spent, then on gpt-3.5-turbo.", BUDGET),
    Template("context-memory", "Context-aware memory", "An agent with conversation memory in hot/warm/cold tiers.", MEMORY),
    Template("multi-level-fallback", "Multi-level fallback", "gpt-4, then gpt-3.5-turbo, then llama3, then a helpful error.", FALLBACK),
    Template("parallel-pipeline", "Parallel execution", "Five sources fetched and transformed in parallel, then validated and reported.", PARALLEL),
    Template("observable-system", "Observable system", "An analysis pipeline whose hook events show performance, errors and an audit trail.", OBSERVABLE),
    Template("research-with-tools", "Research with tools", f"An agent researches with an MCP server ('{MCP_SERVER}') and an HTTP tool, then a writer briefs.", RESEARCH),
]
BY_SLUG = {t.slug: t for t in TEMPLATES}


def template_get(slug: str) -> Template | None:
    return BY_SLUG.get(slug)
