"""GET /v1/tasks/{id}: pending -> processing -> completed on the clock, results that are real files."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from .conftest import AUTH, START, advance, assert_error, create, make_client, poll

ORDER = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}


def test_walks_pending_processing_completed_with_monotonic_progress(api: Any) -> None:
    task = create(api)
    seen: list[tuple[str, int]] = []
    for _ in range(80):
        detail = poll(api, task["id"])
        seen.append((detail["status"], detail["progress"]))
        advance(api, 0.5)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "pending" and "processing" in statuses and statuses[-1] == "completed"
    assert [ORDER[s] for s in statuses] == sorted(ORDER[s] for s in statuses)
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses)
    assert all(p == 0 for s, p in seen if s == "pending")
    assert all(0 <= p < 100 for s, p in seen if s == "processing")
    assert len({p for s, p in seen if s == "processing"}) > 5
    assert seen[-1][1] == 100


def test_documented_shape_by_status(api: Any) -> None:
    task = create(api)
    pending = poll(api, task["id"])
    assert pending["task_info"] == {"can_cancel": True, "estimated_time": 30}
    assert "results" not in pending and "error" not in pending
    plan = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]
    api.post("/_mock/clock/set", json={"now": (plan["starts_at"] + plan["ends_at"]) / 2})
    processing = poll(api, task["id"])
    assert processing["status"] == "processing" and 0 < processing["progress"] < 100
    assert processing["task_info"]["can_cancel"] is True
    api.post("/_mock/clock/set", json={"now": plan["ends_at"]})
    completed = poll(api, task["id"])
    assert completed["status"] == "completed" and completed["progress"] == 100
    assert completed["task_info"] == {"can_cancel": False}
    assert len(completed["results"]) == 1
    for key in ("created", "id", "model", "object", "type", "usage"):
        assert completed[key] == task[key]


def test_finishes_within_the_documented_estimate(api: Any) -> None:
    task = create(api)
    advance(api, task["task_info"]["estimated_time"] + 3)
    assert poll(api, task["id"])["status"] == "completed"


def test_results_are_images_on_the_fakes_own_host(api: Any) -> None:
    task = create(api)
    advance(api, 60)
    url = poll(api, task["id"])["results"][0]
    assert url.startswith("http://testserver/")
    path = url.removeprefix("http://testserver")
    parts = path.strip("/").split("/")
    assert len(parts[0]) == 18 and parts[0].isalnum() and parts[0].upper() == parts[0]
    assert parts[1] == "images" and parts[-1].endswith("_0.png") and len(parts[-1]) == 32 + len("_0.png")
    response = api.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (1024, 1024)
    assert api.get(url).content == response.content


def test_result_files_do_not_exist_before_completion_and_expire_after_24h(api: Any) -> None:
    task = create(api)
    plan = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]
    url = plan["result_files"][0]
    assert_error(api.get(url), 404)
    api.post("/_mock/clock/set", json={"now": plan["ends_at"]})
    assert api.get(url).status_code == 200
    api.post("/_mock/clock/set", json={"now": plan["ends_at"] + 86400 - 1})
    assert api.get(url).status_code == 200
    api.post("/_mock/clock/set", json={"now": plan["ends_at"] + 86400})
    assert_error(api.get(url), 404)


def test_task_expires_after_its_ttl(clock: Any) -> None:
    with make_client(clock, task_ttl=3600) as api:
        task = create(api)
        plan = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]
        api.post("/_mock/clock/set", json={"now": plan["ends_at"] + 3599})
        poll(api, task["id"])
        advance(api, 1)
        assert_error(api.get(f"/v1/tasks/{task['id']}", headers=AUTH), 404, "task_id", "task_not_found")


def test_public_url_setting_is_used_for_results(clock: Any) -> None:
    with make_client(clock, public_url="https://files.fake.test") as api:
        task = create(api)
        advance(api, 60)
        assert poll(api, task["id"])["results"][0].startswith("https://files.fake.test/")


class TestQueryErrors:
    @pytest.mark.parametrize("task_id", ["nope", "task-1757156493-abc", "TASK-UNIFIED-1-abc", "%20"])
    def test_malformed_id_is_400(self, api: Any, task_id: str) -> None:
        assert_error(api.get(f"/v1/tasks/{task_id}", headers=AUTH), 400, "task_id", "invalid_task_id")

    def test_unknown_id_is_404(self, api: Any) -> None:
        error = assert_error(
            api.get("/v1/tasks/task-unified-1757156493-zzzzzzzz", headers=AUTH), 404, "task_id"
        )
        assert error["code"] == "task_not_found"

    def test_no_auth_is_401(self, api: Any) -> None:
        task = create(api)
        assert_error(api.get(f"/v1/tasks/{task['id']}"), 401)

    def test_another_accounts_task_is_403_and_reveals_nothing(self, api: Any) -> None:
        task = create(api)
        response = api.get(f"/v1/tasks/{task['id']}", headers={"Authorization": "Bearer sk-someone-else"})
        assert_error(response, 403, "task_id", "permission_denied")
        assert "results" not in response.text and "prompt" not in response.text

    def test_foreign_task_status_404_setting(self, clock: Any) -> None:
        with make_client(clock, foreign_task_status=404) as api:
            task = create(api)
            response = api.get(f"/v1/tasks/{task['id']}", headers={"Authorization": "Bearer sk-other"})
            assert_error(response, 404, "task_id", "task_not_found")

    def test_keys_of_one_account_share_tasks(self, clock: Any) -> None:
        with make_client(clock, api_keys=("sk-a=team", "sk-b=team", "sk-c")) as api:
            task = create(api, headers={"Authorization": "Bearer sk-a"})
            poll(api, task["id"], headers={"Authorization": "Bearer sk-b"})
            response = api.get(f"/v1/tasks/{task['id']}", headers={"Authorization": "Bearer sk-c"})
            assert_error(response, 403)


def ids_and_plans(seed: int) -> list[Any]:
    from mock_server import ManualClock

    with make_client(ManualClock(START), seed=seed) as api:
        tasks = [create(api, headers={"Authorization": f"Bearer sk-{i % 2}"}) for i in range(5)]
        out = []
        for task in tasks:
            inspected = api.get(f"/_mock/tasks/{task['id']}").json()
            out.append((task["id"], inspected["plan"]))
        return out


def test_same_seed_same_ids_timings_and_result_names() -> None:
    assert ids_and_plans(11) == ids_and_plans(11)
    assert ids_and_plans(11) != ids_and_plans(12)


def test_ids_follow_the_documented_format(api: Any) -> None:
    ids = {create(api)["id"] for _ in range(50)}
    assert len(ids) == 50
    for task_id in ids:
        prefix, created, suffix = task_id.rsplit("-", 2)
        assert prefix == "task-unified" and created == str(int(START))
        assert len(suffix) == 8 and suffix.isalnum() and suffix.lower() == suffix
