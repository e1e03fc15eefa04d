from ..money import BudgetExceeded
from ..state import NodeState, RunResult
from .engine import Engine

__all__ = ["BudgetExceeded", "Engine", "NodeState", "RunResult"]
