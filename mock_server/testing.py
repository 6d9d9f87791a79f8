"""The fake running inside a test: a real server on a loopback port, and a Python API to steer it.

    with EvolinkFake(seed=7) as fake:                  # manual clock, http://127.0.0.1:<free port>
        r = httpx.post(f"{fake.base_url}/v1/images/generations", headers=fake.headers, json={
            "model": "qwen-image-edit", "prompt": "Add a hat",
            "image_urls": [fake.fixtures.url("cat-1024.png")]})
        fake.run_until_idle()                          # every task ended, every callback delivered
        assert fake.tasks.get(r.json()["id"]).status == "completed"

The pytest plugin (``pytest_plugin.py``) builds these as fixtures; this module works without pytest.

Threads and loops: uvicorn serves the app from a daemon thread with its own event loop, so any
client (sync, async, a subprocess, another language) can reach ``base_url`` while the test
blocks. Every method here hands its work to that loop and waits for it, so the service is only
ever touched from one loop. The methods are sync; where waiting could hold up the caller's own
loop (moving the clock delivers callbacks, which a receiver on the test's loop must answer) there
are ``_async`` variants that await instead of blocking. ``transport`` sends requests through
the same loop without a socket.

Errors the fake logs (a 500, a crash in a callback attempt) are collected; ``check()`` raises
them, and the plugin calls it when a test ends.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, TypeVar

from . import schema_files
from ._loop_transport import LoopTransport
from ._server_thread import ServerError, ServerThread
from .app import create_app
from .callback_log import Attempt, DeliveryOutcome
from .callbacks import DeliveryView
from .config import CancelledStatus, ImageCheck, ImageErrors, Settings
from .errors import ConfigError, ErrorStyle, InvalidRequest, MockError, TaskNotFound
from .fixtures import catalog
from .scenarios import Source, check_document
from .service import FakeService
from .tasks import Task, TaskPlan, TaskStatus, detail_body, view_at

T = TypeVar("T")

DEFAULT_API_KEY = "sk-evolink-fake"
"""The key ``headers`` sends; the fake accepts any key unless ``api_keys`` is given."""
DEFAULT_CLOCK_START = 1_767_225_600.0
"""2026-01-01T00:00:00Z: with the fixed default seed, ids, timings and results repeat run to run.
Pass ``clock_start=None`` for the wall time at start-up."""
DEFAULT_SEED = 0
WAIT_TIMEOUT = float(schema_files.load("mock/clock-advance.json")["properties"]["wait_timeout"]["default"])
"""Wall seconds each clock step waits for callback attempts in flight (the control API's default)."""
IDLE_LIMIT = 3600.0
"""Clock seconds ``run_until_idle`` may move before it gives up (the slowest catalogue task takes 300)."""
CALL_TIMEOUT = 10.0
"""Wall seconds a quick call (no clock move) may take on the fake's loop."""

TEST_DEFAULTS: dict[str, Any] = {
    "time_scale": 0.0,
    "seed": DEFAULT_SEED,
    "clock_start": DEFAULT_CLOCK_START,
    "allow_private_urls": True,  # callback receivers and the fake's own test images are on loopback
    "port": 0,  # any free one
}
"""Where a fake for tests differs from ``Settings()``: a manual clock, fixed seed and start,
private URLs allowed, any free port."""

_ENUMS: dict[str, type[StrEnum]] = {
    "image_check": ImageCheck,
    "image_errors": ImageErrors,
    "error_style": ErrorStyle,
    "cancelled_status": CancelledStatus,
}
_NOT_OPTIONS = frozenset({"extra"})
EXTRA_OPTIONS = ("scenarios", "api_key", "wait_timeout")
"""Options that are not ``Settings`` fields (see ``EvolinkFake``)."""

ScenarioData = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]


class FakeNotIdle(MockError):
    """``run_until_idle`` could not reach idle: a task never ends, or the clock limit was hit."""


class FakeFailure(MockError):
    """The fake logged errors while it ran (a bug in the fake, or a crash it caught)."""


def option_names() -> list[str]:
    """Every option ``EvolinkFake`` and the ``evolink`` marker take."""
    fields = [f.name for f in dataclasses.fields(Settings) if f.name not in _NOT_OPTIONS]
    return sorted([*fields, *EXTRA_OPTIONS])


