"""How the fake is run in the bench: as users run it, with the image check on where the build
has it, and a check that the bench's own requests really make healthy tasks.

The bench's requests carry one loopback image URL served by the fake itself
(``/_mock/fixtures/cat-1024.png``): the fake fetches it once, caches what it learned, and every
later create pays only the cache lookup, as a user's CI loop reusing one image does. Builds
without that route fall back to ``--image-check off`` (URL judged by its extension), and builds
without that option to a plain https URL; the results name the mode that ran.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from .load import GENERATE_PATH, auth_headers, create_body
from .servers import REPO

FIXTURE_PATH = "/_mock/fixtures/cat-1024.png"
OFFLINE_IMAGE_URL = "https://example.com/cat-1024.png"
SERVE_FLAGS = ("--time-scale", "1", "--allow-private-urls", "--seed", "1")
"""Full validation, real time; ``--allow-private-urls`` only so the fake may fetch its own
loopback fixture (and, in the callback section, call a loopback receiver)."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TASKS = 5_000_000


class ImageMode(StrEnum):
    FETCH = "fetch"
    """Image check on: the loopback fixture is fetched once and its verdict cached."""
    CHECK_OFF = "check-off"
    """No fixture route in this build: ``--image-check off``, URL judged by its extension."""
    PLAIN_URL = "plain-url"
    """Neither: a plain https URL, validated as a URI only."""


@dataclass(frozen=True, slots=True)
class FakeSetup:
    mode: ImageMode
    flags: tuple[str, ...]
    """Extra ``serve`` flags the mode needs."""

    def image_url(self, base_url: str) -> str:
        return base_url + FIXTURE_PATH if self.mode is ImageMode.FETCH else OFFLINE_IMAGE_URL

    def body(self, base_url: str, callback_url: str | None = None) -> str:
        return create_body(self.image_url(base_url), callback_url)

    @property
    def describe(self) -> str:
        if self.mode is ImageMode.FETCH:
            return f"image check ON: one loopback image ({FIXTURE_PATH}) fetched by the fake, then cached"
        if self.mode is ImageMode.CHECK_OFF:
            return "image check OFF (--image-check off; this build serves no fixture route)"
        return "no image check in this build: a plain https URL, validated as a URI only"


def has_fixture(base_url: str) -> bool:
    try:
        answer = httpx.get(base_url + FIXTURE_PATH, timeout=10, trust_env=False)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.content.startswith(PNG_SIGNATURE)


@functools.cache
def serve_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "mock_server", "serve", "--help"], cwd=REPO, capture_output=True, text=True
    ).stdout


def capacity_flags() -> tuple[str, ...]:
    """Room for every task the bench creates: the rounds add ~8 s x req/s per create run and the
    memory section 100k more, past the default ``--max-tasks`` (100 000), which would answer
    503. The cap is a safety limit, not per-request work, so raising it changes no cost measured."""
    return ("--max-tasks", str(MAX_TASKS)) if "--max-tasks" in serve_help() else ()


def fallback_setup() -> FakeSetup:
    if "--image-check" in serve_help():
        return FakeSetup(ImageMode.CHECK_OFF, ("--image-check", "off", *capacity_flags()))
    return FakeSetup(ImageMode.PLAIN_URL, capacity_flags())


def first_setup() -> FakeSetup:
    return FakeSetup(ImageMode.FETCH, capacity_flags())


def verify(base_url: str, setup: FakeSetup) -> dict[str, Any]:
    """Create one task the way the bench will, and read its plan: a task planned to fail (the
    image check rejected the image, say) would make every later number meaningless."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as client:
        created = client.post(GENERATE_PATH, content=setup.body(base_url), headers=auth_headers())
        if created.status_code != 200:
            return {"ok": False, "detail": f"create answered {created.status_code}: {created.text[:300]}"}
        task_id = created.json()["id"]
        inspected = client.get(f"/_mock/tasks/{task_id}")
        if inspected.status_code != 200:
            return {"ok": True, "detail": f"task {task_id} created; no /_mock/tasks/{{id}} to read its plan"}
        plan = inspected.json().get("plan", {})
        outcome = plan.get("outcome")
        ok = outcome == "completed"
        detail = f"task {task_id} planned to end {outcome}"
        if not ok:
            detail += f": {inspected.json().get('task', {}).get('error') or inspected.text[:300]}"
        return {"ok": ok, "detail": detail, "task_id": task_id}
