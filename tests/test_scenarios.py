"""Scenarios: every catalogue entry in the documented shapes, match precedence, file errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mock_server.errors import ConfigError
from mock_server.scenarios import catalogue_data, read_file

from .conftest import AUTH, GENERATE, VALID_BODY, advance, assert_error, create, make_client, poll

CATALOGUE = catalogue_data()["scenarios"]
REJECTS = [s for s in CATALOGUE if "reject" in s["outcome"]]
FAILS = [s for s in CATALOGUE if "fail" in s["outcome"]]


def header(name: str) -> dict[str, str]:
    return {**AUTH, "X-Mock-Scenario": name}


def test_catalogue_covers_every_documented_http_error_and_business_code() -> None:
    statuses = {s["outcome"]["reject"]["status"] for s in REJECTS}
    assert {400, 401, 402, 403, 404, 413, 429, 500, 502, 503} <= statuses
    codes = {s["outcome"]["fail"]["code"] for s in FAILS}
    documented = {
        "content_policy_violation", "invalid_parameters", "image_processing_error", "image_dimension_mismatch",
        "request_cancelled", "generation_failed_no_content", "service_error", "generation_timeout",
        "resource_exhausted", "quota_exceeded", "service_unavailable", "resource_not_found", "unknown_error",
    }  # fmt: skip
    assert documented <= codes
    assert all(s["description"] and s["imitates"] for s in CATALOGUE)


def test_catalogue_is_listed_by_the_control_api(api: Any) -> None:
    listed = api.get("/_mock/scenarios/catalogue").json()["scenarios"]
    assert {s["name"] for s in listed} == {s["name"] for s in CATALOGUE}


@pytest.mark.parametrize("scenario", REJECTS, ids=[s["name"] for s in REJECTS])
def test_each_reject_entry_answers_its_envelope(api: Any, scenario: dict[str, Any]) -> None:
    reject = scenario["outcome"]["reject"]
    response = api.post(GENERATE, json=VALID_BODY, headers=header(scenario["name"]))
    assert_error(response, reject["status"], code=reject["code"])
    if "retry_after" in reject:
        assert response.headers["retry-after"] == str(reject["retry_after"])
    assert api.get("/_mock/tasks").json()["tasks"] == []


@pytest.mark.parametrize("scenario", FAILS, ids=[s["name"] for s in FAILS])
def test_each_fail_entry_fails_the_task_with_its_code_at_its_progress(
    api: Any, scenario: dict[str, Any]
) -> None:
    fail = scenario["outcome"]["fail"]
    task = create(api, headers=header(scenario["name"]))
    progresses = []
    for _ in range(80):
        detail = poll(api, task["id"])
        progresses.append(detail["progress"])
        if detail["status"] not in ("pending", "processing"):
            break
        advance(api, 0.5)
    assert detail["status"] == fail.get("status", "failed")
    assert detail["error"]["code"] == fail["code"] and detail["error"]["type"] == "task_error"
    assert detail["progress"] == fail["at_progress"]
    assert progresses == sorted(progresses)
    assert "results" not in detail


def test_content_policy_violation_fails_at_60_percent(api: Any) -> None:
    task = create(api, headers=header("content-policy-violation"))
    advance(api, 120)
    detail = poll(api, task["id"])
    assert (detail["status"], detail["progress"], detail["error"]["code"]) == (
        "failed",
        60,
        "content_policy_violation",
    )


def test_rate_limited_scenario_applies_to_polls_too(api: Any) -> None:
    task = create(api)
    response = api.get(f"/v1/tasks/{task['id']}", headers=header("rate-limited"))
    assert_error(response, 429, code="rate_limit_exceeded")
    assert response.headers["retry-after"] == "60"


def test_unknown_scenario_name_is_a_400_naming_the_header(api: Any) -> None:
    error = assert_error(api.post(GENERATE, json=VALID_BODY, headers=header("no-such")), 400)
    assert error["param"] == "X-Mock-Scenario" and "catalogue" in error["message"]


def test_no_scenario_no_change(api: Any) -> None:
    task = create(api)
    advance(api, 60)
    assert poll(api, task["id"])["status"] == "completed"


class TestRegisteredScenarios:
    def add(self, api: Any, scenario: dict[str, Any]) -> None:
        response = api.post("/_mock/scenarios", json=scenario)
        assert response.status_code == 200, response.text

    def test_prompt_match_fails_only_matching_requests(self, api: Any) -> None:
        self.add(
            api,
            {
                "name": "cats",
                "match": {"prompt_contains": "cat"},
                "outcome": {"fail": {"code": "service_error"}},
            },
        )
        bad = create(api, {**VALID_BODY, "prompt": "a cat on a sofa"})
        good = create(api)
        advance(api, 60)
        assert poll(api, bad["id"])["status"] == "failed"
        assert poll(api, good["id"])["status"] == "completed"

    def test_regex_key_and_nth(self, api: Any) -> None:
        self.add(
            api,
            {
                "name": "third-dog",
                "match": {"prompt_regex": "^dog", "api_key": "sk-test-owner", "nth": 3},
                "outcome": {"reject": {"status": 503, "code": "service_unavailable"}},
            },
        )
        for _ in range(2):
            create(api, {**VALID_BODY, "prompt": "dog 1"})
        assert_error(api.post(GENERATE, json={**VALID_BODY, "prompt": "dog 3"}, headers=AUTH), 503)
        create(api, {**VALID_BODY, "prompt": "dog 4"})
        create(api, {**VALID_BODY, "prompt": "dog"}, headers={"Authorization": "Bearer sk-other"})

    def test_times_limits_how_often_it_applies(self, api: Any) -> None:
        self.add(
            api,
            {
                "name": "once",
                "match": {"model": "qwen-image-edit"},
                "times": 1,
                "outcome": {"reject": {"status": 500}},
            },
        )
        assert_error(api.post(GENERATE, json=VALID_BODY, headers=AUTH), 500, code="internal_error")
        create(api)

    def test_complete_with_n_results_and_timing(self, api: Any) -> None:
        self.add(
            api,
            {
                "name": "two",
                "match": {"prompt_contains": "two"},
                "outcome": {
                    "complete": {"results": 2},
                    "timing": {"queue_seconds": 10, "processing_seconds": 5},
                },
            },
        )
        task = create(api, {**VALID_BODY, "prompt": "two please"})
        advance(api, 9.9)
        assert poll(api, task["id"])["status"] == "pending"
        advance(api, 5)
        assert poll(api, task["id"])["status"] == "processing"
        advance(api, 0.2)
        detail = poll(api, task["id"])
        assert detail["status"] == "completed" and len(detail["results"]) == 2
        assert all(api.get(url).status_code == 200 for url in detail["results"])

    def test_stuck_task_never_finishes(self, api: Any) -> None:
        task = create(api, headers=header("stuck"))
        advance(api, 86400 * 3)
        detail = poll(api, task["id"])
        assert (detail["status"], detail["progress"]) == ("processing", 40)

    def test_header_beats_registered_beats_default(self, api: Any) -> None:
        self.add(
            api,
            {
                "name": "all-fail",
                "match": {"endpoint": "create", "model": "qwen-image-edit"},
                "outcome": {"fail": {"code": "unknown_error"}},
            },
        )
        by_header = create(api, headers=header("service-error"))
        by_match = create(api)
        advance(api, 60)
        assert poll(api, by_header["id"])["error"]["code"] == "service_error"
        assert poll(api, by_match["id"])["error"]["code"] == "unknown_error"
        assert api.delete("/_mock/scenarios/all-fail").status_code == 200
        plain = create(api)
        advance(api, 60)
        assert poll(api, plain["id"])["status"] == "completed"

    def test_probability_is_seeded(self, clock: Any) -> None:
        def outcomes() -> list[int]:
            from mock_server import ManualClock

            with make_client(ManualClock(clock.now()), seed=5) as api:
                self.add(
                    api,
                    {
                        "name": "half",
                        "match": {"model": "qwen-image-edit", "probability": 0.5},
                        "outcome": {"reject": {"status": 502}},
                    },
                )
                return [api.post(GENERATE, json=VALID_BODY, headers=AUTH).status_code for _ in range(30)]

        first = outcomes()
        assert first == outcomes()
        assert {200, 502} == set(first)

    def test_listing_deleting_and_bad_bodies(self, api: Any) -> None:
        self.add(
            api, {"name": "x", "match": {"prompt_contains": "x"}, "outcome": {"reject": {"status": 400}}}
        )
        assert [s["name"] for s in api.get("/_mock/scenarios").json()["scenarios"]] == ["x"]
        error = assert_error(api.post("/_mock/scenarios", json={"name": "Bad Name", "outcome": {}}), 400)
        assert "name" in error["message"]
        assert api.delete("/_mock/scenarios").status_code == 200
        assert api.get("/_mock/scenarios").json()["scenarios"] == []
        assert_error(api.delete("/_mock/scenarios/nope"), 404)


class TestScenarioFile:
    def test_yaml_file_is_loaded_at_start(self, clock: Any, tmp_path: Path) -> None:
        path = tmp_path / "s.yaml"
        path.write_text(
            "scenarios:\n"
            "  - name: nsfw\n"
            "    description: prompts with nsfw fail\n"
            "    match: {prompt_contains: nsfw}\n"
            "    outcome: {fail: {code: content_policy_violation, at_progress: 60}}\n"
        )
        with make_client(clock, scenarios_file=str(path)) as api:
            task = create(api, {**VALID_BODY, "prompt": "nsfw thing"})
            advance(api, 60)
            assert poll(api, task["id"])["error"]["code"] == "content_policy_violation"
            api.post("/_mock/reset")
            assert [s["name"] for s in api.get("/_mock/scenarios").json()["scenarios"]] == ["nsfw"]

    @pytest.mark.parametrize(
        "text,words",
        [
            (
                "scenarios:\n  - name: a\n    outcome:\n      fail: {code: 12}\n",
                ":4: scenarios[0].outcome.fail.code",
            ),
            ("scenarios:\n  - name: a\n", ":2: scenarios[0]"),
            ("scenarios:\n  - name: a\n    outcome: {fail: {code: x}, complete: {}}\n", "exclude each other"),
            ("scenarios: [\n", "not valid YAML"),
            (
                "scenarios:\n  - {name: a, outcome: {reject: {status: 400}}}\n  - {name: a, outcome: {reject: {status: 401}}}\n",
                "more than once",
            ),
            (
                "scenarios:\n  - name: a\n    match: {prompt_regex: '('}\n    outcome: {reject: {status: 400}}\n",
                "prompt_regex",
            ),
            (  # valid ECMA-262, which the schema checks, but not Python's re, which matches
                "scenarios:\n  - name: a\n    match: {prompt_regex: '(?<n>x)'}\n    outcome: {reject: {status: 400}}\n",
                ":3: scenarios[0].match.prompt_regex: not a Python regular expression",
            ),
        ],
    )
    def test_file_errors_name_the_line_and_key(self, tmp_path: Path, text: str, words: str) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            read_file(str(path))
        assert words in str(info.value)
        assert str(path) in str(info.value)

    def test_json_files_work_too(self, tmp_path: Path) -> None:
        path = tmp_path / "s.json"
        path.write_text(json.dumps({"scenarios": [{"name": "a", "outcome": {"reject": {"status": 429}}}]}))
        assert read_file(str(path))["scenarios"][0]["name"] == "a"

    def test_missing_file(self) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            read_file("/nonexistent/scenarios.yaml")


def test_every_catalogue_entry_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text()
    assert all(f"| `{s['name']}` |" in text for s in CATALOGUE)
