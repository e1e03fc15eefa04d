"""What fencing costs the group commit: the statement with and without the epoch check, interleaved.

    .venv/bin/python bench/fencing_cost.py [--batches 400]

One run's typical node batch (5 events with their audit copy, one node state, its history row)
committed by the current statement (claims + share-locked ``held`` rows + the final-update CTE)
and by the same statement without them (the one before fencing), alternately, on PostgreSQL
(database ``kaizen_bench``, as bench/engine_overhead.py). Prints p50/p90 per statement.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_overhead import setup_django  # noqa: E402


def unfenced(sql: str) -> str:
    """The statement as it was before fencing: no claims/held CTEs, no filter, no final update."""
    sql = re.sub(r"WITH claims AS \(.*?\), held AS \(.*?\), events AS", "WITH events AS", sql, flags=re.S)
    sql = sql.replace("    WHERE r.run_id IN (SELECT id FROM held)\n", "")
    sql = re.sub(r", finished AS \(.*?\)\nSELECT run_id FROM claims WHERE run_id NOT IN \(SELECT id FROM held\)",
                 "\nSELECT 1", sql, flags=re.S)
    return sql


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=400)
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from audit.services import RUN_EVENT_COPY, run_event_rows
    from graphs import services
    from graphs.models import Run, RunEvent
    from graphs.runner import writer
    from tests.helpers import chain

    user, _ = get_user_model().objects.get_or_create(username="bench")
    graph = services.graph_create(owner=user, name="fencing", spec=chain(1)).graph
    run = Run.objects.create(graph=graph, version=graph.versions.get(), inputs={}, created_by=user)
    fenced_sql = writer.group_commit_sql(RUN_EVENT_COPY)
    old_sql = unfenced(fenced_sql)
    assert "held" not in old_sql and "held" in fenced_sql
    seq = 0
    timings: dict[str, list[float]] = {"fenced": [], "unfenced": []}

    def batch() -> tuple:
        nonlocal seq
        events = []
        for name in ("pre_node", "pre_llm_call", "post_llm_call", "post_node", "post_checkpoint_save"):
            seq += 1
            events.append(RunEvent(run_id=run.pk, seq=seq, event=name, node_id="s1", created_at=datetime.now(UTC),
                                   data={"answer": "x" * 200, "model": "gpt-4o-mini", "tokens": 42}))
        audit = run_event_rows({run.pk: events})
        state = {"status": "succeeded", "outputs": {"result": "y" * 200}, "llm_calls": [{"key": "#0", "response": {}}]}
        return events, audit, {(run.pk, f"n{seq}"): state}

    for i in range(args.batches * 2):
        kind = "fenced" if i % 2 == 0 else "unfenced"
        events, audit, states = batch()
        started = time.perf_counter()
        params = writer.pg_params({run.pk: run.epoch}, events, audit, states, {}, RUN_EVENT_COPY)
        with connection.cursor() as cursor:
            cursor.execute(fenced_sql if kind == "fenced" else old_sql, params if kind == "fenced" else params[1:4])
        timings[kind].append((time.perf_counter() - started) * 1000)
    print(f"{'statement':<12} {'p50 ms':>8} {'p90 ms':>8}   ({args.batches} batches each, interleaved)")
    for kind, values in timings.items():
        values.sort()
        print(f"{kind:<12} {statistics.median(values):8.3f} {values[int(len(values) * 0.9)]:8.3f}")
    connection.close()


if __name__ == "__main__":
    main()
