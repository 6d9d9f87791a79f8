"""The schema files of ``schemas/``, read as data: the only contract this kit knows.

Validators are python-jsonschema (Draft 2020-12, formats checked), independent of the fake's own
jsonschema-rs, with every file registered under its ``$id`` so cross-file ``$ref`` resolves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

REQUEST = "qwen-image-edit.request.json"
TASK_CREATED = "task-created.json"
TASK_DETAIL = "task-detail.json"
TASK_ID = "task-id.json"
ERROR = "error.json"

Schema = dict[str, Any]


@cache
def load(name: str) -> Schema:
    """One schema file, parsed (cached: never mutate it)."""
    data: Schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return data


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load(name), registry=registry(), format_checker=FormatChecker())


def validator_for(schema: Schema) -> Draft202012Validator:
    """A validator for a sub-schema (or a derived one), resolving references like the files."""
    return Draft202012Validator(schema, registry=registry(), format_checker=FormatChecker())


@dataclass(frozen=True)
class ModelContract:
    """What the request schema's ``x-evolink-model`` and ``x-callback`` blocks document."""

    name: str
    estimated_time: int
    credits_reserved: float
    result_count: int
    result_format: str
    callback_timeout: float
    retry_delays: tuple[float, ...]


@cache
def model_contract() -> ModelContract:
    schema = load(REQUEST)
    meta = schema["x-evolink-model"]
    callback = schema["properties"]["callback_url"]["x-callback"]
    return ModelContract(
        name=meta["name"],
        estimated_time=int(meta["estimated_time_seconds"]),
        credits_reserved=float(meta["credits_reserved"]),
        result_count=int(meta["result_count"]),
        result_format=str(meta["result_format"]),
        callback_timeout=float(callback["timeout_seconds"]),
        retry_delays=tuple(float(d) for d in callback["retry_delays_seconds"]),
    )


def error_types(status: int) -> list[str] | None:
    """The documented ``error.type`` strings for an HTTP status (``x-error-types`` of error.json)."""
    table: dict[str, list[str]] = load(ERROR).get("x-error-types", {})
    return table.get(str(status))


def error_codes(status: int) -> list[str] | None:
    """The documented string ``error.code`` values for an HTTP status (``x-error-codes``)."""
    table: dict[str, list[str]] = load(ERROR).get("x-error-codes", {})
    return table.get(str(status))
