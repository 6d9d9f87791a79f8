"""Every error path answers the documented envelope with a 4xx, never a 500 or a traceback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mock_server import ManualClock, Settings, create_app

from .conftest import AUTH, GENERATE, START, VALID_BODY, assert_error, create, make_client

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


# -- hostile inputs: whatever arrives, a documented 4xx (or the happy path), never a 500 ---------

RAW = {"Content-Type": "application/json"}


def _nested(depth: int, leaf: str = "0") -> str:
    """``depth`` levels of arrays and objects, alternating, around ``leaf``."""
    text = leaf
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}}}'
    return text


@pytest.mark.parametrize("where", ["prompt", "unknown"])
def test_nesting_is_accepted_up_to_the_limit_and_refused_beyond(api: Any, where: str) -> None:
    """64 levels (the whole body counted) pass to validation; 65 are refused before it: the
    schema validator gives up at 255 levels and must never be the one to fail."""

    def body(depth: int) -> bytes:
        fields = json.dumps(VALID_BODY)[1:-1]
        return (
            f'{{{fields}, "{"prompt" if where == "prompt" else "x-extra"}": {_nested(depth - 1)}}}'.encode()
        )

    at_limit = api.post(GENERATE, content=body(64), headers=RAW_JSON)
    if where == "prompt":
        assert_error(at_limit, 400, "prompt")  # judged by the schema: not a string
    else:
        assert at_limit.status_code == 200, at_limit.text  # unknown fields are ignored
    for depth in (65, 256, 900):
        error = assert_error(api.post(GENERATE, content=body(depth), headers=RAW_JSON), 400)
        assert error["message"] == "Request body is nested too deeply: more than 64 levels"


@pytest.mark.parametrize(
    "path,raw",
    [
        ("/_mock/scenarios", _nested(300)),
        ("/_mock/clock/advance", _nested(300)),
        ("/v1/tasks/batch", '{"task_ids": ' + _nested(300) + "}"),
    ],
    ids=["scenarios", "clock", "batch"],
)
def test_deep_bodies_on_every_json_endpoint_are_400(api: Any, path: str, raw: str) -> None:
    assert_error(api.post(path, content=raw.encode(), headers=RAW_JSON), 400)


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("image_urls", ["https://a.example/a.png"] * 30_000, "at most 3 items (got 30000)"),
        ("prompt", "x" * 900_000, "at most 2000 characters (got 900000)"),
        ("x-extra", list(range(150_000)), None),
        ("x-extra", {str(i): i for i in range(50_000)}, None),
    ],
    ids=["image-urls", "prompt", "unknown-array", "unknown-object"],
)
def test_huge_arrays_and_strings_within_the_body_limit(
    api: Any, field: str, value: Any, words: str | None
) -> None:
    response = api.post(GENERATE, json={**VALID_BODY, field: value}, headers=AUTH)
    if words is None:
        assert response.status_code == 200, response.text[:300]  # ignored, and not stored
        task = api.get(f"/_mock/tasks/{response.json()['id']}").json()
        assert field not in task["request"]
    else:
        assert words in assert_error(response, 400, field)["message"]


def test_a_batch_of_ten_thousand_ids_is_refused_by_its_limit(api: Any) -> None:
    ids = [f"task-unified-1-{i:08d}" for i in range(10_000)]
    assert (
        "at most 50 items"
        in assert_error(api.post("/v1/tasks/batch", json={"task_ids": ids}, headers=AUTH), 400)["message"]
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("model", "qwen-image-edit\u0000"),
        ("image_urls", ["https://a.example/a\u0000.png"]),
        ("callback_url", "https://hooks.example.com/\u0000"),
        ("model", "\u202eqwen-image-edit"),
        ("image_urls", ["https://例え.テスト/猫.png\u0000"]),
    ],
    ids=["nul-model", "nul-image", "nul-callback", "bidi-model", "idn-nul"],
)
def test_nul_bytes_and_control_characters_where_they_cannot_be_are_400(
    api: Any, field: str, value: Any
) -> None:
    assert_error(api.post(GENERATE, json={**VALID_BODY, field: value}, headers=AUTH), 400, field)


def test_the_prompt_limit_counts_code_points_not_bytes_or_utf16_units(api: Any) -> None:
    create(api, {**VALID_BODY, "prompt": "🐱" * 2000})  # 8000 UTF-8 bytes, 4000 UTF-16 units
    error = assert_error(api.post(GENERATE, json={**VALID_BODY, "prompt": "🐱" * 2001}, headers=AUTH), 400)
    assert "got 2001" in error["message"]
    create(api, {**VALID_BODY, "prompt": "\u0000" * 2000})  # NUL is text in a prompt


@pytest.mark.parametrize(
    "path",
    ["/v1/tasks/%F0%9F%90%B1", "/v1/tasks/task-unified-%00", "/v1/tasks/task-unified-" + "%E2%80%AE" * 500],
    ids=["emoji", "nul", "bidi-long"],
)
def test_task_ids_in_any_encoding_answer_the_envelope(api: Any, path: str) -> None:
    response = api.get(path, headers=AUTH)
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code, "task_id")


def test_a_non_ascii_idempotency_key_is_400(api: Any) -> None:
    headers = {**AUTH, "Idempotency-Key": "ключ-ключ-ключ-ключ".encode()}
    assert_error(api.post(GENERATE, json=VALID_BODY, headers=headers), 400, "Idempotency-Key")


@pytest.mark.parametrize(
    "method,path,body,param",
    [
        ("POST", GENERATE, {**VALID_BODY, "prompt": 12}, "prompt"),
        ("POST", GENERATE, {**VALID_BODY, "image_urls": "https://a.example/a.png"}, "image_urls"),
        ("POST", GENERATE, {**VALID_BODY, "model": 1}, "model"),
        ("POST", "/_mock/clock/advance", {"seconds": "10"}, "seconds"),
        ("POST", "/_mock/clock/set", {"now": "1757156500"}, "now"),
        ("POST", "/_mock/keys/sk-test-owner", {"credits": "5"}, "credits"),
        ("POST", "/v1/tasks/batch", {"task_ids": "task-unified-1-abcdefgh"}, "task_ids"),
        ("GET", "/v1/tasks?page=1e3", None, "page"),
        ("GET", "/v1/tasks?page_size=-1", None, "page_size"),
        ("GET", "/v1/tasks?page=99999999999999999999", None, "page"),
    ],
    ids=[
        "prompt",
        "image-urls",
        "model",
        "seconds",
        "now",
        "credits",
        "task-ids",
        "page-exp",
        "negative",
        "huge",
    ],
)
def test_numbers_and_strings_in_each_others_place_are_400(
    api: Any, method: str, path: str, body: Any, param: str
) -> None:
    response = api.request(method, path, json=body, headers=AUTH)
    assert_error(response, 400, param)


@pytest.mark.parametrize(
    "path,raw",
    [
        ("/_mock/keys/sk-test-owner", b'{"credits": 1e400}'),
        ("/_mock/clock/advance", b'{"seconds": -1e400}'),
        (GENERATE, b'{"prompt": 1E999}'),
        ("/_mock/clock/advance", b'{"seconds": ' + b"9" * 5000 + b"}"),
        ("/_mock/keys/sk-test-owner", b'{"credits": 1' + b"0" * 400 + b"}"),
        (
            "/_mock/scenarios",
            b'{"name": "x", "outcome": {"timing": {"queue_seconds": 1' + b"0" * 400 + b"}}}",
        ),
    ],
    ids=[
        "credits-overflow",
        "negative-overflow",
        "prompt-overflow",
        "5000-digits",
        "credits-int",
        "timing-int",
    ],
)
def test_numbers_out_of_range_are_refused_at_parse(api: Any, path: str, raw: bytes) -> None:
    """Python reads 1e400 as infinity, which no JSON answer could carry back (the balance would
    print as ``Infinity``): refused as invalid JSON, like NaN."""
    error = assert_error(api.post(path, content=raw, headers=RAW_JSON), 400)
    assert "not valid JSON" in error["message"]
    assert api.get("/_mock/keys").json() == {"accounts": []}


def test_duplicate_keys_in_the_callback_url_take_the_last_one(api: Any) -> None:
    raw = (
        b'{"model": "qwen-image-edit", "prompt": "p", "image_urls": ["https://a.example/a.png"], '
        b'"callback_url": "http://127.0.0.1/cb", "callback_url": "https://hooks.example.com/cb"}'
    )
    task = api.post(GENERATE, content=raw, headers=RAW_JSON)
    assert task.status_code == 200, task.text
    assert (
        api.get(f"/_mock/tasks/{task.json()['id']}").json()["request"]["callback_url"].startswith("https://")
    )


@pytest.mark.parametrize(
    "pattern", ["(?<name>x)", "\\p{L}+", "(?i"], ids=["ecma-group", "unicode-class", "open"]
)
def test_a_scenario_regex_python_cannot_compile_is_400(api: Any, pattern: str) -> None:
    """The schema checks ECMA-262 syntax; the fake matches with Python's re: both must accept it."""
    scenario = {"name": "rx", "match": {"prompt_regex": pattern}, "outcome": {"complete": {}}}
    error = assert_error(api.post("/_mock/scenarios", json=scenario), 400, "scenarios")
    assert "prompt_regex" in error["message"]
    assert api.get("/_mock/scenarios").json() == {"scenarios": []}


