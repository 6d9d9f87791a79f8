"""The loopback callback receiver, alone and end to end with the fake over real HTTPS.

Everything here talks to 127.0.0.1 only: the receiver binds it, and the fake runs with
``allow_private_urls`` and trusts the receiver's throwaway CA (``callback_ca``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server import RealClock
from mock_server.callback_log import AttemptError, DeliveryOutcome
from mock_server.callbacks import USER_AGENT
from mock_server.receiver import HANG, RESET, CallbackReceiver, Reply, slow
from mock_server.webhook_signing import verify

from .callback_support import running_fake
from .conftest import AUTH, DETAIL, GENERATE, START, VALID_BODY, make_client

BODY = json.dumps({"id": "task-unified-1-abc", "status": "completed"}).encode()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as started:
        yield started


class TestReceiverAlone:
    def test_answers_follow_the_script_then_the_default(self, receiver: CallbackReceiver) -> None:
        receiver.script(500, Reply(202, body=b"ok"), "reset", 200)
        receiver.set_default(204)
        with httpx.Client(verify=receiver.client_context(), timeout=2) as client:
            assert client.post(receiver.url, content=BODY).status_code == 500
            accepted = client.post(receiver.url, content=BODY)
            assert (accepted.status_code, accepted.content) == (202, b"ok")
            with pytest.raises(httpx.TransportError):
                client.post(receiver.url, content=BODY)
            assert client.post(receiver.url, content=BODY).status_code == 200
            assert client.post(receiver.url, content=BODY).status_code == 204
        seen = receiver.requests_for("task-unified-1-abc")
        assert [r.answer for r in seen] == ["500", "202", "reset", "200", "204"]
        assert seen[0].method == "POST" and seen[0].path == "/callback" and seen[0].body == BODY
        assert seen[0].status == "completed" and seen[0].json["id"] == "task-unified-1-abc"

    def test_scripts_per_task_come_first(self, receiver: CallbackReceiver) -> None:
        receiver.script(500, task_id="task-b")
        with httpx.Client(verify=receiver.client_context(), timeout=2) as client:
            assert client.post(receiver.url, content=b'{"id": "task-a"}').status_code == 200
            assert client.post(receiver.url, content=b'{"id": "task-b"}').status_code == 500
            assert client.post(receiver.url, content=b'{"id": "task-b"}').status_code == 200

    def test_a_slow_answer_takes_its_time(self, receiver: CallbackReceiver) -> None:
        receiver.script(slow(0.05, 201))
        with httpx.Client(verify=receiver.client_context(), timeout=2) as client:
            started = time.perf_counter()
            assert client.post(receiver.url, content=BODY).status_code == 201
            assert time.perf_counter() - started >= 0.05

    def test_hanging_and_slow_answers_do_not_hold_up_stop(self) -> None:
        receiver = CallbackReceiver().start()
        receiver.script(HANG, slow(60))
        errors: list[BaseException] = []

        def send() -> None:
            try:
                with httpx.Client(verify=receiver.client_context(), timeout=30) as client:
                    client.post(receiver.url, content=BODY)
            except httpx.TransportError as exc:
                errors.append(exc)

        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        receiver.wait_for("task-unified-1-abc", count=2)
        started = time.perf_counter()
        receiver.stop()
        assert time.perf_counter() - started < 10  # not the 60 s of the slow answer: stop cuts it
        for sender in senders:
            sender.join(5)
        assert len(errors) == 2  # both clients saw the connection close, without an answer

    def test_wait_for_times_out_saying_what_arrived(self, receiver: CallbackReceiver) -> None:
        with httpx.Client(verify=receiver.client_context(), timeout=2) as client:
            client.post(receiver.url, content=BODY)
        with pytest.raises(TimeoutError, match="task-unified-1-abc"):
            receiver.wait_for("task-unified-1-abc", status="failed", timeout=0.01)

    @pytest.mark.anyio
    async def test_wait_for_async_wakes_on_arrival(self, receiver: CallbackReceiver) -> None:
        async with httpx.AsyncClient(verify=receiver.client_context(), timeout=2) as client:
            await client.post(receiver.url, content=BODY)
        hit = await receiver.wait_for_async("task-unified-1-abc", status="completed")
        assert hit.answer == "200"

    def test_plain_http_mode(self) -> None:
        with CallbackReceiver(tls=False) as plain:
            assert plain.url.startswith("http://127.0.0.1:") and plain.ca_path is None
            assert httpx.post(plain.url, content=BODY).status_code == 200
            assert plain.wait_for("task-unified-1-abc").answer == "200"


@pytest.mark.anyio
class TestEndToEnd:
    async def test_500_500_200_over_https_on_the_manual_clock(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        receiver.script(500, 500, 200)
        async with running_fake(clock, allow_private_urls=True, callback_ca=receiver.ca_path) as fake:
            task = await fake.create(receiver.url)
            end = fake.end(task["id"])
            await fake.run_until(end + 60)
            assert fake.offsets(task["id"], end) == [0, 1, 3]
            assert [a.status_code for a in fake.attempts(task["id"])] == [500, 500, 200]
            hits = receiver.requests_for(task["id"])
            assert [h.answer for h in hits] == ["500", "500", "200"]
            assert hits[0].headers["content-type"] == "application/json"
            assert hits[0].headers["user-agent"] == USER_AGENT
            assert hits[0].body == await fake.get_raw(task["id"])
            DETAIL.validate(hits[0].json)
            assert len({h.body for h in hits}) == 1

    async def test_a_hanging_receiver_is_timed_out_by_the_clock(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        receiver.script(HANG, 200)
        async with running_fake(clock, allow_private_urls=True, callback_ca=receiver.ca_path) as fake:
            task = await fake.create(receiver.url)
            end = fake.end(task["id"])
            clock.set(end)
            await receiver.wait_for_async(task["id"])  # it holds the request, never answering
            clock.set(end + 10)
            assert await fake.callbacks.idle(5)
            await fake.run_until(end + 60)
            timed_out, delivered = fake.attempts(task["id"])
            assert (timed_out.error, timed_out.ended_at) == (AttemptError.TIMEOUT, end + 10)
            assert (delivered.sent_at, delivered.outcome) == (end + 11, DeliveryOutcome.DELIVERED)

    async def test_a_reset_is_a_network_error_then_retried(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        receiver.script(RESET)
        async with running_fake(clock, allow_private_urls=True, callback_ca=receiver.ca_path) as fake:
            task = await fake.create(receiver.url)
            end = fake.end(task["id"])
            await fake.run_until(end + 60)
            reset, delivered = fake.attempts(task["id"])
            assert reset.error is AttemptError.NETWORK_ERROR and delivered.ok
            assert fake.offsets(task["id"], end) == [0, 1]

    async def test_a_name_and_its_certificate_are_checked(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        url = receiver.url.replace("127.0.0.1", "localhost")  # pinned to 127.0.0.1, TLS name kept
        async with running_fake(clock, allow_private_urls=True, callback_ca=receiver.ca_path) as fake:
            task = await fake.create(url)
            await fake.run_until(fake.end(task["id"]))
            [attempt] = fake.attempts(task["id"])
            assert attempt.outcome is DeliveryOutcome.DELIVERED
            assert receiver.requests_for(task["id"])[0].headers["host"].startswith("localhost:")

    async def test_an_untrusted_certificate_is_a_connect_error(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        async with running_fake(clock, allow_private_urls=True) as fake:  # no callback_ca
            task = await fake.create(receiver.url)
            await fake.run_until(fake.end(task["id"]))
            [attempt] = fake.attempts(task["id"])
            assert attempt.error is AttemptError.CONNECT_ERROR
            assert "CERTIFICATE_VERIFY_FAILED" in (attempt.detail or "")
            assert receiver.received == []

    async def test_loopback_is_refused_without_the_relaxation(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        async with running_fake(clock, callback_ca=receiver.ca_path) as fake:
            response = await fake.client.post(
                GENERATE, json={**VALID_BODY, "callback_url": receiver.url}, headers=AUTH
            )
            assert response.status_code == 400 and "loopback" in response.json()["error"]["message"]

    async def test_plain_http_receiver_with_the_relaxation(self, clock: Any) -> None:
        with CallbackReceiver(tls=False) as plain:
            async with running_fake(clock, allow_private_urls=True) as fake:
                task = await fake.create(plain.url)
                await fake.run_until(fake.end(task["id"]))
                assert (await plain.wait_for_async(task["id"])).status == "completed"

    async def test_signed_callbacks_verify_at_the_receiver(
        self, clock: Any, receiver: CallbackReceiver
    ) -> None:
        secret = "whsec_" + base64.b64encode(b"receiver-side key").decode()
        async with running_fake(
            clock, allow_private_urls=True, callback_ca=receiver.ca_path, callback_secret=secret
        ) as fake:
            task = await fake.create(receiver.url)
            await fake.run_until(fake.end(task["id"]))
            hit = await receiver.wait_for_async(task["id"])
            assert hit.headers["webhook-id"] == task["id"] and verify(secret, hit.headers, hit.body)

    async def test_the_real_clock_scaled_runs_the_schedule_twenty_times_faster(
        self, receiver: CallbackReceiver
    ) -> None:
        receiver.set_default(500)
        clock = RealClock(START, time_scale=0.05)  # 1 clock second = 50 ms
        async with running_fake(clock, allow_private_urls=True, callback_ca=receiver.ca_path) as fake:
            task = await fake.create(receiver.url)
            fake.replan(task["id"], starts_at=clock.now(), ends_at=clock.now() + 1)
            await receiver.wait_for_async(task["id"], count=4, timeout=5)
            assert await fake.callbacks.idle(5)
            attempts = fake.attempts(task["id"])
            assert [a.attempt for a in attempts] == [1, 2, 3, 4]
            assert attempts[0].sent_at >= fake.end(task["id"])
            assert attempts[-1].outcome is DeliveryOutcome.GIVEN_UP
            for before, after, delay in zip(attempts, attempts[1:], [1, 2, 4], strict=False):
                gap = after.sent_at - before.ended_at
                assert delay <= gap + 1e-6 < delay + 1  # never early; late by loop scheduling only


def test_sync_tests_drive_the_fake_through_testclient_and_wait_on_the_receiver(
    clock: Any, receiver: CallbackReceiver
) -> None:
    receiver.script(503)
    with make_client(
        clock, allow_private_urls=True, callback_ca=receiver.ca_path, callback_transport=None
    ) as api:
        task = api.post(GENERATE, json={**VALID_BODY, "callback_url": receiver.url}, headers=AUTH).json()
        end = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]["ends_at"]
        state = api.post("/_mock/clock/advance", json={"seconds": end - clock.now() + 30}).json()
        assert state["callbacks_in_flight"] == 0
        hit = receiver.wait_for(task["id"], count=2)
        assert hit.answer == "200"
        listing = api.get("/_mock/callbacks", params={"task_id": task["id"]}).json()
        assert [a["status_code"] for a in listing["attempts"]] == [503, 200]
        assert [round(a["sent_at"] - end, 6) for a in listing["attempts"]] == [0, 1]


def test_moving_the_manual_clock_from_the_test_thread_hops_onto_the_apps_loop(
    clock: Any, receiver: CallbackReceiver
) -> None:
    with make_client(
        clock, allow_private_urls=True, callback_ca=receiver.ca_path, callback_transport=None
    ) as api:
        task = api.post(GENERATE, json={**VALID_BODY, "callback_url": receiver.url}, headers=AUTH).json()
        end = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]["ends_at"]
        clock.set(end)  # the event fires on this thread; the attempt runs on the app's loop
        assert receiver.wait_for(task["id"]).answer == "200"
        api.post("/_mock/clock/advance", json={"seconds": 0})  # waits for the attempt to land
        [attempt] = api.get("/_mock/callbacks").json()["attempts"]
        assert (attempt["sent_at"], attempt["outcome"]) == (end, "delivered")


def test_a_lifespan_restart_resumes_pending_deliveries(clock: Any, receiver: CallbackReceiver) -> None:
    api = make_client(clock, allow_private_urls=True, callback_ca=receiver.ca_path, callback_transport=None)
    with api:
        task = api.post(GENERATE, json={**VALID_BODY, "callback_url": receiver.url}, headers=AUTH).json()
        end = api.get(f"/_mock/tasks/{task['id']}").json()["plan"]["ends_at"]
    with api:  # started again, on a new event loop
        api.post("/_mock/clock/advance", json={"seconds": end - clock.now()})
        assert receiver.wait_for(task["id"]).status == "completed"
