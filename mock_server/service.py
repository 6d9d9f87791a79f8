"""The fake's backend: creating and reading tasks, with no HTTP in sight.

Routes in ``app.py`` parse requests and call this; ``control.py`` inspects and steers it.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from . import deviations, persistence, results, schema_files
from .auth import Accounts, Caller
from .billing import Ledger
from .callbacks import CallbackOptions, Callbacks
from .clock import Clock, ManualClock, RealClock
from .config import CancelledStatus, ImageCheck, ImageErrors, Settings
from .errors import (
    InvalidRequest,
    InvalidTaskId,
    PermissionDenied,
    ServiceUnavailable,
    TaskNotCancellable,
    TaskNotFound,
)
from .idempotency import IdempotencyKeys
from .image_limits import ImageLimits
from .images import ImageChecker, failed_outcome, submit_error
from .models import DEFAULT_MODEL, ModelSpec, model_spec
from .planner import Planner
from .ratelimit import RateLimit, RateLimiter
from .results import ResultCache
from .retention import Retention
from .scenarios import Endpoint, Scenario, Scenarios, Source, Timing, read_file
from .scenarios import Request as ScenarioRequest
from .store import MemoryStore, Store
from .tasks import Completed, Failed, Outcome, Task, TaskStatus, expired
from .timings import Timings
from .urlpolicy import UrlPolicy, UrlRefused
from .validation import BodyValidator

NOT_FOUND_MESSAGE = "Task not found or expired: {task_id}"


def make_clock(settings: Settings) -> Clock:
    start = settings.clock_start if settings.clock_start is not None else time.time()
    if settings.manual_clock:
        return ManualClock(start)
    return RealClock(start, settings.time_scale)


def request_schema(settings: Settings, spec: ModelSpec) -> schema_files.Schema:
    """The model's request schema, with the variants the named settings ask for."""
    schema = copy.deepcopy(spec.schema)
    if settings.strict_fields:
        schema["additionalProperties"] = False
    if settings.allow_private_urls:  # http is then allowed for loopback/private hosts only
        callback = schema["properties"]["callback_url"]
        callback["pattern"] = "^[Hh][Tt][Tt][Pp][Ss]?://"
        callback["x-pattern-message"] = "must be an https:// (or, relaxed, http://) URL"
    deviations.adjust_request_schema(schema, settings.deviations)
    return schema


@dataclass(slots=True)
class Counters:
    created: int = 0


@dataclass(frozen=True, slots=True)
class Created:
    """What a create did: the task, whether it replays an earlier one, the scenario that applied."""

    task: Task
    replayed: bool = False
    scenario: Scenario | None = None


CANCELLED_MESSAGE = "The task was cancelled."

FREEZE_EVERY = 10_000
"""Every this many creates, move what exists to the collector's permanent generation. Tasks hold
no reference cycles (reference counting frees them), yet every full collection walked all of
them: with 100k live tasks that was a fifth of create's time and its p99 (bench/README.md)."""


