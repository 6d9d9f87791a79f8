"""A cache bounded in time and size, whose misses are coalesced: one computation per key at once.

Entries expire on the clock the owner passes in (``now``) and the least recently used entry is
dropped beyond ``capacity``. ``get_or_make`` runs ``make`` once for a key however many callers
ask for it concurrently; a caller that is cancelled does not cancel the computation the others
wait for.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float


class ExpiringCache(Generic[K, V]):
    def __init__(self, capacity: int, now: Callable[[], float]) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._now = now
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._inflight: dict[K, asyncio.Future[V]] = {}
        self._generation = 0
        self.misses = 0
        """Computations started (``make`` calls): what tests count to prove coalescing."""

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._now() >= entry.expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: K, value: V, ttl: float) -> None:
        self._entries[key] = _Entry(value, self._now() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    async def get_or_make(self, key: K, make: Callable[[], Awaitable[tuple[V, float]]]) -> V:
        """The cached value, or the one ``make()`` returns as ``(value, ttl)``, computed once."""
        hit = self.get(key)
        if hit is not None:
            return hit
        future = self._inflight.get(key)
        if future is None:
            self.misses += 1
            future = asyncio.ensure_future(self._make(key, make, self._generation))
            self._inflight[key] = future
        return await asyncio.shield(future)

    async def _make(self, key: K, make: Callable[[], Awaitable[tuple[V, float]]], generation: int) -> V:
        try:
            value, ttl = await make()
            if generation == self._generation:  # not cleared meanwhile
                self.put(key, value, ttl)
            return value
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]

    def clear(self) -> None:
        self._entries.clear()
        self._inflight.clear()
        self._generation += 1
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)
