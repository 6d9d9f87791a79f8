"""``make bench`` / ``python -m bench.run``: the fake against the bare-Starlette ceiling.

Sections, in order: start-up times; interleaved rounds of wrk load (fake create, ceiling create,
fake poll, ceiling poll; warm-up excluded) with RSS after each run; RSS per 100k live tasks and
idle CPU on a fresh fake; callback throughput to a loopback receiver. Results go to
``bench/results/`` (Markdown, JSON, PNG); the tables are printed at the end. bench/README.md says
how to read them.

Exit codes: 0 done (whether or not the targets are met), 1 invalid run (a server answered
errors: the numbers are not comparable), 2 set-up problem (wrk missing, a server would not start).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
from enum import IntEnum
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from . import deliveries, memory, report
from .fake import FIXTURE_PATH, SERVE_FLAGS, FakeSetup, fallback_setup, first_setup, has_fixture, verify
from .load import Wrk, WrkFailed, WrkMissing, find_wrk
from .rounds import BenchError, Target, interleaved
from .servers import REPO, Cores, Server, ServerFailed, ceiling_argv, fake_argv, free_port, startup_samples

RESULTS = REPO / "bench" / "results"


class Exit(IntEnum):
    OK = 0
    INVALID = 1
    SETUP = 2


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """How long each part runs; ``--quick`` picks the smoke-run column."""

    rounds: int
    duration: int
    warmup: int
    startup_samples: int
    memory_tasks: int
    memory_cap: float
    idle_seconds: float
    callback_seconds: int
    drain_cap: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        quick = args.quick

        def pick(value: Any, full: Any, smoke: Any) -> Any:
            return value if value is not None else (smoke if quick else full)

        return cls(
            rounds=pick(args.rounds, 5, 2),
            duration=pick(args.duration, 8, 2),
            warmup=pick(args.warmup, 3, 1),
            startup_samples=pick(args.startup_samples, 3, 1),
            memory_tasks=pick(args.memory_tasks, 100_000, 10_000),
            memory_cap=pick(args.memory_cap, 90.0, 20.0),
            idle_seconds=pick(args.idle_seconds, 5.0, 2.0),
            callback_seconds=pick(args.callback_seconds, 3, 1),
            drain_cap=pick(args.drain_cap, 60.0, 20.0),
        )

    def estimate_seconds(self) -> float:
        rounds = (self.rounds * 4 * self.duration) + 4 * self.warmup + (self.rounds + 1) * 2 * 2.5
        other = self.startup_samples * 2 * 1.5 + self.memory_tasks / 4000 + 2 * self.idle_seconds + 20
        return rounds + other + self.callback_seconds + 20


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure the fake against a bare-Starlette ceiling (issue 9); see bench/README.md.",
        epilog="Exit codes: 0 done, 1 invalid run (errors answered), 2 set-up problem.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 short rounds, small task counts (~1-2 min)"
    )
    parser.add_argument(
        "--rounds", metavar="N", type=_positive_int, help="measured rounds (default 5; quick 2)"
    )
    parser.add_argument(
        "--duration",
        metavar="S",
        type=_positive_int,
        help="seconds per wrk run in a round (default 8; quick 2)",
    )
    parser.add_argument(
        "--warmup",
        metavar="S",
        type=_positive_int,
        help="seconds per warm-up run, excluded (default 3; quick 1)",
    )
    parser.add_argument(
        "--connections", metavar="N", type=_positive_int, default=50, help="wrk connections (default 50)"
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=_positive_int,
        default=1,
        help="wrk threads, on its one CPU (default 1)",
    )
    parser.add_argument(
        "--startup-samples",
        metavar="N",
        type=_positive_int,
        help="fresh start-ups timed per server (default 3; quick 1)",
    )
    parser.add_argument(
        "--memory-tasks",
        metavar="N",
        type=_positive_int,
        help="live tasks created for the RSS reading (default 100000; quick 10000)",
    )
    parser.add_argument(
        "--memory-cap",
        metavar="S",
        type=float,
        help="seconds at most spent creating them (default 90; quick 20)",
    )
    parser.add_argument(
        "--idle-seconds",
        metavar="S",
        type=float,
        help="quiet window of the idle-CPU reading (default 5; quick 2)",
    )
    parser.add_argument(
        "--callback-seconds",
        metavar="S",
        type=_positive_int,
        help="seconds wrk creates tasks with callbacks (default 3; quick 1)",
    )
    parser.add_argument(
        "--drain-cap",
        metavar="S",
        type=float,
        help="seconds at most to wait for their callbacks (default 60; quick 20)",
    )
    parser.add_argument(
        "--callback-time-scale",
        metavar="F",
        type=float,
        default=deliveries.TIME_SCALE,
        help=f"--time-scale of the fake in the callback section (default {deliveries.TIME_SCALE:g}; "
        "0.001 makes the scaled 10 s callback timeout 10 ms, too short to measure deliveries)",
    )
    parser.add_argument(
        "--skip-memory", action="store_true", help="skip the RSS-per-task and idle-CPU section"
    )
    parser.add_argument("--skip-callbacks", action="store_true", help="skip the callback-throughput section")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and wrk to separate CPUs"
    )
    parser.add_argument(
        "--wrk", metavar="PATH", help="the wrk binary (default: wrk on PATH, installed if missing)"
    )
    parser.add_argument("--no-install", action="store_true", help="never try to install wrk")
    parser.add_argument(
        "--out", metavar="DIR", type=Path, default=RESULTS, help="results directory (default bench/results)"
    )
    return parser


def say(line: str) -> None:
    """Progress, on stderr; the final tables go to stdout."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (
        " + uncommitted changes" if git("status", "--porcelain", "--", "mock_server", "schemas") else ""
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


