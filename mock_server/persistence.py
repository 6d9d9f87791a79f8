"""``--state-file PATH``: the fake's state saved on clean shutdown and restored at start-up.

A restarted fake keeps its tasks, clock, balances, run-time scenarios, idempotency keys, random
streams and callback deliveries, and still delivers the callbacks that were pending. The file is
versioned JSON (``schemas/mock/state.json``, docs/persistence.md), written atomically: a
temporary file beside it, fsync, ``os.replace``, fsync of the folder; a crash mid-write leaves
the previous file whole. A file that is not valid JSON, not a state file, of another version or
not matching the schema is refused with one line (``ConfigError``: the CLI exits 2): never
silently dropped or overwritten. A missing file is a first run.

Timers hold Python callables, so nothing here pickles: events are re-created from data (each
delivery's due time, each pending refund's task end). Times are clock seconds; a stuck task's
``ends_at`` (infinity) is written ``null``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import schema_files
from .billing import Account, Reservation
from .callback_log import Attempt, AttemptError, DeliveryOutcome
from .callbacks import DeliveryState, SavedDelivery
from .clock import ManualClock
from .errors import ConfigError
from .idempotency import Entry
from .planner import completed
from .scenarios import Source, check_document
from .tasks import Completed, Failed, Outcome, Task, TaskPlan, TaskStatus

if TYPE_CHECKING:
    from .service import FakeService

log = logging.getLogger(__name__)

FORMAT = "evolink-mock-state"
VERSION = 1
SCHEMA_NAME = "mock/state.json"

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Restored:
    """What a start-up read back, for the banner."""

    path: str
    tasks: int = 0
    pending_callbacks: int = 0
    found: bool = True

    def describe(self) -> str:
        if not self.found:
            return f"state-file {self.path}: none yet (starting empty; written at shutdown)"
        return (
            f"state-file {self.path}: restored {self.tasks} tasks, "
            f"{self.pending_callbacks} pending callback deliveries"
        )


# -- saving ------------------------------------------------------------------------------------


def save(service: FakeService, path: str) -> str | None:
    """Write the state atomically; None when saved, else the reason (also logged)."""
    try:
        text = json.dumps(snapshot(service), separators=(",", ":"), allow_nan=False)
        write_atomically(Path(path), text.encode("utf-8"))
    except (OSError, ValueError) as exc:
        reason = f"state NOT saved to {path}: {exc}"
        log.error(reason)
        return reason
    log.info("state saved to %s", path)
    return None


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new, never a mix."""
    folder = path.resolve().parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut only once the folder is synced
        folder_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder_fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the data itself is synced
    finally:
        os.close(folder_fd)


def _time(value: float) -> float | None:
    return None if math.isinf(value) else value


def _outcome(outcome: Outcome) -> Json:
    if isinstance(outcome, Completed):
        return {"kind": "completed", "result_count": outcome.result_count, "status": outcome.status.value}
    return {
        "kind": "failed",
        "code": outcome.code,
        "message": outcome.message,
        "status": outcome.status.value,
    }


def _task(task: Task) -> Json:
    plan = task.plan
    return {
        "id": task.id,
        "account": task.account,
        "model": task.model,
        "created": task.created,
        "estimated_time": task.estimated_time,
        "billing_rule": task.billing_rule,
        "credits_reserved": task.credits_reserved,
        "user_group": task.user_group,
        "request": task.request,
        "result_names": list(task.result_names),
        "plan": {
            "created_at": plan.created_at,
            "starts_at": plan.starts_at,
            "ends_at": _time(plan.ends_at),
            "final_progress": plan.final_progress,
            "outcome": _outcome(plan.outcome),
        },
    }


def _stream(stream: random.Random) -> list[Any]:
    version, internal, gauss = stream.getstate()
    return [version, list(internal), gauss]


def _delivery(saved: SavedDelivery) -> Json:
    return {
        "task_id": saved.task_id,
        "url": saved.url,
        "base_url": saved.base_url,
        "run": saved.run,
        "attempts": saved.attempts,
        "state": saved.state.value,
        "due_at": _time(saved.due_at),
        "redeliver": saved.redeliver,
        "body": None if saved.body is None else saved.body.decode("utf-8"),
    }


