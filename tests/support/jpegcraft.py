"""Camera-like JPEGs and the damage real files suffer, made with Pillow and byte surgery.

``photo()`` is a realistic picture (a gradient with texture, so its entropy-coded data is
as dense as a photo's), saved with any of Pillow's JPEG options: subsampling,
progressive, restart intervals, ICC profile, EXIF, CMYK or grayscale; ``mpo()`` a
phone's two-picture MPO, ``ycck()`` an Adobe YCCK file. The other helpers edit the bytes
as phones, apps, odd encoders and broken copies do: an EXIF block with a thumbnail, large
application segments, stray bytes between segments, broken or misplaced ICC profile
chunks, trailing data, a missing end marker, bytes before it, a missing scan, a damaged
run of picture data, and frame headers of the JPEG variants (arithmetic, lossless,
12-bit). All return ``bytes``; ``photo()``, ``mpo()`` and ``ycck()`` are cached.

These stand in for the files of decoder test suites (libjpeg-turbo, Pillow,
image-rs/jpeg-decoder) that the JPEG checks were surveyed against: no such file is
kept in this repository.
"""

from __future__ import annotations

import io
import random
import struct
from functools import lru_cache

from PIL import Image, ImageCms

__all__ = ["photo", "exif_orientation", "mpo", "ycck", "scan_start", "damaged", "without_eoi",
           "with_bytes_before_eoi", "without_scan", "with_segment", "with_exif_thumbnail",
           "with_stray_bytes_after_app0", "with_junk_before", "srgb_profile", "with_icc_chunks",
           "with_icc_after_frame", "with_frame_marker", "with_precision", "arithmetic", "lossless",
           "twelve_bit"]


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


def exif_orientation(orientation: int) -> bytes:
    """An EXIF block (for ``photo(exif=...)``) with only the orientation tag, as phones
    write a portrait photo: pixels stored landscape, orientation 6 turns them."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@lru_cache(maxsize=8)
def mpo(width: int = 1920, height: int = 1080) -> bytes:
    """A phone's multi-picture JPEG (MPO): two pictures, the MP index in APP2 of the first."""
    first = Image.open(io.BytesIO(photo(width, height)))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[first.copy()])
    return buf.getvalue()


