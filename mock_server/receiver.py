"""A callback receiver for tests: HTTPS on loopback with a throwaway CA, answers scripted per request.

It runs its own event loop in a background thread, so sync tests, async tests and a fake served
by uvicorn or Starlette's TestClient can all send to it::

    with CallbackReceiver() as receiver:              # https://127.0.0.1:<free port>/callback
        app = create_app(Settings(allow_private_urls=True, callback_ca=receiver.ca_path))
        receiver.script(500, 500, 200)                # the next three requests, then 200
        receiver.script(HANG, task_id=task_id)        # or per task (the body's "id")
        hit = receiver.wait_for(task_id, status="completed")      # or: await wait_for_async(...)

Answers: an HTTP status (``500``), ``Reply(status, delay=seconds, body=...)``, ``slow(11)``,
``HANG`` (read the request, never answer, until the client gives up) and ``RESET`` (close the
connection with a TCP reset, no answer). Certificates come from ``trustme``: ``ca_path`` is the PEM
file to pass as ``--callback-ca``. ``tls=False`` serves plain HTTP (the fake then needs
``--allow-private-urls``). Stopping never waits for a hanging or slow answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_REASONS = {200: "OK", 204: "No Content", 500: "Internal Server Error"}


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: ``status`` after ``delay`` wall seconds, with an optional body and headers."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.status}" + (f" after {self.delay:g}s" if self.delay else "")


class _Behaviour:
    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name.upper()


HANG: Final = _Behaviour("hang")
"""Read the request, never answer; the connection stays open until the client gives up."""
RESET: Final = _Behaviour("reset")
"""Read the request, then close the connection with a TCP reset: no answer at all."""

Answer = Reply | _Behaviour
AnswerLike = int | str | Reply | _Behaviour


def slow(seconds: float, status: int = 200) -> Reply:
    """Answer ``status`` only after ``seconds`` of wall time (e.g. ``slow(11)`` past a 10 s timeout)."""
    return Reply(status, delay=seconds)


def as_answer(value: AnswerLike) -> Answer:
    if isinstance(value, Reply | _Behaviour):
        return value
    if isinstance(value, int):
        return Reply(value)
    if value == "hang":
        return HANG
    if value == "reset":
        return RESET
    raise ValueError(f"unknown answer {value!r}: give a status, Reply(...), slow(s), 'hang' or 'reset'")


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it (header names lower-case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    """Wall time (``time.time()``) when the whole request had arrived."""
    answer: str
    """What the receiver did: ``"200"``, ``"500"``, ``"hang"``, ``"reset"``, ``"200 after 11s"``."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def task_id(self) -> str | None:
        return self._field("id")

    @property
    def status(self) -> str | None:
        """The task status in the body (``completed``, ``failed``, ``cancelled``)."""
        return self._field("status")

    def _field(self, name: str) -> str | None:
        return _body_field(self.body, name)


def _body_field(body: bytes, name: str) -> str | None:
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@dataclass(slots=True)
class _Scripts:
    default: Answer = field(default_factory=Reply)
    shared: deque[Answer] = field(default_factory=deque)
    per_task: dict[str, deque[Answer]] = field(default_factory=dict)

    def next_for(self, task_id: str | None) -> Answer:
        queue = self.per_task.get(task_id) if task_id is not None else None
        if queue:
            return queue.popleft()
        if self.shared:
            return self.shared.popleft()
        return self.default