def test_malformed_scenario_documents_are_400_not_500(api: Any) -> None:
    for body in ({"scenarios": [[None, None]]}, {"scenarios": [None]}, {"scenarios": "x"}, [{"name": "a"}]):
        assert_error(api.post("/_mock/scenarios", json=body), 400)


class TestHundredMegabytes:
    """A 100 MB body is refused once the limit is passed: read in chunks, never buffered."""

    TOTAL = 100 * 1024 * 1024
    CHUNK = 64 * 1024

    async def _post(self, declared: bool) -> tuple[httpx.Response, int, int]:
        import tracemalloc

        app = create_app(Settings(time_scale=0, seed=7), clock=ManualClock(START))
        chunk = b" " * self.CHUNK
        pulled = 0

        async def body() -> Any:
            nonlocal pulled
            for _ in range(self.TOTAL // self.CHUNK):
                pulled += len(chunk)
                yield chunk

        headers = {**RAW_JSON}
        if declared:
            headers["Content-Length"] = str(self.TOTAL)
        tracemalloc.start()
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://fake"
            ) as client:
                response = await client.post(GENERATE, content=body(), headers=headers)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return response, pulled, peak

    @pytest.mark.anyio
    async def test_streamed_without_a_length_it_stops_reading_past_the_limit(self) -> None:
        response, pulled, peak = await self._post(declared=False)
        assert_error(response, 413, code="request_too_large")
        limit = Settings().max_body_bytes
        assert limit < pulled <= limit + self.CHUNK  # read up to the limit and one chunk, no more
        assert peak < 4 * limit, f"peak {peak} bytes"  # memory flat: a few MB, not 100

    @pytest.mark.anyio
    async def test_a_declared_length_over_the_limit_is_refused_unread(self) -> None:
        response, pulled, peak = await self._post(declared=True)
        assert "104857600 bytes" in assert_error(response, 413)["message"]
        assert pulled <= self.CHUNK and peak < 2 * Settings().max_body_bytes

    def test_over_a_real_socket_the_413_comes_before_the_body(self) -> None:
        """The fake as users run it: headers announce 100 MB, not one byte of it is sent, and
        the answer comes at once (the server did not wait to buffer it)."""
        import socket

        from .test_cli import running, wait_healthy

        with running("--time-scale", "0") as (process, base):
            wait_healthy(base)
            host, port = base.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(
                    f"POST {GENERATE} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-x\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {self.TOTAL}\r\n\r\n".encode()
                )
                head = sock.recv(65536).decode("latin-1")
            assert head.startswith("HTTP/1.1 413 "), head[:200]
            assert process.poll() is None  # still serving
            with httpx.Client(base_url=base, timeout=5) as client:
                assert client.get("/_mock/health").status_code == 200


