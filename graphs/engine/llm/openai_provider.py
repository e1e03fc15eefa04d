"""The openai SDK against any OpenAI-compatible base_url (OpenAI, Ollama, vLLM, the test server).

Its HTTP clients come from a ClientPool (clients.py): by default the process's shared pool of the
running event loop, which no run closes, so one provider serves every run of a worker. A caller
that passes its own pool owns it, and ``aclose()`` closes it. Cancelling the awaiting task
closes the in-flight HTTP request.

Whose key goes where: the operator's key (``api_key`` here, OPENAI_API_KEY) is sent only to the
operator's endpoint (``base_url``, OpenAI's default when unset). A request for any other endpoint
must bring its own key (a stored credential), and goes through a transport that connects only to
addresses the guard accepts (urlguard.py): public ones, unless the operator allows private ranges.
Provider error bodies are trimmed before they become a run's error or events.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion

from .base import OUTPUT_MODES, LLMError, LLMRequest, LLMResponse, is_default_connection, parse_retry_after
from .clients import ClientPool, ConnectionConfig, TransportFactory, default_transport, shared_pool
from .streaming import Completion, stream_chat
from .structured import response_format
from .urlguard import UnsafeModelURL, acheck_model_url, normalize

ERROR_CHARS = 300  # of a provider's error text kept in a run's error and events


def trimmed(text: str, limit: int = ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def _schema_unsupported(exc: openai.BadRequestError, body: dict[str, Any]) -> bool:
    """Did the endpoint refuse structured outputs as such (not our schema: that is a bug to see)?"""
    if (body.get("response_format") or {}).get("type") != "json_schema":
        return False
    message = str(exc.message).lower()
    return "not supported" in message and ("response_format" in message or "json_schema" in message)


OPENAI_DEFAULT_URL = "https://api.openai.com/v1"  # the SDK's, when OPENAI_BASE_URL is unset


def parse_tool_calls(calls: Any) -> list[dict[str, Any]] | None:
    """The model's function calls as plain data: [{"id", "name", "arguments"}]; arguments that are
    not a JSON object stay text under ``arguments_error`` (the tool loop tells the model)."""
    if not calls:
        return None
    parsed = []
    for call in calls:
        function = getattr(call, "function", None)
        if function is None:
            continue
        raw = function.arguments or "{}"
        try:
            arguments = json.loads(raw)
        except ValueError:
            arguments = None
        entry: dict[str, Any] = {"id": call.id, "name": function.name, "arguments": arguments if isinstance(arguments, dict) else {}}
        if not isinstance(arguments, dict):
            entry["arguments_error"] = trimmed(raw)
        parsed.append(entry)
    return parsed or None


def connect_reason(error: BaseException) -> str:
    """The short cause of a failed connection ("connection refused", "host not found"), from the
    innermost exception the SDK wraps."""
    texts: list[str] = []
    exc: BaseException | None = error
    while exc is not None and len(texts) < 8:
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, socket.gaierror):
            return "host not found"
        if isinstance(exc, ssl.SSLError):
            return "TLS handshake failed"
        texts.append(str(exc).lower())
        exc = exc.__cause__ or exc.__context__
    text = " ".join(texts)
    for needle, reason in (("refused", "connection refused"), ("name or service not known", "host not found"),
                           ("nodename nor servname", "host not found"), ("temporary failure in name resolution", "host not found"),
                           ("no route to host", "no route to host"), ("network is unreachable", "network unreachable"),
                           ("certificate", "TLS certificate rejected"), ("ssl", "TLS handshake failed"),
                           ("timed out", "connection timed out"), ("reset by peer", "connection reset")):
        if needle in text:
            return reason
    return "connection failed"


class OpenAIProvider:
    name = "openai"

    def __init__(self, base_url: str | None, api_key: str | None, max_retries: int = 0, *,
                 allow_private: bool = False, clients: ClientPool | None = None,
                 transport_factory: TransportFactory = default_transport, output_mode: str = "json_schema",
                 stream: bool = True) -> None:
        """``base_url``/``api_key``: the operator's endpoint and key. ``allow_private``: may a
        user's endpoint be a private address (KAIZEN_ALLOW_PRIVATE_MODEL_URLS)? Retries are the
        engine's (runtime/retries.py): the SDK's own stay off unless asked for. ``output_mode``:
        how answer schemas are sent when a node does not say (KAIZEN_LLM_OUTPUT_MODE, structured.py).
        ``stream``: ask for streamed answers (streaming.py); the text reaches ``request.on_text``."""
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}, not {output_mode!r}")
        self.output_mode = output_mode
        self.stream = stream  # chat completions stream their answer (KAIZEN_LLM_STREAM)
        # (endpoint, model) pairs that answered json_schema with "not supported": asked in JSON mode.
        # Which format a model gets never changes the request digest, so workers may differ here.
        self._no_json_schema: set[tuple[str | None, str]] = set()
        self.base_url = base_url
        self.api_key = api_key
        self.max_retries = max_retries
        self.allow_private = allow_private
        self.clients = clients  # None: the shared pool of whichever loop the call runs on
        self.transport_factory = transport_factory
        self._operator_url = normalize(base_url)

    def is_operator_url(self, url: str | None) -> bool:
        return url is None or url == "" or normalize(url) == self._operator_url

    def endpoint(self, request: LLMRequest) -> tuple[str | None, str | None, bool]:
        """(base URL, key, guarded?) for ``request``: the operator's key only for the operator's URL
        and only through the built-in default connection. A named connection sends its own key (or
        none) to its own URL, through the SSRF-guarded transport, whatever that URL is."""
        if not is_default_connection(request.connection):
            if not request.base_url:
                raise LLMError(f"connection {request.connection!r} has no base URL", retryable=False)
            return request.base_url, request.api_key, True
        if self.is_operator_url(request.base_url):
            return self.base_url, request.api_key or self.api_key, False
        if not request.api_key:
            raise LLMError(f"the endpoint {request.base_url!r} needs a credential: the server's key is only sent "
                           "to the server's own endpoint", status=None, retryable=False)
        return request.base_url, request.api_key, True

    def _lease(self, request: LLMRequest) -> contextlib.AbstractContextManager[openai.AsyncOpenAI]:
        """The client for ``request``'s call, busy until the call ends (clients.py: FILL)."""
        base_url, api_key, guarded = self.endpoint(request)
        pool = self.clients if self.clients is not None else shared_pool(self.transport_factory)
        return pool.lease(ConnectionConfig(base_url, api_key, self.max_retries, guarded=guarded,
                                           allow_private=self.allow_private))

    def _where(self, request: LLMRequest) -> dict[str, str]:
        """The endpoint a request goes to and the setting that names it, for errors people can act on."""
        if not is_default_connection(request.connection):
            return {"endpoint": request.base_url or "", "model": request.model,
                    "setting": f"the base URL of the connection {request.connection!r} (workspace connections)"}
        if self.is_operator_url(request.base_url):
            return {"endpoint": self.base_url or OPENAI_DEFAULT_URL, "setting": "OPENAI_BASE_URL", "model": request.model}
        return {"endpoint": request.base_url or "", "setting": "the node's base_url", "model": request.model}

    async def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lease(request) as client:  # (timeout per request: with_options() would copy the client per call)
            return await self._complete(client, request)

    async def _complete(self, client: openai.AsyncOpenAI, request: LLMRequest) -> LLMResponse:
        if self._guarded(request):
            try:  # a clear, final error before any retry (the transport checks every connection)
                await acheck_model_url(request.base_url or "", self.allow_private)
            except UnsafeModelURL as exc:
                raise LLMError(f"base_url {exc}", retryable=False) from exc
        started = time.perf_counter()
        try:
            if request.kind == "embedding":
                emb = await client.embeddings.create(model=request.model, input=request.input_texts,
                                                     timeout=request.timeout_s)
                usage = emb.usage
                return LLMResponse(
                    "", request.model, self.name, getattr(usage, "prompt_tokens", 0) or 0, 0,
                    (time.perf_counter() - started) * 1000,
                    embeddings=[list(d.embedding) for d in emb.data],
                )
            body = self.chat_body(request)
            # The SDK's own post() (its way to call any endpoint) with the SDK's ChatCompletion type,
            # rather than chat.completions.create(): create() first walks every message through its
            # TypedDict transform, some 15 % of the client's CPU per call in a 200-wide fan-out, and
            # our messages are plain JSON already. Auth, timeouts and errors are the SDK's; retries the engine's.
            try:
                completion = await self._chat(client, body, request)
            except openai.BadRequestError as exc:
                if not _schema_unsupported(exc, body):
                    raise
                # A model without structured outputs (OpenAI's gpt-4 and gpt-3.5-turbo say so with a
                # 400): JSON mode instead, remembered for this endpoint and model.
                self._json_mode_only(request)
                body = self.chat_body(request)
                completion = await self._chat(client, body, request)
        except openai.APITimeoutError as exc:
            where = self._where(request)
            raise LLMError(f"timeout after {request.timeout_s}s: {where['endpoint']} ({where['setting']}) did not answer "
                           f"for model {request.model}", retryable=True,
                           detail={**where, "kind": "timeout", "reason": "timeout"}) from exc
        except openai.APIStatusError as exc:
            where = self._where(request)
            raise LLMError(f"HTTP {exc.status_code}: {trimmed(exc.message)}", status=exc.status_code,
                           retryable=exc.status_code in (408, 409, 429) or exc.status_code >= 500,
                           retry_after=parse_retry_after(exc.response.headers),
                           detail={**where, "kind": "http", "reason": f"HTTP {exc.status_code}"}) from exc
        except openai.APIConnectionError as exc:
            refused = isinstance(exc.__cause__, httpx2.ConnectError) and isinstance(exc.__cause__.__cause__, UnsafeModelURL)
            if refused:
                raise LLMError(trimmed(f"connection error: {exc.__cause__}"), retryable=False) from exc
            where = self._where(request)
            reason = connect_reason(exc)
            raise LLMError(f"could not connect to {where['endpoint']} ({where['setting']}): {reason} (model {request.model})",
                           retryable=True, detail={**where, "kind": "connect", "reason": reason,
                                                   "raw": trimmed(f"{exc}: {exc.__cause__ or ''}")}) from exc
        except openai.APIError as exc:  # an error event in the middle of a stream
            where = self._where(request)
            raise LLMError(f"the stream broke off: {trimmed(exc.message)}", retryable=True,
                           detail={**where, "kind": "http", "reason": "stream error"}) from exc
        chat_usage = completion.usage
        choice = completion.choices[0] if completion.choices else None
        return LLMResponse(
            content=(choice.message.content or "") if choice else "",
            tool_calls=parse_tool_calls(choice.message.tool_calls) if choice else None,
            model=completion.model or request.model,
            provider=self.name,
            prompt_tokens=getattr(chat_usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(chat_usage, "completion_tokens", 0) or 0,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def _chat(self, client: openai.AsyncOpenAI, body: dict[str, Any],
                    request: LLMRequest) -> ChatCompletion | Completion:
        """One chat completion: streamed (KAIZEN_LLM_STREAM, on by default), each piece of text
        to ``request.on_text`` as it arrives, or in one answer; read the same way either way."""
        if self.stream:
            return await stream_chat(client, body, request.timeout_s, request.on_text)
        return await client.post("/chat/completions", body=body, cast_to=ChatCompletion,
                                 options={"timeout": request.timeout_s})

    def _guarded(self, request: LLMRequest) -> bool:
        return not is_default_connection(request.connection) or (
            request.base_url is not None and not self.is_operator_url(request.base_url))

    def _endpoint_model(self, request: LLMRequest) -> tuple[str | None, str]:
        return normalize(request.base_url) if self._guarded(request) else self._operator_url, request.model

    def _json_mode_only(self, request: LLMRequest) -> None:
        if len(self._no_json_schema) >= 1000:  # (bounded: relearnt with one refused request)
            self._no_json_schema.clear()
        self._no_json_schema.add(self._endpoint_model(request))

    def chat_body(self, request: LLMRequest) -> dict[str, Any]:
        """The JSON body of a chat completion request: the answer's schema as the node's (else this
        provider's) output mode says; JSON mode for a model that refused structured outputs."""
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, "temperature": request.temperature}
        mode = self.output_mode if request.output_mode == "auto" else request.output_mode
        if mode == "json_schema" and self._endpoint_model(request) in self._no_json_schema:
            mode = "json_object"
        fmt = response_format(request.response_schema, mode, request.schema_name)
        if fmt is not None:
            body["response_format"] = fmt
        if request.max_tokens:
            body["max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = request.tools
        return body

    async def aclose(self) -> None:
        """Close the clients of a pool given to this provider; the shared pool stays open."""
        if self.clients is not None:
            await self.clients.aclose()
