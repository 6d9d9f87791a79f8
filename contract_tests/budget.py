"""The credit budget: what tests may spend on a target that charges (the live API).

Every test that creates a task declares an upper bound with ``@pytest.mark.costs(tasks=N)``; the
plugin reserves it before the test runs and skips the test, saying so in the report, when the
reservation would exceed ``--max-credits``. Each task the test really creates draws on its
reservation, so the budget stops spending before it would be exceeded, whatever the test does.

Free checks (requests the API must reject) reserve nothing. If the target wrongly accepts one, the
task it created is charged as an overrun and every further request that could create a task is
refused for the rest of the run: at most one unplanned task, and it carries an image URL that
cannot be fetched, so it fails, and failed tasks are not charged (API_NOTES section 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .drift import SkippedForBudget


@dataclass
class Budget:
    limit: float | None
    """``None``: the target does not charge (a fake), nothing is counted."""
    spent: float = 0.0
    reserved: float = 0.0
    overrun: bool = False
    skipped: list[SkippedForBudget] = field(default_factory=list)
    _test: str = ""

    @property
    def charges(self) -> bool:
        return self.limit is not None

    def open(self, test: str, credits: float) -> None:
        """Reserve ``credits`` for ``test`` or skip it (reported) when the budget cannot cover them."""
        self._test, self.reserved = test, 0.0
        if self.limit is None or credits <= 0:
            return
        if self.overrun:
            self._skip(credits, "an earlier free check created a task, so spending stopped")
        if self.spent + credits > self.limit:
            left = self.limit - self.spent
            self._skip(
                credits, f"needs up to {credits:g} credits, {left:g} of --max-credits {self.limit:g} left"
            )
        self.reserved = credits

    def close(self) -> None:
        self._test, self.reserved = "", 0.0

    def draw(self, credits: float) -> None:
        """Pay for a task about to be created by the running test (from its reservation)."""
        if self.limit is None:
            return
        if self.overrun:
            self._skip(credits, "an earlier free check created a task, so spending stopped")
        if credits > self.reserved + 1e-9:
            self._skip(credits, "the test spent its declared cost (raise its costs marker)")
        self.reserved -= credits
        self.spent += credits

    def guard_free(self) -> None:
        """Before a request that should be rejected for free: refuse once spending has overrun."""
        if self.limit is not None and self.overrun:
            self._skip(0, "an earlier free check created a task, so spending stopped")

    def charge_unplanned(self, credits: float) -> None:
        """A request that should have been rejected created a task: count it and stop spending."""
        if self.limit is None:
            return
        self.spent += credits
        if self.spent > self.limit:
            self.overrun = True

    def _skip(self, credits: float, reason: str) -> None:
        """Skip the running test (spending would exceed ``--max-credits``), and say so in the report."""
        self.skipped.append(SkippedForBudget(self._test, credits, reason))
        pytest.skip(f"budget: {reason}")
