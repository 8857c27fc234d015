"""Media rules (spec section 3): every photo and video in the 理论/ and 实操/ folders, and
the online-platform screenshots, judged by the policy.

The measuring is :mod:`pipeline.check.measure` (which also decides which files are
measured as what): it records what each file *is*, once per package
(``PackageView.measurements``, which also feed the receipt's manifest). This module
turns those facts and the policy's :class:`~pipeline.check.policy.MediaRules` into the
problems ``IMG_SIZE, IMG_FORMAT, IMG_CORRUPT, IMG_RESOLUTION, VID_SIZE, VID_FORMAT,
VID_CORRUPT, VID_RESOLUTION, VID_DURATION`` and the warning ``W_VIDEO_CODEC``, and owns
their wording: the names of formats and codecs as institutions know them, durations as
editing apps show them.

Every fault of a file is reported, in a fixed order: its size, its format and damage,
then a photo's resolution or a video's duration, resolution and codec, as far as the
file could be measured (a picture that was not decoded has no resolution to judge, a
video in no recognised container nothing after its format or damage).

``pipeline media FILE...`` prints what a file measures as and its problems (for
operators).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from pipeline.check.catalogue import Problem, format_size, problem
from pipeline.check.contract import PHOTO, PHOTO_FORMATS, SCREENSHOT, SCREENSHOT_FORMATS, VIDEO
from pipeline.check.measure import MP4_CONTAINERS, Measurement
from pipeline.check.policy import MediaRules
from pipeline.check.view import PackageView

__all__ = ["check_media", "judge", "judge_photo", "judge_screenshot", "judge_video", "format_duration",
           "CHECKS_ON_MEDIA"]


def check_media(view: PackageView) -> Iterable[Problem]:
    """Every IMG_*/VID_*/W_VIDEO_CODEC problem of every measured file, in path order."""
    rules = view.policy.media
    for path in sorted(view.measurements):
        yield from judge(view.measurements[path], rules, path)


CHECKS_ON_MEDIA = (check_media,)


def judge(m: Measurement, rules: MediaRules, path: str) -> list[Problem]:
    """The problems of one measured file, by its kind (photo, screenshot or video)."""
    return _JUDGES[m.kind](m, rules, path)


# -- photos and screenshots --------------------------------------------------------------

def judge_photo(m: Measurement, rules: MediaRules, path: str) -> list[Problem]:
    """A photo's problems: IMG_SIZE, then IMG_CORRUPT or IMG_FORMAT (JPEG expected; an
    unusual JPEG variant is IMG_FORMAT too, to be re-saved as an ordinary JPEG), then
    IMG_RESOLUTION. ``path``: the package path; the messages name its last segment."""
    return _judge_picture(m, path, max_bytes=rules.photo_max_bytes, formats=PHOTO_FORMATS,
                          min_sides=(rules.min_long_side, rules.min_short_side))


def judge_screenshot(m: Measurement, rules: MediaRules, path: str) -> list[Problem]:
    """An online-platform screenshot's problems: like a photo's, with its own size limit,
    JPEG or PNG, and no resolution (the spec sets none)."""
    return _judge_picture(m, path, max_bytes=rules.screenshot_max_bytes, formats=SCREENSHOT_FORMATS,
                          min_sides=None)


def _judge_picture(m: Measurement, path: str, *, max_bytes: int, formats: Sequence[str],
                   min_sides: tuple[int, int] | None) -> list[Problem]:
    name = _file_name(path)
    problems: list[Problem] = []
    if m.size_bytes > max_bytes:
        problems.append(problem("IMG_SIZE", path, name=name, size=format_size(m.size_bytes),
                                limit=format_size(max_bytes), size_bytes=m.size_bytes, limit_bytes=max_bytes))
    if m.damage is not None:
        problems.append(problem("IMG_CORRUPT", path, name=name, detail=m.damage))
    elif m.variant is not None:  # a JPEG, but of a kind few programs open: never decoded
        expected = " 或 ".join(dict.fromkeys(_ORDINARY_JPEG if f.upper() == "JPEG" else f.upper()
                                            for f in formats))
        problems.append(problem("IMG_FORMAT", path, name=name, detected=_friendly_variant(m.variant),
                                expected=expected))
    elif not m.format_recognised:
        expected = " 或 ".join(dict.fromkeys(f.upper() for f in formats))
        problems.append(problem("IMG_FORMAT", path, name=name, detected=_friendly_format(m.detected),
                                expected=expected))
    # the size of a picture that was not decoded (a broken header, too many pixels) is
    # no resolution to judge: its damage is the fault
    if m.decoded and min_sides is not None and _smaller_than(m, *min_sides):
        problems.append(_resolution_problem("IMG_RESOLUTION", m, path, name, *min_sides))
    return problems


# -- videos ------------------------------------------------------------------------------

def judge_video(m: Measurement, rules: MediaRules, path: str) -> list[Problem]:
    """A video's problems: VID_SIZE, then VID_FORMAT (not MP4, or MOV when the policy
    refuses it) and VID_CORRUPT (damage, else data after the end of the MP4), then
    VID_DURATION, VID_RESOLUTION and the W_VIDEO_CODEC warning. ``path``: the package
    path; the messages name its last segment."""
    name = _file_name(path)
    problems: list[Problem] = []
    if m.size_bytes > rules.video_max_bytes:
        problems.append(problem("VID_SIZE", path, name=name, size=format_size(m.size_bytes),
                                limit=format_size(rules.video_max_bytes), size_bytes=m.size_bytes,
                                limit_bytes=rules.video_max_bytes))
    if not m.format_recognised:  # no container: either damaged, or bytes of another kind
        if m.damage is not None:
            problems.append(problem("VID_CORRUPT", path, name=name, detail=m.damage))
        else:
            problems.append(problem("VID_FORMAT", path, name=name, detected=_friendly_format(m.detected)))
        return problems
    if (m.quicktime and rules.refuse_mov) or m.format not in MP4_CONTAINERS:
        problems.append(problem("VID_FORMAT", path, name=name, detected=_friendly_format(m.format)))
    if m.damage is not None:
        problems.append(problem("VID_CORRUPT", path, name=name, detail=m.damage))
    elif m.trailing_bytes:
        problems.append(problem("VID_CORRUPT", path, name=name, detail=_trailing_detail(m.trailing_bytes),
                                trailing_bytes=m.trailing_bytes))
    if m.duration is not None and m.has_video_track and not _duration_ok(m.duration, rules):
        problems.append(problem("VID_DURATION", path, name=name,
                                duration=f"{format_duration(m.duration)}（{m.duration:.1f} 秒）",
                                min=format_duration(rules.video_min_seconds),
                                max=format_duration(rules.video_max_seconds),
                                seconds=m.duration, min_seconds=rules.video_min_seconds,
                                max_seconds=rules.video_max_seconds))
    min_sides = (rules.min_long_side, rules.min_short_side)
    if _smaller_than(m, *min_sides):
        problems.append(_resolution_problem("VID_RESOLUTION", m, path, name, *min_sides))
    if m.codec and m.codec.casefold() != rules.preferred_video_codec.casefold():
        problems.append(problem("W_VIDEO_CODEC", path, name=name, codec=_friendly_codec(m.codec),
                                preferred=_friendly_codec(rules.preferred_video_codec)))
    return problems


def _trailing_detail(n: int) -> str:
    """Data after the end of an otherwise intact MP4. Decision: a fault (VID_CORRUPT), not
    a warning: an evidence archive keeps no unexplained bytes, and whatever appended them
    (a download tool, a broken copy or merge) may have damaged more; re-exporting the
    video is a fix a clerk can ask for. Zero padding and phones' known trailers are not
    counted (the measurement leaves them out)."""
    amount = f"{n} 字节" if n < 1024 else f"{n} 字节（{format_size(n)}）"
    return f"视频文件末尾有 {amount}不属于视频的数据"


def _duration_ok(seconds: float, rules: MediaRules) -> bool:
    tolerance = rules.duration_tolerance_seconds
    return (rules.video_min_seconds - tolerance - 1e-9 <= seconds
            <= rules.video_max_seconds + tolerance + 1e-9)


_JUDGES: dict[str, Callable[[Measurement, MediaRules, str], list[Problem]]] = {
    PHOTO: judge_photo, SCREENSHOT: judge_screenshot, VIDEO: judge_video,
}


# -- shared by both ----------------------------------------------------------------------

def _file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _smaller_than(m: Measurement, min_long: int, min_short: int) -> bool:
    """The displayed size is known and its long or short side is below the minimum."""
    if m.width is None or m.height is None:
        return False
    return max(m.width, m.height) < min_long or min(m.width, m.height) < min_short


def _resolution_problem(code: str, m: Measurement, path: str, name: str, min_long: int,
                        min_short: int) -> Problem:
    return problem(code, path, name=name, width=m.width, height=m.height, min_long=min_long,
                   min_short=min_short)


# -- wording: names and lengths as the institutions know them ----------------------------

_UNKNOWN = "未知格式"
_FORMATS = {  # mediainfo / sniffed names as institutions know them
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


def _friendly_format(name: str | None) -> str:
    """A measured format's name as institutions know it ("QuickTime（MOV）"); 未知格式 for None."""
    return _FORMATS.get(name, name) if name else _UNKNOWN


