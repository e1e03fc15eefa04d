"""Web and worker processes freeze their start-up heap (kaizen_web/heap.py)."""

from __future__ import annotations

import gc

from kaizen_web.heap import YOUNG_THRESHOLD, freeze_startup_heap


def test_the_start_up_heap_is_frozen_out_of_full_collections(settings):
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        assert freeze_startup_heap()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:])
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # (Django, the apps, the engine: all loaded by now)
        objects = len(gc.get_objects())  # (what a full collection walks: the frozen ones are not listed)
        gc.unfreeze()
        assert len(gc.get_objects()) >= objects + frozen - 100
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_kaizen_gc_freeze_off_leaves_the_collector_as_it_is(settings):
    settings.KAIZEN_GC_FREEZE = False
    gc.unfreeze()
    thresholds = gc.get_threshold()
    assert not freeze_startup_heap()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
