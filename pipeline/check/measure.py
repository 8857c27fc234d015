"""Media measuring (spec section 3): what one photo, screenshot or video *is*.

A :class:`Measurement` holds facts only: the file's size, its format, its size as
displayed, its duration and codec, what its first bytes look like, and whether (and why
not) it is intact. Turning facts into problems (IMG_*, VID_*, W_VIDEO_CODEC) is the
judge's, :mod:`pipeline.check.rules.media`, which imports this module, never the
reverse. The receipt's manifest records :meth:`Measurement.manifest_fields`.

Photos are read with Pillow in this process: the real format comes from the bytes, the
picture is decoded at 1/8 scale (small memory, but every byte of entropy-coded data is
read, so truncation is caught), and the displayed size applies the EXIF orientation.

Videos are parsed by libmediainfo (pymediainfo) in a child process with a time limit: a
malformed file that hangs or crashes the library is measured as damaged, and never takes
the worker down. A failure that is ours, not the file's (the library cannot load, the
child cannot start), raises :class:`ProbeUnavailable`.

What is measured how is an input here, not a judgement: the formats a file is read as
(:data:`~pipeline.check.contract.PHOTO_FORMATS`, ``SCREENSHOT_FORMATS``), the pixel count
beyond which a picture is never decoded (``photo_max_pixels``) and the probe's time limit
(``video_probe_timeout_seconds``). This module also decides which files of a package are
measured as what (:func:`media_items`).
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image, ImageFile, UnidentifiedImageError
from PIL import JpegImagePlugin, PngImagePlugin  # noqa: F401  (registered without init())

from pipeline.check.contract import (PHOTO, PHOTO_FORMATS, SCREENSHOT, SCREENSHOT_EXTS, SCREENSHOT_FORMATS,
                                     SCREENSHOT_STEM, VIDEO)
from pipeline.check.layout import Layout, split_ext
from pipeline.check.policy import MediaRules
from pipeline.check.progress import ProgressLog

__all__ = ["Measurement", "ProbeUnavailable", "VideoProbe", "MP4_CONTAINERS", "measure_photo",
           "measure_screenshot", "measure_video", "measure_many", "measure_package_media", "media_items",
           "sniff_format"]

#: the containers of the MP4 family as :attr:`Measurement.format` records them: MPEG-4
#: (3GP and M4V brands included) and its ancestor QuickTime
MP4_CONTAINERS = ("MPEG-4", "QuickTime")


@dataclass(frozen=True)
class Measurement:
    """What one media file is: the facts the media rules judge and the manifest records.

    Which facts a file has depends on how far it could be read; a fact that could not be
    measured is None (or False). No field holds a verdict: a too small, too long, too
    big or damaged file is only measured as such.
    """

    #: "photo", "video" or "screenshot" (an online-platform screenshot: read like a photo,
    #: but as JPEG or PNG)
    kind: str
    #: the file's size in bytes
    size_bytes: int
    #: the format, as the manifest records it. Photos: as Pillow read it ("JPEG", "PNG"; a
    #: phone's multi-picture "MPO" is "JPEG"), or when Pillow could not read it, as the
    #: first bytes show (:attr:`detected`). Videos: the container as libmediainfo names it
    #: ("MPEG-4", "AVI", "Matroska"...), "QuickTime" for an MP4 that is a QuickTime movie
    #: (:attr:`quicktime`), None when no container was recognised. None: unknown.
    format: str | None = None
    #: the size as displayed (EXIF orientation / rotation applied), when known. A picture
    #: never decoded for its size (:attr:`damage` names it) keeps the size its header claims.
    width: int | None = None
    height: int | None = None
    #: seconds (videos), from the container or else the first video track
    duration: float | None = None
    #: the first video track's codec as libmediainfo names it: "AVC", "HEVC", "MPEG-4 Visual"
    codec: str | None = None
    #: the file type the first bytes show (:func:`sniff_format`), to name what a file
    #: really is when it is not in a format it is read as; None: empty, or no known type
    detected: str | None = None
    #: the bytes are of a format the file is read as. Photos and screenshots: Pillow took
    #: them for one of the formats they are read as, or their first bytes are of one (the
    #: file may still be damaged). Videos: libmediainfo recognised a container, MP4 or not.
    format_recognised: bool = False
    #: why the file is not intact, in Chinese, as the problem's detail: "文件为空（0 字节）…",
    #: "文件头已损坏", a picture too large to decode, truncation, "缺少索引信息（moov）…",
    #: the probe's time-out or crash...; None: intact, as far as it could be read
    damage: str | None = None
    #: photos and screenshots: the picture data was decoded (whether or not completely), so
    #: :attr:`width` and :attr:`height` are those of a real picture. False when the file was
    #: not opened, its header is broken, or it claims more pixels than are ever decoded.
    decoded: bool = False
    #: videos: the container is QuickTime (format "QuickTime"; brand ``qt``, or an MPEG-4
    #: file whose profile says QuickTime)
    quicktime: bool = False
    #: videos: libmediainfo found a video track (the first one is the one measured)
    has_video_track: bool = False

    def manifest_fields(self) -> dict[str, Any]:
        """What the receipt's manifest records of the file (raw names, not the messages')."""
        return {"kind": self.kind, "format": self.format, "width": self.width,
                "height": self.height, "duration": self.duration, "codec": self.codec}


class ProbeUnavailable(RuntimeError):
    """The video probe itself cannot run (our fault, not the file's): retry the package."""


# -- format sniffing -------------------------------------------------------------------

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff_format(head: bytes) -> str | None:
    """A friendly name of the file type from its first bytes (>= 32), or None if unknown.

    Used to name what an institution actually uploaded ("HEIC" for an iPhone photo renamed
    .jpg); the checks themselves decide by decoding, not by this.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        brands = {major} | {head[i:i + 4] for i in range(16, min(len(head), 64) - 3, 4)}
        if major in _AVIF_BRANDS:
            return "AVIF"
        if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
            return "HEIC"
        if major in _HEIF_BRANDS:
            return "HEIF"
        if major == b"qt  ":
            return "QuickTime"
        return "MPEG-4"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP"
    if head.startswith(b"Rar!"):
        return "RAR"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska"
    if head.startswith(b"FLV"):
        return "FLV"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "Office 文档"
    return None


# -- damage: the Chinese details of a file that is not intact ----------------------------
# (the judge quotes them as IMG_CORRUPT's / VID_CORRUPT's detail; the details of a failed
# decode, a picture too large to decode and a failed probe are made where they are found)

EMPTY_FILE = "文件为空（0 字节），可能是复制或上传中断"
BROKEN_HEADER = "文件头已损坏"
ZERO_FILLED_TAIL = "文件末尾缺失（只有空白数据），复制或上传不完整"
UNRECOGNISED_MP4 = "文件结构已损坏，无法识别"
TRUNCATED_VIDEO = "文件不完整（被截断），可能是复制或上传中断"
MISSING_MOOV = "缺少索引信息（moov），通常是录制被中断或导出未完成"
NO_PICTURE = "文件中没有视频画面（只有音频或其他数据）"
NO_SIZE_OR_LENGTH = "无法读取视频的分辨率或时长"


def _head(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


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


# -- videos ------------------------------------------------------------------------------

#: address-space limit of the probe child: a crafted file cannot make libmediainfo eat
#: the worker's memory; running out is a crash, the file's damage
PROBE_MEMORY_LIMIT = 2 * 1024**3

# The probe child: only pymediainfo, no pipeline imports. It serves one request per line
# (a JSON path) with one JSON line: {"result": {...}}, {"missing": ...} (no such file) or
# {"unavailable": ...} (the library cannot be loaded: ours to fix). It lives for one
# package's videos, so its ~100 ms start (mostly importing pymediainfo) is paid once per
# video thread, not once per video; a file that hangs or crashes it is measured as damaged
# (and judged VID_CORRUPT), and the next file gets a fresh child.
_PROBE_SERVER_CODE = r"""
import json, resource, sys
try:
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
except (ValueError, OSError):
    pass
try:
    from pymediainfo import MediaInfo
except ImportError as exc:
    print(json.dumps({"unavailable": str(exc)}), flush=True); sys.exit(3)
def pick(track, names):
    data = track.to_data()
    return {n: data.get(n) for n in names if data.get(n) is not None}
for line in sys.stdin:
    path = json.loads(line)
    try:
        info = MediaInfo.parse(path)
    except FileNotFoundError as exc:
        print(json.dumps({"missing": str(exc)}), flush=True); continue
    except OSError as exc:
        print(json.dumps({"unavailable": str(exc)}), flush=True); continue
    general = info.general_tracks[0] if info.general_tracks else None
    print(json.dumps({"result": {
        "general": pick(general, ("format", "format_profile", "codec_id", "duration", "istruncated",
                                  "general_compliance", "file_size")) if general else {},
        "video": [pick(t, ("format", "codec_id", "width", "height", "rotation", "duration"))
                  for t in info.video_tracks],
        "other_tracks": len(info.tracks) - (1 if general else 0) - len(info.video_tracks),
    }}), flush=True)
"""
_MAX_REPLY_BYTES = 1 << 20


def _probe_server_argv() -> list[str]:
    return [sys.executable, "-c", _PROBE_SERVER_CODE, str(PROBE_MEMORY_LIMIT)]


class _ProbeFailed(Exception):
    """The file broke the probe (timeout, crash): the file's fault; the message is its damage."""


class VideoProbe:
    """A libmediainfo child process that parses files one at a time, each within a time
    limit. Not thread-safe: one per thread. Use as a context manager or call close()."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def __enter__(self) -> "VideoProbe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            self._proc = subprocess.Popen(_probe_server_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL)
        except OSError as exc:  # cannot start a process: fork/exec failure, ours to retry
            raise ProbeUnavailable(f"cannot start the video probe: {exc}") from exc
        self._buffer = b""
        return self._proc

    def _kill(self) -> int:
        proc, self._proc = self._proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        return code

    def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()  # the child's loop ends at EOF
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._kill()

    def _read_line(self, deadline: float) -> bytes | None:
        """One reply line; None on timeout; b"" when the child closed its output."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            self._buffer += chunk
            if len(self._buffer) > _MAX_REPLY_BYTES:
                raise _ProbeFailed("文件结构异常，无法解析")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def probe(self, path: Path, timeout: float) -> dict[str, Any]:
        """mediainfo's fields of ``path``, parsed in the child within ``timeout`` s."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(os.fspath(path)).encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child is gone already: its exit status tells why, below
        try:
            line = self._read_line(time.monotonic() + timeout)
        except _ProbeFailed:
            self._kill()
            raise
        if line is None:
            self._kill()
            raise _ProbeFailed(f"解析超时（超过 {timeout:g} 秒），文件结构异常")
        if line == b"":
            code = self._kill()
            if code == 3:
                raise ProbeUnavailable("libmediainfo unavailable in the probe child")
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = str(-code)
                raise _ProbeFailed(f"文件结构异常，解析程序崩溃（{name}）")
            raise _ProbeFailed("文件结构异常，无法解析")
        try:
            reply = json.loads(line)
        except ValueError:
            self._kill()
            raise _ProbeFailed("文件结构异常，无法解析") from None
        if not isinstance(reply, dict):
            self._kill()
            raise _ProbeFailed("文件结构异常，无法解析")
        if "unavailable" in reply:
            self._kill()
            raise ProbeUnavailable(f"libmediainfo unavailable: {reply['unavailable']}")
        if "missing" in reply:
            raise FileNotFoundError(path)
        result = reply.get("result")
        if not isinstance(result, dict):
            self._kill()
            raise _ProbeFailed("文件结构异常，无法解析")
        return result


def _number(value: Any) -> float | None:
    """mediainfo's numbers come as int (when a field repeats) or str ("150000.000000")."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return float(str(value).split()[0])
        except (ValueError, IndexError):
            return None


def measure_video(path: Path, timeout_seconds: float, probe: VideoProbe | None = None) -> Measurement:
    """Measure one video, parsed by libmediainfo within ``timeout_seconds``.

    ``probe``: a probe child to reuse (see :func:`measure_many`); None starts one."""
    path = Path(path)
    size = path.stat().st_size
    head = _head(path)  # here, not in the child: a file we cannot read is our fault, not its
    if not head:
        return Measurement(VIDEO, size, damage=EMPTY_FILE)
    detected = sniff_format(head)
    try:
        fields = _probe_fields(path, timeout_seconds, probe)
    except _ProbeFailed as exc:  # the file hung or crashed the probe: nothing else is known
        return Measurement(VIDEO, size, detected=detected, damage=str(exc))
    general: dict[str, Any] = fields.get("general") or {}
    videos: list[dict[str, Any]] = fields.get("video") or []
    container, quicktime = _container(general)
    if container is None:
        # an ftyp box that mediainfo cannot make sense of is a damaged MP4; any other
        # bytes are of some other format (``detected``, maybe none): nothing is measured
        damage = UNRECOGNISED_MP4 if detected in MP4_CONTAINERS else None
        return Measurement(VIDEO, size, detected=detected, damage=damage)
    video = videos[0] if videos else {}
    width, height = _displayed_size(video)
    duration = _duration(general, video)
    return Measurement(
        VIDEO, size, format="QuickTime" if quicktime else container, width=width, height=height,
        duration=duration, codec=video.get("format"), detected=detected, format_recognised=True,
        damage=_video_damage(fields, container, width, duration), quicktime=quicktime,
        has_video_track=bool(videos))


def _probe_fields(path: Path, timeout_seconds: float, probe: VideoProbe | None) -> dict[str, Any]:
    """mediainfo's fields of ``path``, from ``probe`` or from a child started for it."""
    if probe is not None:
        return probe.probe(path, timeout_seconds)
    with VideoProbe() as own:
        return own.probe(path, timeout_seconds)


def _container(general: dict[str, Any]) -> tuple[str | None, bool]:
    """The container as mediainfo names it (None: none recognised), and whether it is
    QuickTime: so named, or an MPEG-4 file of brand ``qt`` or profile QuickTime."""
    container = general.get("format")
    brand = str(general.get("codec_id") or "").strip()
    quicktime = container == "QuickTime" or (container == "MPEG-4" and (
        brand == "qt" or general.get("format_profile") == "QuickTime"))
    return container, quicktime


def _displayed_size(video: dict[str, Any]) -> tuple[int | None, int | None]:
    """Width and height of a video track as shown: a rotation of 90° or 270° swaps them."""
    w, h = _number(video.get("width")), _number(video.get("height"))
    if w is None or h is None:
        return None, None
    width, height = int(w), int(h)
    rotation = round((_number(video.get("rotation")) or 0) / 90) % 4
    return (height, width) if rotation in (1, 3) else (width, height)


def _duration(general: dict[str, Any], video: dict[str, Any]) -> float | None:
    """Seconds (to the millisecond), the container's, else the video track's."""
    duration_ms = _number(general.get("duration"))
    if duration_ms is None:
        duration_ms = _number(video.get("duration"))
    return round(duration_ms / 1000, 3) if duration_ms is not None else None


def _video_damage(fields: dict[str, Any], container: str, width: int | None,
                  duration: float | None) -> str | None:
    """Why a video in a recognised container is not intact (the first reason), or None."""
    general: dict[str, Any] = fields.get("general") or {}
    has_video_track = bool(fields.get("video"))
    mp4_family = container in MP4_CONTAINERS
    if str(general.get("istruncated", "")).lower() == "yes":
        return TRUNCATED_VIDEO
    if mp4_family and not has_video_track and not fields.get("other_tracks"):
        return MISSING_MOOV
    if mp4_family and not has_video_track:
        return NO_PICTURE
    if has_video_track and (width is None or duration is None):
        return NO_SIZE_OR_LENGTH
    # (another format without a video track — a photo or an MP3 renamed .mp4 — has no
    # damage to report: its format says it all, "no picture" would be noise)
    return None


# -- many at once ------------------------------------------------------------------------

def measure_many(items: Sequence[tuple[str, Path, str]], *, photo_max_pixels: int,
                 video_probe_timeout_seconds: float, workers: int = 2,
                 on_done: Callable[[], None] | None = None) -> dict[str, Measurement]:
    """Measure ``(kind, local path, key)`` items (kind: photo, screenshot or video); keyed by key.

    Photos decode on ``workers`` threads (Pillow releases the GIL while decoding) while up
    to ``workers`` video probes run in child processes, so both kinds overlap and both
    cores are busy. Results come in the order of ``items``. An exception that is ours
    (:class:`ProbeUnavailable`, an unreadable path) propagates after all work is done.
    ``on_done`` is called (from any thread) as each file is measured: progress.
    """
    workers = max(1, workers)
    futures: dict[str, Future[Measurement]] = {}
    probes = _idle_probes()

    def video(path: Path) -> Measurement:
        probe = probes.take()
        try:
            return measure_video(path, video_probe_timeout_seconds, probe=probe)
        finally:
            probes.give_back(probe)

    with ThreadPoolExecutor(workers, thread_name_prefix="photo") as photo_pool, \
            ThreadPoolExecutor(workers, thread_name_prefix="video") as video_pool:
        for kind, path, key in items:
            if kind == VIDEO:
                futures[key] = video_pool.submit(video, path)
            elif kind == PHOTO:
                futures[key] = photo_pool.submit(measure_photo, path, photo_max_pixels)
            elif kind == SCREENSHOT:  # online-platform screenshots: JPEG or PNG
                futures[key] = photo_pool.submit(measure_screenshot, path, photo_max_pixels)
            else:
                raise ValueError(f"unknown media kind {kind!r}")
            if on_done is not None:
                futures[key].add_done_callback(lambda _future: on_done())
    return {key: future.result() for key, future in futures.items()}


class _ProbePool:
    """Idle probe children kept for the next package, so a worker (or one `pipeline
    check` of many packages) pays a child's start-up once per thread, not per package.
    A child that failed on a file was killed by it and starts afresh on next use."""

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._idle: list[VideoProbe] = []
        self._keep = keep
        atexit.register(self.close_all)

    def take(self) -> VideoProbe:
        with self._lock:
            return self._idle.pop() if self._idle else VideoProbe()

    def give_back(self, probe: VideoProbe) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(probe)
                return
        probe.close()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for probe in idle:
            probe.close()


#: the first use of the pool is serialised: lru_cache alone lets two threads that call it
#: at the same time each build (and keep using) a pool of their own
_FIRST_POOL_USE = threading.Lock()


def _idle_probes() -> _ProbePool:
    """The process's one pool of idle probe children, built (and its exit hook
    registered) on first use, not at import."""
    with _FIRST_POOL_USE:
        return _build_probe_pool()


@functools.lru_cache(maxsize=1)
def _build_probe_pool() -> _ProbePool:
    return _ProbePool()


# -- which files of a package are measured as what -------------------------------------

_SCREENSHOT = re.compile(rf"^{SCREENSHOT_STEM}[1-9][0-9]*$")


def media_items(layout: Layout) -> list[tuple[str, str, object]]:
    """(kind, package path, file) of everything that is measured."""
    items: list[tuple[str, str, object]] = [(m.kind, m.file.path, m.file) for m in layout.media]
    for folder in layout.training_folders:
        for file in layout.files_in(folder):
            stem, ext = split_ext(file.path.rsplit("/", 1)[-1])
            if ext.lower() in SCREENSHOT_EXTS and _SCREENSHOT.match(stem):
                items.append(("screenshot", file.path, file))
    return items


def measure_package_media(layout: Layout, rules: MediaRules, workers: int = 2) -> dict[str, Measurement]:
    """Measurements of every photo, video and screenshot, keyed by package path; the
    policy's ``rules`` give the measuring limits (pixels decoded, the probe's time)."""
    items = media_items(layout)
    progress = ProgressLog("media.progress", len(items))
    return measure_many(
        [(kind, file.local_path, path) for kind, path, file in items],  # type: ignore[attr-defined]
        photo_max_pixels=rules.photo_max_pixels,
        video_probe_timeout_seconds=rules.video_probe_timeout_seconds,
        workers=workers, on_done=progress.step)
