"""GET /v1/tasks/{task_id} and authentication: the documented errors, and a task's whole life."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import flows
from .checks import Verifier, error_response
from .schemas import TASK_ID, load, model_contract
from .strategies import minimal_body
from .targets import Target
from .test_requests import rejected_sources, valid_sources

_ID_RULE = re.compile(load(TASK_ID)["pattern"])
_PATH_SAFE = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."),
    min_size=1,
    max_size=60,
)
MALFORMED_IDS = _PATH_SAFE.filter(lambda s: not _ID_RULE.search(s) and s not in (".", ".."))
"""Ids task-id.json refuses (documented: 400 invalid_task_id, param task_id)."""


def unknown_id(target: Target) -> str:
    return f"task-unified-{int(target.now())}-zzzzzzzz"


@given(task_id=MALFORMED_IDS)
def test_malformed_task_id_is_a_400_naming_task_id(target: Target, verify: Verifier, task_id: str) -> None:
    verify(target.get_task(task_id), error_response(400, "get.malformed-id", "task_id"))


def test_unknown_task_id_is_a_404(target: Target, verify: Verifier) -> None:
    verify(target.get_task(unknown_id(target)), error_response(404, "get.unknown-id"))


def test_create_without_a_key_is_a_401(target: Target, verify: Verifier) -> None:
    ex = target.submit_invalid(minimal_body(rejected_sources(target)), auth=False)
    verify(ex, error_response(401, "auth.missing-key"))


def test_read_without_a_key_is_a_401(target: Target, verify: Verifier) -> None:
    verify(target.get_task(unknown_id(target), auth=False), error_response(401, "auth.missing-key"))


@pytest.mark.needs_key_check
def test_an_unknown_key_is_a_401(target: Target, verify: Verifier) -> None:
    key = "sk-evolink-contract-tests-not-a-key"
    verify(target.get_task(unknown_id(target), key=key), error_response(401, "auth.invalid-key"))
    ex = target.submit_invalid(minimal_body(rejected_sources(target)), key=key)
    verify(ex, error_response(401, "auth.invalid-key"))


@pytest.mark.needs_images
@pytest.mark.needs_second_account
@pytest.mark.costs(tasks=1)
def test_another_accounts_task_is_refused(target: Target, verify: Verifier) -> None:
    history = flows.create(target, verify, minimal_body(valid_sources(target)))
    ex = target.get_task(history.task_id, key=target.other_key)
    verify.variant("foreign-task-status", f"HTTP {ex.status}", ["403 (newer docs)", "404"], ex)
    if ex.status == 404:
        verify(ex, error_response(404, "get.foreign-task"))
    else:
        verify(ex, error_response(403, "get.foreign-task"))


@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
def test_a_task_walks_the_documented_lifecycle(target: Target, verify: Verifier) -> None:
    """pending -> processing -> completed, progress never down, results that are images, then final."""
    history = flows.create(target, verify, minimal_body(valid_sources(target)))
    flows.until_terminal(target, verify, history)
    flows.download_results(target, verify, history)
    flows.settle(target, verify, history)
    statuses = [seen.get("status") for seen in history.seen]
    assert statuses[-1] in ("completed", "failed", "cancelled"), statuses


FORCED_FAILURES = {"content-policy-violation": "content_policy_violation", "service-error": "service_error"}
"""Scenarios of the fake's catalogue (X-Mock-Scenario) -> the business code the task fails with
(Error Codes Reference): one fails at 60 % of processing, the other at 40 %."""
SCENARIO_HEADER = "X-Mock-Scenario"


def forced(target: Target, scenario: str) -> dict[str, str]:
    """The header that asks the target for ``scenario``; skips when its catalogue lacks it."""
    if scenario not in target.scenarios:
        pytest.skip(f"the target's scenario catalogue has no {scenario}")
    return {SCENARIO_HEADER: scenario}


@pytest.mark.needs_outcomes
@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
@pytest.mark.parametrize("scenario", list(FORCED_FAILURES))
def test_a_failed_task_carries_its_error_and_stays_failed(
    target: Target, verify: Verifier, scenario: str
) -> None:
    """A failed task has ``error`` with its business code and a message (task-detail.json), no
    results, and never changes again."""
    body = minimal_body(valid_sources(target))
    history = flows.create(target, verify, body, headers=forced(target, scenario))
    end = flows.until_terminal(target, verify, history)
    flows.settle(target, verify, history)
    assert end.get("status") == "failed", f"the {scenario} scenario did not fail the task: {end}"
    error = end.get("error") or {}
    assert error.get("code") == FORCED_FAILURES[scenario], f"the {scenario} scenario failed with {error}"


@pytest.mark.needs_cancel
@pytest.mark.needs_clock
@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
def test_a_cancelled_task_ends_at_once_and_stays_ended(target: Target, verify: Verifier) -> None:
    """A task cancelled while processing (the fake's control API: the public one has no cancel)
    ends at once, keeping its progress. The documents disagree on how it reads: the literal status
    cancelled, or failed with request_cancelled; ``flows.read`` records which (a variant)."""
    history = flows.create(target, verify, minimal_body(valid_sources(target)))
    running = flows.read(target, verify, history)
    for _ in range(model_contract().estimated_time):
        if running.get("status") != "pending":
            break
        target.advance(flows.FAKE_STEP)
        running = flows.read(target, verify, history)
    assert running.get("status") == "processing", f"the task did not start processing: {running}"
    at_cancel = target.cancel(history.task_id)
    end = flows.read(target, verify, history)
    flows.settle(target, verify, history)
    code = (end.get("error") or {}).get("code")
    assert end.get("status") == "cancelled" or (end.get("status"), code) == ("failed", "request_cancelled"), (
        end
    )
    assert end.get("progress") == at_cancel.get("progress"), "a cancelled task keeps the progress it had"