@lru_cache(maxsize=8)
def ycck(width: int = 1920, height: int = 1080) -> bytes:
    """A four-component JPEG in Adobe's YCCK colour space (Photoshop's CMYK JPEG): the
    inverted CMY channels turned into YCbCr, K as is, and an APP14 "Adobe" segment with
    transform 2. Pillow writes only plain Adobe CMYK (transform 0), so the channels are
    converted here and saved as CMYK, and the transform flag is set afterwards."""
    cmyk = _texture(width, height, 7).convert("CMYK")
    c, m, y, k = cmyk.split()
    luma, cb, cr = Image.merge("RGB", (c, m, y)).convert("YCbCr").split()
    # Pillow stores CMYK inverted (Adobe's convention) and reads it back so: invert the
    # three colour channels here so the stored YCC is what a decoder turns into C, M, Y
    stored = Image.merge("CMYK", [ch.point(lambda v: 255 - v) for ch in (luma, cb, cr)] + [k])
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    adobe = _segment(data, 0xEE)
    assert data[adobe + 4:adobe + 9] == b"Adobe" and data[adobe + 15] == 0  # transform: none (CMYK)
    return data[:adobe + 15] + b"\x02" + data[adobe + 16:]


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every segment after SOI up to EOI (or the end of the data);
    a scan's segment ends where its entropy-coded data does (at the next marker that is
    no restart marker)."""
    pos, found = 2, []
    while pos + 2 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xD9:
            found.append((marker, pos, pos + 2))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            while (end := data.find(b"\xff", end)) >= 0 and (data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7):
                end += 2
            end = len(data) if end < 0 else end
        found.append((marker, pos, end))
        pos = end
    return found


def _segment(data: bytes, marker: int) -> int:
    """Offset of the first segment with ``marker``."""
    return next(start for m, start, _ in _segments(data) if m == marker)


def _without_segments(data: bytes, marker: int) -> bytes:
    """The JPEG without any segment with ``marker``."""
    kept = [data[start:end] for m, start, end in _segments(data) if m != marker]
    return data[:2] + b"".join(kept)


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


def with_bytes_before_eoi(data: bytes, junk: bytes = b"\x12\x34\x56\x78\x9a\xbc") -> bytes:
    """``junk`` between the end of the picture data and the end marker: libjpeg warns
    ("N extraneous bytes before marker 0xd9"), as it does where a damaged band ends."""
    assert data.endswith(b"\xff\xd9") and b"\xff" not in junk
    return data[:-2] + junk + data[-2:]


def without_scan(data: bytes, index: int = 0) -> bytes:
    """A progressive JPEG without its ``index``-th scan (0: the first, the DC scan Pillow
    writes first): the next scans refine coefficients never sent, and libjpeg warns of an
    "Inconsistent progression sequence" while it decodes on."""
    scans = [(start, end) for m, start, end in _segments(data) if m == 0xDA]
    start, end = scans[index]
    return data[:start] + data[end:]


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


def with_junk_before(data: bytes, marker: int, junk: bytes = b"junk") -> bytes:
    """``junk`` right before the first segment with ``marker`` (e.g. 0xC0, the frame
    header): libjpeg skips it, warning "N extraneous bytes before marker"."""
    assert b"\xff" not in junk
    pos = _segment(data, marker)
    return data[:pos] + junk + data[pos:]


def _icc_chunk(seq: int, count: int, part: bytes) -> bytes:
    return bytes([0xFF, 0xE2]) + struct.pack(">H", 2 + 14 + len(part)) + b"ICC_PROFILE\0" + bytes([seq, count]) + part


def srgb_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS's, through Pillow): a few hundred bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_icc_chunks(data: bytes, numbering: tuple[tuple[int, int], ...], profile: bytes | None = None) -> bytes:
    """The JPEG (with no ICC profile of its own) with ``profile`` (sRGB by default) split
    into one APP2 chunk per (sequence number, count) of ``numbering``, right after the
    first segment: ((1, 3), (2, 3), (3, 3)) is a valid profile in three chunks; numbers
    that disagree, repeat or exceed the count are what buggy writers leave and libjpeg
    warns of ("Corrupt JPEG data: ... ICC")."""
    profile = srgb_profile() if profile is None else profile
    n = len(numbering)
    size = -(-len(profile) // n)
    chunks = b"".join(_icc_chunk(seq, count, profile[i * size:(i + 1) * size])
                      for i, (seq, count) in enumerate(numbering))
    _, _, first_end = _segments(data)[0]
    return data[:first_end] + chunks + data[first_end:]


def with_icc_after_frame(data: bytes) -> bytes:
    """The JPEG's ICC profile chunks (APP2) moved from before the frame header (SOFn) to
    right after it, where a few writers put them."""
    segments = _segments(data)
    icc = b"".join(data[s:e] for m, s, e in segments if m == 0xE2 and data[s + 4:s + 16] == b"ICC_PROFILE\0")
    assert icc
    out = [data[:2]]
    for marker, start, end in segments:
        if marker == 0xE2 and data[start + 4:start + 16] == b"ICC_PROFILE\0":
            continue
        out.append(data[start:end])
        if marker in (0xC0, 0xC1, 0xC2):
            out.append(icc)
    return b"".join(out)


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


def arithmetic(data: bytes) -> bytes:
    """The JPEG's header as an arithmetic-coded file has it: SOF9 (SOF10 if progressive)
    and no Huffman tables. (The picture data stays Huffman-coded: it is never decoded.)"""
    marker = 0xCA if data[_frame_offset(data) + 1] == 0xC2 else 0xC9
    return _without_segments(with_frame_marker(data, marker), 0xC4)


def lossless(data: bytes, bits: int = 16) -> bytes:
    """The JPEG's header as a lossless file of ``bits`` per sample has it: SOF3, that
    precision, and no quantisation tables. (The picture data is never decoded.)"""
    return _without_segments(with_frame_marker(with_precision(data, bits), 0xC3), 0xDB)


def twelve_bit(data: bytes) -> bytes:
    """The JPEG's header as a 12-bit file has it: extended sequential (SOF1), precision 12.
    (The picture data is never decoded.)"""
    return with_frame_marker(with_precision(data, 12), 0xC1)
