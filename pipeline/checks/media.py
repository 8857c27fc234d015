"""Media checks (spec section 3): every photo and video in the 理论/ and 实操/ folders, and
the online-platform screenshots, measured once (both cores) and judged by the policy.

The measuring is :mod:`pipeline.media`; this module only decides which files are
measured as what, and hands their problems to the check loop. The measurements also feed
the receipt's manifest (format, width, height, duration).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from pipeline.catalogue import Problem
from pipeline.layout import SCREENSHOT_STEM, Layout, split_ext
from pipeline.logs import ProgressLog
from pipeline.media import Measurement, measure_many

SCREENSHOT_EXTS = (".jpg", ".jpeg", ".png")
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


def check_media(view) -> Iterable[Problem]:  # type: ignore[no-untyped-def]
    """Every IMG_*/VID_*/W_VIDEO_CODEC problem of every measured file, in path order."""
    for path in sorted(view.measurements):
        yield from view.measurements[path].problems


MEDIA_CHECKS = (check_media,)
