"""Measuring photos and screenshots, in this process. Pillow reads the header: the real
format from the bytes, the size, and the EXIF orientation that gives the displayed size.
The picture is decoded at 1/8 scale (small memory, but every byte of entropy-coded data
is read, so truncation is caught): a JPEG strictly, by libjpeg-turbo (simplejpeg), so that
the corrupt data libjpeg only warns of counts as damage; a PNG screenshot by Pillow.

A JPEG's own frame header is read first (:func:`_walk_jpeg_header`): a valid JPEG of a
kind that is never decoded (arithmetic coding, lossless, hierarchical, JPEG-LS, other
than 8 bits per sample) is measured as such, a :attr:`Measurement.variant`, not as damage.
"""

from __future__ import annotations

import dataclasses
import functools
import mmap
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, ImageFile, UnidentifiedImageError
from PIL import JpegImagePlugin, PngImagePlugin  # noqa: F401  (registered without init())

from pipeline.check.contract import PHOTO, PHOTO_FORMATS, SCREENSHOT, SCREENSHOT_FORMATS
from pipeline.check.measure.facts import (BROKEN_HEADER, BROKEN_PICTURE_DATA, DAMAGED_PICTURE_DATA, EMPTY_FILE,
                                          TRUNCATED_PICTURE, ZERO_FILLED_TAIL, Measurement, _head, sniff_format)


def _simplejpeg() -> Any:
    """libjpeg-turbo's binding, imported on the first photo: it brings numpy (a sixth of a
    second), which the watcher, the supervisor and the commands that never decode a photo
    do not need to load."""
    import simplejpeg

    return simplejpeg


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
    header = _read_jpeg_header(path) if detected == "JPEG" and "JPEG" in readable else None
    if header is not None and header.variant is not None:  # a valid JPEG never decoded
        return dataclasses.replace(known, width=header.width, height=header.height, format_recognised=True,
                                   variant=header.variant)
    try:
        # "MPO" is no format to open by: Pillow's JPEG opener returns an MpoImageFile
        # (im.format "MPO") for a phone's multi-picture JPEG; asking for "MPO" is a KeyError
        im = Image.open(path, formats=list(readable))
    except UnidentifiedImageError:
        if detected and detected.upper() in readable:  # the right magic bytes, a broken header
            return dataclasses.replace(known, format_recognised=True, damage=BROKEN_HEADER)
        return known  # bytes of another format, or of none known
    except Image.DecompressionBombError:  # Pillow's own guard (2 × Image.MAX_IMAGE_PIXELS)
        dims = header.size if header is not None else None
        width, height = dims or (None, None)
        return dataclasses.replace(known, width=width, height=height, format_recognised=True,
                                   damage=_too_large(dims, max_pixels))
    except MemoryError:
        raise
    except Exception:  # a header Pillow cannot parse: SyntaxError, struct.error, ...
        return dataclasses.replace(known, format_recognised=True, damage=BROKEN_HEADER)
    with im:
        return _measure_opened(im, path, known, max_pixels, header)


def measure_screenshot(path: Path, max_pixels: int) -> Measurement:
    """Measure one online-platform screenshot: a picture read as JPEG or PNG."""
    return measure_photo(path, max_pixels, formats=SCREENSHOT_FORMATS, kind=SCREENSHOT)


def _measure_opened(im: Image.Image, path: Path, known: Measurement, max_pixels: int,
                    header: _JpegHeader | None) -> Measurement:
    """The facts of a picture Pillow opened: its displayed size, and its intactness from a
    full decode (unless it has more than ``max_pixels`` pixels). ``header``: a JPEG's."""
    stored_w, stored_h = im.size
    if _exif_orientation(im) in _SWAPPING_ORIENTATIONS:
        width, height = stored_h, stored_w
    else:
        width, height = stored_w, stored_h
    opened = dataclasses.replace(known, format="JPEG" if im.format == "MPO" else im.format,
                                 width=width, height=height, format_recognised=True)
    if stored_w * stored_h > max_pixels:  # never decode
        return dataclasses.replace(opened, damage=_too_large((stored_w, stored_h), max_pixels))
    if opened.format != "JPEG":
        return dataclasses.replace(opened, decoded=True, damage=_decode(im))
    damage, picture = _decode_jpeg(path, im, sequential=header is not None and header.frame in _SEQUENTIAL_FRAMES)
    # zeros where the end of the file should be: an interrupted, pre-allocated copy. The
    # zeros decode as garbage or not at all; the copy's interruption is what to tell.
    if _zero_filled_tail(path, known.size_bytes):
        damage = ZERO_FILLED_TAIL
    phash = None
    if damage is None and picture is not None and known.kind == PHOTO:
        phash = perceptual_hash(picture, _exif_orientation(im))
    return dataclasses.replace(opened, decoded=True, damage=damage, perceptual_hash=phash)


