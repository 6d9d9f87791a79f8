"""A model is data: its request schema and the ``x-evolink-model`` block inside it.

qwen-image-edit is the only model today; another Evolink image model is a new schema file
registered in ``MODEL_SCHEMAS``, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from . import schema_files

MODEL_SCHEMAS: dict[str, str] = {"qwen-image-edit": schema_files.REQUEST}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    schema_name: str
    estimated_time: int
    billing_rule: str
    credits_reserved: float
    result_count: int
    result_format: str
    result_ttl: float

    @property
    def schema(self) -> dict[str, Any]:
        return schema_files.load(self.schema_name)


@cache
def model_spec(name: str) -> ModelSpec:
    schema_name = MODEL_SCHEMAS[name]
    meta = schema_files.load(schema_name)["x-evolink-model"]
    return ModelSpec(
        name=meta["name"],
        schema_name=schema_name,
        estimated_time=int(meta["estimated_time_seconds"]),
        billing_rule=meta["billing_rule"],
        credits_reserved=meta["credits_reserved"],
        result_count=int(meta["result_count"]),
        result_format=meta["result_format"],
        result_ttl=float(meta["result_ttl_seconds"]),
    )


DEFAULT_MODEL = "qwen-image-edit"
