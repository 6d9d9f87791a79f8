"""A fast loopback callback receiver for the callback-throughput measurement.

A bare ASGI app on uvicorn (uvloop + httptools), so it is never the bottleneck: every POST is
answered 200 with an empty body and counted (with the task id of its JSON body). ``GET /stats``
reports the counts and the first and last arrival on ``time.monotonic()`` (system-wide on Linux,
so the harness can compare it with its own readings); ``POST /reset`` starts counting afresh.

    python -m bench.sink --port 8200
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

_EMPTY_OK: list[Message] = [
    {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]},
    {"type": "http.response.body", "body": b""},
]


class Sink:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.received = 0
        self.ids: set[str] = set()
        self.undecodable = 0
        self.first: float | None = None
        self.last: float | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "unique": len(self.ids),
            "undecodable": self.undecodable,
            "first": self.first,
            "last": self.last,
            "now": time.monotonic(),
        }

    def record(self, body: bytes) -> None:
        now = time.monotonic()
        self.received += 1
        if self.first is None:
            self.first = now
        self.last = now
        try:
            self.ids.add(str(json.loads(body)["id"]))
        except (ValueError, KeyError, TypeError):
            self.undecodable += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path == "/stats":
            await _json(send, self.stats())
            return
        if method == "POST" and path == "/reset":
            self.reset()
            await _json(send, {"reset": True})
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if method == "POST":
            self.record(b"".join(chunks))
        for message in _EMPTY_OK:
            await send(message)


async def _json(send: Send, data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8200, help="port to bind (default 8200)")
    args = parser.parse_args(argv)
    uvicorn.run(Sink(), host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