#: EXIF orientation -> the turn that shows the picture upright
_UPRIGHT = {2: (Image.Transpose.FLIP_LEFT_RIGHT,), 3: (Image.Transpose.ROTATE_180,),
            4: (Image.Transpose.FLIP_TOP_BOTTOM,), 5: (Image.Transpose.TRANSPOSE,),
            6: (Image.Transpose.ROTATE_270,), 7: (Image.Transpose.TRANSVERSE,), 8: (Image.Transpose.ROTATE_90,)}


def _picture(pixels: Any) -> Image.Image:
    """simplejpeg's array as a Pillow picture (gray comes as one channel of three axes)."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return Image.fromarray(pixels[:, :, 0], "L")
    return Image.fromarray(pixels, "CMYK" if pixels.shape[2] == 4 else "RGB")


def perceptual_hash(picture: Image.Image, orientation: int | None = None) -> int:
    """The 64-bit perceptual hash (pHash, as imagehash's ``phash``: the picture shrunk to
    32×32 gray by Lanczos, the 8×8 lowest frequencies of its 2-D DCT-II, each bit "above
    their median") of ``picture`` shown upright, as an unsigned integer. Made from the
    1/8-scale draft the decode check produced: pHash shrinks to 32×32 anyway, and
    re-encoding, resizing or recompressing a photo leaves it within a few bits
    (W_MEDIA_REUSED).

    The DCT is two products with the 8×32 DCT-II rows (only the 8 lowest frequencies are
    kept, so the other 24 are never computed) rather than imagehash's scipy FFT: the same
    hash on photos (tests/test_perceptual_hash.py holds them equal), without
    importing scipy, which cost each process half a second of CPU on its first photo."""
    import numpy as np  # loaded already: simplejpeg's decode made the draft

    for turn in _UPRIGHT.get(orientation or 1, ()):
        picture = picture.transpose(turn)
    small = np.asarray(picture.convert("L").resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS),
                       dtype=np.float64)
    rows = _dct_rows(np)
    # rounded to 1/1000: a flat or evenly graded picture has coefficients that are exactly
    # 0, which the products (and scipy's FFT) leave as ±1e-13 noise; rounding makes its
    # bits the same on every machine instead of the noise's
    low = np.round(rows @ small @ rows.T, 3)
    bits = (low > np.median(low)).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


_PHASH_SIDE = 32  # imagehash's hash_size 8 × highfreq_factor 4
_PHASH_BITS = 8


@functools.cache
def _dct_rows(np: Any) -> Any:
    """The first 8 rows of the unnormalised 32-point DCT-II (scipy's ``dct`` type 2,
    ``norm=None``): ``2·cos(π·k·(2n+1) / 64)``."""
    k = np.arange(_PHASH_BITS, dtype=np.float64)[:, None]
    n = np.arange(_PHASH_SIDE, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * _PHASH_SIDE))


def _exif_orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(0x0112)
    except MemoryError:
        raise
    except Exception:  # a broken EXIF block: the picture is still viewable, as stored
        return None
    return value if isinstance(value, int) else None


def _decode(im: Image.Image) -> str | None:
    """Decode the whole picture with Pillow (JPEG at 1/8 scale); None if intact, else why not.

    ``verify()`` would not notice a truncated JPEG; ``load()`` reads all entropy-coded
    data and raises "image file is truncated" when it runs out (as long as nobody sets
    ``ImageFile.LOAD_TRUNCATED_IMAGES``). Pillow drops libjpeg's warnings (corrupt data
    libjpeg decodes anyway): it decodes PNGs, and the rare JPEGs whose header the strict
    decoder cannot take (:func:`_decode_jpeg`).
    """
    _refuse_truncated_images()
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
            return TRUNCATED_PICTURE
        if "broken data stream" in text:
            return "图像数据已损坏"
        return "图像数据无法解码"
    return None


def _refuse_truncated_images() -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched off Pillow's truncation check
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")


# -- the strict JPEG decode ------------------------------------------------------------

#: libjpeg's warnings (decoding goes on) that come from the picture data: anything
#: else while decoding it is an error that stopped the decode
_DATA_WARNINGS = ("Corrupt JPEG data", "Inconsistent progression sequence", "Invalid SOS parameters")
_PREMATURE_END = "Premature end of JPEG file"
_EOI = b"\xff\xd9"


def _decode_jpeg(path: Path, im: Image.Image, *, sequential: bool) -> tuple[str | None, Image.Image | None]:
    """Decode a JPEG's first picture at 1/8 scale with libjpeg-turbo: (None, the picture
    at 1/8 scale) if intact, else (the damage, None).

    libjpeg warns, and decodes on, where the entropy-coded data is corrupt: the picture
    shows a garbage band, yet Pillow reports nothing. ``strict=True`` turns the first
    warning into an error, raised after the whole picture was decoded. Data after the
    end-of-image marker (an MPO's second picture, an app's trailer) is never read.
    ``sequential``: a baseline or extended sequential frame, whose data is complete once
    its last MCU decoded (a progressive picture's later scans cannot be missed so).
    """
    _refuse_truncated_images()  # the same contract as Pillow's decode: truncation counts
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        decodable = _decodable_stream(data)
        if decodable is None:  # a header TurboJPEG refuses (an odd subsampling, ...)
            damage = _decode(im)
            return damage, (im if damage is None else None)
        stream, colorspace = decodable
        damage, pixels = _strict_decode(stream, colorspace)
        if damage == TRUNCATED_PICTURE and sequential and stream[-2:] != _EOI:
            # the data just ends: a complete picture whose end marker alone is missing
            # decodes cleanly with one; a cut-off picture still lacks its data
            retried, pixels = _strict_decode(stream[:] + _EOI, colorspace)
            damage = retried and TRUNCATED_PICTURE
    return damage, (_picture(pixels) if pixels is not None else None)


def _decodable_stream(data: mmap.mmap) -> tuple[bytes | mmap.mmap, str] | None:
    """The JPEG stream to decode and the colour space to decode it in, or None.

    TurboJPEG refuses a header libjpeg only warns about (stray bytes between segments, a
    broken ICC profile chunk, an odd JFIF version): such a picture displays everywhere,
    so its header is rebuilt without application segments and stray bytes, and only
    the picture data is judged. None: not even the rebuilt header is taken.
    """
    candidates = (lambda: data, lambda: _without_header_extras(data))
    for candidate in candidates:
        stream = candidate()
        if stream is None:
            continue
        try:
            _, _, colorspace, _ = _simplejpeg().decode_jpeg_header(stream, strict=True)
        except (ValueError, KeyError):  # KeyError: a subsampling simplejpeg has no name for
            continue
        return stream, _DECODE_COLORSPACES.get(colorspace, "RGB")
    return None


#: decode in a colour space TurboJPEG converts to without help: gray stays gray, CMYK and
#: YCCK (Adobe) come out as CMYK, anything else as RGB
_DECODE_COLORSPACES = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}


def _strict_decode(stream: bytes | mmap.mmap, colorspace: str) -> tuple[str | None, Any]:
    """Decode at 1/8 scale: (None, the pixels) if libjpeg neither warned nor failed, else
    (the damage, None). The pixels (a numpy array) are the draft the perceptual hash is
    made from, so a photo is decoded once."""
    try:
        # min_height/min_width make simplejpeg pick a scale at all; min_factor=8: 1/8
        pixels = _simplejpeg().decode_jpeg(stream, colorspace=colorspace, min_height=1, min_width=1, min_factor=8,
                                        strict=True)
    except ValueError as exc:
        text = str(exc)
        if text.startswith(_PREMATURE_END):
            return TRUNCATED_PICTURE, None
        if text.startswith(_DATA_WARNINGS):
            return DAMAGED_PICTURE_DATA, None
        return BROKEN_PICTURE_DATA, None
    return None, pixels


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


# -- the JPEG header, as libjpeg walks it ------------------------------------------------

#: the frame header's marker (SOFn, and JPEG-LS's SOF55) names the coding process
_VARIANT_OF_FRAME = {
    0xC3: "lossless", 0xCB: "lossless",
    0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
    0xCD: "hierarchical", 0xCE: "hierarchical", 0xCF: "hierarchical",
    0xC9: "arithmetic", 0xCA: "arithmetic",
    0xF7: "JPEG-LS",
}
#: baseline, extended sequential and progressive Huffman coding: what every decoder reads
_SEQUENTIAL_FRAMES = (0xC0, 0xC1)
_ORDINARY_FRAMES = (*_SEQUENTIAL_FRAMES, 0xC2)
#: sample precisions other than 8 a DCT frame may have (ISO 10918-1: 12; 16 in the
#: extensions); any other number is a broken header, no variant
_OTHER_PRECISIONS = (12, 16)
_FRAME_MARKERS = frozenset(_ORDINARY_FRAMES) | frozenset(_VARIANT_OF_FRAME)
_SOS, _APP14, _COM = 0xDA, 0xEE, 0xFE
#: markers without a length: TEM and RST0-7 (SOI and EOI end the header walk)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_MAX_SEGMENTS = 100_000  # a crafted header of tiny segments is not walked for ever


@dataclasses.dataclass(frozen=True)
class _JpegHeader:
    """What the segments before the first scan say."""

    #: the first frame header's marker, sample precision, width, height; None if none
    frame: int | None = None
    precision: int | None = None
    width: int | None = None
    height: int | None = None
    #: offset of the first SOS marker (the first scan); None if the walk did not get there
    sos: int | None = None
    #: (start, end) of each segment that is no application segment (APP14, Adobe's
    #: colour transform, excepted) or comment: the tables and the frame header
    tables: tuple[tuple[int, int], ...] = ()

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width is not None and self.height is not None else None

    @property
    def variant(self) -> str | None:
        """The kind of JPEG if it is never decoded (see :attr:`Measurement.variant`)."""
        if self.frame is None:
            return None
        if self.frame in _VARIANT_OF_FRAME:
            return _VARIANT_OF_FRAME[self.frame]
        return f"{self.precision}-bit" if self.precision in _OTHER_PRECISIONS else None


def _read_jpeg_header(path: Path) -> _JpegHeader | None:
    """The header of the JPEG at ``path``; None if it does not start with SOI."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _walk_jpeg_header(data) if data[:2] == b"\xff\xd8" else None


def _walk_jpeg_header(data: bytes | mmap.mmap) -> _JpegHeader:
    """Walk the segments after SOI up to the first scan, as libjpeg does: stray bytes
    before a marker are skipped, application segments by their length."""
    pos, tables, frame = 2, [], None
    for _ in range(_MAX_SEGMENTS):
        marker, pos = _next_marker(data, pos)
        if marker is None or marker in (0xD8, 0xD9):  # the end, a second SOI, EOI: no scan
            break
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(data[pos:pos + 2], "big")
        end = pos + length
        if length < 2 or end > len(data):  # cut off, or a length libjpeg refuses too
            break
        if marker == _SOS:
            return _JpegHeader(*(frame or ()), sos=pos - 2, tables=tuple(tables))
        if marker in _FRAME_MARKERS and frame is None and length >= 8:
            body = data[pos + 2:pos + 7]
            frame = (marker, body[0], int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big"))
        if not (0xE0 <= marker <= 0xEF and marker != _APP14) and marker != _COM:
            tables.append((pos - 2, end))
        pos = end
    return _JpegHeader(*(frame or ()), tables=tuple(tables))


def _next_marker(data: bytes | mmap.mmap, pos: int) -> tuple[int | None, int]:
    """The next marker's code at or after ``pos`` and the offset after it (libjpeg's
    ``next_marker``: anything before an 0xFF is skipped, so are fill bytes 0xFF and
    stuffed 0xFF 0x00 pairs); (None, end) if there is none."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return None, size
        while pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= size:
            return None, size
        if data[pos + 1] != 0x00:
            return data[pos + 1], pos + 2
        pos += 2


def _without_header_extras(data: mmap.mmap) -> bytes | None:
    """The JPEG stream with only SOI, the header's tables and frame, and everything from
    the first scan on; None if the header walk did not reach a scan."""
    header = _walk_jpeg_header(data)
    if header.sos is None:
        return None
    return b"".join([b"\xff\xd8", *(data[start:end] for start, end in header.tables), data[header.sos:]])
