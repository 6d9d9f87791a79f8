"""Probes of observed, undocumented behaviour that the fake imitates (API_NOTES sections 1 and 7).

The docs do not say what happens; the fake does what the real API was seen or inferred to do.
A mismatch is a warning (kind "observed"): news about the real API, or the fake drifting from it.
"""

from __future__ import annotations

import pytest

from . import flows
from .checks import Verifier, created_response
from .drift import Failure, Kind, Severity
from .strategies import minimal_body
from .targets import Target
from .test_requests import valid_sources

pytestmark = pytest.mark.observed

CLIENT_EXTRAS = {"size": "1024x1024", "n": 1, "seed": 42, "negative_prompt": "blurry"}
"""Fields real clients send to every model (API_NOTES section 1)."""


@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
def test_unknown_fields_are_accepted_and_ignored(target: Target, verify: Verifier) -> None:
    body = {**minimal_body(valid_sources(target)), **CLIENT_EXTRAS}
    before = target.now()
    ex = target.create(body)
    after = target.now()
    verify(
        ex,
        created_response(target, str(body["model"]), before, after, name="probe.unknown-fields-ignored"),
        observed=True,
    )


@pytest.mark.needs_image_fetching
@pytest.mark.needs_images
@pytest.mark.costs(tasks=1)
def test_an_unreachable_image_fails_the_task_not_the_request(target: Target, verify: Verifier) -> None:
    body = {**minimal_body(valid_sources(target)), "image_urls": [target.missing_image()]}
    before = target.now()
    ex = target.create(body)
    after = target.now()
    verify(
        ex,
        created_response(target, str(body["model"]), before, after, name="probe.image-error-surface"),
        observed=True,
    )
    history = flows.TaskHistory(created=ex.body, origin=ex)
    end = flows.until_terminal(target, verify, history)
    code = (end.get("error") or {}).get("code")
    if end.get("status") != "failed" or code != "image_processing_error":
        failure = Failure(
            "probe.image-error-code",
            "a failed task with error.code image_processing_error",
            f"{end.get('status')} with {code!r}",
            severity=Severity.WARNING,
            kind=Kind.OBSERVED,
        )
        verify.fail(failure, ex)


PIXEL_PROBES = {
    "too-small-511.png": ("511 px", "512-4096 px (primary page)", "384-3072 px (English pages)"),
    "valid-4096.png": ("4096 px", "384-3072 px (English pages)", "512-4096 px (primary page)"),
}
"""Fixture -> (size, the limits under which it fails, those under which it works)."""


@pytest.mark.needs_fixtures
@pytest.mark.needs_image_fetching
@pytest.mark.costs(tasks=2)
@pytest.mark.parametrize("fixture", list(PIXEL_PROBES))
def test_which_pixel_limits_the_target_applies(target: Target, verify: Verifier, fixture: str) -> None:
    """The pages disagree on input pixels: record which limits the target applies (a variant)."""
    size, refused_under, accepted_under = PIXEL_PROBES[fixture]
    url = f"{target.base_url}/_mock/fixtures/{fixture}"
    if target.download(url).status != 200:
        pytest.skip(f"the target serves no fixture {fixture}")
    history = flows.create(target, verify, {**minimal_body(valid_sources(target)), "image_urls": [url]})
    end = flows.until_terminal(target, verify, history)
    code = (end.get("error") or {}).get("code")
    observed = refused_under if code == "image_dimension_mismatch" else accepted_under
    assert history.origin is not None
    options = sorted([refused_under, accepted_under])
    verify.variant(f"pixel-limits.{size.replace(' ', '')}", observed, options, history.origin)
