"""Schemathesis fuzzes the fake from its own OpenAPI document, in-process over ASGI.

The document is the one the fake serves (``GET /openapi.json``: ``schemas/openapi.yaml``
bundled). Every generated request, valid and invalid, must get an answer that is not a 5xx, has
a documented status and content type, and matches the documented schema (the four checks of
``CHECKS``). Schemathesis runs its three phases: the schema's examples, the coverage phase
(boundary and invalid values, missing parameters, unexpected methods) and fuzzing.

Profiles (``EVOLINK_FUZZ``): ``fast`` (the default, in ``make test``: a few hundred requests,
derandomized so CI runs repeat) and ``long`` (``make fuzz``: at least 10 000 requests, a new
seed each run, printed). The module prints the request count, the statuses seen and the
failures at its end.

Kept away from the fuzzer, on purpose:

- the ``X-Mock-Scenario`` header: it names scenarios whose point is a 5xx or a broken body
  (``internal-error``, ``connection-reset``, ``truncated-body``...). It is removed from the
  document the fuzzer reads; the scenarios have their own tests (tests/test_scenarios.py,
  tests/test_faults.py).
- ``POST /_mock/scenarios`` on the shared fake: a registered scenario changes the answers of the
  other endpoints on purpose (a ``reject`` with status 500, network faults). It is fuzzed alone,
  on a fake of its own where nothing else is called (``test_scenario_registration``).

Everything else runs against one fake for the whole profile, control endpoints included: moving
the clock, resetting, cancelling, redelivering change the state the next request sees, and the
answers must conform all the same. Callbacks go to an ``httpx.MockTransport`` (nothing leaves the
process), names resolve nowhere, and image URLs are judged by their extension.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette

from mock_server import ManualClock, Settings, create_app
from mock_server.config import ImageCheck
from mock_server.openapi import bundled_bytes
from mock_server.urlpolicy import UrlPolicy

from .conftest import START, no_dns

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PROFILE = os.environ.get("EVOLINK_FUZZ", "fast")
_SEED = os.environ.get("EVOLINK_FUZZ_SEED", "")
SEED = (int(_SEED) if _SEED else random.randrange(2**32)) if PROFILE == "long" else None
"""The long profile's seed: printed with the tally; ``EVOLINK_FUZZ_SEED=N make fuzz`` repeats a run."""
PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"max-examples": 12, "deterministic": True},
    "long": {"max-examples": 700},
}
LONG_MINIMUM = 10_000
"""Requests the long profile must make (issue 10)."""
SCENARIO_HEADER = "X-Mock-Scenario"
KEY = "sk-fuzz"


def _receiver(request: httpx.Request) -> httpx.Response:
    """Every callback answers 200, or 500 for URLs mentioning "fail": both paths get exercised."""
    return httpx.Response(500 if "fail" in str(request.url) else 200)


def fuzzed_fake() -> Starlette:
    settings = Settings(time_scale=0, seed=7, image_check=ImageCheck.OFF, max_tasks=5_000)
    return create_app(
        settings,
        clock=ManualClock(START),
        policy=UrlPolicy(resolver=no_dns),
        callback_transport=httpx.MockTransport(_receiver),
    )


def fuzz_document() -> dict[str, Any]:
    """The served OpenAPI document without the scenario header (see the module docstring)."""
    document: dict[str, Any] = json.loads(bundled_bytes())
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [
                    p for p in operation["parameters"] if not p.get("$ref", "").endswith("/MockScenario")
                ]
    document["components"]["parameters"].pop("MockScenario")
    assert SCENARIO_HEADER not in json.dumps(document["paths"])
    return document


def load(app: Starlette) -> Any:
    seed = {} if SEED is None else {"seed": SEED}
    config = SchemathesisConfig.from_dict(
        {
            **seed,
            "generation": {"mode": "all", **PROFILES[PROFILE]},
            "auth": {"openapi": {"bearer": {"bearer": KEY}}},
        }
    )
    schema = schemathesis.openapi.from_dict(fuzz_document(), config=config)
    schema.app = app
    return schema


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        server_errors = sum(n for s, n in self.statuses.items() if s >= 500)
        return (
            f"fuzz ({PROFILE}{'' if SEED is None else f', seed {SEED}'}): {self.requests} requests, "
            f"{len(self.failures)} operations failing, "
            f"{server_errors} server errors; statuses {seen}"
        )


TALLY = Tally()


def call(case: Any) -> None:
    try:
        response = case.call()  # an exception in the app surfaces here (it would be a 500)
    except Exception as exc:
        TALLY.requests += 1
        TALLY.statuses[500] += 1
        TALLY.failures.setdefault(f"{case.method} {case.path}", f"server error: {exc!r}"[:200])
        raise
    TALLY.requests += 1
    TALLY.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception as exc:
        TALLY.failures.setdefault(f"{case.method} {case.path}", str(exc).splitlines()[0])
        raise


SHARED = load(fuzzed_fake()).exclude(operation_id="mockAddScenarios")
ALONE = load(fuzzed_fake()).include(operation_id="mockAddScenarios")


@SHARED.parametrize()
def test_every_operation(case: Any) -> None:
    call(case)


@ALONE.parametrize()
def test_scenario_registration(case: Any) -> None:
    call(case)


def test_the_tally(capsys: pytest.CaptureFixture[str]) -> None:
    """Last in the module: print what the fuzzing did (``make fuzz`` shows it) and hold the long
    profile to its minimum number of requests."""
    lines = [TALLY.line(), *(f"  FAILING {op}: {why}" for op, why in sorted(TALLY.failures.items()))]
    with capsys.disabled():
        print("\n" + "\n".join(lines))  # noqa: T201 - the report is this test's output
    assert TALLY.requests > 0, "run the whole module: the tally counts the fuzzing tests above"
    if PROFILE == "long":
        assert TALLY.requests >= LONG_MINIMUM, lines[0]
