"""Judge downloaded bytes with Pillow: real format sniffing, pixel limits, a full decode.

Blocking and CPU-bound: callers run ``sniff`` in a worker thread (``anyio.to_thread.run_sync``).

Order matters for safety: ``Image.open`` reads only the header (and Pillow's own
decompression-bomb guard refuses absurd pixel counts there); the format and the dimensions are
checked against the limits before anything is decoded, so at most ``max_side`` squared pixels
are ever decoded. The decode itself (into a small thumbnail) is what finds truncated or corrupt
data, as the real service would.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from .image_limits import Fault, ImageInfo, ImageLimits, ImageProblem, Verdict

THUMBNAIL_SIDE = 512
"""Longest side of the thumbnail kept per image URL (it feeds result rendering)."""

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)
"""What Pillow raises on corrupt or truncated data (plugins differ)."""


def sniff(data: bytes, limits: ImageLimits, thumbnail_side: int = THUMBNAIL_SIDE) -> Verdict:
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return ImageProblem(
            Fault.UNDECODABLE, f"not an image: content not recognised (starts with {data[:12]!r})"
        )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ImageProblem(
            Fault.DIMENSIONS,
            f"declares far more pixels than {limits.max_side}x{limits.max_side}; "
            "refused before decoding (decompression-bomb guard)",
        )
    except _DECODE_ERRORS as exc:
        return ImageProblem(Fault.UNDECODABLE, f"undecodable: {exc}")
    with image:
        fmt = (image.format or "unknown").lower()
        if fmt not in limits.formats:
            return ImageProblem(Fault.FORMAT, f"unsupported format {fmt} (allowed: {limits.allowed_formats})")
        width, height = image.size
        if not (limits.side_ok(width) and limits.side_ok(height)):
            return ImageProblem(
                Fault.DIMENSIONS,
                f"is {width}x{height} px; each side must be {limits.min_side}-{limits.max_side} px",
            )
        try:
            thumbnail = _thumbnail(image, thumbnail_side)
        except _DECODE_ERRORS as exc:
            return ImageProblem(Fault.UNDECODABLE, f"undecodable {fmt}: {exc}")
    return ImageInfo(format=fmt, width=width, height=height, size=len(data), thumbnail=thumbnail)


def _thumbnail(image: Image.Image, side: int) -> bytes:
    """Decode the whole image (JPEG at a reduced scale) into a small RGB JPEG."""
    image.thumbnail((side, side))  # draft mode for JPEG, then a full decode
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        rgb = flat.convert("RGB")
    else:
        rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85)
    return out.getvalue()
