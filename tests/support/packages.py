"""Build report packages (spec sections 2-4) for tests: a correct one by default, then
remove, rename, add or replace files to make the fault a test is about.

Typical use::

    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 12)])
    b.remove("育婴师初级/理论/育婴师初级理论5.jpg")
    b.rename("车工中级", "车工四级")
    zip_path = b.to_zip(tmp_path / f"{b.root}.zip")

Paths given to the editing methods are *relative to the level-1 folder* (``b.root``);
:meth:`add_outside` places entries beside it. The plan (``b.plan``, a dict) is rendered
when the package is built, so edit it freely before; so are the other forms
(``b.forms["育婴师初级/签到表.json"]``, dicts keyed by path). They come from
:func:`pipeline.kit.example.sample_forms` and pass every form rule (spec section 4) until
edited: the report date is the ``date`` argument, the plan runs 2026-10-08..2026-11-10
for the default 20261120. Photo and video bytes come from the
``photo`` / ``video`` callables, called with the file's name (``育婴师初级理论1.jpg``) at
build time only; real JPEG/MP4 makers plug in there, e.g.
``PackageBuilder(photo=lambda name: media.jpeg(), video=lambda name: media.mp4())``.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Union

from pipeline.kit.example import form_bytes, sample_forms
from pipeline.check.layout import parse_root_date

Content = Union[bytes, Callable[[], bytes]]

MEDIA_SUFFIXES = (".jpg", ".jpeg", ".mp4", ".png", ".mov")


def fake_photo(name: str) -> bytes:
    """Tiny stand-in bytes for a photo: a JPEG start and end marker around the name."""
    return b"\xff\xd8\xff\xe0" + name.encode("utf-8") + b"\xff\xd9"


def fake_video(name: str) -> bytes:
    """Tiny stand-in bytes for a video: an ISO BMFF ftyp box followed by the name."""
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + name.encode("utf-8")


def real_photo(name: str) -> bytes:
    """A real 1920×1080 JPEG (cached): passes every photo rule."""
    from tests.support import media
    return media.jpeg()


def real_video(name: str) -> bytes:
    """A real 150 s 1280×720 H.264 MP4 at 1 fps (cached, ~20 KB): passes every video rule."""
    from tests.support import media
    return media.mp4()


def real_screenshot(name: str) -> bytes:
    from tests.support import media
    return media.png(800, 600)


def _json(value: Any) -> bytes:
    return form_bytes(value)


def report_day(written: str) -> datetime.date:
    """The report date a level-1 name's date part stands for: ``20261120``, ``2026-11-20``
    or ``2026年11月20日``; anything else (an impossible or missing date, which some tests
    are about) falls back to 2026-11-20 so that the forms still have sensible dates."""
    parsed = parse_root_date("机构" + written)
    day = parsed[2] if parsed else None
    return day or datetime.date(2026, 11, 20)


class PackageBuilder:
    """A report package as ``{path below level 1: bytes}``, correct unless edited."""

    def __init__(self, institution: str = "新城区星火职业培训学校", date: str = "20261120",
                 trainings: Iterable[tuple[str, str, int]] = (("育婴师", "初级", 20),),
                 theory_mode: Iterable[str] = ("offline",), practice_mode: Iterable[str] = ("offline",),
                 *, photo: Callable[[str], bytes] = real_photo, video: Callable[[str], bytes] = real_video,
                 screenshot: Callable[[str], bytes] = real_screenshot,
                 photos: int = 5, videos: int = 3, screenshots: int = 2, pledge_scan: bool = True,
                 tag: str = "") -> None:
        self.institution, self.date = institution, date
        self.trainings = [tuple(t) for t in trainings]
        self.theory_mode, self.practice_mode = list(theory_mode), list(practice_mode)
        self.photo, self.video = photo, video
        online = "online" in self.theory_mode + self.practice_mode
        #: every form as a dict (example.sample_forms: correct and consistent), rendered
        #: when the package is built, so tests may edit them first; ``self.plan`` is the
        #: same object as ``self.forms["培训方案.json"]``
        #: (the optional 实操设备设施.json is left out, as a package may well have none)
        self.forms: dict[str, Any] = {
            path: form for path, form in sample_forms(institution, report_day(date), self.trainings,
                                                      self.theory_mode, self.practice_mode, tag=tag).items()
            if not path.endswith("/实操设备设施.json")}
        self.plan: dict[str, Any] = self.forms["培训方案.json"]
        self.files: dict[str, Content] = {"培训方案.json": lambda: _json(self.plan)}
        for path in self.forms:
            if path != "培训方案.json":
                self.files[path] = (lambda p=path: _json(self.forms[p]))
        if pledge_scan:
            self.files["诚信承诺书.pdf"] = b"%PDF-1.4\n% placeholder scan\n%%EOF\n"
        for occupation, level, _ in self.trainings:
            folder = occupation + level
            if online:
                for n in range(1, screenshots + 1):
                    self.files[f"{folder}/线上培训截图{n}.png"] = screenshot(f"线上培训截图{n}.png")
            for section in ("理论", "实操"):
                for n in range(1, photos + 1):
                    self.add_photo(f"{folder}/{section}/{folder}{section}{n}.jpg")
                for n in range(1, videos + 1):
                    self.add_video(f"{folder}/{section}/{folder}{section}{n}.mp4")
        self.outside: dict[str, Content] = {}

    # -- names ----------------------------------------------------------------------------
    @property
    def root(self) -> str:
        """The level-1 folder name: institution + date."""
        return self.institution + self.date

    def folder(self, index: int = 0) -> str:
        """The level-2 folder name of the ``index``-th training."""
        occupation, level, _ = self.trainings[index]
        return occupation + level

    def media(self, section: str = "理论", n: int = 1, ext: str = ".jpg", index: int = 0) -> str:
        """Path of a media file: ``media("实操", 2, ".mp4")`` -> ``育婴师初级/实操/育婴师初级实操2.mp4``."""
        folder = self.folder(index)
        return f"{folder}/{section}/{folder}{section}{n}{ext}"

    # -- editing ---------------------------------------------------------------------------
    def add(self, path: str, data: Content = b"placeholder") -> "PackageBuilder":
        if path in self.files:
            raise KeyError(f"{path} already exists; use replace()")
        self.files[path] = data
        return self

    def add_photo(self, path: str) -> "PackageBuilder":
        """A photo at ``path`` whose bytes come from ``self.photo(file name)``."""
        name = path.rsplit("/", 1)[-1]
        return self.add(path, lambda: self.photo(name))

    def add_video(self, path: str) -> "PackageBuilder":
        name = path.rsplit("/", 1)[-1]
        return self.add(path, lambda: self.video(name))

    def replace(self, path: str, data: Content) -> "PackageBuilder":
        if path not in self.files:
            raise KeyError(path)
        self.files[path] = data
        return self

    def remove(self, path: str) -> "PackageBuilder":
        """Remove a file, or a folder with everything in it."""
        doomed = [p for p in self.files if p == path or p.startswith(path.rstrip("/") + "/")]
        if not doomed:
            raise KeyError(path)
        for p in doomed:
            del self.files[p]
        return self

    def rename(self, old: str, new: str) -> "PackageBuilder":
        """Rename (or move) a file, or a folder with everything in it."""
        old, new = old.rstrip("/"), new.rstrip("/")
        moved = {p: new + p[len(old):] for p in self.files if p == old or p.startswith(old + "/")}
        if not moved:
            raise KeyError(old)
        for src, dst in moved.items():
            if dst in self.files and dst not in moved:
                raise KeyError(f"{dst} already exists")
        contents = {dst: self.files.pop(src) for src, dst in moved.items()}
        self.files.update(contents)
        return self

    def add_outside(self, path: str, data: Content = b"placeholder") -> "PackageBuilder":
        """An archive entry beside the level-1 folder (full path inside the ZIP)."""
        self.outside[path] = data
        return self

    # -- output ----------------------------------------------------------------------------
    def build(self, flat: bool = False) -> dict[str, bytes]:
        """{path inside the ZIP: bytes}; ``flat`` leaves out the level-1 folder."""
        prefix = "" if flat else self.root + "/"
        out = {prefix + p: (c() if callable(c) else c) for p, c in self.files.items()}
        out.update({p: (c() if callable(c) else c) for p, c in self.outside.items()})
        return out

    def zip_bytes(self, flat: bool = False, store_media: bool = True) -> bytes:
        """The ZIP: UTF-8 names, media stored (as cameras' files usually are), forms
        deflated."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for path, data in sorted(self.build(flat).items()):
                media = path.lower().endswith(MEDIA_SUFFIXES)
                method = zipfile.ZIP_STORED if media and store_media else zipfile.ZIP_DEFLATED
                info = zipfile.ZipInfo(path, date_time=(2026, 11, 20, 9, 0, 0))
                info.compress_type = method
                info.external_attr = 0o100644 << 16
                zf.writestr(info, data)
        return buf.getvalue()

    def to_zip(self, path: Path | str, flat: bool = False, store_media: bool = True) -> Path:
        """Write the ZIP to ``path`` (a flat archive's level-1 name is this file's name)."""
        path = Path(path)
        path.write_bytes(self.zip_bytes(flat, store_media))
        return path


def sample_package(tag: str = "", **kwargs: Any) -> bytes:
    """A correct package's ZIP bytes; different ``tag`` values give different bytes."""
    return PackageBuilder(tag=tag, **kwargs).zip_bytes()
