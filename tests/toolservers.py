"""Servers that tools call in tests: a small HTTP API (records every request) and an MCP server
built with the ``mcp`` SDK's MCPServer (FastMCP in mcp 1.x), served over streamable HTTP by uvicorn.

    api = ToolAPI().start()          # GET /weather?city=..., POST /orders, GET /echo-headers, GET /slow
    mcp = McpTestServer().start()    # tools: search(query, limit), add(a, b), slow_write(text)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any = None) -> dict[str, Any]:
        parts = urlsplit(self.path)
        entry = {"method": self.command, "path": parts.path, "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                 "headers": dict(self.headers), "body": body, "at": time.time()}
        with self.server.api.lock:
            self.server.api.requests.append(entry)
        return entry

    def do_GET(self) -> None:
        entry = self._record()
        path, query = entry["path"], entry["query"]
        if path == "/weather":
            city = query.get("city", "?")
            return self._answer(200, {"city": city, "forecast": f"sunny in {city}", "celsius": 21})
        if path == "/echo-headers":
            return self._answer(200, {"headers": entry["headers"]})
        if path == "/slow":
            time.sleep(float(query.get("s", "5")))
            return self._answer(200, {"slow": True})
        if path == "/big":
            return self._answer(200, {"data": "x" * int(query.get("n", "100000"))})
        if "/page/" in path:  # (shaped like the templates' demo endpoint: .../page/summary/<title>)
            return self._answer(200, {"title": path.rsplit("/", 1)[-1], "extract": f"About {path.rsplit('/', 1)[-1]}."})
        self._answer(404, {"error": "no such path"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        entry = self._record(body)
        if entry["path"] == "/orders":
            delay = self.server.api.order_delay
            if delay:
                time.sleep(delay)
            return self._answer(201, {"order": len(self.server.api.calls("/orders")), "item": (body or {}).get("item")})
        self._answer(404, {"error": "no such path"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: ToolAPI


class ToolAPI:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.order_delay = 0.0

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ToolAPI:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
        self.order_delay = 0.0

    def calls(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


class McpTestServer:
    """An MCP server over streamable HTTP on 127.0.0.1 (its own uvicorn thread)."""

    def __init__(self, token: str | None = None) -> None:
        from mcp.server.mcpserver import MCPServer
        from mcp_types import ToolAnnotations

        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.token = token
        self.write_delay = 0.0
        server = MCPServer("kaizen-test-docs")

        @server.tool(annotations=ToolAnnotations(read_only_hint=True))
        def search(query: str, limit: int = 3) -> str:
            """Search the team's documentation; returns matching passages."""
            self.calls.append(("search", {"query": query, "limit": limit}))
            return f"{limit} passages about {query}: 'Kaizen means continuous improvement.'"

        @server.tool(annotations=ToolAnnotations(read_only_hint=True))
        def add(a: int, b: int) -> int:
            """Add two integers."""
            self.calls.append(("add", {"a": a, "b": b}))
            return a + b

        @server.tool()
        def slow_write(text: str) -> str:
            """Append a note (not idempotent)."""
            self.calls.append(("slow_write", {"text": text}))
            time.sleep(self.write_delay)
            return f"wrote {text}"

        self.app = server.streamable_http_app(stateless_http=True, json_response=True)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.headers_seen: list[dict[str, str]] = []
        self.methods: list[str] = []  # JSON-RPC methods asked ("initialize", "tools/list", "tools/call", ...)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> McpTestServer:
        import uvicorn

        outer = self

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                headers = {k.decode(): v.decode() for k, v in scope.get("headers", [])}
                outer.headers_seen.append(headers)
                if outer.token and headers.get("authorization") != f"Bearer {outer.token}":
                    await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
                    await send({"type": "http.response.body", "body": b""})
                    return

            async def receive_noted() -> Any:
                message = await receive()
                if message.get("type") == "http.request" and message.get("body"):
                    try:
                        outer.methods.append(json.loads(message["body"]).get("method", ""))
                    except (ValueError, AttributeError):
                        pass
                return message

            await outer.app(scope, receive_noted, send)

        self._uvicorn = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(10)
