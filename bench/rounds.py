"""Interleaved rounds: fake create, ceiling create, fake poll, ceiling poll, repeated.

Interleaving puts both servers under the same machine noise within a few seconds of each other,
so the ratio fake / ceiling of one round is meaningful even on a busy machine; the median of the
rounds' ratios is the number to read. Round 0 is the warm-up and is never counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from .load import GENERATE_PATH, TASK_PATH, Wrk, WrkResult, auth_headers
from .servers import Noise, Server, harness_cpu_seconds

POLL_STATE = "processing"
"""The state a polled task is in while it is measured, the state the ceiling's fixed body shows."""
POLL_WAIT = 10.0
"""Seconds to wait for a fresh task to reach ``POLL_STATE`` (its queue time is 1-3 clock seconds)."""
CEILING_TASK_ID = "task-unified-1757156493-imcg5zqt"
NOISY_PCT = 10.0
"""A run where other processes took more than this share of the server's CPU or of wrk's is
flagged noisy; rounds with a noisy run are left out of the medians when quiet rounds exist."""


class Endpoint(StrEnum):
    CREATE = "create"
    POLL = "poll"


class BenchError(RuntimeError):
    """The bench cannot go on (a server answered what it should not, or stopped answering)."""


@dataclass(slots=True)
class Target:
    """One server under test and the body it is sent."""

    name: str
    server: Server
    body: str
    counts_tasks: bool
    """True for the fake: ``GET /_mock/health`` reports its task count."""

    def tasks(self) -> int | None:
        if not self.counts_tasks:
            return None
        answer = httpx.get(self.server.url + "/_mock/health", timeout=10, trust_env=False)
        count: int = answer.json()["tasks"]
        return count

    def new_task(self) -> str:
        """A fresh task in ``POLL_STATE`` (the fake); the ceiling answers any id the same."""
        if not self.counts_tasks:
            return CEILING_TASK_ID
        with httpx.Client(base_url=self.server.url, timeout=10, trust_env=False) as client:
            created = client.post(GENERATE_PATH, content=self.body, headers=auth_headers())
            if created.status_code != 200:
                raise BenchError(f"{self.name}: create answered {created.status_code}: {created.text[:300]}")
            task_id: str = created.json()["id"]
            deadline = time.monotonic() + POLL_WAIT
            while self.status(client, task_id) != POLL_STATE:
                if time.monotonic() > deadline:
                    raise BenchError(f"{self.name}: task {task_id} not {POLL_STATE} after {POLL_WAIT:g} s")
                time.sleep(0.05)
            return task_id

    def task_status(self, task_id: str) -> str | None:
        if not self.counts_tasks:
            return None
        with httpx.Client(base_url=self.server.url, timeout=10, trust_env=False) as client:
            return self.status(client, task_id)

    @staticmethod
    def status(client: httpx.Client, task_id: str) -> str:
        answer = client.get(TASK_PATH + task_id, headers=auth_headers())
        if answer.status_code != 200:
            raise BenchError(f"GET {TASK_PATH}{task_id} answered {answer.status_code}: {answer.text[:300]}")
        status: str = answer.json()["status"]
        return status


