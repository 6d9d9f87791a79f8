"""POST /v1/images/generations: every documented constraint, at its limit and one past it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import AUTH, GENERATE, IMAGE, VALID_BODY, assert_error, create, make_client


def body(**changes: Any) -> dict[str, Any]:
    data = dict(VALID_BODY)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_valid_request_returns_the_documented_task_object(api: TestClient) -> None:
    task = create(api)
    assert task["object"] == "image.generation.task"
    assert task["status"] == "pending" and task["progress"] == 0
    assert task["type"] == "image" and task["model"] == "qwen-image-edit"
    assert task["task_info"] == {"can_cancel": True, "estimated_time": 30}
    assert task["usage"] == {"billing_rule": "per_call", "credits_reserved": 1, "user_group": "default"}
    assert task["id"].startswith(f"task-unified-{task['created']}-")


ACCEPTED = {
    "prompt-2000-chars": body(prompt="x" * 2000),
    "prompt-2000-non-ascii": body(prompt="猫" * 2000),
    "prompt-1-char": body(prompt="x"),
    "one-image": body(image_urls=[IMAGE]),
    "three-images": body(image_urls=[IMAGE] * 3),
    "callback-2048-chars": body(callback_url="https://hooks.example.com/" + "a" * (2048 - 26)),
    "callback-uppercase-scheme": body(callback_url="HTTPS://hooks.example.com/cb"),
    "unknown-fields-ignored": body(size="1024x1024", n=2, seed=5, mask_url=IMAGE),
}


@pytest.mark.parametrize("payload", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_accepted_at_the_limit(api: TestClient, payload: dict[str, Any]) -> None:
    create(api, payload)


REJECTED: dict[str, tuple[dict[str, Any], str, str]] = {
    "prompt-2001-chars": (body(prompt="x" * 2001), "prompt", "at most 2000 characters"),
    "prompt-empty": (body(prompt=""), "prompt", "must not be empty"),
    "prompt-missing": (body(prompt=...), "prompt", "prompt is required"),
    "prompt-number": (body(prompt=12), "prompt", "must be a string"),
    "prompt-null": (body(prompt=None), "prompt", "must be a string"),
    "model-missing": (body(model=...), "model", "model is required"),
    "model-unknown": (body(model="qwen-image"), "model", "must be one of: qwen-image-edit"),
    "model-number": (body(model=1), "model", "must be"),
    "images-missing": (body(image_urls=...), "image_urls", "image_urls is required"),
    "images-empty": (body(image_urls=[]), "image_urls", "at least 1 item"),
    "images-four": (body(image_urls=[IMAGE] * 4), "image_urls", "at most 3 items (got 4)"),
    "images-string": (body(image_urls=IMAGE), "image_urls", "must be an array"),
    "images-item-number": (body(image_urls=[IMAGE, 3]), "image_urls", "image_urls[1] must be a string"),
    "images-item-not-uri": (body(image_urls=["not a url"]), "image_urls", "valid URI"),
    "callback-2049-chars": (
        body(callback_url="https://hooks.example.com/" + "a" * (2049 - 26)),
        "callback_url",
        "at most 2048 characters",
    ),
    "callback-http": (body(callback_url="http://example.com/cb"), "callback_url", "https://"),
    "callback-ftp": (body(callback_url="ftp://example.com/cb"), "callback_url", "https://"),
    "callback-not-uri": (body(callback_url="nonsense"), "callback_url", "callback_url"),
    "callback-number": (body(callback_url=5), "callback_url", "must be a string"),
}


@pytest.mark.parametrize("payload,param,words", list(REJECTED.values()), ids=list(REJECTED))
def test_rejected_one_past_the_limit(
    api: TestClient, payload: dict[str, Any], param: str, words: str
) -> None:
    error = assert_error(api.post(GENERATE, json=payload, headers=AUTH), 400, param, "invalid_request")
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_nothing_is_stored_for_a_rejected_request(api: TestClient) -> None:
    api.post(GENERATE, json=body(prompt="x" * 2001), headers=AUTH)
    assert api.get("/_mock/tasks").json()["tasks"] == []


def test_first_failing_field_in_documented_order_is_reported(api: TestClient) -> None:
    payload = {"model": "nope", "prompt": "x" * 3000, "image_urls": [IMAGE] * 9}
    assert_error(api.post(GENERATE, json=payload, headers=AUTH), 400, "model")


def test_strict_fields_rejects_unknown_fields(clock: Any) -> None:
    with make_client(clock, strict_fields=True) as strict:
        error = assert_error(strict.post(GENERATE, json=body(size="1024x1024"), headers=AUTH), 400, "size")
        assert "unknown field size" in error["message"]
        create(strict)
