"""``Idempotency-Key`` on create (observed in official clients, API_NOTES §1).

A repeat of the same key with the same body returns the original task and the header
``Idempotency-Replayed: true``; the same key with a different body is refused with
``idempotency_conflict``. Keys are per account and remembered as long as their task is, and at
most ``capacity`` at once (``--max-idempotency-keys``): beyond it the oldest key is forgotten, and
a replay of a forgotten key creates a new task.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import schema_files
from .config import MAX_IDEMPOTENCY_KEYS
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
    def __init__(self, capacity: int = MAX_IDEMPOTENCY_KEYS) -> None:
        if capacity < 1:
            raise ValueError("the idempotency key limit must be >= 1")
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._by_task: dict[str, tuple[str, str]] = {}
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
        self.restore(account, key, Entry(fingerprint(body), task_id))

    def restore(self, account: str, key: str, entry: Entry) -> None:
        """Remember ``entry`` as the newest key (also how a saved state is read back)."""
        old = self._entries.pop((account, key), None)
        if old is not None:
            self._by_task.pop(old.task_id, None)
        self._entries[(account, key)] = entry
        self._by_task[entry.task_id] = (account, key)
        while len(self._entries) > self.capacity:
            _, dropped = self._entries.popitem(last=False)
            self._by_task.pop(dropped.task_id, None)

    def forget_task(self, task_id: str) -> None:
        where = self._by_task.pop(task_id, None)
        if where is not None:
            self._entries.pop(where, None)

    def items(self) -> list[tuple[str, str, Entry]]:
        """Every remembered key, oldest first: ``(account, key, entry)``."""
        return [(account, key, entry) for (account, key), entry in self._entries.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self) -> None:
        self._entries.clear()
        self._by_task.clear()
