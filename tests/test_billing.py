"""Credits, rate limits, cancellation, idempotency and the observed extra endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import (
    AUTH,
    GENERATE,
    VALID_BODY,
    advance,
    assert_error,
    create,
    make_client,
    poll,
    schema_validator,
)

CREDITS = schema_validator("credits.json")
TASK_LIST = schema_validator("task-list.json")


def balance(api: Any, headers: dict[str, str] = AUTH) -> float:
    body = api.get("/v1/credits", headers=headers).json()
    CREDITS.validate(body)
    return float(body["data"]["user"]["remaining_credits"])


class TestCredits:
    def test_create_reserves_and_credits_endpoint_reports(self, clock: Any) -> None:
        with make_client(clock, credits=10) as api:
            assert balance(api) == 10
            create(api)
            assert balance(api) == 9
            body = api.get("/v1/credits", headers=AUTH).json()
            assert body["success"] is True and body["data"]["token"]["used_credits"] == 1

    def test_running_out_mid_burst_gives_402_and_creates_nothing(self, clock: Any) -> None:
        with make_client(clock, credits=3) as api:
            statuses = [api.post(GENERATE, json=VALID_BODY, headers=AUTH).status_code for _ in range(5)]
            assert statuses == [200, 200, 200, 402, 402]
            error = assert_error(
                api.post(GENERATE, json=VALID_BODY, headers=AUTH), 402, code="insufficient_quota"
            )
            assert error["type"] == "insufficient_quota" and "billing" in error["fallback_suggestion"]
            assert len(api.get("/_mock/tasks").json()["tasks"]) == 3
            other = {"Authorization": "Bearer sk-other"}
            assert api.post(GENERATE, json=VALID_BODY, headers=other).status_code == 200

    def test_failed_tasks_are_refunded_when_they_fail(self, clock: Any) -> None:
        with make_client(clock, credits=5) as api:
            task = create(api, headers={**AUTH, "X-Mock-Scenario": "content-policy-violation"})
            assert balance(api) == 4
            plan = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]
            api.post("/_mock/clock/set", json={"now": plan["ends_at"] - 0.01})
            assert balance(api) == 4
            advance(api, 0.01)
            assert balance(api) == 5

    def test_balances_are_visible_and_settable(self, api: Any) -> None:
        create(api)
        accounts = api.get("/_mock/keys").json()["accounts"]
        assert accounts[0]["account"] == "sk-test-owner" and accounts[0]["used_credits"] == 1
        response = api.post("/_mock/keys/sk-test-owner", json={"credits": 0.5})
        assert response.status_code == 200 and response.json()["remaining_credits"] == 0.5
        assert_error(api.post(GENERATE, json=VALID_BODY, headers=AUTH), 402)
        assert_error(api.post("/_mock/keys/sk-test-owner", json={"credits": -1}), 400, "credits")

    def test_insufficient_credits_scenario(self, api: Any) -> None:
        headers = {**AUTH, "X-Mock-Scenario": "insufficient-credits"}
        assert_error(api.post(GENERATE, json=VALID_BODY, headers=headers), 402, code="insufficient_quota")


class TestRateLimit:
    def test_bucket_refills_on_the_clock(self, clock: Any) -> None:
        with make_client(clock, rate_limit="2/10") as api:
            create(api)
            create(api)
            response = api.post(GENERATE, json=VALID_BODY, headers=AUTH)
            error = assert_error(response, 429, code="rate_limit_exceeded")
            assert error["type"] == "rate_limit_error"
            assert response.headers["retry-after"] == "5"
            create(api, headers={"Authorization": "Bearer sk-other"})  # per key
            advance(api, 4.9)
            assert_error(api.post(GENERATE, json=VALID_BODY, headers=AUTH), 429)
            advance(api, 0.1)
            create(api)

    def test_off_by_default(self, api: Any) -> None:
        for _ in range(50):
            create(api)


class TestCancellation:
    def test_cancel_reads_failed_request_cancelled_and_refunds(self, clock: Any) -> None:
        with make_client(clock, credits=2) as api:
            task = create(api)
            plan = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]
            api.post("/_mock/clock/set", json={"now": (plan["starts_at"] + plan["ends_at"]) / 2})
            progress = poll(api, task["id"])["progress"]
            response = api.post(f"/_mock/tasks/{task['id']}/cancel")
            assert response.status_code == 200, response.text
            detail = poll(api, task["id"])
            assert detail["status"] == "failed" and detail["error"]["code"] == "request_cancelled"
            assert detail["progress"] == progress and detail["task_info"]["can_cancel"] is False
            assert balance(api) == 2
            advance(api, 100)
            assert poll(api, task["id"]) == detail

    def test_literal_cancelled_setting(self, clock: Any) -> None:
        with make_client(clock, cancelled_status="cancelled") as api:
            task = create(api)
            api.post(f"/_mock/tasks/{task['id']}/cancel")
            assert poll(api, task["id"])["status"] == "cancelled"

    def test_terminal_tasks_cannot_be_cancelled(self, api: Any) -> None:
        task = create(api)
        advance(api, 60)
        assert_error(api.post(f"/_mock/tasks/{task['id']}/cancel"), 409)
        assert_error(api.post("/_mock/tasks/task-unified-1-nothere/cancel"), 404)


class TestIdempotency:
    KEY = {"Idempotency-Key": "run-0123456789abcdef"}

    def test_replay_returns_the_original_task(self, api: Any) -> None:
        first = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, **self.KEY})
        again = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, **self.KEY})
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["idempotency-replayed"] == "true"
        assert "idempotency-replayed" not in first.headers
        assert len(api.get("/_mock/tasks").json()["tasks"]) == 1

    def test_same_key_other_body_is_a_conflict(self, api: Any) -> None:
        api.post(GENERATE, json=VALID_BODY, headers={**AUTH, **self.KEY})
        response = api.post(GENERATE, json={**VALID_BODY, "prompt": "other"}, headers={**AUTH, **self.KEY})
        assert_error(response, 409, "Idempotency-Key", "idempotency_conflict")

    def test_keys_are_per_account(self, api: Any) -> None:
        a = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, **self.KEY}).json()
        b = api.post(GENERATE, json=VALID_BODY, headers={"Authorization": "Bearer sk-b", **self.KEY}).json()
        assert a["id"] != b["id"]

    @pytest.mark.parametrize("key", ["short", "x" * 97, "has space in it 123", "ünïcödé-ünïcödé-1".encode()])
    def test_malformed_keys_are_400(self, api: Any, key: str | bytes) -> None:
        response = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, "Idempotency-Key": key})
        assert_error(response, 400, "Idempotency-Key")


class TestObservedEndpoints:
    def test_task_list_newest_first_paged_filtered_without_links(self, api: Any) -> None:
        ids = [create(api)["id"] for _ in range(3)]
        create(api, headers={"Authorization": "Bearer sk-other"})
        advance(api, 60)
        body = api.get("/v1/tasks", params={"page": 1, "page_size": 2}, headers=AUTH).json()
        TASK_LIST.validate(body)
        assert body["total"] == 3 and body["page"] == 1 and body["page_size"] == 2
        assert [t["id"] for t in body["data"]] == ids[::-1][:2]
        assert all("results" not in t for t in body["data"])
        page2 = api.get("/v1/tasks", params={"page": 2, "page_size": 2}, headers=AUTH).json()
        assert [t["id"] for t in page2["data"]] == ids[:1]
        assert api.get("/v1/tasks", params={"status": "pending"}, headers=AUTH).json()["total"] == 0
        assert_error(api.get("/v1/tasks", params={"page": 0}, headers=AUTH), 400, "page")
        assert_error(api.get("/v1/tasks", params={"status": "done"}, headers=AUTH), 400, "status")

    def test_batch_omits_unknown_and_foreign_ids(self, api: Any) -> None:
        mine = create(api)["id"]
        theirs = create(api, headers={"Authorization": "Bearer sk-other"})["id"]
        body = api.post(
            "/v1/tasks/batch", json={"task_ids": [mine, theirs, "task-unified-1-nothere"]}, headers=AUTH
        ).json()
        assert [t["id"] for t in body["data"]] == [mine]
        too_many = {"task_ids": [mine] * 51}
        assert_error(api.post("/v1/tasks/batch", json=too_many, headers=AUTH), 400, "task_ids")
