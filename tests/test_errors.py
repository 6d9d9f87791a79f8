"""Every error path answers the documented envelope with a 4xx, never a 500 or a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import AUTH, GENERATE, VALID_BODY, assert_error, create, make_client

RAW_JSON = {**AUTH, "Content-Type": "application/json"}


def test_missing_authorization_is_401(api: Any) -> None:
    error = assert_error(api.post(GENERATE, json=VALID_BODY), 401, code="unauthorized")
    assert error["type"] == "authentication_error"
    assert "Authorization" in error["message"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer    ", "Basic abc", "sk-no-scheme", ""])
def test_malformed_authorization_is_401(api: Any, header: str) -> None:
    assert_error(api.post(GENERATE, json=VALID_BODY, headers={"Authorization": header}), 401)


def test_unknown_key_is_401_when_keys_are_configured(clock: Any) -> None:
    with make_client(clock, api_keys=("sk-good",)) as api:
        error = assert_error(
            api.post(GENERATE, json=VALID_BODY, headers={"Authorization": "Bearer sk-bad"}), 401
        )
        assert error["message"] == "Invalid or expired token"
        create(api, headers={"Authorization": "Bearer sk-good"})


def test_auth_is_checked_before_the_body(api: Any) -> None:
    assert_error(api.post(GENERATE, content=b"{broken", headers={"Content-Type": "application/json"}), 401)


@pytest.mark.parametrize(
    "raw,words",
    [
        (b"{broken", "not valid JSON"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b'{"prompt": NaN}', "not valid JSON"),
        (b'{"prompt": Infinity}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
        (b'{"prompt": "\\ud800"}', "invalid Unicode"),
    ],
    ids=[
        "broken",
        "empty",
        "blank",
        "array",
        "string",
        "null",
        "number",
        "nan",
        "infinity",
        "not-utf8",
        "deep",
        "lone-surrogate",
    ],
)
def test_unparseable_or_non_object_bodies_are_400(api: Any, raw: bytes, words: str) -> None:
    error = assert_error(api.post(GENERATE, content=raw, headers=RAW_JSON), 400)
    assert words in error["message"]


def test_duplicate_keys_take_the_last_value(api: Any) -> None:
    raw = b'{"model": "qwen-image-edit", "prompt": "x", "image_urls": ["https://a.example/a.png"], "prompt": ""}'
    assert_error(api.post(GENERATE, content=raw, headers=RAW_JSON), 400, "prompt")


def test_nul_bytes_and_unicode_are_just_text(api: Any) -> None:
    create(api, {**VALID_BODY, "prompt": "a\u0000b 🐱 \u202e"})


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_wrong_content_type_is_400(api: Any, content_type: str | None) -> None:
    headers = dict(AUTH)
    if content_type:
        headers["Content-Type"] = content_type
    error = assert_error(api.post(GENERATE, content=json.dumps(VALID_BODY).encode(), headers=headers), 400)
    assert "Content-Type" in error["message"]


def test_json_with_charset_is_accepted(api: Any) -> None:
    response = api.post(
        GENERATE,
        content=json.dumps(VALID_BODY).encode(),
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_oversized_body_is_413(clock: Any) -> None:
    with make_client(clock, max_body_bytes=4096) as api:
        big = {**VALID_BODY, "prompt": "x" * 5000}
        error = assert_error(api.post(GENERATE, json=big, headers=AUTH), 413, code="request_too_large")
        assert error["type"] == "request_too_large_error"

        def chunks() -> Any:  # no Content-Length: the cap applies while streaming
            yield b'{"prompt": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        assert_error(api.post(GENERATE, content=chunks(), headers=RAW_JSON), 413)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(api: Any, method: str) -> None:
    response = api.request(method, GENERATE, headers=AUTH)
    assert_error(response, 405, code="method_not_allowed")
    assert response.headers["allow"] == "POST"


def test_post_on_task_path_is_405(api: Any) -> None:
    response = api.post("/v1/tasks/task-unified-1-abc", headers=AUTH)
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


def test_unknown_route_is_404_envelope(api: Any) -> None:
    assert_error(api.get("/v1/nothing-here", headers=AUTH), 404, code="not_found")


def test_legacy_style_uses_integer_codes_and_old_types(clock: Any) -> None:
    with make_client(clock, error_style="legacy") as api:
        error = assert_error(
            api.post(GENERATE, json={**VALID_BODY, "prompt": ""}, headers=AUTH), 400, "prompt"
        )
        assert error["code"] == 400 and error["type"] == "invalid_request_error"
        error = assert_error(api.get("/v1/tasks/task-unified-1-abcdefgh", headers=AUTH), 404, "task_id")
        assert error["code"] == 404 and error["type"] == "not_found_error"
        assert assert_error(api.get("/v1/tasks/x"), 401)["type"] == "authentication_error"


def test_every_response_has_a_request_id(api: Any) -> None:
    ids = {
        api.post(GENERATE, json=VALID_BODY, headers=AUTH).headers["x-request-id"],
        api.post(GENERATE, json={}, headers=AUTH).headers["x-request-id"],
        api.get("/_mock/health").headers["x-request-id"],
        api.get("/nowhere").headers["x-request-id"],
    }
    assert len(ids) == 4
