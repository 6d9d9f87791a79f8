"""The load generator: wrk (a compiled HTTP benchmark, so the harness never measures itself),
driven by the Lua scripts beside this file. Each run's numbers come from the one
``BENCH {...}`` line that ``report.lua`` prints from wrk's ``done()`` hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .servers import Launch

BENCH_DIR = Path(__file__).resolve().parent
CREATE_SCRIPT = BENCH_DIR / "create.lua"
POLL_SCRIPT = BENCH_DIR / "poll.lua"
GENERATE_PATH = "/v1/images/generations"
TASK_PATH = "/v1/tasks/"
API_KEY = "sk-bench"
PROMPT = "Replace the background with a sunny beach"
MARKER = "BENCH "

INSTALL_HINT = (
    "wrk (the HTTP load generator) is not installed and could not be installed here.\n"
    "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
    "  Fedora:        sudo dnf install -y wrk\n"
    "  macOS:         brew install wrk   (the bench itself needs Linux /proc and taskset)\n"
    "  from source:   git clone https://github.com/wg/wrk && make -C wrk && cp wrk/wrk /usr/local/bin/\n"
    "then run `make bench` again, or pass --wrk /path/to/wrk."
)


class WrkMissing(RuntimeError):
    """wrk is not there and could not be installed: the message says how to get it."""


class WrkFailed(RuntimeError):
    """wrk ran but printed no result line (bad URL, script error...): the message has its output."""


def create_body(image_url: str, callback_url: str | None = None) -> str:
    """The one POST body of the bench, as compact JSON (sent by wrk and by the harness alike)."""
    body: dict[str, Any] = {"model": "qwen-image-edit", "prompt": PROMPT, "image_urls": [image_url]}
    if callback_url is not None:
        body["callback_url"] = callback_url
    return json.dumps(body, separators=(",", ":"))


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def find_wrk(explicit: str | None, install: bool, say: Callable[[str], None]) -> str:
    """The wrk binary: ``explicit``, or on PATH, or installed with apt-get when allowed and
    possible (root, or password-less sudo)."""
    if explicit:
        if shutil.which(explicit) is None:
            raise WrkMissing(f"--wrk {explicit}: not an executable\n{INSTALL_HINT}")
        return explicit
    found = shutil.which("wrk")
    if found:
        return found
    command = _apt_command() if install else None
    if command is not None:
        say(f"wrk not found: installing it ({' '.join(command)} install -y wrk)")
        done = subprocess.run([*command, "install", "-y", "wrk"], capture_output=True)
        if done.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run([*command, "update"], capture_output=True)
            subprocess.run([*command, "install", "-y", "wrk"], capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(INSTALL_HINT)


def _apt_command() -> list[str] | None:
    apt = shutil.which("apt-get")
    if apt is None:
        return None
    if os.geteuid() == 0:
        return [apt]
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n", apt]
    return None


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes: int
    non_2xx: int
    """Answers with status >= 400 (wrk's ``errors.status``); these routes answer nothing else
    but 200, so this is the non-2xx count."""
    socket_errors: int
    """Connect, read, write errors and timeouts."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.non_2xx == 0 and self.socket_errors == 0

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        line = next((ln for ln in output.splitlines() if ln.startswith(MARKER)), None)
        if line is None:
            raise WrkFailed(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
        raw: dict[str, float] = json.loads(line[len(MARKER) :])
        ms = 1000.0
        return cls(
            requests=int(raw["requests"]),
            duration_s=raw["duration_us"] / 1e6,
            bytes=int(raw["bytes"]),
            non_2xx=int(raw["errors_status"]),
            socket_errors=int(
                raw["errors_connect"] + raw["errors_read"] + raw["errors_write"] + raw["errors_timeout"]
            ),
            p50_ms=raw["latency_p50_us"] / ms,
            p90_ms=raw["latency_p90_us"] / ms,
            p99_ms=raw["latency_p99_us"] / ms,
            p999_ms=raw["latency_p999_us"] / ms,
            mean_ms=raw["latency_mean_us"] / ms,
            max_ms=raw["latency_max_us"] / ms,
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1), "ok": self.ok}


@dataclass(frozen=True, slots=True)
class Wrk:
    path: str
    cpu: int | None
    connections: int = 50
    threads: int = 1

    def version(self) -> str:
        done = subprocess.run([self.path, "-v"], capture_output=True, text=True)
        first = (done.stdout or done.stderr).splitlines()
        return first[0].strip() if first else "unknown"

    def command(self, url: str, script: Path, seconds: int, args: Sequence[str] = ()) -> Launch:
        argv = [
            self.path,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--timeout",
            "2s",
            "-s",
            str(script),
            url,
        ]
        if args:
            argv += ["--", *args]
        return Launch.on(self.cpu, argv)

    def run(self, url: str, script: Path, seconds: int, args: Sequence[str] = ()) -> WrkResult:
        launch = self.command(url, script, seconds, args)
        done = subprocess.run(
            launch.argv,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            preexec_fn=launch.preexec,
        )
        return WrkResult.parse(done.stdout + done.stderr)

    def create(self, base_url: str, body: str, seconds: int) -> WrkResult:
        return self.run(base_url + GENERATE_PATH, CREATE_SCRIPT, seconds, [body, API_KEY])

    def poll(self, base_url: str, task_id: str, seconds: int) -> WrkResult:
        return self.run(base_url + TASK_PATH + task_id, POLL_SCRIPT, seconds, [API_KEY])