def fake_settings(**options: Any) -> Settings:
    """``Settings`` for a fake in tests: ``TEST_DEFAULTS`` overridden by ``options``.

    Names are ``Settings`` fields; enum fields take their string values (``image_check="off"``).
    A wrong name or value raises ``ConfigError`` saying which ones exist."""
    known = {f.name for f in dataclasses.fields(Settings)} - _NOT_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown evolink option(s) {', '.join(unknown)}; choose from {', '.join(option_names())}"
        )
    values = {**TEST_DEFAULTS, **options}
    for name, enum in _ENUMS.items():
        if name in values:
            try:
                values[name] = enum(values[name])
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                raise ConfigError(f"evolink option {name}={values[name]!r}: choose from {choices}") from None
    if isinstance(values.get("api_keys"), str):
        values["api_keys"] = (values["api_keys"],)
    values["api_keys"] = tuple(values.get("api_keys", ()))
    values["deviations"] = tuple(values.get("deviations", ()))
    return Settings(**values)


@dataclass(frozen=True, slots=True)
class TimelineStep:
    status: TaskStatus
    at: float
    """Clock time of the transition (``inf`` for a task that never ends)."""
    reached: bool


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task as the fake knows it, at the clock time it was read."""

    id: str
    status: TaskStatus
    progress: int
    plan: TaskPlan
    """When it starts and ends and how (``plan.outcome``, ``plan.final_progress``)."""
    timeline: tuple[TimelineStep, ...]
    detail: dict[str, Any]
    """What ``GET /v1/tasks/{id}`` answers now (result links on ``base_url``)."""
    task: Task

    @property
    def error_code(self) -> str | None:
        error = self.detail.get("error")
        return error.get("code") if isinstance(error, dict) else None


def _task_info(task: Task, now: float, base_url: str) -> TaskInfo:
    view = view_at(task, now)
    timeline = tuple(TimelineStep(status, at, at <= now) for status, at in task.plan.timeline())
    return TaskInfo(
        task.id, view.status, view.progress, task.plan, timeline, detail_body(task, now, base_url), task
    )


class FakeClock:
    """The fake's manual clock. Moving it fires every due event in clock order; each callback
    attempt an event starts finishes (or times out on the clock) before the next event fires."""

    def __init__(self, fake: EvolinkFake) -> None:
        self._fake = fake

    def now(self) -> float:
        return self._fake._call(lambda s: s.clock.now(), "clock.now")

    def advance(self, seconds: float) -> float:
        """Move ``seconds`` forward; returns the new time. Blocks the calling thread meanwhile."""
        return self._fake._run(self._advance(seconds), f"clock.advance({seconds})")

    async def advance_async(self, seconds: float) -> float:
        """``advance`` for async tests: the caller's loop runs on (a receiver on it can answer)."""
        return await self._fake._arun(self._advance(seconds))

    def set(self, now: float) -> float:
        """Move to the clock time ``now`` (never backwards), as ``advance`` does."""
        return self._fake._run(self._set(now), f"clock.set({now})")

    def _advance(self, seconds: float) -> Callable[[], Awaitable[float]]:
        async def on_loop() -> float:
            service = self._fake._service
            await service.callbacks.advance(float(seconds), self._fake.wait_timeout)
            return service.clock.now()

        return on_loop

    def _set(self, now: float) -> Callable[[], Awaitable[float]]:
        async def on_loop() -> float:
            service = self._fake._service
            if now < service.clock.now():
                service.clock.set(now)  # raises, saying the clock never moves back
            await service.callbacks.run_until(float(now), self._fake.wait_timeout)
            return service.clock.now()

        return on_loop