class CallbackReceiver:
    def __init__(
        self,
        *,
        tls: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callback",
        on_request: Callable[[Received], None] | None = None,
        ca: Any = None,
    ) -> None:
        """``ca``: a ``trustme.CA`` to issue the certificate from, so that a fake started
        earlier can already trust it (the pytest plugin shares one per session); default: a new
        throwaway CA."""
        self.tls = tls
        self.host = host
        self.path = path
        self.port = port
        """The bound port once started (0 asks for a free one)."""
        self.on_request = on_request
        """Called on the receiver's thread with each request as it is recorded."""
        self._scripts = _Scripts()
        self._received: list[Received] = []
        self._lock = threading.Condition()
        self._wakers: set[Callable[[], None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._dir: str | None = None
        self.ca_path: str | None = None
        """PEM of the CA that signed the receiver's certificate (None in plain-HTTP mode)."""
        self._server_context: ssl.SSLContext | None = None
        if tls:
            self._make_certificates(ca)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> CallbackReceiver:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="callback-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("callback receiver did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"callback receiver failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Stop at once: hanging and slow answers are abandoned, their connections closed."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop stopped meanwhile
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what tests use ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(self.path)

    def url_for(self, path: str) -> str:
        if not self.port:
            raise RuntimeError("start the receiver first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting the receiver's CA, for a test's own client."""
        if self.ca_path is None:
            raise RuntimeError("the receiver serves plain HTTP: no CA to trust")
        return ssl.create_default_context(cafile=self.ca_path)

    def script(self, *answers: AnswerLike, task_id: str | None = None) -> None:
        """Answer the next requests (of ``task_id``, or of any task) with ``answers``, in order."""
        parsed = [as_answer(a) for a in answers]
        with self._lock:
            if task_id is None:
                self._scripts.shared.extend(parsed)
            else:
                self._scripts.per_task.setdefault(task_id, deque()).extend(parsed)

    def set_default(self, answer: AnswerLike) -> None:
        """The answer once the scripts are used up (200 unless set)."""
        with self._lock:
            self._scripts.default = as_answer(answer)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def requests_for(self, task_id: str, status: str | None = None) -> list[Received]:
        with self._lock:
            return self._matching(task_id, status)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._scripts = _Scripts()

    def wait_for(
        self, task_id: str, *, status: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> Received:
        """Block until the ``count``-th request for ``task_id`` (with that task ``status``) arrived."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._matching(task_id, status)) >= count, timeout):
                raise TimeoutError(self._timeout_message(task_id, status, count, timeout))
            return self._matching(task_id, status)[count - 1]

    async def wait_for_async(
        self, task_id: str, *, status: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> Received:
        """``wait_for`` for async tests: waits without blocking the caller's event loop."""
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(arrived.set)
            except RuntimeError:
                pass  # the waiting loop is gone

        with self._lock:
            self._wakers.add(wake)
        try:
            deadline = loop.time() + timeout
            while True:
                arrived.clear()
                found = self.requests_for(task_id, status)
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(task_id, status, count, timeout))
                try:
                    await asyncio.wait_for(arrived.wait(), remaining)
                except TimeoutError:
                    continue
        finally:
            with self._lock:
                self._wakers.discard(wake)

    # -- inside ------------------------------------------------------------------------------

    def _matching(self, task_id: str, status: str | None) -> list[Received]:
        return [r for r in self._received if r.task_id == task_id and (status is None or r.status == status)]

    def _timeout_message(self, task_id: str, status: str | None, count: int, timeout: float) -> str:
        seen = [(r.task_id, r.status, r.answer) for r in self.received]
        wanted = f"{count} request(s) for {task_id}" + (f" with status {status}" if status else "")
        return f"no {wanted} within {timeout:g} s; received (id, status, answer): {seen}"

    def _make_certificates(self, ca: Any) -> None:
        try:
            import trustme
        except ImportError:
            raise RuntimeError(
                "the HTTPS receiver needs trustme: pip install 'evolink-mock[test]' (or tls=False)"
            ) from None

        ca = trustme.CA() if ca is None else ca
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
        self._dir = tempfile.mkdtemp(prefix="evolink-receiver-")
        self.ca_path = str(Path(self._dir) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self._server_context = context

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._handle, self.host, self.port, ssl=self._server_context, limit=_MAX_HEAD
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for handler in list(self._handlers):
                handler.cancel()
            if self._handlers:
                await asyncio.gather(*self._handlers, return_exceptions=True)
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        answered = False
        try:
            answered = await self._exchange(reader, writer)
            if answered:
                writer.close()
                await writer.wait_closed()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away: nothing to answer
        except ValueError:
            pass  # a malformed request: dropped, the test will see it missing
        except asyncio.CancelledError:
            if self._stop is None or not self._stop.is_set():
                raise
            # the receiver is stopping: end quietly (asyncio logs a handler that ends cancelled)
        finally:
            self._handlers.discard(task)
            if not answered:
                writer.transport.abort()  # no answer: hang ended, reset, or the receiver stopping

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request, record it, act out the scripted answer; True when answered."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, headers = _parse_head(head)
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("bad content-length")
        body = await reader.readexactly(length)
        with self._lock:
            answer = self._scripts.next_for(_body_field(body, "id"))
            record = Received(method, path, headers, body, time.time(), answer.describe())
            self._received.append(record)
            self._lock.notify_all()
            wakers = list(self._wakers)
        for wake in wakers:
            wake()
        if self.on_request is not None:
            self.on_request(record)
        if answer is HANG:
            while await reader.read(4096):
                pass  # until the client closes the connection or the receiver stops
            return False
        if answer is RESET:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False  # _handle aborts the connection: with linger 0, a reset
        assert isinstance(answer, Reply)
        if answer.delay:
            await asyncio.sleep(answer.delay)  # the scripted slowness, in wall time
        writer.write(_response(answer))
        await writer.drain()
        return True


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return parts[0], parts[1], headers


def _response(reply: Reply) -> bytes:
    reason = _REASONS.get(reply.status, "Scripted")
    lines = [f"HTTP/1.1 {reply.status} {reason}", f"Content-Length: {len(reply.body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in reply.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def main(argv: list[str] | None = None) -> int:
    """``python -m mock_server.receiver``: a receiver to watch the fake's callbacks by hand."""
    parser = argparse.ArgumentParser(
        prog="python -m mock_server.receiver",
        description="A loopback callback receiver (HTTPS with a throwaway CA, or plain HTTP).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--plain", action="store_true", help="serve plain HTTP instead of HTTPS")
    parser.add_argument(
        "--answers",
        default="",
        metavar="LIST",
        help="comma-separated answers to the first requests: statuses, hang, reset (e.g. 500,500,200)",
    )
    parser.add_argument("--default", default="200", metavar="ANSWER", help="answer after the list (200)")
    args = parser.parse_args(argv)

    def answer(text: str) -> AnswerLike:
        return int(text) if text.strip().isdigit() else text.strip()

    def show(hit: Received) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(hit.received_at))
        sys.stdout.write(
            f"{stamp} {hit.method} {hit.path} id={hit.task_id} status={hit.status} -> {hit.answer}\n"
        )
        sys.stdout.flush()

    receiver = CallbackReceiver(tls=not args.plain, port=args.port, on_request=show)
    try:
        receiver.script(*(answer(a) for a in args.answers.split(",") if a.strip()))
        receiver.set_default(answer(args.default))
    except ValueError as exc:
        sys.stderr.write(f"{parser.prog}: {exc}\n")
        return 2
    with receiver:
        sys.stderr.write(f"receiver on {receiver.url}\n")
        if receiver.ca_path:
            sys.stderr.write(f"CA for --callback-ca: {receiver.ca_path}\n")
        sys.stderr.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
