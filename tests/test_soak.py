"""Soak with faults: a thousand tasks at once, callbacks that succeed, fail, hang and reset.

Every task must end (completed, failed or cancelled) and every callback must end delivered, or
given up after exactly 4 attempts, each logged; nothing may pile up: memory (tracemalloc), fake
tasks, asyncio tasks, timers and file descriptors come back to where they were.

Two parts, for two reasons. The bulk (``test_a_thousand_tasks...``) sends callbacks through an
``httpx.MockTransport`` behind the fake's policy transport: it is fast (thousands of attempts in a
few seconds), exact (a hanging endpoint is a coroutine that never returns, a reset is the error
httpx raises for one) and opens no socket, so file descriptors measure the fake alone. The smaller
part (``test_real_sockets...``) sends over real TCP to receivers on 127.0.0.1 (plain http,
``allow_private_urls``), so real connects, resets and abandoned connections are covered too, and
its descriptors must all be closed again. Both drive the manual clock event by event: after each
step, every attempt that can end by itself has ended before the clock moves on, so a hanging
attempt ends exactly at its 10 s clock timeout and no wall time is spent waiting for it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mock_server import ManualClock
from mock_server.callback_log import AttemptError, DeliveryOutcome
from mock_server.callbacks import Callbacks
from mock_server.receiver import HANG, RESET, CallbackReceiver

from .callback_support import Fake, running_fake
from .conftest import AUTH, GENERATE, START, VALID_BODY

pytestmark = pytest.mark.anyio

TASKS = 1000
LOG_SIZE = 5000
"""Holds every attempt of the thousand tasks (about 2 900), so each is checked in the log."""
GROWTH_TASKS = 200
GROWTH_ROUNDS = 4
GROWTH_LOG = 200
"""Smaller than one round's attempts: the log is full from the first round on."""
GROWTH_LIMIT = 128 * 1024
"""Bytes the traced memory may grow from the end of round 2 to the end of round 4. Measured: about
70 KB, dicts and lists settling at their working sizes (the increments shrink to ~1 KB a round by
the sixth); a leak of the tasks would add some 400 KB a round (2 KB a task), of the attempts some
200 KB a round."""
SETTLE_LIMIT = 30.0
"""Wall seconds one clock step may take to settle before the soak is declared stuck."""

BEHAVIOURS = ("ok", "flaky", "fail", "hang", "reset", "refused", "none")
"""Where each task's callback goes: its host says how the endpoint behaves."""
EXPECTED: dict[str, tuple[DeliveryOutcome, list[AttemptError | None]] | None] = {
    "ok": (DeliveryOutcome.DELIVERED, [None]),
    "flaky": (DeliveryOutcome.DELIVERED, [AttemptError.HTTP_STATUS] * 2 + [None]),
    "fail": (DeliveryOutcome.GIVEN_UP, [AttemptError.HTTP_STATUS] * 4),
    "hang": (DeliveryOutcome.GIVEN_UP, [AttemptError.TIMEOUT] * 4),
    "reset": (DeliveryOutcome.GIVEN_UP, [AttemptError.NETWORK_ERROR] * 4),
    "refused": (DeliveryOutcome.GIVEN_UP, [AttemptError.CONNECT_ERROR] * 4),
    "none": None,
}


class Receivers:
    """One MockTransport handler for every soak host; the Host header says how it answers."""

    def __init__(self) -> None:
        self.hangs: set[asyncio.Task[Any]] = set()
        self.seen: Counter[str] = Counter()
        self.flaky: Counter[str] = Counter()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        kind = request.headers["host"].split(".", 1)[0]
        self.seen[kind] += 1
        if kind == "ok":
            return httpx.Response(200)
        if kind == "flaky":
            task_id = request.url.path.rsplit("/", 1)[-1]
            self.flaky[task_id] += 1
            if self.flaky[task_id] <= 2:
                return httpx.Response(500)
            del self.flaky[task_id]  # the soak's own bookkeeping must not grow either
            return httpx.Response(204)
        if kind == "fail":
            return httpx.Response(500)
        if kind == "reset":
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        if kind == "refused":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        assert kind == "hang", kind
        attempt = asyncio.current_task()  # the fake's attempt: the handler runs inside it
        assert attempt is not None
        self.hangs.add(attempt)
        try:
            await asyncio.Event().wait()  # until the fake's clock timeout cancels the attempt
        finally:
            self.hangs.discard(attempt)
        raise AssertionError("unreachable")

    def hanging(self) -> int:
        """Attempts hanging here that nothing has cancelled yet: they will never end by themselves.
        (Once its timeout fires, an attempt is being cancelled and ends on its own.)"""
        return sum(1 for attempt in self.hangs if not attempt.cancelling())


