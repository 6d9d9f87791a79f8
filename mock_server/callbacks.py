"""Callback deliveries: one POST per terminal task, retried on the clock, every attempt logged.

The contract (seed page, ``callback_url``): triggered when the task is completed, failed or
cancelled; timeout 10 s; on failure at most 3 retries, after 1 s / 2 s / 4 s; the body is the task
query response; a 2xx answer is success, any other status triggers a retry. The durations are
``Timings.callback_timeout`` and ``Timings.retry_delays``, read from ``schemas/``.

How the fake keeps it (the reasons are in docs/callbacks.md):

- Everything is driven by the clock's one event heap. A delivery's first attempt is a timer at the
  task's terminal moment (``plan.ends_at``), so it happens even when nobody polls the task.
- A delivery is keyed by its task id and reads the task from the store when it falls due: if the
  plan's end moved later it waits again; ``reschedule`` moves it earlier. The body is the detail
  JSON at the terminal moment, which is what ``GET /v1/tasks/{id}`` answers from then on.
- The timeout is clock time: a timer armed when the request is sent cancels it when it fires.
- A retry falls due ``retry_delays[n]`` clock seconds after the failed attempt *ended* (answer
  received, connection failed, or timeout fired), never before.
- Attempts of one task are sequential (one delivery per task, one attempt at a time). Across tasks
  at most ``concurrency`` attempts are in flight; one that falls due while all slots are busy
  waits in FIFO order, and its timeout starts when it is actually sent.
- Requests go through ``PolicyTransport``: the URL policy is checked again at delivery, on the
  address the host resolves to then, and the connection goes to that checked address. Redirects
  are never followed (a 3xx is a failed attempt).
- Clock callbacks may fire on another thread (a test moving a ManualClock directly); they hop
  onto the event loop that runs the deliveries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from . import deviations
from .callback_log import Attempt, AttemptError, AttemptLog, DeliveryOutcome
from .clock import Clock, Timer
from .errors import ConfigError, InvalidRequest, TaskNotFound
from .safe_transport import PolicyTransport
from .tasks import Task, detail_body
from .timings import Timings
from .urlpolicy import UrlPolicy, UrlRefused
from .webhook_signing import WebhookSigner

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("evolink-mock")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"evolink-mock-callback/{_version()}"
"""The real sender's User-Agent is undocumented; the fake's is stable so receivers can log it."""

_REPORT_LINES = 100
"""At most this many pending deliveries are named one by one in the shutdown report."""

TaskLookup = Callable[[str], Task | None]


@dataclass(frozen=True, slots=True)
class CallbackOptions:
    concurrency: int = 16
    """Attempts in flight at once across all tasks."""
    log_size: int = 10000
    """Attempts kept in the log (oldest dropped first); also finished deliveries remembered."""
    ca_file: str | None = None
    """PEM file of CAs trusted for HTTPS callbacks besides httpx's default ones."""
    secret: str | None = field(default=None, repr=False)
    """Standard Webhooks secret (``whsec_<base64>``); None sends unsigned callbacks, like Evolink."""
    user_agent: str = USER_AGENT
    deviations: tuple[str, ...] = ()
    """Named deviations (deviations.py); only ``deviations.callback_body`` reads them."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackOptions:
        return cls(
            concurrency=settings.callback_concurrency,
            log_size=settings.callback_log_size,
            ca_file=settings.callback_ca,
            secret=settings.callback_secret,
            deviations=settings.deviations,
        )


class DeliveryState(StrEnum):
    SCHEDULED = "scheduled"
    """A timer is on the clock: the terminal moment, or a retry."""
    QUEUED = "queued"
    """Due, waiting for a free concurrency slot."""
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"

    @property
    def outcome(self) -> DeliveryOutcome:
        if self is DeliveryState.DELIVERED:
            return DeliveryOutcome.DELIVERED
        if self is DeliveryState.GIVEN_UP:
            return DeliveryOutcome.GIVEN_UP
        return DeliveryOutcome.PENDING


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One task's delivery as the control API shows it."""

    task_id: str
    url: str
    run: int
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None

    @property
    def outcome(self) -> DeliveryOutcome:
        return self.state.outcome

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "url": self.url,
            "run": self.run,
            "state": self.state.value,
            "outcome": self.outcome.value,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
        }


