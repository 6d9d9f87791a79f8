"""The callback options: --callback-ca, --callback-secret, --callback-concurrency, --callback-log-size."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from mock_server import Settings
from mock_server.callbacks import Callbacks
from mock_server.cli import banner, build_parser, main, settings_from
from mock_server.errors import ConfigError
from mock_server.service import FakeService

SECRET = "whsec_c2VjcmV0LWtleQ=="


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def parse(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    settings: Settings = settings_from(build_parser(environ or {}).parse_args(["serve", *argv]))
    return settings


def test_defaults() -> None:
    settings = parse([])
    assert (settings.callback_ca, settings.callback_secret) == (None, None)
    assert (settings.callback_concurrency, settings.callback_log_size) == (16, 10000)


def test_options_and_their_environment_variables(ca_file: str) -> None:
    argv = ["--callback-ca", ca_file, "--callback-secret", SECRET, "--callback-concurrency", "2"]
    settings = parse(argv, {"EVOLINK_MOCK_CALLBACK_LOG_SIZE": "50"})
    assert (settings.callback_ca, settings.callback_secret) == (ca_file, SECRET)
    assert (settings.callback_concurrency, settings.callback_log_size) == (2, 50)
    assert SECRET not in repr(settings)
    lines = banner(settings, "http://127.0.0.1:8000")
    assert any(ca_file in line for line in lines) and any("signed" in line for line in lines)
    assert not any(SECRET in line for line in lines)


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--callback-ca", "/no/such/ca.pem"], "no such file"),
        (["--callback-ca", "pyproject.toml"], "PEM file"),
        (["--callback-secret", "whsec_not base64!"], "whsec_ followed by base64"),
        (["--callback-secret", "whsec_"], "must not be empty"),
        (["--callback-concurrency", "0"], "must be > 0"),
        (["--callback-log-size", "lots"], "--callback-log-size"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_settings_built_in_code_are_checked_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="callback CA file"):
        FakeService(Settings(callback_ca=str(bad)))
    with pytest.raises(ValueError, match="base64"):
        FakeService(Settings(callback_secret="whsec_***"))
    assert isinstance(FakeService(Settings(callback_secret=SECRET)).callbacks, Callbacks)
