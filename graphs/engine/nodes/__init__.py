"""Node kinds. Importing this package registers every kind."""

from . import agent, budget, consensus, fallback, for_each, join, pev, planner, router, tool  # noqa: F401  (registers)
from .base import NodeConfig, NodeContext, NodeFailure, NodeKind, Signature, SignatureField
from .registry import registry

__all__ = ["NodeConfig", "NodeContext", "NodeFailure", "NodeKind", "Signature", "SignatureField", "registry"]
