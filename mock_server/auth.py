"""Bearer keys and the accounts they belong to.

Without configured keys any non-empty Bearer token is accepted and is its own account. With
``--api-key KEY`` (repeatable) only those keys are accepted; ``KEY=ACCOUNT`` puts several keys in
one account, whose tasks they share.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, Unauthorized

MISSING_MESSAGE = "Authentication required: send the header 'Authorization: Bearer YOUR_API_KEY'"
INVALID_MESSAGE = "Invalid or expired token"


@dataclass(frozen=True, slots=True)
class Caller:
    key: str
    account: str


class Accounts:
    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys = dict(keys or {})

    @classmethod
    def from_options(cls, values: list[str]) -> Accounts:
        keys: dict[str, str] = {}
        for value in values:
            key, sep, account = value.partition("=")
            key = key.strip()
            if not key or (sep and not account.strip()):
                raise ConfigError(f"--api-key {value!r}: expected KEY or KEY=ACCOUNT")
            keys[key] = account.strip() if sep else key
        return cls(keys)

    @property
    def open(self) -> bool:
        return not self.keys

    def authenticate(self, header: str | None) -> Caller:
        if not header:
            raise Unauthorized(MISSING_MESSAGE)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(MISSING_MESSAGE)
        if self.open:
            return Caller(token, token)
        account = self.keys.get(token)
        if account is None:
            raise Unauthorized(INVALID_MESSAGE)
        return Caller(token, account)
