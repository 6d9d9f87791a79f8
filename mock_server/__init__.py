"""evolink-mock: a local fake of the Evolink image-generation API (qwen-image-edit)."""

from .app import create_app
from .clock import Clock, ManualClock, RealClock
from .config import Settings
from .errors import ApiError, ConfigError, ErrorStyle

__all__ = [
    "ApiError",
    "Clock",
    "ConfigError",
    "ErrorStyle",
    "ManualClock",
    "RealClock",
    "Settings",
    "create_app",
]
__version__ = "0.1.0"
