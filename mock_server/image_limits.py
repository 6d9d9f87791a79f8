"""What an input image must be, and what checking one yields.

The limits are data in ``schemas/``: the ``x-image-limits`` block of ``image_urls`` in the model's
request schema (formats, extensions, 512-4096 px per side, 10 MB, per the primary docs page).
Nothing here restates them. A check yields either ``ImageInfo`` (what was learned) or an
``ImageProblem`` (which rule broke, in a user's words).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

IMAGE_PROCESSING_ERROR = "image_processing_error"
"""Documented task business code: unreachable, undecodable, wrong format or too big."""
IMAGE_DIMENSION_MISMATCH = "image_dimension_mismatch"
"""Documented task business code: pixel limits."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    formats: tuple[str, ...]
    """Pillow format names, lowercase (``jpeg``, ``png``, ``webp``)."""
    extensions: tuple[str, ...]
    """URL path extensions, with the dot, lowercase; used only when images are not fetched."""
    min_side: int
    max_side: int
    max_bytes: int

    @classmethod
    def from_schema(cls, schema: dict[str, Any]) -> ImageLimits:
        block = schema["properties"]["image_urls"]["x-image-limits"]
        return cls(
            formats=tuple(str(f).lower() for f in block["formats"]),
            extensions=tuple(str(e).lower() for e in block["extensions"]),
            min_side=int(block["min_side_px"]),
            max_side=int(block["max_side_px"]),
            max_bytes=int(block["max_bytes"]),
        )

    @property
    def allowed_formats(self) -> str:
        return ", ".join(self.formats)

    @property
    def allowed_extensions(self) -> str:
        return ", ".join(self.extensions)

    @property
    def max_size_text(self) -> str:
        """The byte limit as the docs write it (``10 MB`` for 10485760)."""
        mib, rest = divmod(self.max_bytes, 1024 * 1024)
        return f"{mib} MB" if rest == 0 else f"{self.max_bytes} bytes"

    def side_ok(self, side: int) -> bool:
        return self.min_side <= side <= self.max_side


class Fault(StrEnum):
    """Which rule an image broke; decides the business code and the submit-time status."""

    UNREACHABLE = "unreachable"
    FORMAT = "format"
    UNDECODABLE = "undecodable"
    TOO_LARGE = "too_large"
    DIMENSIONS = "dimensions"

    @property
    def code(self) -> str:
        return IMAGE_DIMENSION_MISMATCH if self is Fault.DIMENSIONS else IMAGE_PROCESSING_ERROR

    @property
    def transient(self) -> bool:
        """A failure of the network, not of the image: worth trying again soon."""
        return self is Fault.UNREACHABLE


@dataclass(frozen=True, slots=True)
class ImageProblem:
    fault: Fault
    reason: str
    """Why, without the URL: ``unsupported format gif (allowed: jpeg, png, webp)``."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the fake learned about a valid image; ``thumbnail`` (a small JPEG) feeds results."""

    format: str
    width: int
    height: int
    size: int
    thumbnail: bytes


Verdict = ImageInfo | ImageProblem
