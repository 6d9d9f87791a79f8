"""The callback attempt log: one immutable record per attempt, kept in a bounded ring.

Times are clock seconds (the fake's clock, the one ``created`` and the task plan use), so on the
manual clock they are exact and a test can compare them with ``==``. ``wall_latency`` is the only
wall-time figure: how long the receiver really took.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AttemptError(StrEnum):
    """Why an attempt failed; a 2xx answer has none."""

    HTTP_STATUS = "http_status"
    """The receiver answered, but not 2xx (3xx included: redirects are never followed)."""
    TIMEOUT = "timeout"
    """No answer within the documented timeout (clock time), or the wall-time safety cap."""
    CONNECT_ERROR = "connect_error"
    """No connection: refused, unreachable, TLS handshake or certificate failure, bad URL."""
    NETWORK_ERROR = "network_error"
    """Connected, then the exchange broke (reset, closed without an answer, malformed answer)."""
    REFUSED_BY_POLICY = "refused_by_policy"
    """The URL policy refused the address the host resolved to at delivery time: nothing sent."""
    INTERRUPTED = "interrupted"
    """The fake shut down while the attempt was in flight; the delivery is reported as pending."""
    INTERNAL_ERROR = "internal_error"
    """A bug in the fake while sending (logged with its traceback); retried like any failure."""


class DeliveryOutcome(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


@dataclass(frozen=True, slots=True)
class Attempt:
    task_id: str
    run: int
    """1 for the automatic delivery; each redelivery starts a new run."""
    attempt: int
    """1 for the first request of a run, up to 1 + the number of documented retries."""
    url: str
    scheduled_at: float
    """When the attempt fell due (the terminal moment, or the previous end plus the retry delay)."""
    sent_at: float
    """When the request started: ``scheduled_at`` unless it waited for a free concurrency slot."""
    ended_at: float
    status_code: int | None
    error: AttemptError | None
    detail: str | None
    wall_latency: float
    outcome: DeliveryOutcome
    """The delivery's outcome once this attempt ended: pending means another attempt will follow."""

    @property
    def latency(self) -> float:
        """Clock seconds from sending to the end (0 for a prompt answer on the manual clock)."""
        return self.ended_at - self.sent_at

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "run": self.run,
            "attempt": self.attempt,
            "url": self.url,
            "scheduled_at": self.scheduled_at,
            "sent_at": self.sent_at,
            "ended_at": self.ended_at,
            "latency": self.latency,
            "wall_latency": self.wall_latency,
            "status_code": self.status_code,
            "error": None if self.error is None else self.error.value,
            "detail": self.detail,
            "outcome": self.outcome.value,
        }


class AttemptLog:
    """The last ``size`` attempts, oldest first; ``dropped`` counts the ones pushed out."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("the callback log size must be > 0")
        self._records: deque[Attempt] = deque(maxlen=size)
        self.dropped = 0

    def append(self, record: Attempt) -> None:
        if len(self._records) == self._records.maxlen:
            self.dropped += 1
        self._records.append(record)

    def for_task(self, task_id: str | None) -> list[Attempt]:
        return [r for r in self._records if task_id is None or r.task_id == task_id]

    def clear(self) -> None:
        self._records.clear()
        self.dropped = 0

    def __iter__(self) -> Iterator[Attempt]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)
