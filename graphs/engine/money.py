"""Spending: how dollars read, and the error a spent budget raises (node kinds catch it: the
budget guard, for-each)."""

from __future__ import annotations

import math


def usd(amount: float) -> str:
    """Dollars with meaningful digits at any size: 0.00012 reads "0.00012", not "0.0000"; at
    least two decimals, three significant digits below a cent, trailing zeros dropped past two."""
    if amount == 0:
        return "0.00"
    digits = max(2, min(10, 2 - math.floor(math.log10(abs(amount)))))
    text = f"{amount:.{digits}f}"
    head, _, tail = text.partition(".")
    return head + "." + (tail.rstrip("0") or "0").ljust(2, "0")


class BudgetExceeded(Exception):
    def __init__(self, spent: float, budget: float, scope: str = "", unit: str = "usd") -> None:
        if unit == "tokens":
            super().__init__(f"token budget of {budget:.0f} reached (used {spent:.0f})")
        else:
            super().__init__(f"budget of ${usd(budget)} reached (spent ${usd(spent)})")
        self.spent, self.budget, self.scope, self.unit = spent, budget, scope, unit
