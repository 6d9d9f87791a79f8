"""Targets: what the suite talks to, and what each can do.

``InProcessFake``  the fake built by the public factory ``mock_server.create_app`` on a manual
                   clock, spoken to over ``httpx.ASGITransport`` (no socket, no wall time).
``RemoteFake``     a fake at a URL; uses ``/_mock/*`` where the server has it.
``Live``           https://api.evolink.ai with a real key; waits in real time; spends credits.

Tests ask for capabilities with markers (``needs_clock``...); the plugin skips them, with the
reason, where the target lacks one. Capabilities of fakes are discovered over HTTP, so a fake
that gains an endpoint (callbacks, fixtures) gains the tests that need it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin

import httpx

from .budget import Budget
from .receiver import LoopbackServer, Receiver
from .schemas import model_contract

GENERATE = "/v1/images/generations"
TASK = "/v1/tasks/{task_id}"
LIVE_URL = "https://api.evolink.ai"
USER_AGENT = "evolink-contract-tests/0.1"
FAKE_KEY = "sk-contract-tests"
OTHER_FAKE_KEY = "sk-contract-tests-other-account"
FAKE_START = 1757156493.0
"""The in-process fake's clock starts at the documented example's ``created``."""
FIXTURES_PATH = "/_mock/fixtures/"
FIXTURE_NAME = "valid-512.jpg"
"""The input image fakes fetch from themselves: valid under every documented limit (512 px is
inside 512-4096 and 384-3072 px; jpeg is in every format list) and the cheapest to judge (a few
ms to decode, against about 30 ms for cat-1024.png: each test fetches it afresh after a reset)."""
FIXTURE_IMAGE = FIXTURES_PATH + FIXTURE_NAME
MISSING_FIXTURE = "evolink-contract-tests-missing.png"
"""A fixture name no fake serves: a well-formed image URL that answers 404."""
UNFETCHED_IMAGE = "https://images.example.com/cat-1024.png"
"""A well-formed image URL for fakes that do not fetch images (no fixtures, or checks off)."""
CALLBACK_HOST = "https://93.184.215.14"
"""Host of the in-process fake's callback URLs: public (so the strict URL policy admits it) and
literal (no DNS); deliveries go to the suite's receiver transport and never leave the process."""
FIXTURE_HOST = "https://93.184.215.14"
"""Host of the in-process fake's own fixture URLs, for the same reasons: its strict URL policy
admits it as it would a real image host, and the fetch is answered by the app itself through
``httpx.ASGITransport`` (no socket), so URL-policy checks stay strict while images are fetched."""
CANCEL_PATH = "/_mock/tasks/{task_id}/cancel"
UNFETCHABLE_IMAGE = "https://evolink-contract-tests.invalid/never.png"
"""For requests the live API must reject: if it wrongly accepts one, the task cannot fetch this
(``.invalid`` never resolves, RFC 6761), fails, and failed tasks are not charged."""


class Capability(StrEnum):
    CONTROL_CLOCK = "control-clock"
    INSPECT = "inspect"
    FORCE_OUTCOMES = "force-outcomes"
    CALLBACKS = "callbacks"
    FIXTURES = "fixtures"
    CHECKS_KEYS = "checks-keys"
    SECOND_ACCOUNT = "second-account"
    STRICT_URLS = "strict-urls"
    SPENDS_CREDITS = "spends-credits"
    VALID_IMAGES = "valid-images"
    FETCHES_IMAGES = "fetches-images"
    CANCELS = "cancels"


CAPABILITIES: dict[Capability, str] = {
    Capability.CONTROL_CLOCK: "moves time on request (POST /_mock/clock/advance): lifecycles cost no wall time",
    Capability.INSPECT: "shows its tasks' plans (GET /_mock/tasks)",
    Capability.FORCE_OUTCOMES: "lets a request ask for an outcome: X-Mock-Scenario naming an entry of its "
    "catalogue (GET /_mock/scenarios/catalogue), e.g. content-policy-violation",
    Capability.CALLBACKS: "calls the suite's callback receiver and logs attempts (GET /_mock/callbacks); "
    "a fake at a URL needs --allow-private-urls for the receiver on 127.0.0.1",
    Capability.FIXTURES: "serves input images it can fetch itself (GET /_mock/fixtures/NAME)",
    Capability.CHECKS_KEYS: "refuses unknown API keys (a fake with --api-key, or the live API)",
    Capability.SECOND_ACCOUNT: "offers a key of a second account (ownership checks)",
    Capability.STRICT_URLS: "refuses loopback/private callback hosts (the documented rule, not relaxed)",
    Capability.SPENDS_CREDITS: "charges credits for tasks: tests draw on --max-credits",
    Capability.VALID_IMAGES: "has image URLs the suite knows it accepts and can fetch, so tasks can complete "
    "(live: pass --image-url; a fake that fetches images: start it with --allow-private-urls)",
    Capability.FETCHES_IMAGES: "really fetches input images, so an unreachable one shows where image errors surface",
    Capability.CANCELS: "cancels a running task on request (POST /_mock/tasks/{task_id}/cancel in its /openapi.json)",
}


