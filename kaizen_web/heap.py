"""Long-lived processes take what they loaded at start-up out of the garbage collector's way.

A worker holds about 150,000 objects once Django, Celery, the channel layer, the openai SDK and
the engine are loaded, none of them ever garbage, and CPython's full collections walk all of them
each time: measured here, a full collection after ``import openai`` alone takes 36-55 ms (its
thousands of pydantic models), and a run that keeps many objects alive at once (a wide fan-out:
2,000 parallel nodes) triggers one every few hundred milliseconds, during which the worker's run
loop stands still for every run on it. ``gc.freeze()`` moves the start-up objects to a permanent
generation that collections skip. (Notes of 2026-12-04 (c): a 2,000-node fan-out spent about 60 %
of its time in full collections.)
"""

from __future__ import annotations

import gc

from django.conf import settings


def freeze_startup_heap() -> bool:
    """Collect once, then freeze every object alive now (KAIZEN_GC_FREEZE, on by default).
    Call when start-up is over: what is frozen stays until the process exits."""
    if not settings.KAIZEN_GC_FREEZE:
        return False
    gc.collect()
    gc.freeze()
    return True
