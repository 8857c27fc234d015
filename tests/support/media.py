"""Real test media: JPEG/PNG/WebP/GIF photos (Pillow) and MP4/MOV videos (PyAV + libx264).

Every maker returns the file's bytes and is cached on its parameters, so a suite that asks
for the same photo fifty times encodes it once. Treat the result as read-only (it is
``bytes``). Typical use::

    (tmp_path / "育婴师初级理论1.jpg").write_bytes(media.jpeg())
    (tmp_path / "育婴师初级理论1.mp4").write_bytes(media.mp4(150))

Defaults pass the default policy: a 1920×1080 JPEG of ~65 KB, a 150 s 1280×720 H.264 MP4
of ~20 KB (encoded in under a second).
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from fractions import Fraction
from functools import lru_cache

from PIL import Image

__all__ = ["jpeg", "png", "webp", "gif", "mp4", "audio_mp4", "jpeg_claiming", "truncated", "without_moov",
           "random_bytes"]


def _picture(width: int, height: int, noise: bool) -> Image.Image:
    """A picture with some structure (a gradient), or incompressible noise."""
    if noise:
        return Image.frombytes("RGB", (width, height), random.Random(width * 7919 + height).randbytes(width * height * 3))
    gradient = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                               Image.new("L", (width, height), 96)))


@lru_cache(maxsize=64)
def jpeg(width: int = 1920, height: int = 1080, *, quality: int = 85,
         exif_orientation: int | None = None, noise: bool = False) -> bytes:
    """A real baseline JPEG of ``width``×``height`` stored pixels.

    ``exif_orientation`` writes EXIF tag 0x0112 (the pixels are not rotated: a phone's
    portrait photo is stored landscape with orientation 6). ``noise=True`` fills it with
    random pixels, so it is as large as a real photo: 1920×1080 at quality 95 is ~2.5 MB.
    """
    im = _picture(width, height, noise)
    kwargs: dict[str, object] = {"quality": quality}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


@lru_cache(maxsize=16)
def png(width: int = 1920, height: int = 1080) -> bytes:
    buf = io.BytesIO()
    _picture(width, height, False).save(buf, "PNG")
    return buf.getvalue()


@lru_cache(maxsize=16)
def webp(width: int = 1920, height: int = 1080) -> bytes:
    buf = io.BytesIO()
    _picture(width, height, False).save(buf, "WEBP", quality=60)
    return buf.getvalue()


@lru_cache(maxsize=16)
def gif(width: int = 1920, height: int = 1080) -> bytes:
    buf = io.BytesIO()
    _picture(width, height, False).convert("P").save(buf, "GIF")
    return buf.getvalue()


@lru_cache(maxsize=64)
def mp4(seconds: float = 150, width: int = 1280, height: int = 720, *, fps: int = 1,
        codec: str = "libx264", rotation: int | None = None, container: str = "mp4") -> bytes:
    """A real video of ``seconds`` (any fraction: 119.6 works) with one video track.

    ``codec`` is an FFmpeg encoder bundled with PyAV: "libx264" → AVC; "libx265" → HEVC
    (what iPhones record); "mpeg4" → MPEG-4 Visual. ``rotation`` (degrees, 90/180/270) writes a
    display matrix, as phones do for portrait videos; mediainfo then reports
    ``Rotation`` = ``f"{rotation}.000"``. ``container="mov"`` writes QuickTime (major brand "qt  ").
    150 s at 1 fps 1280×720 H.264 takes well under a second and weighs ~20 KB.
    """
    import av  # test-only dependency

    # Frames on a millisecond time base; the packets' durations (the last one shortened)
    # make the track end exactly at ``seconds`` (frame.duration alone is ignored).
    total_ms = round(seconds * 1000)
    step_ms = round(1000 / fps)
    starts = list(range(0, total_ms, step_ms)) or [0]
    fd, name = tempfile.mkstemp(suffix="." + container)
    os.close(fd)
    try:
        with av.open(name, "w", format=container) as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
            if codec == "libx264":
                stream.options = {"preset": "ultrafast", "crf": "35"}
            if rotation is not None:
                # PyAV's degrees are counter-clockwise; negated, the file says what
                # mediainfo reports as "Rotation" (and ffprobe as rotate=-rotation)
                stream.set_display_rotation(-rotation)
            frame = av.VideoFrame.from_image(_picture(width, height, False)).reformat(format="yuv420p")
            ends = starts[1:] + [total_ms]
            durations = {start: end - start for start, end in zip(starts, ends)}

            def mux(packets: list) -> None:
                for packet in packets:
                    # the muxer takes a track's length from its last packet's duration
                    packet.duration = durations.get(packet.pts, step_ms)
                    out.mux(packet)

            for start in starts:  # the encoder copies the frame: one object serves all
                frame.pts = start
                frame.time_base = Fraction(1, 1000)
                mux(stream.encode(frame))
            mux(stream.encode(None))
        with open(name, "rb") as f:
            return f.read()
    finally:
        os.unlink(name)


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` fraction of ``data``: an interrupted copy or upload."""
    return data[: max(1, int(len(data) * keep))]


def without_moov(data: bytes) -> bytes:
    """An MP4 whose top-level ``moov`` box is gone (recording app killed before it wrote
    the index): the ``ftyp`` and ``mdat`` boxes stay, byte for byte."""
    out, pos = bytearray(), 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        elif size == 0:
            size = len(data) - pos
        if kind != b"moov":
            out += data[pos:pos + size]
        pos += size
    return bytes(out)


def random_bytes(n: int = 200_000, seed: int = 1) -> bytes:
    """``n`` reproducible random bytes: a file that is no media format at all."""
    return random.Random(seed).randbytes(n)


@lru_cache(maxsize=8)
def audio_mp4(seconds: float = 150) -> bytes:
    """An MP4 (isom) with one silent AAC track and no video: "a video without a picture"."""
    import av

    fd, name = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with av.open(name, "w", format="mp4") as out:
            stream = out.add_stream("aac", rate=44100)
            for i in range(int(seconds * 44100 / 1024)):
                frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                frame.sample_rate = 44100
                frame.pts = i * 1024
                frame.planes[0].update(bytes(frame.planes[0].buffer_size))
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        with open(name, "rb") as f:
            return f.read()
    finally:
        os.unlink(name)


@lru_cache(maxsize=8)
def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF) claims ``width``×``height``: a
    decompression bomb's header, a few KB that would decode to gigabytes."""
    data = bytearray(jpeg(64, 64))
    pos = 2
    while pos + 4 <= len(data):
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            data[pos + 5:pos + 7] = height.to_bytes(2, "big")
            data[pos + 7:pos + 9] = width.to_bytes(2, "big")
            return bytes(data)
        pos += 2 + length
    raise AssertionError("no SOF segment")  # pragma: no cover
