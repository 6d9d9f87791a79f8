"""The fake's backend: creating and reading tasks, with no HTTP in sight.

Routes in ``app.py`` parse requests and call this; ``control.py`` inspects and steers it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from . import deviations, results, schema_files
from .auth import Accounts, Caller
from .callbacks import CallbackOptions, Callbacks
from .clock import Clock, ManualClock, RealClock
from .config import ImageCheck, ImageErrors, Settings
from .errors import InvalidRequest, InvalidTaskId, PermissionDenied, TaskNotFound
from .image_limits import ImageLimits
from .images import ImageChecker, failed_outcome, submit_error
from .models import DEFAULT_MODEL, ModelSpec, model_spec
from .planner import Planner
from .results import ResultCache
from .store import MemoryStore, Store
from .tasks import Outcome, Task, expired
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
        self.results = ResultCache()
        self.counters = Counters()
        self.images = ImageChecker(
            ImageLimits.from_schema(model_spec(DEFAULT_MODEL).schema),
            self.policy,
            self.clock,
            self.timings,
            fetch=settings.image_check == ImageCheck.ON,
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

    # -- public API operations -------------------------------------------------------------

    def authenticate(self, header: str | None) -> Caller:
        anonymous = deviations.anonymous_caller(header, self.settings.deviations)
        return anonymous or self.accounts.authenticate(header)

    async def startup(self) -> None:
        """Open what the service needs while serving (called by the app's lifespan)."""
        await self.callbacks.startup()
        await self.images.open()

    async def shutdown(self) -> None:
        """Close what ``startup`` opened (called by the app's lifespan)."""
        await self.callbacks.shutdown()
        await self.images.aclose()

    async def create(self, caller: Caller, body: Any, base_url: str = "") -> Task:
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object")
        model = body.get("model", DEFAULT_MODEL)
        validator = self._validators.get(model) if isinstance(model, str) else None
        (validator or self._validators[DEFAULT_MODEL]).validate(body)
        spec = model_spec(body["model"])
        callback_url = body.get("callback_url")
        if callback_url is not None:
            try:
                await self.policy.check_callback_url(callback_url)
            except UrlRefused as exc:
                raise InvalidRequest(f"callback_url {exc}", param="callback_url") from None
        outcome = await self._inspect_images(body["image_urls"])
        task = self._new_task(caller, body, spec, outcome)
        self._on_created(task, base_url)
        return task

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
        self, caller: Caller, body: dict[str, Any], spec: ModelSpec, outcome: Outcome | None = None
    ) -> Task:
        now = self.clock.now()
        created = int(now)
        plan = self.planner.plan(now, spec, outcome)
        request: dict[str, Any] = {
            k: body[k] for k in ("model", "prompt", "image_urls", "callback_url") if k in body
        }
        task = Task(
            id=self.planner.task_id(created),
            account=caller.account,
            model=spec.name,
            created=created,
            estimated_time=spec.estimated_time,
            billing_rule=spec.billing_rule,
            credits_reserved=spec.credits_reserved,
            user_group=self.settings.user_group,
            request=request,
            plan=plan,
            result_names=self.planner.result_names(
                caller.account, created, spec.result_count, spec.result_format
            ),
        )
        self.store.add(task)
        self.counters.created += 1
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
            self.store.remove(task_id)
            return None
        return task

    def reset(self) -> None:
        self.callbacks.reset()
        self.store.clear()
        self.results.clear()
        self.images.clear()
        self.planner.reset()
        self.counters = Counters()
        reset = getattr(self.clock, "reset", None)
        if reset is not None:
            reset()