class FakeScenarios:
    """Scenarios (docs/scenarios.md): the ``X-Mock-Scenario`` header, or registered ones."""

    def __init__(self, fake: EvolinkFake) -> None:
        self._fake = fake

    def add(self, scenario: Mapping[str, Any]) -> list[str]:
        """Register one scenario object or a ``{"scenarios": [...]}`` document, in the file
        format; a scenario of the same name is replaced. Returns the names added."""
        data = copy.deepcopy(dict(scenario))
        return self._fake._call(lambda s: [x.name for x in s.scenarios.add_from_api(data)], "scenarios.add")

    def use(self, name: str, *, times: int | None = None, endpoint: str | None = None) -> str:
        """Make the next requests meet the scenario ``name`` (catalogue or registered) without
        naming it in a header: registers a copy named ``use-<name>`` that fits every request
        (``prompt_regex: "^"``) ahead of the other registered scenarios. ``times`` stops it after
        that many uses; ``endpoint`` (``create``, ``get``, ``any``) overrides the one it has.
        Returns the copy's name, for ``remove``. ``reset()`` forgets it."""

        def on_loop(service: FakeService) -> str:
            scenarios = service.scenarios
            known = [s.name for s in scenarios.registered] + list(scenarios.catalogue)
            if name not in known:
                raise InvalidRequest(
                    f"unknown scenario {name!r}; the catalogue has: {', '.join(scenarios.catalogue)}"
                )
            raw = copy.deepcopy(scenarios.named(name).raw)
            match = dict(raw.get("match", {}))
            if not any(key != "endpoint" for key in match):
                match["prompt_regex"] = "^"  # a condition every request meets, prompt or none
            if endpoint is not None:
                match["endpoint"] = endpoint
            copy_name = f"use-{name}"[:64]
            raw.update(name=copy_name, match=match, description=f"fake.scenarios.use({name!r})")
            if times is not None:
                raw["times"] = times
            else:
                raw.pop("times", None)
            (added,) = scenarios.add_from_api(raw)
            scenarios.registered.remove(added)
            scenarios.registered.insert(0, added)
            return added.name

        return self._fake._call(on_loop, f"scenarios.use({name!r})")

    @staticmethod
    def header(name: str) -> dict[str, str]:
        """The header that names a scenario on one request: ``{"X-Mock-Scenario": name}``."""
        return {"X-Mock-Scenario": name}

    def remove(self, name: str) -> bool:
        return self._fake._call(lambda s: s.scenarios.remove(name), "scenarios.remove")

    def clear(self) -> None:
        """Remove every registered scenario, those from ``scenarios=`` too (``reset()`` keeps those)."""
        self._fake._call(lambda s: s.scenarios.clear(), "scenarios.clear")

    def registered(self) -> list[dict[str, Any]]:
        """The registered scenarios with their ``seen``/``applied`` counters."""
        return self._fake._call(
            lambda s: [x.describe() for x in s.scenarios.registered], "scenarios.registered"
        )

    def catalogue(self) -> list[str]:
        return self._fake._call(lambda s: list(s.scenarios.catalogue), "scenarios.catalogue")


class FakeTasks:
    """Tasks as the fake knows them: plan and timeline included (``GET /_mock/tasks``)."""

    def __init__(self, fake: EvolinkFake) -> None:
        self._fake = fake

    def get(self, task_id: str) -> TaskInfo:
        """The task now; ``TaskNotFound`` when there is none (or it expired)."""

        def on_loop(service: FakeService) -> TaskInfo:
            task = service.find(task_id)
            if task is None:
                raise TaskNotFound(f"Task not found or expired: {task_id}", param="task_id")
            return _task_info(task, service.clock.now(), self._fake.base_url)

        return self._fake._call(on_loop, f"tasks.get({task_id!r})")

    def list(self) -> list[TaskInfo]:
        def on_loop(service: FakeService) -> list[TaskInfo]:
            now = service.clock.now()
            return [_task_info(t, now, self._fake.base_url) for t in service.store if service.find(t.id)]

        return self._fake._call(on_loop, "tasks.list")

    def cancel(self, task_id: str) -> TaskInfo:
        """End a pending or processing task now (``POST /_mock/tasks/{id}/cancel``)."""

        def on_loop(service: FakeService) -> TaskInfo:
            return _task_info(service.cancel(task_id), service.clock.now(), self._fake.base_url)

        return self._fake._call(on_loop, f"tasks.cancel({task_id!r})")


class FakeCallbacks:
    """The callback attempt log and deliveries (``GET /_mock/callbacks``, docs/callbacks.md)."""

    def __init__(self, fake: EvolinkFake) -> None:
        self._fake = fake

    def attempts(self, task_id: str | None = None) -> list[Attempt]:
        """Every attempt (of one task), oldest first: times on the clock, status, error, outcome."""
        return self._fake._call(lambda s: s.callbacks.attempts(task_id), "callbacks.attempts")

    def deliveries(self, task_id: str | None = None) -> list[DeliveryView]:
        return self._fake._call(lambda s: s.callbacks.deliveries(task_id), "callbacks.deliveries")

    def redeliver(self, task_id: str) -> DeliveryView:
        """Send a finished task's callback again, as a new run (it goes out on the next clock move)."""
        base = self._fake.base_url
        return self._fake._call(lambda s: s.callbacks.redeliver(task_id, base), "callbacks.redeliver")


