"""Account-wide endpoints: the credits page (documented) and the task list and batch read that
official clients use (observed, not documented; marked so in the OpenAPI file)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import schema_files
from .http import base_url as _base_url
from .http import json_response, read_json
from .http import service_of as _service
from .tasks import Task, detail_body, view_at
from .validation import BodyValidator

_QUERY = BodyValidator(schema_files.load("task-list.query.json"))
_BATCH = BodyValidator(schema_files.load("tasks-batch.request.json"))
_QUERY_DEFAULTS = {
    name: prop["default"]
    for name, prop in schema_files.load("task-list.query.json")["properties"].items()
    if "default" in prop
}


def _query(request: Request) -> dict[str, Any]:
    """Query parameters as JSON values: digits become integers, so the schema can judge them."""
    query: dict[str, Any] = {}
    for name, value in request.query_params.items():
        query[name] = int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value
    _QUERY.validate(query)
    return {**_QUERY_DEFAULTS, **query}


def _item(task: Task, now: float, base_url: str) -> dict[str, Any]:
    body = detail_body(task, now, base_url)
    body.pop("results", None)  # list items carry no result links
    return body


async def list_tasks(request: Request) -> Response:
    service = _service(request)
    caller = service.authenticate(request.headers.get("authorization"))
    query = _query(request)
    now, base = service.clock.now(), _base_url(request)
    mine = [t for t in service.store if t.account == caller.account and service.find(t.id) is not None]
    mine.reverse()  # newest first
    wanted = [
        t
        for t in mine
        if ("status" not in query or view_at(t, now).status.value == query["status"])
        and query.get("type", "image") == "image"
        and ("model" not in query or t.model == query["model"])
    ]
    page, size = query["page"], query["page_size"]
    chosen = wanted[(page - 1) * size : page * size]
    return json_response(
        {"data": [_item(t, now, base) for t in chosen], "total": len(wanted), "page": page, "page_size": size}
    )


async def batch_tasks(request: Request) -> Response:
    service = _service(request)
    caller = service.authenticate(request.headers.get("authorization"))
    body = await read_json(request, service.settings.max_body_bytes)
    _BATCH.validate(body)
    now, base = service.clock.now(), _base_url(request)
    found = [service.find(i) for i in dict.fromkeys(body["task_ids"]) if isinstance(i, str)]
    data = [detail_body(t, now, base) for t in found if t is not None and t.account == caller.account]
    return json_response({"data": data})


async def credits(request: Request) -> Response:
    service = _service(request)
    caller = service.authenticate(request.headers.get("authorization"))
    account = service.ledger.account(caller.account)
    used_by_key = account.keys.get(caller.key, 0.0)
    return json_response(
        {
            "data": {
                "token": {
                    "remaining_credits": round(account.balance, 4),
                    "unlimited_credits": True,
                    "used_credits": round(used_by_key, 4),
                },
                "user": {
                    "remaining_credits": round(account.balance, 4),
                    "used_credits": round(account.used, 4),
                },
            },
            "message": "",
            "success": True,
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/tasks", list_tasks, methods=["GET"]),
        Route("/v1/tasks/batch", batch_tasks, methods=["POST"]),
        Route("/v1/credits", credits, methods=["GET"]),
    ]