MARKERS: dict[str, Capability] = {
    "needs_clock": Capability.CONTROL_CLOCK,
    "needs_inspect": Capability.INSPECT,
    "needs_outcomes": Capability.FORCE_OUTCOMES,
    "needs_callbacks": Capability.CALLBACKS,
    "needs_fixtures": Capability.FIXTURES,
    "needs_key_check": Capability.CHECKS_KEYS,
    "needs_second_account": Capability.SECOND_ACCOUNT,
    "needs_strict_urls": Capability.STRICT_URLS,
    "needs_images": Capability.VALID_IMAGES,
    "needs_image_fetching": Capability.FETCHES_IMAGES,
    "needs_cancel": Capability.CANCELS,
}


class TargetError(Exception):
    """The target cannot be used (unreachable, or refused before anything was sent)."""


@dataclass
class Exchange:
    """One request and its response, as the checks and the drift report see them."""

    endpoint: str
    """Method and path template, e.g. ``GET /v1/tasks/{task_id}``: what findings are keyed on."""
    method: str
    url: str
    request_headers: dict[str, str]
    request_json: Any
    status: int
    headers: httpx.Headers
    content: bytes
    body: Any
    """Parsed JSON, or None when the body is not JSON."""
    at: float = 0.0
    """The target's clock when the response arrived (wall time for live)."""

    @property
    def is_json(self) -> bool:
        return self.body is not None

    def reproduce(self) -> dict[str, Any]:
        request: dict[str, Any] = {"method": self.method, "url": self.url, "headers": self.request_headers}
        if self.request_json is not None:
            request["json"] = self.request_json
        return request

    def summary(self) -> dict[str, Any]:
        body: Any = self.body
        if body is None:
            text = self.content[:300].decode("utf-8", "replace")
            body = text if text.isprintable() else f"<{len(self.content)} bytes>"
        return {"status": self.status, "body": body}


def _parse(content: bytes) -> Any:
    import json

    try:
        return json.loads(content)
    except ValueError:
        return None


