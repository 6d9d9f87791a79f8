"""Processes under test: spawned on a pinned CPU, timed to their first healthy answer, and read
from ``/proc`` (resident memory, CPU time) while they run.

Linux only: pinning uses ``taskset`` (or ``sched_setaffinity`` when util-linux is missing) and
the readings come from ``/proc/PID/status`` and ``/proc/PID/stat``.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

REPO = Path(__file__).resolve().parent.parent
HEALTH_PATH = "/_mock/health"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
"""Seconds a server may take to answer its health check before the bench gives up on it."""
HEALTH_POLL_INTERVAL = 0.002
"""Seconds between start-up health polls: short, so the start-up time is not rounded up."""
STOP_TIMEOUT = 8.0
"""Seconds a server may take to exit after SIGTERM before it is killed."""


class ServerFailed(RuntimeError):
    """A server did not start, or died: the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class Cores:
    """Where things run: the server under test on one CPU, the load generator on another."""

    server: int | None
    load: int | None
    note: str

    @classmethod
    def choose(cls, pin: bool = True) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin:
            return cls(None, None, "pinning off (--no-pin): server and load generator unpinned")
        if len(cpus) >= 2:
            return cls(cpus[0], cpus[1], f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]}")
        return cls(
            None,
            None,
            "ONE CPU: server and load generator share it, unpinned; absolute numbers are lower, "
            "the ratios still compare like with like",
        )

    @property
    def pinned(self) -> bool:
        return self.server is not None

    def pin_self(self) -> None:
        """Move the harness itself onto the load CPU, so its polling never takes the server's."""
        if self.load is not None:
            os.sched_setaffinity(0, {self.load})


@dataclass(frozen=True, slots=True)
class Launch:
    """An argv wrapped to run on one CPU: ``taskset -c N`` when available, else an affinity
    call in the child before it execs."""

    argv: list[str]
    preexec: Callable[[], None] | None

    @classmethod
    def on(cls, cpu: int | None, argv: Sequence[str]) -> Launch:
        if cpu is None:
            return cls(list(argv), None)
        taskset = shutil.which("taskset")
        if taskset:
            return cls([taskset, "-c", str(cpu), *argv], None)
        return cls(list(argv), lambda: os.sched_setaffinity(0, {cpu}))

    @property
    def shown(self) -> str:
        return " ".join(self.argv)


def cpu_busy_seconds(cpu: int) -> float:
    """Seconds CPU ``cpu`` has been busy since boot, whoever used it (``/proc/stat``: user, nice,
    system, irq, softirq and steal, the time a hypervisor gave to someone else)."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
            return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    raise ValueError(f"no cpu{cpu} line in /proc/stat")


class Noise:
    """How much of one CPU went to other processes over a stretch of time: the CPU's busy time
    minus the CPU time of our own processes on it (``own``). On a shared machine this tells a
    clean run from one that lost part of its core to someone else. None when nothing is pinned."""

    def __init__(self, cpu: int | None, own: Callable[[], float]) -> None:
        self.cpu, self.own = cpu, own
        self._start = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        if self.cpu is None:
            return None
        return time.monotonic(), cpu_busy_seconds(self.cpu), self.own()

    def percent(self) -> float | None:
        """Others' share of the CPU since construction, in percent of wall time."""
        shares = self.shares()
        return None if shares is None else shares[0]

    def shares(self) -> tuple[float, float] | None:
        """(others' share, everyone's share) of the CPU since construction, in % of wall time."""
        end = self._read()
        if self._start is None or end is None:
            return None
        wall = end[0] - self._start[0]
        if wall <= 0:
            return None
        busy = end[1] - self._start[1]
        foreign = busy - (end[2] - self._start[2])
        return max(0.0, 100.0 * foreign / wall), min(100.0, 100.0 * busy / wall)


def harness_cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (wrk, once its run has returned)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def fake_argv(port: int, *extra: str) -> list[str]:
    """The fake as users run it (``python -m mock_server serve``), on ``port``."""
    return [sys.executable, "-m", "mock_server", "serve", "--host", HOST, "--port", str(port), *extra]


def ceiling_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.ceiling", "--host", HOST, "--port", str(port)]


def sink_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.sink", "--host", HOST, "--port", str(port)]


class Server:
    """One server process; ``start`` returns the seconds from spawn to its first healthy answer."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        cpu: int | None,
        log_dir: Path,
        health_path: str = HEALTH_PATH,
    ) -> None:
        self.name = name
        self.port = port
        self.launch = Launch.on(cpu, argv)
        self.health_path = health_path
        self.cpu = cpu
        self.log_path = log_dir / f"{name}-{port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerFailed(f"{self.name} is not running")
        return self._process.pid

    def start(self, timeout: float = START_TIMEOUT) -> float:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            began = time.perf_counter()
            self._process = subprocess.Popen(
                self.launch.argv,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self.launch.preexec,  # only sched_setaffinity, before exec
            )
        deadline = began + timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                if self._process.poll() is not None:
                    raise ServerFailed(
                        f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(self.url + self.health_path).status_code == 200:
                        return time.perf_counter() - began
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    self.stop()
                    raise ServerFailed(f"{self.name} not healthy after {timeout:g} s:\n{self.log_tail()}")
                time.sleep(HEALTH_POLL_INTERVAL)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def rss_mib(self) -> float:
        """Resident set size now (``VmRSS``), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise ServerFailed(f"{self.name}: no VmRSS in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far (``utime + stime`` of ``/proc/PID/stat``)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def startup_samples(
    name: str, argv_for: Callable[[int], list[str]], cpu: int | None, log_dir: Path, samples: int
) -> list[float]:
    """Seconds from spawn to first healthy answer, once per fresh process."""
    times: list[float] = []
    for _ in range(samples):
        port = free_port()
        with Server(f"{name}-startup", argv_for(port), port, cpu, log_dir) as server:
            times.append(server.start())
    return times
