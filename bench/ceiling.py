"""The ceiling the fake is measured against: a bare Starlette app with the same two routes,
answering fixed bytes, on the same server (uvicorn with its defaults: uvloop and httptools when
installed, as uvicorn[standard] brings them; no access log), started the same way.

Whatever the fake does beyond this (authentication, parsing and validating the body, the image
check, planning and storing the task, rendering JSON) is what the ratio fake / ceiling measures.
The create route still reads the whole body, as any real handler must.

    python -m bench.ceiling --port 8100
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CREATED = (
    b'{"created":1757156493,"id":"task-unified-1757156493-imcg5zqt","model":"qwen-image-edit",'
    b'"object":"image.generation.task","progress":0,"status":"pending","task_info":{"can_cancel":true,'
    b'"estimated_time":30},"type":"image","usage":{"billing_rule":"per_call","credits_reserved":1,'
    b'"user_group":"default"}}'
)
"""The task-created body, byte for byte the shape the fake sends."""
DETAIL = CREATED.replace(b'"progress":0,"status":"pending"', b'"progress":65,"status":"processing"')
"""The task-detail body of a processing task, the state the bench polls the fake's task in."""
HEALTH = b'{"status":"ok"}'


async def create(request: Request) -> Response:
    await request.body()
    return Response(CREATED, media_type="application/json")


async def detail(request: Request) -> Response:
    return Response(DETAIL, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(HEALTH, media_type="application/json")


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/images/generations", create, methods=["POST"]),
            Route("/v1/tasks/{task_id}", detail, methods=["GET"]),
            Route("/_mock/health", health, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8100, help="port to bind (default 8100)")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
