"""evolink-mock: a local fake of the Evolink image-generation API (qwen-image-edit).

The public names are imported on first use: the pytest plugin (``pytest_plugin.py``) loads this
package in every pytest run of an environment that has it, and the app's imports take a quarter
of a second that a run not using the fake should not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .clock import Clock, ManualClock, RealClock
    from .config import Settings
    from .errors import ApiError, ConfigError, ErrorStyle
    from .testing import EvolinkFake

_MODULES = {
    "ApiError": "errors",
    "Clock": "clock",
    "ConfigError": "errors",
    "ErrorStyle": "errors",
    "EvolinkFake": "testing",
    "ManualClock": "clock",
    "RealClock": "clock",
    "Settings": "config",
    "create_app": "app",
}

__all__ = [
    "ApiError",
    "Clock",
    "ConfigError",
    "ErrorStyle",
    "EvolinkFake",
    "ManualClock",
    "RealClock",
    "Settings",
    "create_app",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
