"""uvicorn serving one app from a background thread with its own event loop; only ``testing`` uses it.

Why a thread and a loop of its own: the fake must answer clients that are not on the test's loop
(a sync test's ``httpx.Client``, a subprocess, another language), and it must keep answering while
a sync test blocks. Every touch of the app's state then happens on that one loop: callers hand
work over with ``run`` (blocking) or ``arun`` (awaiting), never by touching the service directly.

Start and stop are cheap (a few milliseconds): the socket is bound before the thread starts, so
``port`` is known at once, and the stock ``uvicorn.Server`` pauses (a 0.1 s main-loop tick and a
fixed 0.1 s sleep in ``shutdown``) are replaced by an event and a short poll.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvicorn
from starlette.types import ASGIApp

from .errors import MockError

T = TypeVar("T")

_POLL = 0.002
"""Wall seconds between looks at the connections still open during shutdown."""
_LIVENESS = 0.5
"""Wall seconds between checks that the server thread is alive while a caller waits on it."""


class ServerError(MockError):
    """The fake's server thread failed to start, died, or did not answer in time."""


class _Uvicorn(uvicorn.Server):
    """``uvicorn.Server`` that wakes on an event instead of ticking, and shuts down without pauses."""

    def __init__(
        self, config: uvicorn.Config, stopping: asyncio.Event, grace: float, started: threading.Event
    ) -> None:
        super().__init__(config)
        self._stopping = stopping
        self._grace = grace
        self._started = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._started.set()

    async def main_loop(self) -> None:
        while not await self.on_tick(0):  # tick 0 refreshes the Date header, once a second here
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """What ``uvicorn.Server.shutdown`` does, in the same order, polling instead of sleeping."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after their answer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        state = self.server_state
        while (state.connections or state.tasks) and loop.time() < deadline:
            await asyncio.sleep(_POLL)
        for task in list(state.tasks):
            task.cancel()
        await self.lifespan.shutdown()


class ServerThread:
    """One app served by uvicorn on ``host`` and ``port`` (0: a free one) from a daemon thread."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, grace: float = 2.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        """The port to bind (0: a free one), then the bound one."""
        self.grace = grace
        """Wall seconds shutdown waits for requests still being answered before cancelling them."""
        self._sock: socket.socket | None = None
        self.thread_name = ""
        """The server thread's name (``evolink-fake-<port>``), for telling its log records apart."""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: _Uvicorn | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or not self.alive:
            raise ServerError("the fake is not running (stopped, or its server thread died)")
        return self._loop

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._error

    @property
    def thread_id(self) -> int | None:
        return None if self._thread is None else self._thread.ident

    # -- life cycle --------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # accepted sockets inherit it: without it a keep-alive exchange waits ~40 ms on delayed ACKs
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.thread_name = f"evolink-fake-{self.port}"
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ServerError(f"the fake did not start within {timeout:g} s")
        if self._error is not None:
            error = self._error
            self.stop()
            raise ServerError(f"the fake failed to start: {_describe(error)}") from error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: lifespan shutdown runs (callbacks report what is pending), then the
        thread ends. Safe to call twice, or after a failed start."""
        loop, stopping, server = self._loop, self._stopping, self._server
        if loop is not None and stopping is not None and server is not None and not loop.is_closed():

            def stop_now() -> None:
                server.should_exit = True
                stopping.set()

            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop_now)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise ServerError(f"the fake's server thread did not stop within {timeout:g} s")
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- handing work to the server's loop ---------------------------------------------------------

    def run(self, make: Callable[[], Awaitable[T]], timeout: float | None, what: str) -> T:
        """Run ``make()`` on the server's loop and wait for its result (blocking this thread).

        ``timeout`` (wall seconds, None for no limit) bounds the wait; a server thread that dies
        meanwhile ends it at once either way."""
        if threading.get_ident() == self.thread_id:
            raise RuntimeError(f"{what}: called on the fake's own loop; use the async variant")
        loop = self.loop  # raises when stopped, before a coroutine exists that nobody would await
        future = asyncio.run_coroutine_threadsafe(_awaited(make), loop)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = _LIVENESS if deadline is None else min(_LIVENESS, deadline - time.monotonic())
            try:
                return future.result(max(remaining, 0.0))
            except concurrent.futures.TimeoutError:
                if not self.alive:
                    raise ServerError(f"{what}: the fake's server thread died") from None
                if deadline is not None and time.monotonic() >= deadline:
                    future.cancel()
                    raise ServerError(f"{what}: the fake did not finish within {timeout:g} s") from None

    async def arun(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the server's loop; the caller's (asyncio) loop keeps running meanwhile."""
        loop = self.loop
        if asyncio.get_running_loop() is loop:
            return await make()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(make), loop))

    def call(self, fn: Callable[[], T], what: str, timeout: float = 10.0) -> T:
        """Run the plain function ``fn()`` on the server's loop, between two of its steps."""

        async def on_loop() -> T:
            return fn()

        return self.run(on_loop, timeout, what)

    # -- inside the thread --------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # uvicorn exits with SystemExit when the lifespan fails
            self._error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(RuntimeError):
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        assert self._sock is not None
        self._stopping = asyncio.Event()
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            log_config=None,  # a library leaves logging alone
            log_level=None,
            access_log=False,
            ws="none",
            proxy_headers=False,
        )
        self._server = _Uvicorn(config, self._stopping, self.grace, self._ready)
        await self._server.serve(sockets=[self._sock])


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return "its start-up (lifespan) failed; the log above has the traceback"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
