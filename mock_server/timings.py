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
    callback_wall_cap: float = 60.0
    """Wall seconds a callback request may take whatever the clock does: a safety cap only. The
    documented timeout (``callback_timeout``) is clock time and normally ends an attempt first."""
    input_failure_seconds: tuple[float, float] = (0.5, 2.0)
    """Processing time before a task whose input images fail reports the failure, at progress 0
    (drawn uniformly, seeded): the real service fails such tasks early, not at the end."""
    image_connect_timeout: float = 5.0
    """Wall seconds to connect to an image host (network time: not scaled by --time-scale)."""
    image_read_timeout: float = 10.0
    """Wall seconds an image host may stay silent while sending."""
    image_fetch_deadline: float = 20.0
    """Wall seconds for one image in all (redirects and a slow trickle included)."""
    image_cache_ttl: float = 600.0
    """Clock seconds the fake remembers what it learned about an image URL (info or a failure of
    the image itself), so repeated submits do not refetch; the fake's clock, so tests expire it
    by advancing the manual clock."""
    image_unreachable_ttl: float = 10.0
    """Clock seconds an "unreachable" answer is remembered: short, so a host started late is
    tried again soon, yet a burst of submits still costs one fetch."""

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
