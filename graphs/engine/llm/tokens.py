"""Token estimates for the simulated provider (no tokenizer download is possible offline)."""

from __future__ import annotations

import math
import re
from typing import Any

_WORD = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """About what cl100k gives for English: ~0.75 words per token, punctuation separate."""
    if not text:
        return 0
    pieces = _WORD.findall(text)
    return max(1, math.ceil(len(pieces) * 1.3 + text.count("\n") * 0.5))


def messages_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + 4 for m in messages) + 2
