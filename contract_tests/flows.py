"""Sequences of requests with their checks: create a task, read it, wait for its end, download.

Waiting asks the target: a fake's clock is advanced (no wall time); the live API is polled in real
time with the documented cadence (first read after about 3 s, then every 3 to 5 s).
"""

from __future__ import annotations

from typing import Any

from .checks import TERMINAL, TaskHistory, Verifier, created_response, detail_response, result_download

__all__ = ["TaskHistory", "create", "download_results", "read", "settle", "until_terminal"]
from .drift import Failure, Kind, Severity
from .schemas import model_contract
from .targets import Capability, Target

LIVE_DELAYS = (3.0, 3.0, 4.0, 5.0)
"""Seconds between live reads (official skill docs: first ~3 s, then every 3-5 s); the last repeats."""
FAKE_STEP = 1.0
"""Clock seconds between reads of a fake: fine enough to see progress rise step by step."""
SETTLE = (45.0, 3600.0)
"""After the end, read again this much later: a terminal task must not change."""


def create(
    target: Target, verify: Verifier, body: dict[str, Any], headers: dict[str, str] | None = None
) -> TaskHistory:
    before = target.now()
    ex = target.create(body, headers=headers)
    after = target.now()
    model = body.get("model", model_contract().name)
    verify(ex, created_response(target, str(model), before, after))
    return TaskHistory(created=ex.body, origin=ex)


def read(target: Target, verify: Verifier, history: TaskHistory) -> dict[str, Any]:
    ex = target.get_task(history.task_id)
    verify(ex, detail_response(history))
    body: dict[str, Any] = ex.body
    history.seen.append(body)
    status, error = body.get("status"), body.get("error") or {}
    if status == "cancelled" or (status == "failed" and error.get("code") == "request_cancelled"):
        verify.variant(
            "cancelled-status",
            "cancelled" if status == "cancelled" else "failed + request_cancelled",
            ["cancelled", "failed + request_cancelled"],
            ex,
        )
    if status == "failed":
        verify.variant(
            "task-error-type",
            "task_error" if error.get("type") == "task_error" else "absent",
            ["task_error (newer docs)", "absent (error-codes example)"],
            ex,
        )
    return body


def until_terminal(
    target: Target, verify: Verifier, history: TaskHistory, timeout: float | None = None
) -> dict[str, Any]:
    """Read the task until it is completed, failed or cancelled; a task that never ends is a finding."""
    contract = model_contract()
    body = read(target, verify, history)
    clocked = target.has(Capability.CONTROL_CLOCK)
    budget = timeout if timeout is not None else (contract.estimated_time * 10 if clocked else 300.0)
    waited, step = 0.0, 0
    while body.get("status") not in TERMINAL:
        if waited >= budget:
            verify.fail(
                Failure(
                    "lifecycle-ends",
                    f"a terminal status within {budget:g} s (estimated_time {contract.estimated_time} s)",
                    f"still {body.get('status')} at progress {body.get('progress')}",
                    severity=Severity.WARNING,
                    kind=Kind.OBSERVED,
                ),
                None,
            )
            return body
        delay = FAKE_STEP if clocked else LIVE_DELAYS[min(step, len(LIVE_DELAYS) - 1)]
        target.advance(delay)
        waited, step = waited + delay, step + 1
        body = read(target, verify, history)
    return body


def settle(target: Target, verify: Verifier, history: TaskHistory) -> None:
    """Read a terminal task again later (clock fakes: 45 s and an hour; live: a few seconds)."""
    delays = SETTLE if target.has(Capability.CONTROL_CLOCK) else (LIVE_DELAYS[0],)
    for delay in delays:
        target.advance(delay)
        read(target, verify, history)


def download_results(target: Target, verify: Verifier, history: TaskHistory) -> None:
    last = history.last or {}
    results = last.get("results")
    if last.get("status") != "completed" or not isinstance(results, list):
        return
    for url in results:
        if isinstance(url, str):
            verify(target.download(url), [result_download])
    history.downloaded = True
