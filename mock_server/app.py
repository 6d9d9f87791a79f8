"""The Starlette app: the documented routes, the error renderer and the app factory.

Routes only parse HTTP and call ``FakeService``; every error leaves through ``render_error`` as
the documented envelope, so no input ever yields a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import account_routes, control, deviations, faults, idempotency, results, scenarios
from .clock import Clock, RealClock
from .config import Settings
from .errors import ApiError, InternalError, MethodNotAllowed, NotFound, error_body, error_bytes
from .http import JSON_TYPE, base_url, json_response, read_json, service_of
from .openapi import bundled_bytes
from .request_id import RequestIdMiddleware
from .scenarios import Endpoint, Scenario
from .service import FakeService
from .store import Store
from .tasks import TaskStatus, created_body, detail_body
from .timings import Timings
from .urlpolicy import UrlPolicy

log = logging.getLogger(__name__)

GENERATE_PATH = "/v1/images/generations"
TASK_PATH = "/v1/tasks/{task_id}"


async def with_network(response: Response, scenario: Scenario | None) -> Response:
    """The scenario's network outcome (latency, dropped or broken body) applied to ``response``."""
    if scenario is None or scenario.network is None:
        return response
    return await faults.apply(response, scenario.network.latency_seconds, scenario.network.fault)


async def create_task(request: Request) -> Response:
    service = service_of(request)
    caller = service.authenticate(request.headers.get("authorization"))
    body = await read_json(request, service.settings.max_body_bytes)
    created = await service.create(
        caller,
        body,
        base_url(request),
        scenario_header=request.headers.get(scenarios.HEADER),
        idempotency_key=request.headers.get(idempotency.HEADER),
    )
    headers = {idempotency.REPLAYED_HEADER: "true"} if created.replayed else None
    payload = deviations.created(created_body(created.task), service.settings.deviations)
    return await with_network(json_response(payload, headers=headers), created.scenario)


async def get_task(request: Request) -> Response:
    service = service_of(request)
    caller = service.authenticate(request.headers.get("authorization"))
    scenario = service.scenario_for(Endpoint.GET, caller, request.headers.get(scenarios.HEADER))
    task = service.get(caller, request.path_params["task_id"])
    now = service.clock.now()
    done = task.plan.status_at(now) is TaskStatus.COMPLETED  # only result links need the base URL
    body = detail_body(task, now, base_url(request) if done else "")
    response = json_response(deviations.detail(body, task, now, service.settings.deviations))
    return await with_network(response, scenario)


async def result_file(request: Request) -> Response:
    """A result image, public like the real files host, served while the task is completed and
    its results have not expired."""
    service = service_of(request)
    name = request.url.path.lstrip("/")
    found = service.store.file(name)
    now = service.clock.now()
    if found is None:
        raise NotFound("File not found or expired")
    task, index = found
    ttl = service.results_ttl(task)
    if task.plan.status_at(now) is not TaskStatus.COMPLETED or now >= task.plan.ends_at + ttl:
        raise NotFound("File not found or expired")
    fmt = name.rsplit(".", 1)[-1]
    data = service.results.get(name)
    if data is None:
        data = await service.render_result(task, index, fmt)
        service.results.put(name, data)
    return Response(
        data, media_type=results.MEDIA_TYPES[fmt], headers={"Cache-Control": "private, max-age=86400"}
    )


async def openapi_json(request: Request) -> Response:
    return Response(bundled_bytes(), media_type=JSON_TYPE)


def routes() -> list[BaseRoute]:
    return [
        Route(GENERATE_PATH, create_task, methods=["POST"]),
        Route(TASK_PATH, get_task, methods=["GET"]),
        *account_routes.routes(),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *control.routes(),
        Route("/{folder}/images/{year}/{month}/{day}/{file}", result_file, methods=["GET"]),
    ]


async def render_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            exc = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
        else:
            exc = NotFound(f"No route for {request.method} {request.url.path}")
    if not isinstance(exc, ApiError):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        exc = InternalError("Internal error in the fake; this is a bug, please report it")
    service = service_of(request)
    headers = dict(exc.headers)
    if exc.status == 405:
        headers.setdefault("Allow", ", ".join(_allowed_methods(request)))
    if service.settings.deviations:
        body = deviations.error(error_body(exc, service.settings.error_style), service.settings.deviations)
        return json_response(body, exc.status, headers)
    return Response(
        error_bytes(exc, service.settings.error_style),
        status_code=exc.status,
        headers=headers,
        media_type=JSON_TYPE,
    )


def _allowed_methods(request: Request) -> list[str]:
    from starlette.routing import Match

    allowed: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                allowed |= route.methods
    return sorted(allowed)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    policy: UrlPolicy | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
    image_transport: httpx.AsyncBaseTransport | None = None,
    timings: Timings | None = None,
) -> Starlette:
    """Build one fake from its settings; every resource is passed in or built here.

    ``callback_transport`` replaces the network under callback deliveries (tests pass an
    ``httpx.MockTransport``); the URL policy is still applied on top of it. ``image_transport``
    does the same for input-image fetches; ``timings`` replaces the documented durations.
    """
    settings = settings or Settings()
    service = FakeService(
        settings,
        clock=clock,
        store=store,
        policy=policy,
        timings=timings,
        callback_transport=callback_transport,
        image_transport=image_transport,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(service.clock, RealClock):
            service.clock.attach(asyncio.get_running_loop())
        await service.startup()
        try:
            yield
        finally:
            await service.shutdown()
            if isinstance(service.clock, RealClock):
                service.clock.attach(None)

    app = Starlette(
        routes=routes(),
        lifespan=lifespan,
        exception_handlers={Exception: render_error, HTTPException: render_error, ApiError: render_error},
    )
    app.state.service = service
    if deviations.request_ids(settings.deviations):
        app.add_middleware(RequestIdMiddleware)
    return app
