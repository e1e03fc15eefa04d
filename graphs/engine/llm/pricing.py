"""USD prices per million tokens, per model; the table is passed in from settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # model: (input USD per 1M tokens, output USD per 1M tokens)
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "text-embedding-3-small": (0.02, 0.0),
    "llama3": (0.0, 0.0),
}


@dataclass
class PriceTable:
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    fallback: tuple[float, float] = (1.0, 2.0)  # unknown models are priced, never free by accident

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price_in, price_out = self.prices.get(model, self.fallback)
        return round((prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000, 8)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Sequence[float]] | None) -> PriceTable:
        """From settings.KAIZEN_PRICES: model -> (USD per million prompt tokens, per million completion)."""
        table = cls()
        for model, pair in (mapping or {}).items():
            price_in, price_out = pair
            table.prices[model] = (float(price_in), float(price_out))
        return table
