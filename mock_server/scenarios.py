"""Scenarios: data that says which requests go wrong, and how.

A scenario has a *match* (the ``X-Mock-Scenario`` header, prompt text or pattern, API key, model,
the n-th matching request, a seeded probability) and an *outcome* (reject with an HTTP error; fail
the task with a business code at a given progress; complete with N results; change the timing;
fault the fake's own response). The file format is ``schemas/mock/scenarios.json``.

Precedence, first that applies wins: the scenario named by the ``X-Mock-Scenario`` header (a
registered one, else the built-in catalogue); the first registered scenario whose match fits (the
``--scenarios`` file first, then those added through the control API, in order); no scenario, the
documented happy path.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import schema_files
from .errors import ERROR_BY_STATUS, ApiError, ConfigError, InvalidRequest

SCHEMA_NAME = "mock/scenarios.json"
HEADER = "x-mock-scenario"
CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")


class Endpoint(StrEnum):
    CREATE = "create"
    GET = "get"
    ANY = "any"


class Source(StrEnum):
    CATALOGUE = "catalogue"
    FILE = "file"
    API = "api"


@dataclass(frozen=True, slots=True)
class Request:
    """What a scenario may look at."""

    endpoint: Endpoint
    api_key: str
    prompt: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    code: str | None = None
    message: str | None = None
    param: str | None = None
    retry_after: int | None = None
    fallback_suggestion: str | None = None

    def error(self, scenario: str) -> ApiError:
        cls = ERROR_BY_STATUS[self.status]
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return cls(
            self.message or f"Error forced by scenario {scenario}",
            param=self.param,
            code=self.code,
            headers=headers,
            fallback_suggestion=self.fallback_suggestion,
        )


@dataclass(frozen=True, slots=True)
class Fail:
    code: str
    message: str
    at_progress: int = 0
    status: str = "failed"


@dataclass(frozen=True, slots=True)
class Timing:
    queue_seconds: float | None = None
    processing_seconds: float | None = None
    stuck: bool = False
    stuck_at_progress: int = 0


@dataclass(frozen=True, slots=True)
class Network:
    latency_seconds: float = 0.0
    fault: str | None = None


@dataclass(slots=True)
class Scenario:
    name: str
    description: str
    imitates: str
    source: Source
    raw: dict[str, Any]
    endpoint: Endpoint = Endpoint.CREATE
    prompt_contains: str | None = None
    prompt_regex: re.Pattern[str] | None = None
    api_key: str | None = None
    model: str | None = None
    nth: int | None = None
    probability: float | None = None
    times: int | None = None
    reject: Reject | None = None
    fail: Fail | None = None
    results: int | None = None
    timing: Timing | None = None
    network: Network | None = None
    seen: int = 0
    applied: int = 0
    _has_conditions: bool = field(default=False)

    @classmethod
    def parse(cls, data: dict[str, Any], source: Source) -> Scenario:
        """Build from data already valid against the scenario schema."""
        match = data.get("match", {})
        outcome = data["outcome"]
        scenario = cls(
            name=data["name"],
            description=data.get("description", ""),
            imitates=data.get("imitates", ""),
            source=source,
            raw=data,
            endpoint=Endpoint(match.get("endpoint", Endpoint.CREATE)),
            prompt_contains=match.get("prompt_contains"),
            prompt_regex=re.compile(match["prompt_regex"]) if "prompt_regex" in match else None,
            api_key=match.get("api_key"),
            model=match.get("model"),
            nth=match.get("nth"),
            probability=match.get("probability"),
            times=data.get("times"),
        )
        scenario._has_conditions = any(k != "endpoint" for k in match)
        if "reject" in outcome:
            scenario.reject = Reject(**outcome["reject"])
        if "fail" in outcome:
            fail = outcome["fail"]
            scenario.fail = Fail(
                code=fail["code"],
                message=fail.get("message", f"Task failed: {fail['code']}"),
                at_progress=fail.get("at_progress", 0),
                status=fail.get("status", "failed"),
            )
        if "complete" in outcome:
            scenario.results = outcome["complete"].get("results", 1)
        if "timing" in outcome:
            scenario.timing = Timing(**outcome["timing"])
        if "network" in outcome:
            scenario.network = Network(**outcome["network"])
        return scenario

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times

    def fits(self, request: Request) -> bool:
        """The match conditions other than n-th and probability."""
        if not self._has_conditions:
            return False
        if self.endpoint is not Endpoint.ANY and self.endpoint is not request.endpoint:
            return False
        prompt = request.prompt or ""
        if self.prompt_contains is not None and self.prompt_contains not in prompt:
            return False
        if self.prompt_regex is not None and not self.prompt_regex.search(prompt):
            return False
        if self.api_key is not None and self.api_key != request.api_key:
            return False
        return self.model is None or self.model == request.model

    def describe(self) -> dict[str, Any]:
        return {**self.raw, "source": self.source.value, "seen": self.seen, "applied": self.applied}


def _path_text(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(node: Any, path: list[str | int]) -> int | None:
    """Line (1-based) of ``path`` in a composed YAML/JSON node tree, for error messages."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _outcome_schema() -> dict[str, Any]:
    outcome: dict[str, Any] = schema_files.load(SCHEMA_NAME)["$defs"]["outcome"]
    return outcome


