"""Conversation memory in three tiers (the source document's Pattern 5): hot (in-process LRU),
warm (a key-value store: Redis or a cache), cold (the database, the source of truth)."""

from .tiers import HotTier, InMemoryColdStore, InMemoryWarmStore, MemoryView, TieredMemory, TierPolicy, default_memory

__all__ = ["HotTier", "InMemoryColdStore", "InMemoryWarmStore", "MemoryView", "TierPolicy", "TieredMemory", "default_memory"]