@dataclass
class Target:
    """Base: HTTP with the key, budget accounting and the clock operations every target has."""

    name: str
    base_url: str
    key: str
    budget: Budget
    capabilities: set[Capability] = field(default_factory=set)
    created_tolerance: float = 1.0
    """Seconds ``created`` may differ from the target's clock at creation."""
    image_urls: list[str] = field(default_factory=list)
    other_key: str | None = None
    receiver: Receiver | None = None
    callback_base: str | None = None
    scenarios: frozenset[str] = field(default_factory=frozenset, repr=False)
    """Names the target's X-Mock-Scenario header accepts (its catalogue; fakes only)."""

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    # -- HTTP ------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str], json: Any) -> httpx.Response:
        raise NotImplementedError

    def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        auth: bool = True,
    ) -> Exchange:
        url = (
            path
            if path.startswith(("http://", "https://"))
            else urljoin(self.base_url + "/", path.lstrip("/"))
        )
        sent = {"User-Agent": USER_AGENT}
        if auth:
            sent["Authorization"] = f"Bearer {key if key is not None else self.key}"
        if json is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        response = self._send(method, url, sent, json)
        shown = dict(sent)
        if "Authorization" in shown:
            shown["Authorization"] = "Bearer <redacted>"
        return Exchange(
            endpoint=endpoint or f"{method} {path}",
            method=method,
            url=url,
            request_headers=shown,
            request_json=json,
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            body=_parse(response.content),
            at=self.now(),
        )

    def create(
        self, body: Any, *, headers: dict[str, str] | None = None, key: str | None = None, auth: bool = True
    ) -> Exchange:
        """A request meant to create a task: paid from the running test's reservation."""
        self.budget.draw(model_contract().credits_reserved)
        return self.send("POST", GENERATE, json=body, headers=headers, key=key, auth=auth)

    def submit_invalid(
        self, body: Any, *, headers: dict[str, str] | None = None, key: str | None = None, auth: bool = True
    ) -> Exchange:
        """A request the contract says must be rejected (free). If it creates a task anyway, the
        task is charged as an overrun (see budget.py)."""
        self.budget.guard_free()
        exchange = self.send("POST", GENERATE, json=body, headers=headers, key=key, auth=auth)
        if exchange.status == 200:
            self.budget.charge_unplanned(model_contract().credits_reserved)
        return exchange

    def get_task(self, task_id: str, *, key: str | None = None, auth: bool = True) -> Exchange:
        return self.send("GET", f"/v1/tasks/{task_id}", endpoint=f"GET {TASK}", key=key, auth=auth)

    def download(self, url: str) -> Exchange:
        """A result file: public, so the key is never sent (it may be another host)."""
        return self.send("GET", url, endpoint="GET <result file>", auth=False)

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of the target's time pass: the fake's clock, or real time on live."""
        if seconds > 0:
            threading.Event().wait(seconds)  # live only: the real API has no clock to move

    def reset(self) -> None:
        """Forget the tasks of the last test where the target allows it (fakes)."""

    def images(self, count: int = 1) -> list[str]:
        """``count`` image URLs that the target accepts and can fetch."""
        pool = self.image_urls or [UNFETCHED_IMAGE]
        return [pool[i % len(pool)] for i in range(count)]

    def rejected_images(self, count: int = 1) -> list[str]:
        """Image URLs for requests that must be rejected anyway (see ``UNFETCHABLE_IMAGE``)."""
        return self.images(count)

    def missing_image(self) -> str:
        """A well-formed image URL that cannot be fetched (for targets that fetch images)."""
        return UNFETCHABLE_IMAGE

    def fixture_url(self, name: str) -> str:
        """The URL of one of the target's own fixture images, as the target fetches it."""
        return self.base_url + FIXTURES_PATH + name

    def cancel(self, task_id: str) -> dict[str, Any]:
        """Cancel a running task (fakes with the control API's cancel): the task body it answers."""
        raise TargetError(f"target {self.name} cannot cancel tasks")

    def callback_url(self, behaviour: str, token: str) -> str:
        """A callback URL on the suite's receiver (``ok`` answers 200, ``fail`` 500)."""
        if self.receiver is None or self.callback_base is None:
            raise TargetError(f"target {self.name} has no callback receiver")
        return self.receiver.url(self.callback_base, behaviour, token)

    def callback_attempts(self, task_id: str) -> list[dict[str, Any]]:
        """The target's log of callback attempts for a task (fakes with /_mock/callbacks)."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base_url": self.base_url, "capabilities": sorted(self.capabilities)}

    def close(self) -> None:
        pass


class FakeTarget(Target):
    """A fake: its clock and inspection API under /_mock, discovered over HTTP."""

    def now(self) -> float:
        if not self.has(Capability.CONTROL_CLOCK):
            return time.time()
        return float(self._control("GET", "/_mock/clock")["now"])

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if not self.has(Capability.CONTROL_CLOCK):
            super().advance(seconds)
            return
        body: dict[str, Any] = {"seconds": seconds}
        if self.has(Capability.CALLBACKS):  # step event by event so callback attempts land in order
            body["wait"] = True
        self._control("POST", "/_mock/clock/advance", body)

    def callback_attempts(self, task_id: str) -> list[dict[str, Any]]:
        attempts: list[dict[str, Any]] = self._control("GET", f"/_mock/callbacks?task_id={task_id}")[
            "attempts"
        ]
        return attempts

    def cancel(self, task_id: str) -> dict[str, Any]:
        if not self.has(Capability.CANCELS):
            return super().cancel(task_id)
        body: dict[str, Any] = self._control("POST", CANCEL_PATH.format(task_id=task_id), {})
        return body

    def missing_image(self) -> str:
        return self.fixture_url(MISSING_FIXTURE)

    def reset(self) -> None:
        if self.has(Capability.CONTROL_CLOCK):
            self._control("POST", "/_mock/reset", {})
        if self.receiver is not None:
            self.receiver.clear()

    def _control(self, method: str, path: str, json: Any = None) -> Any:
        url = self.base_url + path
        response = self._send(method, url, {"User-Agent": USER_AGENT}, json)
        if response.status_code != 200:
            raise TargetError(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        return response.json()

    def discover(self) -> None:
        """Learn the fake's capabilities from the endpoints it answers (and what /_mock/health says)."""
        self._info: dict[str, Any] = {}
        try:
            health = self._send("GET", self.base_url + "/_mock/health", {}, None)
        except httpx.TransportError as exc:
            raise TargetError(f"{self.base_url} is unreachable: {exc}") from None
        if health.status_code != 200:
            return  # a server without the control API: public endpoints only
        self.capabilities |= {Capability.CONTROL_CLOCK, Capability.INSPECT}
        info = self._info = _parse(health.content) or {}
        if info.get("allow_private_urls") is False:
            self.capabilities.add(Capability.STRICT_URLS)
        if info.get("open_auth") is False:
            self.capabilities.add(Capability.CHECKS_KEYS)
        if self._send("GET", self.base_url + "/_mock/callbacks", {}, None).status_code == 200:
            self.capabilities.add(Capability.CALLBACKS)
        catalogue = self._send("GET", self.base_url + "/_mock/scenarios/catalogue", {}, None)
        listed = (_parse(catalogue.content) or {}) if catalogue.status_code == 200 else {}
        names = [s.get("name") for s in listed.get("scenarios", []) if isinstance(s, dict)]
        self.scenarios = frozenset(n for n in names if isinstance(n, str))
        if self.scenarios:
            self.capabilities.add(Capability.FORCE_OUTCOMES)
        described = self._send("GET", self.base_url + "/openapi.json", {}, None)
        paths = (_parse(described.content) or {}).get("paths", {}) if described.status_code == 200 else {}
        if isinstance(paths, dict) and CANCEL_PATH in paths:
            self.capabilities.add(Capability.CANCELS)
        fixture = self._send("GET", self.base_url + FIXTURE_IMAGE, {}, None)
        if fixture.status_code == 200 and fixture.headers.get("content-type", "").startswith("image/"):
            self.capabilities.add(Capability.FIXTURES)