SECTION_ERRORS = (ServerFailed, BenchError, WrkFailed, httpx.HTTPError, OSError, KeyError, ValueError)
"""What ends one section after the rounds (its result says why) rather than the whole run: the
rounds are the expensive part and are written out whatever happens later."""


def section_failed(name: str, exc: BaseException) -> dict[str, Any]:
    first = str(exc).strip().splitlines()
    note = f"{type(exc).__name__}: {first[0] if first else ''}"
    say(f"  !! {name} section failed: {note} (log tail below)\n{exc}")
    return {"failed": True, "note": note}


def start_main_servers(
    cores: Cores, log_dir: Path, stack: contextlib.ExitStack
) -> tuple[Server, Server, FakeSetup]:
    """The fake (image check on if this build can) and the ceiling, kept up for all the rounds."""
    setup = first_setup()
    port = free_port()
    fake = stack.enter_context(
        Server("fake", fake_argv(port, *SERVE_FLAGS, *setup.flags), port, cores.server, log_dir)
    )
    fake.start()
    if not has_fixture(fake.url):
        fake.stop()
        setup = fallback_setup()
        say(f"  no fixture route ({FIXTURE_PATH}) in this build: {setup.describe}")
        port = free_port()
        fake = stack.enter_context(
            Server("fake", fake_argv(port, *SERVE_FLAGS, *setup.flags), port, cores.server, log_dir)
        )
        fake.start()
    port = free_port()
    ceiling = stack.enter_context(Server("ceiling", ceiling_argv(port), port, cores.server, log_dir))
    ceiling.start()
    return fake, ceiling, setup


