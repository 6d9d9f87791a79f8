"""An httpx transport into the fake's app on the fake's own loop, with no socket; ``testing`` uses it.

Why not ``httpx.ASGITransport(app)``: that runs the app on the *caller's* loop, while the server
thread serves the same app on its own. The service (store, clock heap, callback engine, image
client) would then be used from two threads and two loops at once: data races, and httpx clients
bound to the wrong loop. This transport hands each request to the server's loop instead, so every
touch of the service happens on one loop whether it came over a socket or through here.

One class serves both ``httpx.Client`` and ``httpx.AsyncClient``. The response is read whole on
the server's loop (the fake's answers are small). A response the app leaves unfinished (the
``connection-reset`` and ``truncated-body`` scenarios) raises ``httpx.RemoteProtocolError``, as
the same answer over a socket does; the read timeout of the request applies, in wall seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

from ._server_thread import ServerThread

log = logging.getLogger(__name__)

CLIENT_ADDRESS = ("127.0.0.1", 0)
"""The peer address the app sees for requests through the transport."""


class LoopTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp, server: ServerThread) -> None:
        self._app = app
        self._server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return self._server.run(lambda: self._exchange(request, body), None, _describe(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return await self._server.arun(lambda: self._exchange(request, body))

    async def _exchange(self, request: httpx.Request, body: bytes) -> httpx.Response:
        """On the server's loop: call the app, collect its whole answer."""
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            status, headers, content = await asyncio.wait_for(self._call(request, body), timeout)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {timeout:g} s", request=request) from None
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _call(
        self, request: httpx.Request, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = request.url
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "server": (url.host, url.port),
            "client": CLIENT_ADDRESS,
        }
        sent_request = False
        finished = asyncio.Event()
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        parts: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body" and not finished.is_set():
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self._app(scope, receive, send)
        except Exception:
            # Starlette re-raises what it rendered as a 500 so that servers log it; log it the way
            # uvicorn does, so the fake's error check sees it whichever way the request came.
            log.exception("Exception in ASGI application (%s)", _describe(request))
            if not finished.is_set():
                raise httpx.RemoteProtocolError(
                    "the fake failed without answering", request=request
                ) from None
        if status is None:
            raise httpx.RemoteProtocolError(
                "the fake closed the connection without answering", request=request
            )
        if not finished.is_set():
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        return status, headers, b"".join(parts)


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {request.url}"
