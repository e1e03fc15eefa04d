"""Streamed answers on the run page, in Debian's chromium: a node's panel shows its answer growing
while the model is still writing it (the scripted server's slow chunks), then the stored call;
Cancel aborts a stream mid-answer."""

from __future__ import annotations

import time

import pytest

from graphs import services
from tests.helpers import chain, wait_for_run
from tests.live.conftest import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STREAM_TEXT = "[data-live-calls=s1] [data-testid=stream-text]"


def stream_length(page) -> int:
    return page.evaluate(f"() => (document.querySelector('{STREAM_TEXT}') || {{textContent: ''}}).textContent.length")


def test_streamed_tokens_grow_in_the_node_panel_before_the_call_ends(user, celery_worker, daphne_server, fake_llm, browser_page):
    answer = " ".join(f"word{i}" for i in range(60))
    fake_llm.script(match="step 1", reply={"result": answer}, chunk_delay=0.08)  # ~110 chunks: ~9 s of writing
    graph = services.graph_create(owner=user, name="stream", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s1"][data-state="running"]', timeout=30_000)
    page.click('[data-node-row="s1"]')
    page.wait_for_selector("#node-detail [data-live-calls=s1]", timeout=10_000)
    page.wait_for_function(f"() => (document.querySelector('{STREAM_TEXT}') || {{textContent: ''}}).textContent.length > 30",
                           timeout=30_000)
    first = stream_length(page)
    (call,) = fake_llm.calls("step 1")
    assert not call["completed"], "the text was on the page while the model was still writing"
    page.screenshot(path=str(SHOTS / "run-stream-growing.png"), full_page=True)
    page.wait_for_function(f"() => document.querySelector('{STREAM_TEXT}').textContent.length > {first + 20}",
                           timeout=30_000)
    grown = page.text_content(STREAM_TEXT)
    whole = '{"result": "' + answer + '"}'
    # (what streamed before the page's websocket connected is not replayed: " … " marks the gap)
    parts = [part for part in grown.split(" … ") if part]
    assert parts and all(part in whole for part in parts), grown
    assert not grown.startswith(" … ") or grown.count(" … ") == 1, "contiguous once it joined"
    page.wait_for_selector('[data-testid=run-status]:text("succeeded")', timeout=60_000)
    assert call["completed"]
    # the call's answer is stored: the panel shows it from the server, the live block is gone
    page.wait_for_function(f"() => !document.querySelector('{STREAM_TEXT}')", timeout=10_000)
    page.wait_for_selector('#node-detail pre:has-text("word59")', timeout=10_000)
    page.screenshot(path=str(SHOTS / "run-stream-stored.png"), full_page=True)
    assert page.csp_errors == []


def test_cancel_aborts_a_stream_mid_answer(user, celery_worker, daphne_server, fake_llm, browser_page):
    fake_llm.script(match="step 1", reply={"result": " ".join(f"w{i}" for i in range(200))}, chunk_delay=0.1)  # ~60 s
    graph = services.graph_create(owner=user, name="stream-cancel", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-node-row="s1"][data-state="running"]', timeout=30_000)
    page.click('[data-node-row="s1"]')
    page.wait_for_function(f"() => (document.querySelector('{STREAM_TEXT}') || {{textContent: ''}}).textContent.length > 10",
                           timeout=30_000)
    page.click("[data-testid=cancel]")
    page.wait_for_selector('[data-testid=run-status]:text("cancelled")', timeout=30_000)
    assert wait_for_run(run.pk, 10).status == "cancelled"
    (call,) = fake_llm.calls("step 1")
    deadline = time.monotonic() + 10
    while not call.get("aborted_at") and time.monotonic() < deadline:  # (noticed at its next chunk)
        time.sleep(0.05)
    assert call.get("aborted_at") and not call["completed"], "the stream was cut, not read to its end"
    assert call["chunks"] < 150, call["chunks"]
    page.screenshot(path=str(SHOTS / "run-stream-cancelled.png"), full_page=True)
