"""How long tasks are kept, and which to forget first: the bound of the task store.

A finished task stays readable ``task_ttl`` clock seconds after it ends (``--task-ttl``); then it
is expired: reads answer 404 and nothing of it shows anywhere. Expired tasks are forgotten
soonest-expired first, on every create, from a heap of expiry times, so the work is a heap pop per
forgotten task and the store holds live tasks only. A live task (pending, processing, or finished
within its ttl) is never forgotten to make room: the service refuses a create when the store
holds ``--max-tasks`` live tasks (503, docs/reliability.md). A stuck task never expires.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

from .tasks import Task


class Retention:
    """Expiry times of the tasks in a store, soonest first.

    An entry may be stale: its task was forgotten, or its plan changed (a cancel ends it earlier
    and is tracked again). Whoever pops an entry checks the task against the clock."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._heap: list[tuple[float, str]] = []
        """(expiry, task id): ids are unique, so they break ties without a sequence number."""

    def expires_at(self, task: Task) -> float:
        return task.plan.ends_at + self.ttl

    def track(self, task: Task) -> None:
        """Note when ``task`` expires (nothing for a stuck task: it never does)."""
        when = self.expires_at(task)
        if not math.isinf(when):
            heapq.heappush(self._heap, (when, task.id))

    def due(self, now: float) -> Iterator[str]:
        """Pop the ids of every entry expired at ``now``, soonest first."""
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[1]

    def next_expiry(self) -> float | None:
        """The soonest expiry tracked (a hint: its task may be gone already)."""
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
