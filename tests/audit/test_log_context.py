"""Log lines a node causes carry its node id, in every task the node starts; none leak outside it.

The node id was once guessed from the current task's coroutine locals (``nid`` or ``ctx``), which
missed lines from tasks a kind starts itself, e.g. the semantic router's two parallel embedding
calls, whose hooks log from inside ``NodeRun.llm``. The engine now sets a context variable."""

from __future__ import annotations

import logging

from audit import logs
from graphs.engine.hooks import HookEvent, HookResult
from graphs.engine.nodes import router as router_module
from tests.engine.conftest import Harness
from tests.engine.test_node_router import routed

log = logging.getLogger("tests.log_context")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(logs.ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_lines_from_a_kinds_own_tasks_name_the_node(fake_llm_server):
    fake_llm_server.reset()
    harness = Harness(fake_llm_server)
    router_module._EMBED_CACHE.clear()  # cold: the router embeds task and descriptions in parallel tasks
    handler = Collect()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    token = logs.bind(run_id=41)

    async def on_llm_call(ctx):
        log.info("calling %s", ctx.metadata.get("key"))
        return HookResult()

    engine = harness.engine(routed("semantic"), run_id="41")
    engine.hooks.register(HookEvent.PRE_LLM_CALL, on_llm_call)
    harness.fake.script(match="CODER", reply={"answer": "ok"})
    try:
        result = await engine.run({"task": "write python code for a function with unit tests"})
        log.info("after the run")
    finally:
        logs.reset(token)
        log.removeHandler(handler)
        for provider in harness.opened:
            await provider.aclose()
        fake_llm_server.reset()
    assert result.status == "succeeded", result.error
    calls = {r.getMessage(): r.node_id for r in handler.records if r.getMessage().startswith("calling")}
    assert calls == {"calling task": "router", "calling specialists": "router", "calling #0": "coder"}, calls
    after = next(r for r in handler.records if r.getMessage() == "after the run")
    assert after.run_id == 41 and after.node_id is None
