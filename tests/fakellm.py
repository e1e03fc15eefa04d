"""A small OpenAI-compatible HTTP server for tests and benchmarks, scripted per test.

    llm = FakeLLM().start()
    llm.script(match="summarise", reply={"summary": "short"}, latency=0.5, completion_tokens=40)
    llm.script(model="gpt-4o", status=500)            # every gpt-4o call fails
    llm.script(match="flaky", replies=[429, {"answer": "ok"}])  # first 429, then an answer
    llm.script(status=429, headers={"Retry-After": "1"})  # error statuses carry these headers

Unscripted chat calls get an answer built from the keys our agent prompt asks for, so a test
scripts only what it checks. Every request is recorded, with whether its answer was delivered
(and the ``response_format`` it asked for).

A schema-honouring server (vLLM, Ollama, llama.cpp, OpenAI structured outputs) answers from the
``json_schema`` it receives, enums included, and ignores the keys a prompt names:

    llm.honour_schema = True                           # every unscripted call
    llm.script(match="route", honour=True, reply={"route": "code"})  # one rule; reply's keys win

    llm.no_structured_outputs.add("gpt-4")             # json_schema -> 400, as OpenAI's gpt-4 says

A reply may be the model asking for tool calls (the request's ``tools`` are recorded in its body):

    llm.script(match="weather", replies=[ToolCalls(("get_weather", {"city": "Paris"})), {"answer": "sunny"}])

Honouring, a request with no schema gets ``{"text": "ok"}`` (json_object) or plain ``ok``. As
OpenAI does, a ``strict`` schema outside the strict subset is refused with a 400, honouring or not.

A request with ``stream: true`` gets its answer as server-sent events (``chat.completion.chunk``s
of ``chunk_chars`` characters, at most MAX_CHUNKS of them, tool calls in pieces, the usage last when asked for), with
``chunk_delay`` seconds between chunks (per rule or for every call); the record counts the chunks
sent and notes ``aborted_at`` when the client went away mid-stream:

    llm.script(match="essay", chunk_delay=0.1)         # slow tokens
"""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_KEY_LINE = re.compile(r"^- ([A-Za-z_][A-Za-z0-9_]*) \((\w+)\)", re.M)
MAX_CHUNKS = 500  # of a streamed answer: a long one comes in bigger pieces
_SAMPLE = {"string": "ok", "number": 0.9, "integer": 1, "boolean": True, "object": {}, "list": [], "any": "ok"}


