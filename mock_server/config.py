"""Settings of one fake: every option of the CLI, its environment variable and its default.

``Settings`` is plain data; ``create_app`` takes one. The CLI fills it from ``EVOLINK_MOCK_*``
environment variables overridden by command-line options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .errors import ErrorStyle

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body accepted (413 above); the real gateway's limit is undocumented."""
MAX_TASKS = 100_000
"""Tasks held at once by default (DESIGN.md: 100 000 idle tasks cost memory only, ~2 KB each)."""
MAX_IDEMPOTENCY_KEYS = 100_000
"""Idempotency keys remembered at once by default: one per task at the task limit."""
IMAGE_CACHE_SIZE = 256
"""Image URLs remembered by default; each entry holds a thumbnail of at most ~100 KB."""
RESULT_CACHE_SIZE = 32
"""Rendered result files kept by default; a 1024 px PNG is a few MB."""


class CancelledStatus(StrEnum):
    FAILED = "failed"
    """A cancelled task reads failed with error.code request_cancelled (the documented statuses)."""
    CANCELLED = "cancelled"
    """A cancelled task reads the literal status cancelled (callbacks and official clients use it)."""


class ImageCheck(StrEnum):
    ON = "on"
    """Fetch every image URL and check the bytes (the default)."""
    OFF = "off"
    """Fetch nothing; check the URL's extension only (for work without a network)."""


class ImageErrors(StrEnum):
    TASK = "task"
    """Accept the request; the task fails (image_processing_error / image_dimension_mismatch)."""
    SUBMIT = "submit"
    """Reject at submit: 400 invalid_request, or 413 request_too_large for a file over the limit."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    time_scale: float = 1.0
    """1.0 real time; 0.02 makes every duration 50x shorter; 0 is the manual clock."""
    clock_start: float | None = None
    """Unix time the clock starts at; None means the wall time at start-up."""
    seed: int | None = None
    api_keys: tuple[str, ...] = ()
    allow_private_urls: bool = False
    strict_fields: bool = False
    error_style: ErrorStyle = ErrorStyle.CURRENT
    foreign_task_status: int = 403
    """What another account's task id answers: 403 permission_denied (newer docs) or 404."""
    max_body_bytes: int = MAX_BODY_BYTES
    public_url: str | None = None
    """Base URL written into result links; None means the URL the client used."""
    task_ttl: float = 86400.0
    user_group: str = "default"
    access_log: bool = False
    callback_ca: str | None = None
    """PEM file of CAs trusted for HTTPS callbacks besides the default ones (e.g. a trustme CA)."""
    callback_secret: str | None = field(default=None, repr=False)
    """Standard Webhooks secret (whsec_<base64>): sign callbacks. A fake-only aid; Evolink does not sign."""
    callback_concurrency: int = 16
    """Callback attempts in flight at once across tasks (one task's attempts are always sequential)."""
    callback_log_size: int = 10000
    """Callback attempts kept for GET /_mock/callbacks; the oldest are dropped first."""
    image_check: ImageCheck = ImageCheck.ON
    image_errors: ImageErrors = ImageErrors.TASK
    credits: float = 1_000_000.0
    """Starting balance of every account: generous, so local work never runs dry."""
    rate_limit: str | None = None
    """Per-key create limit N/SECONDS on the clock (e.g. 10/60); None: no limit (the default)."""
    scenarios_file: str | None = None
    """YAML or JSON file of scenarios loaded at start-up (schemas/mock/scenarios.json)."""
    cancelled_status: CancelledStatus = CancelledStatus.FAILED
    max_tasks: int = MAX_TASKS
    """Tasks held at once (about 2 KB each); expired ones are forgotten first, live ones never:
    a create that finds only live tasks gets 503 service_unavailable (docs/reliability.md)."""
    max_idempotency_keys: int = MAX_IDEMPOTENCY_KEYS
    """Idempotency-Key entries remembered at once; the oldest is forgotten first."""
    image_cache_size: int = IMAGE_CACHE_SIZE
    """Input image URLs whose verdict is remembered (least recently used dropped first)."""
    result_cache_size: int = RESULT_CACHE_SIZE
    """Rendered result files kept in memory (least recently used dropped first)."""
    state_file: str | None = None
    """JSON file the fake's state is saved to on clean shutdown and restored from at start-up."""
    deviations: tuple[str, ...] = ()
    """Named deviations from the contract (mock_server/deviations.py), to test the contract tests."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def manual_clock(self) -> bool:
        return self.time_scale == 0
