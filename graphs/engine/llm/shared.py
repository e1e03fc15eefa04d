"""The provider registry a worker process shares among its runs.

Providers hold no per-run state: the OpenAI provider takes its HTTP clients from the shared pool
of the loop it is called on (clients.py), the simulated one has none. So a worker builds its
registry once per configuration and every run uses it; nothing a run does closes it.
"""

from __future__ import annotations

import functools

from .base import ProviderRegistry
from .clients import TransportFactory, default_transport
from .openai_provider import OpenAIProvider
from .simulated import SimulatedProvider


@functools.lru_cache(maxsize=8)  # (a new entry only when the settings change: tests do)
def shared_providers(base_url: str | None, api_key: str | None, *, max_retries: int, simulated_latency_s: float,
                     default: str, allow_private: bool = False,
                     transport_factory: TransportFactory = default_transport,
                     output_mode: str = "json_schema", stream: bool = True) -> ProviderRegistry:
    openai_provider = OpenAIProvider(base_url, api_key, max_retries=max_retries, allow_private=allow_private,
                                     transport_factory=transport_factory, output_mode=output_mode, stream=stream)
    simulated = SimulatedProvider(latency_s=simulated_latency_s)
    return ProviderRegistry({"openai": openai_provider, "simulated": simulated}, default)