def snapshot(service: FakeService) -> Json:
    """The whole state as JSON-ready data (schemas/mock/state.json)."""
    clock = service.clock
    ledger = service.ledger
    scenarios = service.scenarios
    callbacks = service.callbacks
    streams = {name: _stream(s) for name, s in service.planner.streams().items()}
    streams["scenarios"] = _stream(scenarios.stream)
    return {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": time.time(),
        "fake_version": _fake_version(),
        "clock": {"mode": clock.mode, "now": clock.now(), "start": getattr(clock, "start", clock.now())},
        "counters": {"created": service.counters.created},
        "random": streams,
        "tasks": [_task(t) for t in service.store],
        "ledger": {
            "accounts": [
                {"name": a.name, "balance": a.balance, "used": a.used, "keys": dict(a.keys)}
                for a in ledger.accounts.values()
            ],
            "reservations": [
                {"task_id": i, "account": r.account, "key": r.key, "amount": r.amount, "refunded": r.refunded}
                for i, r in ledger.reservations.items()
            ],
        },
        "scenarios": {
            "registered": [
                {"scenario": s.raw, "seen": s.seen, "applied": s.applied}
                for s in scenarios.registered
                if s.source is Source.API
            ],
            "counters": [
                {"name": s.name, "source": s.source.value, "seen": s.seen, "applied": s.applied}
                for s in [*scenarios.registered, *scenarios.catalogue.values()]
                if s.source is not Source.API and (s.seen or s.applied)
            ],
        },
        "idempotency": [
            {"account": account, "key": key, "fingerprint": e.fingerprint, "task_id": e.task_id}
            for account, key, e in service.idempotency.items()
        ],
        "callbacks": {
            "deliveries": [_delivery(d) for d in callbacks.saved()],
            "attempts": [a.as_dict() for a in callbacks.log],
            "dropped": callbacks.log.dropped,
        },
    }


# -- restoring ---------------------------------------------------------------------------------


