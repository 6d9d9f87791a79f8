"""Judging image bytes (no network): every limit at and one past its edge, every fixture, the
decompression-bomb guard, the committed fixture files, result sizes and the expiring cache."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mock_server import results
from mock_server.expiring_cache import ExpiringCache
from mock_server.fixtures import Fixture, catalog, fixture_bytes, fixture_dir, padded_png
from mock_server.image_limits import (
    IMAGE_DIMENSION_MISMATCH,
    IMAGE_PROCESSING_ERROR,
    Fault,
    ImageInfo,
    ImageLimits,
    ImageProblem,
)
from mock_server.image_sniff import sniff

from .conftest import SCHEMAS

LIMITS = ImageLimits.from_schema(json.loads((SCHEMAS / "qwen-image-edit.request.json").read_text()))
LO, HI = LIMITS.min_side, LIMITS.max_side


def encode(size: tuple[int, int], fmt: str) -> bytes:
    """A one-colour image (palette for PNG, so a 4097 px side stays a few KB)."""
    mode = "P" if fmt == "PNG" else "RGB"
    out = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.new(mode, size, 3 if mode == "P" else (10, 200, 90)).save(out, fmt, **options)
    return out.getvalue()


def test_limits_are_read_from_the_schema() -> None:
    assert LIMITS.formats == ("jpeg", "png", "webp")
    assert (LO, HI, LIMITS.max_bytes) == (512, 4096, 10 * 1024 * 1024)
    assert LIMITS.max_size_text == "10 MB"
    assert set(LIMITS.extensions) == {".jpg", ".jpeg", ".png", ".webp"}


SIDES = [
    ((LO, LO), None),
    ((LO - 1, LO), Fault.DIMENSIONS),
    ((LO, LO - 1), Fault.DIMENSIONS),
    ((HI, LO), None),
    ((LO, HI), None),
    ((HI + 1, LO), Fault.DIMENSIONS),
    ((LO, HI + 1), Fault.DIMENSIONS),
    ((HI, HI), None),
    ((HI + 1, HI + 1), Fault.DIMENSIONS),
]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("size,fault", SIDES, ids=[f"{w}x{h}" for (w, h), _ in SIDES])
def test_each_side_at_and_one_past_its_edge(fmt: str, size: tuple[int, int], fault: Fault | None) -> None:
    verdict = sniff(encode(size, fmt), LIMITS)
    if fault is None:
        assert isinstance(verdict, ImageInfo), verdict
        assert (verdict.format, verdict.width, verdict.height) == (fmt.lower(), *size)
    else:
        assert isinstance(verdict, ImageProblem)
        assert verdict.fault is fault
        assert verdict.reason == f"is {size[0]}x{size[1]} px; each side must be {LO}-{HI} px"
        assert fault.code == IMAGE_DIMENSION_MISMATCH


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_other_formats_are_named_in_the_refusal(fmt: str) -> None:
    size = (256, 256) if fmt == "ICO" else (LO, LO)
    verdict = sniff(encode(size, fmt), LIMITS)
    assert isinstance(verdict, ImageProblem) and verdict.fault is Fault.FORMAT
    assert verdict.reason == f"unsupported format {fmt.lower()} (allowed: jpeg, png, webp)"
    assert verdict.fault.code == IMAGE_PROCESSING_ERROR


def test_the_format_is_sniffed_not_taken_from_a_name() -> None:
    assert isinstance(sniff(encode((LO, LO), "WEBP"), LIMITS), ImageInfo)  # no name at all
    text = sniff(b"<html>a page, not a picture</html>", LIMITS)
    assert isinstance(text, ImageProblem) and text.fault is Fault.UNDECODABLE


def test_a_header_declaring_absurd_dimensions_is_never_decoded() -> None:
    spoof = sniff(b"GIF89a is how a gif starts, then comes text", LIMITS)  # reads as 26912x8307 px
    assert isinstance(spoof, ImageProblem) and spoof.fault is Fault.DIMENSIONS


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = fixture_bytes(catalog()["bomb.png"])
    assert len(bomb) < 200
    verdict = sniff(bomb, LIMITS)
    assert isinstance(verdict, ImageProblem) and verdict.fault is Fault.DIMENSIONS
    assert "decompression-bomb" in verdict.reason


@pytest.mark.parametrize("fixture", list(catalog().values()), ids=list(catalog()))
def test_every_fixture_is_what_it_says(fixture: Fixture) -> None:
    data = fixture_bytes(fixture)
    verdict = sniff(data, LIMITS)
    if fixture.expect is Fault.TOO_LARGE:  # bytes are the fetcher's business: the image is fine
        assert len(data) == LIMITS.max_bytes + 1 and isinstance(verdict, ImageInfo)
    elif fixture.expect is None:
        assert isinstance(verdict, ImageInfo), verdict
        assert len(data) <= LIMITS.max_bytes
    else:
        assert isinstance(verdict, ImageProblem) and verdict.fault is fixture.expect, verdict


def test_the_padded_pair_sits_exactly_on_the_byte_limit() -> None:
    exact, over = padded_png(LIMITS.max_bytes), padded_png(LIMITS.max_bytes + 1)
    assert (len(exact), len(over)) == (LIMITS.max_bytes, LIMITS.max_bytes + 1)
    assert isinstance(sniff(exact, LIMITS), ImageInfo)


def test_truncated_and_text_files_are_undecodable_with_the_reason() -> None:
    truncated = sniff(fixture_bytes(catalog()["truncated.png"]), LIMITS)
    text = sniff(fixture_bytes(catalog()["not-an-image.png"]), LIMITS)
    assert (
        isinstance(truncated, ImageProblem) and truncated.reason == "undecodable png: image file is truncated"
    )
    assert isinstance(text, ImageProblem) and text.reason.startswith("not an image: content not recognised")


def test_committed_fixtures_are_the_small_ones_and_only_those() -> None:
    folder = fixture_dir()
    assert folder is not None and folder == Path(__file__).resolve().parent.parent / "fixtures"
    on_disk = {p.name for p in folder.iterdir() if p.is_file()}
    committed = {f.name for f in catalog().values() if f.committed}
    assert on_disk == committed
    assert sum((folder / name).stat().st_size for name in on_disk) < 300 * 1024
    pictures = {f.name for f in catalog().values() if f.committed and f.expect is not Fault.UNDECODABLE}
    for name in pictures:  # same picture as the generator draws (bytes may differ across Pillow builds)
        with Image.open(folder / name) as disk, Image.open(io.BytesIO(catalog()[name].build())) as built:
            assert (disk.format, disk.size) == (built.format, built.size)


def test_a_valid_image_keeps_a_small_thumbnail() -> None:
    verdict = sniff(fixture_bytes(catalog()["wide-2048x1024.jpg"]), LIMITS)
    assert isinstance(verdict, ImageInfo)
    with Image.open(io.BytesIO(verdict.thumbnail)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 512 and thumb.size[0] == 2 * thumb.size[1]


@pytest.mark.parametrize(
    "size,expected",
    [
        ((1024, 1024), (1024, 1024)),
        ((2048, 1024), (1456, 720)),
        ((512, 4096), (368, 2896)),
        ((600, 800), (880, 1184)),
    ],
)
def test_result_size_keeps_the_aspect_near_a_megapixel(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = results.result_size(*size)
    assert (width, height) == expected
    assert width % 16 == 0 and height % 16 == 0
    assert abs(width * height - 1024 * 1024) / (1024 * 1024) < 0.05
    assert abs(width / height - size[0] / size[1]) / (size[0] / size[1]) < 0.05


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_cache_entries_expire_on_the_given_clock_and_are_bounded() -> None:
    now = Now()
    cache: ExpiringCache[str, int] = ExpiringCache(2, now)
    cache.put("a", 1, ttl=10)
    now.t = 9.9
    assert cache.get("a") == 1
    now.t = 10
    assert cache.get("a") is None
    cache.put("a", 1, 100)
    cache.put("b", 2, 100)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3, 100)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


@pytest.mark.anyio
async def test_concurrent_misses_share_one_computation_and_survive_a_cancelled_caller() -> None:
    cache: ExpiringCache[str, str] = ExpiringCache(8, Now())
    gate = asyncio.Event()
    calls = 0

    async def make() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "value", 60.0

    waiters = [asyncio.ensure_future(cache.get_or_make("k", make)) for _ in range(10)]
    await asyncio.sleep(0)  # let them all reach the shared future (no wall time passes)
    waiters[0].cancel()
    gate.set()
    done = await asyncio.gather(*waiters[1:])
    assert done == ["value"] * 9 and calls == 1 and cache.misses == 1
    assert await cache.get_or_make("k", make) == "value" and calls == 1


@pytest.mark.anyio
async def test_a_clear_during_a_computation_keeps_its_result_out() -> None:
    cache: ExpiringCache[str, str] = ExpiringCache(8, Now())
    gate = asyncio.Event()

    async def make() -> tuple[str, float]:
        await gate.wait()
        return "stale", 60.0

    waiter = asyncio.ensure_future(cache.get_or_make("k", make))
    await asyncio.sleep(0)
    cache.clear()
    gate.set()
    assert await waiter == "stale"
    assert cache.get("k") is None
