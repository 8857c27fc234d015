"""Hypothesis strategies for fuzzing the checker (issue 7, item 3): uploads built to break it.

Three families, each drawing an :class:`Upload` (the bytes, the name it arrives under and
a short recipe of how it was made, shown when an example fails):

- :func:`hostile_zips`: archives crafted from scratch byte by byte with
  :mod:`tests.support.zipcraft`: random entry names (any Unicode but surrogates, control
  characters and NUL included; ``..``, ``.``, absolute, drive letters, UNC and backslash
  tricks, very long names, junk names, case/NFC twins of another entry, "a" beside
  "a/b"), in random encodings (UTF-8 with or without flag 11, GBK/GB18030 or cp437
  without it, invalid UTF-8 under the flag, raw bytes, Info-ZIP 0x7075 fields with a
  right or wrong CRC or version, malformed extra fields), symlink / directory / random
  Unix modes, random flags (encrypted, strong encryption, patched, data descriptor),
  random compression methods and "version needed", lying CRCs and sizes (compressed and
  uncompressed, ZIP64 ones too), entries sharing one local header (overlap), local
  headers naming another file, lying end records (entry count, directory offset),
  comments, and then the whole archive truncated, extended, prefixed or patched (half
  of the archives keep an honest structure, so that what is hostile in the names is not
  hidden behind a corrupt directory); plus plain random bytes, other formats' magic
  numbers, hostile entries mixed into a complete valid package, and odd but safe names
  (any script, GBK, 0x7075) added to one, so that they meet the deep checks too.
- :func:`mutated_packages`: a complete valid package (``PackageBuilder``, one training,
  small real JPEG/MP4 media) mutated: bytes flipped, set, inserted or deleted at random
  offsets of the ZIP (uniformly, or next to a record signature where the structure
  is), or cut short; entries dropped, duplicated (same name, case or NFC twin), renamed
  (hostile name, another folder, swapped with another), reordered, their method
  changed, their content replaced by random bytes or by known-nasty media (a JPEG whose
  header claims 60000×60000, an MP4 without ``moov``, truncated media, a QuickTime
  file, PNG), or their content mutated (flipped / inserted / deleted / truncated bytes,
  CRC kept right so the damage reaches Pillow and libmediainfo).
- :func:`form_packages`: the valid package with some forms replaced: by random JSON
  (``st.recursive``: NaN and infinities, huge integers, any text, nesting), by "near
  valid" mutations of the real sample form (a key deleted, a value's type changed,
  huge numbers and ``NaN``/``1e400``/5000-digit literals, deep nesting up to 100 000
  levels, long strings, 身份证号- and mobile-like strings in one or in every field and as
  keys, full-width digits, broken dates, unknown keys, a value moved), by broken JSON
  text (a character deleted or inserted, full-width punctuation, a trailing comma, cut
  short), in other encodings (BOM, GBK, UTF-16, invalid bytes), another form's content,
  or removed.

Everything is kept small (a 1-training seed of ~300 KB; contents of at most a few KB),
so one example costs tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Callable

from hypothesis import strategies as st

from pipeline.kit.example import form_bytes
from pipeline.check.identity import make_id_number
from tests.support import media
from tests.support import zipcraft as zc
from tests.support.packages import MEDIA_SUFFIXES, PackageBuilder

__all__ = ["Upload", "Seed", "seed", "TODAY", "ROOT", "hostile_zips", "mutated_packages",
           "form_packages", "json_values", "hostile_names", "id_like_strings", "build_zip"]

TODAY = date(2026, 11, 27)  # the day of checking: a week after the seed's report date
ROOT = "新城区星火职业培训学校20261120"


class Upload:
    """One generated upload. ``recipe`` says how it was made (shown on failure, with the
    size and SHA-256; the failing test also saves the bytes). Not a dataclass, so that
    Hypothesis prints this short repr, not the bytes."""

    __slots__ = ("data", "name", "recipe")

    def __init__(self, data: bytes, name: str, recipe: tuple[str, ...]) -> None:
        self.data = data
        self.name = name  # the package's file name, as the inbox or ``pipeline check`` sees it
        self.recipe = recipe

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def __repr__(self) -> str:
        return (f"Upload(name={self.name!r}, size={len(self.data)}, sha256={self.sha256[:16]}…, "
                f"recipe={list(self.recipe)!r})")


# ---------------------------------------------------------------------------------------
# the seed: a complete, valid package, small


def _small_photo(name: str) -> bytes:
    return media.jpeg(1280, 720, quality=20)  # the smallest photo the policy accepts


def _small_video(name: str) -> bytes:
    return media.mp4()  # 150 s 1280×720 at 1 fps: ~20 KB


def _small_screenshot(name: str) -> bytes:
    return media.png(320, 240)


@dataclass(frozen=True)
class Seed:
    """A valid package: its files (full path inside the ZIP -> bytes, in path order),
    its forms as dicts (same keys), and the ZIP that ``PackageBuilder`` writes."""

    files: tuple[tuple[str, bytes], ...]
    forms: dict[str, Any]
    zip: bytes

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.files]


@lru_cache(maxsize=None)
def seed(online: bool = False) -> Seed:
    """The valid seed (``online``: theory also online, adding the online record and two
    screenshots). Built once per process."""
    b = PackageBuilder(theory_mode=("offline", "online") if online else ("offline",),
                       photo=_small_photo, video=_small_video, screenshot=_small_screenshot)
    forms = {f"{b.root}/{k}": v for k, v in b.forms.items()}
    files = tuple(sorted(b.build().items()))
    return Seed(files=files, forms=forms, zip=b.zip_bytes())


def _entry_for(path: str, content: bytes, method: str = "auto") -> zc.Entry:
    """A truthful entry: media stored (as cameras write them), the rest deflated."""
    if method == "auto":
        method = "stored" if path.lower().endswith(MEDIA_SUFFIXES) else "deflated"
    return zc.stored(path, content) if method == "stored" else zc.deflated(path, content)


def build_zip(files: list[tuple[str, bytes]], method: str = "auto") -> bytes:
    return zc.build([_entry_for(p, c, method) for p, c in files])


seeds = st.booleans().map(seed)


# ---------------------------------------------------------------------------------------
# names

_JUNK = ["__MACOSX/", "__MACOSX/._a.jpg", ".DS_Store", "Thumbs.db", "ehthumbs.db", "desktop.ini",
         "._培训方案.json", "~$培训方案.json", "a/.DS_Store", "THUMBS.DB"]
_TRICKY_SEGMENTS = ["..", ".", "", "...", " ", "  ", "..\\..", "CON", "aux.txt", "a:b", "C:", "c:",
                    "\\\\?\\C:", "~", "$", "\u202e", "\ufeff", "\u200b", "理论", "实操", "育婴师初级",
                    "培训方案.json", "签到表.json", "a.zip", "a.rar", "a.tar.gz", "x.mp4", "x.jpg",
                    "育婴师初级理论1.jpg", "育婴师初级理论1.mp4", "线上培训截图1.png", ROOT]
_PREFIXES = ["", "", "", "/", "//", "\\", "C:", "C:/", "c:\\", "\\\\server\\share\\", "./", "../",
             "../../", ROOT + "/", ROOT + "/../", ROOT + "\\", "~/", "/etc/", "\x00"]
_SUFFIXES = ["", "", "/", "\\", ".jpg", ".mp4", ".json", ".zip", "\x00.jpg", " ", ".", "/..", "/."]

_chars = st.characters(exclude_categories=("Cs",))  # any code point but surrogates (Cc included)
_segment = st.one_of(
    st.sampled_from(_TRICKY_SEGMENTS),
    st.text(_chars, max_size=12),
    st.text(alphabet="aAbB.\\/: \x00\t\n\x7f\x85é长", max_size=8),
    st.deferred(lambda: id_like_strings()),  # a 身份证号 or phone in a name: masked in messages too
)


@st.composite
def hostile_names(draw: st.DrawFn, known: tuple[str, ...] = ()) -> str:
    """An entry name as text: tricky paths, random Unicode, very long, junk, or a twin
    (case, NFD, trailing slash, folder-of) of one of ``known``."""
    kind = draw(st.sampled_from(["path", "path", "path", "long", "junk", "twin", "twin", "seed", "seed"]))
    if kind == "long":
        unit = draw(st.sampled_from(["a", "长", "../", "a/", "\x00"]))
        return unit * draw(st.integers(100, 20_000))  # <= 60 000 bytes: fits the 16-bit field
    if kind == "junk":
        return draw(st.sampled_from(_JUNK))
    if kind in ("twin", "seed") and (known or kind == "seed"):
        base = draw(st.sampled_from(list(known) if kind == "twin" else seed().paths))
        return draw(st.sampled_from(_twins(base)))
    segments = draw(st.lists(_segment, min_size=1, max_size=5))
    return draw(st.sampled_from(_PREFIXES)) + "/".join(segments) + draw(st.sampled_from(_SUFFIXES))


def _twins(name: str) -> list[str]:
    """Names that normalise to ``name`` (or clash with it as a folder), and itself."""
    return [name, name.upper(), name.lower(), name.swapcase(), unicodedata.normalize("NFD", name),
            unicodedata.normalize("NFKD", name), name + "/", name + "/x", name.rsplit("/", 1)[0],
            name.replace("/", "\\"), "./" + name, name.replace("/", "//"), "/" + name, name + " ",
            name.replace("初", "初\u0301")]


# ---------------------------------------------------------------------------------------
# one hostile entry


def _encode(name: str, encoding: str) -> bytes:
    return name.encode(encoding, errors="replace")


@st.composite
def encoded_names(draw: st.DrawFn, name: str) -> tuple[bytes, int, bytes, str]:
    """(raw name bytes, flags, extra field, how) for ``name`` in a random encoding."""
    how = draw(st.sampled_from(["utf8-flag"] * 8 + ["utf8"] * 3 + ["gbk"] * 3 + [
        "gb18030", "cp437", "bad-utf8-flag", "raw", "raw-flag", "7075", "7075", "7075-bad-crc",
        "7075-bad-version", "7075-bad-utf8", "bad-extra"]))
    utf8 = name.encode("utf-8")
    raw, flags, extra = utf8, 0, b""
    if how == "utf8-flag":
        flags = zc.FLAG_UTF8
    elif how in ("gbk", "gb18030", "cp437"):
        raw = _encode(name, how)
    elif how == "bad-utf8-flag":
        pos = draw(st.integers(0, len(utf8)))
        bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        raw, flags = utf8[:pos] + bad + utf8[pos:], zc.FLAG_UTF8
    elif how in ("raw", "raw-flag"):
        raw = draw(st.binary(min_size=0, max_size=40))
        flags = zc.FLAG_UTF8 if how == "raw-flag" else 0
    elif how.startswith("7075"):
        header = draw(st.sampled_from([_encode(name, "gbk"), b"x", b"safe.txt", utf8,
                                       draw(st.binary(max_size=12))]))
        body_name = name if how != "7075-bad-utf8" else name + "\udcff"
        crc = zlib.crc32(header) ^ (draw(st.integers(1, 0xFFFFFFFF)) if how == "7075-bad-crc" else 0)
        version = draw(st.integers(0, 255).filter(lambda v: v != 1)) if how == "7075-bad-version" else 1
        body = struct.pack("<BL", version, crc) + body_name.encode("utf-8", errors="surrogatepass")
        raw, extra = header, struct.pack("<HH", 0x7075, len(body)) + body
    elif how == "bad-extra":
        flags = zc.FLAG_UTF8
        extra = draw(st.sampled_from([b"\x75\x70\xff\xff", b"\x01\x00\x08\x00\x01", b"\x01\x00\x00\x00",
                                      b"\x01\x00\x18\x00" + bytes(8), b"\x00"]))
        extra = extra if draw(st.booleans()) else draw(st.binary(max_size=30))
    return raw[:0xFFFF], flags, extra[:0xFFFF - 64], how  # room for a ZIP64 field zipcraft adds


@lru_cache(maxsize=1)
def _bomb() -> tuple[bytes, int, int]:
    """(deflated data, CRC, size) of 4 MiB of zeros: a ratio far above the limit."""
    e = zc.deflated_stream("bomb", zc.zeros(4 << 20))
    return e.data, e.crc, e.file_size


@lru_cache(maxsize=None)
def _nasty_media() -> tuple[bytes, ...]:
    mp4 = media.mp4()
    return (
        media.jpeg_claiming(60000, 60000),  # decompression bomb header
        media.truncated(media.jpeg(1280, 720, quality=20), 0.5),
        media.without_moov(mp4),
        media.truncated(mp4, 0.5),
        mp4[: len(mp4) // 3] + b"\x00" * 64,
        media.mp4(150, container="mov"),
        media.mp4(2, 160, 90),
        media.png(64, 64),
        media.gif(32, 32),
        media.jpeg(64, 64),
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64),
        b"\xff\xd8\xff\xe0" + bytes(32) + b"\xff\xd9",
    )


@lru_cache(maxsize=1)
def contents() -> st.SearchStrategy[bytes]:
    """Member contents: random bytes, a seed file, nasty media, a nested ZIP, a form."""
    return st.one_of(
        st.binary(max_size=64),
        st.builds(lambda n, s: random.Random(s).randbytes(n), st.integers(0, 4096), st.integers()),
        st.sampled_from(_nasty_media()),
        st.sampled_from([c for _, c in seed().files if len(c) < 40_000]),
        st.just(zc.build([zc.stored("inner.txt", b"nested")])),
        st.just(b""),
    )


_METHODS = [1, 6, 9, 12, 14, 93, 95, 98, 99]
_ATTRS = [zc.FILE_ATTR, zc.FILE_ATTR, zc.SYMLINK_ATTR, (0o40755 << 16) | 0x10, 0o120000 << 16,
          0x10, 0, 0xFFFFFFFF, 0o140777 << 16, 0o010644 << 16, 0o020644 << 16]
_SIZES = [0, 1, 2**16, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 1 << 30, (1 << 30) + 1, 2**40, 2**63 - 1]


_TWEAKS = ["flags", "attr", "version", "method", "crc", "file_size", "compress_size", "local_name",
           "local_extra", "local_of", "zip64", "descriptor"]
_HONEST_TWEAKS = ["flags", "attr", "descriptor"]


@st.composite
def hostile_entries(draw: st.DrawFn, index: int, known: tuple[str, ...],
                    honest: bool = False) -> tuple[zc.Entry, str]:
    """Entry number ``index`` of a crafted archive (``known``: the names before it): a
    hostile name in a random encoding, and 0-3 tweaks of its fields (flags, mode, method,
    version, lying CRC or sizes, another local name or extra, a shared local header, ZIP64).
    ``honest``: only the tweaks that keep the structure sound (flags, mode, descriptor), so
    that the name problems are not hidden behind a corrupt directory."""
    recipe: list[str] = []
    name = draw(hostile_names(known))
    raw, flags, extra, how = draw(encoded_names(name))
    recipe.append(f"{name[:60]!r}/{how}")
    content = draw(contents())
    method = draw(st.sampled_from(["stored", "deflated", "deflated", "bomb"]))
    if method == "bomb":
        data, crc, size = _bomb()
        entry = zc.Entry(name=raw, data=data, crc=crc, file_size=size, method=zc.DEFLATED)
    elif method == "deflated":
        entry = zc.deflated(raw, content)
    else:
        entry = zc.stored(raw, content)
    entry = zc.replace(entry, flags=flags, extra=extra)
    tweaks = draw(st.lists(st.sampled_from(_HONEST_TWEAKS if honest else _TWEAKS), max_size=3, unique=True))
    for tweak in tweaks:
        if tweak == "flags":
            bits = draw(st.sampled_from([zc.FLAG_ENCRYPTED, zc.FLAG_ENCRYPTED, 0x0040, 0x0020, 0x2000,
                                         zc.FLAG_ENCRYPTED | 0x0040, zc.FLAG_ENCRYPTED | zc.FLAG_DATA_DESCRIPTOR])
                        | st.integers(0, 0xFFFF))
            entry = zc.replace(entry, flags=entry.flags | bits)
            recipe.append(f"flags={entry.flags:#06x}")
        elif tweak == "attr":
            entry = zc.replace(entry, external_attr=draw(st.sampled_from(_ATTRS) | st.integers(0, 0xFFFFFFFF)),
                               create_system=draw(st.sampled_from([zc.SYSTEM_UNIX, zc.SYSTEM_DOS, 11, 19, 255])))
            recipe.append(f"attr={entry.external_attr:#x}/{entry.create_system}")
        elif tweak == "version":
            entry = zc.replace(entry, extract_version=draw(st.sampled_from([10, 20, 45, 46, 63, 64, 255])
                                                           | st.integers(0, 255)))
            recipe.append(f"version={entry.extract_version}")
        elif tweak == "method":
            entry = zc.replace(entry, method=draw(st.sampled_from(_METHODS) | st.integers(0, 0xFFFF)))
            recipe.append(f"method={entry.method}")
        elif tweak == "crc":
            entry = zc.replace(entry, crc=draw(st.integers(0, 0xFFFFFFFF)))
            recipe.append(f"crc={entry.crc:#x}")
        elif tweak == "file_size":
            real = entry.file_size
            entry = zc.replace(entry, file_size=draw(st.sampled_from(_SIZES + [real - 1, real + 1, real * 2])
                                                     .filter(lambda v: v >= 0) | st.integers(0, 2**32 - 1)))
            recipe.append(f"file_size={entry.file_size} (really {real})")
        elif tweak == "compress_size":
            real = len(entry.data)
            entry = zc.replace(entry, compress_size=draw(st.sampled_from(_SIZES + [0, max(0, real - 1), real + 1,
                                                                                   real + 100])
                                                         | st.integers(0, 2**32 - 1)))
            recipe.append(f"compress_size={entry.compress_size} (really {real})")
        elif tweak == "local_name":
            entry = zc.replace(entry, local_name=draw(st.sampled_from([b"other.txt", raw + b"x", raw.upper(), b""])
                                                      | st.binary(max_size=20)))
            recipe.append(f"local name {entry.local_name!r}")
        elif tweak == "local_extra":
            entry = zc.replace(entry, local_extra=draw(st.binary(max_size=24)))
            recipe.append("local extra differs")
        elif tweak == "local_of" and index > 0:
            entry = zc.replace(entry, local_of=draw(st.integers(0, index - 1)))
            recipe.append(f"shares the local header of entry {entry.local_of}")
        elif tweak == "zip64":
            entry = zc.replace(entry, force_zip64=True)
            recipe.append("zip64 entry")
        elif tweak == "descriptor":
            entry = zc.replace(entry, flags=entry.flags | zc.FLAG_DATA_DESCRIPTOR, descriptor=draw(st.booleans()))
            recipe.append(f"data descriptor{' written' if entry.descriptor else ' flagged only'}")
    return entry, "; ".join(recipe)


def _fix_local_of(entries: list[zc.Entry]) -> list[zc.Entry]:
    """zipcraft needs ``local_of`` to point at an entry with a local record of its own."""
    out = []
    for i, e in enumerate(entries):
        target = e.local_of
        while target is not None and entries[target].local_of is not None:
            target = entries[target].local_of
        out.append(zc.replace(e, local_of=target) if target != e.local_of else e)
    return out


# ---------------------------------------------------------------------------------------
# whole-archive damage


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """``data`` as it is, or cut, extended, prefixed or patched."""
    how = draw(st.sampled_from(["none", "none", "none", "truncate", "append", "prepend", "patch",
                                "patch-near-signature"]))
    if how == "truncate" and data:
        cut = draw(st.integers(0, len(data) - 1))
        return data[:cut], f"truncated at {cut}/{len(data)}"
    if how == "append":
        extra = draw(st.sampled_from([b"\x00", b"PK\x05\x06" + bytes(18), data]) | st.binary(max_size=100))
        return data + extra, f"{len(extra)} bytes appended"
    if how == "prepend":
        extra = draw(st.sampled_from([b"MZ" + bytes(62), data, b"PK\x03\x04"]) | st.binary(max_size=100))
        return extra + data, f"{len(extra)} bytes prepended"
    if how.startswith("patch") and data:
        return draw(byte_mutations(data, near_signatures=how.endswith("signature")))
    return data, "intact"


_SIGNATURES = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x07\x08")


def _signature_offsets(data: bytes) -> list[int]:
    found = []
    for sig in _SIGNATURES:
        pos = data.find(sig)
        while pos >= 0:
            found.append(pos)
            pos = data.find(sig, pos + 1)
    return sorted(found)


_INTERESTING_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x50, 0x4B, 0x08, 0x0B]


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes, near_signatures: bool | None = None) -> tuple[bytes, str]:
    """1-6 byte-level edits: flip a bit, set a byte (or a 32-bit field), insert, delete."""
    buf = bytearray(data)
    offsets = _signature_offsets(data)
    if near_signatures is None:
        near_signatures = draw(st.booleans())
    done = []
    for _ in range(draw(st.integers(1, 6))):
        if not buf:
            break
        if near_signatures and offsets:
            pos = min(len(buf) - 1, draw(st.sampled_from(offsets)) + draw(st.integers(0, 64)))
        else:
            pos = draw(st.integers(0, len(buf) - 1))
        op = draw(st.sampled_from(["flip", "set", "set32", "insert", "delete"]))
        if op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = draw(st.sampled_from(_INTERESTING_BYTES) | st.integers(0, 255))
        elif op == "set32":
            value = draw(st.sampled_from([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1, len(data)])
                         | st.integers(0, 0xFFFFFFFF))
            buf[pos:pos + 4] = struct.pack("<L", value)
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del buf[pos:pos + draw(st.integers(1, 64))]
        done.append(f"{op}@{pos}")
    return bytes(buf), "bytes: " + " ".join(done)


# ---------------------------------------------------------------------------------------
# (1) hostile ZIPs from scratch

_OTHER_FORMATS = [b"Rar!\x1a\x07\x01\x00", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b\x08", b"BZh9", b"\xfd7zXZ\x00",
                  b"%PDF-1.4\n", b"MZ", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08PK\x03\x04",
                  b"\xff\xd8\xff\xe0", b"\x00\x00\x00\x18ftypisom", b""]

package_names = st.one_of(
    st.just(ROOT + ".zip"), st.just(ROOT + ".zip"), st.just(ROOT + ".ZIP"),
    st.just("培训机构20261120.zip"), st.just(".zip"), st.just("a/b\\c.zip"), st.just("x"),
    st.text(_chars, min_size=1, max_size=30).map(lambda s: s + ".zip"),
)


@st.composite
def hostile_zips(draw: st.DrawFn) -> Upload:
    kind = draw(st.sampled_from(["crafted", "crafted", "crafted", "seed+hostile", "seed+hostile", "seed+odd",
                                 "random", "magic"]))
    name = draw(package_names)
    if kind == "seed+odd":
        return draw(odd_names_in_a_valid_package(name))
    if kind == "random":
        data = draw(st.binary(max_size=2048))
        return Upload(data, name, ("random bytes",))
    if kind == "magic":
        head = draw(st.sampled_from(_OTHER_FORMATS))
        data = head + draw(st.binary(max_size=512))
        if draw(st.booleans()):  # an end record at the end: looks like a ZIP from both sides
            data += struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, *draw(st.tuples(
                st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                st.integers(0, 0xFFFFFFFF))), 0)
        return Upload(data, name, (f"magic {head[:8]!r} + random",))
    entries: list[zc.Entry] = []
    recipe: list[str] = []
    if kind == "seed+hostile":
        entries = [_entry_for(p, c) for p, c in seed(draw(st.booleans())).files]
        recipe.append("valid package +")
    honest = draw(st.booleans())  # a sound structure: what is hostile is in the names and flags
    if honest:
        recipe.append("honest structure")
    for _ in range(draw(st.integers(0 if kind == "crafted" else 1, 6))):
        known = tuple(e.name.decode("utf-8", "replace") for e in entries)
        entry, what = draw(hostile_entries(len(entries), known, honest))
        entries.insert(draw(st.integers(0, len(entries))) if kind == "seed+hostile" else len(entries), entry)
        recipe.append(what)
    entries = _fix_local_of([zc.replace(e, local_of=None) if e.local_of is not None and e.local_of >= i else e
                             for i, e in enumerate(entries)])
    zip64 = draw(st.integers(0, 7)) == 0
    count, delta, comment = None, 0, b""
    if not honest:
        count = draw(st.sampled_from([None] * 6 + [0, 1, len(entries) + 1, 0xFFFF, max(0, len(entries) - 1),
                                      100_000]))
        if count is not None and not zip64:
            count = min(count, 0xFFFF)
        delta = draw(st.sampled_from([0] * 8 + [-1, 1, -22, 4, 1 << 20]))
        comment = draw(st.sampled_from([b""] * 4 + [b"PK\x05\x06", b"comment"]) | st.binary(max_size=40))
    try:
        data = zc.build(entries, comment=comment, zip64=zip64, declared_count=count, cd_offset_delta=delta)
    except struct.error:  # a lie zipcraft cannot even write (an offset below 0): write the truth
        data, delta, count = zc.build(entries, comment=comment, zip64=zip64), 0, None
    if zip64 or count is not None or delta or comment:
        recipe.append(f"archive: zip64={zip64} count={count} cd_offset_delta={delta} comment={len(comment)}B")
    if not honest:
        data, what = draw(damaged(data))
        recipe.append(what)
    return Upload(data, name, tuple(recipe))


_safe_chars = st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="/\\:")


@st.composite
def odd_names_in_a_valid_package(draw: st.DrawFn, name: str) -> Upload:
    """A valid package plus 1-4 files with odd but safe names (any script, spaces,
    GBK without flag, Info-ZIP 0x7075 names), so that odd names reach the deep checks."""
    base = draw(seeds)
    entries = [_entry_for(p, c) for p, c in base.files]
    folders = sorted({p.rsplit("/", 1)[0] for p, _ in base.files} | {""})
    recipe = ["valid package +"]
    for _ in range(draw(st.integers(1, 4))):
        folder = draw(st.sampled_from(folders))
        stem = draw(st.text(_safe_chars, min_size=1, max_size=20).filter(lambda t: t.strip(". ") != "")
                    | id_like_strings())
        full = (folder + "/" if folder else "") + stem + draw(st.sampled_from(["", ".jpg", ".mp4", ".json", ".JPG",
                                                                                ".pdf", ".png", ".txt"]))
        how = draw(st.sampled_from(["utf8-flag", "utf8", "gb18030", "7075"]))
        utf8 = full.encode("utf-8")
        if how == "utf8-flag":
            entry = zc.stored(utf8, draw(contents()), flags=zc.FLAG_UTF8)
        elif how == "utf8":
            entry = zc.stored(utf8, draw(contents()), flags=0)
        elif how == "gb18030":
            entry = zc.stored(full.encode("gb18030"), draw(contents()), flags=0)
        else:
            header = full.encode("gbk", errors="replace")
            entry = zc.stored(header, draw(contents()), flags=0, extra=zc.unicode_path_extra(header, full))
        entries.insert(draw(st.integers(0, len(entries))), entry)
        recipe.append(f"{full!r}/{how}")
    return Upload(zc.build(entries), name, tuple(recipe))


# ---------------------------------------------------------------------------------------
# (2) mutations of a valid package


@st.composite
def mutated_content(draw: st.DrawFn, content: bytes) -> tuple[bytes, str]:
    how = draw(st.sampled_from(["random", "nasty", "bytes", "truncate", "empty", "other-file"]))
    if how == "random":
        n = draw(st.sampled_from([len(content), 1, 100]) | st.integers(0, 4096))
        return random.Random(draw(st.integers())).randbytes(n), f"random {n} bytes"
    if how == "nasty":
        return draw(st.sampled_from(_nasty_media())), "nasty media"
    if how == "bytes" and content:
        # inside media the first bytes are the headers: aim there half the time
        head = content[:256]
        if draw(st.booleans()) and head:
            mutated, what = draw(byte_mutations(head, near_signatures=False))
            return mutated + content[len(head):], "head " + what
        return draw(byte_mutations(content, near_signatures=False))
    if how == "truncate" and content:
        cut = draw(st.integers(0, len(content) - 1))
        return content[:cut], f"truncated at {cut}/{len(content)}"
    if how == "other-file":
        return draw(st.sampled_from([c for _, c in seed().files])), "another file's content"
    return b"", "emptied"


@st.composite
def mutated_packages(draw: st.DrawFn) -> Upload:
    base = draw(seeds)
    if draw(st.integers(0, 2)) == 0:  # byte level, on the ZIP PackageBuilder writes
        data, what = draw(byte_mutations(base.zip))
        if draw(st.integers(0, 4)) == 0:  # cut short too (past the first entry, mostly)
            cut = draw(st.integers(len(data) // 8, len(data)) | st.integers(0, len(data)))
            data, what = data[:cut], what + f"; cut at {cut}"
        return Upload(data, ROOT + ".zip", (what,))
    files = list(base.files)
    recipe: list[str] = []
    methods = {p: "auto" for p, _ in files}
    for _ in range(draw(st.integers(1, 4))):
        if not files:
            break
        i = draw(st.integers(0, len(files) - 1))
        path, content = files[i]
        op = draw(st.sampled_from(["content", "content", "content", "drop", "duplicate", "rename",
                                   "move", "swap", "method", "junk", "directory"]))
        if op == "content":
            new, what = draw(mutated_content(content))
            files[i] = (path, new)
            recipe.append(f"{path.rsplit('/', 1)[-1]}: {what}")
        elif op == "drop":
            del files[i]
            recipe.append(f"dropped {path}")
        elif op == "duplicate":
            twin = draw(st.sampled_from(_twins(path)))
            files.insert(draw(st.integers(0, len(files))), (twin, content))
            recipe.append(f"duplicated {path} as {twin!r}")
        elif op == "rename":
            new_name = draw(hostile_names(tuple(p for p, _ in files)))
            files[i] = (new_name, content)
            recipe.append(f"renamed {path} to {new_name[:80]!r}")
        elif op == "move":
            folder = draw(st.sampled_from(sorted({p.rsplit("/", 1)[0] for p, _ in files if "/" in p} | {""})))
            new_name = (folder + "/" if folder else "") + path.rsplit("/", 1)[-1]
            files[i] = (new_name, content)
            recipe.append(f"moved {path} to {new_name}")
        elif op == "swap":
            j = draw(st.integers(0, len(files) - 1))
            files[i], files[j] = (path, files[j][1]), (files[j][0], content)
            recipe.append(f"swapped contents of {path} and {files[j][0]}")
        elif op == "method":
            methods[path] = draw(st.sampled_from(["stored", "deflated"]))
            recipe.append(f"{path} {methods[path]}")
        elif op == "junk":
            files.append((draw(st.sampled_from(_JUNK)).rstrip("/") + "/x" if draw(st.booleans())
                          else draw(st.sampled_from(_JUNK)), content[:100]))
            recipe.append("junk added")
        else:
            files.append((path.rsplit("/", 1)[0] + "/", b""))
            recipe.append("directory entry added")
    if draw(st.booleans()):
        files = draw(st.permutations(files))
        recipe.append("entries reordered")
    entries = [_entry_for(p, c, methods.get(p, "auto")) for p, c in files]
    return Upload(zc.build(entries), ROOT + ".zip", tuple(recipe))


# ---------------------------------------------------------------------------------------
# (3) random form JSON

_FORM_KEYS = ["form", "institution", "name", "trainings", "occupation", "level", "trainees",
              "theory_mode", "practice_mode", "start_date", "end_date", "total_hours", "id_number",
              "phone", "sessions", "date", "hours", "teacher", "seq", "signed", "accepted"]

json_values = st.recursive(
    st.none() | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(_chars, max_size=30),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(_FORM_KEYS) | st.text(_chars, max_size=10), children, max_size=5),
    max_leaves=25,
)

_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def id_like_strings(draw: st.DrawFn) -> str:
    """身份证号- and phone-like text: valid numbers, broken ones, glued to text or to a date,
    spaced; and digit runs that are no personal number (camera and WeChat file names,
    millisecond timestamps), which must be shown as written (pipeline/check/privacy.py)."""
    birth = date(1950, 1, 1) + timedelta(days=draw(st.integers(0, 25_000)))
    region = draw(st.sampled_from(["110101", "610102", "610113", "810000", "931840", "999999", "000000"]))
    number = make_id_number(region, birth, draw(st.integers(0, 999)))
    mobile = f"1{draw(st.sampled_from('3456789'))}{draw(st.integers(0, 10**9 - 1)):09d}"
    kind = draw(st.sampled_from(["id", "id-x", "id-bad", "id15", "mobile", "mobile+86", "mobile-dashes",
                                 "glued", "fullwidth", "long-digits", "two", "glued-date", "grouped",
                                 "mobile-86", "camera"]))
    value = {
        "id": number,
        "id-x": number[:17] + "X",
        "id-bad": number[:17] + ("0" if number[17] != "0" else "1"),
        "id15": number[:6] + number[8:17],
        "mobile": mobile,
        "mobile+86": "+86 " + mobile,
        "mobile-dashes": f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
        "glued": draw(st.sampled_from(["张三", "id", "No.", "身份证"])) + number + draw(st.sampled_from(["", "号", "abc"])),
        "fullwidth": number.translate(_FULLWIDTH_DIGITS),
        "long-digits": str(draw(st.integers(10**10, 10**40))),
        "two": f"{number} {mobile}",
        "glued-date": number + f"{birth:%Y%m%d}",  # still a person's number, glued or not
        "grouped": f"{number[:6]} {number[6:14]} {number[14:]}",
        "mobile-86": "86" + mobile,
        "camera": draw(st.sampled_from(["微信图片_", "mmexport", "IMG_", "VID", "Screenshot_"]))
        + f"{birth:%Y%m%d}{draw(st.integers(0, 10**6 - 1)):06d}" + draw(st.sampled_from(["", "123"])),
    }[kind]
    return value


_RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "-0", "1e400", "-1e400", "1e-400", "9" * 5000,
               "1" + "0" * 4400, "-" + "9" * 4301, "123456789012345678901234567890",
               "0.30000000000000004", "1E+2", "1.5e308", "4.9e-324", "0.1", "-1", "1.0"]
_TEXTS = ["", " ", "\u3000", "\t\n", "null", "true", "NaN", "nan", "Infinity", "1e400", "0x10", "２０",
          "2026-02-30", "2026/11/20", "20261120", "0000-00-00", "9999-12-31", "2026-11-20T00:00:00",
          "2026-13-01", "１９９０-０１-０１", "线上", "online ", "OFFLINE", "初级", "\x00", "\ud7ff",
          "\u202e\u200b", "'; DROP TABLE x;--", "{}", "[]", "${x}", "{name}", "%s%n"]


def _placeholder(n: int) -> str:
    return f"\ue000RAW{n}\ue000"


def value_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path (keys and indexes) to a value inside ``value``, the root's ``()`` first."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += value_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += value_paths(v, path + (i,))
    return out


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value


def _set(root: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _strings_to(value: Any, make: Callable[[], str]) -> Any:
    if isinstance(value, str):
        return make()
    if isinstance(value, dict):
        return {k: _strings_to(v, make) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings_to(v, make) for v in value]
    return value


@st.composite
def near_valid_forms(draw: st.DrawFn, form: Any) -> tuple[str, str]:
    """(JSON text, recipe): the sample ``form`` with 1-4 edits at random places."""
    value = json.loads(json.dumps(form))  # a private deep copy
    raws: list[str] = []
    done = []
    for _ in range(draw(st.integers(1, 4))):
        locations = value_paths(value)
        path = draw(st.sampled_from(locations))
        op = draw(st.sampled_from(["delete", "type", "raw", "text", "id", "ids-everywhere", "deep",
                                   "long", "unknown-key", "swap", "random"]))
        where = "/" + "/".join(map(str, path))
        if op == "delete" and path:
            parent = _get(value, path[:-1])
            del parent[path[-1]]
        elif op == "type":
            current = _get(value, path)
            value = _set(value, path, draw(st.sampled_from([None, True, False, 0, 1.5, -1, "", "文本", [], {},
                                                            [current], {"value": current}, str(current)])))
        elif op == "raw":
            raws.append(draw(st.sampled_from(_RAW_TOKENS)))
            value = _set(value, path, _placeholder(len(raws) - 1))
        elif op == "text":
            value = _set(value, path, draw(st.sampled_from(_TEXTS) | st.text(_chars, max_size=20)))
        elif op == "id":
            text = draw(id_like_strings())
            value = _set(value, path, int(text) if text.isascii() and text.isdigit() and draw(st.booleans()) else text)
        elif op == "ids-everywhere":
            pool = draw(st.lists(id_like_strings(), min_size=1, max_size=4))
            counter = iter(range(1 << 30))
            value = _strings_to(value, lambda: pool[next(counter) % len(pool)])
        elif op == "deep":
            depth = draw(st.sampled_from([20, 200, 900, 990, 1000, 1100, 3000, 100_000]))
            opener, closer, leaf = draw(st.sampled_from([("[", "]", "1"), ('{"a":', "}", "1"),
                                                         ('{"trainings":[', "]}", "{}")]))
            raws.append(opener * depth + leaf + closer * depth)
            value = _set(value, path, _placeholder(len(raws) - 1))
        elif op == "long":
            value = _set(value, path, draw(st.sampled_from(["长", "a", "1", " ", "\\"])) * draw(
                st.sampled_from([31, 1000, 100_000])))
        elif op == "unknown-key":
            target = _get(value, path)
            if isinstance(target, dict):
                target[draw(id_like_strings() | st.text(_chars, max_size=8))] = draw(json_values)
        elif op == "swap":
            other = draw(st.sampled_from(locations))
            if path and other and path[:len(other)] != other and other[:len(path)] != path:
                a, b = _get(value, path), _get(value, other)
                value = _set(value, path, b)
                value = _set(value, other, a)
        else:
            value = _set(value, path, draw(json_values))
        done.append(f"{op}@{where[:60]}")
    ensure_ascii = draw(st.booleans())
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=draw(st.sampled_from([None, 2])), allow_nan=True)
    for n, raw in enumerate(raws):
        text = text.replace(json.dumps(_placeholder(n), ensure_ascii=ensure_ascii), raw)
    return text, "near-valid: " + " ".join(done)


@st.composite
def broken_json(draw: st.DrawFn, form: Any) -> tuple[str, str]:
    text = form_bytes(form).decode("utf-8")
    pos = draw(st.integers(0, len(text)))
    op = draw(st.sampled_from(["delete", "insert", "fullwidth", "trailing-comma", "cut", "extra"]))
    if op == "delete":
        text = text[:pos] + text[pos + 1:]
    elif op == "insert":
        text = text[:pos] + draw(st.sampled_from(list(",:{}[]\"'\\\n\t\x00 ") + ["//", "/*", "，"])) + text[pos:]
    elif op == "fullwidth":
        table = str.maketrans({",": "，", ":": "：", '"': "“", "{": "｛", "[": "［"})
        text = text[:pos] + text[pos:pos + draw(st.integers(1, 40))].translate(table) + text[pos + 40:]
    elif op == "trailing-comma":
        text = text.rstrip().rstrip("}").rstrip() + ",\n}"
    elif op == "cut":
        text = text[:pos]
    else:
        text = text + draw(st.sampled_from(["{}", "\n{}", " x", "\x00", "\ufeff"]))
    return text, f"broken JSON: {op}@{pos}"


@st.composite
def form_bytes_variants(draw: st.DrawFn, path: str, form: Any, others: list[Any]) -> tuple[bytes | None, str]:
    """New bytes for the form at ``path`` (None: remove it), and the recipe."""
    how = draw(st.sampled_from(["random", "near-valid", "near-valid", "near-valid", "broken",
                                "other-form", "remove"]))
    if how == "remove":
        return None, "removed"
    if how == "random":
        value = draw(json_values)
        text, what = json.dumps(value, ensure_ascii=draw(st.booleans()), allow_nan=True), "random JSON"
    elif how == "other-form":
        text, what = json.dumps(draw(st.sampled_from(others)), ensure_ascii=False), "another form's content"
    elif how == "broken":
        text, what = draw(broken_json(form))
    else:
        text, what = draw(near_valid_forms(form))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "gbk", "gb18030", "utf-16", "bad-bytes"]))
    if encoding == "bad-bytes":
        data = text.encode("utf-8", errors="surrogatepass")
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + data[pos:]
    else:
        data = text.encode(encoding, errors="replace") if encoding.startswith("gb") else \
            text.encode(encoding, errors="surrogatepass")
    return data, f"{what} [{encoding}]"


@st.composite
def form_packages(draw: st.DrawFn) -> Upload:
    base = draw(seeds)
    files = dict(base.files)
    paths = sorted(base.forms)
    chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))
    recipe = []
    for path in chosen:
        data, what = draw(form_bytes_variants(path, base.forms[path], list(base.forms.values())))
        if data is None:
            del files[path]
        else:
            files[path] = data
        recipe.append(f"{path.rsplit('/', 1)[-1]}: {what}")
    return Upload(build_zip(sorted(files.items())), ROOT + ".zip", tuple(recipe))