async def _dns(host: str, port: int) -> list[str]:
    """Every soak host is one public address (MockTransport receives it; nothing connects).
    Unlike ``callback_support.Dns`` it records nothing: the soak measures the fake's memory."""
    if not host.endswith(".hooks.test"):
        raise OSError(f"test resolver: {host} does not resolve")
    return ["93.184.215.14"]


async def settle(callbacks: Callbacks, hanging: Callable[[], int]) -> None:
    """Until every attempt in flight is one that will never end by itself (a hang)."""
    deadline = time.monotonic() + SETTLE_LIMIT
    while callbacks.in_flight() > hanging():
        await asyncio.sleep(0)  # one turn of the loop: in-process attempts end within a few
        assert time.monotonic() < deadline, f"{callbacks.in_flight()} attempts in flight, {hanging()} hang"


async def run_to_idle(fake: Fake, hanging: Callable[[], int]) -> int:
    """Step the manual clock from event to event until none is left; the number of steps."""
    steps = 0
    while True:
        await settle(fake.callbacks, hanging)
        due = fake.clock.next_due()
        if due is None and fake.callbacks.in_flight() == 0:
            return steps
        if due is None:  # attempts being cancelled by a timeout that just fired: they end soon
            await asyncio.sleep(0)
            continue
        fake.clock.set(max(due, fake.clock.now()))
        steps += 1


@dataclass
class Round:
    kinds: dict[str, str] = field(default_factory=dict)
    """task id -> behaviour of its callback endpoint."""
    cancelled: set[str] = field(default_factory=set)
    steps: int = 0


async def one_round(fake: Fake, receivers: Receivers, number: int, tasks: int = TASKS) -> Round:
    result = Round()

    async def create(i: int) -> None:
        kind = BEHAVIOURS[i % len(BEHAVIOURS)]
        body = {**VALID_BODY, "prompt": f"soak {number}.{i}"}
        if kind != "none":
            body["callback_url"] = f"https://{kind}.hooks.test/cb/{number}-{i}"
        headers = dict(AUTH)
        if i % 10 == 3:
            headers["X-Mock-Scenario"] = "service-error"  # fails at 40 %
        response = await fake.client.post(GENERATE, json=body, headers=headers)
        assert response.status_code == 200, response.text
        result.kinds[response.json()["id"]] = kind

    await asyncio.gather(*(create(i) for i in range(tasks)))  # all at once on the fake's loop
    assert len(result.kinds) == tasks
    for task_id in list(result.kinds)[::25]:  # some are cancelled while pending
        response = await fake.client.post(f"/_mock/tasks/{task_id}/cancel")
        assert response.status_code == 200, response.text
        result.cancelled.add(task_id)
    result.steps = await run_to_idle(fake, receivers.hanging)
    return result


async def check_round(fake: Fake, result: Round) -> Counter[str]:
    """Every task terminal; every callback delivered or given up after exactly 4 attempts."""
    endings: Counter[str] = Counter()
    listing = (await fake.client.get("/_mock/callbacks")).json()
    by_task: dict[str, list[dict[str, Any]]] = {}
    for attempt in listing["attempts"]:
        by_task.setdefault(attempt["task_id"], []).append(attempt)
    for task_id, kind in result.kinds.items():
        detail = (await fake.client.get(f"/v1/tasks/{task_id}", headers=AUTH)).json()
        assert detail["status"] in ("completed", "failed"), detail
        if task_id in result.cancelled:
            assert detail["error"]["code"] == "request_cancelled"
        endings[detail["status"]] += 1
        attempts = by_task.get(task_id, [])
        expected = EXPECTED[kind]
        if expected is None:
            assert attempts == []
            continue
        outcome, errors = expected
        assert [a["error"] for a in attempts] == [e and e.value for e in errors], (kind, attempts)
        assert [a["attempt"] for a in attempts] == list(range(1, len(errors) + 1))
        assert [a["outcome"] for a in attempts] == ["pending"] * (len(errors) - 1) + [outcome.value]
        endings[outcome.value] += 1
    return endings


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def forget_everything(fake: Fake) -> None:
    """Move past every task's retention and let the fake forget them (as the next create would)."""
    fake.clock.set(fake.clock.now() + fake.service.timings.task_ttl + 1)
    fake.service.sweep(fake.clock.now())