class RemoteFake(FakeTarget):
    def __init__(self, base_url: str, key: str, budget: Budget) -> None:
        super().__init__("url", base_url.rstrip("/"), key, budget, created_tolerance=2.0)
        self._client = httpx.Client(timeout=30.0)
        self.discover()
        if self._info.get("image_check", "off") == "off":
            self.capabilities.discard(Capability.FIXTURES)  # served, but not fetched: any URL will do
            self.capabilities.add(Capability.VALID_IMAGES)
        elif self.has(Capability.FIXTURES) and not self.has(Capability.STRICT_URLS):
            self.image_urls = [self.base_url + FIXTURE_IMAGE]  # it can fetch its own loopback fixtures
            self.capabilities |= {Capability.FETCHES_IMAGES, Capability.VALID_IMAGES}
        if self._info.get("open_auth"):
            self.other_key = "sk-contract-tests-other-account"
            self.capabilities.add(Capability.SECOND_ACCOUNT)
        if self.has(Capability.CONTROL_CLOCK):
            clock = self._control("GET", "/_mock/clock")
            if clock.get("mode") == "real":  # the clock runs on: allow for its speed
                self.created_tolerance = 2.0 + 2.0 / max(float(clock.get("time_scale") or 1.0), 1e-3)
        self._server: LoopbackServer | None = None
        if self.has(Capability.CALLBACKS):
            if self.has(Capability.STRICT_URLS):  # it would refuse a loopback receiver
                self.capabilities.discard(Capability.CALLBACKS)
            else:
                self.receiver = Receiver()
                self._server = self.receiver.serve()
                self.callback_base = self._server.base_url

    def _send(self, method: str, url: str, headers: dict[str, str], json: Any) -> httpx.Response:
        return self._client.request(method, url, headers=headers, json=json)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._client.close()


class _SelfTransport(httpx.AsyncBaseTransport):
    """The in-process fake's input-image fetches, answered by the fake's own app (no socket).

    ``create_app`` needs the transport before the app exists, so the app is set afterwards. The
    fake's ``PolicyTransport`` still wraps this one: every URL passes its (strict) URL policy
    before it gets here."""

    def __init__(self) -> None:
        self.app: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.app is None:
            raise httpx.ConnectError("the fake's app is not built yet", request=request)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