def run(args: argparse.Namespace) -> int:
    plan = Plan.from_args(args)
    cores = Cores.choose(pin=not args.no_pin)
    say(f"bench: {cores.note}")
    cores.pin_self()
    wrk = Wrk(find_wrk(args.wrk, not args.no_install, say), cores.load, args.connections, args.threads)
    log_dir = args.out / "raw" / "logs"  # this run's server logs only
    shutil.rmtree(log_dir, ignore_errors=True)
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    load_before = _loadavg()
    say(f"bench: about {plan.estimate_seconds() / 60:.0f} min; load average now {load_before}")

    with contextlib.ExitStack() as stack:
        say("servers under test")
        fake, ceiling, setup = start_main_servers(cores, log_dir, stack)
        check = verify(fake.url, setup)
        say(f"  fake: {setup.describe}; {check['detail']}")
        if not check["ok"]:
            say("  !! the bench's own request does not make a healthy task: the numbers will not mean much")
        say(f"interleaved rounds ({plan.rounds} x {plan.duration} s per run, warm-up {plan.warmup} s)")
        runs, aborted = interleaved(
            Target("fake", fake, setup.body(fake.url), counts_tasks=True),
            Target("ceiling", ceiling, setup.body(ceiling.url), counts_tasks=False),
            wrk,
            rounds=plan.rounds,
            seconds=plan.duration,
            warmup_seconds=plan.warmup,
            say=say,
        )
        fake_command = " ".join(fake.launch.argv)
        ceiling_command = " ".join(ceiling.launch.argv)
        wrk_command = " ".join(
            wrk.command(
                fake.url + "/v1/images/generations", Path("bench/create.lua"), plan.duration, ["BODY"]
            ).argv
        )

    say(f"start-up ({plan.startup_samples} fresh process(es) each)")
    startup: dict[str, dict[str, Any]] = {}
    for name, argv_for in (
        ("fake", lambda port: fake_argv(port, *SERVE_FLAGS, *setup.flags)),
        ("ceiling", ceiling_argv),
    ):
        try:
            samples = startup_samples(name, argv_for, cores.server, log_dir, plan.startup_samples)
        except SECTION_ERRORS as exc:
            startup[name] = section_failed(name, exc)
            continue
        startup[name] = {"median_s": statistics.median(samples), "max_s": max(samples), "samples_s": samples}
        say(f"  {name}: {', '.join(f'{s * 1000:.0f} ms' for s in samples)}")

    memory_result: dict[str, Any] | None = None
    if not args.skip_memory:
        say(f"memory: {plan.memory_tasks} live tasks on a fresh fake, then idle CPU")
        try:
            memory_result = memory.measure(
                setup,
                wrk,
                cores,
                log_dir,
                target=plan.memory_tasks,
                idle_seconds=plan.idle_seconds,
                cap_seconds=plan.memory_cap,
                say=say,
            )
        except SECTION_ERRORS as exc:
            memory_result = section_failed("memory", exc)

    callbacks_result: dict[str, Any] | None = None
    if not args.skip_callbacks:
        say("callbacks: throughput to a loopback receiver")
        try:
            callbacks_result = deliveries.measure(
                setup,
                wrk,
                cores,
                log_dir,
                create_seconds=plan.callback_seconds,
                drain_cap=plan.drain_cap,
                say=say,
                time_scale=args.callback_time_scale,
            )
        except SECTION_ERRORS as exc:
            callbacks_result = section_failed("callbacks", exc)
        if callbacks_result.get("skipped"):
            say(f"  skipped: {callbacks_result['note']}")

    sections = {"start-up " + k: v for k, v in startup.items()}
    sections |= {"memory": memory_result or {}, "callbacks": callbacks_result or {}}
    failed = [f"{name} ({result['note']})" for name, result in sections.items() if result.get("failed")]
    summary = report.summarise(runs)
    found = report.goals(summary, startup, memory_result)
    invalid = report.invalid_runs(runs)
    if aborted:
        invalid.append(f"rounds stopped early: {aborted}")
    if not check["ok"]:
        invalid.append(f"image check: {check['detail']}")
    if memory_result and (memory_result.get("non_2xx") or memory_result.get("socket_errors")):
        invalid.append(
            f"memory section: {memory_result['non_2xx']} non-2xx, {memory_result['socket_errors']} socket errors"
        )
    meta: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "rounds": plan.rounds,
        "duration_s": plan.duration,
        "warmup_s": plan.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "cores": cores.note,
        "cpu": _cpu_model(),
        "cpus_online": os.cpu_count(),
        "load average before": load_before,
        "load average after": _loadavg(),
        "image mode": setup.describe,
        "image verification": check["detail"],
        "git": _git_commit(),
        "python": platform.python_version(),
        "uvicorn": _version("uvicorn"),
        "starlette": _version("starlette"),
        "uvloop": _version("uvloop"),
        "httptools": _version("httptools"),
        "wrk": wrk.version(),
        "fake command": fake_command,
        "ceiling command": ceiling_command,
        "wrk create command": wrk_command,
        "plan": dataclasses.asdict(plan),
    }
    data: dict[str, Any] = {
        "meta": meta,
        "invalid": invalid,
        "failed_sections": failed,
        "targets": [g.as_dict() for g in found],
        "summary": summary,
        "runs": [r.as_dict() for r in runs],
        "startup": startup,
        "memory": memory_result,
        "callbacks": callbacks_result,
    }
    written = report.write(data, runs, found, args.out, stamp)
    text = report.markdown(data, runs, found, None)
    sys.stdout.write("\n" + text + "\n")
    sys.stdout.write(
        "written: "
        + ", ".join(str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in written)
        + "\n"
    )
    if invalid:
        say("!! INVALID RUN: " + "; ".join(invalid))
        return Exit.INVALID
    if failed:
        say(f"!! INCOMPLETE: {', '.join(failed)} failed; see above and bench/results/raw/")
        return Exit.SETUP
    return Exit.OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except WrkMissing as exc:
        say(f"bench: {exc}")
        return Exit.SETUP
    except (ServerFailed, BenchError, WrkFailed) as exc:
        say(f"bench: {exc}")
        return Exit.SETUP
    except KeyboardInterrupt:
        say("bench: interrupted; servers stopped")
        return Exit.SETUP


if __name__ == "__main__":
    raise SystemExit(main())