@dataclass(frozen=True, slots=True)
class Run:
    round: int
    """0 for the warm-up (excluded), then 1..N."""
    server: str
    endpoint: Endpoint
    result: WrkResult
    rss_mib: float
    tasks_added: int | None
    """Fake, create: tasks its store gained during the run; at least wrk's count (wrk leaves the
    requests still in flight at the end uncounted), so a cross-check that every 200 made a task."""
    poll_status: str | None
    """Fake, poll: the polled task's status before -> after the run."""
    noise_pct: float | None = None
    """CPU time other processes took on the server's CPU during the run, in % of the run's wall
    time (None when unpinned): a run above ``NOISY_PCT`` lost part of its core to someone else."""
    load_noise_pct: float | None = None
    """The same on wrk's CPU (others than wrk and the harness). Even when that CPU is not full,
    others there delay wrk's wake-ups by milliseconds, and a server answering in tens of
    microseconds then waits for its next request: the ceiling loses far more than the fake."""
    load_busy_pct: float | None = None
    """How busy wrk's CPU was in all (wrk, the harness and others)."""

    @property
    def noisy(self) -> bool:
        return any(n is not None and n > NOISY_PCT for n in (self.noise_pct, self.load_noise_pct))

    @property
    def warmup(self) -> bool:
        return self.round == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "server": self.server,
            "endpoint": self.endpoint.value,
            **self.result.as_dict(),
            "rss_mib": round(self.rss_mib, 1),
            "tasks_added": self.tasks_added,
            "poll_status": self.poll_status,
            "noise_pct": None if self.noise_pct is None else round(self.noise_pct, 1),
            "load_noise_pct": None if self.load_noise_pct is None else round(self.load_noise_pct, 1),
            "load_busy_pct": None if self.load_busy_pct is None else round(self.load_busy_pct, 1),
            "noisy": self.noisy,
        }


def measure(target: Target, endpoint: Endpoint, wrk: Wrk, seconds: int, round_no: int) -> Run:
    poll_status = added = task_id = None
    if endpoint is Endpoint.CREATE:
        before = target.tasks()
    else:
        task_id = target.new_task()
    server_noise = Noise(target.server.cpu, target.server.cpu_seconds)
    load_noise = Noise(wrk.cpu, harness_cpu_seconds)
    if task_id is None:
        result = wrk.create(target.server.url, target.body, seconds)
    else:
        result = wrk.poll(target.server.url, task_id, seconds)
    noise_pct, load_shares = server_noise.percent(), load_noise.shares()
    load_noise_pct, load_busy_pct = load_shares if load_shares is not None else (None, None)
    if task_id is None:
        after = target.tasks()
        if before is not None and after is not None:
            added = after - before
    elif target.counts_tasks:
        poll_status = f"{POLL_STATE} -> {target.task_status(task_id)}"
    if not target.server.alive():
        raise BenchError(
            f"{target.name} died during {endpoint} round {round_no}:\n{target.server.log_tail()}"
        )
    rss = target.server.rss_mib()
    return Run(
        round_no,
        target.name,
        endpoint,
        result,
        rss,
        added,
        poll_status,
        noise_pct,
        load_noise_pct,
        load_busy_pct,
    )


def interleaved(
    fake: Target,
    ceiling: Target,
    wrk: Wrk,
    *,
    rounds: int,
    seconds: int,
    warmup_seconds: int,
    say: Callable[[str], None],
) -> tuple[list[Run], str | None]:
    """Round 0 (warm-up, ``warmup_seconds`` each), then ``rounds`` measured rounds. Returns the
    runs and, when a server stopped answering as it should, why the rounds stopped early (the
    runs so far are kept, so the report can show what happened)."""
    runs: list[Run] = []
    for round_no in range(rounds + 1):
        length = warmup_seconds if round_no == 0 else seconds
        label = "warm-up" if round_no == 0 else f"round {round_no}/{rounds}"
        for endpoint in Endpoint:
            for target in (fake, ceiling):
                try:
                    run = measure(target, endpoint, wrk, length, round_no)
                except BenchError as exc:
                    say(f"  !! {exc}")
                    return runs, str(exc)
                runs.append(run)
                say(f"  {label:12} {endpoint.value:6} {target.name:7} {describe(run)}")
    return runs, None


def describe(run: Run) -> str:
    r = run.result
    text = f"{r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms  RSS {run.rss_mib:6.1f} MiB"
    if run.noise_pct is not None and run.load_noise_pct is not None:
        text += f"  others {run.noise_pct:4.1f}%/{run.load_noise_pct:4.1f}%" + (" NOISY" if run.noisy else "")
    if not r.ok:
        text += f"  !! {r.non_2xx} non-2xx, {r.socket_errors} socket errors"
    return text
