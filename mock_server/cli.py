"""``evolink-mock`` / ``python -m mock_server``: run the fake.

Every option has an environment variable ``EVOLINK_MOCK_<NAME>``; the command line wins. A wrong
option or value exits 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .config import (
    IMAGE_CACHE_SIZE,
    MAX_IDEMPOTENCY_KEYS,
    MAX_TASKS,
    RESULT_CACHE_SIZE,
    CancelledStatus,
    ImageCheck,
    ImageErrors,
)
from .errors import ConfigError, ErrorStyle

ENV_PREFIX = "EVOLINK_MOCK_"


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2


def _scale(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a number >= 0 (0 = manual clock)")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be 0-65535 (0 = any free port)")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a number >= 0")
    return value


def _foreign(text: str) -> int:
    if text not in ("403", "404"):
        raise ValueError("must be 403 or 404")
    return int(text)


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _pem_file(text: str) -> str:
    try:
        ssl.create_default_context(cafile=text)
    except FileNotFoundError:
        raise ValueError(f"must be an existing PEM file (no such file: {text})") from None
    except (ssl.SSLError, OSError):
        raise ValueError(f"must be a PEM file of CA certificates: {text} is not one") from None
    return text


def _webhook_secret(text: str) -> str:
    from .webhook_signing import decode_secret

    decode_secret(text)  # ValueError saying the expected form
    return text


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    parse: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    flag: bool = False
    repeat: bool = False
    choices: Sequence[str] | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper().replace("-", "_")


OPTIONS = [
    Option("host", "address to bind (default 127.0.0.1)", str, "127.0.0.1", "ADDR"),
    Option("port", "port to bind; 0 picks a free one (default 8000)", _port, 8000, "PORT"),
    Option(
        "time-scale",
        "multiply every duration: 1 real time, 0.02 makes them 50x shorter, "
        "0 a manual clock moved only by POST /_mock/clock/advance (default 1)",
        _scale,
        1.0,
        "F",
    ),
    Option("clock-start", "Unix time the clock starts at (default: now)", float, None, "EPOCH"),
    Option(
        "seed", "seed for ids, timings and results; same seed, same run (default: random)", int, None, "N"
    ),
    Option(
        "api-key",
        "accept only this Bearer key (repeatable; KEY=ACCOUNT groups keys in one account; "
        "env: comma-separated). Default: any non-empty key, each its own account",
        str,
        None,
        "KEY",
        repeat=True,
    ),
    Option(
        "allow-private-urls",
        "RELAXATION for local development: accept loopback/private callback and image hosts, "
        "and plain http for them only",
        flag=True,
    ),
    Option(
        "callback-ca",
        "PEM file of CAs trusted for HTTPS callbacks besides the default ones, e.g. a test "
        "receiver's trustme CA (default: none)",
        _pem_file,
        None,
        "FILE",
    ),
    Option(
        "callback-secret",
        "sign callbacks the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature) "
        "with this whsec_<base64> secret; a fake-only aid, Evolink does not sign (default: unsigned)",
        _webhook_secret,
        None,
        "SECRET",
    ),
    Option(
        "callback-concurrency",
        "callback attempts in flight at once across tasks; one task's are always sequential (default 16)",
        _positive_int,
        16,
        "N",
    ),
    Option(
        "callback-log-size",
        "callback attempts kept for GET /_mock/callbacks, oldest dropped first (default 10000)",
        _positive_int,
        10000,
        "N",
    ),
    Option("strict-fields", "reject unknown request fields (default: accept and ignore them)", flag=True),
    Option(
        "error-style",
        "error envelope style: current (string codes, newer docs) or legacy (integer codes) (default current)",
        str,
        "current",
        choices=[s.value for s in ErrorStyle],
    ),
    Option(
        "foreign-task-status",
        "status for another account's task id: 403 (newer docs) or 404 (default 403)",
        _foreign,
        403,
        "403|404",
    ),
    Option("task-ttl", "seconds a finished task stays readable (default 86400)", _positive, 86400.0, "S"),
    Option(
        "max-body-bytes",
        "largest request body accepted, else 413 (default 1048576)",
        _positive_int,
        1048576,
        "N",
    ),
    Option(
        "public-url",
        "base URL written into result links (default: the URL the client used)",
        str,
        None,
        "URL",
    ),
    Option("access-log", "log every request (default off: it costs throughput)", flag=True),
    Option(
        "image-check",
        "on: fetch every image URL and check format, pixels and size; off (RELAXATION, no network): "
        "check only the URL's extension (default on)",
        str,
        "on",
        choices=[c.value for c in ImageCheck],
    ),
    Option(
        "image-errors",
        "where a bad image surfaces: task (accepted, the task fails with image_processing_error or "
        "image_dimension_mismatch) or submit (400, or 413 for a file too large) (default task)",
        str,
        "task",
        choices=[e.value for e in ImageErrors],
    ),
    Option(
        "credits",
        "starting balance of every account, in credits (default 1000000)",
        _non_negative,
        1_000_000.0,
        "N",
    ),
    Option(
        "rate-limit",
        "per-key create limit on the clock, e.g. 10/60 for 10 per 60 s; 429 with Retry-After "
        "beyond it (default: none, the docs give no numbers)",
        str,
        None,
        "N/S",
    ),
    Option("scenarios", "YAML or JSON file of scenarios to load at start-up", str, None, "FILE"),
    Option(
        "cancelled-status",
        "how a cancelled task reads: failed (with request_cancelled) or cancelled (default failed)",
        str,
        "failed",
        choices=[c.value for c in CancelledStatus],
    ),
    Option(
        "state-file",
        "save tasks, clock, balances, run-time scenarios, idempotency keys and pending callbacks to "
        "this JSON file on clean shutdown (SIGINT/SIGTERM) and restore them at start; a corrupt or "
        "foreign file stops start-up with exit 2 (default: none, nothing outlives the process)",
        str,
        None,
        "PATH",
    ),
    Option(
        "max-tasks",
        "tasks held at once (~2 KB each); expired ones are forgotten first, never a live one: a "
        f"create finding only live tasks gets 503 (default {MAX_TASKS})",
        _positive_int,
        MAX_TASKS,
        "N",
    ),
    Option(
        "max-idempotency-keys",
        f"Idempotency-Key entries remembered at once, the oldest forgotten first (default {MAX_IDEMPOTENCY_KEYS})",
        _positive_int,
        MAX_IDEMPOTENCY_KEYS,
        "N",
    ),
    Option(
        "image-cache-size",
        "image URLs whose check result is remembered, least recently used dropped first "
        f"(default {IMAGE_CACHE_SIZE})",
        _positive_int,
        IMAGE_CACHE_SIZE,
        "N",
    ),
    Option(
        "result-cache-size",
        "rendered result files kept in memory, least recently used dropped first "
        f"(default {RESULT_CACHE_SIZE})",
        _positive_int,
        RESULT_CACHE_SIZE,
        "N",
    ),
    Option(
        "deviate",
        "TESTING THE TESTS: break the contract in this named way (repeatable; env: comma-separated; "
        "names in mock_server/deviations.py). Default: none",
        str,
        None,
        "NAME",
        repeat=True,
    ),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, no usage dump
        raise ConfigError(f"{self.prog}: {message}")


def _env_default(option: Option, environ: dict[str, str]) -> Any:
    raw = environ.get(option.env)
    if raw is None:
        return [] if option.repeat else (False if option.flag else option.default)
    try:
        if option.flag:
            return _flag(raw)
        if option.repeat:
            return [part.strip() for part in raw.split(",") if part.strip()]
        value = option.parse(raw) if option.parse else raw
    except ValueError as exc:
        raise ConfigError(f"{option.env}={raw!r}: {exc}") from None
    if option.choices and value not in option.choices:
        raise ConfigError(f"{option.env}={raw!r}: choose from {', '.join(option.choices)}")
    return value


def _typed(option: Option) -> Callable[[str], Any]:
    parse = option.parse or str

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            detail = str(exc) if "must" in str(exc) else f"invalid value {text!r}"
            raise argparse.ArgumentTypeError(detail) from None

    return convert


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    env = dict(os.environ if environ is None else environ)
    parser = _Parser(
        prog="evolink-mock",
        description="A local fake of the Evolink image-generation API (qwen-image-edit).",
        epilog="Exit codes: 0 ok, 1 runtime error, 2 usage error. Docs: README.md, docs/.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    serve = commands.add_parser("serve", help="run the fake HTTP server", description="Run the fake.")
    for option in OPTIONS:
        default = _env_default(option, env)
        text = f"{option.help} [env {option.env}]"
        if option.flag:
            serve.add_argument(f"--{option.name}", action="store_true", default=default, help=text)
        elif option.repeat:
            serve.add_argument(
                f"--{option.name}",
                action="append",
                type=_typed(option),
                default=None,
                metavar=option.metavar,
                help=text,
            )
            serve.set_defaults(**{f"{option.dest}_env": default})
        else:
            serve.add_argument(
                f"--{option.name}",
                type=_typed(option),
                default=default,
                metavar=option.metavar,
                choices=option.choices,
                help=text,
            )
    commands.add_parser("openapi", help="print the bundled OpenAPI document (JSON)")
    return parser


def settings_from(args: argparse.Namespace) -> Any:
    from .auth import Accounts
    from .config import Settings

    keys = args.api_key if args.api_key is not None else args.api_key_env
    Accounts.from_options(keys)  # fail early on a malformed KEY=ACCOUNT
    return Settings(
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        clock_start=args.clock_start,
        seed=args.seed,
        api_keys=tuple(keys),
        allow_private_urls=args.allow_private_urls,
        strict_fields=args.strict_fields,
        error_style=ErrorStyle(args.error_style),
        foreign_task_status=args.foreign_task_status,
        task_ttl=args.task_ttl,
        callback_ca=args.callback_ca,
        callback_secret=args.callback_secret,
        callback_concurrency=args.callback_concurrency,
        callback_log_size=args.callback_log_size,
        max_body_bytes=args.max_body_bytes,
        public_url=args.public_url.rstrip("/") if args.public_url else None,
        access_log=args.access_log,
        image_check=ImageCheck(args.image_check),
        image_errors=ImageErrors(args.image_errors),
        credits=args.credits,
        rate_limit=_rate_limit(args.rate_limit),
        scenarios_file=_scenarios(args.scenarios),
        cancelled_status=CancelledStatus(args.cancelled_status),
        state_file=args.state_file,
        max_tasks=args.max_tasks,
        max_idempotency_keys=args.max_idempotency_keys,
        image_cache_size=args.image_cache_size,
        result_cache_size=args.result_cache_size,
        deviations=_deviations(args.deviate if args.deviate is not None else args.deviate_env),
    )


def _rate_limit(text: str | None) -> str | None:
    from .ratelimit import RateLimit

    if text is not None:
        RateLimit.parse(text)  # fail at start-up with one line, not at the first request
    return text


def _scenarios(path: str | None) -> str | None:
    from .scenarios import read_file

    if path is not None:
        read_file(path)  # a broken file stops start-up with the line and key at fault
    return path


def _deviations(names: list[str]) -> tuple[str, ...]:
    from . import deviations

    deviations.check(names)
    return tuple(dict.fromkeys(names))


def _say(line: str) -> None:
    """The CLI's only output channel: one line on stderr (stdout stays free for data)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def banner(settings: Any, url: str) -> list[str]:
    clock = "manual" if settings.manual_clock else f"real x{settings.time_scale:g}"
    seed = "random" if settings.seed is None else str(settings.seed)
    keys = f"{len(settings.api_keys)} configured" if settings.api_keys else "any Bearer key"
    lines = [f"evolink-mock on {url}  clock={clock}  seed={seed}  keys={keys}"]
    if settings.allow_private_urls:
        lines.append("RELAXED allow-private-urls (loopback/private hosts and plain http for them accepted)")
    if settings.strict_fields:
        lines.append("STRICT strict-fields (unknown request fields rejected)")
    if settings.callback_ca:
        lines.append(f"callback-ca {settings.callback_ca} (trusted for HTTPS callbacks)")
    if settings.callback_secret:
        lines.append("callback-secret set: callbacks signed (Standard Webhooks; a fake-only aid)")
    if settings.error_style is not ErrorStyle.CURRENT:
        lines.append(f"error-style={settings.error_style.value}")
    if settings.image_check == ImageCheck.OFF:
        lines.append("RELAXED image-check=off (image URLs not fetched; only their extension is checked)")
    if settings.image_errors == ImageErrors.SUBMIT:
        lines.append("image-errors=submit (bad images answered 400/413 at submit, not as failed tasks)")
    if settings.rate_limit:
        lines.append(f"rate-limit={settings.rate_limit} creates per key (429 beyond it)")
    if settings.scenarios_file:
        lines.append(f"scenarios from {settings.scenarios_file}")
    if settings.cancelled_status == CancelledStatus.CANCELLED:
        lines.append("cancelled-status=cancelled (cancelled tasks read the literal status cancelled)")
    if settings.deviations:
        from . import deviations

        lines += deviations.banner(settings.deviations)
    return lines


def serve(settings: Any) -> int:
    import uvicorn

    class _Server(uvicorn.Server):
        """Stops gracefully on SIGINT/SIGTERM and then exits 0, instead of re-raising the signal."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    from .app import create_app

    try:
        app = create_app(settings)  # reads --state-file: a corrupt one stops here, before listening
    except ConfigError as exc:
        _say(str(exc))
        return Exit.USAGE
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        _say(f"evolink-mock: cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
        return Exit.ERROR
    sock.listen(2048)  # connections queue from now on: a client may connect as soon as the banner shows
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    for line in banner(settings, f"http://{host}:{port}"):
        _say(line)
    restored = app.state.service.restored
    if restored is not None:
        _say(restored.describe())
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=settings.access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    server.run(sockets=[sock])
    save_error = app.state.service.save_error
    if save_error is not None:
        _say(f"evolink-mock: {save_error}")
        return Exit.ERROR
    _say("evolink-mock stopped")
    return Exit.OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "openapi":
            from .openapi import bundled_bytes

            sys.stdout.write(bundled_bytes().decode() + "\n")
            return Exit.OK
        settings = settings_from(args)
    except ConfigError as exc:
        _say(str(exc))
        return Exit.USAGE
    return serve(settings)
