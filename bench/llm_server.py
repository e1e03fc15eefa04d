"""The scripted server's answers (tests/fakellm.py) served by one asyncio loop, for benchmarks.

    python bench/llm_server.py PORT --latency S

tests/fakellm.py is a ``ThreadingHTTPServer``: a thread per connection, every request parsed by
``http.server`` under one GIL. That is right for tests (scripted per test, records every call),
and it is the slowest part of a benchmark that sends hundreds of calls at once: 200 calls of 1 s
from a client that costs next to nothing (raw sockets) took 1.26-1.28 s there, the server's
accept loop and thread starts queueing them, so no client could get near the 1.10 wall/ideal the
fan-out target asks for. A real provider does not queue 200 calls for a quarter of a second, and
on this 2-core machine the server's CPU is taken from the system it measures.

This server answers the same way (``auto_answer``: the keys the agent prompt asks for; streamed
as the same ``chat.completion.chunk``s when asked) after ``latency`` seconds, with no threads:
an asyncio protocol per connection, keep-alive, Content-Length bodies. Unscripted only: no
rules, no records. Both systems in a benchmark talk to the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakellm import FakeLLM, auto_answer  # noqa: E402

_CHUNKER = FakeLLM.chunks  # (a plain function of the payload: only ``self.chunk_chars`` is read)


class _Chunking:
    chunk_chars = 4


def answer(body: dict[str, Any], n: int) -> dict[str, Any]:
    """The chat.completion tests/fakellm.py gives an unscripted call."""
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
    content = json.dumps(auto_answer(body.get("messages", [])))
    prompt, completion = max(1, len(text) // 4), max(1, len(content) // 4)
    return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


def response(status: int, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload).encode()
    return (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def streamed(payload: dict[str, Any], include_usage: bool) -> list[bytes]:
    """The response's pieces, each written on its own (as tests/fakellm.py flushes each event)."""
    parts = [b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"]
    for item in [*_CHUNKER(_Chunking(), payload, include_usage), "[DONE]"]:  # type: ignore[arg-type]
        event = f"data: {item if isinstance(item, str) else json.dumps(item)}\n\n".encode()
        parts.append(f"{len(event):x}\r\n".encode() + event + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return parts


class Server:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length) or b"{}") if length else {}
                for part in await self.reply(method, path, body):
                    writer.write(part)  # (each a send of its own while the socket takes it)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def reply(self, method: str, path: str, body: dict[str, Any]) -> list[bytes]:
        if method == "GET" and path.endswith("/models"):
            return [response(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})]
        if not path.endswith("/chat/completions"):
            return [response(404, {"error": {"message": f"no route {path}"}})]
        self.served += 1
        payload = answer(body, self.served)
        if self.latency:
            await asyncio.sleep(self.latency)
        if body.get("stream"):
            return streamed(payload, (body.get("stream_options") or {}).get("include_usage", False))
        return [response(200, payload)]


async def main(port: int, latency: float) -> None:
    server = Server(latency)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.latency))
