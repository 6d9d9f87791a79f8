"""Seeded decisions made once per task at creation: its id, its plan and its result file names.

Every random choice of the fake comes from one seed, split into named streams so that adding a
draw in one place does not shift the ids or timings drawn in another: the same seed and the same
requests give the same ids, timings and results.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import string
import time
from typing import TYPE_CHECKING

from .image_limits import IMAGE_DIMENSION_MISMATCH, IMAGE_PROCESSING_ERROR
from .models import ModelSpec
from .tasks import Completed, Failed, Outcome, TaskPlan
from .timings import Timings

if TYPE_CHECKING:
    from .scenarios import Timing

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ACCOUNT_ALPHABET = string.ascii_uppercase + string.digits
INPUT_FAILURE_CODES = frozenset({IMAGE_PROCESSING_ERROR, IMAGE_DIMENSION_MISMATCH})
"""Failures of the inputs: the task fails soon after it starts, at progress 0."""


@functools.lru_cache(maxsize=16)
def completed(result_count: int) -> Completed:
    """One shared outcome per result count: 100 000 tasks need not hold 100 000 equal objects."""
    return Completed(result_count)


class Planner:
    def __init__(self, seed: int | None, timings: Timings) -> None:
        self.seed = seed
        self.timings = timings
        self.reset()

    def reset(self) -> None:
        base = self.seed if self.seed is not None else time.time_ns()
        self._ids = random.Random(f"{base}:ids")
        self._plans = random.Random(f"{base}:plans")
        self._files = random.Random(f"{base}:files")
        self.requests = random.Random(f"{base}:requests")

    def streams(self) -> dict[str, random.Random]:
        """The named random streams, for saving and restoring a run (docs/persistence.md)."""
        return {"ids": self._ids, "plans": self._plans, "files": self._files, "requests": self.requests}

    def task_id(self, created: int) -> str:
        suffix = "".join(self._ids.choices(_ID_ALPHABET, k=8))
        return f"task-unified-{created}-{suffix}"

    def plan(
        self,
        now: float,
        spec: ModelSpec,
        outcome: Outcome | None = None,
        *,
        at_progress: int | None = None,
        timing: Timing | None = None,
    ) -> TaskPlan:
        """The task's plan. Two draws per task whatever happens, so streams stay aligned.

        A failure of the inputs (image codes, no ``at_progress``) ends soon after processing
        starts, at progress 0. A failure ``at_progress`` p ends when the progress reaches p.
        ``timing`` (from a scenario) overrides the drawn queue and processing times, or makes
        the task stuck forever.
        """
        t = self.timings
        queue = self._plans.uniform(*t.queue_seconds)
        draw = self._plans.random()
        if timing is not None and timing.queue_seconds is not None:
            queue = timing.queue_seconds
        starts = now + queue
        if timing is not None and timing.stuck:
            return TaskPlan(now, starts, math.inf, completed(spec.result_count), timing.stuck_at_progress)
        if isinstance(outcome, Failed) and at_progress is None and outcome.code in INPUT_FAILURE_CODES:
            low, high = t.input_failure_seconds
            return TaskPlan(now, starts, starts + low + (high - low) * draw, outcome, final_progress=0)
        low, high = t.processing_fraction
        processing = spec.estimated_time * (low + (high - low) * draw)
        if timing is not None and timing.processing_seconds is not None:
            processing = timing.processing_seconds
        if isinstance(outcome, Failed):
            reached = at_progress or 0
            return TaskPlan(now, starts, starts + processing * reached / 100, outcome, final_progress=reached)
        return TaskPlan(now, starts, starts + processing, outcome or completed(spec.result_count))

    def result_names(self, account: str, created: int, count: int, fmt: str) -> tuple[str, ...]:
        """Paths shaped like the real result links: ``<ID>/images/YYYY/MM/DD/<hex32>_<i>.<ext>``."""
        day = time.strftime("%Y/%m/%d", time.gmtime(created))
        stem = f"{self._files.getrandbits(128):032x}"
        folder = account_folder(account)
        return tuple(f"{folder}/images/{day}/{stem}_{i}.{fmt}" for i in range(count))


@functools.lru_cache(maxsize=4096)
def account_folder(account: str) -> str:
    """18 uppercase alphanumerics derived from the account, like the real files host's folders."""
    digest = hashlib.sha256(account.encode()).digest()
    return "".join(_ACCOUNT_ALPHABET[b % len(_ACCOUNT_ALPHABET)] for b in digest[:18])
