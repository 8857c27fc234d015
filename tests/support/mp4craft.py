"""Hand-made changes to real MP4 files (ISO/IEC 14496-12 boxes), for the MP4 structure tests.

Start from a real file (``tests.support.media.mp4``, PyAV + libx264) and rewrite its boxes
the way cameras, phones, editing tools and broken copies do: another ``ftyp`` brand, a box
before ``ftyp``, no ``ftyp``, ``moov`` before ``mdat``, 64-bit sizes and chunk offsets, an
``mdat`` of size 0 ("to the end of the file"), bytes after the end. Every rewrite that moves
the media data patches the chunk offsets (``stco``/``co64``), so the result is a valid file
unless the rewrite is meant to break it. Works on ``bytes``; returns new ``bytes``.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

__all__ = ["Box", "top_level", "children", "find_all", "box", "full_box", "set_ftyp", "ftyp_payload",
           "insert_top_level", "remove_top_level", "move_moov_first", "to_co64", "mdat_to_end", "mdat_64bit",
           "shift_chunk_offsets", "chunk_offsets", "replace_box", "replace_nested", "encoded", "set_presentation",
           "init_segment_only", "move_ftyp_after", "samsung_trailer", "CONTAINERS"]

#: boxes whose payload is made of boxes (as far as these tests descend)
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf",
              b"mfra", b"udta"}


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int
    header: int   # 8, or 16 with a 64-bit size
    size: int     # the whole box, header included

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def payload(self) -> int:
        return self.offset + self.header


def _boxes(data: bytes, start: int, end: int) -> list[Box]:
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            break
        out.append(Box(kind, pos, header, size))
        pos += size
    return out


def top_level(data: bytes) -> list[Box]:
    return _boxes(data, 0, len(data))


def children(data: bytes, parent: Box) -> list[Box]:
    return _boxes(data, parent.payload, parent.end)


def find_all(data: bytes, kind: bytes) -> list[Box]:
    """Every box of ``kind`` at any depth inside the containers this module knows."""
    found: list[Box] = []

    def walk(boxes: list[Box]) -> None:
        for b in boxes:
            if b.type == kind:
                found.append(b)
            if b.type in CONTAINERS:
                walk(children(data, b))
    walk(top_level(data))
    return found


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes = b"") -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def ftyp_payload(major: bytes, compatible: list[bytes], minor: int = 0) -> bytes:
    return major + struct.pack(">I", minor) + b"".join(compatible)


def chunk_offsets(data: bytes) -> list[int]:
    """Every chunk offset of every track, in table order."""
    out: list[int] = []
    for b in find_all(data, b"stco") + find_all(data, b"co64"):
        count = struct.unpack(">I", data[b.payload + 4:b.payload + 8])[0]
        fmt, width = (">I", 4) if b.type == b"stco" else (">Q", 8)
        out += [struct.unpack(fmt, data[b.payload + 8 + i * width:b.payload + 8 + (i + 1) * width])[0]
                for i in range(count)]
    return out


def shift_chunk_offsets(data: bytes, delta: int) -> bytes:
    """Add ``delta`` to every chunk offset (the media data moved by ``delta`` bytes)."""
    out = bytearray(data)
    for b in find_all(data, b"stco") + find_all(data, b"co64"):
        count = struct.unpack(">I", data[b.payload + 4:b.payload + 8])[0]
        fmt, width = (">I", 4) if b.type == b"stco" else (">Q", 8)
        for i in range(count):
            at = b.payload + 8 + i * width
            struct.pack_into(fmt, out, at, struct.unpack(fmt, data[at:at + width])[0] + delta)
    return bytes(out)


def _mdat_start(data: bytes) -> int:
    return min(b.offset for b in top_level(data) if b.type == b"mdat")


def replace_box(data: bytes, old: Box, new: bytes, *, patch_offsets: bool = True) -> bytes:
    """``old`` (top level) replaced by ``new``; chunk offsets follow when the media data moves."""
    delta = len(new) - old.size
    out = data[:old.offset] + new + data[old.end:]
    if patch_offsets and delta and old.offset < _mdat_start(data):
        out = shift_chunk_offsets(out, delta)
    return out


def set_ftyp(data: bytes, major: bytes, compatible: list[bytes], minor: int = 0) -> bytes:
    """The file with its ``ftyp`` box replaced (a camera's or phone's brands)."""
    ftyp = next(b for b in top_level(data) if b.type == b"ftyp")
    return replace_box(data, ftyp, box(b"ftyp", ftyp_payload(major, compatible, minor)))


def insert_top_level(data: bytes, index: int, raw: bytes) -> bytes:
    """``raw`` (whole boxes) inserted before the ``index``-th top-level box (len: at the end)."""
    boxes = top_level(data)
    at = boxes[index].offset if index < len(boxes) else len(data)
    out = data[:at] + raw + data[at:]
    if at <= _mdat_start(data):
        out = shift_chunk_offsets(out, len(raw))
    return out


def remove_top_level(data: bytes, kind: bytes) -> bytes:
    b = next(b for b in top_level(data) if b.type == kind)
    return replace_box(data, b, b"")


def move_moov_first(data: bytes) -> bytes:
    """``moov`` moved before ``mdat`` ("fast start", as phones and web exports write it)."""
    moov = next(b for b in top_level(data) if b.type == b"moov")
    mdat_at = _mdat_start(data)
    assert moov.offset > mdat_at, "moov is first already"
    raw = data[moov.offset:moov.end]
    without = data[:moov.offset] + data[moov.end:]
    out = without[:mdat_at] + raw + without[mdat_at:]
    return shift_chunk_offsets(out, moov.size)


def to_co64(data: bytes) -> bytes:
    """Every ``stco`` rewritten as ``co64`` (64-bit chunk offsets, as long recordings have);
    the parents' sizes grow with it. ``moov`` must be last or the offsets are patched."""
    out = data
    while True:
        stcos = find_all(out, b"stco")
        if not stcos:
            return out
        b = stcos[0]
        count = struct.unpack(">I", out[b.payload + 4:b.payload + 8])[0]
        offsets = struct.unpack(f">{count}I", out[b.payload + 8:b.payload + 8 + 4 * count])
        new = full_box(b"co64", 0, 0, struct.pack(">I", count) + struct.pack(f">{count}Q", *offsets))
        out = replace_nested(out, b, new)


