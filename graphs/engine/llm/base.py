"""Provider protocol, request/response records and the registry that picks a provider."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class LLMError(Exception):
    """A provider call failed (HTTP error, timeout, refused); ``retryable`` hints transience."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass
class LLMRequest:
    model: str
    messages: list[dict[str, str]]
    temperature: float = 0.0
    max_tokens: int | None = None
    response_schema: dict[str, Any] | None = None  # JSON Schema the answer must match
    base_url: str | None = None
    api_key: str | None = None
    credential: str | None = None  # name of a stored key, resolved by the runtime
    timeout_s: float = 60.0
    provider: str = "default"
    kind: str = "chat"  # "chat" or "embedding"
    input_texts: list[str] = field(default_factory=list)  # for embeddings


@dataclass
class LLMResponse:
    content: str
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    embeddings: list[list[float]] | None = None

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
