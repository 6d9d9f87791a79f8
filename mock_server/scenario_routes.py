"""``/_mock/scenarios``: the scenarios registered at run time, and the built-in catalogue."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import NotFound
from .http import json_response, read_json, service_of


def _scenarios(request: Request) -> Any:
    return service_of(request).scenarios


async def list_registered(request: Request) -> Response:
    return json_response({"scenarios": [s.describe() for s in _scenarios(request).registered]})


async def add(request: Request) -> Response:
    body = await read_json(request, service_of(request).settings.max_body_bytes)
    added = _scenarios(request).add_from_api(body)
    return json_response({"added": [s.name for s in added]})


async def clear(request: Request) -> Response:
    _scenarios(request).clear()
    return json_response({"scenarios": []})


async def remove(request: Request) -> Response:
    name = request.path_params["name"]
    if not _scenarios(request).remove(name):
        raise NotFound(f"No registered scenario named {name!r}", param="name")
    return json_response({"removed": name})


async def catalogue(request: Request) -> Response:
    return json_response({"scenarios": [s.describe() for s in _scenarios(request).catalogue.values()]})


def routes(prefix: str) -> list[BaseRoute]:
    return [
        Route(f"{prefix}/scenarios", list_registered, methods=["GET"]),
        Route(f"{prefix}/scenarios", add, methods=["POST"]),
        Route(f"{prefix}/scenarios", clear, methods=["DELETE"]),
        Route(f"{prefix}/scenarios/catalogue", catalogue, methods=["GET"]),
        Route(f"{prefix}/scenarios/{{name}}", remove, methods=["DELETE"]),
    ]
