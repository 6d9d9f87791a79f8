"""The suite's own callback receiver: records every POST and answers as the URL asks.

A callback URL ends in ``/evolink-contract-tests/hook/<behaviour>/<token>``: ``ok`` answers 200,
``fail`` answers 500 (so the sender retries). ``token`` ties deliveries to one task.

For the in-process fake the receiver is an ``httpx.MockTransport`` handed to ``create_app`` as its
callback transport: nothing leaves the process. For a fake at a URL it is a small HTTP server on
127.0.0.1 (the fake must run with ``--allow-private-urls`` to call it). The live API would need a
public HTTPS receiver, which the suite does not run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOOK = "/evolink-contract-tests/hook"
BEHAVIOURS = {"ok": 200, "fail": 500}


@dataclass(frozen=True)
class Received:
    token: str
    behaviour: str
    headers: dict[str, str]
    body: Any
    """Parsed JSON, or None when the body was not JSON."""
    raw: bytes


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []

    def url(self, base: str, behaviour: str, token: str) -> str:
        return f"{base}{HOOK}/{behaviour}/{token}"

    def record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        parts = path.split("?", 1)[0].removeprefix(HOOK).strip("/").split("/")
        behaviour, token = (parts + ["", ""])[:2]
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._received.append(Received(token, behaviour, headers, body, raw))
        return BEHAVIOURS.get(behaviour, 404)

    def received(self, token: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.token == token]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    # -- in-process: an httpx transport ---------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        async def handle(request: httpx.Request) -> httpx.Response:
            status = self.record(request.url.path, dict(request.headers), await request.aread())
            return httpx.Response(status, json={"received": status == 200})

        return httpx.MockTransport(handle)

    # -- for a fake elsewhere: a loopback HTTP server -------------------------------------------

    def serve(self) -> LoopbackServer:
        return LoopbackServer(self)


class LoopbackServer:
    def __init__(self, receiver: Receiver) -> None:
        outer = receiver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                status = outer.record(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="callback-receiver", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
