"""Checks: small named functions that raise a typed ``Failure`` when a response breaks the contract.

Every check is registered under its name in ``CHECKS`` (name -> what it checks); the name is what
a finding, the drift report and the deviation table call it. A check knows only the exchange and
what it is given; the contract it checks comes from ``schemas/`` (or, for the rules JSON Schema
cannot state, from the documents cited in its docstring).

``Verifier`` runs a group of checks on one exchange, records every failure in the drift log, then
raises ``DriftFound`` if any reached the failing severity, so a response is judged whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jsonschema.exceptions import ValidationError

from .drift import DriftFound, DriftLog, Failure, Kind, Severity
from .schemas import ERROR, TASK_CREATED, TASK_DETAIL, error_codes, error_types, model_contract, validator
from .targets import Exchange, Target

CHECKS: dict[str, str] = {}
"""Every check: name -> one line saying what it checks (listed in docs/contract-tests.md)."""

F = TypeVar("F", bound=Callable[..., None])
Check = Callable[[Exchange], None]


def check(name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        CHECKS[name] = (fn.__doc__ or "").strip().splitlines()[0]
        return fn

    return register


class Failures(AssertionError):
    """Several failures from one check (a schema check reports every violated rule)."""

    def __init__(self, failures: list[Failure]) -> None:
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = failures


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _where(error: ValidationError) -> str:
    parts = ["[]" if isinstance(p, int) else str(p) for p in error.absolute_path]
    return ".".join(parts).replace(".[]", "[]") or "(body)"


def _describe(error: ValidationError) -> tuple[str, str]:
    """(expected, observed) of one schema error, stable across examples (no lengths, no ids)."""
    where, keyword, rule = _where(error), str(error.validator), error.validator_value
    value = error.instance
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        place = "" if where == "(body)" else f"{where}."
        return f"{place}{missing} present", "missing"
    if keyword == "type":
        return f"{where} of type {rule}", f"{_json_type(value)}"
    if keyword in ("enum", "const"):
        options = rule if keyword == "enum" else [rule]
        shown = (
            repr(value) if isinstance(value, str | int | float | bool) or value is None else _json_type(value)
        )
        return f"{where} one of {options}", shown
    if keyword == "not":
        return f"{where} not matching {rule}", "matched"
    if keyword == "pattern":
        return f"{where} matching {rule}", repr(value)[:80]
    return f"{where}: {keyword} {rule}", f"breaks {keyword}"


@check("json-body")
def json_body(ex: Exchange) -> None:
    """The body is JSON with Content-Type application/json (every documented response is)."""
    if ex.body is None:
        raise Failure("json-body", "a JSON body", f"{len(ex.content)} bytes that are not JSON")
    content_type = ex.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise Failure("json-body", "Content-Type application/json", repr(content_type or "none"))


def conforms(ex: Exchange, schema_name: str) -> None:
    """Validate against one schema file; every violated rule is its own failure."""
    name = f"schema.{schema_name.removesuffix('.json')}"
    if ex.body is None:
        return  # json_body reports it
    errors = sorted(validator(schema_name).iter_errors(ex.body), key=lambda e: list(e.absolute_path))
    failures = [Failure(name, *_describe(e)) for e in errors]
    if failures:
        raise Failures(failures)


for _schema in (TASK_CREATED, TASK_DETAIL, ERROR):
    CHECKS[f"schema.{_schema.removesuffix('.json')}"] = f"the body conforms to schemas/{_schema}"


@check("status")
def status_is(ex: Exchange, expected: int, name: str = "status") -> None:
    """The HTTP status is the one the contract gives for this request.

    ``name`` says which request it was (``reject.prompt.maxLength``, ``auth.missing-key``...), so
    each expectation is its own finding."""
    if ex.status != expected:
        observed = f"HTTP {ex.status}"
        if ex.status == 200 and isinstance(ex.body, dict) and "id" in ex.body:
            observed += " (task created)"
        elif isinstance(ex.body, dict) and isinstance(ex.body.get("error"), dict):
            observed += f" (param {ex.body['error'].get('param')!r})"
        raise Failure(name, f"HTTP {expected}", observed)


@check("request-id")
def request_id(ex: Exchange) -> None:
    """Every response carries X-Request-Id or X-Oneapi-Request-Id (observed gateway headers)."""
    if not (ex.headers.get("x-request-id") or ex.headers.get("x-oneapi-request-id")):
        raise Failure(
            "request-id",
            "an X-Request-Id (or X-Oneapi-Request-Id) header",
            "no request id header",
            severity=Severity.WARNING,
            kind=Kind.OBSERVED,
        )


@check("error-param")
def error_param(ex: Exchange, param: str, name: str = "error-param") -> None:
    """A 4xx for a bad field names that field in ``error.param``."""
    error = ex.body.get("error") if isinstance(ex.body, dict) else None
    observed = error.get("param") if isinstance(error, dict) else None
    if ex.status >= 400 and observed != param:
        raise Failure(name, f"error.param {param!r}", f"{observed!r}")


@check("error-type")
def error_type(ex: Exchange) -> None:
    """``error.type`` is a type documented for the HTTP status (x-error-types of error.json)."""
    error = ex.body.get("error") if isinstance(ex.body, dict) else None
    documented = error_types(ex.status)
    if not isinstance(error, dict) or documented is None:
        return
    if error.get("type") not in documented:
        raise Failure(
            "error-type", f"error.type one of {documented} for HTTP {ex.status}", repr(error.get("type"))
        )


@check("error-code")
def error_code(ex: Exchange) -> None:
    """An integer ``error.code`` equals the HTTP status (older docs); a string one is documented."""
    error = ex.body.get("error") if isinstance(ex.body, dict) else None
    if not isinstance(error, dict):
        return
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        if code != ex.status:
            raise Failure("error-code", f"integer error.code equal to the HTTP status {ex.status}", str(code))
        return
    documented = error_codes(ex.status)
    if isinstance(code, str) and documented is not None and code not in documented:
        raise Failure(
            "error-code",
            f"error.code one of {documented} for HTTP {ex.status}",
            repr(code),
            severity=Severity.WARNING,
            kind=Kind.OBSERVED,
        )


ID_PATTERN = re.compile(r"^task-unified-(\d+)-[a-z0-9]+$")


@check("id-format")
def id_format(ex: Exchange) -> None:
    """The task id is ``task-unified-<created>-<suffix>``, its timestamp equal to ``created``."""
    body = ex.body if isinstance(ex.body, dict) else {}
    task_id, created = body.get("id"), body.get("created")
    match = ID_PATTERN.match(task_id) if isinstance(task_id, str) else None
    if match is None:
        raise Failure("id-format", "id task-unified-<created>-<suffix>", repr(task_id))
    if created != int(match.group(1)):
        raise Failure("id-format", "the id's timestamp equal to created", "they differ")


@check("created-now")
def created_now(ex: Exchange, before: float, after: float, tolerance: float) -> None:
    """``created`` is the creation time in Unix seconds (target clock, within a tolerance)."""
    created = ex.body.get("created") if isinstance(ex.body, dict) else None
    if not isinstance(created, int | float):
        return  # the schema check reports it
    if not before - tolerance - 1 <= created <= after + tolerance:
        delta = created - after
        unit = "x1000 (milliseconds?)" if 500 < created / max(after, 1) < 2000 else f"{delta:+.0f} s"
        raise Failure("created-now", f"created within {tolerance:g} s of the request time", f"off by {unit}")


@check("model-echo")
def model_echo(ex: Exchange, model: str) -> None:
    """The task names the model that was asked for."""
    observed = ex.body.get("model") if isinstance(ex.body, dict) else None
    if observed != model:
        raise Failure("model-echo", f"model {model!r}", repr(observed))


@check("documented-usage")
def documented_usage(ex: Exchange) -> None:
    """A new task reserves the documented credits and estimates the documented time."""
    body = ex.body if isinstance(ex.body, dict) else {}
    contract = model_contract()
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    info: dict[str, Any] = body["task_info"] if isinstance(body.get("task_info"), dict) else {}
    if usage.get("credits_reserved") not in (None, contract.credits_reserved):
        raise Failure(
            "documented-usage",
            f"usage.credits_reserved {contract.credits_reserved:g}",
            repr(usage.get("credits_reserved")),
            severity=Severity.WARNING,
        )
    if info.get("estimated_time") not in (None, contract.estimated_time):
        raise Failure(
            "documented-usage",
            f"task_info.estimated_time {contract.estimated_time}",
            repr(info.get("estimated_time")),
            severity=Severity.WARNING,
        )


IDENTITY = ("id", "created", "model", "object", "type")


@check("task-identity")
def task_identity(ex: Exchange, created: dict[str, Any]) -> None:
    """GET shows the task that was created: same id, created, model, object and type."""
    body = ex.body if isinstance(ex.body, dict) else {}
    changed = [k for k in IDENTITY if k in created and body.get(k) != created[k]]
    if changed:
        raise Failure("task-identity", "id, created, model, object, type as on creation", f"{changed} differ")


STATUS_RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2, "cancelled": 2}
TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class TaskHistory:
    """What the suite has seen of one task, in order of the target's clock."""

    created: dict[str, Any]
    origin: Exchange | None = None
    """The create request: what a finding about this task reproduces."""
    seen: list[dict[str, Any]] = field(default_factory=list)
    downloaded: bool = False

    @property
    def task_id(self) -> str:
        return str(self.created.get("id"))

    @property
    def callback_url(self) -> str | None:
        request = self.origin.request_json if self.origin is not None else None
        url = request.get("callback_url") if isinstance(request, dict) else None
        return url if isinstance(url, str) else None

    @property
    def last(self) -> dict[str, Any] | None:
        return self.seen[-1] if self.seen else None

    @property
    def terminal(self) -> bool:
        return self.last is not None and self.last.get("status") in TERMINAL


