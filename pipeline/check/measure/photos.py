"""Measuring photos and screenshots: read with Pillow in this process; the real format
comes from the bytes, the picture is decoded at 1/8 scale (small memory, but every byte
of entropy-coded data is read, so truncation is caught), and the displayed size applies
the EXIF orientation."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageFile, UnidentifiedImageError
from PIL import JpegImagePlugin, PngImagePlugin  # noqa: F401  (registered without init())

from pipeline.check.contract import PHOTO, PHOTO_FORMATS, SCREENSHOT, SCREENSHOT_FORMATS
from pipeline.check.measure.facts import (BROKEN_HEADER, EMPTY_FILE, ZERO_FILLED_TAIL, Measurement, _head,
                                          sniff_format)


# -- photos ------------------------------------------------------------------------------

#: EXIF orientations that turn the picture by 90° or 270° (width and height swap)
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
#: a run of NUL bytes this long at the end, not preceded by an EOI marker: an incomplete
#: copy whose missing part was pre-allocated with zeros (libjpeg decodes zeros happily)
_ZERO_TAIL_BYTES = 1024


def measure_photo(path: Path, max_pixels: int, *, formats: Sequence[str] = PHOTO_FORMATS,
                  kind: str = PHOTO) -> Measurement:
    """Measure one picture, read as one of ``formats`` and never decoded if it has more
    than ``max_pixels`` pixels (a crafted header can claim gigapixels from a few bytes).

    Photos are read as JPEG (the default); :func:`measure_screenshot` reads a screenshot.
    """
    path = Path(path)
    readable = tuple(dict.fromkeys(f.upper() for f in formats))
    size = path.stat().st_size
    head = _head(path)
    if not head:
        return Measurement(kind, size, damage=EMPTY_FILE)
    detected = sniff_format(head)
    known = Measurement(kind, size, format=detected, detected=detected)  # until Pillow says more
    try:
        # "MPO" is no format to open by: Pillow's JPEG opener returns an MpoImageFile
        # (im.format "MPO") for a phone's multi-picture JPEG; asking for "MPO" is a KeyError
        im = Image.open(path, formats=list(readable))
    except UnidentifiedImageError:
        if detected and detected.upper() in readable:  # the right magic bytes, a broken header
            return dataclasses.replace(known, format_recognised=True, damage=BROKEN_HEADER)
        return known  # bytes of another format, or of none known
    except Image.DecompressionBombError:  # Pillow's own guard (2 × Image.MAX_IMAGE_PIXELS)
        dims = _jpeg_dimensions(path) if detected == "JPEG" else None
        width, height = dims or (None, None)
        return dataclasses.replace(known, width=width, height=height, format_recognised=True,
                                   damage=_too_large(dims, max_pixels))
    except MemoryError:
        raise
    except Exception:  # a header Pillow cannot parse: SyntaxError, struct.error, ...
        return dataclasses.replace(known, format_recognised=True, damage=BROKEN_HEADER)
    with im:
        return _measure_opened(im, path, known, max_pixels)


def measure_screenshot(path: Path, max_pixels: int) -> Measurement:
    """Measure one online-platform screenshot: a picture read as JPEG or PNG."""
    return measure_photo(path, max_pixels, formats=SCREENSHOT_FORMATS, kind=SCREENSHOT)


def _measure_opened(im: Image.Image, path: Path, known: Measurement, max_pixels: int) -> Measurement:
    """The facts of a picture Pillow opened: its displayed size, and its intactness from a
    full decode (unless it has more than ``max_pixels`` pixels)."""
    stored_w, stored_h = im.size
    if _exif_orientation(im) in _SWAPPING_ORIENTATIONS:
        width, height = stored_h, stored_w
    else:
        width, height = stored_w, stored_h
    opened = dataclasses.replace(known, format="JPEG" if im.format == "MPO" else im.format,
                                 width=width, height=height, format_recognised=True)
    if stored_w * stored_h > max_pixels:  # never decode
        return dataclasses.replace(opened, damage=_too_large((stored_w, stored_h), max_pixels))
    damage = _decode(im)
    if damage is None and opened.format == "JPEG" and _zero_filled_tail(path, known.size_bytes):
        damage = ZERO_FILLED_TAIL
    return dataclasses.replace(opened, decoded=True, damage=damage)


def _exif_orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(0x0112)
    except MemoryError:
        raise
    except Exception:  # a broken EXIF block: the picture is still viewable, as stored
        return None
    return value if isinstance(value, int) else None


def _decode(im: Image.Image) -> str | None:
    """Decode the whole picture (JPEG at 1/8 scale); None if intact, else why not.

    ``verify()`` would not notice a truncated JPEG; ``load()`` reads all entropy-coded
    data and raises "image file is truncated" when it runs out (as long as nobody sets
    ``ImageFile.LOAD_TRUNCATED_IMAGES``).
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched off the truncation check
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    w, h = im.size
    if im.format in ("JPEG", "MPO"):
        im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
    try:
        im.load()
    except MemoryError:
        raise
    except Exception as exc:  # OSError, SyntaxError, ValueError, zlib.error...
        text = str(exc)
        if "truncated" in text:
            return "文件不完整（数据被截断），可能是复制或上传中断"
        if "broken data stream" in text:
            return "图像数据已损坏"
        return "图像数据无法解码"
    return None


def _zero_filled_tail(path: Path, size: int) -> bool:
    """True if the file ends in >= _ZERO_TAIL_BYTES NULs that do not follow an EOI marker."""
    if size < _ZERO_TAIL_BYTES + 2:
        return False
    with open(path, "rb") as f:
        f.seek(size - _ZERO_TAIL_BYTES)
        if f.read(_ZERO_TAIL_BYTES).count(0) != _ZERO_TAIL_BYTES:
            return False
        end = size - _ZERO_TAIL_BYTES  # walk back over the zero run, 64 KiB at a time
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start).rstrip(b"\x00")
            if chunk:
                return not chunk.endswith(b"\xff\xd9")
            end = start
    return True


def _too_large(dims: tuple[int, int] | None, max_pixels: int) -> str:
    """The damage of a picture never decoded: more than ``max_pixels`` pixels."""
    size = f"{dims[0]}×{dims[1]}（{dims[0] * dims[1]:,} 像素）" if dims else "过大"
    return f"图像尺寸异常：{size}，超过上限 {max_pixels:,} 像素"


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_dimensions(path: Path) -> tuple[int, int] | None:
    """Width and height from a JPEG's SOF header, read by seeking from segment to segment."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        for _ in range(1000):
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind == 0xFF:  # fill byte
                f.seek(-1, os.SEEK_CUR)
                continue
            if kind in (0x01, *range(0xD0, 0xD8)):  # markers without a length
                continue
            length = int.from_bytes(f.read(2), "big")
            if kind in _SOF_MARKERS:
                body = f.read(5)
                if len(body) < 5:
                    return None
                return int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big")
            if length < 2:
                return None
            f.seek(length - 2, os.SEEK_CUR)
    return None
