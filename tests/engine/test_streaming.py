"""Streamed answers: the openai SDK streams each chat completion from the scripted server (SSE
chunks), the engine's token sink gets the text as it grows, and what is stored (the journal,
``post_llm_call``, usage, cost) is exactly what a plain request stores. Cancel aborts a stream."""

from __future__ import annotations

import asyncio

from graphs.engine.llm import ProviderRegistry
from graphs.engine.llm.streaming import CompletionAssembler
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink, MemoryTokenSink
from graphs.engine.runtime import Engine
from tests.helpers import agent, chain, edge

ANSWER = {"result": "a fairly long answer that arrives in many small pieces, one after the other"}


def post_llm_calls(events):
    return [e for e in events.events if e["event"] == "post_llm_call"]


async def run_with(harness, doc, *, stream: bool, sink=None, run_id="r1"):
    providers = ProviderRegistry({"openai": harness.openai(stream=stream)}, "openai")
    events = MemoryEventSink()
    engine = Engine(doc, run_id=run_id, providers=providers, checkpoints=MemoryCheckpointStore(), events=events,
                    token_sink=sink)
    return await engine.run({"task": "t"}), events


async def test_the_sink_gets_the_answer_in_pieces_and_the_stored_call_is_the_same_as_unstreamed(harness):
    harness.fake.script(match="step 1", reply=ANSWER, prompt_tokens=123, completion_tokens=45)
    sink = MemoryTokenSink()
    streamed, streamed_events = await run_with(harness, chain(1), stream=True, sink=sink)
    plain, plain_events = await run_with(harness, chain(1), stream=False, run_id="r2")
    assert streamed.status == plain.status == "succeeded" and streamed.outputs == plain.outputs == ANSWER
    first, second = harness.fake.calls("step 1")
    assert first["body"]["stream"] is True and first["body"]["stream_options"] == {"include_usage": True}
    assert "stream" not in second["body"] and first["chunks"] > 10 and first["completed"]
    # the sink saw the answer grow, piece by piece, with contiguous offsets
    pieces = [p for p in sink.pieces if p[0] == "s1"]
    assert len(pieces) > 10 and all(key == "#0" for _n, key, _o, _t in pieces)
    assert [o for _n, _k, o, _t in pieces] == [sum(len(t) for *_x, t in pieces[:i]) for i in range(len(pieces))]
    (s_call,), (p_call,) = post_llm_calls(streamed_events), post_llm_calls(plain_events)
    assert sink.text("s1") == s_call["data"]["answer"] == p_call["data"]["answer"]
    for field in ("answer", "prompt_tokens", "completion_tokens", "cost_usd", "model"):
        assert s_call["data"][field] == p_call["data"][field], field
    assert (s_call["data"]["prompt_tokens"], s_call["data"]["completion_tokens"]) == (123, 45)  # usage from the last chunk
    s_journal, p_journal = streamed.nodes["s1"]["llm_calls"][0], plain.nodes["s1"]["llm_calls"][0]
    assert s_journal["digest"] == p_journal["digest"] and s_journal["cost_usd"] == p_journal["cost_usd"] > 0
    assert {k: v for k, v in s_journal["response"].items() if k != "latency_ms"} == \
           {k: v for k, v in p_journal["response"].items() if k != "latency_ms"}
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (plain.prompt_tokens, plain.completion_tokens) == (123, 45)


async def test_structured_outputs_stream_their_json_text(harness):
    harness.fake.honour_schema = True
    sink = MemoryTokenSink()
    doc = chain(1, output_mode="json_schema")
    result, events = await run_with(harness, doc, stream=True, sink=sink)
    assert result.status == "succeeded", result.error
    (call,) = harness.fake.calls("step 1")
    assert call["body"]["response_format"]["type"] == "json_schema" and call["body"]["stream"] is True
    text = sink.text("s1")
    assert text.startswith("{") and text == post_llm_calls(events)[0]["data"]["answer"]
    assert len([p for p in sink.pieces if p[0] == "s1"]) > 1


async def test_no_sink_still_streams_and_stores_the_same(harness):
    harness.fake.script(match="step 1", reply=ANSWER)
    result, events = await run_with(harness, chain(1), stream=True, sink=None)
    assert result.outputs == ANSWER and harness.fake.calls("step 1")[0]["body"]["stream"] is True