@check("progress-monotonic")
def progress_monotonic(ex: Exchange, history: TaskHistory) -> None:
    """Progress never decreases between reads."""
    last, body = history.last, ex.body
    if last is None or not isinstance(body, dict):
        return
    before, now = last.get("progress"), body.get("progress")
    if isinstance(before, int) and isinstance(now, int) and now < before:
        raise Failure("progress-monotonic", "progress never decreasing", "progress went down")


@check("status-forward")
def status_forward(ex: Exchange, history: TaskHistory) -> None:
    """Status moves only forward: pending -> processing -> completed | failed | cancelled."""
    last, body = history.last, ex.body
    if last is None or not isinstance(body, dict):
        return
    before, now = last.get("status"), body.get("status")
    if before in STATUS_RANK and now in STATUS_RANK and STATUS_RANK[now] < STATUS_RANK[before]:
        raise Failure("status-forward", "status moving only forward", f"{before} -> {now}")


def _final_state(body: dict[str, Any]) -> dict[str, Any]:
    """What may not change once a task is terminal (result URLs may be re-signed: counted only)."""
    results, error = body.get("results"), body.get("error")
    return {
        "status": body.get("status"),
        "progress": body.get("progress"),
        "results": len(results) if isinstance(results, list) else results,
        "error": error.get("code") if isinstance(error, dict) else error,
    }


