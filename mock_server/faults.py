"""Network faults on the fake's own responses, for scenarios with a ``network`` outcome.

``latency_seconds`` delays the answer by wall seconds (network time is not clock time, so it is
not scaled and the manual clock does not wait for it). ``reset`` sends the status line and headers
and then drops the connection; ``truncate`` sends half the declared body and drops it;
``malformed`` answers a body that is not JSON. The server logs one line for a dropped response
("ASGI callable returned without completing response"); the client sees what a broken network shows.
"""

from __future__ import annotations

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

MALFORMED_BODY = b'{"id": "task-unified-'


class FaultyResponse(Response):
    def __init__(self, inner: Response, fault: str) -> None:
        self.inner = inner
        self.fault = fault
        super().__init__(status_code=inner.status_code)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = self.inner
        body = bytes(inner.body)
        headers = [(k, v) for k, v in inner.raw_headers if k.lower() != b"content-length"]
        if self.fault == "malformed":
            body = MALFORMED_BODY
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": inner.status_code, "headers": headers})
        if self.fault == "malformed":
            await send({"type": "http.response.body", "body": body})
        elif self.fault == "truncate":
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        # "reset" and "truncate" return without completing the response: the server drops the
        # connection, the client sees it end early.


async def apply(response: Response, latency_seconds: float = 0.0, fault: str | None = None) -> Response:
    if latency_seconds > 0:
        await anyio.sleep(latency_seconds)
    return FaultyResponse(response, fault) if fault else response