async def test_a_retry_streams_again_from_offset_zero(harness):
    harness.fake.script(match="step 1", replies=[{"wrong": "shape"}, ANSWER])  # a malformed answer is asked again
    sink = MemoryTokenSink()
    result, _events = await run_with(harness, chain(1, output_mode="json_object"), stream=True, sink=sink)
    assert result.status == "succeeded" and result.outputs == ANSWER
    offsets = [o for n, _k, o, _t in sink.pieces if n == "s1"]
    assert offsets.count(0) >= 2  # (the re-ask is its own call, or a new attempt: each starts at 0)
    assert '"result"' in sink.text("s1", key=sink.pieces[-1][1])


async def test_nested_nodes_stream_under_their_namespaced_id(harness):
    harness.fake.script(match="ITEM", reply=ANSWER)
    body = {"inputs": {"item": {"type": "string"}}, "outputs": {"result": {"type": "string"}},
            "nodes": [agent("worker", ["item"], ["result"], instructions="ITEM {{item}}")],
            "edges": [edge("@inputs", "item", "worker", "item"), edge("worker", "result", "@outputs", "result")]}
    doc = {"schema_version": 1, "inputs": {"items": {"type": "list"}}, "outputs": {"results": {"type": "list"}},
           "nodes": [{"id": "each", "kind": "for_each", "config": {"body": body}, "position": {"x": 0, "y": 0}}],
           "edges": [edge("@inputs", "items", "each", "items"), edge("each", "results", "@outputs", "results")]}
    sink = MemoryTokenSink()
    providers = ProviderRegistry({"openai": harness.openai()}, "openai")
    engine = Engine(doc, run_id="r1", providers=providers, checkpoints=MemoryCheckpointStore(), events=MemoryEventSink(),
                    token_sink=sink)
    result = await engine.run({"items": ["a", "b"]})
    assert result.status == "succeeded", result.error
    assert {n for n, *_rest in sink.pieces} == {"each/0/worker", "each/1/worker"}
    assert sink.text("each/1/worker") == '{"result": "' + ANSWER["result"] + '"}'


async def test_cancel_aborts_the_stream_at_once(harness):
    harness.fake.script(match="step 1", reply=ANSWER, chunk_delay=0.3)  # ~20 chunks: some 6 s
    sink = MemoryTokenSink()
    providers = ProviderRegistry({"openai": harness.openai()}, "openai")
    engine = Engine(chain(1), run_id="r1", providers=providers, checkpoints=MemoryCheckpointStore(),
                    events=MemoryEventSink(), token_sink=sink)
    task = asyncio.ensure_future(engine.run({"task": "t"}))
    for _ in range(600):  # until the text is streaming
        if len(sink.pieces) >= 2:
            break
        await asyncio.sleep(0.02)
    assert len(sink.pieces) >= 2, "the stream started"
    engine.request_cancel()
    result = await asyncio.wait_for(task, 30)
    assert result.status == "cancelled"
    (call,) = harness.fake.calls("step 1")
    for _ in range(200):  # the server notices the closed connection at its next chunk
        if call.get("aborted_at"):
            break
        await asyncio.sleep(0.05)
    assert not call["completed"] and call.get("aborted_at"), "the server saw the client go away mid-stream"
    assert call["chunks"] < len(harness.fake.chunks(_payload(), include_usage=True)) - 2
    assert result.nodes["s1"]["llm_calls"] == []  # nothing journaled from the aborted stream


def _payload():
    import json
    import time

    content = json.dumps(ANSWER)
    return {"id": "x", "created": int(time.time()), "model": "m", "usage": {},
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}


