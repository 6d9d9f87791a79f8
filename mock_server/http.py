"""HTTP plumbing shared by the public routes and the control API: JSON in, JSON out, errors."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import InvalidRequest, RequestTooLarge

if TYPE_CHECKING:
    from .service import FakeService

JSON_TYPE = "application/json"


def service_of(request: Request) -> FakeService:
    """The fake behind this request (``create_app`` puts it on the app's state)."""
    service: FakeService = request.app.state.service
    return service


def base_url(request: Request) -> str:
    """Where the client reached the fake (or ``--public-url``): the base of every link it gets."""
    return (service_of(request).settings.public_url or str(request.base_url)).rstrip("/")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every answer (json.dumps with arguments builds a new one per call)."""


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = _ENCODER.encode(data).encode()
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_TYPE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a request body (400 beyond). A valid body
is 3 levels deep; the schema validator itself stops at 255, and must never be the one to fail."""


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _finite_float(text: str) -> float:
    """A JSON number that overflows a double (``1e400``) is refused: Python would read it as
    infinity, which no JSON answer can carry back."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {_shown(text)} is out of range")
    return value


def _double_int(text: str) -> int:
    """An integer beyond a double's range (400 digits) is refused like ``1e400``: the fake computes
    with floats, and ``float()`` of it would raise (Python refuses over 4300 digits by itself)."""
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise ValueError(f"the number {_shown(text)} is out of range")
    return value


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


async def read_json(request: Request, max_bytes: int) -> Any:
    """The parsed JSON body, or the documented 400/413 envelope saying what is wrong with it."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != JSON_TYPE and not (media.startswith("application/") and media.endswith("+json")):
        shown = content_type or "none"
        raise InvalidRequest(f"Content-Type must be application/json (got {shown})")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(f"Request body too large: {declared} bytes, the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestTooLarge(f"Request body too large: over {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("Request body is empty: send a JSON object")
    try:
        data = json.loads(
            raw, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_double_int
        )
    except RecursionError:
        raise InvalidRequest("Request body is not valid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid JSON: it is not UTF-8 text") from None
    except ValueError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    if isinstance(data, dict | list) and _too_deep(data):
        raise InvalidRequest(f"Request body is nested too deeply: more than {MAX_DEPTH} levels")
    return data
