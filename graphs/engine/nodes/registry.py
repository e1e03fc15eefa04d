"""The node-kind registry: one module per kind registers itself; duplicates raise."""

from __future__ import annotations

from typing import Any

from .base import NodeKind


class Registry:
    def __init__(self) -> None:
        self._kinds: dict[str, NodeKind[Any]] = {}
        self._described: list[dict[str, Any]] | None = None  # JSON Schemas are costly to build

    def register(self, cls: type[NodeKind[Any]]) -> type[NodeKind[Any]]:
        if cls.kind in self._kinds:
            raise ValueError(f"node kind {cls.kind!r} is already registered")
        self._kinds[cls.kind] = cls()
        self._described = None
        return cls

    def get(self, kind: str) -> NodeKind[Any] | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def describe(self) -> list[dict[str, Any]]:
        """Every kind for the editor; built once (callers must not mutate it)."""
        if self._described is None:
            self._described = [type(self._kinds[k]).describe() for k in self.kinds()]
        return self._described


registry = Registry()
