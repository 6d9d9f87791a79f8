"""The CLI as users run it: a real server in a subprocess, and one-line usage errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from mock_server.cli import main

AUTH = {"Authorization": "Bearer sk-cli"}
BODY = {"model": "qwen-image-edit", "prompt": "p", "image_urls": ["https://images.example.com/a.png"]}


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "EVOLINK_MOCK_IMAGE_CHECK": "off", **(env or {})},  # no fetch of example URLs
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()  # blocks until the socket is bound
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def wait_healthy(base: str) -> None:
    """The socket listens before the banner is printed, so one request waits for the server."""
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/_mock/health").status_code == 200


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_creates_polls_and_stops_cleanly(stop: signal.Signals) -> None:
    with running("--time-scale", "0", "--seed", "3") as (process, base):
        wait_healthy(base)
        with httpx.Client(base_url=base, timeout=5) as client:
            task = client.post("/v1/images/generations", json=BODY, headers=AUTH).json()
            assert task["status"] == "pending"
            client.post("/_mock/clock/advance", json={"seconds": 60})
            done = client.get(f"/v1/tasks/{task['id']}", headers=AUTH).json()
            assert done["status"] == "completed"
            assert done["results"][0].startswith(base + "/")
            assert client.get(done["results"][0]).headers["content-type"] == "image/png"
        process.send_signal(stop)
        assert process.wait(10) == 0
        assert process.stderr is not None
        assert "evolink-mock stopped" in process.stderr.read()


def test_relaxation_is_printed_and_settings_come_from_env() -> None:
    env = {
        "EVOLINK_MOCK_ALLOW_PRIVATE_URLS": "1",
        "EVOLINK_MOCK_API_KEY": "sk-env",
        "EVOLINK_MOCK_TIME_SCALE": "0",
    }
    with running(env=env) as (process, base):
        assert process.stderr is not None
        assert "RELAXED allow-private-urls" in process.stderr.readline()
        wait_healthy(base)
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.post("/v1/images/generations", json=BODY, headers=AUTH).status_code == 401
            ok = client.post("/v1/images/generations", json=BODY, headers={"Authorization": "Bearer sk-env"})
            assert ok.status_code == 200
            assert client.get("/_mock/clock").json()["mode"] == "manual"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


@pytest.mark.parametrize(
    "argv,words",
    [
        (["serve", "--time-scale", "-1"], "--time-scale"),
        (["serve", "--time-scale", "fast"], "--time-scale"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--error-style", "old"], "--error-style"),
        (["serve", "--foreign-task-status", "401"], "403 or 404"),
        (["serve", "--api-key", "=acct"], "--api-key"),
        ([], "COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_env_value_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_MOCK_PORT", "eighty")
    assert main(["serve"]) == 2
    assert "EVOLINK_MOCK_PORT" in capsys.readouterr().err


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--time-scale", "--seed", "--api-key", "--allow-private-urls"):
        assert option in out


def test_openapi_command_prints_the_bundled_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    assert '"openapi":"3.1.0"' in capsys.readouterr().out


def test_same_seed_same_ids_and_plans_in_process_and_as_a_server() -> None:
    from mock_server import ManualClock

    from .conftest import START, make_client

    def observe(client: Any) -> list[Any]:
        ids = [client.post("/v1/images/generations", json=BODY, headers=AUTH).json()["id"] for _ in range(3)]
        failed = client.post(
            "/v1/images/generations", json=BODY, headers={**AUTH, "X-Mock-Scenario": "service-error"}
        ).json()["id"]
        return [client.get(f"/_mock/tasks/{i}").json()["plan"] | {"id": i} for i in [*ids, failed]]

    with make_client(ManualClock(START), seed=5, public_url="http://fake") as api:
        in_process = observe(api)
    env = {"EVOLINK_MOCK_IMAGE_CHECK": "off"}
    args = ("--time-scale", "0", "--seed", "5", "--clock-start", str(START), "--public-url", "http://fake")
    with running(*args, env=env) as (process, base):
        wait_healthy(base)
        with httpx.Client(base_url=base, timeout=10) as client:
            served = observe(client)
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert served == in_process
