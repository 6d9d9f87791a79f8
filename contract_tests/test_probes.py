"""Probes of observed, undocumented behaviour that the fake imitates (API_NOTES sections 1 and 7).

The docs do not say what happens; the fake does what the real API was seen or inferred to do.
A mismatch is a warning (kind "observed"): news about the real API, or the fake drifting from it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from . import flows
from .checks import Verifier, created_response
from .drift import Failure, Kind, Severity
from .strategies import minimal_body
from .targets import FIXTURE_NAME, Target
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


def _failure_code(end: dict[str, Any]) -> str | None:
    error = end.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _fixture_task(target: Target, verify: Verifier, fixture: str) -> tuple[flows.TaskHistory, dict[str, Any]]:
    """A task whose one input image is the target's fixture ``fixture``, followed to its end."""
    url = target.fixture_url(fixture)
    if target.download(url).status != 200:
        pytest.skip(f"the target serves no fixture {fixture}")
    return _image_task(target, verify, url)


def _image_task(target: Target, verify: Verifier, url: str) -> tuple[flows.TaskHistory, dict[str, Any]]:
    """A task whose one input image is ``url``, followed to its end.

    Where an image error surfaces is observed (see above): a refusal at submit is a warning."""
    body = {**minimal_body(valid_sources(target)), "image_urls": [url]}
    before = target.now()
    ex = target.create(body)
    after = target.now()
    name = "probe.image-error-surface"
    verify(ex, created_response(target, str(body["model"]), before, after, name=name), observed=True)
    if ex.status != 200:
        pytest.skip(f"{url} was refused at submit (recorded as {name})")
    history = flows.TaskHistory(created=ex.body, origin=ex)
    return history, flows.until_terminal(target, verify, history)


def _unexpected_end(verify: Verifier, history: flows.TaskHistory, name: str, expected: str) -> None:
    end = history.last or {}
    failure = Failure(
        name,
        expected,
        f"{end.get('status')} with {_failure_code(end)!r}",
        severity=Severity.WARNING,
        kind=Kind.OBSERVED,
    )
    verify.fail(failure, history.origin)


PIXEL_PROBES = {
    "too-small-511.png": ("511 px", "512-4096 px (primary page)", "384-3072 px (English pages)"),
    "valid-4096.png": ("4096 px", "384-3072 px (English pages)", "512-4096 px (primary page)"),
}
"""Fixture -> (size, the limits under which it fails, those under which it works)."""


@pytest.mark.needs_fixtures
@pytest.mark.needs_image_fetching
@pytest.mark.costs(tasks=1)
@pytest.mark.parametrize("fixture", list(PIXEL_PROBES))
def test_which_pixel_limits_the_target_applies(target: Target, verify: Verifier, fixture: str) -> None:
    """The pages disagree on input pixels: record which limits the target applies (a variant).

    Either way the image is judged by the task: completed, or failed with image_dimension_mismatch
    (the Error Codes Reference); anything else is a finding."""
    size, refused_under, accepted_under = PIXEL_PROBES[fixture]
    history, end = _fixture_task(target, verify, fixture)
    if end.get("status") == "completed":
        observed = accepted_under
    elif end.get("status") == "failed" and _failure_code(end) == "image_dimension_mismatch":
        observed = refused_under
    else:
        _unexpected_end(
            verify, history, "probe.image-pixels", "completed, or failed with image_dimension_mismatch"
        )
        return
    assert history.origin is not None
    options = sorted([refused_under, accepted_under])
    verify.variant(f"pixel-limits.{size.replace(' ', '')}", observed, options, history.origin)


FORMAT_PROBES = {
    "format.gif": None,
    "format.bmp": ("jpeg, png, webp (primary page)", "also bmp and tiff (English pages)"),
}
"""Fixture -> None when every document refuses its format, else (the formats under which it is
refused, those under which it is accepted): the documents disagree (a variant)."""


@pytest.mark.needs_fixtures
@pytest.mark.needs_image_fetching
@pytest.mark.costs(tasks=1)
@pytest.mark.parametrize("fixture", list(FORMAT_PROBES))
def test_an_image_in_another_format_fails_the_task(target: Target, verify: Verifier, fixture: str) -> None:
    """An input format outside the documented ones fails the task with image_processing_error
    (Error Codes Reference; official clients tie that code to the format)."""
    disputed = FORMAT_PROBES[fixture]
    history, end = _fixture_task(target, verify, fixture)
    refused = end.get("status") == "failed" and _failure_code(end) == "image_processing_error"
    if disputed is not None and (refused or end.get("status") == "completed"):
        assert history.origin is not None
        observed = disputed[0] if refused else disputed[1]
        verify.variant(
            f"image-formats.{fixture.rsplit('.', 1)[1]}", observed, sorted(disputed), history.origin
        )
    elif not refused:
        _unexpected_end(
            verify, history, "probe.image-format", "a failed task with error.code image_processing_error"
        )


@pytest.mark.needs_strict_urls
@pytest.mark.needs_fixtures
@pytest.mark.needs_image_fetching
@pytest.mark.costs(tasks=1)
def test_an_image_on_an_internal_host_fails_the_task(target: Target, verify: Verifier) -> None:
    """An image URL on a loopback host is not "directly reachable by the server" (primary page):
    a target with the strict URL rule fails the task with image_processing_error. The URL names the
    target's own fixture on 127.0.0.1, so a target that fetched it anyway would complete the task."""
    own = urlsplit(target.fixture_url(FIXTURE_NAME))
    url = own._replace(netloc="127.0.0.1" + (f":{own.port}" if own.port else "")).geturl()
    history, end = _image_task(target, verify, url)
    if end.get("status") != "failed" or _failure_code(end) != "image_processing_error":
        _unexpected_end(
            verify,
            history,
            "probe.image-internal-host",
            "a failed task with error.code image_processing_error",
        )
