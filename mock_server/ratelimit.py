"""Per-key rate limits on the clock: a token bucket, refilled continuously.

Off by default: the docs give no numbers (API_NOTES §6). ``--rate-limit N/S`` allows bursts of N
creates per key, refilled at N per S clock seconds. A refused request gets the documented 429 with
``Retry-After`` in clock seconds (the fake's durations are all clock time, like ``estimated_time``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError, RateLimited


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        count, sep, seconds = text.partition("/")
        try:
            limit = cls(int(count), float(seconds) if sep else 60.0)
        except ValueError:
            raise ConfigError(f"--rate-limit {text!r}: expected N/SECONDS, e.g. 10/60") from None
        if limit.requests < 1 or not limit.per_seconds > 0:
            raise ConfigError(f"--rate-limit {text!r}: N must be >= 1 and SECONDS > 0")
        return limit


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float) -> None:
        """Spend one token of ``key``'s bucket or raise the documented 429."""
        limit = self.limit
        if limit is None:
            return
        rate = limit.requests / limit.per_seconds
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.requests), now)
        bucket.tokens = min(float(limit.requests), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = math.ceil((1.0 - bucket.tokens) / rate)
        raise RateLimited(
            f"Rate limit exceeded: {limit.requests} requests per {limit.per_seconds:g} s; retry after {wait} seconds",
            headers={"Retry-After": str(wait)},
            fallback_suggestion=f"retry after {wait} seconds",
        )

    def reset(self) -> None:
        self._buckets.clear()
