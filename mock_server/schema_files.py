"""Load the JSON Schema files of ``schemas/``: the single source of truth.

The fake validates requests with these files and the tests validate responses with them.
Nothing here states a constraint; it only finds, reads and compiles the files.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

REQUEST = "qwen-image-edit.request.json"
TASK_CREATED = "task-created.json"
TASK_DETAIL = "task-detail.json"
TASK_ID = "task-id.json"
ERROR = "error.json"
USAGE = "usage.json"
OPENAPI = "openapi.yaml"

Schema = dict[str, Any]


def schema_dir() -> Path:
    """The ``schemas/`` folder: the repository's when run from a checkout, else the packaged copy."""
    checkout = Path(__file__).resolve().parent.parent / "schemas"
    if (checkout / REQUEST).is_file():
        return checkout
    packaged = Path(str(resources.files("mock_server") / "_schemas"))
    if (packaged / REQUEST).is_file():
        return packaged
    raise FileNotFoundError(f"schemas/ not found beside {Path(__file__).parent} nor packaged")


@cache
def load(name: str) -> Schema:
    """One schema file, parsed (cached; callers must not mutate it, use ``copy.deepcopy``)."""
    with (schema_dir() / name).open(encoding="utf-8") as f:
        data: Schema = json.load(f)
    return data


def all_json_names() -> list[str]:
    base = schema_dir()
    return sorted(str(p.relative_to(base)) for p in base.rglob("*.json"))


def _registry() -> jsonschema_rs.Registry:
    base_ids = [(load(n)["$id"], load(n)) for n in all_json_names()]
    return jsonschema_rs.Registry(base_ids)


@cache
def _cached_registry() -> jsonschema_rs.Registry:
    return _registry()


def compile_schema(schema: Schema) -> Any:
    """A fast compiled validator (jsonschema-rs, formats checked) for ``schema``.

    ``schema`` is usually ``load(name)`` or a copy derived from it at start-up (for example the
    strict-fields variant); references to sibling files resolve through their ``$id``.
    """
    return jsonschema_rs.validator_for(schema, validate_formats=True, registry=_cached_registry())


@cache
def compiled(name: str) -> Any:
    return compile_schema(load(name))


def derived(name: str) -> Schema:
    """A private deep copy of a schema file, for start-up variants (never for new constraints)."""
    return copy.deepcopy(load(name))
