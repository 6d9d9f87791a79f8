"""``--state-file``: a restarted fake keeps its tasks and still delivers the callbacks it owed.

In-process tests run the app's real lifespan twice on one file (shutdown saves, start-up
restores); the CLI tests run the fake as users do and stop it with SIGINT/SIGTERM. Callbacks go
to ``httpx.MockTransport`` endpoints or to a plain-HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server import ManualClock, RealClock, Settings
from mock_server.callback_log import AttemptError, DeliveryOutcome
from mock_server.cli import main
from mock_server.config import ImageCheck
from mock_server.errors import ConfigError
from mock_server.persistence import FORMAT, VERSION, read, write_atomically
from mock_server.receiver import CallbackReceiver
from mock_server.service import FakeService
from mock_server.urlpolicy import UrlPolicy

from .callback_support import Dns, Endpoint, running_fake
from .conftest import AUTH, DETAIL, GENERATE, NO_CALLBACK_NETWORK, START, VALID_BODY, no_dns, schema_validator
from .test_cli import running, wait_healthy

STATE = schema_validator("mock/state.json")
KEY = {**AUTH, "Idempotency-Key": "order-0000000000000001"}
SCENARIO = {
    "name": "nsfw-fails",
    "match": {"prompt_contains": "nsfw"},
    "outcome": {"fail": {"code": "content_policy_violation", "at_progress": 50}},
}


@pytest.mark.anyio
async def test_a_restarted_fake_keeps_its_state_and_delivers_what_it_owed(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    dns = Dns()
    first = Endpoint(500, default=200)  # the first attempt fails: the retry is owed at shutdown
    async with running_fake(
        ManualClock(START), transport=first.transport, resolver=dns, state_file=path
    ) as fake:
        plain = await fake.create(callback_url=None)
        owed = await fake.create()
        stuck = (
            await fake.client.post(GENERATE, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "stuck"})
        ).json()
        # one task of each kind: plain, with a pending callback, stuck, failing, idempotent
        await fake.client.post("/_mock/scenarios", json=SCENARIO)
        failing = (
            await fake.client.post(GENERATE, json={**VALID_BODY, "prompt": "nsfw"}, headers=AUTH)
        ).json()
        replayable = (await fake.client.post(GENERATE, json=VALID_BODY, headers=KEY)).json()
        await fake.client.post("/_mock/keys/sk-test-owner", json={"credits": 500})
        end = fake.end(owed["id"])
        await fake.run_until(end)  # attempt 1 fails; attempt 2 is due at end + 1 s
        before = {t: await fake.get_raw(t) for t in (plain["id"], owed["id"], failing["id"])}
        keys = (await fake.client.get("/_mock/keys")).json()
        saved_now = fake.clock.now()
        assert [a.error for a in fake.attempts(owed["id"])] == [AttemptError.HTTP_STATUS]

    data = json.loads(Path(path).read_text())
    STATE.validate(data)
    assert (data["format"], data["version"]) == (FORMAT, VERSION)
    assert [d["state"] for d in data["callbacks"]["deliveries"]] == ["scheduled"]
    assert [t["plan"]["ends_at"] for t in data["tasks"] if t["id"] == stuck["id"]] == [None]  # never
    assert data["clock"]["now"] == saved_now
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file became the state file

    later = Endpoint(200)
    clock = ManualClock(START)  # a fresh clock: the saved time wins
    async with running_fake(clock, transport=later.transport, resolver=dns, state_file=path) as fake:
        assert fake.service.restored is not None and fake.service.restored.tasks == 5
        assert clock.now() == saved_now
        assert {t: await fake.get_raw(t) for t in before} == before
        assert (await fake.client.get("/_mock/keys")).json() == keys
        listed = (await fake.client.get("/_mock/scenarios")).json()["scenarios"]
        assert [(s["name"], s["applied"]) for s in listed] == [("nsfw-fails", 1)]
        replay = await fake.client.post(GENERATE, json=VALID_BODY, headers=KEY)
        assert (
            replay.headers.get("idempotency-replayed") == "true" and replay.json()["id"] == replayable["id"]
        )
        assert (await fake.client.get(f"/v1/tasks/{stuck['id']}", headers=AUTH)).json()[
            "status"
        ] == "processing"
        await fake.run_until(end + 60)
        [request] = later.requests  # the retry owed at shutdown, at its due time
        assert json.loads(request.content)["id"] == owed["id"]
        attempts = fake.attempts(owed["id"])
        assert [(a.attempt, a.outcome) for a in attempts] == [
            (1, DeliveryOutcome.PENDING),
            (2, DeliveryOutcome.DELIVERED),
        ]
        assert attempts[1].sent_at == attempts[0].ended_at + 1.0
        fresh = await fake.create(callback_url=None)
        assert fresh["id"] not in before  # the id stream went on; it did not start over


@pytest.mark.anyio
async def test_a_refund_owed_at_shutdown_is_made_after_the_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    quiet = {"resolver": no_dns, "transport": NO_CALLBACK_NETWORK, "state_file": path}
    async with running_fake(ManualClock(START), **quiet) as fake:
        response = await fake.client.post(
            GENERATE, json=VALID_BODY, headers={**AUTH, "X-Mock-Scenario": "service-error"}
        )
        task = response.json()
        spent = (await fake.client.get("/v1/credits", headers=AUTH)).json()["data"]["user"]["used_credits"]
        assert spent == 1
    async with running_fake(ManualClock(START), **quiet) as fake:
        await fake.run_until(fake.end(task["id"]))
        used = (await fake.client.get("/v1/credits", headers=AUTH)).json()["data"]["user"]["used_credits"]
        assert used == 0  # failed tasks are not charged, across a restart too


def test_a_missing_file_is_a_first_run(tmp_path: Path) -> None:
    service = _service(tmp_path / "new.json")
    assert service.restored is not None and not service.restored.found
    assert "none yet" in service.restored.describe()


def _service(path: Path, clock: Any = None) -> FakeService:
    settings = Settings(time_scale=0, seed=7, image_check=ImageCheck.OFF, state_file=str(path))
    return FakeService(settings, clock=clock or ManualClock(START), policy=UrlPolicy(resolver=no_dns))


def _valid_state(tmp_path: Path) -> dict[str, Any]:
    service = _service(tmp_path / "seed.json")
    from mock_server.persistence import snapshot

    return snapshot(service)


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", "not valid JSON"),
        (b'{"format": ', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not an evolink-mock state file"),
        (b'{"tasks": []}', "not an evolink-mock state file"),
        (
            b'{"format": "evolink-mock-state", "version": 2}',
            "format version 2, this evolink-mock reads version 1",
        ),
        (b'{"format": "evolink-mock-state", "version": "1"}', "format version '1'"),
        (b'{"format": "evolink-mock-state", "version": 1}', "corrupt at (top level)"),
        (b'{"format": "evolink-mock-state", "version": 1, "clock": NaN}', "not valid JSON"),
    ],
    ids=[
        "empty",
        "truncated",
        "binary",
        "array",
        "other-json",
        "newer",
        "version-string",
        "no-fields",
        "nan",
    ],
)
def test_a_corrupt_or_foreign_file_is_refused_in_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        read(str(path))
    message = str(caught.value)
    assert words in message and "\n" not in message and str(path) in message
    assert path.read_bytes() == content  # never dropped, never overwritten


@pytest.mark.parametrize(
    "where,value,words",
    [
        (("tasks",), [{"id": "task-unified-1-abc"}], "corrupt at tasks[0]"),
        (("clock", "mode"), "sundial", "corrupt at clock.mode"),
        (("callbacks", "deliveries"), [{"task_id": 1}], "corrupt at callbacks.deliveries[0]"),
        (("random", "ids"), [3, "x", None], "corrupt at random.ids[1]"),
    ],
)
def test_a_file_that_does_not_match_the_schema_names_the_place(
    tmp_path: Path, where: tuple[str, ...], value: Any, words: str
) -> None:
    data = _valid_state(tmp_path)
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        _service(path)


def test_a_bad_random_state_is_refused_not_a_traceback(tmp_path: Path) -> None:
    data = _valid_state(tmp_path)
    data["random"]["ids"] = [3, [1, 2, 3], None]  # schema-valid, but not a Mersenne Twister state
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="corrupt"):
        _service(path)


def test_a_missing_or_read_only_folder_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read(str(tmp_path / "nowhere" / "state.json"))
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # root may write anywhere, so the folder is made read-only in the eyes of the check itself
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    with pytest.raises(ConfigError, match="is not writable: the state could not be saved"):
        read(str(locked / "state.json"))


def test_writes_are_atomic_a_failed_replace_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    write_atomically(path, b"old")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new" and len(synced) == 2  # the file, then its folder

    def broken(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomically(path, b"newer")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left behind


def test_a_failed_save_is_reported_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mock_server import persistence

    service = _service(tmp_path / "state.json")

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persistence, "write_atomically", full)
    reason = persistence.save(service, str(tmp_path / "state.json"))
    assert reason is not None and "NOT saved" in reason and "No space left" in reason


class TestClock:
    def test_a_manual_clock_resumes_at_the_saved_time_even_if_earlier(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        service = _service(path, ManualClock(START + 500))
        service.clock.set(START + 900)
        from mock_server.persistence import save

        assert save(service, str(path)) is None
        restored = _service(path, ManualClock(START + 10_000))
        assert restored.clock.now() == START + 900
        restored.reset()
        assert restored.clock.now() == START + 500  # reset rewinds to the first run's start

    @pytest.mark.parametrize("offset,expected", [(3600.0, "saved"), (-3600.0, "wall")])
    def test_a_real_clock_resumes_at_the_later_of_saved_and_wall(
        self, tmp_path: Path, offset: float, expected: str
    ) -> None:
        from mock_server.persistence import save

        path = tmp_path / "state.json"
        wall = 1_800_000_000.0
        first = _service(path, ManualClock(wall + offset))
        assert save(first, str(path)) is None
        clock = RealClock(wall, time_scale=1.0)
        _service(path, clock)
        target = wall + offset if expected == "saved" else wall
        assert target <= clock.now() < target + 5


class TestCli:
    def test_a_corrupt_file_exits_2_with_one_line_before_listening(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "state.json"
        path.write_text("{not json")
        assert main(["serve", "--port", "0", "--state-file", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not valid JSON" in err and "move it aside" in err

    def test_the_options_have_env_variables_and_defaults(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            main(["serve", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for name in (
            "STATE_FILE",
            "MAX_TASKS",
            "MAX_IDEMPOTENCY_KEYS",
            "IMAGE_CACHE_SIZE",
            "RESULT_CACHE_SIZE",
        ):
            assert f"EVOLINK_MOCK_{name}" in text
        assert "(default 100000)" in text and "(default 256)" in text and "(default 32)" in text

    @pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_stop_saves_and_a_restart_delivers_the_pending_callback(
        self, tmp_path: Path, stop: signal.Signals
    ) -> None:
        path = tmp_path / "state.json"
        args = ("--time-scale", "0", "--seed", "5", "--allow-private-urls", "--state-file", str(path))
        with CallbackReceiver(tls=False) as receiver:
            with running(*args) as (process, base):
                wait_healthy(base)
                with httpx.Client(base_url=base, timeout=5) as client:
                    body = {**VALID_BODY, "callback_url": receiver.url}
                    task = client.post(GENERATE, json=body, headers=AUTH).json()
                process.send_signal(stop)
                assert process.wait(10) == 0
                assert process.stderr is not None
                assert "evolink-mock stopped" in process.stderr.read()
            assert receiver.received == []  # the clock never reached the task's end
            with running(*args) as (process, base):
                assert process.stderr is not None
                lines = [process.stderr.readline() for _ in range(3)]  # after the two relaxations
                assert "restored 1 tasks, 1 pending callback deliveries" in lines[-1], lines
                wait_healthy(base)
                with httpx.Client(base_url=base, timeout=5) as client:
                    assert client.get(f"/v1/tasks/{task['id']}", headers=AUTH).json()["status"] == "pending"
                    client.post("/_mock/clock/advance", json={"seconds": 120})
                hit = receiver.wait_for(task["id"], status="completed")
                DETAIL.validate(hit.json)
                process.send_signal(stop)
                assert process.wait(10) == 0
        saved = json.loads(path.read_text())
        assert [d["state"] for d in saved["callbacks"]["deliveries"]] == ["delivered"]

    def test_a_corrupt_file_stops_a_real_start_with_exit_2(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"
        path.write_text('{"format": "evolink-mock-state", "version": 99}')
        done = subprocess.run(
            [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--state-file", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0 and "format version 99" in done.stderr
        assert path.read_text() == '{"format": "evolink-mock-state", "version": 99}'
