"""Errors of the fake and the one place where the HTTP error envelope is built.

Tree::

    MockError
      ApiError              rendered as {"error": {"code", "message", "type", "param"}}
        InvalidRequest        400 invalid_request
        InvalidTaskId         400 invalid_task_id
        Unauthorized          401 unauthorized
        InsufficientQuota     402 insufficient_quota
        PermissionDenied      403 permission_denied
        TaskNotFound          404 task_not_found
        NotFound              404 not_found        (no such route or file)
        MethodNotAllowed      405 method_not_allowed
        IdempotencyConflict   409 idempotency_conflict
        TaskNotCancellable    409 task_not_cancellable (control API)
        RequestTooLarge       413 request_too_large
        RateLimited           429 rate_limit_exceeded
        InternalError         500 internal_error
        UpstreamError         502 upstream_error
        ServiceUnavailable    503 service_unavailable
      ConfigError           bad settings: the CLI exits 2 with one line
      ServerError           a fake in a test is not running or not answering (_server_thread.py)
      FakeNotIdle           run_until_idle cannot finish: a stuck task, or its limit (testing.py)
      FakeFailure           a fake in a test logged errors (testing.py)

Two envelope styles are documented (see docs/decisions.md): ``current`` (string codes, the newer
docs, the default) and ``legacy`` (the HTTP status as an integer code, older ``*_error`` types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class ErrorStyle(StrEnum):
    CURRENT = "current"
    LEGACY = "legacy"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    status: int
    code: str
    type: str
    legacy_type: str


class MockError(Exception):
    """Base of every error the fake raises on purpose."""


class ConfigError(MockError):
    """A setting, option or file the user gave is wrong; the message says how to fix it."""


class ApiError(MockError):
    kind: ClassVar[ErrorKind]

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        fallback_suggestion: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.kind.code
        self.param = param
        self.headers = headers or {}
        self.fallback_suggestion = fallback_suggestion

    @property
    def status(self) -> int:
        return self.kind.status


def _kind(status: int, code: str, type_: str, legacy_type: str) -> ErrorKind:
    return ErrorKind(status, code, type_, legacy_type)


class InvalidRequest(ApiError):
    kind = _kind(400, "invalid_request", "invalid_request_error", "invalid_request_error")


class InvalidTaskId(ApiError):
    kind = _kind(400, "invalid_task_id", "invalid_request_error", "invalid_request_error")


class Unauthorized(ApiError):
    kind = _kind(401, "unauthorized", "authentication_error", "authentication_error")


class InsufficientQuota(ApiError):
    kind = _kind(402, "insufficient_quota", "insufficient_quota", "insufficient_quota_error")


class PermissionDenied(ApiError):
    kind = _kind(403, "permission_denied", "invalid_request_error", "permission_error")


class TaskNotFound(ApiError):
    kind = _kind(404, "task_not_found", "invalid_request_error", "not_found_error")


class NotFound(ApiError):
    kind = _kind(404, "not_found", "invalid_request_error", "not_found_error")


class MethodNotAllowed(ApiError):
    kind = _kind(405, "method_not_allowed", "invalid_request_error", "invalid_request_error")


class IdempotencyConflict(ApiError):
    kind = _kind(409, "idempotency_conflict", "invalid_request_error", "invalid_request_error")


class TaskNotCancellable(ApiError):
    kind = _kind(409, "task_not_cancellable", "invalid_request_error", "invalid_request_error")


class RequestTooLarge(ApiError):
    kind = _kind(413, "request_too_large", "request_too_large_error", "request_too_large_error")


class RateLimited(ApiError):
    kind = _kind(429, "rate_limit_exceeded", "rate_limit_error", "rate_limit_error")


class InternalError(ApiError):
    kind = _kind(500, "internal_error", "api_error", "internal_server_error")


class UpstreamError(ApiError):
    kind = _kind(502, "upstream_error", "upstream_error", "upstream_error")


class ServiceUnavailable(ApiError):
    kind = _kind(503, "service_unavailable", "service_unavailable_error", "service_unavailable_error")


ERROR_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    402: InsufficientQuota,
    403: PermissionDenied,
    404: NotFound,
    409: IdempotencyConflict,
    413: RequestTooLarge,
    429: RateLimited,
    500: InternalError,
    502: UpstreamError,
    503: ServiceUnavailable,
}
"""The error class a scenario's ``reject`` status stands for."""


def error_body(exc: ApiError, style: ErrorStyle = ErrorStyle.CURRENT) -> dict[str, Any]:
    """The documented envelope for ``exc``; the only function that builds it."""
    kind = exc.kind
    legacy = style == ErrorStyle.LEGACY
    inner: dict[str, Any] = {
        "code": kind.status if legacy else exc.code,
        "message": exc.message,
        "type": kind.legacy_type if legacy else kind.type,
        "param": exc.param,
    }
    if exc.fallback_suggestion is not None:
        inner["fallback_suggestion"] = exc.fallback_suggestion
    return {"error": inner}


def error_bytes(exc: ApiError, style: ErrorStyle = ErrorStyle.CURRENT) -> bytes:
    return json.dumps(error_body(exc, style), ensure_ascii=False, separators=(",", ":")).encode()