def test_tool_call_deltas_are_assembled_by_index():
    """(Streaming a tool round: the calls' ids and names come first, their arguments in pieces.)"""
    asm = CompletionAssembler()
    head = {"id": "c1", "created": 1, "model": "m", "object": "chat.completion.chunk"}
    deltas = [
        {"role": "assistant", "content": None},
        {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "fetch", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"url": '}}]},
        {"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "search", "arguments": '{"q"'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"https://x"}'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": ': "y"}'}}]},
    ]
    for delta in deltas:
        assert asm.add({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}) == ""
    asm.add({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    asm.add({**head, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
    completion = asm.completion()
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls" and message.content is None
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("call_a", "fetch", '{"url": "https://x"}'), ("call_b", "search", '{"q": "y"}')]
    assert completion.usage.prompt_tokens == 7 and completion.usage.completion_tokens == 3


def test_the_scripted_servers_tool_call_chunks_assemble_into_the_calls():
    """tests/fakellm.py streams a message's tool calls in pieces, as OpenAI does."""
    payload = _payload()
    payload["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "fetch", "arguments": '{"url": "https://example.org/a/long/path"}'}}]}
    payload["choices"][0]["finish_reason"] = "tool_calls"
    chunks = _chunks(payload)
    assert sum(1 for c in chunks if c.get("choices") and "tool_calls" in c["choices"][0]["delta"]) > 2
    asm = CompletionAssembler()
    for c in chunks:
        asm.add(c)
    completion = asm.completion()
    call = completion.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "fetch", '{"url": "https://example.org/a/long/path"}')
    assert completion.choices[0].finish_reason == "tool_calls"


def _chunks(payload):
    from tests.fakellm import FakeLLM

    fake = FakeLLM.__new__(FakeLLM)  # (no server: only its chunking)
    fake.chunk_chars = 4
    return fake.chunks(payload, include_usage=True)


async def test_a_dry_run_streams_its_simulated_answer_too():
    from graphs.engine.llm.simulated import SimulatedProvider

    sink = MemoryTokenSink()
    events = MemoryEventSink()
    engine = Engine(chain(1), run_id="dry", providers=ProviderRegistry({"simulated": SimulatedProvider(0.05)}, "simulated"),
                    checkpoints=MemoryCheckpointStore(), events=events, token_sink=sink)
    result = await engine.run({"task": "t"})
    assert result.status == "succeeded"
    assert len(sink.pieces) > 1 and sink.text("s1") == post_llm_calls(events)[0]["data"]["answer"]


async def test_a_server_that_ignores_stream_is_read_as_one_answer():
    """Some OpenAI-compatible servers answer ``stream: true`` with a plain JSON completion."""
    import json as _json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from graphs.engine.llm.base import LLMRequest
    from graphs.engine.llm.clients import ClientPool
    from graphs.engine.llm.openai_provider import OpenAIProvider

    class Plain(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = _json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                                "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": '{"result": "plain"}'}}],
                                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    provider = OpenAIProvider(f"http://127.0.0.1:{server.server_address[1]}/v1", "k", clients=ClientPool())
    pieces = []
    try:
        answer = await provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}],
                                                    on_text=pieces.append))
    finally:
        await provider.aclose()
        server.shutdown()
    assert answer.content == '{"result": "plain"}' and (answer.prompt_tokens, answer.completion_tokens) == (3, 4)
    assert pieces == ['{"result": "plain"}']


class _RawSSE:
    """A server that answers every POST with the given raw SSE body (in pieces of ``split`` bytes,
    chunked), as real servers frame it in ways the scripted one does not (CRLF, comments, several
    data lines, an error event)."""

    def __init__(self, body: bytes, split: int = 7) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), split):  # (pieces that cut lines and CRLFs in two)
                    piece = body[i:i + split]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def _chunk(content: str, **extra) -> bytes:
    import json as _json

    return _json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}], **extra}).encode()


async def _ask(base_url: str):
    from graphs.engine.llm.base import LLMRequest
    from graphs.engine.llm.clients import ClientPool
    from graphs.engine.llm.openai_provider import OpenAIProvider

    provider = OpenAIProvider(base_url, "k", clients=ClientPool(), max_retries=0)
    pieces: list[str] = []
    try:
        answer = await provider.complete(LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}],
                                                    on_text=pieces.append))
    finally:
        await provider.aclose()
    return answer, pieces


async def test_server_sent_events_framed_every_way_real_servers_do_are_read():
    usage = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],' \
            b'"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}'
    body = (b": a comment first\r\n\r\n"                         # comments are ignored
            b"data: " + _chunk('{"result": ') + b"\r\n\r\n"      # CRLF line ends
            b"event: message\nid: 2\ndata: " + _chunk('"crlf and ') + b"\n\n"   # other fields
            b"data:" + _chunk('lf"') + b"\n\n"                    # no space after the colon
            b"data: " + _chunk("}")[:20] + b"\ndata: " + _chunk("}")[20:] + b"\n\n"  # one JSON over two data lines
            b"data: " + usage + b"\n\ndata: [DONE]\n\n")
    server = _RawSSE(body)
    try:
        answer, pieces = await _ask(server.base_url)
    finally:
        server.server.shutdown()
    assert answer.content == '{"result": "crlf and lf"}' and "".join(pieces) == answer.content
    assert (answer.prompt_tokens, answer.completion_tokens) == (5, 3)


async def test_an_error_event_in_the_middle_of_a_stream_is_a_retryable_llm_error():
    import pytest

    from graphs.engine.llm.base import LLMError

    body = (b"data: " + _chunk('{"result": "half') + b"\n\n"
            b'data: {"error": {"message": "the model crashed", "type": "server_error"}}\n\n')
    server = _RawSSE(body)
    try:
        with pytest.raises(LLMError) as caught:
            await _ask(server.base_url)
    finally:
        server.server.shutdown()
    assert "the model crashed" in str(caught.value) and caught.value.retryable
