"""Test images for users and for our tests: valid ones at the limits and invalid ones past them.

Every fixture is built deterministically by code here. The small ones are also committed in
``fixtures/`` (``python -m mock_server.fixtures [DIR]`` rewrites them) so they can be browsed or
uploaded elsewhere; the big ones (4096 px JPEG, the 10 MB pair, the decompression bomb) are built
on the fly and never committed. The fake serves all of them at ``GET /_mock/fixtures/{name}``:
only names of this catalog, so no path from a request ever reaches the file system.

``expect`` is what the image check must say about each one: ``None`` (valid) or the ``Fault``.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw

from . import schema_files
from .image_limits import Fault, ImageLimits

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}


def limits() -> ImageLimits:
    return ImageLimits.from_schema(schema_files.load(schema_files.REQUEST))


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _gradient(
    width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> Image.Image:
    mask = Image.linear_gradient("L").resize((width, height))
    return Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask
    )


def _labelled(width: int, height: int, label: str) -> Image.Image:
    """A gradient with a checker band and its own size written on it: easy to recognise."""
    image = _gradient(width, height, (40, 90, 170), (230, 160, 60))
    draw = ImageDraw.Draw(image)
    cell = max(8, min(width, height) // 16)
    for x in range(0, width, cell):
        for y in range(0, cell * 2, cell):
            if (x // cell + y // cell) % 2 == 0:
                draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(250, 250, 250))
    draw.text((cell, cell * 3), label, fill=(255, 255, 255))
    return image


def _flat(side: int) -> Image.Image:
    """A one-colour palette image: a 4096 px side compresses to a few KB as PNG or WebP."""
    image = Image.new("P", (side, side), 0)
    image.putpalette([40, 110, 200] * 256)
    return image


def cat_picture(side: int = 1024) -> Image.Image:
    """A plausible picture: a cartoon cat sitting on a meadow under a sky."""
    s = side / 1024
    image = _gradient(side, side, (120, 180, 240), (200, 230, 255))
    draw = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    def pts(*xy: tuple[float, float]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in xy]

    draw.ellipse(box(780, 90, 900, 210), fill=(255, 225, 120))  # sun
    draw.rectangle(box(0, 720, 1024, 1024), fill=(110, 170, 80))  # meadow
    fur, dark, pink = (235, 150, 70), (170, 95, 40), (240, 150, 160)
    tail = pts((640, 830), (760, 780), (800, 640), (760, 560))
    draw.line(tail, fill=fur, width=int(38 * s), joint="curve")
    draw.ellipse(box(330, 520, 690, 900), fill=fur)  # body
    draw.ellipse(box(400, 640, 620, 900), fill=(250, 215, 170))  # chest
    draw.polygon(pts((360, 330), (380, 170), (470, 280)), fill=fur)  # ears
    draw.polygon(pts((660, 330), (640, 170), (550, 280)), fill=fur)
    draw.polygon(pts((385, 300), (395, 215), (450, 285)), fill=pink)
    draw.polygon(pts((635, 300), (625, 215), (570, 285)), fill=pink)
    draw.ellipse(box(350, 240, 670, 560), fill=fur)  # head
    for x0 in (430, 550):  # eyes
        draw.ellipse(box(x0, 350, x0 + 60, 420), fill=(250, 250, 240))
        draw.ellipse(box(x0 + 18, 358, x0 + 44, 414), fill=(40, 60, 30))
    draw.polygon(pts((490, 450), (530, 450), (510, 475)), fill=pink)  # nose
    draw.arc(box(470, 460, 512, 500), 0, 180, fill=dark, width=int(4 * s))
    draw.arc(box(508, 460, 550, 500), 0, 180, fill=dark, width=int(4 * s))
    for dy in (-12, 6, 24):  # whiskers
        draw.line(pts((470, 470), (330, 450 + dy)), fill=(90, 60, 40), width=int(3 * s))
        draw.line(pts((550, 470), (690, 450 + dy)), fill=(90, 60, 40), width=int(3 * s))
    for x0 in (410, 540):  # paws
        draw.ellipse(box(x0, 860, x0 + 80, 910), fill=(250, 215, 170))
    for x in range(20, 1024, 70):  # grass
        draw.line(pts((x, 1024), (x + 10, 980)), fill=(80, 140, 60), width=int(5 * s))
    return image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def padded_png(total: int) -> bytes:
    """A valid 512 px PNG of exactly ``total`` bytes: a private ancillary chunk (``evPa``, which
    decoders skip) before IEND makes up the size."""
    base = _encode(_labelled(512, 512, f"{total} bytes"), "PNG")
    iend = base.rindex(b"IEND") - 4
    pad = total - len(base) - 12
    if pad < 0:
        raise ValueError(f"{total} bytes is smaller than the base image ({len(base) + 12})")
    return base[:iend] + _png_chunk(b"evPa", bytes(pad)) + base[iend:]


def bomb_png(side: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``side`` x ``side`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _truncated() -> bytes:
    whole = _encode(_labelled(512, 512, "truncated"), "PNG")
    return whole[: len(whole) // 2]


@dataclass(frozen=True, slots=True)
class Fixture:
    name: str
    about: str
    build: Callable[[], bytes]
    expect: Fault | None
    committed: bool = True

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES.get(Path(self.name).suffix, "application/octet-stream")


def _catalog() -> tuple[Fixture, ...]:
    lim = limits()
    lo, hi = lim.min_side, lim.max_side
    return (
        Fixture(
            "cat-1024.png",
            "a cartoon cat, 1024x1024 PNG: a working input",
            lambda: _encode(cat_picture(), "PNG"),
            None,
        ),
        Fixture(
            f"valid-{lo}.jpg",
            f"{lo}x{lo} JPEG (smallest allowed)",
            lambda: _encode(_labelled(lo, lo, "jpeg"), "JPEG"),
            None,
        ),
        Fixture(
            f"valid-{lo}.png",
            f"{lo}x{lo} PNG (smallest allowed)",
            lambda: _encode(_labelled(lo, lo, "png"), "PNG"),
            None,
        ),
        Fixture(
            f"valid-{lo}.webp",
            f"{lo}x{lo} WebP (smallest allowed)",
            lambda: _encode(_labelled(lo, lo, "webp"), "WEBP"),
            None,
        ),
        Fixture(
            f"valid-{hi}.png",
            f"{hi}x{hi} PNG (largest allowed)",
            lambda: _encode(_flat(hi), "PNG", optimize=True),
            None,
        ),
        Fixture(
            f"valid-{hi}.webp",
            f"{hi}x{hi} WebP (largest allowed)",
            lambda: _encode(_flat(hi).convert("RGB"), "WEBP", lossless=True),
            None,
        ),
        Fixture(
            f"valid-{hi}.jpg",
            f"{hi}x{hi} JPEG (largest allowed; built on the fly)",
            lambda: _encode(_flat(hi).convert("RGB"), "JPEG", quality=50),
            None,
            committed=False,
        ),
        Fixture(
            "wide-2048x1024.jpg",
            "2048x1024 JPEG: a 2:1 input, so results come out 2:1",
            lambda: _encode(_labelled(2048, 1024, "2048x1024"), "JPEG", quality=80),
            None,
        ),
        Fixture(
            "exactly-10mb.png",
            f"a valid PNG of exactly {lim.max_bytes} bytes (built on the fly)",
            lambda: padded_png(lim.max_bytes),
            None,
            committed=False,
        ),
        Fixture(
            "over-10mb.png",
            f"a valid PNG of {lim.max_bytes + 1} bytes, one past the limit (built on the fly)",
            lambda: padded_png(lim.max_bytes + 1),
            Fault.TOO_LARGE,
            committed=False,
        ),
        Fixture(
            f"too-small-{lo - 1}.png",
            f"{lo - 1}x{lo - 1} PNG (one px under)",
            lambda: _encode(_labelled(lo - 1, lo - 1, "too small"), "PNG"),
            Fault.DIMENSIONS,
        ),
        Fixture(
            "too-small-300.png",
            "300x300 PNG",
            lambda: _encode(_labelled(300, 300, "300"), "PNG"),
            Fault.DIMENSIONS,
        ),
        Fixture(
            f"too-big-{hi + 1}.png",
            f"{hi + 1}x{hi + 1} PNG (one px over)",
            lambda: _encode(_flat(hi + 1), "PNG", optimize=True),
            Fault.DIMENSIONS,
        ),
        Fixture(
            "bomb.png",
            "a tiny PNG declaring 100000x100000 px (built on the fly)",
            bomb_png,
            Fault.DIMENSIONS,
            committed=False,
        ),
        Fixture(
            "format.gif",
            "512x512 GIF: a format not accepted",
            lambda: _encode(_labelled(lo, lo, "gif"), "GIF"),
            Fault.FORMAT,
        ),
        Fixture(
            "format.bmp",
            "512x512 BMP: a format not accepted",
            lambda: _encode(_labelled(lo, lo, "bmp").convert("1"), "BMP"),
            Fault.FORMAT,
        ),
        Fixture("truncated.png", "a 512x512 PNG cut in half", _truncated, Fault.UNDECODABLE),
        Fixture(
            "not-an-image.png",
            "text in a file named .png",
            lambda: b"This is not an image, whatever its name says.\n",
            Fault.UNDECODABLE,
        ),
    )


_MARKER = "cat-1024.png"


@cache
def catalog() -> dict[str, Fixture]:
    return {f.name: f for f in _catalog()}


def fixture_dir() -> Path | None:
    """``fixtures/`` of a checkout, else the packaged copy, else None (everything built)."""
    checkout = Path(__file__).resolve().parent.parent / "fixtures"
    if (checkout / _MARKER).is_file():
        return checkout
    packaged = Path(str(resources.files("mock_server") / "_fixtures"))
    return packaged if (packaged / _MARKER).is_file() else None


def fixture_bytes(fixture: Fixture) -> bytes:
    """The fixture's bytes: the committed file when there is one, else built (blocking; run it
    in a worker thread when serving)."""
    folder = fixture_dir()
    if fixture.committed and folder is not None:
        path = folder / fixture.name
        if path.is_file():
            return path.read_bytes()
    return fixture.build()


def write_committed(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fixture in catalog().values():
        if fixture.committed:
            path = folder / fixture.name
            path.write_bytes(fixture.build())
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Rewrite the committed fixtures: ``python -m mock_server.fixtures [DIR]``."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "fixtures"
    for path in write_committed(folder):
        sys.stderr.write(f"{path} {path.stat().st_size} bytes\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
