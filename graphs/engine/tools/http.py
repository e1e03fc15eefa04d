"""HTTP request tool: a method, a URL template, headers (a value may carry a stored credential),
an optional JSON body template, time and size limits, and the same SSRF guard as model endpoints
(public addresses only, resolution pinned per connection; llm/urlguard.py), plus an optional
allow-list of hosts.

Templates are substitution only: ``{{param}}`` in the URL's path or query becomes the
percent-encoded argument; in the body (JSON), a string that is exactly ``"{{param}}"`` becomes the
argument's JSON value and any other ``{{param}}`` inside a string its text. The URL's scheme and
host are fixed by the config (never an argument). Arguments not named by a template go to the query
string (GET, DELETE) or, when there is no body template, make the JSON body. Redirects are not
followed (a 3xx is reported to the model with its Location).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import httpx2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..llm.fencing import FencedTransport
from ..llm.urlguard import GuardedTransport, UnsafeModelURL, acheck_model_url, check_syntax
from .base import (
    TOOL_NAME_PATTERN,
    TOOLS_PRIVATE_HINT,
    ToolConfigError,
    ToolEnv,
    ToolParameter,
    ToolResult,
    as_data,
    parameters_schema,
    placeholders,
    substitute,
    whole_placeholder,
)

SECRET = "{{secret}}"


class HttpHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$", description="Header name.")
    value: str = Field("", max_length=2000, description="Header value; with a credential, {{secret}} marks where its key "
                                                        "goes (e.g. 'Bearer {{secret}}'); empty: the key alone.")
    credential: str | None = Field(None, max_length=100, description="Name of a stored credential (never shown in events).")

    @model_validator(mode="after")
    def _secret_slot(self) -> HttpHeader:
        if self.credential is None and SECRET in self.value:
            raise ValueError("value: {{secret}} needs a credential")
        if self.credential is not None and self.value and SECRET not in self.value:
            raise ValueError("value: with a credential, write {{secret}} where the key goes (or leave it empty)")
        return self


class HttpToolConfig(BaseModel):
    """An HTTP endpoint the model may call."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http"] = "http"
    name: str = Field(pattern=TOOL_NAME_PATTERN, description="Tool name the model calls (letters, digits, _ and -).")
    description: str = Field("", max_length=2000, description="What the tool does, for the model.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(min_length=1, max_length=2000, description="URL template; {{param}} in the path or query inserts an argument.")
    parameters: list[ToolParameter] = Field(default_factory=list, max_length=32, description="Arguments the model passes.")
    headers: list[HttpHeader] = Field(default_factory=list, max_length=20)
    body: str | None = Field(None, max_length=20_000, description='JSON body template, e.g. {"q": "{{query}}"}.')
    timeout_s: float = Field(15.0, gt=0, le=300, description="Time for the whole request.")
    max_response_bytes: int = Field(200_000, ge=100, le=5_000_000, description="Longer answers are cut here.")
    allowed_hosts: list[str] = Field(default_factory=list, max_length=50, description="If set, only these hosts.")
    idempotent: bool | None = Field(None, description="May a call cut off by a crash be repeated? Empty: GET yes, others no.")
    cost_usd: float = Field(0.0, ge=0, le=1000, description="What one call costs (USD): counted into the run's cost and budgets.")
    output_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema of the answer (optional): dry runs simulate answers of this shape.")

    @model_validator(mode="after")
    def _templates(self) -> HttpToolConfig:
        names = {p.name for p in self.parameters}
        if len(names) != len(self.parameters):
            raise ValueError("parameters: duplicate names")
        try:
            check_syntax(substitute(self.url, lambda _n: "x"))
        except UnsafeModelURL as exc:
            raise ValueError(f"url: {exc}") from None
        parts = urlsplit(self.url)
        if "{{" in parts.netloc or "{{" in parts.scheme:
            raise ValueError("url: the scheme and host cannot be templated (only the path and query)")
        unknown = placeholders(self.url) - names
        if self.body is not None:
            try:
                json.loads(self.body)
            except ValueError as exc:
                raise ValueError(f"body: not valid JSON ({exc})") from None
            unknown |= placeholders(self.body) - names
        if unknown:
            raise ValueError(f"unknown parameter(s) in templates: {', '.join(sorted(unknown))}")
        host = (parts.hostname or "").lower()
        if self.allowed_hosts and host not in {h.lower() for h in self.allowed_hosts}:
            raise ValueError(f"url: host {host!r} is not in allowed_hosts")
        return self


def _fill_body(value: Any, arguments: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = whole_placeholder(value)
        if whole is not None:
            return arguments.get(whole)
        return substitute(value, lambda n: _text(arguments.get(n, "")))
    if isinstance(value, list):
        return [_fill_body(v, arguments) for v in value]
    if isinstance(value, dict):
        return {k: _fill_body(v, arguments) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class HttpTool:
    kind = "http"

    def __init__(self, config: HttpToolConfig) -> None:
        self.config = config
        self.name = config.name
        self.description = config.description or f"{config.method} {config.url}"
        self.idempotent = config.idempotent if config.idempotent is not None else config.method == "GET"
        self.cost_usd = config.cost_usd
        self.output_schema = config.output_schema

    def schema(self) -> dict[str, Any]:
        return parameters_schema(self.config.parameters)

    def request_parts(self, arguments: dict[str, Any]) -> tuple[str, Any]:
        """(URL, JSON body or None) for these arguments."""
        config = self.config
        used = placeholders(config.url) | (placeholders(config.body) if config.body else set())
        url = substitute(config.url, lambda n: quote(_text(arguments.get(n, "")), safe=""))
        rest = {k: v for k, v in arguments.items() if k not in used}
        body: Any = None
        if config.body is not None:
            body = _fill_body(json.loads(config.body), arguments)
        elif config.method in ("POST", "PUT", "PATCH"):
            body, rest = rest, {}
        if rest:
            url += ("&" if urlsplit(url).query else "?") + urlencode({k: _text(v) for k, v in rest.items()})
        return url, body

    def describe_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        url, _body = self.request_parts(arguments)
        return {"method": self.config.method, "url": url}

    async def check_credentials(self, env: ToolEnv) -> None:
        """Before any call: every credential of the headers may go to the URL's host (the scheme,
        host and port are fixed by the config). CredentialRefused otherwise; unknown credentials
        are left to the call (the model hears of them)."""
        for header in self.config.headers:
            if header.credential is not None:
                try:
                    await env.secret(header.credential, self.config.url, self.name)
                except ToolConfigError:
                    pass

    async def _headers(self, url: str, env: ToolEnv) -> dict[str, str]:
        headers = {"User-Agent": "kaizen-web-tool/1", "Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
        for header in self.config.headers:
            value = header.value
            if header.credential is not None:
                secret = await env.secret(header.credential, url, self.name)  # (refused: nothing is sent)
                value = value.replace(SECRET, secret) if value else secret
            headers[header.name] = value
        return headers

    async def call(self, arguments: dict[str, Any], env: ToolEnv) -> ToolResult:
        config = self.config
        url, body = self.request_parts(arguments)
        host = (urlsplit(url).hostname or "").lower()
        if config.allowed_hosts and host not in {h.lower() for h in config.allowed_hosts}:
            return ToolResult.failed(f"host {host!r} is not in the tool's allowed_hosts")
        try:
            await acheck_model_url(url, env.allow_private, TOOLS_PRIVATE_HINT)
        except UnsafeModelURL as exc:
            return ToolResult.failed(f"refused URL: {exc}")
        headers = await self._headers(url, env)
        transport = FencedTransport(GuardedTransport(allow_private=env.allow_private, hint=TOOLS_PRIVATE_HINT, what="tool URL"))
        async with httpx2.AsyncClient(transport=transport, timeout=config.timeout_s, follow_redirects=False) as client:
            try:
                async with client.stream(config.method, url, headers=headers,
                                         json=body if body is not None else None) as response:
                    raw, truncated = await _read_limited(response, config.max_response_bytes)
                    status = response.status_code
                    location = response.headers.get("location", "")
            except httpx2.TimeoutException:
                return ToolResult.failed(f"timed out after {config.timeout_s}s")
            except httpx2.HTTPError as exc:
                return ToolResult.failed(env.redact(f"request failed: {exc}"))
        text = env.redact(raw.decode("utf-8", errors="replace"))
        suffix = f"\n[cut at {config.max_response_bytes} bytes]" if truncated else ""
        if 300 <= status < 400:
            return ToolResult.failed(f"HTTP {status} redirect to {location or '?'} (not followed)", http_status=status,
                                     bytes=len(raw))
        if status >= 400:
            return ToolResult(content=f"HTTP {status}: {text[:2000]}", status="error", error=f"HTTP {status}",
                              bytes=len(raw), http_status=status, truncated=truncated)
        return ToolResult(content=text + suffix, bytes=len(raw), data=as_data(text) if not truncated else text,
                          truncated=truncated, http_status=status)


async def _read_limited(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False
