"""The task lifecycle as a state machine: create, poll, let time pass, receive callbacks, in any order.

Invariants, checked on every read (checks.py): progress never decreases; status moves only forward
along pending -> processing -> completed | failed | cancelled; terminal states are final; completed
has results that download as images, failed has an error (task-detail.json). With callbacks: the
body received equals the GET body at the terminal moment.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from . import flows
from .checks import STATUS_RANK, TERMINAL, TaskHistory, Verifier, callback_body
from .drift import Failure
from .strategies import UrlSources, valid_bodies
from .targets import Capability, Target

MAX_TASKS = 3
"""Tasks one run creates at most (on live each costs a credit)."""
LIVE_EXAMPLES = 2
"""Runs of the machine on live (each up to MAX_TASKS tasks): the costs marker says 6 tasks."""


def machine_for(target: Target, verify: Verifier) -> type[RuleBasedStateMachine]:
    callbacks = target.has(Capability.CALLBACKS) and target.receiver is not None
    clocked = target.has(Capability.CONTROL_CLOCK)
    sources = {"image_urls": target.images(3)}
    if callbacks:
        sources["callback_url"] = [target.callback_url("ok", uuid.uuid4().hex[:16]) for _ in range(3)]
    bodies = valid_bodies(UrlSources(sources))
    pauses = st.sampled_from([0.5, 1.0, 2.0, 5.0, 10.0, 30.0]) if clocked else st.sampled_from([3.0, 5.0])

    class TaskLifecycle(RuleBasedStateMachine):
        tasks = Bundle("tasks")

        def __init__(self) -> None:
            super().__init__()
            self.histories: dict[str, TaskHistory] = {}
            self.checked_callbacks: set[str] = set()

        @precondition(lambda self: len(self.histories) < MAX_TASKS)
        @rule(target=tasks, body=bodies)
        def create(self, body: dict[str, Any]) -> str:
            history = flows.create(target, verify, body)
            self.histories[history.task_id] = history
            return history.task_id

        @rule(task_id=tasks)
        def poll(self, task_id: str) -> None:
            history = self.histories[task_id]
            flows.read(target, verify, history)
            if history.terminal and not history.downloaded:
                flows.download_results(target, verify, history)

        @rule(seconds=pauses)
        def let_time_pass(self, seconds: float) -> None:
            target.advance(seconds)

        @precondition(lambda self: callbacks)
        @rule(task_id=tasks)
        def receive_callback(self, task_id: str) -> None:
            history = self.histories[task_id]
            url = history.callback_url
            if not history.terminal or url is None or task_id in self.checked_callbacks:
                return
            assert target.receiver is not None
            received = target.receiver.received(url.rsplit("/", 1)[-1])
            mine = [r for r in received if isinstance(r.body, dict) and r.body.get("id") == task_id]
            terminal = next(b for b in history.seen if b.get("status") in TERMINAL)
            if mine:
                try:
                    callback_body(mine[0].body, terminal)
                except Failure as failure:
                    verify.fail(failure, history.origin)
                self.checked_callbacks.add(task_id)

        @invariant()
        def every_task_moved_only_forward(self) -> None:
            for history in self.histories.values():
                ranks = [STATUS_RANK.get(str(seen.get("status")), -1) for seen in history.seen]
                assert ranks == sorted(ranks) and -1 not in ranks, f"{history.task_id}: {ranks}"

        def teardown(self) -> None:
            target.reset()

    return TaskLifecycle


@pytest.mark.needs_images
@pytest.mark.costs(tasks=MAX_TASKS * LIVE_EXAMPLES)
def test_task_lifecycle_state_machine(target: Target, verify: Verifier) -> None:
    machine = machine_for(target, verify)
    examples = LIVE_EXAMPLES if target.has(Capability.SPENDS_CREDITS) else settings().max_examples
    run_state_machine_as_test(machine, settings=settings(settings.default, max_examples=examples))
