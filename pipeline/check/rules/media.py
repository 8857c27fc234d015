"""Media checks (spec section 3): every photo and video in the 理论/ and 实操/ folders, and
the online-platform screenshots, measured once (both cores) and judged by the policy.

The measuring is :mod:`pipeline.check.measure` (which also decides which files are
measured as what); this module hands their problems to the check loop. The measurements
also feed the receipt's manifest (format, width, height, duration).
"""

from __future__ import annotations

from typing import Iterable

from pipeline.check.catalogue import Problem

def check_media(view) -> Iterable[Problem]:  # type: ignore[no-untyped-def]
    """Every IMG_*/VID_*/W_VIDEO_CODEC problem of every measured file, in path order."""
    for path in sorted(view.measurements):
        yield from view.measurements[path].problems


MEDIA_CHECKS = (check_media,)
