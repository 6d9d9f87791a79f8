"""``/_mock/fixtures``: the test images of ``fixtures.py``, served by the fake itself.

A user running the fake with ``--allow-private-urls`` can send
``http://127.0.0.1:8000/_mock/fixtures/cat-1024.png`` as an ``image_urls`` entry and get a
working task. Only catalog names are served: a request's path never reaches the file system.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import NotFound
from .fixtures import catalog, fixture_bytes
from .http import base_url as _base_url
from .http import json_response


async def list_fixtures(request: Request) -> Response:
    base = f"{_base_url(request)}{request.url.path.rstrip('/')}"
    return json_response(
        {
            "fixtures": [
                {
                    "name": f.name,
                    "url": f"{base}/{f.name}",
                    "about": f.about,
                    "media_type": f.media_type,
                    "expect": f.expect.value if f.expect else "valid",
                    "code": f.expect.code if f.expect else None,
                }
                for f in catalog().values()
            ]
        }
    )


async def get_fixture(request: Request) -> Response:
    name = request.path_params["name"]
    fixture = catalog().get(name)
    if fixture is None:
        raise NotFound(f"No fixture named {name[:80]!r}; GET /_mock/fixtures lists them")
    data = await anyio.to_thread.run_sync(fixture_bytes, fixture)
    return Response(data, media_type=fixture.media_type, headers={"Cache-Control": "no-cache"})


def routes(prefix: str) -> list[BaseRoute]:
    return [
        Route(f"{prefix}/fixtures", list_fixtures, methods=["GET"]),
        Route(f"{prefix}/fixtures/{{name}}", get_fixture, methods=["GET"]),
    ]
