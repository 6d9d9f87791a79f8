"""Every store of the fake is bounded, each by a setting with a documented default.

Tasks: expired ones are forgotten first (on every create), a live one never: a create that finds
``--max-tasks`` live tasks gets 503 with ``Retry-After``. Idempotency keys, image verdicts and
rendered results are bounded caches; the callback attempt log is bounded too (its test is in
test_callbacks.py; the soak checks all of them under load).
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_server import ManualClock
from mock_server.cli import main
from mock_server.config import IMAGE_CACHE_SIZE, MAX_IDEMPOTENCY_KEYS, MAX_TASKS, RESULT_CACHE_SIZE, Settings
from mock_server.service import FakeService

from .conftest import AUTH, GENERATE, VALID_BODY, advance, assert_error, create, make_client, poll

TTL = 100.0


def _key(n: int) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": f"order-{n:016d}"}


class TestTaskStore:
    def test_full_of_live_tasks_a_create_gets_503_and_no_live_task_is_dropped(
        self, clock: ManualClock
    ) -> None:
        with make_client(clock, max_tasks=3, task_ttl=TTL) as api:
            tasks = [create(api) for _ in range(3)]
            response = api.post(GENERATE, json=VALID_BODY, headers=AUTH)
            error = assert_error(response, 503, code="service_unavailable")
            assert "--max-tasks 3" in error["message"]
            service: FakeService = api.app.state.service  # type: ignore[attr-defined]
            soonest = min(service.store.get(t["id"]).plan.ends_at for t in tasks)  # type: ignore[union-attr]
            assert int(response.headers["retry-after"]) == pytest.approx(soonest + TTL - clock.now(), abs=1)
            assert [poll(api, t["id"])["status"] for t in tasks] == ["pending"] * 3
            assert api.get("/_mock/health").json()["tasks"] == 3

    def test_expired_tasks_make_room_and_are_forgotten_with_what_they_held(self, clock: ManualClock) -> None:
        with make_client(clock, max_tasks=3, task_ttl=TTL) as api:
            service: FakeService = api.app.state.service  # type: ignore[attr-defined]
            old = [api.post(GENERATE, json=VALID_BODY, headers=_key(i)).json() for i in range(2)]
            advance(api, 60 + TTL)  # both ended and expired
            live = create(api)
            fresh = create(api)
            assert len(service.store) == 2  # the two expired ones were forgotten, oldest first
            for task in old:
                assert_error(api.get(f"/v1/tasks/{task['id']}", headers=AUTH), 404, "task_id")
                assert task["id"] not in service.ledger.reservations
            assert len(service.idempotency) == 0
            assert {t.id for t in service.store} == {live["id"], fresh["id"]}

    def test_a_replay_is_still_answered_when_the_store_is_full(self, clock: ManualClock) -> None:
        with make_client(clock, max_tasks=1) as api:
            first = api.post(GENERATE, json=VALID_BODY, headers=_key(1))
            again = api.post(GENERATE, json=VALID_BODY, headers=_key(1))
            assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
            assert_error(api.post(GENERATE, json=VALID_BODY, headers=_key(2)), 503)

    def test_stuck_tasks_never_expire_so_the_503_has_no_retry_after(self, clock: ManualClock) -> None:
        stuck = {**AUTH, "X-Mock-Scenario": "stuck"}
        with make_client(clock, max_tasks=2, task_ttl=TTL) as api:
            for _ in range(2):
                assert api.post(GENERATE, json=VALID_BODY, headers=stuck).status_code == 200
            advance(api, 10 * TTL)
            response = api.post(GENERATE, json=VALID_BODY, headers=AUTH)
            assert_error(response, 503)
            assert "retry-after" not in response.headers

    def test_a_cancelled_task_expires_from_its_new_end(self, clock: ManualClock) -> None:
        with make_client(clock, max_tasks=2, task_ttl=TTL) as api:
            stuck = api.post(GENERATE, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "stuck"}).json()
            create(api)
            assert api.post(f"/_mock/tasks/{stuck['id']}/cancel").status_code == 200
            advance(api, TTL)
            create(api)  # the cancelled stuck task expired and made room
            assert_error(api.get(f"/v1/tasks/{stuck['id']}", headers=AUTH), 404)


def test_idempotency_keys_are_bounded_the_oldest_forgotten_first(clock: ManualClock) -> None:
    with make_client(clock, max_idempotency_keys=2) as api:
        first, second, third = (api.post(GENERATE, json=VALID_BODY, headers=_key(i)).json() for i in range(3))
        replay = api.post(GENERATE, json=VALID_BODY, headers=_key(2))
        assert replay.headers["idempotency-replayed"] == "true" and replay.json()["id"] == third["id"]
        forgotten = api.post(GENERATE, json=VALID_BODY, headers=_key(0))
        assert "idempotency-replayed" not in forgotten.headers and forgotten.json()["id"] != first["id"]
        assert len(api.app.state.service.idempotency) == 2  # type: ignore[attr-defined]


def test_the_caches_take_their_sizes_from_the_settings(clock: ManualClock) -> None:
    with make_client(clock, image_cache_size=2, result_cache_size=1) as api:
        service: FakeService = api.app.state.service  # type: ignore[attr-defined]
        assert service.images.cache.capacity == 2 and service.results.capacity == 1
        tasks = [create(api) for _ in range(2)]
        advance(api, 60)
        for task in tasks:
            link = poll(api, task["id"])["results"][0]
            assert api.get(link).headers["content-type"] == "image/png"
        assert len(service.results) == 1


def test_the_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert (
        (settings.max_tasks, settings.max_idempotency_keys)
        == (MAX_TASKS, MAX_IDEMPOTENCY_KEYS)
        == (
            100_000,
            100_000,
        )
    )
    assert (
        (settings.image_cache_size, settings.result_cache_size)
        == (IMAGE_CACHE_SIZE, RESULT_CACHE_SIZE)
        == (
            256,
            32,
        )
    )
    assert settings.callback_log_size == 10_000


@pytest.mark.parametrize(
    "option,value", [("--max-tasks", "0"), ("--max-idempotency-keys", "-1"), ("--image-cache-size", "x")]
)
def test_a_bad_limit_exits_2_in_one_line(capsys: pytest.CaptureFixture[str], option: str, value: str) -> None:
    assert main(["serve", option, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err


def test_limits_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from mock_server.cli import build_parser, settings_from

    monkeypatch.setenv("EVOLINK_MOCK_MAX_TASKS", "7")
    monkeypatch.setenv("EVOLINK_MOCK_RESULT_CACHE_SIZE", "3")
    settings: Any = settings_from(build_parser().parse_args(["serve", "--max-idempotency-keys", "9"]))
    assert (settings.max_tasks, settings.result_cache_size, settings.max_idempotency_keys) == (7, 3, 9)
