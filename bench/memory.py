"""Memory per live task, and the CPU that idle tasks cost (none: state is derived, not ticked).

On a fresh fake: read RSS and the task count, create tasks with wrk until ``target`` more are
live, read them again and scale the growth to 100 000 tasks. Idle CPU is the fake's
``utime + stime`` over a quiet window, with almost no tasks and again with all of them: per-task
timers or loops would show as CPU that grows with the task count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .fake import SERVE_FLAGS, FakeSetup, verify
from .load import Wrk
from .servers import Cores, Server, fake_argv, free_port

SETTLE_SECONDS = 1.0
"""Quiet time before a reading, so the last requests' buffers are gone."""
FIRST_CHUNK = 2
"""Seconds of the first wrk run; later runs are sized from the rate so far."""
MAX_CHUNK = 10
"""Longest later run, so a slow (noisy) start cannot make the bench overshoot the target by much."""


def idle_cpu_percent(server: Server, seconds: float) -> float:
    """The server's CPU use over ``seconds`` of no requests, in percent of one core."""
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu1, wall1 = server.cpu_seconds(), time.monotonic()
    return 100.0 * (cpu1 - cpu0) / (wall1 - wall0)


def _health(server: Server) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(server.url + "/_mock/health", timeout=10, trust_env=False).json()
    return answer


def measure(
    setup: FakeSetup,
    wrk: Wrk,
    cores: Cores,
    log_dir: Path,
    *,
    target: int,
    idle_seconds: float,
    cap_seconds: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    port = free_port()
    with Server(
        "fake-memory", fake_argv(port, *SERVE_FLAGS, *setup.flags), port, cores.server, log_dir
    ) as fake:
        fake.start()
        check = verify(fake.url, setup)  # also fetches and caches the image once
        body = setup.body(fake.url)
        time.sleep(SETTLE_SECONDS)
        tasks0, rss0 = _health(fake)["tasks"], fake.rss_mib()
        idle_empty = idle_cpu_percent(fake, idle_seconds)
        say(f"  baseline: {tasks0} task(s), RSS {rss0:.1f} MiB, idle CPU {idle_empty:.2f}% of a core")

        began = time.monotonic()
        made, non_2xx, socket_errors, chunk = 0, 0, 0, FIRST_CHUNK if target > 5000 else 1
        while made < target:
            left = cap_seconds - (time.monotonic() - began)
            if left < 1:
                break
            result = wrk.create(fake.url, body, max(1, min(chunk, int(left))))
            non_2xx += result.non_2xx
            socket_errors += result.socket_errors
            made = _health(fake)["tasks"] - tasks0
            say(f"  created {made} tasks so far ({result.rps:.0f} req/s)")
            rate = max(made / (time.monotonic() - began), result.rps, 1.0)  # the faster: overshoot less
            chunk = min(math.ceil((target - made) / rate), MAX_CHUNK)
        create_seconds = time.monotonic() - began

        time.sleep(SETTLE_SECONDS)
        health = _health(fake)
        tasks1, rss1 = health["tasks"], fake.rss_mib()
        idle_full = idle_cpu_percent(fake, idle_seconds)
        pending = health.get("clock", {}).get("pending_events")
        added = tasks1 - tasks0
        growth = (rss1 - rss0) / added * 100_000 if added > 0 else None
        say(
            f"  after: {tasks1} tasks, RSS {rss1:.1f} MiB, idle CPU {idle_full:.2f}% of a core, "
            f"pending clock events {pending}"
        )
        return {
            "image_check": check,
            "tasks_before": tasks0,
            "tasks_after": tasks1,
            "tasks_added": added,
            "target_tasks": target,
            "create_seconds": round(create_seconds, 1),
            "rss_before_mib": round(rss0, 1),
            "rss_after_mib": round(rss1, 1),
            "rss_per_100k_mib": None if growth is None else round(growth, 1),
            "extrapolated": added < 100_000,
            "non_2xx": non_2xx,
            "socket_errors": socket_errors,
            "idle_seconds": idle_seconds,
            "idle_cpu_pct_few_tasks": round(idle_empty, 2),
            "idle_cpu_pct_many_tasks": round(idle_full, 2),
            "pending_clock_events": pending,
        }
