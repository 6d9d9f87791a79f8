"""Result images: real files, rendered on first download and cached.

A result is a deterministic picture of its task (colours from the task id, the prompt and the id
written on it), so a client that shows the result shows something plausible, and two downloads of
one URL give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from collections import OrderedDict

from PIL import Image, ImageDraw

RESULT_SIZE = (1024, 1024)
"""Pixel size of a result: upstream qwen-image-edit outputs one image near 1024x1024."""

_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


def render(task_id: str, prompt: str, index: int, fmt: str, size: tuple[int, int] = RESULT_SIZE) -> bytes:
    seed = hashlib.sha256(f"{task_id}:{index}".encode()).digest()
    top, bottom = seed[:3], seed[3:6]
    width, height = size
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(
        Image.new("RGB", size, tuple(bottom)), Image.new("RGB", size, tuple(top)), gradient
    )
    draw = ImageDraw.Draw(image)
    lines = [f"{task_id} #{index}", "", *textwrap.wrap(prompt, 60)[:20]]
    draw.multiline_text((32, 32), "\n".join(lines), fill=(255, 255, 255), spacing=6)
    out = io.BytesIO()
    image.save(out, _FORMATS[fmt], **({"compress_level": 1} if fmt == "png" else {}))
    return out.getvalue()


class ResultCache:
    """A small LRU of rendered files: repeated downloads of a result cost nothing."""

    def __init__(self, capacity: int = 32) -> None:
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
