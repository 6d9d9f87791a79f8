"""Shared fixtures: the fake in-process on a manual clock, and schema checks for its answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from starlette.testclient import TestClient

from mock_server import ManualClock, Settings, create_app
from mock_server.urlpolicy import UrlPolicy

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
START = 1757156493.0
GENERATE = "/v1/images/generations"
AUTH = {"Authorization": "Bearer sk-test-owner"}
IMAGE = "https://images.example.com/cat-1024.png"
VALID_BODY: dict[str, Any] = {
    "model": "qwen-image-edit",
    "prompt": "Replace the background",
    "image_urls": [IMAGE],
}


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.rglob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def schema_validator(name: str) -> Draft202012Validator:
    """An independent validator (python-jsonschema) for one schema file, formats checked."""
    schema = json.loads((SCHEMAS / name).read_text())
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=FormatChecker())


CREATED = schema_validator("task-created.json")
DETAIL = schema_validator("task-detail.json")
ERROR = schema_validator("error.json")


def assert_error(
    response: Any, status: int, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    ERROR.validate(body)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    if param is not None:
        assert body["error"]["param"] == param, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


async def no_dns(host: str, port: int) -> list[str]:
    """Tests never ask real DNS: any name not mapped by a test fails to resolve."""
    raise OSError(f"test resolver: {host} does not resolve")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_client(clock: ManualClock, **settings: Any) -> TestClient:
    resolver = settings.pop("resolver", no_dns)
    options = Settings(time_scale=0, seed=settings.pop("seed", 7), **settings)
    app = create_app(
        options, clock=clock, policy=UrlPolicy(allow_private=options.allow_private_urls, resolver=resolver)
    )
    return TestClient(app)


@pytest.fixture
def api(clock: ManualClock) -> Iterator[TestClient]:
    with make_client(clock) as client:
        yield client


def create(
    api: TestClient, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = api.post(GENERATE, json=body or VALID_BODY, headers=headers or AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    CREATED.validate(data)
    return data


def advance(api: TestClient, seconds: float) -> None:
    response = api.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def poll(api: TestClient, task_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.get(f"/v1/tasks/{task_id}", headers=headers or AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    DETAIL.validate(data)
    return data
