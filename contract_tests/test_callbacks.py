"""Callbacks: one POST of the final task body to callback_url, retried after 1, 2 and 4 s.

Needs a target whose callbacks the suite can receive and whose attempts it can read back
(``/_mock/callbacks``): the in-process fake, or a fake at a URL started with
``--allow-private-urls`` (the suite's receiver listens on 127.0.0.1). Skipped on live.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from . import flows
from .checks import Verifier, callback_body, callback_delivered, callback_retries
from .drift import Failure
from .schemas import model_contract
from .strategies import minimal_body
from .targets import Exchange, Target
from .test_requests import valid_sources
from .test_tasks import forced

pytestmark = [pytest.mark.needs_callbacks, pytest.mark.needs_images, pytest.mark.needs_clock]


def _judge(verify: Verifier, origin: Exchange | None, run: Callable[[], None]) -> None:
    """Run one callback check; a failure is a finding reproduced by the create request."""
    try:
        run()
    except Failure as failure:
        verify.fail(failure, origin)


@pytest.mark.costs(tasks=1)
@pytest.mark.parametrize(
    "scenario",
    [None, pytest.param("content-policy-violation", marks=pytest.mark.needs_outcomes)],
    ids=["completed", "failed"],
)
def test_callback_carries_the_task_at_its_end(target: Target, verify: Verifier, scenario: str | None) -> None:
    """Completed or failed (a scenario of the fake's catalogue), the callback is the final GET body."""
    assert target.receiver is not None
    token = uuid.uuid4().hex[:16]
    body = {**minimal_body(valid_sources(target)), "callback_url": target.callback_url("ok", token)}
    history = flows.create(target, verify, body, headers=forced(target, scenario) if scenario else None)
    end = flows.until_terminal(target, verify, history)
    target.advance(1.0)
    received = target.receiver.received(token)
    _judge(verify, history.origin, lambda: callback_delivered(received))
    if received:
        _judge(verify, history.origin, lambda: callback_body(received[0].body, end))
    assert len(received) <= 1, "a callback answered 200 must not be sent again"


@pytest.mark.costs(tasks=1)
def test_failed_callback_is_retried_after_1_2_4_seconds(target: Target, verify: Verifier) -> None:
    assert target.receiver is not None
    token = uuid.uuid4().hex[:16]
    body = {**minimal_body(valid_sources(target)), "callback_url": target.callback_url("fail", token)}
    history = flows.create(target, verify, body)
    flows.until_terminal(target, verify, history)
    contract = model_contract()
    target.advance(sum(contract.retry_delays) + 2 * len(contract.retry_delays) + 1.0)
    attempts = target.callback_attempts(history.task_id)
    _judge(verify, history.origin, lambda: callback_retries(attempts))
    received = target.receiver.received(token)
    _judge(verify, history.origin, lambda: callback_delivered(received))
