"""Callback delivery on the manual clock: when, what, how often, and what is logged.

The seed page: POST when the task completes, fails or is cancelled; body = the task query
response; timeout 10 s; at most 3 retries after 1 s / 2 s / 4 s; 2xx is success, anything else
is retried. Retries count from the end of the failed attempt (docs/callbacks.md). Endpoints are
``httpx.MockTransport`` handlers behind the fake's policy transport: nothing leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
import pytest

from mock_server.callback_log import AttemptError, DeliveryOutcome
from mock_server.callbacks import USER_AGENT, DeliveryState
from mock_server.tasks import Failed, TaskStatus
from mock_server.webhook_signing import verify

from .callback_support import HOOK_HOST, HOOK_URL, PUBLIC_ADDRESS, Dns, Endpoint, running_fake
from .conftest import AUTH, DETAIL, GENERATE, VALID_BODY, schema_validator

pytestmark = pytest.mark.anyio

LISTING = schema_validator("mock/callbacks.json")


async def test_one_post_at_the_terminal_moment_with_the_get_body(clock: Any) -> None:
    endpoint = Endpoint(200)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        await fake.run_until(end - 0.001)
        assert endpoint.requests == []  # nobody polls, and nothing is sent before the end
        await fake.run_until(end)
        [request] = endpoint.requests
        assert request.method == "POST"
        assert request.url.host == PUBLIC_ADDRESS and request.headers["host"] == HOOK_HOST
        assert request.url.path == "/evolink"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == USER_AGENT
        assert USER_AGENT.startswith("evolink-mock-callback/")
        assert not any(name.startswith("webhook-") for name in request.headers)
        assert request.content == await fake.get_raw(task["id"])  # byte for byte what GET answers
        body = json.loads(request.content)
        DETAIL.validate(body)
        assert body["status"] == "completed" and body["progress"] == 100 and body["results"]
        [attempt] = fake.attempts(task["id"])
        assert (attempt.run, attempt.attempt, attempt.url) == (1, 1, HOOK_URL)
        assert attempt.scheduled_at == attempt.sent_at == attempt.ended_at == end
        assert (attempt.status_code, attempt.error, attempt.latency) == (200, None, 0)
        assert attempt.outcome is DeliveryOutcome.DELIVERED
        await fake.run_until(end + 3600)
        assert len(endpoint.requests) == 1


async def test_500_500_200_makes_three_attempts_one_then_two_seconds_apart(clock: Any) -> None:
    endpoint = Endpoint(500, 500, 200)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        await fake.run_until(end + 60)
        attempts = fake.attempts(task["id"])
        assert fake.offsets(task["id"], end) == [0, 1, 3]
        assert [a.attempt for a in attempts] == [1, 2, 3]
        assert [a.status_code for a in attempts] == [500, 500, 200]
        assert [a.error for a in attempts] == [AttemptError.HTTP_STATUS, AttemptError.HTTP_STATUS, None]
        assert [a.outcome.value for a in attempts] == ["pending", "pending", "delivered"]
        assert len({r.content for r in endpoint.requests}) == 1  # every retry carries the same body
        assert [d.state for d in fake.callbacks.deliveries(task["id"])] == [DeliveryState.DELIVERED]


async def test_all_failing_makes_exactly_four_attempts_then_gives_up(clock: Any) -> None:
    endpoint = Endpoint(default=503)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        await fake.run_until(end)
        [delivery] = fake.callbacks.deliveries(task["id"])
        assert delivery.next_attempt_at == end + 1  # 1 s after the first attempt ended
        await fake.run_until(end + 0.999)
        assert len(endpoint.requests) == 1
        await fake.run_until(end + 1)
        assert len(endpoint.requests) == 2
        await fake.run_until(end + 3600)
        assert fake.offsets(task["id"], end) == [0, 1, 3, 7]
        assert [a.outcome.value for a in fake.attempts(task["id"])] == [
            "pending",
            "pending",
            "pending",
            "given_up",
        ]
        [delivery] = fake.callbacks.deliveries(task["id"])
        assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (
            DeliveryState.GIVEN_UP,
            4,
            None,
        )
        assert len(endpoint.requests) == 4


async def test_a_hanging_receiver_times_out_after_ten_clock_seconds_then_the_retry_follows(
    clock: Any,
) -> None:
    endpoint = Endpoint("hang", 200)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        clock.set(end)
        await endpoint.wait_requests(1)
        clock.set(end + 9.999)
        assert fake.callbacks.in_flight() == 1 and fake.attempts() == []  # wall time does not count
        clock.set(end + 10)
        assert await fake.callbacks.idle(WAIT_IDLE)
        [timed_out] = fake.attempts(task["id"])
        assert (timed_out.error, timed_out.status_code) == (AttemptError.TIMEOUT, None)
        assert (timed_out.sent_at, timed_out.ended_at, timed_out.latency) == (end, end + 10, 10)
        assert fake.callbacks.deliveries(task["id"])[0].next_attempt_at == end + 11
        await fake.run_until(end + 60)
        assert fake.offsets(task["id"], end) == [0, 11]
        assert fake.attempts(task["id"])[-1].outcome is DeliveryOutcome.DELIVERED


WAIT_IDLE = 2.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(302, headers={"Location": "https://elsewhere.example.com/x"}),
        httpx.Response(308, headers={"Location": "https://elsewhere.example.com/x"}),
        httpx.Response(400),
        httpx.Response(404),
        httpx.Response(429),
        httpx.Response(199),
    ],
    ids=["302", "308", "400", "404", "429", "199"],
)
async def test_non_2xx_answers_are_failures_and_redirects_are_not_followed(clock: Any, answer: Any) -> None:
    endpoint = Endpoint(answer, 204)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        await fake.run_until(fake.end(task["id"]) + 60)
        first, second = fake.attempts(task["id"])
        assert (first.status_code, first.error) == (answer.status_code, AttemptError.HTTP_STATUS)
        assert (second.status_code, second.outcome) == (204, DeliveryOutcome.DELIVERED)
        assert [r.headers["host"] + r.url.path for r in endpoint.requests] == [f"{HOOK_HOST}/evolink"] * 2


@pytest.mark.parametrize(
    "error,kind",
    [
        (httpx.ConnectError("connection refused"), AttemptError.CONNECT_ERROR),
        (httpx.ReadError("connection reset by peer"), AttemptError.NETWORK_ERROR),
        (httpx.RemoteProtocolError("server disconnected"), AttemptError.NETWORK_ERROR),
        (httpx.ReadTimeout("wall cap"), AttemptError.TIMEOUT),
    ],
    ids=["connect", "reset", "protocol", "wall-cap"],
)
async def test_transport_failures_are_logged_by_kind_and_retried(
    clock: Any, error: Exception, kind: AttemptError
) -> None:
    endpoint = Endpoint(error, 200)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        await fake.run_until(end + 60)
        failed, delivered = fake.attempts(task["id"])
        assert (failed.error, failed.status_code, failed.outcome) == (kind, None, DeliveryOutcome.PENDING)
        assert failed.detail
        assert fake.offsets(task["id"], end) == [0, 1]
        assert delivered.outcome is DeliveryOutcome.DELIVERED


async def test_failed_tasks_get_their_callback_too(clock: Any) -> None:
    endpoint = Endpoint()
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create()
        fake.replan(
            task["id"], outcome=Failed("content_policy_violation", "Content blocked"), final_progress=60
        )
        end = fake.end(task["id"])
        await fake.run_until(end + 1)
        [request] = endpoint.requests
        body = json.loads(request.content)
        DETAIL.validate(body)
        assert body["status"] == "failed" and body["progress"] == 60
        assert body["error"]["code"] == "content_policy_violation" and "results" not in body
        assert request.content == await fake.get_raw(task["id"])


async def test_a_plan_ending_earlier_sends_at_once_and_one_ending_later_waits(clock: Any) -> None:
    endpoint = Endpoint()
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        early, late = await fake.create(), await fake.create()
        cancelled = Failed("request_cancelled", "Cancelled by the user", status=TaskStatus.CANCELLED)
        now = clock.now()
        fake.replan(
            early["id"], starts_at=now, ends_at=now, outcome=cancelled, final_progress=0
        )  # cancel now
        assert await fake.callbacks.idle(WAIT_IDLE)
        assert [b["status"] for b in endpoint.bodies()] == ["cancelled"]
        old_end = fake.end(late["id"])
        new_end = fake.replan(late["id"], ends_at=old_end + 30).ends_at
        await fake.run_until(old_end + 29)
        assert len(endpoint.requests) == 1  # the delivery read the task again and waited
        await fake.run_until(new_end)
        assert [b["id"] for b in endpoint.bodies()] == [early["id"], late["id"]]
        assert fake.attempts(late["id"])[0].sent_at == new_end


async def test_a_task_without_callback_url_schedules_nothing(clock: Any) -> None:
    endpoint = Endpoint()
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        task = await fake.create(callback_url=None)
        assert fake.callbacks.deliveries() == [] and clock.pending_timers() == 0
        await fake.run_until(fake.end(task["id"]) + 60)
        assert endpoint.requests == []


class TestUrlPolicyAtDelivery:
    """The address is checked again when the attempt is sent, on what the name resolves to then."""

    async def test_a_name_that_turned_private_is_refused_and_nothing_is_sent(self, clock: Any) -> None:
        dns, endpoint = Dns(), Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=dns) as fake:
            task = await fake.create()  # accepted: hooks.example.com is public now
            dns.table[HOOK_HOST] = ["10.0.0.7"]
            end = fake.end(task["id"])
            await fake.run_until(end + 60)
            attempts = fake.attempts(task["id"])
            assert [a.error for a in attempts] == [AttemptError.REFUSED_BY_POLICY] * 4
            assert "10.0.0.7" in (attempts[0].detail or "") and "forbidden" in (attempts[0].detail or "")
            assert attempts[-1].outcome is DeliveryOutcome.GIVEN_UP
            assert fake.offsets(task["id"], end) == [0, 1, 3, 7]
            assert endpoint.requests == []

    async def test_a_refused_attempt_is_retried_and_succeeds_once_the_name_is_public_again(
        self, clock: Any
    ) -> None:
        dns, endpoint = Dns(), Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=dns) as fake:
            task = await fake.create()
            dns.table[HOOK_HOST] = ["127.0.0.1"]
            end = fake.end(task["id"])
            await fake.run_until(end)
            dns.table[HOOK_HOST] = [PUBLIC_ADDRESS]
            await fake.run_until(end + 60)
            refused, delivered = fake.attempts(task["id"])
            assert refused.error is AttemptError.REFUSED_BY_POLICY and "loopback" in (refused.detail or "")
            assert delivered.outcome is DeliveryOutcome.DELIVERED
            assert [r.url.host for r in endpoint.requests] == [PUBLIC_ADDRESS]

    async def test_relaxed_plain_http_is_refused_once_the_host_is_public(self, clock: Any) -> None:
        dns, endpoint = Dns({HOOK_HOST: ["192.168.1.20"]}), Endpoint()
        async with running_fake(
            clock, transport=endpoint.transport, resolver=dns, allow_private_urls=True
        ) as fake:
            task = await fake.create(f"http://{HOOK_HOST}/evolink")  # private: http allowed, relaxed
            dns.table[HOOK_HOST] = [PUBLIC_ADDRESS]
            await fake.run_until(fake.end(task["id"]))
            [refused] = fake.attempts(task["id"])
            assert refused.error is AttemptError.REFUSED_BY_POLICY and "https://" in (refused.detail or "")
            assert endpoint.requests == []

    async def test_a_name_that_does_not_resolve_at_delivery_is_refused(self, clock: Any) -> None:
        dns, endpoint = Dns(), Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=dns) as fake:
            task = await fake.create()
            del dns.table[HOOK_HOST]
            await fake.run_until(fake.end(task["id"]))
            [attempt] = fake.attempts(task["id"])
            assert attempt.error is AttemptError.REFUSED_BY_POLICY and "resolve" in (attempt.detail or "")


class TestUrlPolicyAtSubmit:
    """The full matrix is in test_callback_url_policy.py; here: a refused URL schedules nothing."""

    @pytest.mark.parametrize(
        "url",
        ["http://hooks.example.com/cb", "https://2130706433/cb", "https://10.0.0.1/cb", "https://[::1]/cb"],
    )
    async def test_refused_at_submit_and_nothing_is_scheduled(self, clock: Any, url: str) -> None:
        async with running_fake(clock, transport=Endpoint().transport, resolver=Dns()) as fake:
            response = await fake.client.post(
                GENERATE, json={**VALID_BODY, "callback_url": url}, headers=AUTH
            )
            assert response.status_code == 400 and response.json()["error"]["param"] == "callback_url"
            assert fake.callbacks.deliveries() == []

    async def test_a_2048_character_url_is_delivered_to_exactly(self, clock: Any) -> None:
        endpoint = Endpoint()
        url = HOOK_URL + "/" + "a" * (2048 - len(HOOK_URL) - 1)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create(url)
            await fake.run_until(fake.end(task["id"]))
            [request] = endpoint.requests
            assert len(url) == 2048 and request.url.path == url.removeprefix(f"https://{HOOK_HOST}")


SECRET = "whsec_" + base64.b64encode(b"a test signing key").decode()


async def test_signing_adds_standard_webhooks_headers_stable_across_retries(clock: Any) -> None:
    endpoint = Endpoint(500, 200)
    async with running_fake(
        clock, transport=endpoint.transport, resolver=Dns(), callback_secret=SECRET
    ) as fake:
        task = await fake.create()
        end = fake.end(task["id"])
        await fake.run_until(end + 60)
        first, second = endpoint.requests
        for request, sent_at in ((first, end), (second, end + 1)):
            headers = request.headers
            assert headers["webhook-id"] == task["id"]
            assert headers["webhook-timestamp"] == str(int(sent_at))
            signed = f"{task['id']}.{headers['webhook-timestamp']}.".encode() + request.content
            digest = hmac.new(b"a test signing key", signed, hashlib.sha256).digest()
            assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
            assert verify(SECRET, headers, request.content)
            assert not verify(SECRET, headers, request.content + b" ")
        assert "whsec_" not in repr(fake.service.settings)


class TestControlApi:
    async def test_listing_shows_every_attempt_and_delivery_and_filters_by_task(self, clock: Any) -> None:
        endpoint = Endpoint(500, 200)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            first, second = await fake.create(), await fake.create()
            await fake.run_until(max(fake.end(first["id"]), fake.end(second["id"])) + 60)
            listing = (await fake.client.get("/_mock/callbacks")).json()
            LISTING.validate(listing)
            assert len(listing["attempts"]) == 3 and listing["dropped"] == 0
            assert {d["task_id"]: d["outcome"] for d in listing["deliveries"]} == {
                first["id"]: "delivered",
                second["id"]: "delivered",
            }
            one = (await fake.client.get("/_mock/callbacks", params={"task_id": second["id"]})).json()
            LISTING.validate(one)
            assert {a["task_id"] for a in one["attempts"]} == {second["id"]}
            assert [d["task_id"] for d in one["deliveries"]] == [second["id"]]
            attempt = one["attempts"][-1]
            assert attempt["sent_at"] >= attempt["scheduled_at"] and attempt["latency"] == 0

    async def test_a_pending_delivery_is_listed_with_its_next_attempt(self, clock: Any) -> None:
        async with running_fake(clock, transport=Endpoint().transport, resolver=Dns()) as fake:
            task = await fake.create()
            [delivery] = (await fake.client.get("/_mock/callbacks")).json()["deliveries"]
            assert delivery == {
                "task_id": task["id"],
                "url": HOOK_URL,
                "run": 1,
                "state": "scheduled",
                "outcome": "pending",
                "attempts": 0,
                "next_attempt_at": fake.end(task["id"]),
            }

    async def test_redeliver_sends_a_new_run_now(self, clock: Any) -> None:
        endpoint = Endpoint(default=500)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            await fake.run_until(end + 60)
            assert fake.attempts(task["id"])[-1].outcome is DeliveryOutcome.GIVEN_UP
            endpoint.default = 200
            response = await fake.client.post(f"/_mock/callbacks/{task['id']}/redeliver")
            assert response.status_code == 202
            LISTING.validate({"attempts": [], "deliveries": [response.json()], "dropped": 0})
            assert response.json()["run"] == 2
            assert await fake.callbacks.idle(WAIT_IDLE)
            last = fake.attempts(task["id"])[-1]
            assert (last.run, last.attempt, last.sent_at, last.outcome) == (
                2,
                1,
                end + 60,
                DeliveryOutcome.DELIVERED,
            )
            assert endpoint.requests[-1].content == endpoint.requests[0].content
            assert len(endpoint.requests) == 5

    async def test_redeliver_supersedes_a_scheduled_retry(self, clock: Any) -> None:
        endpoint = Endpoint(500)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            await fake.run_until(end + 0.5)  # attempt 1 failed; attempt 2 is due at end + 1
            await fake.client.post(f"/_mock/callbacks/{task['id']}/redeliver")
            await fake.run_until(end + 60)
            assert [(a.run, a.attempt, round(a.sent_at - end, 6)) for a in fake.attempts(task["id"])] == [
                (1, 1, 0),
                (2, 1, 0.5),
            ]

    async def test_redeliver_waits_for_the_attempt_in_flight(self, clock: Any) -> None:
        endpoint = Endpoint("hang", 200)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            clock.set(end)
            await endpoint.wait_requests(1)
            view = (await fake.client.post(f"/_mock/callbacks/{task['id']}/redeliver")).json()
            assert view["state"] == "in_flight"
            clock.set(end + 10)  # the hanging attempt times out; the new run starts at once
            assert await fake.callbacks.idle(WAIT_IDLE)
            assert [(a.run, a.attempt, a.sent_at - end) for a in fake.attempts(task["id"])] == [
                (1, 1, 0),
                (2, 1, 10),
            ]
            assert endpoint.most_active == 1  # attempts of one task never overlap

    @pytest.mark.parametrize("case", ["unknown", "running", "no-callback"])
    async def test_redeliver_refusals(self, clock: Any, case: str) -> None:
        async with running_fake(clock, transport=Endpoint().transport, resolver=Dns()) as fake:
            if case == "unknown":
                task_id, status = "task-unified-1757156493-nosuchid", 404
            else:
                task_id = (await fake.create(None if case == "no-callback" else HOOK_URL))["id"]
                if case == "no-callback":
                    await fake.run_until(fake.end(task_id))
                status = 400
            response = await fake.client.post(f"/_mock/callbacks/{task_id}/redeliver")
            assert response.status_code == status, response.text
            message = response.json()["error"]["message"]
            assert {"unknown": "not found", "running": "pending", "no-callback": "no callback_url"}[
                case
            ] in message

    async def test_advance_with_wait_steps_through_each_event_exactly(self, clock: Any) -> None:
        endpoint = Endpoint(default=500)
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            response = await fake.client.post(
                "/_mock/clock/advance", json={"seconds": end - clock.now() + 100, "wait": True}
            )
            assert response.status_code == 200 and response.json()["callbacks_in_flight"] == 0
            assert fake.offsets(task["id"], end) == [0, 1, 3, 7]

    async def test_advance_without_wait_jumps_and_attempts_cannot_answer_during_the_jump(
        self, clock: Any
    ) -> None:
        endpoint = Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            jump = {"seconds": end - clock.now() + 5, "wait": False}
            assert (await fake.client.post("/_mock/clock/advance", json=jump)).json()["now"] == clock.now()
            assert await fake.callbacks.idle(WAIT_IDLE)
            [attempt] = fake.attempts(task["id"])
            assert (attempt.sent_at, attempt.status_code) == (end, 200)  # fired in clock order
            assert attempt.ended_at == end + 5  # but answered only after the jump

    async def test_without_wait_a_timeout_inside_the_jump_fires(self, clock: Any) -> None:
        endpoint = Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            task = await fake.create()
            end = fake.end(task["id"])
            jump = {"seconds": end - clock.now() + 100, "wait": False}
            await fake.client.post("/_mock/clock/advance", json=jump)
            assert await fake.callbacks.idle(WAIT_IDLE)
            [attempt] = fake.attempts(task["id"])
            assert (attempt.error, attempt.ended_at) == (AttemptError.TIMEOUT, end + 10)
            await fake.client.post("/_mock/clock/advance", json={"seconds": 0})  # the retry, late
            assert fake.attempts(task["id"])[-1].outcome is DeliveryOutcome.DELIVERED

    async def test_reset_forgets_deliveries_and_attempts(self, clock: Any) -> None:
        endpoint = Endpoint()
        async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
            done, pending = await fake.create(), await fake.create()
            await fake.run_until(min(fake.end(done["id"]), fake.end(pending["id"])))
            assert (await fake.client.post("/_mock/reset")).status_code == 200
            assert (await fake.client.get("/_mock/callbacks")).json() == {
                "attempts": [],
                "deliveries": [],
                "dropped": 0,
            }
            sent = len(endpoint.requests)
            await fake.run_until(clock.now() + 3600)
            assert len(endpoint.requests) == sent


async def test_concurrency_is_bounded_across_tasks_and_a_queued_attempt_waits_its_turn(clock: Any) -> None:
    endpoint = Endpoint("hang", 200)
    async with running_fake(
        clock, transport=endpoint.transport, resolver=Dns(), callback_concurrency=1
    ) as fake:
        first, second = await fake.create(), await fake.create()
        end = max(fake.end(first["id"]), fake.end(second["id"]))
        fake.replan(first["id"], ends_at=end)
        fake.replan(second["id"], ends_at=end)
        clock.set(end)
        await endpoint.wait_requests(1)
        states = {d.task_id: d.state for d in fake.callbacks.deliveries()}
        assert states == {first["id"]: DeliveryState.IN_FLIGHT, second["id"]: DeliveryState.QUEUED}
        clock.set(end + 10)
        assert await fake.callbacks.idle(WAIT_IDLE)
        [queued] = fake.attempts(second["id"])
        assert (queued.scheduled_at, queued.sent_at, queued.outcome) == (
            end,
            end + 10,
            DeliveryOutcome.DELIVERED,
        )
        assert endpoint.most_active == 1


async def test_the_attempt_log_is_bounded(clock: Any) -> None:
    endpoint = Endpoint(default=500)
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns(), callback_log_size=3) as fake:
        task = await fake.create()
        await fake.run_until(fake.end(task["id"]) + 60)
        listing = (await fake.client.get("/_mock/callbacks")).json()
        assert [a["attempt"] for a in listing["attempts"]] == [2, 3, 4] and listing["dropped"] == 1


async def test_shutdown_reports_every_pending_delivery(clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    endpoint = Endpoint("hang")
    caplog.set_level(logging.WARNING, logger="mock_server.callbacks")
    async with running_fake(clock, transport=endpoint.transport, resolver=Dns()) as fake:
        hanging, waiting = await fake.create(), await fake.create()
        fake.replan(waiting["id"], ends_at=fake.end(hanging["id"]) + 100)
        clock.set(fake.end(hanging["id"]))
        await endpoint.wait_requests(1)
    [interrupted] = fake.attempts(hanging["id"])
    assert (interrupted.error, interrupted.outcome) == (AttemptError.INTERRUPTED, DeliveryOutcome.PENDING)
    reported = "\n".join(r.getMessage() for r in caplog.records)
    assert hanging["id"] in reported and waiting["id"] in reported
    assert "2 callback deliveries pending at shutdown" in reported
