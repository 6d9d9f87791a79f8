"""Findings and the drift report.

A check raises ``Failure`` (typed: check name, expected, observed, severity, kind). The suite
records each one in the session's ``DriftLog`` with the exchange that showed it; one finding per
distinct mismatch (endpoint, check, expected, observed after normalising volatile values such as
ids, times and URLs), keeping the shortest reproducing request. ``write_report`` turns the log into
``drift.json`` (for tools and ``--baseline``) and ``drift.md`` (for people).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

REPORT_VERSION = 1
REDACTED = "<redacted>"


class Severity(StrEnum):
    CRITICAL = "critical"
    """The target breaks what the docs (schemas/) say."""
    WARNING = "warning"
    """An observed, undocumented behaviour changed, or a documented variant changed since the baseline."""
    INFO = "info"
    """A record, not a mismatch: which documented variant the target uses."""

    @property
    def rank(self) -> int:
        return {Severity.CRITICAL: 2, Severity.WARNING: 1, Severity.INFO: 0}[self]


class Kind(StrEnum):
    DOCUMENTED = "documented"
    OBSERVED = "observed"
    VARIANT = "variant"
    BASELINE = "baseline"


class Failure(AssertionError):
    """What a check raises: which check, what the contract expects and what the target did."""

    def __init__(
        self,
        check: str,
        expected: str,
        observed: str,
        *,
        severity: Severity = Severity.CRITICAL,
        kind: Kind = Kind.DOCUMENTED,
    ) -> None:
        super().__init__(f"[{severity}] {check}: expected {expected}; observed {observed}")
        self.check = check
        self.expected = expected
        self.observed = observed
        self.severity = severity
        self.kind = kind


class DriftFound(AssertionError):
    """Raised at the end of a step whose findings reach the failing severity."""


_VOLATILE = [
    (re.compile(r"task-unified-\d+-[a-z0-9]+"), "task-unified-<created>-<suffix>"),
    (re.compile(r"https?://[^\s'\"<>]+"), "<url>"),
    (re.compile(r"\breq_[0-9a-zA-Z]+"), "<request-id>"),
    (re.compile(r"\b1\d{9}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b1\d{12}\b"), "<time-ms>"),
]


def normalise(text: str) -> str:
    """Replace volatile values (ids, URLs, times) so they are never part of a finding's identity."""
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


@dataclass
class Finding:
    severity: str
    kind: str
    endpoint: str
    check: str
    expected: str
    observed: str
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    tests: list[str] = field(default_factory=list)
    count: int = 1

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.endpoint, self.check, self.expected, self.observed)


def _request_size(request: dict[str, Any] | None) -> int:
    return len(json.dumps(request, sort_keys=True)) if request is not None else 1 << 30


