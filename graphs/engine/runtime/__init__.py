from .context import BudgetExceeded
from .engine import Engine
from .state import NodeState, RunResult

__all__ = ["BudgetExceeded", "Engine", "NodeState", "RunResult"]
