"""The node-kind registry: one module per kind registers itself; duplicates raise."""

from __future__ import annotations

from typing import Any

from .base import NodeKind


class Registry:
    def __init__(self) -> None:
        self._kinds: dict[str, NodeKind] = {}

    def register(self, cls: type[NodeKind]) -> type[NodeKind]:
        if cls.kind in self._kinds:
            raise ValueError(f"node kind {cls.kind!r} is already registered")
        self._kinds[cls.kind] = cls()
        return cls

    def get(self, kind: str) -> NodeKind | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def describe(self) -> list[dict[str, Any]]:
        return [type(self._kinds[k]).describe() for k in self.kinds()]


registry = Registry()