#: what a JPEG variant is to be re-saved as: what cameras, phones and editors write
_ORDINARY_JPEG = "普通 JPEG（基线或渐进式）"
_VARIANTS = {  # Measurement.variant, as the message names it
    "arithmetic": "算术编码的 JPEG",
    "lossless": "无损压缩的 JPEG",
    "hierarchical": "分层编码的 JPEG",
    "JPEG-LS": "JPEG-LS",
}


def _friendly_variant(variant: str) -> str:
    """A JPEG variant's name for the message: "算术编码的 JPEG（不常见的 JPEG 变体）";
    "<n>-bit" is "<n> 位色深的 JPEG"."""
    bits = variant.removesuffix("-bit")
    name = f"{bits} 位色深的 JPEG" if bits != variant else _VARIANTS.get(variant, variant)
    return f"{name}（不常见的 JPEG 变体）"


def _friendly_codec(name: str) -> str:
    """A codec's name as editing apps show it ("H.264（AVC）")."""
    return _CODECS.get(name, name)


def format_duration(seconds: float) -> str:
    """1分59.4秒, 2分钟, 45 秒: how the institutions' editing apps show a length."""
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    secs = f"{rest / 10:g}"
    if minutes == 0:
        return f"{secs} 秒"
    return f"{minutes}分钟" if rest == 0 else f"{minutes}分{secs}秒"


# -- for operators -----------------------------------------------------------------------

#: files the tool measures as videos; anything else is measured as a photo
