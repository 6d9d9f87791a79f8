"""The contract-test plugin: options, target, budget, markers, Hypothesis profiles, drift report.

    pytest contract_tests                                   # the fake, in-process (default)
    pytest contract_tests --target http://127.0.0.1:8000    # a fake started elsewhere
    EVOLINK_API_KEY=sk-... pytest contract_tests --target live --max-credits 5 --drift-report out/

Exit codes: 0 no failing finding; 1 drift found (a critical finding, and on fakes also a warning);
3 the target is unreachable; 4 usage error (bad option, live without a key): nothing was sent.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import time
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from .budget import Budget
from .checks import Verifier
from .drift import DriftLog, RunInfo, Severity, sorted_findings, write_report
from .schemas import model_contract
from .targets import CAPABILITIES, MARKERS, Capability, InProcessFake, Live, RemoteFake, Target, TargetError


class Exit(IntEnum):
    OK = 0
    DRIFT_FOUND = 1
    TARGET_UNREACHABLE = 3
    USAGE = 4


TARGET_OPTION = "--target"
API_KEY_OPTION = "--api-key"
CREDITS_OPTION = "--max-credits"
REPORT_OPTION = "--drift-report"
BASELINE_OPTION = "--baseline"
IMAGE_OPTION = "--image-url"
DEVIATE_OPTION = "--deviate"
FAKE_SETTING_OPTION = "--fake-setting"
FAIL_ON_OPTION = "--fail-on"
LIVE_TIMEOUT_OPTION = "--live-timeout"
KEY_ENV = "EVOLINK_API_KEY"

settings.register_profile(
    "ci",
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "meta",
    parent=settings.get_profile("ci"),
    max_examples=6,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
settings.register_profile(
    "thorough",
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("EVOLINK_CONTRACT_PROFILE", "ci"))

_TARGET = pytest.StashKey[Target]()
_LOG = pytest.StashKey[DriftLog]()
_VERIFIER = pytest.StashKey[Verifier]()
_RUN = pytest.StashKey[RunInfo]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "evolink",
        "Evolink contract tests (exit 0 ok, 1 drift found, 3 target unreachable, 4 usage error)",
    )
    group.addoption(
        TARGET_OPTION,
        default="fake",
        metavar="fake|URL|live",
        help="fake: the fake in-process on a manual clock (default); URL: a fake at that address; "
        "live: https://api.evolink.ai (needs a key; spends only within --max-credits)",
    )
    group.addoption(
        API_KEY_OPTION, default=None, metavar="KEY", help=f"API key for live (default ${KEY_ENV})"
    )
    group.addoption(
        CREDITS_OPTION,
        type=float,
        default=None,
        metavar="N",
        help="credits live tests may spend; 1 task of qwen-image-edit reserves 1 credit "
        "(default 0: only free checks such as auth and validation errors run)",
    )
    group.addoption(REPORT_OPTION, default=None, metavar="DIR", help="write DIR/drift.json and DIR/drift.md")
    group.addoption(
        BASELINE_OPTION,
        default=None,
        metavar="FILE",
        help="an earlier drift.json: a documented variant that changed since is a warning",
    )
    group.addoption(
        IMAGE_OPTION,
        action="append",
        default=[],
        metavar="URL",
        help="public input image for live tasks (repeatable; fakes use their own fixtures)",
    )
    group.addoption(
        DEVIATE_OPTION,
        action="append",
        default=[],
        metavar="NAME",
        help="start the in-process fake with this deviation from the contract (repeatable; "
        "see mock_server/deviations.py)",
    )
    group.addoption(
        FAKE_SETTING_OPTION,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Settings field of the in-process fake, e.g. error_style=legacy (repeatable)",
    )
    group.addoption(
        FAIL_ON_OPTION,
        choices=[Severity.CRITICAL.value, Severity.WARNING.value],
        default=None,
        help="lowest severity that fails a test (default: warning on fakes, critical on live)",
    )
    group.addoption(
        LIVE_TIMEOUT_OPTION,
        type=float,
        default=300.0,
        metavar="S",
        help="seconds a live task may take before the suite stops waiting (default 300)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for marker, capability in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: skip unless the target {CAPABILITIES[capability]}")
    config.addinivalue_line(
        "markers",
        "costs(tasks, per_example=False): the test creates up to `tasks` tasks (per Hypothesis "
        "example); on live it draws on --max-credits or is skipped",
    )
    config.addinivalue_line("markers", "observed: probes undocumented behaviour the fake imitates (warnings)")


def _fake_settings(pairs: list[str]) -> dict[str, Any]:
    from mock_server import Settings

    defaults = {f.name: f for f in dataclasses.fields(Settings)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in defaults:
            raise pytest.UsageError(
                f"{FAKE_SETTING_OPTION} {pair!r}: expected NAME=VALUE with NAME a Settings field"
            )
        default = defaults[name].default
        value: Any = raw
        if isinstance(default, bool):
            value = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, enum.Enum):
            value = type(default)(raw)
        elif isinstance(default, int | float) and not isinstance(default, bool):
            value = type(default)(raw)
        out[name] = value
    return out


def _build_target(config: pytest.Config, budget_limit: float | None) -> Target:
    choice: str = config.getoption(TARGET_OPTION)
    key = config.getoption(API_KEY_OPTION) or os.environ.get(KEY_ENV, "")
    if choice == "live":
        if not key:
            raise TargetError(f"--target live needs a key: set {KEY_ENV} or pass {API_KEY_OPTION}")
        return Live(
            key,
            Budget(budget_limit or 0.0),
            config.getoption(IMAGE_OPTION),
            config.getoption(LIVE_TIMEOUT_OPTION),
        )
    if config.getoption(DEVIATE_OPTION) or config.getoption(FAKE_SETTING_OPTION):
        if choice != "fake":
            raise pytest.UsageError(f"{DEVIATE_OPTION} and {FAKE_SETTING_OPTION} apply to --target fake only")
    if choice == "fake":
        return InProcessFake(
            Budget(None),
            tuple(config.getoption(DEVIATE_OPTION)),
            **_fake_settings(config.getoption(FAKE_SETTING_OPTION)),
        )
    if choice.startswith(("http://", "https://")):
        return RemoteFake(choice, key or "sk-contract-tests", Budget(None))
    raise pytest.UsageError(
        f"{TARGET_OPTION} {choice!r}: use fake, live or a URL such as http://127.0.0.1:8000"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    _OUTCOMES.clear()
    if config.option.collectonly or config.option.help:
        return
    limit = config.getoption(CREDITS_OPTION)
    try:
        target = _build_target(config, limit)
    except TargetError as exc:
        code = (
            Exit.USAGE if "needs a key" in str(exc) or "deviations" in str(exc) else Exit.TARGET_UNREACHABLE
        )
        pytest.exit(f"evolink contract tests: {exc}; nothing was sent", returncode=code)
    fail_on = config.getoption(FAIL_ON_OPTION) or (
        Severity.CRITICAL if target.has(Capability.SPENDS_CREDITS) else Severity.WARNING
    )
    log = DriftLog(secrets=[target.key] if target.has(Capability.SPENDS_CREDITS) else [])
    config.stash[_TARGET] = target
    config.stash[_LOG] = log
    config.stash[_VERIFIER] = Verifier(log, Severity(fail_on))
    config.stash[_RUN] = RunInfo(
        target=target.describe(),
        started_at=time.time(),
        max_credits=target.budget.limit,
        spent_credits=0.0,
        skipped_for_budget=target.budget.skipped,
        baseline=config.getoption(BASELINE_OPTION),
    )


def _session_target(config: pytest.Config) -> Target:
    if _TARGET not in config.stash:
        pytest.skip("no target (collect-only)")
    return config.stash[_TARGET]


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """What the suite talks to: the in-process fake, a fake at a URL, or the live API."""
    return _session_target(pytestconfig)


@pytest.fixture(scope="session")
def verify(pytestconfig: pytest.Config) -> Verifier:
    """Runs checks on a response and records findings in the drift report."""
    _session_target(pytestconfig)
    return pytestconfig.stash[_VERIFIER]


def _declared_credits(item: pytest.Item) -> float:
    marker = item.get_closest_marker("costs")
    if marker is None:
        return 0.0
    tasks = marker.kwargs.get("tasks", marker.args[0] if marker.args else 1)
    if marker.kwargs.get("per_example"):
        tasks *= settings().max_examples
    return float(tasks) * model_contract().credits_reserved


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _TARGET not in item.config.stash:
        return
    target = item.config.stash[_TARGET]
    for marker, capability in MARKERS.items():
        if item.get_closest_marker(marker) and not target.has(capability):
            pytest.skip(f"target {target.name} lacks {capability.value}: it {CAPABILITIES[capability]}")
    item.config.stash[_LOG].current_test = item.nodeid
    target.budget.open(item.nodeid, _declared_credits(item) if target.budget.charges else 0.0)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if _TARGET not in item.config.stash:
        return
    target = item.config.stash[_TARGET]
    target.budget.close()
    item.config.stash[_LOG].current_test = ""
    target.reset()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _OUTCOMES[report.outcome] = _OUTCOMES.get(report.outcome, 0) + 1


_OUTCOMES: dict[str, int] = {}
"""Test outcomes of this run, for the report (one pytest session per process)."""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _TARGET not in config.stash:
        return
    target, log, run = config.stash[_TARGET], config.stash[_LOG], config.stash[_RUN]
    baseline = config.getoption(BASELINE_OPTION)
    if baseline:
        log.compare_with_baseline(json.loads(Path(baseline).read_text()))
    run.spent_credits = target.budget.spent
    run.outcome = dict(_OUTCOMES)
    directory = config.getoption(REPORT_OPTION)
    if directory:
        write_report(Path(directory), log, run)
    if log.by_severity(Severity.CRITICAL) and session.exitstatus == Exit.OK:
        session.exitstatus = Exit.DRIFT_FOUND
    target.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _TARGET not in config.stash:
        return
    log, target = config.stash[_LOG], config.stash[_TARGET]
    findings = sorted_findings(log)
    write = terminalreporter.write_line
    terminalreporter.section("evolink contract drift")
    write(f"target {target.name} ({target.base_url}); capabilities: {', '.join(sorted(target.capabilities))}")
    if not findings:
        write("no findings")
    for f in findings:
        write(f"{f.severity:8} {f.check:34} {f.endpoint:32} expected {f.expected}; observed {f.observed}")
    if target.budget.charges:
        write(f"credits spent {target.budget.spent:g} of {target.budget.limit:g}")
        for s in target.budget.skipped:
            write(f"skipped for budget: {s.test} ({s.reason})")
    directory = config.getoption(REPORT_OPTION)
    if directory:
        write(f"drift report: {Path(directory) / 'drift.md'}")
