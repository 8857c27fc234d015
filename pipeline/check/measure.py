"""Media checks (spec section 3): measure one photo or video and report its faults.

Photos are read with Pillow in this process: the real format comes from the bytes, the
picture is decoded at 1/8 scale (small memory, but every byte of entropy-coded data is
read, so truncation is caught), and the displayed size applies the EXIF orientation.

Videos are parsed by libmediainfo (pymediainfo) in a child process, one per video, with
the policy's time limit: a malformed file that hangs or crashes the library costs one
``VID_CORRUPT`` for that file, never the worker. A failure that is ours, not the file's
(the library cannot load, the child cannot start), raises :class:`ProbeUnavailable`.

Every function reports every fault of its one file (size, format, intactness,
resolution, duration, codec) as :class:`~pipeline.check.catalogue.Problem`\\ s with the
catalogue's default severities; the caller applies the policy's overrides.

``python -m pipeline.check.measure FILE...`` prints what the checks measure (for operators).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import re
import os
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

from pipeline.check.catalogue import Problem, format_size, problem
from pipeline.check.contract import SCREENSHOT_EXTS, SCREENSHOT_STEM
from pipeline.check.layout import Layout, split_ext
from pipeline.check.progress import ProgressLog
from pipeline.check.policy import MediaRules

__all__ = ["Measurement", "ProbeUnavailable", "measure_photo", "measure_video", "measure_many",
           "format_duration", "sniff_format"]


@dataclass(frozen=True)
class Measurement:
    """What a media file measured as, for the receipt's manifest, and its problems."""

    kind: str  # "photo" | "video"
    format: str | None  # "JPEG", "PNG", "HEIC", "MPEG-4", "QuickTime", "AVI"...; None: unknown
    width: int | None  # as displayed (EXIF orientation / rotation applied)
    height: int | None
    duration: float | None  # seconds (videos)
    codec: str | None  # video codec as mediainfo names it: "AVC", "HEVC", "MPEG-4 Visual"
    problems: tuple[Problem, ...] = ()

    def manifest_fields(self) -> dict[str, Any]:
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


_UNKNOWN = "未知格式"
_FRIENDLY = {  # mediainfo / sniffed names as institutions know them
    "QuickTime": "QuickTime（MOV）",
    "Matroska": "MKV（Matroska）",
    "WebM": "WebM",
    "Flash Video": "FLV",
    "Windows Media": "WMV（Windows Media）",
    "MPEG-TS": "MPEG-TS（.ts）",
    "MPEG-PS": "MPEG-PS（.mpg/.vob）",
    "HEIC": "HEIC（苹果手机高效格式）",
    "HEIF": "HEIF（高效图像格式）",
    "MPEG-4": "MP4 视频",
    "PDF": "PDF 文档",
    "ZIP": "ZIP 压缩包",
    "RAR": "RAR 压缩包",
    "7z": "7z 压缩包",
}


_CODECS = {  # mediainfo's video format names, as editing apps show them
    "AVC": "H.264（AVC）",
    "HEVC": "H.265（HEVC）",
    "MPEG-4 Visual": "MPEG-4 Part 2",
    "AV1": "AV1",
    "VP9": "VP9",
    "VP8": "VP8",
    "MPEG Video": "MPEG-2",
    "ProRes": "Apple ProRes",
}


def _friendly_codec(name: str) -> str:
    return _CODECS.get(name, name)


def _friendly(name: str | None) -> str:
    return _FRIENDLY.get(name, name) if name else _UNKNOWN


_EMPTY = "文件为空（0 字节），可能是复制或上传中断"


