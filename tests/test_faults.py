"""Network-fault scenarios as a client meets them: over a real socket, and in-process."""

from __future__ import annotations

import json
import signal
from typing import Any

import httpx
import pytest

from .conftest import AUTH, GENERATE, VALID_BODY, create
from .test_cli import BODY, running, wait_healthy


@pytest.fixture(scope="module")
def server() -> Any:
    with running("--time-scale", "0", "--seed", "1", env={"EVOLINK_MOCK_IMAGE_CHECK": "off"}) as (
        process,
        base,
    ):
        wait_healthy(base)
        yield base
        process.send_signal(signal.SIGTERM)
        process.wait(10)


@pytest.mark.parametrize("name", ["connection-reset", "truncated-body"])
def test_dropped_connections_surface_as_transport_errors(server: str, name: str) -> None:
    headers = {**AUTH, "X-Mock-Scenario": name}
    with httpx.Client(base_url=server, timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(GENERATE, json=BODY, headers=headers)
        assert client.get("/_mock/health").status_code == 200  # the server lives on


def test_malformed_body_is_not_json(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        response = client.post(GENERATE, json=BODY, headers={**AUTH, "X-Mock-Scenario": "malformed-body"})
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_faults_apply_to_polls_too(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        task = client.post(GENERATE, json=BODY, headers=AUTH).json()
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"/v1/tasks/{task['id']}", headers={**AUTH, "X-Mock-Scenario": "connection-reset"})


def test_latency_delays_the_answer_but_not_the_task(api: Any) -> None:
    api.post(
        "/_mock/scenarios",
        json={
            "name": "slow",
            "match": {"prompt_contains": "slow"},
            "outcome": {"network": {"latency_seconds": 0.05}},
        },
    )
    task = create(api, {**VALID_BODY, "prompt": "slow please"})
    assert task["status"] == "pending"
    malformed = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "malformed-body"})
    assert malformed.content == b'{"id": "task-unified-'