def check_document(data: Any, where: str = "scenarios", tree: Any = None) -> list[str]:
    """Every problem of a scenario document, one line each (empty when valid)."""
    validator = schema_files.compiled(SCHEMA_NAME)
    problems = []
    try:
        errors = list(validator.iter_errors(data))
    except ValueError as exc:  # nested deeper than the validator goes ("Recursion limit reached")
        return [f"{where}: cannot be checked: {exc}"]
    for error in errors:
        path = list(error.instance_path)
        line = _line_of(tree, path) if tree is not None else None
        at = f"{where}:{line}: " if line is not None else f"{where}: "
        message = error.message
        if type(error.kind).__name__ == "Not":
            message = _outcome_schema().get("x-not-message", message)
        problems.append(f"{at}{_path_text(path)}: {message}")
    listed = data.get("scenarios") if isinstance(data, dict) else None
    names = [s.get("name") for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
    duplicates = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    problems.extend(f"{where}: scenario name {n!r} is used more than once" for n in duplicates)
    for index, scenario in enumerate(listed if isinstance(listed, list) else []):
        match = scenario.get("match") if isinstance(scenario, dict) else None
        pattern = match.get("prompt_regex") if isinstance(match, dict) else None
        if isinstance(pattern, str):  # the schema checks ECMA-262 syntax; the fake runs Python's re
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                regex_path: list[str | int] = ["scenarios", index, "match", "prompt_regex"]
                line = _line_of(tree, regex_path) if tree is not None else None
                at = f"{where}:{line}: " if line is not None else f"{where}: "
                problems.append(f"{at}{_path_text(regex_path)}: not a Python regular expression ({exc})")
    return problems


def read_file(path: str) -> dict[str, Any]:
    """A scenario file (YAML or JSON), validated; ConfigError names the line and key at fault."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--scenarios {path}: cannot read it ({exc.strerror})") from None
    try:
        tree = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML or JSON ({getattr(exc, 'problem', exc)})") from None
    problems = check_document(data, path, tree)
    if problems:
        raise ConfigError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return dict(data)


@cache
def catalogue_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return data


class Scenarios:
    """The registered scenarios and the built-in catalogue, with their counters."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.catalogue = {
            s["name"]: Scenario.parse(s, Source.CATALOGUE) for s in catalogue_data()["scenarios"]
        }
        self.registered: list[Scenario] = []
        self._rng = random.Random(f"{seed}:scenarios")

    @property
    def stream(self) -> random.Random:
        """The seeded stream of ``probability`` draws (saved and restored with a state file)."""
        return self._rng

    def load(self, data: dict[str, Any], source: Source) -> list[Scenario]:
        added = [Scenario.parse(s, source) for s in data["scenarios"]]
        new_names = {s.name for s in added}
        self.registered = [s for s in self.registered if s.name not in new_names] + added
        return added

    def add_from_api(self, body: Any) -> list[Scenario]:
        """Scenarios posted to the control API: one scenario object or a whole document."""
        document = body if isinstance(body, dict) and "scenarios" in body else {"scenarios": [body]}
        problems = check_document(document, "body")
        if problems:
            raise InvalidRequest(problems[0], param="scenarios")
        return self.load(document, Source.API)

    def remove(self, name: str) -> bool:
        before = len(self.registered)
        self.registered = [s for s in self.registered if s.name != name]
        return len(self.registered) != before

    def clear(self, source: Source | None = None) -> None:
        self.registered = [s for s in self.registered if source is not None and s.source is not source]

    def reset(self) -> None:
        """Forget scenarios added at run time and every counter; keep the file's."""
        self.clear(Source.API)
        for scenario in [*self.registered, *self.catalogue.values()]:
            scenario.seen = scenario.applied = 0
        self._rng = random.Random(f"{self.seed}:scenarios")

    def named(self, name: str) -> Scenario:
        for scenario in self.registered:
            if scenario.name == name:
                return scenario
        if name in self.catalogue:
            return self.catalogue[name]
        raise InvalidRequest(
            f"unknown scenario {name!r}: see GET /_mock/scenarios/catalogue and GET /_mock/scenarios",
            param="X-Mock-Scenario",
        )

    def select(self, request: Request, header: str | None) -> Scenario | None:
        if header:
            scenario = self.named(header.strip())
            scenario.seen += 1
            scenario.applied += 1
            return scenario
        for scenario in self.registered:
            if scenario.exhausted or not scenario.fits(request):
                continue
            scenario.seen += 1
            if scenario.nth is not None and scenario.seen != scenario.nth:
                continue
            if scenario.probability is not None and self._rng.random() >= scenario.probability:
                continue
            scenario.applied += 1
            return scenario
        return None