def _head(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


# -- photos ------------------------------------------------------------------------------

#: EXIF orientations that turn the picture by 90° or 270° (width and height swap)
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
#: a run of NUL bytes this long at the end, not preceded by an EOI marker: an incomplete
#: copy whose missing part was pre-allocated with zeros (libjpeg decodes zeros happily)
_ZERO_TAIL_BYTES = 1024


def measure_photo(path: Path, display_name: str, package_path: str, rules: MediaRules, *,
                  max_bytes: int | None = None, allowed_formats: Sequence[str] = ("JPEG",),
                  check_resolution: bool = True) -> Measurement:
    """Measure one photo and report its IMG_* faults.

    ``max_bytes`` defaults to ``rules.photo_max_bytes``; platform screenshots pass
    ``rules.screenshot_max_bytes``, ``allowed_formats=("JPEG", "PNG")`` and
    ``check_resolution=False`` (the spec sets no resolution for screenshots).
    """
    path = Path(path)
    problems: list[Problem] = []
    limit = rules.photo_max_bytes if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size > limit:
        problems.append(problem("IMG_SIZE", package_path, name=display_name,
                                size=format_size(size), limit=format_size(limit)))
    allowed = tuple(dict.fromkeys(f.upper() for f in allowed_formats))
    expected = " 或 ".join(allowed)
    head = _head(path)
    if not head:
        problems.append(problem("IMG_CORRUPT", package_path, name=display_name, detail=_EMPTY))
        return Measurement("photo", None, None, None, None, None, tuple(problems))
    sniffed = sniff_format(head)

    def corrupt(detail: str, fmt: str | None, w: int | None = None, h: int | None = None) -> Measurement:
        problems.append(problem("IMG_CORRUPT", package_path, name=display_name, detail=detail))
        return Measurement("photo", fmt, w, h, None, None, tuple(problems))

    try:
        # "MPO" is no format to open by: Pillow's JPEG opener returns an MpoImageFile
        # (im.format "MPO") for a phone's multi-picture JPEG; asking for "MPO" is a KeyError
        im = Image.open(path, formats=list(allowed))
    except UnidentifiedImageError:
        if sniffed and sniffed.upper() in allowed:  # the right magic bytes, a broken header
            return corrupt("文件头已损坏", sniffed)
        problems.append(problem("IMG_FORMAT", package_path, name=display_name,
                                detected=_friendly(sniffed), expected=expected))
        return Measurement("photo", sniffed, None, None, None, None, tuple(problems))
    except Image.DecompressionBombError:
        dims = _jpeg_dimensions(path) if sniffed == "JPEG" else None
        return corrupt(_bomb_detail(dims, rules), sniffed, *(dims or (None, None)))
    except MemoryError:
        raise
    except Exception:  # a header Pillow cannot parse: SyntaxError, struct.error, ...
        return corrupt("文件头已损坏", sniffed)

    with im:
        fmt = "JPEG" if im.format == "MPO" else im.format
        stored_w, stored_h = im.size
        orientation = _exif_orientation(im)
        if orientation in _SWAPPING_ORIENTATIONS:
            width, height = stored_h, stored_w
        else:
            width, height = stored_w, stored_h
        if stored_w * stored_h > rules.photo_max_pixels:
            # never decode: a crafted header can claim gigapixels from a few bytes
            return corrupt(_bomb_detail((stored_w, stored_h), rules), fmt, width, height)
        detail = _decode(im)
        if detail is None and fmt == "JPEG" and _zero_filled_tail(path, size):
            detail = "文件末尾缺失（只有空白数据），复制或上传不完整"
        if detail is not None:
            problems.append(problem("IMG_CORRUPT", package_path, name=display_name, detail=detail))
    if check_resolution and not _resolution_ok(width, height, rules):
        problems.append(problem("IMG_RESOLUTION", package_path, name=display_name, width=width,
                                height=height, min_long=rules.min_long_side,
                                min_short=rules.min_short_side))
    return Measurement("photo", fmt, width, height, None, None, tuple(problems))


def _resolution_ok(width: int, height: int, rules: MediaRules) -> bool:
    return max(width, height) >= rules.min_long_side and min(width, height) >= rules.min_short_side


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


def _bomb_detail(dims: tuple[int, int] | None, rules: MediaRules) -> str:
    size = f"{dims[0]}×{dims[1]}（{dims[0] * dims[1]:,} 像素）" if dims else "过大"
    return f"图像尺寸异常：{size}，超过上限 {rules.photo_max_pixels:,} 像素"


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
#: the worker's memory; running out is a crash, hence VID_CORRUPT
PROBE_MEMORY_LIMIT = 2 * 1024**3

# The probe child: only pymediainfo, no pipeline imports. It serves one request per line
# (a JSON path) with one JSON line: {"result": {...}}, {"missing": ...} (no such file) or
# {"unavailable": ...} (the library cannot be loaded: ours to fix). It lives for one
# package's videos, so its ~100 ms start (mostly importing pymediainfo) is paid once per
# video thread, not once per video; a file that hangs or crashes it costs that file one
# VID_CORRUPT and the next file gets a fresh child.
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
    """The file broke the probe (timeout, crash): the file's fault, VID_CORRUPT."""


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


def format_duration(seconds: float) -> str:
    """1分59.4秒, 2分钟, 45 秒: how the institutions' editing apps show a length."""
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    secs = f"{rest / 10:g}"
    if minutes == 0:
        return f"{secs} 秒"
    return f"{minutes}分钟" if rest == 0 else f"{minutes}分{secs}秒"


def measure_video(path: Path, display_name: str, package_path: str, rules: MediaRules,
                  probe: VideoProbe | None = None) -> Measurement:
    """Measure one video and report its VID_* faults and the W_VIDEO_CODEC warning.
    ``probe``: a probe child to reuse (see :func:`measure_many`); None starts one."""
    path = Path(path)
    problems: list[Problem] = []
    size = path.stat().st_size
    if size > rules.video_max_bytes:
        problems.append(problem("VID_SIZE", package_path, name=display_name, size=format_size(size),
                                limit=format_size(rules.video_max_bytes)))

    def corrupt(detail: str) -> None:
        problems.append(problem("VID_CORRUPT", package_path, name=display_name, detail=detail))

    head = _head(path)  # here, not in the child: a file we cannot read is our fault, not its
    if not head:
        corrupt(_EMPTY)
        return Measurement("video", None, None, None, None, None, tuple(problems))
    try:
        if probe is None:
            with VideoProbe() as own:
                fields = own.probe(path, rules.video_probe_timeout_seconds)
        else:
            fields = probe.probe(path, rules.video_probe_timeout_seconds)
    except _ProbeFailed as exc:
        corrupt(str(exc))
        return Measurement("video", None, None, None, None, None, tuple(problems))

    general: dict[str, Any] = fields.get("general") or {}
    videos: list[dict[str, Any]] = fields.get("video") or []
    container = general.get("format")
    brand = str(general.get("codec_id") or "").strip()
    quicktime = container == "QuickTime" or (container == "MPEG-4" and (
        brand == "qt" or general.get("format_profile") == "QuickTime"))
    fmt = "QuickTime" if quicktime else container
    if container is None:
        sniffed = sniff_format(head)
        if sniffed in ("MPEG-4", "QuickTime"):  # an ftyp box, yet mediainfo sees nothing
            corrupt("文件结构已损坏，无法识别")
        else:
            # unrecognisable bytes: a format problem (we cannot tell what it was meant to
            # be); nothing else can be measured
            problems.append(problem("VID_FORMAT", package_path, name=display_name,
                                    detected=_friendly(sniffed)))
        return Measurement("video", None, None, None, None, None, tuple(problems))
    if (quicktime and rules.refuse_mov) or (container not in ("MPEG-4", "QuickTime")):
        problems.append(problem("VID_FORMAT", package_path, name=display_name, detected=_friendly(fmt)))

    video = videos[0] if videos else {}
    duration_ms = _number(general.get("duration"))
    if duration_ms is None:
        duration_ms = _number(video.get("duration"))
    duration = round(duration_ms / 1000, 3) if duration_ms is not None else None
    codec = video.get("format")
    width = height = None
    if video:
        w, h = _number(video.get("width")), _number(video.get("height"))
        if w is not None and h is not None:
            width, height = int(w), int(h)
            rotation = round((_number(video.get("rotation")) or 0) / 90) % 4
            if rotation in (1, 3):
                width, height = height, width

    mp4_family = container in ("MPEG-4", "QuickTime")
    if str(general.get("istruncated", "")).lower() == "yes":
        corrupt("文件不完整（被截断），可能是复制或上传中断")
    elif mp4_family and not videos and not fields.get("other_tracks"):
        corrupt("缺少索引信息（moov），通常是录制被中断或导出未完成")
    elif mp4_family and not videos:
        corrupt("文件中没有视频画面（只有音频或其他数据）")
    elif videos and (width is None or duration is None):
        corrupt("无法读取视频的分辨率或时长")
    # (another format without a video track — a photo or an MP3 renamed .mp4 — is only
    # VID_FORMAT: "no picture" would be noise)

    if duration is not None and videos:
        tol = rules.duration_tolerance_seconds
        if not (rules.video_min_seconds - tol - 1e-9 <= duration <= rules.video_max_seconds + tol + 1e-9):
            problems.append(problem("VID_DURATION", package_path, name=display_name,
                                    duration=f"{format_duration(duration)}（{duration:.1f} 秒）",
                                    min=format_duration(rules.video_min_seconds),
                                    max=format_duration(rules.video_max_seconds)))
    if width is not None and height is not None and not _resolution_ok(width, height, rules):
        problems.append(problem("VID_RESOLUTION", package_path, name=display_name, width=width,
                                height=height, min_long=rules.min_long_side,
                                min_short=rules.min_short_side))
    if codec and codec.casefold() != rules.preferred_video_codec.casefold():
        problems.append(problem("W_VIDEO_CODEC", package_path, name=display_name,
                                codec=_friendly_codec(codec),
                                preferred=_friendly_codec(rules.preferred_video_codec)))
    return Measurement("video", fmt, width, height, duration, codec, tuple(problems))


# -- many at once ------------------------------------------------------------------------

def measure_many(items: Sequence[tuple[str, Path, str, str]], rules: MediaRules,
                 workers: int = 2, on_done: Callable[[], None] | None = None) -> dict[str, Measurement]:
    """Measure ``(kind, path, display_name, package_path)`` items; keyed by package_path.

    Photos decode on ``workers`` threads (Pillow releases the GIL while decoding) while up
    to ``workers`` video probes run in child processes, so both kinds overlap and both
    cores are busy. Results come in the order of ``items``. An exception that is ours
    (:class:`ProbeUnavailable`, an unreadable path) propagates after all work is done.
    ``on_done`` is called (from any thread) as each file is measured: progress.
    """
    workers = max(1, workers)
    futures: dict[str, Future[Measurement]] = {}

    def video(path: Path, display_name: str, package_path: str) -> Measurement:
        probe = _IDLE_PROBES.take()
        try:
            return measure_video(path, display_name, package_path, rules, probe=probe)
        finally:
            _IDLE_PROBES.give_back(probe)

    _submit_all(items, rules, workers, futures, video, on_done)
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


_IDLE_PROBES = _ProbePool()


def _submit_all(items: Sequence[tuple[str, Path, str, str]], rules: MediaRules, workers: int,
                futures: dict[str, Future[Measurement]], video: Any,
                on_done: Callable[[], None] | None = None) -> None:
    with ThreadPoolExecutor(workers, thread_name_prefix="photo") as photos, \
            ThreadPoolExecutor(workers, thread_name_prefix="video") as videos:
        for kind, path, display_name, package_path in items:
            if kind == "video":
                futures[package_path] = videos.submit(video, path, display_name, package_path)
            elif kind == "photo":
                futures[package_path] = photos.submit(measure_photo, path, display_name, package_path, rules)
            elif kind == "screenshot":  # online-platform screenshots: JPEG or PNG, own size limit
                futures[package_path] = photos.submit(
                    measure_photo, path, display_name, package_path, rules,
                    max_bytes=rules.screenshot_max_bytes, allowed_formats=("JPEG", "PNG"),
                    check_resolution=False)
            else:
                raise ValueError(f"unknown media kind {kind!r}")
            if on_done is not None:
                futures[package_path].add_done_callback(lambda _future: on_done())


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


def measure_package_media(layout: Layout, rules: object, workers: int = 2) -> dict[str, Measurement]:
    """Measurements keyed by package path. Screenshots are marked as such in the manifest."""
    items = media_items(layout)
    progress = ProgressLog("media.progress", len(items))
    measured = measure_many(
        [(kind, file.local_path, path.rsplit("/", 1)[-1], path)  # type: ignore[attr-defined]
         for kind, path, file in items], rules, workers=workers,  # type: ignore[arg-type]
        on_done=progress.step)
    kinds = {path: kind for kind, path, _ in items}
    return {path: (dataclasses.replace(m, kind="screenshot") if kinds[path] == "screenshot" else m)
            for path, m in measured.items()}



def _main(argv: Sequence[str]) -> int:
    from pipeline.check.policy import load_policy

    rules = load_policy().media
    items = []
    for arg in argv:
        kind = "video" if Path(arg).suffix.lower() in (".mp4", ".mov", ".m4v", ".avi", ".mkv") else "photo"
        items.append((kind, Path(arg), Path(arg).name, arg))
    for key, m in measure_many(items, rules).items():
        print(json.dumps({"path": key, **m.manifest_fields(),
                          "problems": [p.to_json() for p in m.problems]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
