"""Optional callback signing in the Standard Webhooks style: a fake-only aid, off by default.

The real Evolink API does not sign callbacks (no secret, no signature header: API_NOTES.md §7), so
code written against the fake must not depend on these headers. With ``--callback-secret`` the fake
adds, to every callback request::

    webhook-id:        the message id (the task id: the same on every retry and redelivery)
    webhook-timestamp: integer seconds of the fake's clock when the attempt is sent
    webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">

The secret is written as Standard Webhooks libraries take it: ``whsec_`` followed by the base64 of
the key (the prefix is optional; what follows it is always base64-decoded).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; ValueError saying the fix when malformed."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("must be whsec_ followed by base64 (e.g. whsec_c2VjcmV0LWtleQ==)") from None
    if not key:
        raise ValueError("must not be empty: give whsec_ followed by the base64 of a key")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


@dataclass(frozen=True, slots=True)
class WebhookSigner:
    key: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> WebhookSigner:
        return cls(decode_secret(secret))

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self.key, msg_id, timestamp, body),
        }


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """True when ``headers`` carry a valid signature of ``body`` for ``secret`` (for receivers)."""
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        given = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    expected = signature(decode_secret(secret), msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in given)
