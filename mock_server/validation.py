"""Validate JSON bodies with the compiled schemas and turn the first failure into a 400 that a
user understands: ``param`` names the top-level field, the message says what was wrong.

No constraint is written here: limits and patterns come from the schema and from the error the
validator reports; this module only words them.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidRequest
from .schema_files import Schema, compile_schema


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    "string": "a string",
    "array": "an array",
    "object": "an object",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _subschema(schema: Schema, schema_path: list[str | int]) -> Schema:
    node: Any = schema
    for part in schema_path[:-1]:
        node = node[part]
    return node if isinstance(node, dict) else {}


def _is_text(value: Any) -> bool:
    """False when ``value`` holds a string that cannot be encoded as UTF-8 (a lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


class BodyValidator:
    """A compiled request schema plus the wording of its failures."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._compiled = compile_schema(schema)
        self._order = {name: i for i, name in enumerate(schema.get("properties", {}))}

    def validate(self, body: Any) -> None:
        try:
            if self._compiled.is_valid(body):
                return
            errors = list(self._compiled.iter_errors(body))
        except UnicodeEncodeError:  # a JSON escape such as "\ud800": valid JSON, not valid text
            field = (
                next((k for k, v in body.items() if not _is_text(v)), None)
                if isinstance(body, dict)
                else None
            )
            raise InvalidRequest(
                f"{field or 'request body'} contains an invalid Unicode escape (a lone surrogate)",
                param=field,
            ) from None
        errors.sort(key=self._rank)
        raise self._explain(errors[0], body)

    def _rank(self, error: Any) -> tuple[int, int, str]:
        field = self._field_of(error)
        return (self._order.get(field, len(self._order)), len(error.instance_path), field)

    @staticmethod
    def _field_of(error: Any) -> str:
        kind = type(error.kind).__name__
        if error.instance_path:
            return str(error.instance_path[0])
        if kind == "Required":
            return str(error.kind.property)
        if kind == "AdditionalProperties":
            return str(error.kind.unexpected[0])
        return ""

    def _explain(self, error: Any, body: Any) -> InvalidRequest:
        kind_name = type(error.kind).__name__
        kind = error.kind
        path = list(error.instance_path)
        field = self._field_of(error)
        where = field + "".join(f"[{p}]" for p in path[1:]) if path else field
        value = error.instance
        sub = _subschema(self.schema, list(error.schema_path))
        param = field or None
        if kind_name == "Required":
            message = f"{kind.property} is required"
        elif kind_name == "AdditionalProperties":
            names = ", ".join(str(n) for n in kind.unexpected)
            allowed = ", ".join(self._order)
            message = f"unknown field {names}: this model accepts only {allowed}"
        elif kind_name == "Type":
            wanted = kind.types if hasattr(kind, "types") else []
            names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted) or "another type"
            message = f"{where} must be {names}, not {_TYPE_NAMES[_json_type(value)]}"
        elif kind_name == "MaxLength":
            message = f"{where} must be at most {kind.limit} characters (got {len(value)})"
        elif kind_name == "MinLength":
            message = (
                f"{where} must not be empty"
                if kind.limit == 1
                else f"{where} must be at least {kind.limit} characters (got {len(value)})"
            )
        elif kind_name == "MaxItems":
            message = f"{where} accepts at most {kind.limit} items (got {len(value)})"
        elif kind_name == "MinItems":
            message = (
                f"{where} needs at least {kind.limit} item{'s' if kind.limit != 1 else ''} (got {len(value)})"
            )
        elif kind_name in ("Enum", "Constant"):
            options = sub.get("enum") or [sub.get("const")]
            listed = ", ".join(str(o) for o in options)
            message = f"{where} must be one of: {listed} (got {_describe(value)})"
        elif kind_name == "Format":
            message = f"{where} must be a valid {kind.format.upper()} (got {_describe(value)})"
        elif kind_name == "Pattern":
            explained = sub.get("x-pattern-message", f"must match {kind.pattern}")
            message = f"{where} {explained} (got {_describe(value)})"
        elif kind_name in ("Minimum", "Maximum", "ExclusiveMinimum", "ExclusiveMaximum"):
            word = {"Minimum": ">=", "Maximum": "<=", "ExclusiveMinimum": ">", "ExclusiveMaximum": "<"}
            message = f"{where} must be {word[kind_name]} {kind.limit} (got {_describe(value)})"
        else:
            message = f"{where or 'request body'}: {error.message}"
        return InvalidRequest(message, param=param)
