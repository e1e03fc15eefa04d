"""Engine tests: the Engine against memory ports and the real openai SDK over HTTP."""

from __future__ import annotations

import pytest

from graphs.engine.llm import ProviderRegistry
from graphs.engine.llm.clients import ClientPool
from graphs.engine.llm.openai_provider import OpenAIProvider
from graphs.engine.llm.simulated import SimulatedProvider
from graphs.engine.ports import MemoryCheckpointStore, MemoryEventSink
from graphs.engine.runtime import Engine


@pytest.fixture
def llm(fake_llm_server):
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


class Harness:
    def __init__(self, fake) -> None:
        self.fake = fake
        self.checkpoints = MemoryCheckpointStore()
        self.events = MemoryEventSink()
        self.opened: list[OpenAIProvider] = []

    def openai(self, **kwargs) -> OpenAIProvider:
        """An SDK provider for the scripted server with its own client pool, closed when the test
        ends (in its loop)."""
        provider = OpenAIProvider(self.fake.base_url, kwargs.pop("api_key", "test-key"),
                                  **{"max_retries": 0, "clients": ClientPool(), **kwargs})
        self.opened.append(provider)
        return provider

    def providers(self) -> ProviderRegistry:
        return ProviderRegistry({"openai": self.openai(), "simulated": SimulatedProvider()}, "openai")

    def engine(self, doc, run_id: str = "r1", **kwargs) -> Engine:
        return Engine(doc, run_id=run_id, providers=self.providers(), checkpoints=self.checkpoints,
                      events=self.events, **kwargs)

    async def run(self, doc, inputs=None, **kwargs):
        return await self.engine(doc, **kwargs).run(inputs or {})


@pytest.fixture
async def harness(llm):
    harness = Harness(llm)
    yield harness
    for provider in harness.opened:  # (left to the garbage collector, they would close on a dead loop)
        await provider.aclose()
