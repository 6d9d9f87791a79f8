"""The contract-test kit's own parts: refusing to spend, the budget, findings, the report, the generator."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract_tests.budget import Budget
from contract_tests.drift import DriftLog, Failure, Kind, RunInfo, Severity, normalise, write_report
from contract_tests.strategies import UrlSources, check_one_rule, minimal_body, request_schema, violations

ROOT = Path(__file__).resolve().parent.parent
URLS = UrlSources({"image_urls": ["https://images.example.com/cat-1024.png"]})


def run_contract_suite(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_live_without_a_key_sends_nothing_and_says_why() -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVOLINK_API_KEY"}
    done = run_contract_suite("--target", "live", env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "needs a key" in done.stdout + done.stderr and "nothing was sent" in done.stdout + done.stderr


def test_an_unreachable_target_exits_3() -> None:
    done = run_contract_suite("--target", "http://127.0.0.1:9")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "unreachable" in done.stdout + done.stderr


def test_budget_skips_what_it_cannot_cover_and_records_it() -> None:
    budget = Budget(limit=1.0)
    budget.open("t::a", 1.0)
    budget.draw(1.0)
    budget.close()
    with pytest.raises(pytest.skip.Exception, match="budget"):
        budget.open("t::b", 1.0)
    assert budget.spent == 1.0 and [s.test for s in budget.skipped] == ["t::b"]


def test_budget_stops_spending_after_a_free_check_created_a_task() -> None:
    budget = Budget(limit=0.0)
    budget.open("t::free", 0.0)
    budget.charge_unplanned(1.0)
    with pytest.raises(pytest.skip.Exception):
        budget.guard_free()


def test_a_fake_never_charges() -> None:
    budget = Budget(limit=None)
    budget.open("t", 1000.0)
    budget.draw(1000.0)
    assert budget.spent == 0.0 and not budget.skipped


def test_volatile_values_never_make_findings_distinct() -> None:
    text = "task-unified-1757156493-abcd1234 at 1757156493.5 see https://files.evolink.ai/x.png req_0af3"
    assert normalise(text) == "task-unified-<created>-<suffix> at <time> see <url> <request-id>"
    log = DriftLog(secrets=["sk-secret"])
    long = {
        "method": "POST",
        "url": "u",
        "headers": {"Authorization": "Bearer sk-secret"},
        "json": {"p": "x" * 50},
    }
    short = {**long, "json": {"p": "x"}}
    for request in (long, short, long):
        log.record(
            Failure("c", "HTTP 400", "HTTP 200 (task created)"), "POST /v1/images/generations", request
        )
    (finding,) = log.findings.values()
    assert finding.count == 3 and finding.request is not None
    assert finding.request["json"] == {"p": "x"}
    assert "sk-secret" not in json.dumps(finding.request)


def test_a_variant_that_changed_since_the_baseline_is_a_warning(tmp_path: Path) -> None:
    def run(style: str) -> DriftLog:
        log = DriftLog()
        variant = Failure(
            "variant.error-code-style", "one of", style, severity=Severity.INFO, kind=Kind.VARIANT
        )
        log.record(variant, "POST /v1/images/generations")
        return log

    old = write_report(tmp_path / "old", run("string"), RunInfo({"name": "fake"}, 0.0, None, 0.0, []))
    new = run("integer")
    (warning,) = new.compare_with_baseline(old)
    assert warning.severity == Severity.WARNING and warning.check == "baseline.variant.error-code-style"
    data = write_report(tmp_path / "new", new, RunInfo({"name": "fake"}, 0.0, None, 0.0, []))
    assert data["summary"] == {"critical": 0, "warning": 1, "info": 1}
    assert "baseline.variant.error-code-style" in (tmp_path / "new" / "drift.md").read_text()


def test_every_invalid_case_breaks_exactly_its_rule() -> None:
    base = minimal_body(URLS)
    for case in violations(URLS):
        assert check_one_rule(case, case.boundary(base)), case.name


def test_a_new_constraint_in_the_schema_yields_a_new_invalid_case() -> None:
    schema = copy.deepcopy(request_schema())
    schema["properties"]["prompt"]["pattern"] = "^[^<>]*$"
    schema["properties"]["seed"] = {"type": "integer", "minimum": 0, "maximum": 2147483647}
    before = {c.name for c in violations(URLS)}
    after = {c.name for c in violations(URLS, schema)}
    assert after - before == {"prompt.pattern", "seed.type", "seed.minimum", "seed.maximum"}


def test_deviations_come_from_the_cli_or_the_environment_and_are_announced() -> None:
    from mock_server import ConfigError, Settings, create_app
    from mock_server.cli import banner, build_parser, settings_from

    args = build_parser({}).parse_args(["serve", "--deviate", "object-wrong", "--deviate", "object-wrong"])
    settings = settings_from(args)
    assert settings.deviations == ("object-wrong",)
    assert any(line.startswith("DEVIATING object-wrong") for line in banner(settings, "http://127.0.0.1:1"))
    env = {"EVOLINK_MOCK_DEVIATE": "task-info-renamed,object-wrong"}
    assert settings_from(build_parser(env).parse_args(["serve"])).deviations == (
        "task-info-renamed",
        "object-wrong",
    )
    with pytest.raises(ConfigError, match="unknown deviation nope"):
        settings_from(build_parser({}).parse_args(["serve", "--deviate", "nope"]))
    with pytest.raises(ConfigError, match="unknown deviation"):
        create_app(Settings(deviations=("nope",)))