async def test_a_thousand_tasks_with_failing_hanging_and_resetting_callbacks() -> None:
    receivers = Receivers()
    transport = httpx.MockTransport(receivers.handle)
    gc.collect()
    fds = open_fds()
    started = time.monotonic()
    async with running_fake(
        ManualClock(START), transport=transport, resolver=_dns, callback_log_size=LOG_SIZE
    ) as fake:
        asyncio_tasks = len(asyncio.all_tasks())
        result = await one_round(fake, receivers, 0)
        endings = await check_round(fake, result)
        assert fake.callbacks.in_flight() == 0 and fake.clock.pending_timers() == 0
        assert len(asyncio.all_tasks()) == asyncio_tasks  # no attempt left running
        log = (await fake.client.get("/_mock/callbacks")).json()
        forget_everything(fake)
        service = fake.service
        assert len(service.store) == 0 and len(service.retention) == 0
        assert service.ledger.reservations == {} and len(service.idempotency) == 0
    elapsed = time.monotonic() - started
    gc.collect()
    attempts = sum(receivers.seen.values())
    print(  # noqa: T201 - the figures of the soak, shown with -s
        f"\nsoak: {TASKS} tasks, {attempts} attempts {dict(receivers.seen)}, {result.steps} clock steps, "
        f"endings {dict(endings)}, fds {fds} -> {open_fds()}, {elapsed:.1f} s"
    )
    per = TASKS // len(BEHAVIOURS)
    assert endings["delivered"] >= 2 * per and endings["given_up"] >= 4 * per
    assert endings["completed"] + endings["failed"] == TASKS
    assert len(log["attempts"]) == attempts and log["dropped"] == 0
    assert open_fds() == fds


async def test_memory_stays_flat_round_after_round(caplog: pytest.LogCaptureFixture) -> None:
    """Rounds of the same load; once the bounded structures are full (the attempt log and the
    finished deliveries it remembers, ``GROWTH_LOG`` entries), another round adds nothing.

    The fake's warnings (a delivery given up) are not recorded here: pytest keeps every record
    it captures until the test ends, which would be the test's growth, not the fake's."""
    caplog.set_level(logging.ERROR, logger="mock_server")
    receivers = Receivers()
    transport = httpx.MockTransport(receivers.handle)
    memory: list[int] = []
    async with running_fake(
        ManualClock(START), transport=transport, resolver=_dns, callback_log_size=GROWTH_LOG
    ) as fake:
        try:
            for number in range(GROWTH_ROUNDS):
                await one_round(fake, receivers, number, GROWTH_TASKS)
                forget_everything(fake)
                assert len(fake.service.store) == 0
                assert len(fake.callbacks.attempts()) == GROWTH_LOG  # the log is bounded ...
                assert len(fake.callbacks.deliveries()) <= GROWTH_LOG  # ... and so are finished deliveries
                gc.collect()
                if number == 0:  # a warm-up: caches and bounded structures fill, untraced
                    tracemalloc.start()
                memory.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
    print(f"\nsoak memory after each round of {GROWTH_TASKS} tasks: {memory}")  # noqa: T201
    growth = memory[-1] - memory[1]  # from the end of the second round to the end of the last
    assert growth < GROWTH_LIMIT, f"traced memory grew {growth} bytes over the last rounds: {memory}"


async def test_real_sockets_on_loopback_succeed_fail_hang_and_reset() -> None:
    """Plain HTTP to 127.0.0.1 only; every connection the fake opened is closed at the end."""
    gc.collect()
    fds = open_fds()
    answers = {"ok": 200, "fail": 500, "hang": HANG, "reset": RESET}
    receivers = {kind: CallbackReceiver(tls=False).start() for kind in answers}
    try:
        for kind, answer in answers.items():
            receivers[kind].set_default(answer)
        kinds: dict[str, str] = {}
        async with running_fake(ManualClock(START), transport=None, allow_private_urls=True) as fake:
            hang_url = receivers["hang"].url

            def hanging() -> int:
                ended = sum(1 for a in fake.attempts() if a.url == hang_url)
                return len(receivers["hang"].received) - ended

            async def create(i: int) -> None:
                kind = list(answers)[i % len(answers)]
                task = await fake.create(receivers[kind].url)
                kinds[task["id"]] = kind

            await asyncio.gather(*(create(i) for i in range(120)))
            await run_to_idle(fake, hanging)
            for task_id, kind in kinds.items():
                attempts = fake.attempts(task_id)
                if kind == "ok":
                    assert [a.outcome for a in attempts] == [DeliveryOutcome.DELIVERED]
                    continue
                error = {"fail": AttemptError.HTTP_STATUS, "hang": AttemptError.TIMEOUT}.get(
                    kind, AttemptError.NETWORK_ERROR
                )
                assert [a.error for a in attempts] == [error] * 4, (kind, attempts)
                assert attempts[-1].outcome is DeliveryOutcome.GIVEN_UP
            assert sum(len(r.received) for r in receivers.values()) == 30 * (1 + 4 + 4 + 4)
    finally:
        for receiver in receivers.values():
            receiver.stop()
    gc.collect()
    assert open_fds() == fds