@dataclass(frozen=True, slots=True)
class SavedDelivery:
    """A delivery as a state file keeps it: enough to go on after a restart."""

    task_id: str
    url: str
    base_url: str
    run: int
    attempts: int
    state: DeliveryState
    due_at: float
    redeliver: bool = False
    body: bytes | None = None


@dataclass(slots=True, eq=False)
class _Flight:
    """The attempt in flight: its times, its clock timeout and the asyncio task sending it."""

    number: int
    scheduled_at: float
    sent_at: float
    wall_start: float
    timer: Timer | None = None
    task: asyncio.Task[_Result] | None = None
    timed_out: bool = False
    finished: bool = False


@dataclass(slots=True, eq=False)
class _Delivery:
    task_id: str
    url: str
    base_url: str
    run: int = 1
    attempts: int = 0
    state: DeliveryState = DeliveryState.SCHEDULED
    due_at: float = 0.0
    timer: Timer | None = None
    flight: _Flight | None = None
    redeliver: bool = False
    body: bytes | None = None
    token: int = 0
    """Bumped whenever the delivery is re-armed or restarted, so a superseded timer does nothing."""

    def view(self) -> DeliveryView:
        waiting = self.state in (DeliveryState.SCHEDULED, DeliveryState.QUEUED)
        return DeliveryView(
            self.task_id, self.url, self.run, self.state, self.attempts, self.due_at if waiting else None
        )


@dataclass(frozen=True, slots=True)
class _Result:
    status_code: int | None = None
    error: AttemptError | None = None
    detail: str | None = None


