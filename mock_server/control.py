"""The fake's own control and inspection API under ``/_mock`` (tag "mock" in the OpenAPI file).

It steers the clock and shows what the public API hides: each task's plan and timeline.
Bodies are validated with the schema files of ``schemas/mock/``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import callback_routes, fixture_routes, scenario_routes, schema_files
from .errors import TaskNotFound
from .http import base_url as _base_url
from .http import json_response, read_json
from .http import service_of as _service
from .tasks import Task, detail_body, view_at
from .validation import BodyValidator

if TYPE_CHECKING:
    from .service import FakeService

PREFIX = "/_mock"

_ADVANCE = BodyValidator(schema_files.load("mock/clock-advance.json"))
_WAIT = bool(schema_files.load("mock/clock-advance.json")["properties"]["wait"]["default"])
_WAIT_TIMEOUT = float(schema_files.load("mock/clock-advance.json")["properties"]["wait_timeout"]["default"])
_SET = BodyValidator(schema_files.load("mock/clock-set.json"))
_CREDITS = BodyValidator(schema_files.load("mock/credits-set.json"))


def _finite(value: float) -> float | None:
    """JSON has no infinity: a stuck task's end is shown as null."""
    return None if math.isinf(value) else value


def clock_state(service: FakeService) -> dict[str, Any]:
    clock = service.clock
    return {
        "now": clock.now(),
        "mode": clock.mode,
        "time_scale": clock.time_scale,
        "pending_events": clock.pending_timers(),
        "callbacks_in_flight": service.callbacks.in_flight(),
    }


async def health(request: Request) -> Response:
    service = _service(request)
    return json_response(
        {
            "status": "ok",
            "tasks": len(service.store),
            "clock": clock_state(service),
            # what a client (the contract tests) may rely on: strict URLs? unknown keys refused?
            "allow_private_urls": service.settings.allow_private_urls,
            "open_auth": service.accounts.open,
            "image_check": str(service.settings.image_check),
        }
    )


async def get_clock(request: Request) -> Response:
    return json_response(clock_state(_service(request)))


async def advance_clock(request: Request) -> Response:
    service = _service(request)
    body = await read_json(request, service.settings.max_body_bytes)
    _ADVANCE.validate(body)
    if body.get("wait", _WAIT):  # step event by event, letting callback attempts finish (docs/callbacks.md)
        await service.callbacks.advance(
            float(body["seconds"]), float(body.get("wait_timeout", _WAIT_TIMEOUT))
        )
    else:
        service.clock.advance(float(body["seconds"]))
    return json_response(clock_state(service))


async def set_clock(request: Request) -> Response:
    service = _service(request)
    body = await read_json(request, service.settings.max_body_bytes)
    _SET.validate(body)
    service.clock.set(float(body["now"]))
    return json_response(clock_state(service))


def describe(task: Task, now: float, base_url: str) -> dict[str, Any]:
    plan = task.plan
    view = view_at(task, now)
    return {
        "id": task.id,
        "account": task.account,
        "status": view.status.value,
        "progress": view.progress,
        "request": task.request,
        "plan": {
            "created_at": plan.created_at,
            "starts_at": plan.starts_at,
            "ends_at": _finite(plan.ends_at),
            "outcome": plan.outcome.status.value,
            "final_progress": plan.final_progress,
            "result_files": [f"{base_url}/{name}" for name in task.result_names],
        },
    }


async def list_tasks(request: Request) -> Response:
    service = _service(request)
    now, base = service.clock.now(), _base_url(request)
    account = request.query_params.get("account")
    tasks = [
        describe(t, now, base)
        for t in service.store
        if (account is None or t.account == account) and service.find(t.id) is not None
    ]
    return json_response({"tasks": tasks})


async def get_task(request: Request) -> Response:
    service = _service(request)
    task_id = request.path_params["task_id"]
    task = service.find(task_id)
    if task is None:
        raise TaskNotFound(f"Task not found or expired: {task_id}", param="task_id")
    now, base = service.clock.now(), _base_url(request)
    body = describe(task, now, base)
    body["task"] = detail_body(task, now, base)
    body["timeline"] = [
        {"status": status.value, "at": _finite(at), "reached": at <= now}
        for status, at in task.plan.timeline()
    ]
    return json_response(body)


async def reset(request: Request) -> Response:
    _service(request).reset()
    return json_response({"reset": True})


async def cancel_task(request: Request) -> Response:
    service = _service(request)
    task = service.cancel(request.path_params["task_id"])
    return json_response(detail_body(task, service.clock.now(), _base_url(request)))


async def list_keys(request: Request) -> Response:
    ledger = _service(request).ledger
    return json_response({"accounts": [a.describe() for a in ledger.accounts.values()]})


async def set_credits(request: Request) -> Response:
    service = _service(request)
    body = await read_json(request, service.settings.max_body_bytes)
    _CREDITS.validate(body)
    return json_response(
        service.ledger.set_balance(request.path_params["account"], float(body["credits"])).describe()
    )


def routes() -> list[BaseRoute]:
    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/clock", get_clock, methods=["GET"]),
        Route(f"{PREFIX}/clock/advance", advance_clock, methods=["POST"]),
        Route(f"{PREFIX}/clock/set", set_clock, methods=["POST"]),
        Route(f"{PREFIX}/tasks", list_tasks, methods=["GET"]),
        Route(f"{PREFIX}/tasks/{{task_id}}", get_task, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/tasks/{{task_id}}/cancel", cancel_task, methods=["POST"]),
        Route(f"{PREFIX}/keys", list_keys, methods=["GET"]),
        Route(f"{PREFIX}/keys/{{account}}", set_credits, methods=["POST"]),
        *scenario_routes.routes(PREFIX),
        *callback_routes.routes(PREFIX),
        *fixture_routes.routes(PREFIX),
    ]
