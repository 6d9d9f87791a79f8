"""Tests of ``evolink_client.py`` written the way its users would: against the evolink_fake
fixture of the pytest plugin (installing evolink-mock is all it takes), with no sleeps.

The client waits only through its ``sleep`` argument; the tests pass the fake's
``clock.advance``, so a poll interval, a Retry-After of 60 s or a 30 s task moves the fake's
clock instead of the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from evolink_client import Backoff, EvolinkClient, TaskFailed, TaskTimeout

from mock_server.receiver import CallbackReceiver
from mock_server.testing import EvolinkFake

PROMPT = "Put a small party hat on the cat"


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(evolink_fake: EvolinkFake, slept: list[float]) -> Iterator[EvolinkClient]:
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        evolink_fake.clock.advance(seconds)

    with EvolinkClient(evolink_fake.api_key, base_url=evolink_fake.base_url, sleep=sleep) as client:
        yield client


def cat(fake: EvolinkFake) -> list[str]:
    return [fake.fixtures.url("cat-1024.png")]


def test_an_edit_completes_with_an_image(client: EvolinkClient, evolink_fake: EvolinkFake) -> None:
    task = client.generate(PROMPT, cat(evolink_fake))

    assert task.status == "completed" and task.progress == 100 and len(task.results) == 1
    image = httpx.get(task.results[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_polling_backs_off_on_the_fakes_clock(
    client: EvolinkClient, evolink_fake: EvolinkFake, slept: list[float]
) -> None:
    started = evolink_fake.clock.now()
    task = client.generate(PROMPT, cat(evolink_fake))

    assert slept[:4] == [2.0, 3.0, 4.5, 6.75]  # Backoff(): x1.5 from 2 s, capped at 15 s
    ended = evolink_fake.tasks.get(task.id).plan.ends_at
    assert started + sum(slept[:-1]) < ended <= started + sum(slept)  # the first poll after the end


def test_a_task_failing_at_60_percent_raises(client: EvolinkClient, evolink_fake: EvolinkFake) -> None:
    evolink_fake.scenarios.use("content-policy-violation")

    with pytest.raises(TaskFailed) as failed:
        client.generate(PROMPT, cat(evolink_fake))

    assert failed.value.code == "content_policy_violation"
    assert evolink_fake.tasks.get(failed.value.task_id).progress == 60


def test_a_429_is_retried_after_its_retry_after(
    client: EvolinkClient, evolink_fake: EvolinkFake, slept: list[float]
) -> None:
    evolink_fake.scenarios.use("rate-limited", times=1)  # the next create only: 429, Retry-After: 60

    task = client.submit(PROMPT, cat(evolink_fake))

    assert slept == [60.0] and task.status == "pending"
    assert len(evolink_fake.tasks.list()) == 1


@pytest.mark.evolink(rate_limit="1/30")
def test_a_rate_limit_refills_on_the_clock(
    client: EvolinkClient, evolink_fake: EvolinkFake, slept: list[float]
) -> None:
    first = client.submit(PROMPT, cat(evolink_fake))
    second = client.submit(PROMPT, cat(evolink_fake))  # over the limit: waits Retry-After, then passes

    assert first.id != second.id
    assert len(slept) == 1 and 0 < slept[0] <= 30


def test_a_stuck_task_times_out(evolink_fake: EvolinkFake) -> None:
    evolink_fake.scenarios.use("stuck")
    backoff = Backoff(timeout=120)
    with EvolinkClient(
        evolink_fake.api_key,
        base_url=evolink_fake.base_url,
        sleep=evolink_fake.clock.advance,
        backoff=backoff,
    ) as client:
        with pytest.raises(TaskTimeout):
            client.generate(PROMPT, cat(evolink_fake))


def test_callbacks_are_retried_until_the_endpoint_accepts(
    client: EvolinkClient, evolink_fake: EvolinkFake, evolink_callback_receiver: CallbackReceiver
) -> None:
    receiver = evolink_callback_receiver
    receiver.script(500, 500, 200)  # the application's endpoint fails twice, then accepts

    task = client.submit(PROMPT, cat(evolink_fake), callback_url=receiver.url)
    evolink_fake.run_until_idle()

    hits = receiver.requests_for(task.id)
    assert [hit.answer for hit in hits] == ["500", "500", "200"]
    attempts = evolink_fake.callbacks.attempts(task.id)
    ended = evolink_fake.tasks.get(task.id).plan.ends_at
    assert [a.sent_at - ended for a in attempts] == [0.0, 1.0, 3.0]  # retried after 1 s, then 2 s
    assert client.handle_callback(hits[-1].body).status == "completed"


def test_the_transport_needs_no_socket(evolink_fake: EvolinkFake) -> None:
    with EvolinkClient(
        evolink_fake.api_key,
        base_url=evolink_fake.base_url,
        transport=evolink_fake.transport,
        sleep=evolink_fake.clock.advance,
    ) as client:
        evolink_fake.scenarios.use("generation-timeout")
        with pytest.raises(TaskFailed) as failed:
            client.generate(PROMPT, cat(evolink_fake))
    assert failed.value.code == "generation_timeout"


@pytest.mark.anyio
async def test_an_async_test_waits_for_the_callback(
    evolink_fake: EvolinkFake, evolink_callback_receiver: CallbackReceiver
) -> None:
    receiver = evolink_callback_receiver
    async with httpx.AsyncClient(base_url=evolink_fake.base_url, headers=evolink_fake.headers) as http:
        created = await http.post(
            "/v1/images/generations",
            json={
                "model": "qwen-image-edit",
                "prompt": PROMPT,
                "image_urls": cat(evolink_fake),
                "callback_url": receiver.url,
            },
        )
        task_id = created.json()["id"]
        await evolink_fake.run_until_idle_async()

    hit = await receiver.wait_for_async(task_id, status="completed")
    assert hit.json["results"] and hit.headers["content-type"] == "application/json"
