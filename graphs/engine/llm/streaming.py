"""A streamed chat completion read into the same ``ChatCompletion`` a plain request returns.

The request asks for ``stream: true`` with ``stream_options: {"include_usage": true}`` (the last
chunk then carries the usage); each piece of answer text goes to ``on_text`` as it arrives, and
the chunks are assembled into one ``ChatCompletion``: content, refusal, finish reason, usage and
tool calls (their deltas joined by index: id and name come first, the arguments in pieces), so
whatever reads a completion reads a streamed one alike. A server that ignores ``stream`` and
answers with one JSON body is read as such (its text goes to ``on_text`` in one piece).

Chunks are read as plain dicts (``AsyncStream[object]``): building a pydantic model per chunk
would cost more CPU than the rest of the call. Leaving the ``async with`` (an error, a
cancellation) closes the response at once, so a cancelled run aborts its stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletion

TextSink = Callable[[str], None]


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

    def completion(self) -> ChatCompletion:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) if self.content else None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        data = {**self.head, "object": "chat.completion", "usage": self.usage,
                "choices": [{"index": 0, "finish_reason": self.finish_reason or "stop", "message": message}]}
        return ChatCompletion.construct(**data)  # (as the SDK builds a plain answer: no validation pass)


async def stream_chat(client: openai.AsyncOpenAI, body: dict[str, Any], timeout_s: float,
                      on_text: TextSink | None) -> ChatCompletion:
    """POST ``body`` as a streamed chat completion; ``on_text`` gets each piece of the answer."""
    stream = await client.post("/chat/completions", cast_to=ChatCompletion, options={"timeout": timeout_s},
                               body={**body, "stream": True, "stream_options": {"include_usage": True}},
                               stream=True, stream_cls=openai.AsyncStream[object])
    assembler = CompletionAssembler()
    async with stream:
        if "text/event-stream" not in stream.response.headers.get("content-type", ""):
            # A server that ignores ``stream`` (some OpenAI-compatible ones do) answers in one piece.
            completion = ChatCompletion.construct(**json.loads(await stream.response.aread()))
            text = completion.choices[0].message.content if completion.choices else None
            if text and on_text is not None:
                on_text(text)
            return completion
        async for chunk in stream:
            text = assembler.add(chunk)
            if text and on_text is not None:
                on_text(text)
    return assembler.completion()