@check("terminal-final")
def terminal_final(ex: Exchange, history: TaskHistory) -> None:
    """A terminal task never changes again: status, progress, results and error stay as they were."""
    last, body = history.last, ex.body
    if last is None or last.get("status") not in TERMINAL or not isinstance(body, dict):
        return
    before, now = _final_state(last), _final_state(body)
    changed = [k for k in before if before[k] != now[k]]
    if changed:
        raise Failure("terminal-final", f"a {last.get('status')} task unchanged", f"{changed} changed")


def observe(history: TaskHistory) -> list[Callable[[Exchange], None]]:
    """The checks a read of a known task runs against what was seen before."""
    return [
        lambda ex: task_identity(ex, history.created),
        lambda ex: progress_monotonic(ex, history),
        lambda ex: status_forward(ex, history),
        lambda ex: terminal_final(ex, history),
    ]


@check("result-download")
def result_download(ex: Exchange) -> None:
    """A completed task's result URL downloads as an image."""
    from PIL import Image, UnidentifiedImageError

    if ex.status != 200:
        raise Failure("result-download", "HTTP 200 for a result URL", f"HTTP {ex.status}")
    content_type = ex.headers.get("content-type", "")
    if not content_type.startswith("image/"):
        raise Failure("result-download", "an image/* Content-Type", repr(content_type))
    try:
        with Image.open(io.BytesIO(ex.content)) as image:
            image.verify()
            found = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise Failure("result-download", "bytes that decode as an image", "undecodable bytes") from None
    expected = model_contract().result_format
    if found != expected:
        raise Failure(
            "result-download",
            f"a {expected} image (x-evolink-model result_format)",
            found,
            severity=Severity.WARNING,
            kind=Kind.OBSERVED,
        )


