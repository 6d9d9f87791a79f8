"""The pytest plugin: the fake as fixtures. Registered under the ``pytest11`` entry point, so
installing evolink-mock is enough (``-p no:evolink_mock`` turns it off).

Fixtures (docs/pytest-plugin.md):

- ``evolink_fake``: a fresh fake for each test (``testing.EvolinkFake``), stopped after it;
- ``evolink_fake_session``: a fake shared by the session, reset before each test;
- ``make_evolink_fake``: the session's factory behind it, ``make_evolink_fake(**options)``;
- ``evolink_fake_options``: ``{}``; override it in a ``conftest.py`` for options of every fake
  in its scope;
- ``evolink_callback_receiver``: an HTTPS callback receiver (``receiver.CallbackReceiver``) that
  every fake trusts, through one throwaway CA per session (``evolink_callback_ca``).

Options come from, weakest first: the test defaults (manual clock, seed 0, private URLs allowed),
the command line, ``evolink_fake_options``, and ``@pytest.mark.evolink(...)`` (closest wins).
When a test ends, errors the fake logged fail it (``EvolinkFake.check``).

Nothing heavy is imported until a fixture is used: the plugin loads in every pytest run of an
environment that has the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from .receiver import CallbackReceiver
    from .testing import EvolinkFake

MARKER = "evolink"
GROUP = "evolink-fake"
SEED_OPTION = "--evolink-seed"
WAIT_OPTION = "--evolink-wait-timeout"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "evolink-mock: the fake Evolink API in your tests")
    group.addoption(
        SEED_OPTION,
        type=int,
        default=None,
        metavar="N",
        help="seed of every evolink fake a marker does not seed (default 0: runs repeat)",
    )
    group.addoption(
        WAIT_OPTION,
        type=float,
        default=None,
        metavar="S",
        help="wall seconds each clock step waits for callback attempts in flight (default 2)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the evolink fake fixtures, e.g. seed=7, credits=5, "
        "scenarios=[...], image_check='off', rate_limit='1/60' (docs/pytest-plugin.md)",
    )


@dataclass(frozen=True)
class SessionCA:
    """The session's throwaway CA: receivers' certificates come from it, fakes trust ``path``."""

    ca: Any
    """A ``trustme.CA``."""
    path: str


@pytest.fixture(scope="session")
def evolink_callback_ca(tmp_path_factory: pytest.TempPathFactory) -> SessionCA | None:
    """One CA for the session; None without ``trustme`` (receivers then serve plain HTTP)."""
    try:
        import trustme
    except ImportError:
        return None
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("evolink-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return SessionCA(ca, str(path))


@pytest.fixture
def evolink_fake_options() -> dict[str, Any]:
    """Options for every evolink fake in scope: override this fixture in a ``conftest.py``."""
    return {}


class FakePool:
    """``make_evolink_fake``: one running fake per distinct set of options, for the session."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._fakes: dict[str, EvolinkFake] = {}

    def __call__(self, **options: Any) -> EvolinkFake:
        """The session's fake for these options (started on first use, not reset here)."""
        merged = {**self.defaults, **options}
        key = json.dumps(merged, sort_keys=True, default=repr)
        fake = self._fakes.get(key)
        if fake is None:
            fake = self._fakes[key] = _start(merged)
        return fake

    def stop_all(self) -> None:
        fakes, self._fakes = list(self._fakes.values()), {}
        for fake in fakes:
            fake.stop()


@pytest.fixture(scope="session")
def make_evolink_fake(
    pytestconfig: pytest.Config, evolink_callback_ca: SessionCA | None
) -> Iterator[FakePool]:
    pool = FakePool(_defaults(pytestconfig, evolink_callback_ca))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def evolink_fake(
    request: pytest.FixtureRequest,
    evolink_fake_options: dict[str, Any],
    evolink_callback_ca: SessionCA | None,
) -> Iterator[EvolinkFake]:
    """A fake of its own for this test: manual clock, real server on 127.0.0.1 at a free port."""
    options = {
        **_defaults(request.config, evolink_callback_ca),
        **evolink_fake_options,
        **_marker_options(request.node),
    }
    fake = _start(options)
    try:
        yield fake
    finally:
        fake.stop()
    fake.check()


@pytest.fixture
def evolink_fake_session(
    request: pytest.FixtureRequest,
    make_evolink_fake: FakePool,
    evolink_fake_options: dict[str, Any],
) -> Iterator[EvolinkFake]:
    """The session's fake for this test's options, reset first: tasks, callbacks, balances,
    run-time scenarios and logged errors forgotten, clock rewound to its start."""
    fake = make_evolink_fake(**{**evolink_fake_options, **_marker_options(request.node)})
    fake.reset()
    yield fake
    fake.check()


@pytest.fixture
def evolink_callback_receiver(evolink_callback_ca: SessionCA | None) -> Iterator[CallbackReceiver]:
    """A callback receiver on 127.0.0.1: HTTPS with a certificate every evolink fake trusts
    (plain HTTP when trustme is missing); scripted with ``script(500, 500, 200)``."""
    from .receiver import CallbackReceiver

    ca = evolink_callback_ca
    with CallbackReceiver(tls=ca is not None, ca=None if ca is None else ca.ca) as receiver:
        yield receiver


def _defaults(config: pytest.Config, ca: SessionCA | None) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    seed = config.getoption(SEED_OPTION)
    if seed is not None:
        defaults["seed"] = seed
    wait = config.getoption(WAIT_OPTION)
    if wait is not None:
        defaults["wait_timeout"] = wait
    if ca is not None:
        defaults["callback_ca"] = ca.path
    return defaults


def _marker_options(node: Node) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers(MARKER))):  # farthest first: the closest wins
        if mark.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes keyword options only, got {mark.args!r}", pytrace=False)
        options.update(mark.kwargs)
    return options


def _start(options: dict[str, Any]) -> EvolinkFake:
    from .errors import ConfigError
    from .testing import EvolinkFake

    try:
        return EvolinkFake(**options).start()
    except ConfigError as exc:
        pytest.fail(f"evolink fake: {exc}", pytrace=False)
