"""schemas/ is well-formed and the fake's answers conform to it."""

from __future__ import annotations

import json

import pytest
import yaml
from jsonschema import Draft202012Validator

from .conftest import CREATED, DETAIL, ERROR, SCHEMAS

FILES = sorted(p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json"))


@pytest.mark.parametrize("name", FILES)
def test_schema_files_are_valid_2020_12(name: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_openapi_references_only_existing_files() -> None:
    document = yaml.safe_load((SCHEMAS / "openapi.yaml").read_text())
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    files = {r.split("#")[0] for r in refs if not r.startswith("#")}
    assert files and all((SCHEMAS / f).is_file() for f in files)


DOC_EXAMPLE = {
    "created": 1757156493,
    "id": "task-unified-1757156493-imcg5zqt",
    "model": "qwen-image-edit",
    "object": "image.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 30},
    "type": "image",
    "usage": {"billing_rule": "per_call", "credits_reserved": 1, "user_group": "default"},
}


def test_the_documented_example_response_is_valid() -> None:
    CREATED.validate(DOC_EXAMPLE)
    DETAIL.validate(DOC_EXAMPLE)


@pytest.mark.parametrize(
    "change",
    [
        {"progress": 101},
        {"progress": -1},
        {"status": "done"},
        {"object": "image.task"},
        {"type": "picture"},
        {"id": "task-1757156493-imcg5zqt"},
        {"task_info": {"estimated_time": 30}},
        {"usage": {"billing_rule": "per_image", "credits_reserved": 1, "user_group": "default"}},
    ],
)
def test_schemas_reject_undocumented_values(change: dict[str, object]) -> None:
    assert not CREATED.is_valid({**DOC_EXAMPLE, **change})


def test_detail_schema_ties_fields_to_status() -> None:
    completed = {**DOC_EXAMPLE, "status": "completed", "progress": 100, "task_info": {"can_cancel": False}}
    assert not DETAIL.is_valid(completed)  # results are required once completed
    assert DETAIL.is_valid({**completed, "results": ["https://files.example.com/a.png"]})
    failed = {**DOC_EXAMPLE, "status": "failed", "task_info": {"can_cancel": False}}
    assert not DETAIL.is_valid(failed)  # error is required once failed
    assert DETAIL.is_valid(
        {**failed, "error": {"code": "content_policy_violation", "message": "x", "type": "task_error"}}
    )
    assert not DETAIL.is_valid({**DOC_EXAMPLE, "results": ["https://files.example.com/a.png"]})
    assert not DETAIL.is_valid({**DOC_EXAMPLE, "progress": 5})  # pending is progress 0


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": {
                "code": "invalid_request",
                "message": "m",
                "type": "invalid_request_error",
                "param": "prompt",
            }
        },
        {"error": {"code": 429, "message": "Resource exhausted", "type": "", "param": ""}},
    ],
)
def test_both_documented_envelope_styles_are_valid(body: dict[str, object]) -> None:
    ERROR.validate(body)