@check("callback-delivered")
def callback_delivered(received: list[Any]) -> None:
    """A task with a callback_url POSTs it once terminal (primary page: completed, failed, cancelled)."""
    if not received:
        raise Failure(
            "callback-delivered", "a POST to callback_url once the task is terminal", "none received"
        )


@check("callback-body")
def callback_body(received: Any, terminal: dict[str, Any]) -> None:
    """The callback body is the GET /v1/tasks body at the terminal moment (same format, same values)."""
    if not isinstance(received, dict):
        raise Failure("callback-body", "a JSON task object", "not JSON")
    errors = list(validator(TASK_DETAIL).iter_errors(received))
    if errors:
        expected, observed = _describe(errors[0])
        raise Failure("callback-body", f"a task-detail body ({expected})", observed)
    differ = sorted(k for k in set(received) | set(terminal) if received.get(k) != terminal.get(k))
    if differ:
        raise Failure("callback-body", "the GET /v1/tasks body at the terminal moment", f"{differ} differ")


@check("callback-retries")
def callback_retries(attempts: list[dict[str, Any]]) -> None:
    """A callback answered with non-2xx is retried 3 times, 1, 2 and 4 s after each failed attempt
    (x-callback of the request schema), then given up."""
    delays = model_contract().retry_delays
    expected = f"{1 + len(delays)} attempts, retried after {', '.join(f'{d:g}' for d in delays)} s"
    gaps = [round(b["scheduled_at"] - a["ended_at"], 2) for a, b in zip(attempts, attempts[1:], strict=False)]
    observed = f"{len(attempts)} attempts, retried after {', '.join(f'{g:g}' for g in gaps) or '-'} s"
    if len(attempts) != 1 + len(delays) or any(abs(g - d) > 0.05 for g, d in zip(gaps, delays, strict=False)):
        raise Failure("callback-retries", expected, observed)


# -- groups -------------------------------------------------------------------------------------


def error_envelope() -> list[Check]:
    """Any error response: JSON, the envelope of error.json, a documented type and code."""
    return [json_body, request_id, lambda ex: conforms(ex, ERROR), error_type, error_code]


def error_response(status: int, name: str, param: str | None = None) -> list[Check]:
    """A documented error for request ``name``: the status, the field it names, the envelope.

    The envelope checks run only when the target did answer with an error."""
    checks: list[Check] = [lambda ex: status_is(ex, status, name)]
    if param is not None:
        checks.append(lambda ex: error_param(ex, param, name))
    return checks + [_on_errors(c) for c in error_envelope()]