class ToolCalls:
    """A scripted answer that calls tools: ``ToolCalls(("name", {args}), ...)`` (parallel calls when
    several); an argument given as a str is sent as-is (a model's malformed arguments)."""

    def __init__(self, *calls: tuple[str, dict[str, Any] | str], content: str | None = None) -> None:
        self.calls, self.content = list(calls), content

    def message(self, n: int) -> dict[str, Any]:
        return {"role": "assistant", "content": self.content, "tool_calls": [
            {"id": f"call_{n}_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(self.calls)]}


@dataclass
class Rule:
    match: str | None = None
    model: str | None = None
    replies: list[Any] = field(default_factory=list)  # dict/str answers or int HTTP statuses
    latency: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    hang: bool = False  # never answer (a timeout, from the client's side)
    headers: dict[str, str] = field(default_factory=dict)  # sent with scripted error statuses (Retry-After)
    honour: bool = False  # answer from the request's json_schema (a dict reply overrides its keys)
    chunk_delay: float = 0.0  # a streamed answer's pause between chunks (after the first)
    calls: int = 0

    def applies(self, model: str, text: str) -> bool:
        return (self.model is None or self.model == model) and (self.match is None or self.match in text)

    def next_reply(self) -> Any:
        reply = self.replies[min(self.calls, len(self.replies) - 1)] if self.replies else None
        self.calls += 1
        return reply


def auto_answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    keys = _KEY_LINE.findall(system)
    return {name: _SAMPLE.get(kind, "ok") for name, kind in keys} or {"answer": "ok"}


def strict_problems(schema: Any, path: str = "$") -> list[str]:
    """Where ``schema`` leaves OpenAI's strict subset: objects must list every property as required,
    forbid others, and have properties; arrays need items; every part needs a type or an enum."""
    if not isinstance(schema, dict):
        return [f"{path}: not a schema"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is None and "enum" not in schema and "anyOf" not in schema:
        return [f"{path}: no type"]
    problems = []
    if "object" in kinds:
        props = schema.get("properties") or {}
        if not props:
            problems.append(f"{path}: object without properties")
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties must be false")
        if sorted(schema.get("required", [])) != sorted(props):
            problems.append(f"{path}: every property must be required")
        for key, sub in props.items():
            problems += strict_problems(sub, f"{path}.{key}")
    if "array" in kinds:
        if "items" not in schema:
            problems.append(f"{path}: array without items")
        else:
            problems += strict_problems(schema["items"], f"{path}[]")
    return problems


def honoured(schema: dict[str, Any]) -> Any:
    """A value matching ``schema``: its first enum value, "ok" texts, minItems entries, bounds kept,
    null where null is allowed (a strict schema's optional field)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        if "null" in kind:
            return None
        kind = next(iter(kind), None)
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    if kind == "object":
        return {key: honoured(sub) for key, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [honoured(schema.get("items") or {"type": "string"}) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        value = 0.9 if kind == "number" else 1
        return max(schema.get("minimum", value), min(schema.get("maximum", value), value))
    return _SAMPLE.get({"array": "list"}.get(kind or "any", kind or "any"), "ok")


def honoured_answer(body: dict[str, Any], reply: Any) -> str:
    """What a schema-honouring model returns for ``body``: from its json_schema only."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        answer = honoured(fmt.get("json_schema", {}).get("schema") or {})
        if isinstance(reply, dict) and isinstance(answer, dict):
            answer.update({k: v for k, v in reply.items() if k in answer})
        return json.dumps(answer)
    if isinstance(reply, (dict, str)):
        return reply if isinstance(reply, str) else json.dumps(reply)
    return json.dumps({"text": "ok"}) if fmt.get("type") == "json_object" else "ok"


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # else keep-alive requests wait ~40 ms (Nagle + delayed ACK)
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        fake = self.server.fake
        if self.path.endswith("/embeddings"):
            texts = body.get("input") or []
            texts = [texts] if isinstance(texts, str) else texts
            data = [{"object": "embedding", "index": i, "embedding": fake.embed(t)} for i, t in enumerate(texts)]
            return self._json(200, {"object": "list", "data": data, "model": body.get("model"),
                                    "usage": {"prompt_tokens": sum(len(t.split()) for t in texts), "total_tokens": 0}})
        if not self.path.endswith("/chat/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        record = fake.record(body, {"Authorization": self.headers.get("Authorization")})
        record["peer_port"] = self.client_address[1]  # (which of the client's connections carried it)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and fmt.get("json_schema", {}).get("strict"):
            problems = strict_problems(fmt["json_schema"].get("schema"))
            if problems:  # (OpenAI's answer to a schema outside the strict subset)
                return self._finish(record, 400, {"error": {"message": "Invalid schema for response_format: "
                                                            + "; ".join(problems), "type": "invalid_request_error"}})
        if fmt.get("type") == "json_schema" and body.get("model") in fake.no_structured_outputs:
            return self._finish(record, 400, {"error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                "type": "invalid_request_error", "param": "response_format"}})
        rule = fake.rule_for(body.get("model", ""), record["text"])
        reply = rule.next_reply() if rule else None
        latency = rule.latency if rule else fake.default_latency
        if rule and rule.hang:
            latency = 3600
        if self._wait(latency):
            record["aborted_at"] = time.time()  # the client went away (timeout, cancel, killed worker)
            return
        if isinstance(reply, int):
            return self._finish(record, reply, {"error": {"message": f"scripted {reply}", "type": "server_error"}},
                                rule.headers if rule else None)
        if isinstance(reply, ToolCalls):
            message = reply.message(record["n"])
            return self._finish(record, 200, {
                "id": f"chatcmpl-{record['n']}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
                "usage": {"prompt_tokens": max(1, len(record["text"]) // 4), "completion_tokens": 10, "total_tokens": 0},
            })
        if rule.honour if rule else fake.honour_schema:
            content = honoured_answer(body, reply)
        else:
            content = reply if isinstance(reply, str) else json.dumps(reply if reply is not None else auto_answer(body.get("messages", [])))
        prompt = rule.prompt_tokens if rule and rule.prompt_tokens is not None else max(1, len(record["text"]) // 4)
        completion = rule.completion_tokens if rule and rule.completion_tokens is not None else max(1, len(content) // 4)
        payload = {
            "id": f"chatcmpl-{record['n']}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
        if body.get("stream"):
            return self._stream(record, payload, body, rule.chunk_delay if rule else fake.chunk_delay)
        self._finish(record, 200, payload)

    def _stream(self, record: dict[str, Any], payload: dict[str, Any], body: dict[str, Any], delay: float) -> None:
        """The answer as server-sent events, as OpenAI streams it: a chunk per piece of text
        (``chunk_chars`` each, ``delay`` s apart), tool calls in pieces, the finish reason, the usage
        (if ``stream_options.include_usage``), then ``[DONE]``. A client that goes away stops it."""
        fake = self.server.fake
        if self._client_gone():
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        record["status"], record["chunks"] = 200, 0
        for chunk in fake.chunks(payload, include_usage=(body.get("stream_options") or {}).get("include_usage", False)):
            if record["chunks"] and delay and self._wait(delay):
                record["aborted_at"] = time.time()
                return
            if not self._sse(chunk):
                record["aborted_at"] = time.time()
                return
            record["chunks"] += 1
        if self._sse("[DONE]") and self._write(b"0\r\n\r\n"):
            record["completed"] = True

    def _sse(self, data: Any) -> bool:
        text = data if isinstance(data, str) else json.dumps(data)
        event = f"data: {text}\n\n".encode()
        return self._write(f"{len(event):x}\r\n".encode() + event + b"\r\n")

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client closed the connection (a cancel, a timeout)
            return False

    def _wait(self, seconds: float) -> bool:
        """Sleep, but notice a client that disconnects meanwhile; True if it is gone.

        One blocking select() until the socket turns readable (a disconnect) or the time is up:
        no polling, so two hundred waiting requests cost the server (and the machine) nothing."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False  # (_finish looks once more before it answers)
            try:
                readable, _, _ = select.select([self.connection], [], [], left)
            except OSError:
                return True
            if readable:
                if self._client_gone():
                    return True
                time.sleep(max(0.0, deadline - time.monotonic()))  # (bytes we don't read: just wait)
                return False

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _finish(self, record: dict[str, Any], status: int, payload: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:
        if self._client_gone():
            return
        self._json(status, payload, headers)
        record["status"] = status
        record["completed"] = True

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    fake: FakeLLM


class FakeLLM:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.requests: list[dict[str, Any]] = []
        self.default_latency = 0.0
        self.honour_schema = False  # unscripted calls answer from their json_schema, not the prompt
        self.no_structured_outputs: set[str] = set()  # models that refuse json_schema with a 400
        self.chunk_chars = 4  # characters of answer per streamed chunk (about a token)
        self.chunk_delay = 0.0  # pause between streamed chunks, unless a rule says
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()
            self.default_latency = 0.0
            self.honour_schema = False
            self.no_structured_outputs.clear()
            self.chunk_chars, self.chunk_delay = 4, 0.0

    def script(self, match: str | None = None, *, model: str | None = None, reply: Any = None,
               replies: list[Any] | None = None, status: int | None = None, latency: float = 0.0,
               prompt_tokens: int | None = None, completion_tokens: int | None = None, hang: bool = False,
               headers: dict[str, str] | None = None, honour: bool = False, chunk_delay: float = 0.0) -> Rule:
        """Add a rule; the first rule that applies to a request answers it. ``latency``: before the
        answer (its first chunk, streamed); ``chunk_delay``: between a streamed answer's chunks."""
        seq = list(replies or [])
        if reply is not None:
            seq.append(reply)
        if status is not None:
            seq.append(status)
        rule = Rule(match, model, seq, latency, prompt_tokens, completion_tokens, hang, dict(headers or {}), honour,
                    chunk_delay)
        with self._lock:
            self.rules.append(rule)
        return rule

    def rule_for(self, model: str, text: str) -> Rule | None:
        with self._lock:
            return next((r for r in self.rules if r.applies(model, text)), None)

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
        with self._lock:
            rec = {"n": len(self.requests) + 1, "model": body.get("model"), "text": text, "body": body,
                   "response_format": body.get("response_format"),
                   "authorization": headers.get("Authorization"), "completed": False, "status": None,
                   "at": time.time()}
            self.requests.append(rec)
        return rec

    def calls(self, match: str | None = None, *, completed: bool | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if (match is None or match in r["text"])
                    and (completed is None or r["completed"] == completed)]

    def chunks(self, payload: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
        """``payload`` (a chat.completion) as the chat.completion.chunk list a streaming server sends."""
        head = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"],
                "model": payload["model"]}
        choice = payload["choices"][0]
        message = choice["message"]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        text = message.get("content") or ""
        size = max(1, self.chunk_chars, len(text) // MAX_CHUNKS)
        out += [chunk({"content": text[i:i + size]}) for i in range(0, len(text), size)]
        for index, call in enumerate(message.get("tool_calls") or ()):
            args = call["function"].get("arguments", "")
            out.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                              "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            out += [chunk({"tool_calls": [{"index": index, "function": {"arguments": args[i:i + size * 4]}}]})
                    for i in range(0, len(args), size * 4)]
        out.append(chunk({}, choice.get("finish_reason") or "stop"))
        if include_usage:
            out.append({**head, "choices": [], "usage": payload["usage"]})
        return out

    @staticmethod
    def embed(text: str, dim: int = 32) -> list[float]:
        vec = [0.0] * dim
        for word in re.findall(r"\w+", text.lower()):
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
        return vec


if __name__ == "__main__":  # standalone: python -m tests.fakellm [PORT] [--latency S]
    import argparse

    parser = argparse.ArgumentParser(description="A scripted OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("port", nargs="?", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args()
    server = FakeLLM(port=args.port)
    server.default_latency = args.latency
    server.start()
    print(server.base_url, flush=True)
    threading.Event().wait()
