"""The one clock of the fake, and the one event heap on it.

Everything that waits asks the clock. Task state is derived from ``clock.now()``; only events that
must happen without a reader (callback deliveries, their retries and timeouts) go on the heap.

``ManualClock`` moves only when told, so a 4 s retry costs a test no wall time. ``RealClock``
follows the monotonic wall clock, divided by ``time_scale``: 0.02 makes every duration 50x
shorter. Both can be moved forward (never back) by ``advance`` and ``set``; due events then fire
in time order, each seeing ``now()`` equal to its own due time on the manual clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InvalidRequest


@dataclass(order=True, slots=True)
class Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Base: the heap and forward moves. Subclasses say what ``now()`` is."""

    mode: str = "abstract"
    time_scale: float = 0.0

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._firing = False

    def now(self) -> float:
        raise NotImplementedError

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        self._rearm()
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now() + delay, callback)

    def pending_timers(self) -> int:
        return sum(1 for t in self._heap if not t.cancelled)

    def next_due(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].when if self._heap else None

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise InvalidRequest("seconds must be >= 0: the clock never moves back", param="seconds")
        return self.set(self.now() + seconds)

    def set(self, target: float) -> float:
        if target < self.now():
            raise InvalidRequest(
                f"cannot move the clock back from {self.now():.3f} to {target:.3f}", param="now"
            )
        self._move_to(target)
        return self.now()

    def clear_timers(self) -> None:
        self._heap.clear()

    def _move_to(self, target: float) -> None:
        raise NotImplementedError

    def _fire_due(self, until: float, step: Callable[[float], None]) -> None:
        """Fire every timer due at or before ``until`` in time order; ``step(t)`` moves now to t."""
        if self._firing:  # a callback moved the clock: the outer loop fires what is due
            return
        self._firing = True
        try:
            while (due := self.next_due()) is not None and due <= until:
                timer = heapq.heappop(self._heap)
                step(max(timer.when, self.now()))
                timer.callback()
        finally:
            self._firing = False
        self._rearm()

    def _rearm(self) -> None:
        """Hook for clocks that must wake themselves (the real clock)."""


class ManualClock(Clock):
    """Moves only when told (``advance``/``set``), firing due events in order before returning."""

    mode = "manual"

    def __init__(self, start: float) -> None:
        super().__init__()
        self.start = start
        self._now = start

    def now(self) -> float:
        return self._now

    def _step(self, t: float) -> None:
        self._now = t

    def _move_to(self, target: float) -> None:
        self._fire_due(target, self._step)
        self._now = target

    def reset(self) -> None:
        self.clear_timers()
        self._now = self.start

    def resume(self, now: float, start: float) -> None:
        """Continue a saved run at ``now`` (``reset`` rewinds to ``start``). For a restore at
        start-up, before any event is set: it is the one move that may go back."""
        if self._heap:
            raise RuntimeError("resume a manual clock before any event is set on it")
        self.start, self._now = start, now


class RealClock(Clock):
    """Wall time from ``start``, running ``1 / time_scale`` times as fast as real time."""

    mode = "real"

    def __init__(self, start: float, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0 for the real clock; use ManualClock for 0")
        super().__init__()
        self.start = start
        self.time_scale = time_scale
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self.start + self._offset + (time.monotonic() - self._mono0) / self.time_scale

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Let the clock wake itself on ``loop`` for due timers (done by the app's lifespan)."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        self._loop = loop
        self._rearm()

    def _move_to(self, target: float) -> None:
        self._offset += target - self.now()
        self._fire_due(self.now(), lambda t: None)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self._fire_due(self.now(), lambda t: None)

    def _rearm(self) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        due = self.next_due()
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        if due is not None:
            delay = max(0.0, (due - self.now()) * self.time_scale)
            self._wakeup = self._loop.call_later(delay, self._on_wakeup)

    def reset(self) -> None:
        self.clear_timers()
        self._rearm()