def read(path: str) -> Json | None:
    """The checked content of a state file; None when there is none yet."""
    where = f"--state-file {path}"
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ConfigError(f"{where}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{where}: folder {folder} is not writable: the state could not be saved")
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    aside = "move it aside (or delete it) to start empty"
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc}); {aside}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f'{where}: not an evolink-mock state file (no "format": "{FORMAT}"); {aside}')
    if data.get("version") != VERSION:
        raise ConfigError(
            f"{where}: format version {data.get('version')!r}, this evolink-mock reads version {VERSION}; "
            f"run the version that wrote it, or {aside}"
        )
    try:
        error = next(iter(schema_files.compiled(SCHEMA_NAME).iter_errors(data)), None)
    except ValueError as exc:  # nested deeper than the validator goes
        raise ConfigError(f"{where}: corrupt ({exc}); {aside}") from None
    if error is not None:
        at = (
            "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path) or "(top level)"
        )
        raise ConfigError(f"{where}: corrupt at {at.lstrip('.')}: {error.message}; {aside}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def restore(service: FakeService, path: str) -> Restored:
    """Read ``path`` into a service being built (before its lifespan starts)."""
    data = read(path)
    if data is None:
        return Restored(path, found=False)
    try:
        return _apply(service, data, path)
    except (KeyError, ValueError, TypeError, IndexError) as exc:  # the schema let something odd through
        raise ConfigError(
            f"--state-file {path}: corrupt ({type(exc).__name__}: {exc}); move it aside to start empty"
        ) from None


def _never(value: float | None) -> float:
    return math.inf if value is None else float(value)


def _read_outcome(data: Json) -> Outcome:
    if data["kind"] == "completed":
        return completed(int(data["result_count"]))
    return Failed(str(data["code"]), str(data["message"]), TaskStatus(data["status"]))


def _read_task(data: Json) -> Task:
    plan = data["plan"]
    return Task(
        id=data["id"],
        account=data["account"],
        model=data["model"],
        created=int(data["created"]),
        estimated_time=int(data["estimated_time"]),
        billing_rule=data["billing_rule"],
        credits_reserved=data["credits_reserved"],
        user_group=data["user_group"],
        request=dict(data["request"]),
        plan=TaskPlan(
            created_at=float(plan["created_at"]),
            starts_at=float(plan["starts_at"]),
            ends_at=_never(plan["ends_at"]),
            outcome=_read_outcome(plan["outcome"]),
            final_progress=int(plan["final_progress"]),
        ),
        result_names=tuple(data["result_names"]),
    )


def _read_stream(stream: random.Random, state: list[Any]) -> None:
    version, internal, gauss = state
    stream.setstate((version, tuple(internal), gauss))


def _read_attempt(data: Json) -> Attempt:
    return Attempt(
        task_id=data["task_id"],
        run=data["run"],
        attempt=data["attempt"],
        url=data["url"],
        scheduled_at=data["scheduled_at"],
        sent_at=data["sent_at"],
        ended_at=data["ended_at"],
        status_code=data["status_code"],
        error=None if data["error"] is None else AttemptError(data["error"]),
        detail=data["detail"],
        wall_latency=data["wall_latency"],
        outcome=DeliveryOutcome(data["outcome"]),
    )


def _resume_clock(service: FakeService, saved: Json) -> None:
    """A manual clock resumes at the saved time; a real one at the later of the saved time and
    where it starts now (wall time or ``--clock-start``): the clock never moves back."""
    clock = service.clock
    if isinstance(clock, ManualClock):
        clock.resume(float(saved["now"]), float(saved["start"]))
    elif float(saved["now"]) > clock.now():
        clock.set(float(saved["now"]))


def _apply(service: FakeService, data: Json, path: str) -> Restored:
    _resume_clock(service, data["clock"])
    service.counters.created = int(data["counters"]["created"])
    streams = {**service.planner.streams(), "scenarios": service.scenarios.stream}
    for name, state in data["random"].items():
        if name in streams:
            _read_stream(streams[name], state)

    tasks = [_read_task(t) for t in data["tasks"]]
    for task in tasks:
        service.store.add(task)
        service.retention.track(task)

    ledger = service.ledger
    for a in data["ledger"]["accounts"]:
        ledger.accounts[a["name"]] = Account(
            a["name"], float(a["balance"]), float(a["used"]), dict(a["keys"])
        )
    for r in data["ledger"]["reservations"]:
        ledger.reservations[r["task_id"]] = Reservation(r["account"], r["key"], r["amount"], r["refunded"])
        owner = service.store.get(r["task_id"])
        if not r["refunded"] and owner is not None and isinstance(owner.plan.outcome, Failed):
            service.clock.call_at(owner.plan.ends_at, _refund(service, owner.id))

    _restore_scenarios(service, data["scenarios"], path)
    for entry in data["idempotency"]:
        service.idempotency.restore(
            entry["account"], entry["key"], Entry(entry["fingerprint"], entry["task_id"])
        )

    callbacks = service.callbacks
    pending = 0
    for d in data["callbacks"]["deliveries"]:
        state = DeliveryState(d["state"])
        body = None if d["body"] is None else str(d["body"]).encode("utf-8")
        saved = SavedDelivery(
            d["task_id"],
            d["url"],
            d["base_url"],
            d["run"],
            d["attempts"],
            state,
            _never(d["due_at"]),
            d["redeliver"],
            body,
        )
        callbacks.resume(saved)
        pending += state.outcome is DeliveryOutcome.PENDING
    for attempt in data["callbacks"]["attempts"]:
        callbacks.log.append(_read_attempt(attempt))
    callbacks.log.dropped += int(data["callbacks"]["dropped"])

    service.sweep(service.clock.now())
    if len(service.store) > service.settings.max_tasks:
        log.warning(
            "%s holds %d live tasks, more than --max-tasks %d: creates get 503 until enough expire",
            path,
            len(service.store),
            service.settings.max_tasks,
        )
    return Restored(path, len(service.store), pending)


def _fake_version() -> str:
    try:
        return metadata.version("evolink-mock")
    except metadata.PackageNotFoundError:
        return "0"


def _refund(service: FakeService, task_id: str) -> Callable[[], None]:
    def refund() -> None:
        service.ledger.refund(task_id)

    return refund


def _restore_scenarios(service: FakeService, saved: Json, path: str) -> None:
    scenarios = service.scenarios
    registered = saved["registered"]
    if registered:
        document = {"scenarios": [r["scenario"] for r in registered]}
        problems = check_document(document, f"--state-file {path}: scenarios")
        if problems:
            raise ConfigError(problems[0])
        for added, counts in zip(scenarios.load(document, Source.API), registered, strict=True):
            added.seen, added.applied = counts["seen"], counts["applied"]
    by_name = {(s.name, s.source.value): s for s in [*scenarios.registered, *scenarios.catalogue.values()]}
    for counts in saved["counters"]:
        scenario = by_name.get((counts["name"], counts["source"]))
        if scenario is not None:  # a scenario no longer in the file: its counters go with it
            scenario.seen, scenario.applied = counts["seen"], counts["applied"]
