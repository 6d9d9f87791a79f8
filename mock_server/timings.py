"""Every duration the fake uses, in one place, as data.

Documented durations are read from ``schemas/`` (callback timeout and retry delays from the
``x-callback`` block of ``callback_url``); the rest are the fake's own choices, explained in
docs/decisions.md and settable.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import schema_files


def _callback_contract() -> dict[str, object]:
    block: dict[str, object] = schema_files.load(schema_files.REQUEST)["properties"]["callback_url"][
        "x-callback"
    ]
    return block


@dataclass(frozen=True, slots=True)
class Timings:
    callback_timeout: float
    retry_delays: tuple[float, ...]
    queue_seconds: tuple[float, float] = (1.0, 3.0)
    """Time a task reads ``pending``, drawn uniformly from this range (seeded)."""
    processing_fraction: tuple[float, float] = (0.6, 1.0)
    """Processing time as a fraction of the model's documented ``estimated_time`` (seeded)."""
    task_ttl: float = 86400.0
    """How long a finished task stays readable; after it GET answers 404 task_not_found."""

    @classmethod
    def documented(cls, **overrides: object) -> Timings:
        block = _callback_contract()
        delays = block["retry_delays_seconds"]
        assert isinstance(delays, list)
        timeout = block["timeout_seconds"]
        assert isinstance(timeout, int | float)
        values: dict[str, object] = {
            "callback_timeout": float(timeout),
            "retry_delays": tuple(float(d) for d in delays),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
