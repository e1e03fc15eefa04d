"""Stored API keys, resolved for a run's agents by name. (Encrypted storage: see models later.)"""

from __future__ import annotations

from typing import Any, Awaitable, Callable


def credential_resolver(run: Any, recorder: Any) -> Callable[[str], Awaitable[str | None]]:
    async def resolve(name: str) -> str | None:
        return None

    return resolve
