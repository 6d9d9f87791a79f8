"""Helpers for the callback tests: the fake in-process on the test's own event loop.

The app is driven through ``httpx.ASGITransport`` inside an async test, with its real lifespan,
so callback deliveries run on the same loop as the test and ``await fake.run_until(t)`` can wait
for them. Endpoints scripted here sit under ``httpx.MockTransport``: no packet leaves the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from mock_server import Clock, Settings, create_app
from mock_server.callback_log import Attempt
from mock_server.callbacks import Callbacks
from mock_server.config import ImageCheck
from mock_server.service import FakeService
from mock_server.tasks import Task, TaskPlan
from mock_server.urlpolicy import Resolver, UrlPolicy

from .conftest import AUTH, DETAIL, GENERATE, VALID_BODY, no_dns

HOOK_HOST = "hooks.example.com"
HOOK_URL = f"https://{HOOK_HOST}/evolink"
PUBLIC_ADDRESS = "93.184.215.14"
"""What the test resolver says HOOK_HOST is; MockTransport receives it, nothing connects to it."""
WAIT = 2.0
"""Wall seconds a step may wait for attempts in flight (only a hanging endpoint uses it up)."""


class Dns:
    """A resolver whose answers a test can change between submit and delivery."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {HOOK_HOST: [PUBLIC_ADDRESS]})
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"test resolver: {host} does not resolve")
        return list(self.table[host])


Answer = int | str | httpx.Response | Exception


class Endpoint:
    """A scripted callback endpoint for ``httpx.MockTransport``.

    Answers in order, then ``default``: a status, an ``httpx.Response``, an exception to raise
    (``httpx.ConnectError(...)``), or ``"hang"`` (never answer; the fake's clock timeout ends it).
    """

    def __init__(self, *answers: Answer, default: Answer = 200) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.default = default
        self.requests: list[httpx.Request] = []
        self.active = 0
        self.most_active = 0
        self._arrived = asyncio.Event()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)  # no await before the answer is chosen and counted
        answer = self.answers.popleft() if self.answers else self.default
        self._arrived.set()
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if answer == "hang":
                await asyncio.Event().wait()  # until the fake cancels the attempt
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
            assert isinstance(answer, int)
            return httpx.Response(answer)
        finally:
            self.active -= 1

    async def wait_requests(self, count: int) -> None:
        """Until ``count`` requests arrived (they arrive as soon as the loop runs the attempts)."""
        while len(self.requests) < count:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), 5)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Fake:
    client: httpx.AsyncClient
    service: FakeService
    clock: Clock

    @property
    def callbacks(self) -> Callbacks:
        return self.service.callbacks

    async def create(self, callback_url: str | None = HOOK_URL, **fields: Any) -> dict[str, Any]:
        body = {**VALID_BODY, **fields}
        if callback_url is not None:
            body["callback_url"] = callback_url
        response = await self.client.post(GENERATE, json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get_raw(self, task_id: str) -> bytes:
        response = await self.client.get(f"/v1/tasks/{task_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        DETAIL.validate(response.json())
        return response.content

    def task(self, task_id: str) -> Task:
        task = self.service.store.get(task_id)
        assert task is not None
        return task

    def end(self, task_id: str) -> float:
        return self.task(task_id).plan.ends_at

    def replan(self, task_id: str, **changes: Any) -> TaskPlan:
        """Change a task's plan in the store (what a later cancel does) and tell the callbacks."""
        task = self.task(task_id)
        plan = dataclasses.replace(task.plan, **changes)
        self.service.store.replace(dataclasses.replace(task, plan=plan))
        self.callbacks.reschedule(task_id)
        return plan

    async def run_until(self, target: float, wait: float = WAIT) -> bool:
        return await self.callbacks.run_until(target, wait)

    def attempts(self, task_id: str | None = None) -> list[Attempt]:
        return self.callbacks.attempts(task_id)

    def offsets(self, task_id: str, since: float) -> list[float]:
        """Each attempt's ``sent_at`` relative to ``since``, rounded off float noise."""
        return [round(a.sent_at - since, 6) for a in self.attempts(task_id)]


@asynccontextmanager
async def running_fake(
    clock: Clock,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver = no_dns,
    **settings: Any,
) -> AsyncIterator[Fake]:
    """The fake with its lifespan running, on ``clock``, its callbacks sent through ``transport``
    (None: the real network, for the loopback receiver)."""
    settings.setdefault("image_check", ImageCheck.OFF)
    options = Settings(time_scale=0, seed=settings.pop("seed", 7), **settings)
    policy = UrlPolicy(allow_private=options.allow_private_urls, resolver=resolver)
    app = create_app(options, clock=clock, policy=policy, callback_transport=transport)
    service: FakeService = app.state.service
    async with app.router.lifespan_context(app):
        asgi = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://fake.test") as client:
            yield Fake(client, service, clock)
