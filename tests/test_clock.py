"""The clock: events fire in order at their due time; the real clock scales time."""

from __future__ import annotations

import pytest

from mock_server.clock import ManualClock, RealClock
from mock_server.errors import InvalidRequest


def test_manual_clock_fires_due_events_in_time_order_at_their_time() -> None:
    clock = ManualClock(100.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(103.0, lambda: fired.append(("c", clock.now())))
    clock.call_at(101.0, lambda: fired.append(("a", clock.now())))
    clock.call_at(102.0, lambda: fired.append(("b", clock.now())))
    clock.advance(2.5)
    assert fired == [("a", 101.0), ("b", 102.0)]
    assert clock.now() == 102.5
    clock.advance(10)
    assert fired[-1] == ("c", 103.0)


def test_events_scheduled_while_firing_fire_in_the_same_advance_when_due() -> None:
    clock = ManualClock(0.0)
    fired: list[float] = []

    def retry() -> None:
        fired.append(clock.now())
        if len(fired) < 4:
            clock.call_later([1.0, 2.0, 4.0][len(fired) - 1], retry)

    clock.call_at(10.0, retry)
    clock.advance(100)
    assert fired == [10.0, 11.0, 13.0, 17.0]


def test_cancelled_timers_do_not_fire() -> None:
    clock = ManualClock(0.0)
    fired: list[int] = []
    timer = clock.call_at(1.0, lambda: fired.append(1))
    timer.cancel()
    clock.advance(5)
    assert fired == [] and clock.pending_timers() == 0


def test_clock_never_moves_back() -> None:
    clock = ManualClock(50.0)
    with pytest.raises(InvalidRequest):
        clock.advance(-1)
    with pytest.raises(InvalidRequest):
        clock.set(49.0)


def test_real_clock_runs_faster_by_the_inverse_of_time_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("mock_server.clock.time.monotonic", lambda: now[0])
    clock = RealClock(start=5000.0, time_scale=0.02)
    now[0] += 1.0  # one wall second is fifty clock seconds
    assert clock.now() == pytest.approx(5050.0)
    clock.advance(10)
    assert clock.now() == pytest.approx(5060.0)


def test_real_clock_rejects_zero_scale() -> None:
    with pytest.raises(ValueError):
        RealClock(start=0.0, time_scale=0)