def replace_nested(data: bytes, old: Box, new: bytes) -> bytes:
    """Replace a box at any depth, growing every enclosing box (32-bit sizes) and patching
    chunk offsets if the bytes before the media data changed length."""
    delta = len(new) - old.size
    out = bytearray(data[:old.offset] + new + data[old.end:])

    def grow(boxes: list[Box]) -> None:
        for b in boxes:
            if b.offset < old.offset and old.end <= b.end and b.type in CONTAINERS | {b"moov"}:
                assert b.header == 8
                struct.pack_into(">I", out, b.offset, b.size + delta)
                grow(children(data, b))
    grow(top_level(data))
    result = bytes(out)
    if delta and old.offset < _mdat_start(data):
        result = shift_chunk_offsets(result, delta)
    return result


def mdat_to_end(data: bytes) -> bytes:
    """The last box, ``mdat``, with size 0: "to the end of the file" (as some recorders
    write it while recording)."""
    last = top_level(data)[-1]
    assert last.type == b"mdat" and last.header == 8
    return data[:last.offset] + struct.pack(">I", 0) + data[last.offset + 4:]


def mdat_64bit(data: bytes) -> bytes:
    """``mdat`` with a 64-bit size (size field 1, then the size in 8 bytes)."""
    mdat = next(b for b in top_level(data) if b.type == b"mdat")
    assert mdat.header == 8
    new_header = struct.pack(">I4sQ", 1, b"mdat", mdat.size + 8)
    out = data[:mdat.offset] + new_header + data[mdat.payload:]
    return shift_chunk_offsets(out, 8)


# -- files PyAV writes with options tests.support.media does not take -----------------------

@lru_cache(maxsize=16)
def encoded(seconds: float = 150, width: int = 1280, height: int = 720, *, movflags: str | None = None,
            codec: str = "libx264", codec_tag: str | None = None, second_video: tuple[int, int] | None = None,
            audio: bool = False, container: str = "mp4", fragment_seconds: float | None = None) -> bytes:
    """A real MP4 (1 fps, like ``media.mp4``) with muxer options: ``movflags`` such as
    "faststart" or "frag_keyframe+empty_moov+default_base_moof" (fragmented); ``codec_tag``
    "hvc1"/"hev1" for HEVC; ``second_video`` (width, height): a second video track after
    the first; ``audio``: a silent AAC track too (interleaved with the video);
    ``container="mov"``: QuickTime's muxer (brand ``qt  ``); ``fragment_seconds``: with
    fragmenting ``movflags``, a fragment at least every so many seconds (keyframes or not)."""
    import av  # test-only dependency

    fd, name = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        options = {"movflags": movflags} if movflags else {}
        if fragment_seconds is not None:
            options["frag_duration"] = str(round(fragment_seconds * 1_000_000))
        with av.open(name, "w", format=container, options=options) as out:
            sizes = [(width, height)] + ([second_video] if second_video else [])
            streams = [_video_stream(out, codec, w, h, codec_tag) for w, h in sizes]
            sound = out.add_stream("aac", rate=44100) if audio else None
            frames = [av.VideoFrame.from_image(_picture(w, h)).reformat(format="yuv420p") for w, h in sizes]
            total_ms = round(seconds * 1000)
            for start in range(0, total_ms, 1000):
                for stream, frame in zip(streams, frames):
                    frame.pts, frame.time_base = start, Fraction(1, 1000)
                    _mux(out, stream.encode(frame), start, total_ms)
                if sound is not None:
                    _mux_audio(out, sound, start)
            for stream in streams:
                _mux(out, stream.encode(None), total_ms, total_ms)
            if sound is not None:
                for packet in sound.encode(None):
                    out.mux(packet)
        with open(name, "rb") as f:
            return f.read()
    finally:
        os.unlink(name)


