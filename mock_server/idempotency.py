"""``Idempotency-Key`` on create (observed in official clients, API_NOTES §1).

A repeat of the same key with the same body returns the original task and the header
``Idempotency-Replayed: true``; the same key with a different body is refused with
``idempotency_conflict``. Keys are per account and remembered as long as their task is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import schema_files
from .errors import IdempotencyConflict, InvalidRequest

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotency-Replayed"
SCHEMA_NAME = "idempotency-key.json"


@dataclass(frozen=True, slots=True)
class Entry:
    fingerprint: str
    task_id: str


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotencyKeys:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._validator = schema_files.compiled(SCHEMA_NAME)
        self._schema = schema_files.load(SCHEMA_NAME)

    def check_format(self, key: str) -> None:
        if self._validator.is_valid(key):
            return
        s = self._schema
        raise InvalidRequest(
            f"Idempotency-Key must be {s['minLength']}-{s['maxLength']} characters and "
            f"{s['x-pattern-message']} (got {len(key)} characters)",
            param="Idempotency-Key",
        )

    def lookup(self, account: str, key: str, body: Any) -> str | None:
        """The task id a replay should return, None for a new key; raises on a conflicting body."""
        entry = self._entries.get((account, key))
        if entry is None:
            return None
        if entry.fingerprint != fingerprint(body):
            raise IdempotencyConflict(
                "Idempotency-Key was already used with a different request body", param="Idempotency-Key"
            )
        return entry.task_id

    def remember(self, account: str, key: str, body: Any, task_id: str) -> None:
        self._entries[(account, key)] = Entry(fingerprint(body), task_id)

    def forget_task(self, task_id: str) -> None:
        for k in [k for k, e in self._entries.items() if e.task_id == task_id]:
            del self._entries[k]

    def reset(self) -> None:
        self._entries.clear()