class FakeService:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        policy: UrlPolicy | None = None,
        timings: Timings | None = None,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        image_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock if clock is not None else make_clock(settings)
        self.store: Store = store if store is not None else MemoryStore()
        self.accounts = Accounts.from_options(list(settings.api_keys))
        self.policy = deviations.url_policy(
            policy or UrlPolicy(allow_private=settings.allow_private_urls), settings.deviations
        )
        self.timings = deviations.timings(
            timings or Timings.documented(task_ttl=settings.task_ttl), settings.deviations
        )
        self.planner = Planner(settings.seed, self.timings)
        self.results = ResultCache(settings.result_cache_size)
        self.counters = Counters()
        self.images = ImageChecker(
            ImageLimits.from_schema(model_spec(DEFAULT_MODEL).schema),
            self.policy,
            self.clock,
            self.timings,
            fetch=settings.image_check == ImageCheck.ON,
            capacity=settings.image_cache_size,
            transport=image_transport,
        )
        self.callbacks = Callbacks(
            self.clock,
            lambda task_id: self.store.get(task_id),
            self.policy,
            self.timings,
            CallbackOptions.from_settings(settings),
            transport=callback_transport,
        )
        self._validators = {
            name: BodyValidator(request_schema(settings, model_spec(name))) for name in (DEFAULT_MODEL,)
        }
        self._task_id = schema_files.compiled(schema_files.TASK_ID)
        self.ledger = Ledger(settings.credits)
        self.limiter = RateLimiter(RateLimit.parse(settings.rate_limit) if settings.rate_limit else None)
        self.scenarios = Scenarios(settings.seed)
        if settings.scenarios_file:
            self.scenarios.load(read_file(settings.scenarios_file), Source.FILE)
        self.idempotency = IdempotencyKeys(settings.max_idempotency_keys)
        self.retention = Retention(self.timings.task_ttl)
        self.restored: persistence.Restored | None = None
        self.save_error: str | None = None
        if settings.state_file:  # ConfigError (the CLI exits 2) for a corrupt or foreign file
            self.restored = persistence.restore(self, settings.state_file)

    # -- public API operations -------------------------------------------------------------

    def authenticate(self, header: str | None) -> Caller:
        anonymous = deviations.anonymous_caller(header, self.settings.deviations)
        return anonymous or self.accounts.authenticate(header)

    async def startup(self) -> None:
        """Open what the service needs while serving (called by the app's lifespan)."""
        await self.callbacks.startup()
        await self.images.open()

    async def shutdown(self) -> None:
        """Close what ``startup`` opened (called by the app's lifespan); with a state file, save
        the state once the deliveries have stopped (docs/persistence.md)."""
        await self.callbacks.shutdown()
        await self.images.aclose()
        if self.settings.state_file:
            self.save_error = persistence.save(self, self.settings.state_file)

    def scenario_for(
        self, endpoint: Endpoint, caller: Caller, header: str | None, body: Any = None
    ) -> Scenario | None:
        """The scenario that applies to this request; raises its HTTP error if it rejects."""
        fields = body if isinstance(body, dict) else {}
        prompt, model = fields.get("prompt"), fields.get("model")
        request = ScenarioRequest(
            endpoint,
            caller.key,
            prompt if isinstance(prompt, str) else None,
            model if isinstance(model, str) else None,
        )
        scenario = self.scenarios.select(request, header)
        if scenario is not None and scenario.reject is not None:
            raise scenario.reject.error(scenario.name)
        return scenario

    async def create(
        self,
        caller: Caller,
        body: Any,
        base_url: str = "",
        *,
        scenario_header: str | None = None,
        idempotency_key: str | None = None,
    ) -> Created:
        """Checks in the order a gateway makes them: scenario rejection, rate limit, body, replay,
        callback URL, input images, credits; then the task, its reservation and its events."""
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        scenario = self.scenario_for(Endpoint.CREATE, caller, scenario_header, body)
        self.limiter.take(caller.key, self.clock.now())
        if idempotency_key is not None:
            self.idempotency.check_format(idempotency_key)
        model = body.get("model", DEFAULT_MODEL)
        validator = self._validators.get(model) if isinstance(model, str) else None
        (validator or self._validators[DEFAULT_MODEL]).validate(body)
        spec = model_spec(body["model"])
        if idempotency_key is not None:
            replay = self.idempotency.lookup(caller.account, idempotency_key, body)
            original = self.find(replay) if replay is not None else None
            if original is not None:
                return Created(original, replayed=True, scenario=scenario)
        callback_url = body.get("callback_url")
        if callback_url is not None:
            try:
                await self.policy.check_callback_url(callback_url)
            except UrlRefused as exc:
                raise InvalidRequest(f"callback_url {exc}", param="callback_url") from None
        outcome, at_progress = self._forced_outcome(scenario)
        if outcome is None:
            outcome = await self._inspect_images(body["image_urls"])
        self._make_room()  # no await from here on
        self.ledger.check(caller.account, spec.credits_reserved)
        timing = scenario.timing if scenario is not None else None
        task = self._new_task(caller, body, spec, outcome, at_progress, timing)
        self.ledger.reserve(task.id, caller.account, caller.key, spec.credits_reserved)
        if isinstance(outcome, Failed):  # failed tasks are not charged: refunded as they fail
            self.clock.call_at(task.plan.ends_at, self._refund_later(task.id))
        if idempotency_key is not None:
            self.idempotency.remember(caller.account, idempotency_key, body, task.id)
        self._on_created(task, base_url)
        return Created(task, scenario=scenario)

    def _make_room(self) -> None:
        """Forget expired tasks; refuse the create (503) if the store is still full: a live task
        is never dropped to make room."""
        now = self.clock.now()
        self.sweep(now)
        limit = self.settings.max_tasks
        if len(self.store) < limit:
            return
        soonest = self.retention.next_expiry()
        headers = {"Retry-After": str(max(1, math.ceil(soonest - now)))} if soonest is not None else None
        raise ServiceUnavailable(
            f"The fake holds {len(self.store)} live tasks, its limit (--max-tasks {limit}); finished tasks "
            f"are forgotten {self.timings.task_ttl:g} s after they end (--task-ttl). Retry later or raise "
            "--max-tasks.",
            headers=headers,
        )

    def sweep(self, now: float) -> int:
        """Forget every task expired at ``now``, soonest-expired first; how many were forgotten."""
        forgotten = 0
        for task_id in list(self.retention.due(now)):
            task = self.store.get(task_id)
            if task is None:
                continue  # a stale entry: forgotten already
            if expired(task, now, self.timings.task_ttl):
                self._forget(task_id)
                forgotten += 1
            else:
                self.retention.track(task)  # its plan changed: expires later
        return forgotten

    def _forget(self, task_id: str) -> None:
        self.store.remove(task_id)
        self.ledger.forget(task_id)
        self.idempotency.forget_task(task_id)

    def _refund_later(self, task_id: str) -> Callable[[], None]:
        def refund() -> None:
            self.ledger.refund(task_id)

        return refund

    def _forced_outcome(self, scenario: Scenario | None) -> tuple[Outcome | None, int | None]:
        if scenario is None:
            return None, None
        if scenario.fail is not None:
            fail = scenario.fail
            return Failed(fail.code, fail.message, TaskStatus(fail.status)), fail.at_progress
        if scenario.results is not None:
            return Completed(scenario.results), None
        return None, None

    def cancel(self, task_id: str) -> Task:
        """End a pending or processing task now, as cancelled; its credits come back and its
        callback fires (the public API has no cancel endpoint: this is the control API's)."""
        task = self.find(task_id)
        if task is None:
            raise TaskNotFound(NOT_FOUND_MESSAGE.format(task_id=task_id), param="task_id")
        now = self.clock.now()
        status = task.plan.status_at(now)
        if status.terminal:
            raise TaskNotCancellable(f"Task {task_id} is already {status.value}", param="task_id")
        literal = self.settings.cancelled_status == CancelledStatus.CANCELLED
        outcome = Failed(
            "request_cancelled", CANCELLED_MESSAGE, TaskStatus.CANCELLED if literal else TaskStatus.FAILED
        )
        cancelled = dataclasses.replace(task, plan=task.plan.cancelled_at(now, outcome))
        self.store.replace(cancelled)
        self.retention.track(cancelled)
        self.ledger.refund(task_id)
        self.callbacks.reschedule(task_id)
        return cancelled

    async def _inspect_images(self, urls: list[str]) -> Outcome | None:
        """The outcome forced by the input images (a failure), or None when they pass; with
        ``--image-errors submit`` a failure is raised as the 400/413 instead."""
        rejections = await self.images.check(urls)
        if not rejections:
            return None
        if self.settings.image_errors == ImageErrors.SUBMIT:
            raise submit_error(rejections)
        return failed_outcome(rejections)

    def _on_created(self, task: Task, base_url: str) -> None:
        """Work that follows a new task (events on the clock, such as its callback)."""
        if deviations.sends_callbacks(self.settings.deviations):
            self.callbacks.schedule(task, base_url)

    def _new_task(
        self,
        caller: Caller,
        body: dict[str, Any],
        spec: ModelSpec,
        outcome: Outcome | None = None,
        at_progress: int | None = None,
        timing: Timing | None = None,
    ) -> Task:
        now = self.clock.now()
        created = int(now)
        plan = self.planner.plan(now, spec, outcome, at_progress=at_progress, timing=timing)
        count = outcome.result_count if isinstance(outcome, Completed) else spec.result_count
        request: dict[str, Any] = {
            k: body[k] for k in ("model", "prompt", "image_urls", "callback_url") if k in body
        }
        task_id = self.planner.task_id(created)
        while self.store.get(task_id) is not None:  # e.g. the same seed after a restore
            task_id = self.planner.task_id(created)
        task = Task(
            id=task_id,
            account=caller.account,
            model=spec.name,
            created=created,
            estimated_time=spec.estimated_time,
            billing_rule=spec.billing_rule,
            credits_reserved=spec.credits_reserved,
            user_group=self.settings.user_group,
            request=request,
            plan=plan,
            result_names=self.planner.result_names(caller.account, created, count, spec.result_format),
        )
        self.store.add(task)
        self.retention.track(task)
        self.counters.created += 1
        if self.counters.created % FREEZE_EVERY == 0:
            gc.freeze()
        return task

    def get(self, caller: Caller, task_id: str) -> Task:
        if not self._task_id.is_valid(task_id):
            raise InvalidTaskId(
                f"Invalid task ID format: task_id must start with task-unified- (got {task_id[:80]!r})",
                param="task_id",
            )
        task = self.find(task_id)
        if task is None:
            raise TaskNotFound(NOT_FOUND_MESSAGE.format(task_id=task_id), param="task_id")
        if task.account != caller.account:
            if self.settings.foreign_task_status == 404:
                raise TaskNotFound(NOT_FOUND_MESSAGE.format(task_id=task_id), param="task_id")
            raise PermissionDenied("Access denied: this task belongs to another account", param="task_id")
        return task

    async def render_result(self, task: Task, index: int, fmt: str) -> bytes:
        """A result file drawn from the task's first input image when it can be had (see
        ``results.render``), else from the task alone."""
        urls = task.request.get("image_urls") or []
        info = await self.images.info(urls[0]) if urls else None
        size = results.result_size(info.width, info.height) if info else results.RESULT_SIZE
        source = info.thumbnail if info else None
        prompt = str(task.request.get("prompt", ""))
        return await anyio.to_thread.run_sync(results.render, task.id, prompt, index, fmt, size, source)

    def results_ttl(self, task: Task) -> float:
        return model_spec(task.model).result_ttl

    # -- inspection --------------------------------------------------------------------------

    def find(self, task_id: str) -> Task | None:
        """A task that has not expired, whoever owns it; expired tasks are dropped on sight."""
        task = self.store.get(task_id)
        if task is not None and expired(task, self.clock.now(), self.timings.task_ttl):
            self._forget(task_id)
            return None
        return task

    def reset(self) -> None:
        self.callbacks.reset()
        self.store.clear()
        self.retention.clear()
        self.results.clear()
        self.images.clear()
        self.planner.reset()
        self.ledger.reset()
        self.limiter.reset()
        self.scenarios.reset()
        self.idempotency.reset()
        self.counters = Counters()
        reset = getattr(self.clock, "reset", None)
        if reset is not None:
            reset()
