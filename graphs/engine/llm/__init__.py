"""LLM providers behind one small protocol. Only ``openai_provider`` and ``clients`` import the openai SDK."""

from .base import LLMError, LLMProvider, LLMRequest, LLMResponse, ProviderRegistry
from .pricing import PriceTable

__all__ = ["LLMError", "LLMProvider", "LLMRequest", "LLMResponse", "PriceTable", "ProviderRegistry"]
