"""Where the fake's time goes under load: py-spy samples the fake while wrk drives one endpoint.

    python -m bench.profile                  # both endpoints, 10 s each
    python -m bench.profile --endpoint poll --seconds 20

For each endpoint a fresh fake (as ``bench.run`` starts it) runs under ``py-spy record``; wrk
loads it as in the rounds; the collapsed stacks go to
``bench/results/raw/profile-<server>-<endpoint>.txt``
(open them in speedscope or flamegraph.pl) and a summary to ``bench/results/profile-latest.md``:
the share of busy samples per function, self and inclusive, and per library.

Sampling (blocking, 100 Hz) slows the fake; the shares stay meaningful, the req/s do not.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from .fake import SERVE_FLAGS, FakeSetup, fallback_setup, first_setup, has_fixture, verify
from .load import Wrk, find_wrk
from .rounds import Endpoint, Target
from .servers import (
    HEALTH_PATH,
    REPO,
    Cores,
    Launch,
    Server,
    ServerFailed,
    ceiling_argv,
    fake_argv,
    free_port,
)

RESULTS = REPO / "bench" / "results"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
TOP = 25
LOOP_FRAME = "Runner.run (asyncio/runners.py)"


@dataclass(frozen=True, slots=True)
class Stacks:
    """Collapsed stacks (``frame;frame;... count``) with line numbers dropped."""

    counts: dict[tuple[str, ...], int]

    @classmethod
    def read(cls, path: Path, within: str = LOOP_FRAME) -> Stacks:
        """Only stacks through ``within`` (the event loop's frame): the serving work, without
        start-up imports and without worker threads waiting for jobs (which py-spy may count
        as busy)."""
        counts: collections.Counter[tuple[str, ...]] = collections.Counter()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                frames = tuple(_frame(f) for f in stack.split(";"))
                if any(f.startswith(within) for f in frames):
                    counts[frames] += int(count)
        return cls(dict(counts))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def self_time(self) -> collections.Counter[str]:
        found: collections.Counter[str] = collections.Counter()
        for stack, n in self.counts.items():
            found[stack[-1]] += n
        return found

    def inclusive(self) -> collections.Counter[str]:
        found: collections.Counter[str] = collections.Counter()
        for stack, n in self.counts.items():
            for frame in set(stack):
                found[frame] += n
        return found

    def by_area(self) -> collections.Counter[str]:
        """Self time per library (the leaf frame's top-level package or module)."""
        found: collections.Counter[str] = collections.Counter()
        for stack, n in self.counts.items():
            found[_area(stack[-1])] += n
        return found


def _frame(text: str) -> str:
    match = FRAME.match(text.strip())
    if match is None:
        return text.strip()
    return f"{match['function']} ({match['file']})"


def _area(frame: str) -> str:
    match = FRAME.match(frame)
    path = match["file"] if match else frame
    if path.startswith("mock_server/"):
        return path.removesuffix(".py")
    head = path.split("/", 1)[0].removesuffix(".py")
    return head or "?"


def _rows(counter: collections.Counter[str], total: int, limit: int = TOP) -> Iterable[str]:
    for name, n in counter.most_common(limit):
        yield f"| {100 * n / total:5.1f}% | `{name}` |"


def summary(endpoint: str, stacks: Stacks, rps: float) -> list[str]:
    total = max(stacks.total, 1)
    own = collections.Counter({k: v for k, v in stacks.inclusive().items() if "mock_server/" in k})
    return [
        f"## {endpoint}: {stacks.total} busy samples ({rps:.0f} req/s while sampled)",
        "",
        "Self time by library (leaf frame):",
        "",
        "| share | library |",
        "|---|---|",
        *_rows(stacks.by_area(), total, 20),
        "",
        "Self time by function:",
        "",
        "| share | function |",
        "|---|---|",
        *_rows(stacks.self_time(), total),
        "",
        "Inclusive time of the fake's own functions (mock_server/):",
        "",
        "| share | function |",
        "|---|---|",
        *_rows(own, total),
        "",
    ]


def _child_of(pid: int) -> int | None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    return None


def profile_one(
    endpoint: Endpoint,
    setup: FakeSetup,
    wrk: Wrk,
    cores: Cores,
    seconds: int,
    rate: int,
    raw_dir: Path,
    extra: Sequence[str] = (),
    ceiling: bool = False,
) -> tuple[Path, float]:
    """Run a fresh fake (or the ceiling) under py-spy while wrk loads ``endpoint``; the stacks
    file and the req/s."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    port = free_port()
    name = "ceiling" if ceiling else "fake"
    out = raw_dir / f"profile-{name}-{endpoint.value}.txt"
    argv = ceiling_argv(port) if ceiling else fake_argv(port, *SERVE_FLAGS, *setup.flags)
    inner = Launch.on(cores.server, argv)
    argv = [
        py_spy,
        "record",
        "--format",
        "raw",
        "--rate",
        str(rate),
        *extra,
        "-o",
        str(out),
        "--",
        *inner.argv,
    ]
    log_path = raw_dir / f"profile-{name}-{endpoint.value}.log"
    with log_path.open("wb") as log:
        spy = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        server = Server(
            "fake-profiled", [], port, cores.server, raw_dir
        )  # py-spy started it: used for its URL
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(server.url + HEALTH_PATH, timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if spy.poll() is not None or time.monotonic() > deadline:
                raise ServerFailed(f"py-spy or the fake did not start: see {log_path}")
            time.sleep(0.05)
        if not ceiling:
            verify(server.url, setup)
        target = Target(name, server, setup.body(server.url), counts_tasks=not ceiling)
        if endpoint is Endpoint.CREATE:
            result = wrk.create(server.url, target.body, seconds)
        else:
            result = wrk.poll(server.url, target.new_task(), seconds)
    finally:
        child = _child_of(spy.pid) if spy.poll() is None else None
        if child is not None:
            os.kill(child, signal.SIGTERM)  # the fake stops; py-spy then writes its file and exits
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.send_signal(signal.SIGINT)
            spy.wait(10)
    return out, result.rps


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--endpoint", choices=[e.value for e in Endpoint], help="only this one (default both)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per endpoint (default 10)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default 100)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default bench/results)")
    parser.add_argument(
        "--native", action="store_true", help="also sample C frames (uvloop, httptools, jsonschema-rs)"
    )
    parser.add_argument("--ceiling", action="store_true", help="profile the ceiling instead, for comparison")
    args = parser.parse_args(argv)
    cores = Cores.choose()
    cores.pin_self()
    wrk = Wrk(find_wrk(None, True, _say), cores.load)
    raw_dir = args.out / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)

    port = free_port()
    setup = first_setup()
    with Server(
        "fake-probe", fake_argv(port, *SERVE_FLAGS, *setup.flags), port, cores.server, raw_dir
    ) as probe:
        probe.start()
        setup = setup if has_fixture(probe.url) else fallback_setup()

    lines = [
        "# Where the fake's time goes",
        "",
        f"py-spy, {args.rate} Hz, {args.seconds} s of wrk load per endpoint ({wrk.connections} connections); "
        f"{setup.describe}; {cores.note}. Shares are of busy samples (idle excluded).",
        "",
    ]
    endpoints = [Endpoint(args.endpoint)] if args.endpoint else list(Endpoint)
    for endpoint in endpoints:
        sys.stderr.write(f"profiling {endpoint.value} for {args.seconds} s\n")
        extra = ["--native"] if args.native else []
        path, rps = profile_one(
            endpoint, setup, wrk, cores, args.seconds, args.rate, raw_dir, extra, ceiling=args.ceiling
        )
        lines += summary(("ceiling " if args.ceiling else "") + endpoint.value, Stacks.read(path), rps)
    text = "\n".join(lines) + "\n"
    (args.out / ("profile-ceiling-latest.md" if args.ceiling else "profile-latest.md")).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
