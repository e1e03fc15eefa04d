"""A streamed chat completion read into a completion that reads like the SDK's ``ChatCompletion``.

The request asks for ``stream: true`` with ``stream_options: {"include_usage": true}`` (the last
chunk then carries the usage); each piece of answer text goes to ``on_text`` as it arrives, and
the chunks are assembled into one completion: content, refusal, finish reason, usage and tool
calls (their deltas joined by index: id and name come first, the arguments in pieces), with the
attributes of the SDK's ``ChatCompletion`` (``choices[0].message.content``, ``usage``...), so
whatever reads a completion reads a streamed one alike. It is made of plain slotted classes: the
SDK's ``ChatCompletion.construct`` walked its type hints for ~65 µs a call (~6 % of a call's
client CPU at zero latency). A server that ignores ``stream`` and
answers with one JSON body is read as such (its text goes to ``on_text`` in one piece).

Chunks are read as plain dicts, and the events are split from the body here rather than by the
SDK's stream (its decoder and per-event layers cost ~40 % of a long streamed answer's CPU at zero
latency; bench/engine_overhead.py's HTTP row): building a pydantic model per chunk would cost more. Leaving the ``async with`` (an error, a
cancellation) closes the response at once, so a cancelled run aborts its stream.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import openai
from openai.types.chat import ChatCompletion

TextSink = Callable[[str], None]


@dataclass(slots=True)
class Function:
    name: str
    arguments: str


@dataclass(slots=True)
class ToolCall:
    id: str
    function: Function
    type: str = "function"


@dataclass(slots=True)
class Message:
    content: str | None
    role: str = "assistant"
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None


@dataclass(slots=True)
class Choice:
    message: Message
    finish_reason: str = "stop"
    index: int = 0


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(slots=True)
class Completion:
    """An assembled streamed answer, read as the SDK's ``ChatCompletion`` is."""

    id: str | None
    model: str | None
    choices: list[Choice] = field(default_factory=list)
    usage: Usage | None = None
    created: int | None = None
    object: str = "chat.completion"


class CompletionAssembler:
    """Folds ``chat.completion.chunk`` dicts into one chat completion (the first choice's)."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.role = "assistant"
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns its new answer text ("" if none)."""
        if not isinstance(chunk, dict):
            return ""
        if not self.head:
            self.head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        text = ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("role"):
                self.role = delta["role"]
            if delta.get("content"):
                text = delta["content"]
                self.content.append(text)
            if delta.get("refusal"):
                self.refusal.append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                self._tool_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return text

    def _tool_call(self, delta: dict[str, Any]) -> None:
        call = self.tool_calls.setdefault(delta.get("index", len(self.tool_calls)),
                                          {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]

    def completion(self) -> Completion:
        calls = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        message = Message("".join(self.content) if self.content else None, self.role,
                          "".join(self.refusal) if self.refusal else None,
                          [ToolCall(c["id"], Function(c["function"]["name"], c["function"]["arguments"]), c["type"])
                           for c in calls] or None)
        usage = self.usage
        return Completion(self.head.get("id"), self.head.get("model"), [Choice(message, self.finish_reason or "stop")],
                          None if usage is None else Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0,
                                                           usage.get("total_tokens") or 0),
                          self.head.get("created"))


async def stream_chat(client: openai.AsyncOpenAI, body: dict[str, Any], timeout_s: float,
                      on_text: TextSink | None) -> ChatCompletion | Completion:
    """POST ``body`` as a streamed chat completion; ``on_text`` gets each piece of the answer."""
    stream = await client.post("/chat/completions", cast_to=ChatCompletion, options={"timeout": timeout_s},
                               body={**body, "stream": True, "stream_options": {"include_usage": True}},
                               stream=True, stream_cls=openai.AsyncStream[object])
    assembler = CompletionAssembler()
    done = False
    async with stream:
        if "text/event-stream" not in stream.response.headers.get("content-type", ""):
            # A server that ignores ``stream`` (some OpenAI-compatible ones do) answers in one piece.
            completion = ChatCompletion.construct(**json.loads(await stream.response.aread()))
            text = completion.choices[0].message.content if completion.choices else None
            if text and on_text is not None:
                on_text(text)
            return completion
        async for data in _sse_data(stream.response):
            if done:
                continue  # (the rest of the body is read, so that the connection can be reused)
            if data.startswith(b"[DONE]"):
                done = True
                continue
            chunk = json.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else None
                raise openai.APIError(message if isinstance(message, str) and message else "An error occurred during streaming",
                                      request=stream.response.request, body=error)
            text = assembler.add(chunk)
            if text and on_text is not None:
                on_text(text)
    return assembler.completion()


async def _sse_data(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The data of each server-sent event of ``response`` (other fields and comments ignored),
    as the SDK's decoder reads them, with a fraction of its CPU per event (answers come in
    thousands of small events). Transport errors become the SDK's, as its stream raises them."""
    pending = b""
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    try:
        async for piece in (response.aiter_bytes() if encoded else response.aiter_raw()):
            pending += piece
            if b"\r" in pending:  # CRLF or CR line ends (a lone CR at the end may be half of a CRLF)
                held = pending.endswith(b"\r")
                pending = pending[:-1] if held else pending
                pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if held else b"")
            if b"\n\n" not in pending:
                continue
            *events, pending = pending.split(b"\n\n")
            for event in events:
                data = _event_data(event)
                if data is not None:
                    yield data
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:
        raise openai.APIConnectionError(request=response.request) from exc
    data = _event_data(pending.rstrip(b"\r\n"))
    if data is not None:
        yield data


def _event_data(event: bytes) -> bytes | None:
    if event.startswith(b"data: ") and b"\n" not in event:  # (nearly every event: one data line)
        return event[6:]
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts) if parts else None
