"""Shared fixtures: the fake in-process on a manual clock, and schema checks for its answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from starlette.testclient import TestClient

from mock_server import ManualClock, Settings, create_app
from mock_server.config import ImageCheck
from mock_server.urlpolicy import UrlPolicy

from .loopback_images import ImageServer

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


def _no_callback_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"tests: callback to {request.url} not sent", request=request)


NO_CALLBACK_NETWORK = httpx.MockTransport(_no_callback_network)
"""make_client's callbacks go nowhere (connect_error) unless a test passes ``callback_transport``
(``None`` for the real network, as the loopback receiver tests do): a public callback URL in a test
never leaves the process."""


@pytest.fixture
def anyio_backend() -> str:
    """``@pytest.mark.anyio`` tests run on asyncio (the loop the fake serves on)."""
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_client(clock: ManualClock, **settings: Any) -> TestClient:
    """The fake on ``clock``. Image URLs are not fetched unless a test passes
    ``image_check=ImageCheck.ON`` (tests/test_images*.py do, against a loopback server)."""
    resolver = settings.pop("resolver", no_dns)
    extra = {
        k: settings.pop(k) for k in ("timings", "image_transport", "callback_transport") if k in settings
    }
    extra.setdefault("callback_transport", NO_CALLBACK_NETWORK)
    settings.setdefault("image_check", ImageCheck.OFF)
    options = Settings(time_scale=0, seed=settings.pop("seed", 7), **settings)
    app = create_app(
        options,
        clock=clock,
        policy=UrlPolicy(allow_private=options.allow_private_urls, resolver=resolver),
        **extra,
    )
    return TestClient(app)


@pytest.fixture(scope="session")
def image_server_session() -> Iterator[ImageServer]:
    with ImageServer.running() as server:
        yield server


@pytest.fixture
def image_server(image_server_session: ImageServer) -> ImageServer:
    """The loopback image server (tests/loopback_images.py), its counters and files reset."""
    image_server_session.reset()
    return image_server_session


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
