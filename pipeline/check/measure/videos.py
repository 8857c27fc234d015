"""Measuring videos: parsed by libmediainfo (pymediainfo) in a child process with a time
limit, so a malformed file that hangs or crashes the library is measured as damaged and
never takes the worker down. A failure that is ours (the library cannot load, the child
cannot start) raises :class:`~pipeline.check.measure.facts.ProbeUnavailable`. Idle probe
children are kept for the next video (:func:`idle_probes`).

libmediainfo gives the picture's size, the length and the codec; the box structure
(:mod:`.mp4`, read here, bounded) decides what the container is (an ISO base media file
is "MPEG-4" whatever brand a camera gives it) and whether the media data the index points
at is all there (a cut hidden by an ``mdat`` of size 0, offsets past the end, data after
the last box)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.check.contract import VIDEO
from pipeline.check.files import FileRange
from pipeline.check.measure.facts import (EMPTY_FILE, INCONSISTENT_INDEX, MISSING_MOOV, MP4_CONTAINERS, NO_PICTURE,
                                          NO_SIZE_OR_LENGTH, NO_VIDEO_DATA, TRUNCATED_VIDEO, UNRECOGNISED_MP4,
                                          Measurement, ProbeUnavailable, sniff_format)
from pipeline.check.measure.mp4 import ISO, PICTURE_BRANDS, QUICKTIME, Mp4Structure, read_structure


# -- videos ------------------------------------------------------------------------------

#: address-space limit of the probe child: a crafted file cannot make libmediainfo eat
#: the worker's memory; running out is a crash, the file's damage
PROBE_MEMORY_LIMIT = 2 * 1024**3

# The probe child: only pymediainfo, no pipeline imports. It serves one request per line
# (a JSON path, or {"path", "offset", "size"}: a stored video read where it lies in its
# ZIP) with one JSON line: {"result": {...}}, {"missing": ...} (no such file) or
# {"unavailable": ...} (the library cannot be loaded: ours to fix). It lives for one
# package's videos, so its ~100 ms start (mostly importing pymediainfo) is paid once per
# video thread, not once per video; a file that hangs or crashes it is measured as damaged
# (and judged VID_CORRUPT), and the next file gets a fresh child.
_PROBE_SERVER_CODE = r"""
import io, json, os, resource, sys
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
class Window(io.RawIOBase):  # a range of a file (a stored video in its ZIP) as a file
    def __init__(self, path, offset, size):
        super().__init__(); self.fd = os.open(path, os.O_RDONLY); self.offset, self.size, self.pos = offset, size, 0
    def readable(self): return True
    def seekable(self): return True
    def tell(self): return self.pos
    def seek(self, pos, whence=0):
        self.pos = max(0, (0, self.pos, self.size)[whence] + pos); return self.pos
    def readinto(self, buffer):
        data = os.pread(self.fd, max(0, min(len(buffer), self.size - self.pos)), self.offset + self.pos)
        buffer[:len(data)] = data; self.pos += len(data); return len(data)
    def close(self):
        if not self.closed: os.close(self.fd)
        super().close()
for line in sys.stdin:
    path = json.loads(line)
    try:
        if isinstance(path, dict):  # a range: libmediainfo reads it through its buffer API
            with Window(path["path"], path["offset"], path["size"]) as window:
                info = MediaInfo.parse(window)
        else:
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

    def start(self) -> None:
        """Start the child now rather than at the first file (it takes ~0.1 s)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

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

    def probe(self, path: Path | FileRange, timeout: float) -> dict[str, Any]:
        """mediainfo's fields of ``path`` (a whole file, or a range of one), parsed in the
        child within ``timeout`` s."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        # a whole file by its name (libmediainfo opens it), a range by its place (the
        # child reads it through libmediainfo's buffer API: the same fields, tested)
        request: Any = os.fspath(path.path if isinstance(path, FileRange) else path)
        if isinstance(path, FileRange) and path.offset:
            request = {"path": request, "offset": path.offset, "size": path.size}
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
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
            raise FileNotFoundError(path.path if isinstance(path, FileRange) else path)
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