def _picture(width: int, height: int):
    from PIL import Image
    gradient = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                               Image.new("L", (width, height), 96)))


def _video_stream(out, codec: str, width: int, height: int, codec_tag: str | None):
    stream = out.add_stream(codec, rate=1)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "35"}
    elif codec == "libx265":
        stream.options = {"preset": "ultrafast", "x265-params": "log-level=none"}
    if codec_tag:
        stream.codec_tag = codec_tag
    return stream


def _mux(out, packets, start: int, total_ms: int) -> None:
    for packet in packets:
        # the muxer takes a track's length from its last packet's duration
        packet.duration = min(1000, total_ms - packet.pts) if packet.pts is not None else 1000
        out.mux(packet)


def _mux_audio(out, sound, start_ms: int) -> None:
    import av
    for i in range(start_ms * 44100 // 1000 // 1024, (start_ms + 1000) * 44100 // 1000 // 1024):
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.sample_rate, frame.pts = 44100, i * 1024
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        for packet in sound.encode(frame):
            out.mux(packet)


# -- more rewrites ------------------------------------------------------------------------------

def _u32_at(data: bytearray, at: int, value: int) -> None:
    struct.pack_into(">I", data, at, value)


def set_presentation(data: bytes, seconds: float) -> bytes:
    """The movie trimmed by its edit list to ``seconds`` (the media stays whole), as
    editors that trim without re-encoding write it: the video's ``elst`` entry, the
    ``tkhd`` and the ``mvhd`` durations say ``seconds``. Version-0 boxes only."""
    out = bytearray(data)
    mvhd = find_all(data, b"mvhd")[0]
    timescale = struct.unpack(">I", data[mvhd.payload + 12:mvhd.payload + 16])[0]
    duration = round(seconds * timescale)
    _u32_at(out, mvhd.payload + 16, duration)
    for tkhd in find_all(data, b"tkhd"):
        _u32_at(out, tkhd.payload + 20, duration)
    for elst in find_all(data, b"elst"):
        _u32_at(out, elst.payload + 8, duration)  # the first entry's segment duration
    return bytes(out)


def init_segment_only(data: bytes) -> bytes:
    """A fragmented file with its fragments gone: ``ftyp`` and ``moov`` (an empty index
    that announces fragments), as a recording killed right after it started leaves it."""
    keep = [b for b in top_level(data) if b.type not in (b"moof", b"mdat", b"mfra")]
    return b"".join(data[b.offset:b.end] for b in keep)


def move_ftyp_after(data: bytes, kind: bytes) -> bytes:
    """``ftyp`` moved after the first top-level box of ``kind`` (the chunk offsets follow)."""
    ftyp = next(b for b in top_level(data) if b.type == b"ftyp")
    raw = data[ftyp.offset:ftyp.end]
    without = remove_top_level(data, b"ftyp")
    index = next(i for i, b in enumerate(top_level(without)) if b.type == kind)
    return insert_top_level(without, index + 1, raw)


def samsung_trailer() -> bytes:
    """A Samsung "SEF" trailer as Galaxy phones append it after the last box: data blocks,
    a directory (``SEFH``), the directory's length and ``SEFT``."""
    data = b"\x00\x00\x90\x08" + struct.pack("<I", 15) + b"SlowMotion_Data" + b"0:1000:1"
    directory = b"SEFH" + struct.pack("<II", 106, 1) + b"\x00\x00\x90\x08" + struct.pack("<II", len(data) + 24,
                                                                                      len(data))
    return data + directory + struct.pack("<I", len(directory)) + b"SEFT"
