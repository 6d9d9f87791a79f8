"""Serve ``schemas/openapi.yaml`` as one self-contained JSON document.

The YAML file references the schema files beside it; tools that fetch ``/openapi.json`` over HTTP
cannot follow relative file references, so each referenced file is copied once into
``components/schemas`` and every reference is rewritten to point there.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import yaml

from . import schema_files


def _component_name(file_name: str) -> str:
    stem = file_name.removesuffix(".json").replace("/", "-")
    return "".join(part.capitalize() for part in re.split(r"[-._]", stem) if part)


def bundle() -> dict[str, Any]:
    with (schema_files.schema_dir() / schema_files.OPENAPI).open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.safe_load(f)
    id_to_file = {schema_files.load(n)["$id"]: n for n in schema_files.all_json_names()}
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})

    def target(ref: str, base_file: str | None) -> str:
        file_part, _, fragment = ref.partition("#")
        if not file_part:  # a reference inside the file itself
            if base_file is None:
                return ref
            name = base_file
        elif file_part.startswith("https://"):
            name = id_to_file[file_part]
        elif base_file is not None and "/" in base_file:
            name = base_file.rsplit("/", 1)[0] + "/" + file_part
        else:
            name = file_part
        component = _component_name(name)
        if component not in components:
            components[component] = {}  # placeholder first: files may refer to each other
            schema = copy.deepcopy(schema_files.load(name))
            schema.pop("$id", None)
            schema.pop("$schema", None)
            components[component] = rewrite(schema, name)
        return f"#/components/schemas/{component}{fragment}"

    def rewrite(node: Any, base_file: str | None) -> Any:
        if isinstance(node, dict):
            out = {k: rewrite(v, base_file) for k, v in node.items()}
            ref = node.get("$ref")
            if isinstance(ref, str) and not (base_file is None and ref.startswith("#")):
                out["$ref"] = target(ref, base_file)
            return out
        if isinstance(node, list):
            return [rewrite(v, base_file) for v in node]
        return node

    document["paths"] = rewrite(document["paths"], None)
    for section in ("responses", "headers", "requestBodies", "parameters"):
        if section in document["components"]:
            document["components"][section] = rewrite(document["components"][section], None)
    return document


@cache
def bundled_bytes() -> bytes:
    return json.dumps(bundle(), ensure_ascii=False, separators=(",", ":")).encode()