def measure_video(path: Path | FileRange, timeout_seconds: float, probe: VideoProbe | None = None) -> Measurement:
    """Measure one video: its boxes read here, its picture and length by libmediainfo
    within ``timeout_seconds``. ``path``: a file, or a range of one (a stored video read
    where it lies in its ZIP, as libmediainfo reads it too).

    ``probe``: a probe child to reuse (see :func:`measure_many`); None starts one."""
    path = path if isinstance(path, FileRange) else FileRange.whole(Path(path))
    size = path.size
    with path.open() as f:  # here, not in the child: a file we cannot read is our fault, not its
        head = f.read(64)
    if not head:
        return Measurement(VIDEO, size, damage=EMPTY_FILE)
    detected = sniff_format(head)
    structure = _structure(path)
    try:
        fields = _probe_fields(path, timeout_seconds, probe)
    except _ProbeFailed as exc:  # the file hung or crashed the probe: nothing else is known
        return Measurement(VIDEO, size, detected=detected, damage=str(exc))
    general: dict[str, Any] = fields.get("general") or {}
    videos: list[dict[str, Any]] = fields.get("video") or []
    container, quicktime = _container(general, structure, detected)
    if container is None:
        # an ftyp box that mediainfo cannot make sense of is a damaged MP4; any other
        # bytes are of some other format (``detected``, maybe none): nothing is measured
        damage = UNRECOGNISED_MP4 if detected in MP4_CONTAINERS else None
        return Measurement(VIDEO, size, detected=detected, damage=damage)
    video = videos[0] if videos else {}
    width, height = _displayed_size(video)
    duration = _duration(general, video)
    damage = _video_damage(fields, container, width, duration, structure)
    return Measurement(
        VIDEO, size, format=container, width=width, height=height, duration=duration,
        codec=video.get("format"), detected=detected, format_recognised=True, damage=damage,
        quicktime=quicktime, has_video_track=bool(videos), trailing_bytes=structure.trailing_bytes)


def _structure(path: FileRange) -> Mp4Structure:
    """The boxes of ``path`` (bounded reads of box headers and the index only). The reader
    makes sense of malformed boxes as far as it can; should a file still break it, the
    file is judged on mediainfo's word alone, as before the boxes were read, rather than
    failing the package. An unreadable file (OSError) is ours and propagates."""
    try:
        return read_structure(path)
    except (struct.error, ValueError, IndexError, OverflowError):
        return Mp4Structure()


def _probe_fields(path: FileRange, timeout_seconds: float, probe: VideoProbe | None) -> dict[str, Any]:
    """mediainfo's fields of ``path``, from ``probe`` or from a child started for it."""
    if probe is not None:
        return probe.probe(path, timeout_seconds)
    with VideoProbe() as own:
        return own.probe(path, timeout_seconds)


def _container(general: dict[str, Any], structure: Mp4Structure, detected: str | None) -> tuple[str | None, bool]:
    """The container (None: mediainfo recognised none) and whether it is QuickTime.

    The boxes decide for the MP4 family: mediainfo names an ISO file by its major brand
    when it does not know the brand ("XAVC", "CAEP", "iso6"), and calls one whose
    ``ftyp`` follows a ``free`` box QuickTime. A still picture in ISO boxes (HEIC) is
    named as its first bytes show. Other files (no boxes): as mediainfo names them."""
    container = general.get("format")
    if container is None:
        return None, False
    if structure.family == ISO:
        return "MPEG-4", False
    if structure.family == QUICKTIME:
        return "QuickTime", True
    if structure.major_brand in PICTURE_BRANDS:
        return detected or container, False
    return container, container == "QuickTime"


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


def _video_damage(fields: dict[str, Any], container: str, width: int | None, duration: float | None,
                  structure: Mp4Structure) -> str | None:
    """Why a video in a recognised container is not intact (the first reason), or None.

    The boxes speak first (a cut, samples past the end or outside the media data, a top
    level that is no box structure); mediainfo's truncation flag stands unless the boxes
    explain it: bytes after the last box (judged as such: trailing data, or padding), or
    an ``mdat`` whose size runs past the end while every sample is inside."""
    general: dict[str, Any] = fields.get("general") or {}
    has_video_track = bool(fields.get("video"))
    mp4_family = container in MP4_CONTAINERS
    if structure.cut or structure.samples_past_end:
        return TRUNCATED_VIDEO
    if structure.samples_outside_media_data:
        return INCONSISTENT_INDEX
    if structure.family is not None and structure.tail_bytes and not structure.has_moov:
        return UNRECOGNISED_MP4  # boxes, then bytes that are none, and no index among them
    if str(general.get("istruncated", "")).lower() == "yes" and not (structure.tail_bytes
                                                                    or structure.overlong_mdat):
        return TRUNCATED_VIDEO
    if mp4_family and not has_video_track and not fields.get("other_tracks"):
        return MISSING_MOOV
    if mp4_family and not has_video_track:
        return NO_PICTURE
    if has_video_track and structure.samples_checked and structure.video_tracks and not structure.video_samples:
        return NO_VIDEO_DATA
    if has_video_track and (width is None or duration is None):
        return NO_SIZE_OR_LENGTH
    # (another format without a video track — a photo or an MP3 renamed .mp4 — has no
    # damage to report: its format says it all, "no picture" would be noise)
    return None


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


def idle_probes() -> _ProbePool:
    """The process's one pool of idle probe children, built (and its exit hook
    registered) on first use, not at import."""
    with _FIRST_POOL_USE:
        return _build_probe_pool()


@functools.lru_cache(maxsize=1)
def _build_probe_pool() -> _ProbePool:
    return _ProbePool()
