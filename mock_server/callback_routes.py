"""The control API's callback routes: the attempt log and redelivery (``/_mock/callbacks``).

HTTP only: the delivery engine is ``callbacks.Callbacks``; these parse the request and show it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .http import base_url, json_response

if TYPE_CHECKING:
    from .callbacks import Callbacks


def _callbacks(request: Request) -> Callbacks:
    callbacks: Callbacks = request.app.state.service.callbacks
    return callbacks


async def list_callbacks(request: Request) -> Response:
    """Every logged attempt, oldest first, and every delivery (``?task_id=`` keeps one task's)."""
    callbacks = _callbacks(request)
    task_id = request.query_params.get("task_id")
    return json_response(
        {
            "attempts": [a.as_dict() for a in callbacks.attempts(task_id)],
            "deliveries": [d.as_dict() for d in callbacks.deliveries(task_id)],
            "dropped": callbacks.log.dropped,
        }
    )


async def redeliver(request: Request) -> Response:
    view = _callbacks(request).redeliver(request.path_params["task_id"], base_url(request))
    return json_response(view.as_dict(), status_code=202)


def routes(prefix: str) -> list[BaseRoute]:
    return [
        Route(f"{prefix}/callbacks", list_callbacks, methods=["GET"]),
        Route(f"{prefix}/callbacks/{{task_id}}/redeliver", redeliver, methods=["POST"]),
    ]
