"""The contract tests prove their power: every named deviation of the fake is caught, by name.

For each deviation in ``mock_server.deviations.CATALOGUE`` the whole contract suite runs against
the in-process fake started with it (``--deviate NAME``, Hypothesis profile ``meta``: few,
derandomized examples) and must report a critical or warning finding from the check listed in
``CAUGHT_BY``. The plain fake, and the fake in each documented variant, must give no such finding.

The table (deviation -> checks that caught it) is printed and kept in docs/contract-tests.md;
``EVOLINK_UPDATE_DOCS=1`` rewrites it there when it changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mock_server.deviations import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "contract-tests.md"
BEGIN, END = "<!-- deviation-table:begin -->", "<!-- deviation-table:end -->"

CAUGHT_BY: dict[str, str] = {
    "prompt-limit-2001": "reject.prompt.maxLength",
    "image-urls-max-4": "reject.image_urls.maxItems",
    "prompt-optional": "reject.prompt.required",
    "callback-http-accepted": "reject.callback_url.pattern",
    "callback-internal-accepted": "reject.callback_url.internal-host",
    "missing-auth-accepted": "auth.missing-key",
    "task-info-renamed": "schema.task-created",
    "object-wrong": "schema.task-created",
    "error-type-wrong": "error-type",
    "request-id-missing": "request-id",
    "progress-as-string": "schema.task-created",
    "created-in-milliseconds": "created-now",
    "progress-goes-backwards": "progress-monotonic",
    "completed-without-results": "schema.task-detail",
    "terminal-state-changes": "terminal-final",
    "failed-without-error": "schema.task-detail",
    "failed-error-code-integer": "schema.task-detail",
    "callback-retry-1-1-1": "callback-retries",
    "callback-missing": "callback-delivered",
    "callback-body-differs": "callback-body",
}
"""The check each deviation must be caught by (others may catch it too)."""

DOCUMENTED_VARIANTS: dict[str, list[str]] = {
    "plain": [],
    "legacy-errors": ["--fake-setting", "error_style=legacy"],
    "foreign-task-404": ["--fake-setting", "foreign_task_status=404"],
    "cancelled-literal": ["--fake-setting", "cancelled_status=cancelled"],
}
"""Fake configurations that follow the contract: the suite must find nothing in them."""

RECORDED_VARIANTS: dict[str, dict[str, str]] = {
    "plain": {
        "variant.cancelled-status": "failed + request_cancelled",
        "variant.pixel-limits.511px": "512-4096 px (primary page)",
        "variant.pixel-limits.4096px": "512-4096 px (primary page)",
        "variant.image-formats.bmp": "jpeg, png, webp (primary page)",
    },
    "cancelled-literal": {"variant.cancelled-status": "cancelled"},
}
"""Variants the suite must record (info) for a configuration: check -> what it observed."""

IN_PROCESS_CAPABILITIES = {
    "callbacks",
    "cancels",
    "fetches-images",
    "fixtures",
    "force-outcomes",
    "strict-urls",
}
"""What the plain in-process fake must offer, so no test is skipped for want of it: it fetches
its own fixtures (no socket) under the strict URL policy, and runs scenarios and cancellation."""


def run_batch(number: int, runs: dict[str, list[str]], out: Path) -> None:
    """One process runs several configurations one after the other (contract_tests/power.py)."""
    spec = [{"args": args, "report": str(out / label)} for label, args in runs.items()]
    plan = out / f"batch-{number}.json"
    plan.write_text(json.dumps(spec))
    command = [sys.executable, "-m", "contract_tests.power", str(plan)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@cache
def reports() -> dict[str, dict[str, Any]]:
    """Every configuration, spread over one process per core (CI has 2)."""
    runs = {f"deviate-{name}": ["--deviate", name] for name in CATALOGUE}
    runs.update({f"variant-{name}": args for name, args in DOCUMENTED_VARIANTS.items()})
    workers = max(2, os.cpu_count() or 2)
    labels = list(runs)
    batches = [{label: runs[label] for label in labels[i::workers]} for i in range(workers)]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=workers) as pool:
        out = Path(tmp)
        list(pool.map(lambda numbered: run_batch(*numbered, out), enumerate(batches)))
        for label in labels:
            report = out / label / "drift.json"
            assert report.exists(), f"{label}: no report"
            data: dict[str, Any] = json.loads(report.read_text())
            data["exit_code"] = int((out / label / "exit_code").read_text())
            results[label] = data
    return results


def drift(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] in ("critical", "warning")]


def table() -> str:
    lines = [
        "| deviation | what the fake does | caught by (severity) | exit |",
        "|---|---|---|---|",
    ]
    for name, description in CATALOGUE.items():
        report = reports()[f"deviate-{name}"]
        found: dict[str, str] = {}
        for finding in drift(report):
            found.setdefault(finding["check"], finding["severity"])
        caught = (
            ", ".join(f"`{check}` ({severity})" for check, severity in sorted(found.items()))
            or "**not caught**"
        )
        lines.append(f"| `{name}` | {description} | {caught} | {report['exit_code']} |")
    return "\n".join(lines)


def test_every_deviation_has_an_expected_check() -> None:
    assert set(CAUGHT_BY) == set(CATALOGUE)


@pytest.mark.parametrize("name", list(DOCUMENTED_VARIANTS))
def test_a_fake_that_keeps_the_contract_has_no_findings(name: str) -> None:
    report = reports()[f"variant-{name}"]
    assert drift(report) == [], json.dumps(drift(report), indent=1)[:3000]
    assert report["exit_code"] == 0
    variants = {f["check"] for f in report["findings"]}
    assert "variant.error-code-style" in variants  # documented variants are recorded, as info
    recorded = {(f["check"], f["observed"]) for f in report["findings"]}
    for check, observed in RECORDED_VARIANTS.get(name, {}).items():
        assert (check, observed) in recorded, f"{check} {observed!r} not recorded"
    if name == "plain":
        assert IN_PROCESS_CAPABILITIES <= set(report["target"]["capabilities"])
        assert set(report["tests"]) == {"passed"}, report["tests"]  # none skipped


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_deviation_is_caught_by_name(name: str) -> None:
    report = reports()[f"deviate-{name}"]
    if name.startswith("callback-") and "callbacks" not in report["target"]["capabilities"]:
        pytest.skip("the fake has no callback log to check against")
    checks = {f["check"] for f in drift(report)}
    assert CAUGHT_BY[name] in checks, f"{name}: found only {sorted(checks)}"
    assert report["exit_code"] != 0


def test_deviation_table_is_kept_in_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    current = table()
    with capsys.disabled():
        sys.stdout.write("\n\nDeviation -> caught by\n" + current + "\n")
    text = DOC.read_text()
    kept = text.split(BEGIN, 1)[1].split(END, 1)[0].strip() if BEGIN in text else ""
    if kept != current and os.environ.get("EVOLINK_UPDATE_DOCS") == "1":
        head, _, rest = text.partition(BEGIN)
        DOC.write_text(f"{head}{BEGIN}\n{current}\n{END}{rest.partition(END)[2]}")
        return
    assert kept == current, "docs/contract-tests.md is stale: run with EVOLINK_UPDATE_DOCS=1"
