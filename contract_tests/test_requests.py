"""POST /v1/images/generations: what the request schema accepts is accepted, what it refuses is refused.

Cases come from walking the schema (strategies.py): every keyword yields a body breaking exactly
that rule, expected to get the documented 400 envelope naming the field; every limit yields a
valid body at the limit, expected to create a task.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from . import flows
from .checks import Verifier, created_response, error_envelope, error_response
from .drift import Severity
from .strategies import (
    Edge,
    UrlSources,
    Violation,
    check_one_rule,
    edges,
    minimal_body,
    valid_bodies,
    violations,
)
from .targets import UNFETCHED_IMAGE, Capability, Exchange, Target

_NAMES_ONLY = UrlSources({"image_urls": [UNFETCHED_IMAGE]})
VIOLATIONS = violations(_NAMES_ONLY)
EDGES = edges(_NAMES_ONLY)


def valid_sources(target: Target) -> UrlSources:
    return UrlSources({"image_urls": target.images(3)})


def rejected_sources(target: Target) -> UrlSources:
    return UrlSources({"image_urls": target.rejected_images(3)})


def _skip_relaxed(target: Target, case: Violation) -> None:
    if case.relaxable and not target.has(Capability.STRICT_URLS):
        pytest.skip(f"{case.name}: the target relaxes private URLs for local development")


def expect_rejection(target: Target, verify: Verifier, case: Violation, body: dict[str, Any]) -> Exchange:
    ex = target.submit_invalid(body)
    if case.disputed is not None:
        outcome = f"rejected (HTTP {ex.status})" if ex.status >= 400 else "accepted"
        verify.variant(case.name, outcome, ["rejected", f"accepted ({case.disputed})"], ex)
        return verify(ex, error_envelope() if ex.status >= 400 else [])
    checks = error_response(400, f"reject.{case.name}", case.param)
    return verify(ex, checks, observed=case.severity is not Severity.CRITICAL)


@pytest.mark.parametrize("case", VIOLATIONS, ids=[c.name for c in VIOLATIONS])
def test_one_broken_rule_at_its_edge_is_rejected(target: Target, verify: Verifier, case: Violation) -> None:
    _skip_relaxed(target, case)
    body = case.boundary(minimal_body(rejected_sources(target)))
    expect_rejection(target, verify, case, body)


@pytest.mark.parametrize("case", VIOLATIONS, ids=[c.name for c in VIOLATIONS])
@given(data=st.data())
def test_one_broken_rule_anywhere_is_rejected(
    target: Target, verify: Verifier, case: Violation, data: st.DataObject
) -> None:
    _skip_relaxed(target, case)
    base = data.draw(valid_bodies(rejected_sources(target)), label="valid base")
    body = data.draw(case.variants(base), label="broken body")
    assume(check_one_rule(case, body))
    expect_rejection(target, verify, case, body)


@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
@pytest.mark.parametrize("edge", EDGES, ids=[e.name for e in EDGES])
def test_valid_body_at_a_limit_creates_a_task(target: Target, verify: Verifier, edge: Edge) -> None:
    body = edge.body(minimal_body(valid_sources(target)))
    if edge.disputed is not None:
        ex = target.create(body)
        outcome = "accepted" if ex.status == 200 else f"rejected (HTTP {ex.status})"
        verify.variant(f"limit.{edge.name}", outcome, ["accepted", f"rejected ({edge.disputed})"], ex)
        return
    before = target.now()
    ex = target.create(body)
    after = target.now()
    verify(ex, created_response(target, str(body.get("model")), before, after, name=f"accept.{edge.name}"))


@pytest.mark.needs_images
@pytest.mark.costs(tasks=1, per_example=True)
@given(data=st.data())
def test_valid_bodies_create_pending_tasks(target: Target, verify: Verifier, data: st.DataObject) -> None:
    body = data.draw(valid_bodies(valid_sources(target)), label="body")
    history = flows.create(target, verify, body)
    flows.read(target, verify, history)


def test_a_body_that_is_not_an_object_is_rejected(target: Target, verify: Verifier) -> None:
    ex = target.submit_invalid([minimal_body(rejected_sources(target))])
    verify(ex, error_response(400, "reject.body-not-object"))
