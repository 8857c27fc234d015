"""Media measuring (spec section 3): what one photo, screenshot or video *is*.

A :class:`Measurement` holds facts only: the file's size, its format, its size as
displayed, its duration and codec, what its first bytes look like, and whether (and why
not) it is intact. Turning facts into problems (IMG_*, VID_*, W_VIDEO_CODEC) is the
judge's, :mod:`pipeline.check.rules.media`, which imports this module, never the
reverse. The receipt's manifest records :meth:`Measurement.manifest_fields`.

Photos (:mod:`.photos`) are read in this process: Pillow reads the header (the real
format comes from the bytes; the displayed size applies the EXIF orientation) and PNG
screenshots; JPEG data is decoded once at 1/8 scale by libjpeg-turbo in strict mode
(simplejpeg), so every byte of entropy-coded data is read and damage the decoder only
warns about is caught.

Videos (:mod:`.videos`) are parsed by libmediainfo (pymediainfo) in a child process with a time limit: a
malformed file that hangs or crashes the library is measured as damaged, and never takes
the worker down. A failure that is ours, not the file's (the library cannot load, the
child cannot start), raises :class:`ProbeUnavailable`.

What is measured how is an input here, not a judgement: the formats a file is read as
(:data:`~pipeline.check.contract.PHOTO_FORMATS`, ``SCREENSHOT_FORMATS``), the pixel count
beyond which a picture is never decoded (``photo_max_pixels``) and the probe's time limit
(``video_probe_timeout_seconds``). This package's module decides which files of a package
are measured as what (:func:`media_items`) and measures them on both cores
(:func:`measure_many`); the facts are :mod:`.facts`.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from pipeline.check.files import FileRange
from pipeline.check.contract import PHOTO, SCREENSHOT, SCREENSHOT_EXTS, SCREENSHOT_STEM, VIDEO
from pipeline.check.layout import Layout, split_ext
from pipeline.check.measure.facts import (BROKEN_HEADER, EMPTY_FILE, MISSING_MOOV, MP4_CONTAINERS, NO_PICTURE,
                                          NO_SIZE_OR_LENGTH, TRUNCATED_VIDEO, UNRECOGNISED_MP4, ZERO_FILLED_TAIL,
                                          Measurement, ProbeUnavailable, sniff_format)
from pipeline.check.measure.photos import measure_photo, measure_screenshot
from pipeline.check.measure.videos import VideoProbe, idle_probes, measure_video
from pipeline.check.policy import MediaRules
from pipeline.check.progress import ProgressLog

__all__ = ["Measurement", "ProbeUnavailable", "VideoProbe", "MP4_CONTAINERS", "measure_photo",
           "measure_screenshot", "measure_video", "measure_many", "measure_package_media", "media_items",
           "sniff_format", "warm_up", "BROKEN_HEADER", "EMPTY_FILE", "MISSING_MOOV", "NO_PICTURE", "NO_SIZE_OR_LENGTH",
           "TRUNCATED_VIDEO", "UNRECOGNISED_MP4", "ZERO_FILLED_TAIL"]


# -- many at once ------------------------------------------------------------------------

def measure_many(items: Sequence[tuple[str, Path | FileRange, str]], *, photo_max_pixels: int,
                 video_probe_timeout_seconds: float, workers: int = 2,
                 on_done: Callable[[], None] | None = None) -> dict[str, Measurement]:
    """Measure ``(kind, local path, key)`` items (kind: photo, screenshot or video; a video's
    path may be a :class:`FileRange`, a stored video inside its ZIP); keyed by key.

    Photos decode on ``workers`` threads (Pillow releases the GIL while decoding) while up
    to ``workers`` video probes run in child processes, so both kinds overlap and both
    cores are busy. Results come in the order of ``items``. An exception that is ours
    (:class:`ProbeUnavailable`, an unreadable path) propagates after all work is done.
    ``on_done`` is called (from any thread) as each file is measured: progress.
    """
    workers = max(1, workers)
    futures: dict[str, Future[Measurement]] = {}
    probes = idle_probes()

    def video(path: Path | FileRange) -> Measurement:
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



def warm_up(scratch: Path) -> None:
    """Do now what the first photo and the first video would do for the first time (load
    libjpeg-turbo and numpy, decode and hash; start the video threads' probe children, left
    idle in the pool); a small picture of our own is written in ``scratch`` for it and
    removed. See :func:`pipeline.check.assess.warm_up`."""
    import io
    import os

    from PIL import Image

    for _ in range(2):  # measure_many's two video threads
        probe = VideoProbe()
        probe.start()
        idle_probes().give_back(probe)
    # one small photo measured (decoded, hashed) in the measuring threads' way
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(picture, "JPEG")
    scratch.mkdir(parents=True, exist_ok=True)
    photo = scratch / f"warm-up-{os.getpid()}.jpg"
    try:
        photo.write_bytes(picture.getvalue())
        measure_photo(photo, 100_000)
    finally:
        photo.unlink(missing_ok=True)


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


def _source(kind: str, file: Any) -> Path | FileRange:
    """Where a file's content is: a video's may be a range of its ZIP (read in place)."""
    if kind == VIDEO:
        return file.content  # type: ignore[no-any-return]
    assert file.offset == 0, "only videos are read in place"
    return file.local_path  # type: ignore[no-any-return]


def measure_package_media(layout: Layout, rules: MediaRules, workers: int = 2) -> dict[str, Measurement]:
    """Measurements of every photo, video and screenshot, keyed by package path; the
    policy's ``rules`` give the measuring limits (pixels decoded, the probe's time)."""
    items = media_items(layout)
    progress = ProgressLog("media.progress", len(items))
    return measure_many(
        [(kind, _source(kind, file), path) for kind, path, file in items],
        photo_max_pixels=rules.photo_max_pixels,
        video_probe_timeout_seconds=rules.video_probe_timeout_seconds,
        workers=workers, on_done=progress.step)
