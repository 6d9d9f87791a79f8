"""The fake's own control API: clock, inspection, reset."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import START, advance, assert_error, create, poll


def test_clock_reads_and_advances(api: Any) -> None:
    state = api.get("/_mock/clock").json()
    assert state["now"] == START and state["mode"] == "manual"
    advance(api, 12.5)
    assert api.get("/_mock/clock").json()["now"] == START + 12.5


def test_clock_set_moves_forward_only(api: Any) -> None:
    assert api.post("/_mock/clock/set", json={"now": START + 100}).json()["now"] == START + 100
    error = assert_error(api.post("/_mock/clock/set", json={"now": START}), 400, "now")
    assert "back" in error["message"]


@pytest.mark.parametrize(
    "payload,param",
    [
        ({"seconds": -1}, "seconds"),
        ({"seconds": "5"}, "seconds"),
        ({}, "seconds"),
        ({"seconds": 1, "x": 2}, "x"),
    ],
)
def test_clock_advance_validates_its_body(api: Any, payload: dict[str, Any], param: str) -> None:
    assert_error(api.post("/_mock/clock/advance", json=payload), 400, param)


def test_tasks_listing_and_timeline(api: Any) -> None:
    first = create(api)
    create(api, headers={"Authorization": "Bearer sk-other"})
    listed = api.get("/_mock/tasks").json()["tasks"]
    assert [t["id"] for t in listed][0] == first["id"] and len(listed) == 2
    assert len(api.get("/_mock/tasks", params={"account": "sk-other"}).json()["tasks"]) == 1
    inspected = api.get(f"/_mock/tasks/{first['id']}").json()
    assert [step["status"] for step in inspected["timeline"]] == ["pending", "processing", "completed"]
    assert [step["reached"] for step in inspected["timeline"]] == [True, False, False]
    assert inspected["task"] == poll(api, first["id"])
    assert inspected["plan"]["starts_at"] < inspected["plan"]["ends_at"]


def test_unknown_task_in_control_api_is_404(api: Any) -> None:
    assert_error(api.get("/_mock/tasks/task-unified-1-nothere"), 404)


def test_reset_forgets_tasks_and_restarts_seeded_streams(api: Any) -> None:
    first = create(api)
    advance(api, 100)
    assert api.post("/_mock/reset").json() == {"reset": True}
    assert api.get("/_mock/tasks").json()["tasks"] == []
    assert api.get("/_mock/clock").json()["now"] == START
    assert create(api)["id"] == first["id"]


def test_health_and_openapi(api: Any) -> None:
    assert api.get("/_mock/health").json()["status"] == "ok"
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/images/generations" in spec["paths"] and "/v1/tasks/{task_id}" in spec["paths"]
    refs = re.findall(r"'\$ref': '([^']*)'", str(spec))
    assert refs and all(ref.startswith("#/components/") for ref in refs)
    for ref in refs:  # every reference resolves inside the one document
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node[part]