class FakeFixtures:
    """The fake's own test images (docs/images.md), served at ``/_mock/fixtures/{name}``."""

    def __init__(self, fake: EvolinkFake) -> None:
        self._fake = fake

    def url(self, name: str) -> str:
        """The absolute URL of a fixture on this fake, e.g. ``url("cat-1024.png")``."""
        if name not in catalog():
            raise ValueError(f"no fixture named {name!r}; choose from {', '.join(catalog())}")
        return f"{self._fake.base_url}/_mock/fixtures/{name}"

    @staticmethod
    def names() -> list[str]:
        return list(catalog())


class _ErrorLog(logging.Handler):
    """Error records logged on the fake's server thread, kept for ``check()``."""

    EXPECTED = ("ASGI callable returned without",)
    """uvicorn's line for a response left unfinished on purpose (the network-fault scenarios)."""

    def __init__(self, server: ServerThread) -> None:
        super().__init__(logging.ERROR)
        self._server = server
        self._lock = threading.Lock()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName != self._server.thread_name:
            return
        message = record.getMessage()
        if message.startswith(self.EXPECTED):
            return
        text = f"{record.levelname} {record.name}: {message}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1])).rstrip()
        with self._lock:
            self.messages.append(text)

    def take(self) -> list[str]:
        with self._lock:
            taken, self.messages = self.messages, []
        return taken