def _on_success(run: Check) -> Check:
    def guarded(ex: Exchange) -> None:
        if 200 <= ex.status < 300:
            run(ex)

    return guarded


def _on_errors(run: Check) -> Check:
    def guarded(ex: Exchange) -> None:
        if ex.status >= 400:
            run(ex)

    return guarded


def created_response(
    target: Target, model: str, before: float, after: float, name: str = "create.valid-body"
) -> list[Check]:
    """A task created from a valid body (``name`` says which body): the shape and semantics.

    The body checks run only when the target did create a task (the status check says if not)."""
    body_checks: list[Check] = [
        json_body,
        lambda ex: conforms(ex, TASK_CREATED),
        id_format,
        lambda ex: created_now(ex, before, after, target.created_tolerance),
        lambda ex: model_echo(ex, model),
        documented_usage,
    ]
    return [lambda ex: status_is(ex, 200, name), request_id, *(_on_success(c) for c in body_checks)]


def detail_response(history: TaskHistory | None = None) -> list[Check]:
    body_checks: list[Check] = [json_body, lambda ex: conforms(ex, TASK_DETAIL)]
    if history is not None:
        body_checks += observe(history)
    return [
        lambda ex: status_is(ex, 200, "get.known-task"),
        request_id,
        *(_on_success(c) for c in body_checks),
    ]


# -- running checks -------------------------------------------------------------------------------


class Verifier:
    """Runs checks on exchanges and records what fails; raises once a step's findings reach
    ``fail_on`` (warning on fakes, critical on live), after every check of the step has run."""

    def __init__(self, log: DriftLog, fail_on: Severity) -> None:
        self.log = log
        self.fail_on = fail_on

    def __call__(self, ex: Exchange, checks: Iterable[Check], *, observed: bool = False) -> Exchange:
        """Run ``checks`` on ``ex``. ``observed``: the expectation is undocumented behaviour the fake
        imitates (a probe), so a mismatch is at most a warning."""
        failures: list[Failure] = []
        for run in checks:
            try:
                run(ex)
            except Failures as many:
                failures.extend(many.failures)
            except Failure as one:
                failures.append(one)
        if observed:
            for failure in failures:
                if failure.severity is Severity.CRITICAL:
                    failure.severity, failure.kind = Severity.WARNING, Kind.OBSERVED
        if ex.status >= 400:
            self.error_variant(ex)
        self.raise_if_failing([self.record(f, ex) for f in failures])
        return ex

    def record(self, failure: Failure, ex: Exchange | None) -> Failure:
        if ex is None:
            self.log.record(failure, "(run)")
        else:
            self.log.record(failure, ex.endpoint, ex.reproduce(), ex.summary())
        return failure

    def fail(self, failure: Failure, ex: Exchange | None) -> None:
        """Record one failure found outside a check group (a probe, a sequence) and judge it."""
        self.raise_if_failing([self.record(failure, ex)])

    def raise_if_failing(self, failures: list[Failure]) -> None:
        failing = [f for f in failures if f.severity.rank >= self.fail_on.rank]
        if failing:
            raise DriftFound("\n".join(str(f) for f in failing))

    def variant(self, topic: str, observed: str, options: list[str], ex: Exchange) -> None:
        """Record which documented variant the target uses (info; a warning with --baseline if changed)."""
        failure = Failure(
            f"variant.{topic}",
            f"one of {options} (the documents disagree)",
            observed,
            severity=Severity.INFO,
            kind=Kind.VARIANT,
        )
        self.record(failure, ex)

    def error_variant(self, ex: Exchange) -> None:
        error = ex.body.get("error") if isinstance(ex.body, dict) else None
        if isinstance(error, dict) and "code" in error:
            style = "integer" if isinstance(error["code"], int) else "string"
            self.variant("error-code-style", style, ["string (newer docs)", "integer (older docs)"], ex)
