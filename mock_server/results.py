"""Result images: real files, rendered on first download and cached.

A result is a deterministic picture of its task: the first input image (its thumbnail, kept by
the image check) resized to the result size, tinted per result and stamped with the task id and
the prompt; or, when no input is at hand (``--image-check off``, or the input is gone), a
gradient in colours drawn from the task id. A client that shows the result shows something
plausible, and two downloads of one URL give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections import OrderedDict

from PIL import Image, ImageDraw

from .config import RESULT_CACHE_SIZE

RESULT_SIZE = (1024, 1024)
"""Pixel size of a result: upstream qwen-image-edit outputs one image near 1024x1024."""
RESULT_SIDE_STEP = 16
"""Result sides are multiples of this (model outputs come in such steps)."""
TINT = 0.15
"""How much of the task's colour is blended into a result rendered from an input image."""

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def result_size(width: int, height: int, area: tuple[int, int] = RESULT_SIZE) -> tuple[int, int]:
    """About ``area``'s pixel count with the input's aspect, sides in steps of RESULT_SIDE_STEP."""
    pixels = area[0] * area[1]
    w = math.sqrt(pixels * width / height)

    def step(x: float) -> int:
        return max(RESULT_SIDE_STEP, round(x / RESULT_SIDE_STEP) * RESULT_SIDE_STEP)

    return step(w), step(pixels / w)


def render(
    task_id: str,
    prompt: str,
    index: int,
    fmt: str,
    size: tuple[int, int] = RESULT_SIZE,
    source: bytes | None = None,
) -> bytes:
    """The result file; ``source`` is an encoded picture of the first input (any size)."""
    seed = hashlib.sha256(f"{task_id}:{index}".encode()).digest()
    top, bottom = seed[:3], seed[3:6]
    width, height = size
    if source is None:
        gradient = Image.linear_gradient("L").resize((width, height))
        image = Image.composite(
            Image.new("RGB", size, tuple(bottom)), Image.new("RGB", size, tuple(top)), gradient
        )
    else:
        with Image.open(io.BytesIO(source)) as picture:
            base = picture.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        image = Image.blend(base, Image.new("RGB", size, tuple(top)), TINT)
    lines = [f"{task_id} #{index}", "", *textwrap.wrap(prompt, 60)[:20]]
    text = "\n".join(lines)
    draw = ImageDraw.Draw(image)
    if source is not None:  # a dark box keeps the stamp legible on any picture
        left, upper, right, lower = draw.multiline_textbbox((32, 32), text, spacing=6)
        draw.rectangle((left - 12, upper - 12, right + 12, lower + 12), fill=(0, 0, 0))
    draw.multiline_text((32, 32), text, fill=(255, 255, 255), spacing=6)
    out = io.BytesIO()
    image.save(out, _FORMATS[fmt], **({"compress_level": 1} if fmt == "png" else {}))
    return out.getvalue()


class ResultCache:
    """A small LRU of rendered files: repeated downloads of a result cost nothing."""

    def __init__(self, capacity: int = RESULT_CACHE_SIZE) -> None:
        if capacity < 1:
            raise ValueError("the result cache size must be >= 1")
        self.capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, name: str) -> bytes | None:
        data = self._items.get(name)
        if data is not None:
            self._items.move_to_end(name)
        return data

    def put(self, name: str, data: bytes) -> None:
        self._items[name] = data
        self._items.move_to_end(name)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