class InProcessFake(FakeTarget):
    """The fake in this process, on a manual clock, through ``httpx.ASGITransport``.

    The app runs on an event loop in a helper thread (an anyio blocking portal), as a server
    would, so work the fake starts in the background (callback deliveries) makes progress.
    It fetches input images as a server does, from its own fixtures at ``FIXTURE_HOST``: the
    fetch passes its URL policy, then its own app answers it (``_SelfTransport``).
    """

    BASE = "http://evolink-fake.local"

    def __init__(self, budget: Budget, deviations: tuple[str, ...] = (), **settings: Any) -> None:
        super().__init__("fake", self.BASE, FAKE_KEY, budget, created_tolerance=1.0, other_key=OTHER_FAKE_KEY)
        from anyio.from_thread import start_blocking_portal

        from mock_server import ManualClock, Settings, create_app

        fields = {f.name: f for f in dataclasses.fields(Settings)}
        known = set(fields)
        options: dict[str, Any] = {
            "time_scale": 0,
            "seed": 7,
            "api_keys": (FAKE_KEY, OTHER_FAKE_KEY),
            **settings,
        }
        if deviations:
            if "deviations" not in known:
                raise TargetError("this version of the fake has no deviations (Settings.deviations)")
            options["deviations"] = tuple(deviations)
        unknown = sorted(set(options) - known)
        if unknown:
            raise TargetError(f"unknown fake settings: {', '.join(unknown)}")
        self.settings = Settings(**options)
        self.receiver = Receiver()
        extra: dict[str, Any] = {}
        parameters = inspect.signature(create_app).parameters
        if "callback_transport" in parameters:
            extra["callback_transport"] = self.receiver.transport()
            self.callback_base = CALLBACK_HOST
        images = _SelfTransport()
        if "image_transport" in parameters:
            extra["image_transport"] = images
        app = images.app = create_app(self.settings, clock=ManualClock(FAKE_START), **extra)
        self._stack = contextlib.ExitStack()
        self._portal = self._stack.enter_context(start_blocking_portal())
        self._stack.enter_context(self._portal.wrap_async_context_manager(app.router.lifespan_context(app)))
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30.0)
        self.discover()
        self.capabilities |= {Capability.CHECKS_KEYS, Capability.SECOND_ACCOUNT, Capability.VALID_IMAGES}
        if self.callback_base is None:
            self.capabilities.discard(Capability.CALLBACKS)
        fetches = (
            "image_transport" in parameters and str(getattr(self.settings, "image_check", "off")) == "on"
        )
        if not fetches:
            self.capabilities.discard(Capability.FIXTURES)  # served, but this app does not fetch
        elif self.has(Capability.FIXTURES):  # it fetches its own fixtures, through its URL policy
            self.image_urls = [self.fixture_url(FIXTURE_NAME)]
            self.capabilities.add(Capability.FETCHES_IMAGES)
        if not self.settings.allow_private_urls:
            self.capabilities.add(Capability.STRICT_URLS)

    def fixture_url(self, name: str) -> str:
        return FIXTURE_HOST + FIXTURES_PATH + name

    def _send(self, method: str, url: str, headers: dict[str, str], json: Any) -> httpx.Response:
        call = functools.partial(self._client.request, method, url, headers=headers, json=json)
        return self._portal.call(call)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._portal.call(self._client.aclose)
        self._stack.close()


class Live(Target):
    def __init__(self, key: str, budget: Budget, image_urls: list[str], timeout: float) -> None:
        super().__init__(
            "live",
            LIVE_URL,
            key,
            budget,
            capabilities={
                Capability.CHECKS_KEYS,
                Capability.STRICT_URLS,
                Capability.SPENDS_CREDITS,
                Capability.FETCHES_IMAGES,
            },
            created_tolerance=300.0,
            image_urls=list(image_urls),
        )
        if image_urls:
            self.capabilities.add(Capability.VALID_IMAGES)
        self.timeout = timeout
        self._client = httpx.Client(timeout=60.0)

    def _send(self, method: str, url: str, headers: dict[str, str], json: Any) -> httpx.Response:
        for attempt in range(3):  # honour 429 Retry-After (capped) as official clients do
            response = self._client.request(method, url, headers=headers, json=json)
            if response.status_code != 429 or attempt == 2:
                return response
            wait = response.headers.get("retry-after", "5")
            super().advance(min(float(wait) if wait.isdigit() else 5.0, 30.0))
        return response

    def rejected_images(self, count: int = 1) -> list[str]:
        return [UNFETCHABLE_IMAGE] * count

    def close(self) -> None:
        self._client.close()


@contextlib.contextmanager
def opened(target: Target) -> Iterator[Target]:
    try:
        yield target
    finally:
        target.close()
