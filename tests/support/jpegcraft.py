"""Camera-like JPEGs and the damage real files suffer, made with Pillow and byte surgery.

``photo()`` is a realistic picture (a gradient with texture, so its entropy-coded data is
as dense as a photo's), saved with any of Pillow's JPEG options: subsampling,
progressive, restart intervals, ICC profile, CMYK or grayscale. The other helpers edit
the bytes as phones, apps and broken copies do: an EXIF block with a thumbnail, large
application segments, stray bytes between segments, trailing data, a missing end
marker, a damaged run of picture data. All return ``bytes``; ``photo()`` is cached.
"""

from __future__ import annotations

import io
import random
import struct
from functools import lru_cache

from PIL import Image

__all__ = ["photo", "scan_start", "damaged", "without_eoi", "with_segment", "with_exif_thumbnail",
           "with_stray_bytes_after_app0", "with_frame_marker", "with_precision"]


def _texture(width: int, height: int, seed: int) -> Image.Image:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.frombytes("L", (width, height), random.Random(seed).randbytes(width * height))
    texture = Image.blend(gradient, noise, 0.35)
    return Image.merge("RGB", (texture, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise))


@lru_cache(maxsize=64)
def photo(width: int = 1920, height: int = 1080, *, mode: str = "RGB", seed: int = 7,
          **save: object) -> bytes:
    """A textured picture saved as JPEG with Pillow's ``save`` options (quality 85 unless
    given; ``subsampling``, ``progressive``, ``restart_marker_blocks``, ``icc_profile``...).
    ``mode`` "L" or "CMYK" makes a grayscale or an Adobe CMYK JPEG."""
    im = _texture(width, height, seed).convert(mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", **{"quality": 85, **save})
    return buf.getvalue()


def _segments_end(data: bytes) -> int:
    """Offset of the first SOS marker (the end of the header)."""
    pos = 2
    while data[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return pos


def scan_start(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data (after the first SOS segment)."""
    sos = _segments_end(data)
    return sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")


def damaged(data: bytes, at: float = 0.5, length: int = 64, seed: int = 1) -> bytes:
    """``length`` bytes of the picture data, at fraction ``at`` of it, overwritten with
    random bytes (a bad sector, a flaky card or cable). No 0xFF is written, so no marker
    appears: the damage is the entropy-coded data's alone."""
    start = scan_start(data)
    pos = start + int((len(data) - 2 - start) * at)
    junk = bytes(b if b != 0xFF else 0xFE for b in random.Random(seed).randbytes(length))
    return data[:pos] + junk + data[pos + length:]


def without_eoi(data: bytes) -> bytes:
    """The JPEG without its final end-of-image marker (some encoders never write it)."""
    assert data.endswith(b"\xff\xd9")
    return data[:-2]


def with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """The JPEG with one more segment (APPn, COM) right after SOI."""
    assert len(payload) <= 65533
    return data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def with_stray_bytes_after_app0(data: bytes, stray: bytes = b"\x00\x00\x00\x00") -> bytes:
    """Bytes between the APP0 segment and the next marker: what sloppy writers leave and
    libjpeg skips with a warning ("N extraneous bytes before marker")."""
    assert data[2:4] == b"\xff\xe0"
    end = 4 + int.from_bytes(data[4:6], "big")
    return data[:end] + stray + data[end:]


def with_exif_thumbnail(data: bytes, orientation: int, thumbnail: bytes) -> bytes:
    """The JPEG with an EXIF APP1 as cameras write it: IFD0 with the orientation, IFD1
    pointing at an embedded JPEG thumbnail (whose own SOI/SOF/EOI sit inside APP1)."""
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd1_offset = 8 + len(ifd0) + 4
    ifd1 = struct.pack(">H", 2)
    thumb_offset = ifd1_offset + 2 + 2 * 12 + 4
    ifd1 += struct.pack(">HHII", 0x0201, 4, 1, thumb_offset) + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + struct.pack(">I", ifd1_offset) + ifd1 + b"\0\0\0\0"
    return with_segment(data, 0xE1, b"Exif\0\0" + tiff + thumbnail)


def _frame_offset(data: bytes) -> int:
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return pos


def with_frame_marker(data: bytes, marker: int) -> bytes:
    """The JPEG whose frame header claims another coding process (SOFn marker)."""
    pos = _frame_offset(data)
    return data[:pos + 1] + bytes([marker]) + data[pos + 2:]


def with_precision(data: bytes, bits: int) -> bytes:
    """The JPEG whose frame header claims another sample precision."""
    pos = _frame_offset(data)
    return data[:pos + 4] + bytes([bits]) + data[pos + 5:]
