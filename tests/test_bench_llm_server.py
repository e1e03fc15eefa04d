"""bench/llm_server.py (the benchmark's lean endpoint) answers as tests/fakellm.py does: the same
auto answers, streamed or plain, through our provider and the SDK; and the bench's floor reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from bench.stack import free_port
from graphs.engine.llm.base import LLMRequest
from graphs.engine.llm.openai_provider import OpenAIProvider

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lean_url():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.llm_server", str(port), "--latency", "0.2"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("http://")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


ASK = [{"role": "system", "content": "Answer as JSON with:\n- result (string)\n- score (number)"},
       {"role": "user", "content": "t"}]


async def test_streamed_through_our_provider_and_plain_through_the_sdk(lean_url):
    provider = OpenAIProvider(lean_url, "k", max_retries=0, allow_private=True)
    try:
        streamed = await provider.complete(LLMRequest(model="m", messages=ASK, timeout_s=10))
    finally:
        await provider.aclose()
    assert set(json.loads(streamed.content)) == {"result", "score"}
    assert streamed.prompt_tokens > 0 and streamed.completion_tokens > 0
    client = openai.AsyncOpenAI(base_url=lean_url, api_key="k", max_retries=0)
    try:
        plain = await client.chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
        models = await client.models.list()
    finally:
        await client.close()
    assert json.loads(plain.choices[0].message.content or "") == json.loads(streamed.content)
    assert [m.id for m in models.data] == ["gpt-4o-mini"]


def test_the_floor_waits_for_the_latency(lean_url):
    sys.path.insert(0, str(ROOT))
    from bench.shapes import raw_llm_fanout

    wall = raw_llm_fanout(30, lean_url)
    assert wall >= 0.2  # (every answer is held 0.2 s: the floor cannot beat the latency)