@pytest.mark.parametrize("query", ["page=²", "page_size=³", "page=١٢", "page=１"])
def test_digits_of_other_scripts_are_not_numbers(api: Any, query: str) -> None:
    """Found by `make fuzz`: ``"²".isdigit()`` is true but ``int("²")`` fails (it was a 500)."""
    assert_error(api.get(f"/v1/tasks?{query}", headers=AUTH), 400, query.split("=")[0])


def test_a_content_length_of_unicode_digits_is_not_a_500(api: Any) -> None:
    headers = {**RAW_JSON, "Content-Length": "²".encode("latin-1")}
    assert_error(api.post(GENERATE, content=b"{}", headers=headers), 400, "model")


@pytest.mark.anyio
async def test_an_image_host_sending_a_unicode_content_length_is_judged_not_a_crash() -> None:
    from mock_server.fixtures import catalog, fixture_bytes

    from .test_images_fetch import PUBLIC_IP, checker

    png = fixture_bytes(catalog()["valid-512.png"])

    def host(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[(b"content-length", "²".encode("latin-1"))], content=png)

    async def resolver(name: str, port: int) -> list[str]:
        return [PUBLIC_IP]

    verdict = await checker(
        allow_private=False, transport=httpx.MockTransport(host), resolver=resolver
    ).judge("https://images.example.com/a.png")
    assert verdict is not None  # a verdict (the bytes were read under the cap), not an exception