def encode_body(task: Task, base_url: str, deviating: tuple[str, ...] = ()) -> bytes:
    """The callback body: the detail JSON at the terminal moment, encoded as the routes encode it."""
    body = deviations.callback_body(detail_body(task, task.plan.ends_at, base_url), deviating)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Callbacks:
    """The delivery engine of one fake: schedules, sends, retries and logs callback attempts."""

    def __init__(
        self,
        clock: Clock,
        tasks: TaskLookup,
        policy: UrlPolicy,
        timings: Timings,
        options: CallbackOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.timings = timings
        self.options = options or CallbackOptions()
        if self.options.concurrency <= 0:
            raise ValueError("callback concurrency must be > 0")
        self.log = AttemptLog(self.options.log_size)
        self._tasks = tasks
        self._transport = transport
        self._signer = WebhookSigner.from_secret(self.options.secret) if self.options.secret else None
        if self.options.ca_file is not None:
            _check_ca_file(self.options.ca_file)
        self._deliveries: dict[str, _Delivery] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._queue: deque[_Delivery] = deque()
        self._running: set[asyncio.Task[_Result]] = set()
        self._busy = 0
        self._generation = 0
        self._closing = False
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.timings.retry_delays)

    # -- life cycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Bind to the serving loop. The HTTP client opens at the first attempt: loading the CA
        bundle takes tens of milliseconds that start-up need not spend."""
        self._closing = False
        self._adopt_loop(asyncio.get_running_loop())
        for d in self._deliveries.values():  # a restart picks up what the last shutdown left
            if d.state is DeliveryState.SCHEDULED and d.timer is None:
                self._arm(d, d.due_at)
            elif d.state is DeliveryState.QUEUED and d not in self._queue:
                self._queue.append(d)
        self._pump()

    async def shutdown(self) -> None:
        """Stop sending; report every delivery still pending, so nothing is lost silently."""
        self._closing = True
        flights = [t for t in self._running if not t.done()]
        for flight in flights:
            flight.cancel()
        if flights:
            await asyncio.gather(*flights, return_exceptions=True)
        pending = [d for d in self._deliveries.values() if d.state.outcome is DeliveryOutcome.PENDING]
        for d in pending[:_REPORT_LINES]:
            log.warning(
                "callback for task %s to %s still pending at shutdown: run %d, %d of %d attempts made, "
                "next due at %.3f (%s)",
                d.task_id,
                d.url,
                d.run,
                d.attempts,
                self.max_attempts,
                d.due_at,
                d.state.value,
            )
        if pending:
            log.warning(
                "%d callback deliveries pending at shutdown (%d named above)",
                len(pending),
                min(len(pending), _REPORT_LINES),
            )
        for d in self._deliveries.values():
            if d.timer is not None:
                d.timer.cancel()
                d.timer = None
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def reset(self) -> None:
        """Forget every delivery and attempt; in-flight attempts are cancelled and not logged."""
        self._generation += 1
        for task in self._running:
            task.cancel()
        for d in self._deliveries.values():
            if d.timer is not None:
                d.timer.cancel()
        self._deliveries.clear()
        self._finished.clear()
        self._queue.clear()
        self._busy = 0
        self.log.clear()

    # -- what the service and the control API call ------------------------------------------------

    def schedule(self, task: Task, base_url: str) -> None:
        """Plan the callback of a new task, if it has a ``callback_url``, for its terminal moment."""
        url = task.request.get("callback_url")
        if not isinstance(url, str):
            return
        if self._loop is None or self._loop.is_closed():
            self._adopt_loop(_running_loop())
        delivery = _Delivery(task.id, url, base_url)
        self._deliveries[task.id] = delivery
        self._arm(delivery, task.plan.ends_at)

    def reschedule(self, task_id: str) -> None:
        """The task's plan changed (e.g. it was cancelled): move a first attempt not yet made."""
        d = self._deliveries.get(task_id)
        task = self._tasks(task_id)
        if d is None or task is None or d.state is not DeliveryState.SCHEDULED or d.attempts:
            return
        if d.timer is not None:
            d.timer.cancel()
        self._arm(d, task.plan.ends_at)
        if task.plan.ends_at <= self.clock.now():
            self._due(d, d.token, self._generation)

    def redeliver(self, task_id: str, base_url: str) -> DeliveryView:
        """Send the task's callback again now, as a new run of up to ``max_attempts`` attempts.

        A run still waiting is superseded; an attempt in flight finishes first (attempts of one
        task are never concurrent), then the new run starts.
        """
        task = self._tasks(task_id)
        if task is None:
            raise TaskNotFound(f"Task not found or expired: {task_id}", param="task_id")
        url = task.request.get("callback_url")
        if not isinstance(url, str):
            raise InvalidRequest(f"task {task_id} has no callback_url: there is nothing to redeliver")
        status = task.plan.status_at(self.clock.now())
        if not status.terminal:
            raise InvalidRequest(
                f"task {task_id} is {status.value}: its callback is sent when it ends; redeliver after that"
            )
        d = self._deliveries.get(task_id)
        if d is None:  # forgotten (log rotated): start over
            d = self._deliveries[task_id] = _Delivery(task_id, url, base_url, run=0)
        d.base_url = base_url
        if d.state is DeliveryState.IN_FLIGHT:
            d.redeliver = True
        else:
            self._restart(d)
            self._pump()
        return d.view()

    def attempts(self, task_id: str | None = None) -> list[Attempt]:
        return self.log.for_task(task_id)

    def deliveries(self, task_id: str | None = None) -> list[DeliveryView]:
        return [d.view() for d in self._deliveries.values() if task_id is None or d.task_id == task_id]

    def in_flight(self) -> int:
        return self._busy

    def saved(self) -> list[SavedDelivery]:
        """Every delivery as a state file keeps it (docs/persistence.md); one in flight counts as
        queued: it is sent again after a restart."""
        return [
            SavedDelivery(
                d.task_id, d.url, d.base_url, d.run, d.attempts, d.state, d.due_at, d.redeliver, d.body
            )
            for d in self._deliveries.values()
        ]

    def resume(self, saved: SavedDelivery) -> None:
        """Take a delivery back from a state file, before ``startup``, which arms or queues it."""
        state = DeliveryState.QUEUED if saved.state is DeliveryState.IN_FLIGHT else saved.state
        d = _Delivery(
            saved.task_id, saved.url, saved.base_url, saved.run, saved.attempts, state, saved.due_at
        )
        d.redeliver, d.body = saved.redeliver, saved.body
        self._deliveries[d.task_id] = d
        if state.outcome is not DeliveryOutcome.PENDING:
            self._remember_finished(d)

    async def idle(self, timeout: float | None = None) -> bool:
        """Wait until no attempt is in flight, at most ``timeout`` wall seconds; True when idle.

        Attempts only end by themselves when the receiver answers or the connection fails; one
        that hangs ends when its clock timeout fires, so this returns False for it until the clock
        is moved past the timeout.
        """
        loop = asyncio.get_running_loop()
        home = self._loop
        if home is not None and home is not loop and not home.is_closed():
            future = asyncio.run_coroutine_threadsafe(self.idle(timeout), home)
            return await asyncio.wrap_future(future)
        deadline = None if timeout is None else loop.time() + timeout
        while self._running:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(set(self._running), timeout=remaining)
        return True

    async def advance(self, seconds: float, wait_timeout: float) -> bool:
        """Move the clock ``seconds`` forward as ``run_until`` does."""
        if seconds < 0:
            raise InvalidRequest("seconds must be >= 0: the clock never moves back", param="seconds")
        return await self.run_until(self.clock.now() + seconds, wait_timeout)

    async def run_until(self, target: float, wait_timeout: float) -> bool:
        """Move the clock to ``target`` one due event at a time, letting the attempts each event
        starts finish (up to ``wait_timeout`` wall seconds per event) before the next one fires.

        So retries land at their exact clock times even within one big jump. True when nothing
        was left in flight at the end.
        """
        settled = await self.idle(wait_timeout)
        while (due := self.clock.next_due()) is not None and due <= target:
            self.clock.set(max(due, self.clock.now()))
            settled = await self.idle(wait_timeout)
        if target > self.clock.now():
            self.clock.set(target)
            settled = await self.idle(wait_timeout)
        return settled

    # -- the engine ------------------------------------------------------------------------------

    def _adopt_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if loop is not self._loop:
            self._client = None  # a client belongs to the loop it was opened on
        self._loop = loop

    def _from_clock(self, fn: Callable[[], None]) -> None:
        """Run a clock callback on the deliveries' loop, hopping threads if needed."""
        running = _running_loop()
        if self._loop is None or self._loop.is_closed():
            self._adopt_loop(running)
        loop = self._loop
        if loop is None:
            log.warning("callback event at %.3f dropped: no event loop runs the fake", self.clock.now())
        elif loop is running:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _arm(self, d: _Delivery, at: float) -> None:
        d.token += 1
        token, generation = d.token, self._generation
        d.state, d.due_at = DeliveryState.SCHEDULED, at
        d.timer = self.clock.call_at(at, lambda: self._from_clock(lambda: self._due(d, token, generation)))

    def _due(self, d: _Delivery, token: int, generation: int) -> None:
        stale = generation != self._generation or self._deliveries.get(d.task_id) is not d
        if stale or d.token != token or d.state is not DeliveryState.SCHEDULED or self._closing:
            return
        if d.timer is not None:
            d.timer.cancel()
            d.timer = None
        task = self._tasks(d.task_id)
        if task is None and d.body is None:
            log.warning("callback for task %s dropped: the task no longer exists", d.task_id)
            del self._deliveries[d.task_id]
            return
        if task is not None and task.plan.ends_at > self.clock.now():
            self._arm(d, task.plan.ends_at)  # the plan's end moved later: wait for it
            return
        if task is not None and d.body is None:  # kept while queued: the task may expire meanwhile
            d.body = encode_body(task, d.base_url, self.options.deviations)
        d.state = DeliveryState.QUEUED
        self._queue.append(d)
        self._pump()

    def _restart(self, d: _Delivery) -> None:
        d.token += 1
        if d.timer is not None:
            d.timer.cancel()
            d.timer = None
        self._finished.pop(d.task_id, None)
        d.run += 1
        d.attempts = 0
        d.redeliver = False
        d.due_at = self.clock.now()
        if d.state is not DeliveryState.QUEUED:
            d.state = DeliveryState.QUEUED
            self._queue.append(d)

    def _pump(self) -> None:
        while self._queue and self._busy < self.options.concurrency and not self._closing:
            self._send(self._queue.popleft())

    def _send(self, d: _Delivery) -> None:
        task = self._tasks(d.task_id)
        if task is not None:
            d.url = str(task.request.get("callback_url", d.url))
            d.body = encode_body(task, d.base_url, self.options.deviations)
        assert d.body is not None and self._loop is not None
        now = self.clock.now()
        d.attempts += 1
        flight = _Flight(d.attempts, d.due_at, now, time.perf_counter())
        d.state, d.flight = DeliveryState.IN_FLIGHT, flight
        self._busy += 1
        flight.timer = self.clock.call_at(
            now + self.timings.callback_timeout, lambda: self._from_clock(lambda: self._time_out(flight))
        )
        headers = {"Content-Type": "application/json", "User-Agent": self.options.user_agent}
        if self._signer is not None:
            headers.update(self._signer.headers(d.task_id, int(now), d.body))
        generation = self._generation
        flight.task = self._loop.create_task(self._post(d.url, d.body, headers))
        self._running.add(flight.task)
        flight.task.add_done_callback(lambda done: self._landed(d, flight, generation, done))

    def _time_out(self, flight: _Flight) -> None:
        if flight.finished or flight.task is None:
            return
        flight.timed_out = True
        flight.task.cancel()

    def _landed(self, d: _Delivery, flight: _Flight, generation: int, done: asyncio.Task[_Result]) -> None:
        """The attempt's task ended: answered, failed, timed out (cancelled by its clock timer),
        or interrupted (cancelled by shutdown). Runs before anyone awaiting the task resumes."""
        self._running.discard(done)
        if generation != self._generation:
            return  # reset meanwhile: this delivery is forgotten
        if done.cancelled():
            if flight.timed_out:
                timeout = self.timings.callback_timeout
                result = _Result(error=AttemptError.TIMEOUT, detail=f"no answer within {timeout:g} s (clock)")
                self._finish(d, flight, result, ended_at=flight.sent_at + timeout)
            else:
                self._finish(d, flight, _Result(error=AttemptError.INTERRUPTED, detail="the fake shut down"))
            return
        error = done.exception()
        if error is not None:
            log.error("callback attempt for task %s failed inside the fake", d.task_id, exc_info=error)
            self._finish(d, flight, _Result(error=AttemptError.INTERNAL_ERROR, detail=_describe(error)))
            return
        self._finish(d, flight, done.result())

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> _Result:
        client = await self._http()
        try:
            if urlsplit(url).scheme.lower() != "https":  # http only for relaxed loopback/private hosts
                await self.policy.check_callback_url(url)
            request = client.build_request("POST", url, content=body, headers=headers)
            response = await client.send(request, stream=True)
        except UrlRefused as exc:
            return _Result(error=AttemptError.REFUSED_BY_POLICY, detail=f"callback_url {exc}")
        except httpx.TimeoutException:
            cap = self.timings.callback_wall_cap
            return _Result(error=AttemptError.TIMEOUT, detail=f"no answer within the {cap:g} s wall-time cap")
        except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return _Result(error=AttemptError.CONNECT_ERROR, detail=_describe(exc))
        except httpx.TransportError as exc:
            return _Result(error=AttemptError.NETWORK_ERROR, detail=_describe(exc))
        try:
            await response.aclose()
        except httpx.TransportError:
            pass  # the answer's status is what counts; its body is not read
        status = response.status_code
        if response.is_success:
            return _Result(status)
        return _Result(status, AttemptError.HTTP_STATUS, f"{status} {response.reason_phrase}".strip())

    def _finish(self, d: _Delivery, flight: _Flight, result: _Result, ended_at: float | None = None) -> None:
        if flight.finished:
            return
        flight.finished = True
        if flight.timer is not None:
            flight.timer.cancel()
        self._busy -= 1
        d.flight = None
        ended = self.clock.now() if ended_at is None else ended_at
        if result.error is AttemptError.INTERRUPTED:
            d.state = DeliveryState.QUEUED  # never retried in this process: reported at shutdown
        elif result.error is None:
            d.state = DeliveryState.DELIVERED
        elif d.attempts < self.max_attempts:
            self._arm(d, ended + self.timings.retry_delays[d.attempts - 1])
        else:
            d.state = DeliveryState.GIVEN_UP
        record = Attempt(
            task_id=d.task_id,
            run=d.run,
            attempt=flight.number,
            url=d.url,
            scheduled_at=flight.scheduled_at,
            sent_at=flight.sent_at,
            ended_at=ended,
            status_code=result.status_code,
            error=result.error,
            detail=result.detail,
            wall_latency=time.perf_counter() - flight.wall_start,
            outcome=d.state.outcome,
        )
        self.log.append(record)
        log.info(
            "callback %s attempt %d.%d: %s -> %s",
            d.task_id,
            d.run,
            flight.number,
            result.detail or result.status_code,
            record.outcome.value,
        )
        if record.outcome is DeliveryOutcome.GIVEN_UP:
            log.warning("callback for task %s to %s given up after %d attempts", d.task_id, d.url, d.attempts)
        if d.redeliver and result.error is not AttemptError.INTERRUPTED:
            self._restart(d)
        elif record.outcome is not DeliveryOutcome.PENDING:
            self._remember_finished(d)
        self._pump()

    def _remember_finished(self, d: _Delivery) -> None:
        self._finished[d.task_id] = None
        self._finished.move_to_end(d.task_id)
        while len(self._finished) > self.options.log_size:
            old, _ = self._finished.popitem(last=False)
            stale = self._deliveries.get(old)
            if stale is not None and stale.state.outcome is not DeliveryOutcome.PENDING:
                del self._deliveries[old]

    async def _http(self) -> httpx.AsyncClient:
        """The one client of the deliveries, opened on first use."""
        if self._client is None:
            inner = self._transport
            if inner is None:
                context = await asyncio.to_thread(self._ssl_context)  # reads files: off the loop
                inner = httpx.AsyncHTTPTransport(verify=context)
            if self._client is not None:  # another attempt opened it meanwhile
                return self._client
            self._client = httpx.AsyncClient(
                transport=PolicyTransport(self.policy, inner),
                follow_redirects=False,
                timeout=self.timings.callback_wall_cap,
                trust_env=False,  # no proxy from the environment: connect to the checked address
            )
        return self._client

    def _ssl_context(self) -> ssl.SSLContext:
        context = httpx.create_ssl_context()
        if self.options.ca_file is not None:
            context.load_verify_locations(cafile=self.options.ca_file)
        return context


def _check_ca_file(path: str) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"callback CA file {path}: {exc}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
