"""A real HTTP image server on 127.0.0.1 (a free port, a background thread) for the image tests.

It serves the fixtures and scripted misbehaviour: slow, hanging, lying about Content-Length,
endless bodies, redirects anywhere, gzip, a barrier proving concurrency. It counts hits per path
and bytes sent. Responses are written byte by byte by hand (``http.server``), so nothing corrects
a lie on the way out. Only loopback: tests never send a packet anywhere else.

Paths::

    /fixtures/NAME              a fixture of mock_server.fixtures, with Content-Length
    /files/NAME                 bytes a test registered with ``put``
    /nolength/NAME              a fixture without Content-Length (body ends when the socket closes)
    /status/CODE                an empty answer with that status
    /redirect/N/NAME            N redirects, then /fixtures/NAME
    /redirect-to?to=URL         one 302 to URL
    /lie/short/NAME             Content-Length 1000 more than the body, then close
    /lie/small/NAME             Content-Length 1000, then the whole body
    /lie/huge/NAME              Content-Length 99999999999, then the (small) body
    /endless                    an endless body without Content-Length (counts bytes sent)
    /endless-chunked            the same, chunked
    /trickle/NAME               the fixture 1 KB at a time, one chunk every 50 ms
    /hang/headers               nothing at all until the server stops
    /hang/body/NAME             headers and half the body, then nothing
    /gzip/NAME                  the fixture gzip-compressed, Content-Encoding: gzip
    /barrier/K/NAME/ANY         answers only once K requests are waiting here at once (else 503)
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from mock_server.fixtures import catalog, fixture_bytes

HANG_LIMIT = 30.0
"""Wall seconds a hanging handler waits at most (it is released as soon as the server stops)."""
TRICKLE_INTERVAL = 0.05
ENDLESS_LIMIT = 200 * 1024 * 1024
"""An endless body stops here if the client never stops reading (it must stop far earlier)."""
CHUNK = 64 * 1024


class ImageServer:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.files: dict[str, bytes] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._fixtures: dict[str, bytes] = {}
        self._barriers: dict[str, threading.Barrier] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="image-server", daemon=True
        )

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[ImageServer]:
        server = cls()
        server._thread.start()
        try:
            yield server
        finally:
            server.stopping.set()
            server._server.shutdown()
            server._server.server_close()
            server._thread.join(5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return self.url(f"/files/{name}")

    def fixture(self, name: str) -> bytes:
        with self._lock:
            if name not in self._fixtures:
                self._fixtures[name] = fixture_bytes(catalog()[name])
            return self._fixtures[name]

    def barrier(self, key: str, parties: int) -> threading.Barrier:
        with self._lock:
            return self._barriers.setdefault(key, threading.Barrier(parties))

    def count(self, path: str, sent: int = 0) -> None:
        with self._lock:
            if sent:
                self.sent[path] += sent
            else:
                self.hits[path] += 1

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()
            self.sent.clear()
            self.files.clear()
            self._barriers.clear()


def _handler_for(server: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            server.count(parts.path)
            try:
                self._route(parts.path, parse_qs(parts.query))
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass  # the client gave up, as it should

        def _head(self, status: int, headers: dict[str, str]) -> None:
            lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
            lines.append("Connection: close")
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode())

        def _send(self, path: str, data: bytes) -> None:
            self.wfile.write(data)
            server.count(path, len(data))

        def _body(self, name: str) -> bytes | None:
            if name in server.files:
                return server.files[name]
            if name in catalog():
                return server.fixture(name)
            return None

        def _route(self, path: str, query: dict[str, list[str]]) -> None:
            segments = path.strip("/").split("/")
            kind, rest = segments[0], segments[1:]
            name = rest[-1] if rest else ""
            if kind in ("fixtures", "files"):
                data = self._body(name)
                if data is None:
                    self._head(404, {"Content-Length": "0"})
                    return
                self._head(200, {"Content-Length": str(len(data)), "Content-Type": "image/png"})
                self._send(path, data)
            elif kind == "nolength":
                self._head(200, {"Content-Type": "image/png"})
                self._send(path, self._body(name) or b"")
            elif kind == "status":
                self._head(int(rest[0]), {"Content-Length": "0"})
            elif kind == "redirect":
                hops = int(rest[0])
                target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/fixtures/{name}"
                self._head(302, {"Location": target, "Content-Length": "0"})
            elif kind == "redirect-to":
                self._head(302, {"Location": query["to"][0], "Content-Length": "0"})
            elif kind == "lie":
                data = self._body(name) or b""
                declared = {"short": len(data) + 1000, "small": 1000, "huge": 99_999_999_999}[rest[0]]
                self._head(200, {"Content-Length": str(declared)})
                self._send(path, data)
            elif kind in ("endless", "endless-chunked"):
                self._endless(path, chunked=kind == "endless-chunked")
            elif kind == "trickle":
                data = self._body(name) or b""
                self._head(200, {"Content-Length": str(len(data))})
                for start in range(0, len(data), 1024):
                    if server.stopping.wait(TRICKLE_INTERVAL):
                        return
                    self._send(path, data[start : start + 1024])
            elif kind == "hang" and rest[0] == "headers":
                server.stopping.wait(HANG_LIMIT)
            elif kind == "hang":
                data = self._body(name) or b""
                self._head(200, {"Content-Length": str(len(data))})
                self._send(path, data[: len(data) // 2])
                self.wfile.flush()
                server.stopping.wait(HANG_LIMIT)
            elif kind == "gzip":
                packed = gzip.compress(self._body(name) or b"")
                self._head(200, {"Content-Length": str(len(packed)), "Content-Encoding": "gzip"})
                self._send(path, packed)
            elif kind == "barrier":
                try:
                    server.barrier(f"{rest[0]}/{rest[1]}", int(rest[0])).wait(timeout=5)
                except threading.BrokenBarrierError:
                    self._head(503, {"Content-Length": "0"})
                    return
                data = self._body(rest[1]) or b""
                self._head(200, {"Content-Length": str(len(data))})
                self._send(path, data)
            else:
                self._head(404, {"Content-Length": "0"})

        def _endless(self, path: str, *, chunked: bool) -> None:
            self._head(200, {"Transfer-Encoding": "chunked"} if chunked else {"Content-Type": "image/png"})
            block = b"\x89PNG\r\n\x1a\n" + bytes(CHUNK - 8)
            total = 0
            while total < ENDLESS_LIMIT and not server.stopping.is_set():
                frame = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
                self._send(path, frame)
                total += len(block)

    return Handler