class DriftLog:
    """Every finding of a run, deduplicated. ``secrets`` are redacted from everything stored."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets = [s for s in (secrets or []) if s]
        self.findings: dict[tuple[str, str, str, str], Finding] = {}
        self.current_test = ""

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value

    def record(
        self,
        failure: Failure,
        endpoint: str,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
    ) -> Finding:
        finding = Finding(
            severity=str(failure.severity),
            kind=str(failure.kind),
            endpoint=endpoint,
            check=failure.check,
            expected=normalise(failure.expected),
            observed=normalise(self.redact(failure.observed)),
            request=self.redact(request),
            response=self.redact(response),
            tests=[self.current_test] if self.current_test else [],
        )
        known = self.findings.get(finding.key)
        if known is None:
            self.findings[finding.key] = finding
            return finding
        known.count += 1
        if finding.tests and finding.tests[0] not in known.tests:
            known.tests.append(finding.tests[0])
        if _request_size(finding.request) < _request_size(known.request):
            known.request, known.response = finding.request, finding.response
        return known

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings.values() if f.severity == severity]

    def worst(self) -> Severity | None:
        ranks = [Severity(f.severity) for f in self.findings.values()]
        return max(ranks, key=lambda s: s.rank) if ranks else None

    def compare_with_baseline(self, baseline: dict[str, Any]) -> list[Finding]:
        """Warnings for documented variants that changed since ``baseline`` (an older drift.json)."""
        old = {
            (f["endpoint"], f["check"]): f["observed"]
            for f in baseline.get("findings", [])
            if f.get("kind") == Kind.VARIANT
        }
        added: list[Finding] = []
        for finding in list(self.findings.values()):
            if finding.kind != Kind.VARIANT:
                continue
            before = old.get((finding.endpoint, finding.check))
            if before is not None and before != finding.observed:
                failure = Failure(
                    f"baseline.{finding.check}",
                    f"{before} (as in the baseline run)",
                    finding.observed,
                    severity=Severity.WARNING,
                    kind=Kind.BASELINE,
                )
                added.append(self.record(failure, finding.endpoint, finding.request, finding.response))
        return added


@dataclass
class SkippedForBudget:
    test: str
    credits: float
    reason: str


@dataclass
class RunInfo:
    target: dict[str, Any]
    started_at: float
    max_credits: float | None
    spent_credits: float
    skipped_for_budget: list[SkippedForBudget]
    baseline: str | None = None
    outcome: dict[str, int] = field(default_factory=dict)


_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def sorted_findings(log: DriftLog) -> list[Finding]:
    return sorted(log.findings.values(), key=lambda f: (_ORDER[Severity(f.severity)], f.check, f.endpoint))


def report_data(log: DriftLog, run: RunInfo) -> dict[str, Any]:
    findings = sorted_findings(log)
    return {
        "version": REPORT_VERSION,
        "tool": "evolink-contract-tests",
        "target": run.target,
        "started_at": run.started_at,
        "finished_at": time.time(),
        "summary": {s.value: sum(1 for f in findings if f.severity == s) for s in Severity},
        "tests": run.outcome,
        "budget": {
            "max_credits": run.max_credits,
            "spent_credits": run.spent_credits,
            "skipped": [asdict(s) for s in run.skipped_for_budget],
        },
        "baseline": run.baseline,
        "findings": [asdict(f) for f in findings],
    }


def _curl(request: dict[str, Any]) -> str:
    parts = [f"curl -X {request['method']} '{request['url']}'"]
    for name, value in request.get("headers", {}).items():
        value = str(value).replace(REDACTED, "$EVOLINK_API_KEY")
        parts.append(f'-H "{name}: {value}"')
    if request.get("json") is not None:
        body = json.dumps(request["json"], ensure_ascii=False)
        if len(body) > 400:
            body = body[:400] + "…(truncated; full body in drift.json)"
        parts.append(f"-d '{body}'")
    return " \\\n  ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    target = data["target"]
    summary = data["summary"]
    lines = [
        "# Contract drift report",
        "",
        f"Target: **{target.get('name')}** ({target.get('base_url')}); "
        f"capabilities: {', '.join(target.get('capabilities', [])) or 'none'}.",
        "",
        f"Findings: **{summary['critical']} critical**, {summary['warning']} warning, "
        f"{summary['info']} info (variant records).",
        "",
    ]
    if data["tests"]:
        lines += ["Tests: " + ", ".join(f"{k} {v}" for k, v in sorted(data["tests"].items())), ""]
    budget = data["budget"]
    if budget["max_credits"] is not None:
        lines += [f"Credits: spent {budget['spent_credits']:g} of {budget['max_credits']:g}.", ""]
    if data.get("baseline"):
        lines += [f"Compared with baseline `{data['baseline']}`.", ""]
    findings = data["findings"]
    if findings:
        lines += [
            "| # | severity | kind | endpoint | check | expected | observed |",
            "|---|---|---|---|---|---|---|",
        ]
        for i, f in enumerate(findings, 1):
            lines.append(
                f"| {i} | {f['severity']} | {f['kind']} | `{f['endpoint']}` | `{f['check']}` | "
                f"{_cell(f['expected'])} | {_cell(f['observed'])} |"
            )
        lines.append("")
        for i, f in enumerate(findings, 1):
            if f["severity"] == Severity.INFO or f.get("request") is None:
                continue
            lines += [
                f"## {i}. `{f['check']}` on `{f['endpoint']}` ({f['severity']})",
                "",
                f"Expected {f['expected']}; observed {f['observed']}. Seen {f['count']} time(s) in "
                + ", ".join(f"`{t}`" for t in f["tests"][:5]),
                "",
                "```sh",
                _curl(f["request"]),
                "```",
                "",
            ]
    else:
        lines += ["No findings.", ""]
    if budget["skipped"]:
        lines += ["## Skipped for budget", "", "| test | credits | reason |", "|---|---|---|"]
        for s in budget["skipped"]:
            lines.append(f"| `{s['test']}` | {s['credits']:g} | {_cell(s['reason'])} |")
        lines.append("")
    return "\n".join(lines)


def write_report(directory: Path, log: DriftLog, run: RunInfo) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    data = report_data(log, run)
    (directory / "drift.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (directory / "drift.md").write_text(markdown(data))
    return data