class EvolinkFake:
    """One fake, served on 127.0.0.1 at a free port from a background thread.

    ``options`` are ``Settings`` fields over ``TEST_DEFAULTS`` (``seed``, ``credits``,
    ``image_check="off"``, ``rate_limit="10/60"``, ``api_keys=(...)``, ``callback_ca``,
    ``time_scale``...), plus:

    - ``scenarios``: a scenario file (path), or scenarios as data (one document, or a list of
      scenario objects); they stay registered across ``reset()``, like a ``--scenarios`` file;
    - ``api_key``: the key ``headers`` carries (default: the first of ``api_keys``, else
      ``DEFAULT_API_KEY``);
    - ``wait_timeout``: wall seconds each clock step waits for callback attempts in flight.
    """

    def __init__(self, **options: Any) -> None:
        scenarios: ScenarioData | None = options.pop("scenarios", None)
        api_key: str | None = options.pop("api_key", None)
        self.wait_timeout: float = float(options.pop("wait_timeout", WAIT_TIMEOUT))
        if isinstance(scenarios, str | os.PathLike):
            options["scenarios_file"] = os.fspath(scenarios)
            scenarios = None
        self.settings = fake_settings(**options)
        self._app = create_app(self.settings)
        self._service: FakeService = self._app.state.service
        if scenarios is not None:
            self._load_scenarios(scenarios)
        first_key = self.settings.api_keys[0].split("=", 1)[0] if self.settings.api_keys else None
        self.api_key: str = api_key or first_key or DEFAULT_API_KEY
        self._server = ServerThread(self._app, self.settings.host, self.settings.port)
        self._errors = _ErrorLog(self._server)
        self.transport = LoopTransport(self._app, self._server)
        """An httpx transport (sync and async) into this fake with no socket: requests run on
        the fake's loop like those to ``base_url``."""
        self.clock = FakeClock(self)
        self.scenarios = FakeScenarios(self)
        self.tasks = FakeTasks(self)
        self.callbacks = FakeCallbacks(self)
        self.fixtures = FakeFixtures(self)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> EvolinkFake:
        root = logging.getLogger()
        root.addHandler(self._errors)
        try:
            self._server.start()
        except BaseException as exc:
            root.removeHandler(self._errors)
            logged = self._errors.take()
            if logged and isinstance(exc, ServerError):
                raise ServerError(f"{exc}\n" + "\n".join(logged)) from exc
            raise
        return self

    def stop(self) -> None:
        """Stop the server (callbacks still pending are reported by the log, not sent)."""
        try:
            self._server.stop()
        finally:
            logging.getLogger().removeHandler(self._errors)

    def __enter__(self) -> EvolinkFake:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- where it is -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return self._server.url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- the whole fake ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget tasks, callbacks, balances and scenarios added at run time; rewind the clock
        to its start and restart the seeded streams (``POST /_mock/reset``); forget logged errors."""
        self._call(lambda s: s.reset(), "reset")
        self._errors.take()

    def run_until_idle(self, *, max_seconds: float = IDLE_LIMIT, ignore_stuck: bool = False) -> float:
        """Advance the clock until every task has ended and every callback delivery is done
        (delivered or given up); returns the clock seconds it moved.

        Raises ``FakeNotIdle`` when a task never ends (the ``stuck`` scenario: cancel it with
        ``tasks.cancel(id)``, or pass ``ignore_stuck=True`` to leave it processing) or when
        ``max_seconds`` of clock time pass first."""
        return self._run(self._until_idle(max_seconds, ignore_stuck), "run_until_idle")

    async def run_until_idle_async(
        self, *, max_seconds: float = IDLE_LIMIT, ignore_stuck: bool = False
    ) -> float:
        """``run_until_idle`` for async tests: the caller's loop runs on meanwhile."""
        return await self._arun(self._until_idle(max_seconds, ignore_stuck))

    def check(self) -> None:
        """Raise ``FakeFailure`` with every error the fake logged since the last check or reset."""
        errors = self._errors.take()
        if errors:
            raise FakeFailure(
                f"the fake at {self.base_url} logged {len(errors)} error(s):\n" + "\n\n".join(errors)
            )

    def call(self, fn: Callable[[FakeService], T]) -> T:
        """Run ``fn(service)`` on the fake's loop and return its result: the way to reach parts
        this API does not cover (``FakeService``) without racing the server thread."""
        return self._call(fn, "call")

    # -- inside ------------------------------------------------------------------------------

    def _load_scenarios(self, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        document = dict(data) if isinstance(data, Mapping) else {"scenarios": [dict(s) for s in data]}
        if "scenarios" not in document:
            document = {"scenarios": [document]}
        problems = check_document(document, "evolink scenarios")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(problems[0] + more)
        self._service.scenarios.load(copy.deepcopy(document), Source.FILE)  # no loop runs yet

    def _call(self, fn: Callable[[FakeService], T], what: str) -> T:
        service = self._service
        return self._server.call(lambda: fn(service), what, CALL_TIMEOUT)

    def _run(self, make: Callable[[], Awaitable[T]], what: str) -> T:
        return self._server.run(make, None, what)

    async def _arun(self, make: Callable[[], Awaitable[T]]) -> T:
        return await self._server.arun(make)

    def _until_idle(self, max_seconds: float, ignore_stuck: bool) -> Callable[[], Awaitable[float]]:
        async def on_loop() -> float:
            service = self._service
            clock, callbacks = service.clock, service.callbacks
            start = clock.now()
            await callbacks.idle(self.wait_timeout)
            while True:
                now = clock.now()
                running = [t for t in service.store if not t.plan.status_at(now).terminal]
                stuck = [t for t in running if math.isinf(t.plan.ends_at)]
                if stuck and not ignore_stuck:
                    names = ", ".join(t.id for t in stuck)
                    raise FakeNotIdle(
                        f"task(s) {names} never end (a stuck scenario): cancel them with "
                        "fake.tasks.cancel(id), or pass ignore_stuck=True"
                    )
                targets = [t.plan.ends_at for t in running if not math.isinf(t.plan.ends_at)]
                due = clock.next_due()
                if due is not None:
                    targets.append(due)
                if not targets:
                    return now - start
                target = max(min(targets), now)
                if target - start > max_seconds:
                    pending = [d for d in callbacks.deliveries() if d.outcome is DeliveryOutcome.PENDING]
                    raise FakeNotIdle(
                        f"not idle after {max_seconds:g} clock seconds: {len(running)} task(s) running "
                        f"({', '.join(t.id for t in running[:5])}), {len(pending)} callback deliveries pending"
                    )
                # one step of callbacks.run_until, without its leading wait: the last step waited
                clock.set(target)
                await callbacks.idle(self.wait_timeout)

        return on_loop


__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLOCK_START",
    "EvolinkFake",
    "FakeFailure",
    "FakeNotIdle",
    "ServerError",
    "TaskInfo",
    "TimelineStep",
    "fake_settings",
    "option_names",
]
