"""Provider protocol, request/response records and the registry that picks a provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

OutputMode = Literal["auto", "json_schema", "json_object", "text"]
OUTPUT_MODES: tuple[str, ...] = ("json_schema", "json_object", "text")


class LLMError(Exception):
    """A provider call failed (HTTP error, timeout, refused); ``retryable`` hints transience, and
    ``retry_after`` is how long the provider asked us to wait (a 429's Retry-After), in seconds.

    ``detail`` says where and what, for people and pages (the engine stays free of any web
    framework, so it travels as data): ``endpoint`` (the base URL called), ``model``, ``kind``
    (connect, timeout, http), ``setting`` (what to change: OPENAI_BASE_URL, or the node's
    base_url), ``reason`` (the short cause) and ``raw`` (the library's own text)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.detail = detail or {}


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None
    when absent or unreadable. Header lookups are case-insensitive on httpx's Headers."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class LLMRequest:
    model: str
    messages: list[dict[str, Any]]  # chat messages; tool rounds add assistant tool_calls and "tool" replies
    temperature: float = 0.0
    max_tokens: int | None = None
    response_schema: dict[str, Any] | None = None  # JSON Schema the answer must match
    schema_name: str = "answer"  # response_format.json_schema.name (letters, digits, _ and -)
    # How the schema reaches the model: "json_schema" (structured outputs, the server enforces it),
    # "json_object" (JSON mode, keys named in the prompt), "text" (no response_format at all);
    # "auto" is the provider's own setting (KAIZEN_LLM_OUTPUT_MODE). Not part of the request digest.
    output_mode: OutputMode = "auto"
    # Which of the valid answers a simulated model picks (dry runs: e.g. run + voter); never sent.
    sample_seed: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    credential: str | None = None  # name of a stored key, resolved by the runtime
    # name of a model connection (its base URL and key, resolved by the runtime); None or "default":
    # the operator's endpoint. Never part of the request digest.
    connection: str | None = None
    timeout_s: float = 60.0  # one attempt
    deadline_s: float | None = None  # every attempt, retries included (None: timeout_s)
    provider: str = "default"
    kind: str = "chat"  # "chat" or "embedding"
    input_texts: list[str] = field(default_factory=list)  # for embeddings
    # Tools the model may call: OpenAI ``tools`` entries ({"type": "function", "function": {name,
    # description, parameters}}); not part of the request digest (the messages carry what was called).
    tools: list[dict[str, Any]] | None = None
    # A dry run: a simulated model calls each offered tool once (with schema-shaped arguments)
    # before it answers, so tools are exercised (simulated) too. Never sent, not in the digest.
    simulate_tool_calls: bool = False
    # Gets each piece of the answer's text as it streams (the runtime's token sink); never sent,
    # not part of the request digest. A provider that does not stream never calls it.
    on_text: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Endpoint:
    """What a model connection resolves to at run time: where requests go, the key sent there
    (None: no key), and its price overrides (model -> USD per 1M prompt, completion tokens)."""

    base_url: str
    api_key: str | None = None
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)


DEFAULT_CONNECTION = "default"


def is_default_connection(name: str | None) -> bool:
    """The built-in connection: the operator's OPENAI_BASE_URL and key (the only one they go to)."""
    return name in (None, "", DEFAULT_CONNECTION)


@dataclass
class LLMResponse:
    content: str
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    embeddings: list[list[float]] | None = None
    # The model's tool calls instead of (or beside) an answer: [{"id", "name", "arguments": {...}}]
    tool_calls: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMResponse:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class LLMProvider(Protocol):
    name: str

    async def complete(self, request: LLMRequest) -> LLMResponse: ...


class ProviderRegistry:
    """Maps provider names to instances; ``default`` resolves to the configured one."""

    def __init__(self, providers: dict[str, LLMProvider], default: str) -> None:
        if default not in providers:
            raise ValueError(f"default provider {default!r} is not registered")
        self.providers = providers
        self.default = default

    def get(self, name: str | None) -> LLMProvider:
        key = self.default if name in (None, "", "default") else name
        try:
            return self.providers[key]
        except KeyError:
            raise LLMError(f"unknown LLM provider {key!r}") from None
