"""Named deviations from the contract: lies the fake tells on purpose, to measure the contract tests.

``--deviate NAME`` (repeatable, env ``EVOLINK_MOCK_DEVIATE``) turns one on; none is ever on by
default, and the start-up banner names each. ``contract_tests`` must catch every one of them by
name (tests/test_contract_power.py). ``CATALOGUE`` is the only list; each deviation is applied at
one point of the fake through the functions below, so the fake's own code paths stay unchanged:

    request schema      adjust_request_schema (service.request_schema)
    callback URL check  url_policy (FakeService.__init__)
    authentication      anonymous_caller (FakeService.authenticate)
    response bodies     created / detail / error (the routes and the error renderer in app.py)
    callback bodies     callback_body (callbacks.encode_body)
    X-Request-Id        request_ids (create_app)
    durations           timings (FakeService.__init__)
    callback delivery   sends_callbacks (FakeService._on_created)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from .auth import Caller
from .errors import ConfigError
from .tasks import Task
from .timings import Timings
from .urlpolicy import UrlPolicy

CATALOGUE: dict[str, str] = {
    # request validation
    "prompt-limit-2001": "accepts a prompt of 2001 characters (maxLength off by one)",
    "image-urls-max-4": "accepts 4 input images (maxItems 4 instead of 3)",
    "prompt-optional": "accepts a request without a prompt",
    "callback-http-accepted": "accepts plain-http callback URLs on public hosts",
    "callback-internal-accepted": "accepts callback URLs on internal hosts (10.x, 127.0.0.1, 169.254.169.254...)",
    "missing-auth-accepted": "serves requests without an Authorization header",
    # response shape
    "task-info-renamed": "writes taskInfo instead of task_info in task bodies",
    "object-wrong": "writes object 'image.generation' instead of 'image.generation.task'",
    "error-type-wrong": "writes error.type 'invalid_request' (a code) where 'invalid_request_error' belongs",
    "request-id-missing": "sends no X-Request-Id header",
    "progress-as-string": "writes progress as a string ('65')",
    "created-in-milliseconds": "writes created in milliseconds instead of seconds",
    # lifecycle
    "progress-goes-backwards": "progress drops by 50 once it reaches 60 while processing",
    "completed-without-results": "completed tasks carry no results",
    "terminal-state-changes": "a completed task reads failed 30 s after it ended",
    # failed tasks
    "failed-without-error": "a failed task carries no error object",
    "failed-error-code-integer": "a failed task's error.code is the integer 500 instead of its business code",
    # callbacks
    "callback-retry-1-1-1": "retries a failed callback after 1, 1 and 1 s instead of 1, 2 and 4 s",
    "callback-missing": "never calls callback_url",
    "callback-body-differs": "the callback body leaves out usage, which GET shows at the same moment",
}


def check(names: Collection[str]) -> None:
    unknown = sorted(set(names) - set(CATALOGUE))
    if unknown:
        raise ConfigError(f"unknown deviation {', '.join(unknown)}; choose from {', '.join(CATALOGUE)}")


def banner(names: Collection[str]) -> list[str]:
    return [f"DEVIATING {name} ({CATALOGUE[name]})" for name in names]


def adjust_request_schema(schema: dict[str, Any], names: Collection[str]) -> None:
    properties = schema["properties"]
    if "prompt-limit-2001" in names:
        properties["prompt"]["maxLength"] += 1
    if "image-urls-max-4" in names:
        properties["image_urls"]["maxItems"] += 1
    if "prompt-optional" in names:
        schema["required"] = [n for n in schema["required"] if n != "prompt"]
    if "callback-http-accepted" in names:
        properties["callback_url"]["pattern"] = "^[Hh][Tt][Tt][Pp][Ss]?://"


class _DeviatingPolicy(UrlPolicy):
    """The URL policy with a laxer submit-time callback check; delivery checks are unchanged."""

    def __init__(self, inner: UrlPolicy, names: Collection[str]) -> None:
        super().__init__(allow_private=inner.allow_private, resolver=inner.resolver)
        self.names = frozenset(names)

    async def check_callback_url(self, url: str) -> None:
        if "callback-internal-accepted" in self.names:
            return
        if "callback-http-accepted" in self.names and url[:7].lower() == "http://":
            url = "https://" + url[7:]
        await super().check_callback_url(url)


def url_policy(policy: UrlPolicy, names: Collection[str]) -> UrlPolicy:
    check(names)
    if {"callback-internal-accepted", "callback-http-accepted"} & set(names):
        return _DeviatingPolicy(policy, names)
    return policy


def timings(value: Timings, names: Collection[str]) -> Timings:
    if "callback-retry-1-1-1" in names:
        return dataclasses.replace(value, retry_delays=tuple(1.0 for _ in value.retry_delays))
    return value


def anonymous_caller(header: str | None, names: Collection[str]) -> Caller | None:
    if not header and "missing-auth-accepted" in names:
        return Caller("", "anonymous")
    return None


def sends_callbacks(names: Collection[str]) -> bool:
    return "callback-missing" not in names


def request_ids(names: Collection[str]) -> bool:
    """Whether responses carry X-Request-Id."""
    return "request-id-missing" not in names


def created(body: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    if "task-info-renamed" in names:
        body["taskInfo"] = body.pop("task_info")
    if "object-wrong" in names:
        body["object"] = "image.generation"
    if "created-in-milliseconds" in names:
        body["created"] *= 1000
    if "progress-as-string" in names:
        body["progress"] = str(body["progress"])
    return body


def detail(body: dict[str, Any], task: Task, now: float, names: Collection[str]) -> dict[str, Any]:
    status = body["status"]
    if "progress-goes-backwards" in names and status == "processing" and body["progress"] >= 60:
        body["progress"] -= 50
    if "completed-without-results" in names and status == "completed":
        body.pop("results", None)
    if "failed-without-error" in names and status == "failed":
        body.pop("error", None)
    if "failed-error-code-integer" in names and status == "failed" and isinstance(body.get("error"), dict):
        body["error"]["code"] = 500
    if "terminal-state-changes" in names and status == "completed" and now >= task.plan.ends_at + 30:
        body.pop("results", None)
        body["status"] = "failed"
        body["error"] = {
            "code": "service_error",
            "message": "The task failed after all.",
            "type": "task_error",
        }
    return created(body, names)


def callback_body(body: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    """The callback's body (the task at its terminal moment); GET bodies are ``detail``'s."""
    if "callback-body-differs" in names:
        body.pop("usage", None)
    return body


def error(body: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    inner = body["error"]
    if "error-type-wrong" in names and inner.get("type") == "invalid_request_error":
        inner["type"] = "invalid_request"
    return body
