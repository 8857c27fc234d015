"""Read an uploaded ZIP report package safely: the gate before any other check (spec §1).

Nothing in an upload can be trusted, so the reader works in two stages:

1. **Scan** (no extraction). Sniff the format, then parse the central directory with our
   own parser: ``zipfile`` decodes names with cp437, truncates them at NUL, raises on a
   flagged non-UTF-8 name and ignores the Info-ZIP Unicode Path field, so names, sizes
   and offsets are taken from the raw records. Every fatal problem found here is
   reported (an institution fixes them all in one round); if there is any, nothing is
   extracted.
2. **One pass** over the ZIP, start to end, in ``CHUNK`` reads: each byte is read once
   and feeds the SHA-256 of the whole file (computed for every package, refused ones
   included: the receipt names it) and, for the data of the material files (in archive
   order; the scan has checked that their ranges do not overlap), their content: stored
   data as it is, deflate data through a zlib inflater. The content is CRC-checked,
   hashed and written to ``work_dir/files/<index>`` (a generated name: archive names never
   touch the disk; the index is the file's position in path order) — except stored
   videos, nearly all of a package's bytes: they are hashed and CRC-checked alike but
   never copied; their measuring reads them where they lie in the ZIP
   (``ExtractedFile.offset``, :data:`IN_PLACE_SUFFIXES`). Local headers, data
   descriptors and junk entries are only hashed into the whole file. Two threads share
   the work, as hashlib, zlib and file I/O release the GIL: the reader does the reads,
   the whole-file SHA-256, the CRCs and the inflating; a writer thread the files'
   SHA-256 and the writes, with at most ``READ_BUFFERS`` chunks in flight (memory stays
   a few MiB whatever the size of the package). A CRC, size or data error removes what
   was written and reports ``PKG_CORRUPT`` for the first such file in archive order.
   ``zipfile`` is not used: its extraction reads the data a second time.

Decisions (spec §1 leaves them open):

- **Name encoding.** Flag bit 11 means UTF-8 (a flagged name that is not UTF-8 is
  undecodable: the flag is a promise). An Info-ZIP Unicode Path field (0x7075, version 1)
  whose CRC matches the header name wins over the header name. All other names share ONE
  encoding per archive: UTF-8 when every one of them decodes as UTF-8 (ASCII included),
  else GB18030 (a superset of GBK) when every one decodes, else ``PKG_NAME_ENCODING``.
  Deciding per archive keeps a short GBK name that happens to be valid UTF-8 from being
  misread. An Info-ZIP Unicode Path field appears more than once in some archives: the
  last valid one counts. Names are then NFC-normalised.
- **"\\" as a separator.** In entries made on MS-DOS/Windows (the host byte of "version
  made by": 0, 6, 10, 11, 14), "\\" is read as "/" (Windows PowerShell 5.1's
  ``Compress-Archive``, .NET Framework < 4.6.1, WinZip's Unicode Path field write it), as
  Info-ZIP's unzip and libarchive do; the path is then judged like any other. Elsewhere
  "\\" is part of the name and unsafe. See docs/zip-tools.md.
- **Safety before junk.** Unsafe names are rejected even under ``__MACOSX/``.
  ``.`` segments and empty segments are unsafe as well as ``..``; C0/C1 control
  characters are unsafe; symlinks are recognised from the Unix mode in external_attr.
- **Junk** (never an error, listed in ``ignored``): ``__MACOSX`` as any folder, the OS
  droppings ``.DS_Store``, ``Thumbs.db``, ``ehthumbs.db``, ``desktop.ini`` (any case),
  basenames starting with ``._`` or ``~$``, and directory entries with no material file
  under them. Directory entries that do hold files are simply implied, not listed.
- **Limits** (``PKG_LIMIT``) apply to every entry the archive declares, junk included
  (a bomb cannot hide under a junk name): entry count (all central records), the sum of
  declared uncompressed sizes, each declared size, and the ratio
  uncompressed/compressed for entries above ``ratio_floor_bytes``. Nested archives are
  checked on material files only (``._x.zip`` is a macOS resource fork, not an archive).
  A central directory larger than 4 KiB per allowed entry (plus 1 MiB) is also
  ``PKG_LIMIT``: ``zipfile`` would load it whole into memory.
- **Compression methods**: only stored (0) and deflate (8). Anything else, bzip2 (12)
  and LZMA (14) included, is ``PKG_LIMIT`` "不支持的压缩方式": ``zipfile`` decompresses
  bzip2/LZMA chunks without an output bound, so an entry lying about its size would be
  a memory bomb; the tools institutions use (Windows, 7-Zip, Bandizip defaults) write
  deflate. Entries needing a ZIP version above 6.3 (the low byte of "version needed":
  APPNOTE 4.4.3; 7-Zip on Unix writes the host into the high byte, 0x030A), and patched
  data (flag bit 5), are ``PKG_LIMIT`` too. Encryption (flag bit 0, strong encryption
  bit 6, or WinZip AES method 99): ONE ``PKG_ENCRYPTED`` for the archive, naming the first
  three encrypted material files and counting the rest.
- **Split archives.** A volume of a split archive is ``PKG_NOT_ZIP`` with
  ``fault="split_volume"`` (the clerk must make one whole ZIP; uploading again cannot
  help): a file that starts with a spanning marker (``PK\\x07\\x08``, ``PK00``) and has no
  whole directory of its own (the first volume, ``x.z01``); an end record or ZIP64
  locator naming another disk than the first (the last volume, ``x.zip``); and, when the
  bytes alone say "unknown" or "incomplete", an upload named ``*.z01``/``*.001`` (a
  middle volume, or 7-Zip's byte volumes ``x.zip.001``). A marker followed by a whole
  archive on disk 0 (a "split" archive of one volume) is read. A ZIP behind other bytes
  (not a self-extracting ``MZ`` program) is ``PKG_NOT_ZIP`` named as such.
- **Structure errors are ``PKG_CORRUPT``**: no end-of-central-directory record, a
  directory that does not end where the end record says (truncation, prepended or
  appended archives; the end record is the last one whose comment ends the file and
  whose directory fits, else the last one whose comment fits: a comment may hold another
  archive, but of two concatenated archives neither is taken), a bad record signature,
  a malformed extra field, a local header missing or naming another file, a stored entry whose two sizes differ, and
  **overlapping entries** (each entry's local header + data (+ data descriptor) must end
  at or before the next entry's header and the central directory). Overlap makes the
  structure invalid whatever its intent (it is how the quoted-overlap bombs that pass
  Python < 3.13 work), so it is reported as corruption, with "重叠" in the detail.
- **Lying sizes.** As with ``zipfile``, the inflater is never asked for more than the
  declared size (nor for more than ``CHUNK`` at a time), and what follows the declared
  size or the end of the deflate stream is ignored; a member that holds more fails its
  CRC (``PKG_CORRUPT``), one that holds less is caught by our byte count
  (``PKG_CORRUPT``). Should more bytes than declared ever come out, extraction stops with
  ``PKG_LIMIT``. Sizes, CRC and method are those of the central directory (data
  descriptors are not trusted over it).
- **Duplicates** (``PKG_DUPLICATE_ENTRY``): two material files equal after NFC +
  casefold, or a file whose path is a folder implied by another file ("a" and "a/b";
  ``other`` then names the folder with a trailing "/"). ``PKG_EMPTY`` only when nothing
  but junk and directory entries remains (an archive of unsafe or undecodable entries
  gets those problems instead).
- ZIP64 end records and entries, and data descriptors (flag bit 3), are understood.
- ``ignored`` is filled even when there are problems (as far as names decode), so a
  rejection can still show what was dropped; ``files``/``directories`` are then empty.
- ``Problem.path`` is the entry name (control characters escaped), or "" for problems of
  the whole archive and for names that could not be decoded.

Only our own faults raise (``work_dir`` not writable, disk full, the ZIP file missing,
or changed between the scan and the pass). Nothing is logged: entry names can contain
names of persons.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import stat
import struct
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

# zlib-ng: the same deflate and CRC-32 as zlib, 2× faster inflating and 3× faster CRC-32
# (SIMD); both release the GIL like zlib's (see docs/performance.md)
from zlib_ng import zlib_ng as zlib

from pipeline.check.catalogue import Problem, format_size, problem
from pipeline.check.files import FileRange
from pipeline.check.contract import (VIDEO_EXTS, CENTRAL_HEADER, CENTRAL_HEADER_SIG, DATA_DESCRIPTOR_SIG, END_RECORD,
                                     END_RECORD_SEARCH_BYTES, END_RECORD_SIG, JUNK_FILE_NAMES, JUNK_FOLDER,
                                     JUNK_PREFIXES, LOCAL_HEADER, LOCAL_HEADER_SIG, SPANNING_MARKER,
                                     SPANNING_MARKER_OLD, ZIP64_END_RECORD, ZIP64_END_RECORD_SIG,
                                     ZIP64_LOCATOR, ZIP64_LOCATOR_SIG, ZIP_LEADING_SIGNATURES)
from pipeline.check.policy import ZipLimits

CHUNK = 1 << 20  # bytes per read of the ZIP (and at most per inflater output)

__all__ = ["CHUNK", "IN_PLACE_SUFFIXES", "ExtractedFile", "PackageContents", "find_end_record", "read_package",
           "zip_end_record_present"]


@dataclass(frozen=True)
class ExtractedFile:
    """One material file of a readable package, extracted and hashed."""

    path: str  # inside the package: NFC, "/"-separated, no leading "/", case kept
    #: its content: a file of the work area with a generated name (never a name from the
    #: archive), or, for a stored video, the ZIP itself, the content ``size`` bytes from
    #: ``offset`` (never copied: see :data:`IN_PLACE_SUFFIXES`)
    local_path: Path
    size: int
    sha256: str  # hex
    offset: int = 0

    @property
    def content(self) -> FileRange:
        return FileRange(self.local_path, self.offset, self.size)

    def read_bytes(self) -> bytes:
        """The whole content (forms: small files; a video is never read whole)."""
        with self.content.open() as f:
            return f.read()


@dataclass(frozen=True)
class PackageContents:
    """What :func:`read_package` learnt: the checks of spec §2-4 look only at this."""

    zip_size: int
    zip_sha256: str  # of the whole ZIP file, always computed
    name_encoding: str  # "utf-8", "gb18030" or "" when not determined
    files: tuple[ExtractedFile, ...]  # sorted by path; empty when there are problems
    directories: tuple[str, ...]  # every folder implied by the files, sorted
    ignored: tuple[str, ...]  # junk entries dropped (decoded names), sorted; kept on problems
    problems: tuple[Problem, ...]  # fatal PKG_* problems (empty = package readable)


# ---------------------------------------------------------------------------------------
# format sniffing

# first local header / empty archive / spanning markers (APPNOTE 8.5.3-8.5.4: the first
# volume of a split archive, or a "split" archive that needed one volume only)
_SPANNING_MARKERS = (SPANNING_MARKER, SPANNING_MARKER_OLD)
_ZIP_MAGICS = (LOCAL_HEADER_SIG, END_RECORD_SIG, *_SPANNING_MARKERS)
_MAGICS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"Rar!\x1a\x07", "RAR 压缩包"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (0, b"\x1f\x8b", "gzip 压缩文件"),
    (0, b"BZh", "bzip2 压缩文件"),
    (0, b"\xfd7zXZ\x00", "xz 压缩文件"),
    (0, b"\x28\xb5\x2f\xfd", "Zstandard 压缩文件"),
    (0, b"MSCF", "CAB 压缩包"),
    (257, b"ustar", "tar 归档文件"),
    (0, b"%PDF", "PDF 文档"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG 图片"),
    (0, b"\xff\xd8\xff", "JPEG 图片"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Office 97-2003 文档"),
    (0, b"MZ", "Windows 程序（可能是自解压文件）"),
    (4, b"ftyp", "MP4/MOV 视频"),
)


def _sniff(head: bytes) -> str | None:
    """None when ``head`` starts like a ZIP, else a short Chinese label of what it is."""
    if head.startswith(_ZIP_MAGICS):
        return None
    if not head:
        return "空文件"
    for offset, magic, label in _MAGICS:
        if head[offset:offset + len(magic)] == magic:
            return label
    return "未知格式"


# ---------------------------------------------------------------------------------------
# raw central-directory parsing


_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_PATCHED = 0x0020
_FLAG_STRONG_ENCRYPTION = 0x0040
_FLAG_UTF8 = 0x0800

_SUPPORTED_METHODS = {0, 8}
_METHOD_AES = 99
_METHOD_NAMES = {1: "Shrink", 6: "Implode", 9: "Deflate64", 12: "BZIP2", 14: "LZMA",
                 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "AES"}
_MAX_EXTRACT_VERSION = 63  # zipfile refuses anything newer
_CD_BYTES_PER_ENTRY = 4096


class _Corrupt(Exception):
    """The archive structure is broken; ``detail`` is the Chinese explanation, ``fault``
    and ``facts`` the same as raw PKG_CORRUPT parameters."""

    def __init__(self, detail: str, fault: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fault = fault
        self.facts = facts


@dataclass
class _Entry:
    """One central-directory record, raw, plus what the scan learns about it."""

    index: int
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    external_attr: int
    extract_version: int  # APPNOTE 4.4.3: the low byte only (the high byte names a host)
    create_system: int = 0  # the "version made by" host: 0 MS-DOS/Windows, 3 Unix, ...
    unicode_name: str | None = None  # from a valid Info-ZIP 0x7075 field
    name: str | None = None  # decoded + NFC, None if undecodable
    data_end: int | None = None  # end of local header + data (+ descriptor), if readable
    data_offset: int | None = None  # first byte of the member's data, if readable

    @property
    def is_dir(self) -> bool:
        return self.name is not None and self.name.endswith("/")

    @property
    def label(self) -> str:
        """How messages name the entry: its name, or its position when undecodable."""
        return _display(self.name) if self.name is not None else f"第 {self.index + 1} 个条目"

    @property
    def path(self) -> str:
        return _display(self.name) if self.name is not None else ""


@dataclass
class _Directory:
    """What the end records say about the central directory."""

    offset: int
    size: int
    count: int


def _read_exact(f: IO[bytes], offset: int, n: int) -> bytes | None:
    f.seek(offset)
    data = f.read(n)
    return data if len(data) == n else None


def _u(data: bytes, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "little")


def find_end_record(tail: bytes, base: int = 0, *, check_offsets: bool = False) -> int | None:
    """The offset in ``tail`` of the end-of-central-directory record that ends a ZIP, or
    None. ``tail`` is the file's last bytes (at least the last
    ``END_RECORD_SEARCH_BYTES``), starting at file offset ``base``.

    The one rule for "where does this archive end", shared by the reader and the upload
    watcher: the last record whose comment fits inside the file counts (bytes after the
    comment are tolerated, as zipfile and 7-Zip tolerate them). With ``check_offsets``
    (for a file whose offsets are absolute, i.e. starting with a ZIP signature) a record
    counts only when its central directory ends right where the end records begin: the
    end record of a stored nested ZIP in a half upload, or stray signature bytes in
    compressed data, do not. ZIP64 archives are judged through their end locator."""
    end = len(tail)
    while True:
        i = tail.rfind(END_RECORD_SIG, 0, end)
        if i < 0:
            return None
        end = i + len(END_RECORD_SIG) - 1  # next search: occurrences starting before i
        if i + END_RECORD.size + _u(tail, i + END_RECORD.size - 2, 2) > len(tail):
            continue  # its comment would run past the end of the file
        if not check_offsets or _central_directory_fits(tail, base, i):
            return i


def _central_directory_fits(tail: bytes, base: int, i: int) -> bool:
    """Whether the end record at ``tail[i]`` describes a central directory that ends
    right where the end records begin (offsets absolute)."""
    loc = i - ZIP64_LOCATOR.size
    if loc >= 0 and tail[loc:loc + 4] == ZIP64_LOCATOR_SIG:
        record = _u(tail, loc + 8, 8)  # absolute offset of the zip64 end record
        rel = record - base
        if rel < 0:
            return True  # record beyond what was read (huge extensible data): trust the locator
        if rel + ZIP64_END_RECORD.size <= loc and tail[rel:rel + 4] == ZIP64_END_RECORD_SIG:
            return _u(tail, rel + 48, 8) + _u(tail, rel + 40, 8) == record
        # No ZIP64 record where it points: the locator's bytes are the end of the last
        # directory entry (a name can hold them), judged by the end record alone.
    cd_size, cd_offset = _u(tail, i + 12, 4), _u(tail, i + 16, 4)
    return cd_offset + cd_size == base + i


def zip_end_record_present(path: Path) -> bool | None:
    """Is this (possibly still uploading) file a complete ZIP, by its end record
    (:func:`find_end_record`, offsets checked for a file starting with a ZIP signature)?

    True: complete. False: the file is empty or starts like a ZIP but has no end record
    (upload incomplete, may be resumed). None: not a ZIP by magic (the reader rejects
    it). Raises OSError (FileNotFoundError when the file vanished) like ``open``.
    """
    # O_NONBLOCK: never hang on a FIFO someone placed in the inbox.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size == 0:
            return False
        head = fh.read(len(LOCAL_HEADER_SIG))
        start = max(0, st.st_size - END_RECORD_SEARCH_BYTES)
        fh.seek(start)
        tail = fh.read(st.st_size - start)
    if not head:
        return False  # truncated between fstat and read
    # Offsets are absolute only when the archive starts at byte 0 (no SFX stub, no
    # spanning marker); elsewhere the signature and comment length must do.
    absolute = head in (LOCAL_HEADER_SIG, END_RECORD_SIG, ZIP64_END_RECORD_SIG)
    if find_end_record(tail, start, check_offsets=absolute) is not None:
        return True
    if len(head) < len(LOCAL_HEADER_SIG):
        # A few bytes only: incomplete if they are the start of a ZIP signature.
        return False if any(sig.startswith(head) for sig in ZIP_LEADING_SIGNATURES) else None
    if head in ZIP_LEADING_SIGNATURES:
        return False
    return None


class _SplitVolume(Exception):
    """The file is one volume of a split (spanned) archive; ``detected`` says which, in
    Chinese, ``volumes`` is the number of volumes when the end record tells it."""

    def __init__(self, detected: str, volumes: int | None = None) -> None:
        super().__init__(detected)
        self.detected = detected
        self.volumes = volumes


def _last_volume(disk: int) -> _SplitVolume:
    """The end record lies on disk ``disk`` (0-based) of a split archive: its last volume."""
    return _SplitVolume(f"共 {disk + 1} 卷中的最后一卷", disk + 1)


def _end_record_at(tail: bytes, tail_start: int) -> int | None:
    """The end record of the archive in ``tail``: the last one whose comment ends the file
    and whose directory ends where it begins, else (as before) the last one whose comment
    fits. The first rule reads an archive whose comment holds another archive, end record
    included (libzip's ``zip-in-archive-comment.zip``); it does not read the first of two
    concatenated archives, whose comment ends before the file does: readers that take the
    last end record would see the second one, so such a file stays ambiguous (corrupt)."""
    pos = find_end_record(tail, tail_start, check_offsets=True)
    if pos is not None and pos + END_RECORD.size + _u(tail, pos + END_RECORD.size - 2, 2) == len(tail):
        return pos
    return find_end_record(tail)


def _find_directory(f: IO[bytes], size: int) -> _Directory:
    """Locate the central directory from the end-of-central-directory record(s).

    The directory must end exactly where the end record (or ZIP64 end record) starts:
    that is what ``zipfile`` assumes when it computes entry offsets, and a gap means
    the file was truncated, prepended to or concatenated. An end record on another disk
    than the first raises :class:`_SplitVolume`.
    """
    tail_start = max(0, size - END_RECORD_SEARCH_BYTES)
    f.seek(tail_start)
    tail = f.read()
    pos = _end_record_at(tail, tail_start)
    if pos is None:
        raise _Corrupt("找不到压缩包末尾的目录记录，文件可能不完整（上传中断或被截断）", "no_end_record")
    _, disk, cd_disk, n_disk, count, cd_size, cd_offset, _ = END_RECORD.unpack_from(tail, pos)
    eocd_pos = tail_start + pos
    cd_end = eocd_pos
    needs_zip64 = 0xFFFF in (disk, cd_disk, n_disk, count) or 0xFFFFFFFF in (cd_size, cd_offset)
    zip64 = _zip64_end_record(f, eocd_pos, needs_zip64)
    if zip64 is not None:
        _, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = zip64
        cd_end = eocd_pos - ZIP64_LOCATOR.size - ZIP64_END_RECORD.size
    if disk != 0 or cd_disk != 0:
        raise _last_volume(disk)
    if cd_offset + cd_size != cd_end:
        raise _Corrupt("压缩包目录的位置与大小不一致，文件可能不完整或由多个文件拼接而成", "directory_position")
    return _Directory(cd_offset, cd_size, count)


def _zip64_end_record(f: IO[bytes], eocd_pos: int, needed: bool) -> tuple[Any, ...] | None:
    """The fields of the ZIP64 end record that the locator before the end record points
    at, or None when there is none. Locator-like bytes that point at no ZIP64 record
    are ignored when the end record does not need one (``needed``: it holds 0xFFFF or
    0xFFFFFFFF): they are the end of the last directory entry (zip-rs's
    ``zip64_magic_in_filename_*.zip``). A locator of several disks: a split archive."""
    locator = _read_exact(f, eocd_pos - ZIP64_LOCATOR.size, ZIP64_LOCATOR.size) \
        if eocd_pos >= ZIP64_LOCATOR.size else None
    if locator is None or locator[:4] != ZIP64_LOCATOR_SIG:
        return None
    _, record_disk, record_pos, disks = ZIP64_LOCATOR.unpack(locator)
    expected = eocd_pos - ZIP64_LOCATOR.size - ZIP64_END_RECORD.size
    record = _read_exact(f, expected, ZIP64_END_RECORD.size) if expected >= 0 else None
    if record_pos != expected or record is None or record[:4] != ZIP64_END_RECORD_SIG:
        if not needed:
            return None
        if record_disk != 0:  # on another volume: cannot be here
            raise _last_volume(max(disks - 1, record_disk))
        raise _Corrupt("ZIP64 目录记录损坏", "zip64_end_record")
    if disks > 1 or record_disk != 0:
        raise _last_volume(max(disks - 1, record_disk))
    return ZIP64_END_RECORD.unpack(record)


def _split_extra(extra: bytes) -> list[tuple[int, bytes]]:
    """Extra-field blocks (id, body) in order, with ``zipfile``'s tolerance (a tail < 4
    bytes is ignored)."""
    blocks: list[tuple[int, bytes]] = []
    while len(extra) >= 4:
        tag, length = struct.unpack_from("<HH", extra)
        if 4 + length > len(extra):
            raise _Corrupt("条目的扩展字段已损坏", "extra_field")
        blocks.append((tag, extra[4:4 + length]))
        extra = extra[4 + length:]
    return blocks


def _apply_zip64(entry: _Entry, body: bytes) -> None:
    """Replace the 0xFFFFFFFF fields by their ZIP64 values, in the order the spec fixes."""
    values = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
    try:
        if entry.file_size == 0xFFFFFFFF:
            entry.file_size = next(values)
        if entry.compress_size == 0xFFFFFFFF:
            entry.compress_size = next(values)
        if entry.header_offset == 0xFFFFFFFF:
            entry.header_offset = next(values)
    except StopIteration:
        raise _Corrupt("条目的 ZIP64 扩展字段不完整", "zip64_extra_field") from None


def _unicode_path(raw_name: bytes, bodies: list[bytes]) -> str | None:
    """The Info-ZIP Unicode Path name: of the entry's 0x7075 fields, the last that is
    version 1, carries the CRC of the header name and a non-empty valid UTF-8 name.

    A CRC mismatch means a tool unaware of the field renamed the entry: the header wins.
    An entry may carry the field more than once (an updating tool appends one); an empty
    name is no name (yauzl's ``unicode-path-extra-field.zip`` has both).
    """
    found = None
    for body in bodies:
        if len(body) < 6 or body[0] != 1:
            continue
        (crc,) = struct.unpack_from("<L", body, 1)
        if crc != zlib.crc32(raw_name):
            continue
        try:
            found = body[5:].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return found


def _parse_central(f: IO[bytes], directory: _Directory) -> list[_Entry]:
    """All central-directory records, read one by one (never the directory at once)."""
    entries: list[_Entry] = []
    f.seek(directory.offset)
    consumed = 0
    for index in range(directory.count):
        head = f.read(CENTRAL_HEADER.size)
        if len(head) != CENTRAL_HEADER.size or head[:4] != CENTRAL_HEADER_SIG:
            raise _Corrupt(f"压缩包目录第 {index + 1} 个条目已损坏", "directory_entry", entry_number=index + 1)
        (_, _, create_system, extract_version, flags, method, _, _, crc, csize, usize, name_len,
         extra_len, comment_len, _, _, external_attr, offset) = CENTRAL_HEADER.unpack(head)
        raw_name = f.read(name_len)
        extra = f.read(extra_len)
        f.seek(comment_len, 1)
        consumed += CENTRAL_HEADER.size + name_len + extra_len + comment_len
        if len(raw_name) != name_len or len(extra) != extra_len or consumed > directory.size:
            raise _Corrupt(f"压缩包目录第 {index + 1} 个条目已损坏", "directory_entry", entry_number=index + 1)
        # "Version needed" is a version in its low byte; some tools (7-Zip on Unix, the
        # zip of Apache Maven's build) put the host in the high byte too (0x030A, 0x0314).
        entry = _Entry(index, raw_name, flags, method, crc, csize, usize, offset, external_attr,
                       extract_version & 0xFF, create_system)
        blocks = _split_extra(extra)
        zip64 = next((body for tag, body in blocks if tag == 0x0001), None)
        if zip64 is not None:
            _apply_zip64(entry, zip64)
        entry.unicode_name = _unicode_path(raw_name, [body for tag, body in blocks if tag == 0x7075])
        entries.append(entry)
    if consumed != directory.size:
        raise _Corrupt("压缩包目录记录的条目数与目录大小不符", "directory_size")
    return entries


# ---------------------------------------------------------------------------------------
# names


def _escape_bytes(raw: bytes, limit: int = 60) -> str:
    """Printable ASCII kept, other bytes as \\xNN: shows where in the name the bad bytes are."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw[:limit])
    return text + ("…" if len(raw) > limit else "")


def _display(name: str, limit: int = 200) -> str:
    """A name fit for messages and JSON: control characters escaped, length bounded."""
    text = "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in name)
    return text if len(text) <= limit else text[:limit] + "…"


def _try_decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _decode_names(entries: list[_Entry]) -> tuple[str, Problem | None]:
    """Set ``entry.name`` for every decodable entry; return the archive's name encoding.

    The legacy (unflagged) names share one encoding, UTF-8 or else GB18030; see module
    docstring. When no single encoding fits, the names are still decoded as well as
    possible so that other problems can name their entries, and the encoding is "".
    """
    legacy = [e for e in entries if e.unicode_name is None and not e.flags & _FLAG_UTF8]
    encoding = ""
    if all(_try_decode(e.raw_name, "utf-8") is not None for e in legacy):
        encoding = "utf-8"
    elif all(_try_decode(e.raw_name, "gb18030") is not None for e in legacy):
        encoding = "gb18030"
    bad: _Entry | None = None
    for e in entries:
        if e.unicode_name is not None:
            name: str | None = e.unicode_name
        elif e.flags & _FLAG_UTF8:
            name = _try_decode(e.raw_name, "utf-8")
        else:
            name = _try_decode(e.raw_name, encoding or "utf-8")
            if name is None and not encoding:
                name = _try_decode(e.raw_name, "gb18030")
        if name is None:
            bad = bad or e
        else:
            e.name = _windows_separators(unicodedata.normalize("NFC", name), e.create_system)
    if not entries:
        return "", None
    if bad is not None:
        return "", problem("PKG_NAME_ENCODING", "", raw=_escape_bytes(bad.raw_name))
    return encoding or "utf-8", None


#: "version made by" hosts whose path separator is "\\" (APPNOTE 4.4.2.2): MS-DOS/Windows
#: FAT, OS/2 HPFS, Windows NTFS, VFAT, and 11 ("MVS"), which Windows XP's compressed
#: folders and WinZip write (Go's winxp.zip, Commons Compress utf8-winzip-test.zip)
_WINDOWS_HOSTS = frozenset({0, 6, 10, 11, 14})


def _windows_separators(name: str, create_system: int) -> str:
    """``name`` with "\\" read as the separator it is on the host that made the entry.

    APPNOTE 4.4.17.1 wants "/", but Windows PowerShell 5.1's ``Compress-Archive``, .NET
    Framework before 4.6.1 and WinZip's Unicode Path field write "\\". Info-ZIP's unzip
    and libarchive read it as a separator in entries made on MS-DOS/Windows, and so does
    this reader; the path is then judged like any other ("..", drive, absolute, empty
    segments stay unsafe). Elsewhere "\\" is a character of the name and unsafe.
    """
    return name.replace("\\", "/") if create_system in _WINDOWS_HOSTS else name


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_reasons(entry: _Entry) -> list[tuple[str, str]]:
    """Why the entry could escape the work area or fool a later tool: (key, Chinese)."""
    name = entry.name or ""
    reasons: list[tuple[str, str]] = []
    if stat.S_ISLNK(entry.external_attr >> 16):
        reasons.append(("symlink", "是符号链接"))
    if not name:
        return [*reasons, ("empty_name", "文件名为空")]
    if name.startswith("/"):
        reasons.append(("absolute", "是绝对路径"))
    if _DRIVE.match(name):
        reasons.append(("drive", "包含盘符"))
    if "\\" in name:
        reasons.append(("backslash", "包含反斜杠“\\”"))
    if any(unicodedata.category(c) == "Cc" for c in name):
        reasons.append(("control_character", "包含控制字符"))
    segments = name.split("/")
    if name.endswith("/"):
        segments = segments[:-1]
    if ".." in segments:
        reasons.append(("parent_segment", "包含“..”上级目录"))
    if "." in segments:
        reasons.append(("dot_segment", "包含“.”路径段"))
    if "" in segments[1:]:
        reasons.append(("empty_segment", "包含空的路径段"))
    return reasons


def _is_junk(name: str) -> bool:
    """OS and editor droppings: never material, never an error (spec §1)."""
    segments = name.rstrip("/").split("/")
    if any(s.casefold() == JUNK_FOLDER for s in segments):
        return True
    base = segments[-1]
    if name.endswith("/"):
        return False
    return base.casefold() in JUNK_FILE_NAMES or base.startswith(JUNK_PREFIXES)


def _fold(path: str) -> str:
    """The key under which two paths are the same on a case-insensitive file system."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def _parents(path: str) -> Iterable[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


# ---------------------------------------------------------------------------------------
# the scan


@dataclass
class _Scan:
    """What the central-directory scan found."""

    name_encoding: str = ""
    entries: list[_Entry] = field(default_factory=list)  # every central record, in order
    material: list[_Entry] = field(default_factory=list)  # safe, non-junk files
    ignored: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _number(x: float) -> str:
    """1234.0 -> "1234", 0.25 -> "0.25": ratios as people write them."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2f}".rstrip("0").rstrip(".")


def _check_entry_limits(entry: _Entry, limits: ZipLimits) -> list[Problem]:
    """Per-entry declared-size and ratio limits (from the central directory, before any
    decompression: the point is never to start on a bomb)."""
    out: list[Problem] = []
    if entry.file_size > limits.max_entry_bytes:
        out.append(problem("PKG_LIMIT", entry.path, detail=(
            f"文件“{entry.label}”解压后大小 {format_size(entry.file_size)}，"
            f"超过单个文件上限 {format_size(limits.max_entry_bytes)}"),
            fault="entry_size", entry=entry.label, size_bytes=entry.file_size,
            max_bytes=limits.max_entry_bytes))
    if (entry.file_size > limits.ratio_floor_bytes
            and entry.file_size > limits.max_ratio * entry.compress_size):
        ratio = entry.file_size / max(entry.compress_size, 1)
        out.append(problem("PKG_LIMIT", entry.path, detail=(
            f"文件“{entry.label}”压缩比 {_number(ratio)}:1，超过上限 {_number(limits.max_ratio)}:1"
            "（疑似压缩炸弹）"), fault="ratio", entry=entry.label, ratio=ratio, max_ratio=limits.max_ratio))
    if entry.extract_version > _MAX_EXTRACT_VERSION or entry.flags & _FLAG_PATCHED:
        version = entry.extract_version
        feature = "补丁数据" if entry.flags & _FLAG_PATCHED else f"需要 ZIP {version // 10}.{version % 10} 版"
        out.append(problem("PKG_LIMIT", entry.path, detail=(
            f"文件“{entry.label}”使用了不支持的 ZIP 扩展格式（{feature}）"), fault="zip_feature",
            entry=entry.label, version=version, patched=bool(entry.flags & _FLAG_PATCHED)))
    return out


def _is_encrypted(entry: _Entry) -> bool:
    """Flag bit 0 or 6, or WinZip AES (method 99, which always means a password)."""
    return bool(entry.flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION)) or entry.method == _METHOD_AES


_ENCRYPTED_NAMED = 3  # encrypted files named in the one PKG_ENCRYPTED; the rest are counted


def _encrypted_problem(encrypted: list[_Entry]) -> Problem:
    """One PKG_ENCRYPTED for the whole archive: a password usually covers every file, and
    one line per file would bury the other problems."""
    labels = list(dict.fromkeys(e.label for e in encrypted))  # an entry twice is one file
    named = labels[:_ENCRYPTED_NAMED]
    files = "、".join(f"“{n}”" for n in named)
    if len(labels) > len(named):
        files += f"等 {len(labels)} 个文件"
    return problem("PKG_ENCRYPTED", encrypted[0].path if len(labels) == 1 else "", files=files,
                   name=named[0], names=named, count=len(labels))


def _check_material(entry: _Entry, limits: ZipLimits) -> list[Problem]:
    """Checks that only matter for entries we would extract."""
    out: list[Problem] = []
    if _is_encrypted(entry):
        pass  # reported once for the archive (_encrypted_problem); its method is the password's
    elif entry.method not in _SUPPORTED_METHODS:
        method = _METHOD_NAMES.get(entry.method, "未知")
        out.append(problem("PKG_LIMIT", entry.path, detail=(
            f"文件“{entry.label}”使用了不支持的压缩方式（{method}，编号 {entry.method}）"),
            fault="method", entry=entry.label, method=entry.method))
    elif entry.method == 0 and entry.compress_size != entry.file_size:
        out.append(problem("PKG_CORRUPT", entry.path,
                           detail=f"文件“{entry.label}”声明的压缩前后大小不一致",
                           fault="stored_sizes", entry=entry.label))
    if entry.name is not None:
        base = entry.name.rsplit("/", 1)[-1].casefold()
        if base.endswith(tuple(s.casefold() for s in limits.nested_archive_suffixes)):
            out.append(problem("PKG_LIMIT", entry.path, detail=f"包含嵌套的压缩包“{entry.label}”",
                               fault="nested_archive", entry=entry.label))
    return out


def _check_duplicates(material: list[_Entry]) -> list[Problem]:
    """Two files that one case-insensitive, normalising file system would merge, and a
    file that has the name of a folder implied by another file."""
    out: list[Problem] = []
    files: dict[str, _Entry] = {}
    for entry in material:
        assert entry.name is not None
        key = _fold(entry.name)
        if key in files:
            first = files[key]
            out.append(problem("PKG_DUPLICATE_ENTRY", entry.path, name=first.label,
                               other=entry.label))
        else:
            files[key] = entry
    folders: dict[str, str] = {}  # folded folder -> the folder as its files spell it
    for entry in material:
        for parent in _parents(entry.name or ""):
            folders.setdefault(_fold(parent), parent)
    for key, entry in files.items():
        if key in folders:
            out.append(problem("PKG_DUPLICATE_ENTRY", entry.path, name=entry.label,
                               other=_display(folders[key]) + "/"))
    return out


def _check_layout(f: IO[bytes], entries: list[_Entry], directory: _Directory) -> list[Problem]:
    """Local headers exist, name the same file, and no entry's bytes overlap another's.

    Python < 3.13 does not detect overlapping entries, the trick of "quoted-overlap"
    zip bombs; the ZIP format never has them legitimately.
    """
    out: list[Problem] = []
    for entry in entries:
        head = _read_exact(f, entry.header_offset, LOCAL_HEADER.size) \
            if entry.header_offset + LOCAL_HEADER.size <= directory.offset else None
        if head is None or head[:4] != LOCAL_HEADER_SIG:
            out.append(problem("PKG_CORRUPT", entry.path,
                               detail=f"文件“{entry.label}”的本地文件头缺失或损坏",
                               fault="local_header", entry=entry.label))
            continue
        name_len, extra_len = struct.unpack_from("<HH", head, 26)
        local_name = _read_exact(f, entry.header_offset + LOCAL_HEADER.size, name_len)
        if local_name != entry.raw_name:
            out.append(problem("PKG_CORRUPT", entry.path,
                               detail=f"文件“{entry.label}”的本地文件头与目录中的名称不一致",
                               fault="local_name", entry=entry.label))
        entry.data_offset = entry.header_offset + LOCAL_HEADER.size + name_len + extra_len
        end = entry.data_offset + entry.compress_size
        if entry.flags & _FLAG_DATA_DESCRIPTOR:  # shortest descriptor: crc + 2 sizes
            end += 16 if _read_exact(f, end, 4) == DATA_DESCRIPTOR_SIG else 12
        entry.data_end = end
    ordered = sorted(entries, key=lambda e: (e.header_offset, e.index))
    for position, entry in enumerate(ordered):
        following = ordered[position + 1] if position + 1 < len(ordered) else None
        end = entry.data_end if entry.data_end is not None else entry.header_offset + LOCAL_HEADER.size
        if following is not None and end > following.header_offset:
            out.append(problem("PKG_CORRUPT", following.path, detail=(
                f"文件“{entry.label}”与“{following.label}”的数据相互重叠"
                "（overlapping entries，疑似压缩炸弹）"), fault="overlap", entry=entry.label,
                other=following.label))
        elif following is None and entry.data_end is not None and end > directory.offset:
            out.append(problem("PKG_CORRUPT", entry.path,
                               detail=f"文件“{entry.label}”的数据超出了有效范围",
                               fault="beyond_directory", entry=entry.label))
    return out


def _classify(entries: list[_Entry], limits: ZipLimits, scan: _Scan) -> None:
    """Split entries into unsafe / junk / directory / material, checking each."""
    dir_entries: list[str] = []
    has_other = False  # material-looking entries that were rejected (unsafe, undecodable)
    for entry in entries:
        scan.problems += _check_entry_limits(entry, limits)
        if entry.name is None:
            has_other = True
            continue
        reasons = _unsafe_reasons(entry)
        if reasons:
            has_other = True
            scan.problems.append(problem("PKG_UNSAFE_PATH", entry.path, name=entry.label,
                                         reason="；".join(text for _, text in reasons),
                                         faults=[key for key, _ in reasons]))
        elif _is_junk(entry.name):
            scan.ignored.append(entry.name)
        elif entry.is_dir:
            dir_entries.append(entry.name)
        else:
            scan.problems += _check_material(entry, limits)
            scan.material.append(entry)
    encrypted = [e for e in scan.material if _is_encrypted(e)]
    if encrypted:
        scan.problems.append(_encrypted_problem(encrypted))
    implied = {_fold(p) for e in scan.material for p in _parents(e.name or "")}
    scan.ignored += [d for d in dir_entries if _fold(d.rstrip("/")) not in implied]
    scan.ignored.sort()
    scan.problems += _check_duplicates(scan.material)
    if not scan.material and not has_other:
        detail = f"（仅有 {len(scan.ignored)} 个被忽略的系统文件或空文件夹）" if scan.ignored else ""
        scan.problems.append(problem("PKG_EMPTY", "", detail=detail, ignored_count=len(scan.ignored)))


#: what the name of a volume of a split archive ends with: x.z01 (WinRAR, Info-ZIP,
#: 7-Zip, Bandizip), x.zip.001 or x.001 (7-Zip's and file splitters' byte volumes)
_SPLIT_NAME = re.compile(r"\.(z\d{2,3}|\d{3})$", re.IGNORECASE)
#: structure faults that the missing volumes of a split archive explain
_INCOMPLETE = frozenset({"no_end_record", "directory_position", "zip64_end_record"})


def _split_problem(volume: _SplitVolume) -> Problem:
    """The one problem of a volume of a split archive: PKG_NOT_ZIP, as the clerk has to
    make a new ZIP (uploading the file again cannot help), with its own wording."""
    return problem("PKG_NOT_ZIP", "", detected=volume.detected, fault="split_volume",
                   volumes=volume.volumes)


def _split_by_name(package_name: str) -> _SplitVolume | None:
    match = _SPLIT_NAME.search(package_name)
    return _SplitVolume(f"文件名以“{match.group(0)}”结尾") if match else None


@dataclass(frozen=True)
class _Tail:
    """The last bytes of a file, where its end record is looked for."""

    start: int  # the offset of ``data`` in the file
    data: bytes
    end_record: int | None  # the end record's position in ``data`` (by signature only)


def _read_tail(f: IO[bytes], size: int) -> _Tail:
    start = max(0, size - END_RECORD_SEARCH_BYTES)
    f.seek(start)
    data = f.read()
    return _Tail(start, data, find_end_record(data))


def _split_by_end_record(tail: _Tail) -> _SplitVolume | None:
    """For a file that does not start like a ZIP: an end record on another disk than the
    first makes it the last volume of a split archive (its first bytes continue the
    previous volume). Its offsets are not this file's, so only the disk numbers count."""
    pos = tail.end_record
    if pos is None:
        return None
    tail_bytes = tail.data
    _, disk, cd_disk, _, _, _, _, _ = END_RECORD.unpack_from(tail_bytes, pos)
    locator = pos - ZIP64_LOCATOR.size
    if disk == 0xFFFF and locator >= 0 and tail_bytes[locator:locator + 4] == ZIP64_LOCATOR_SIG:
        _, _, _, disks = ZIP64_LOCATOR.unpack_from(tail_bytes, locator)
        return _last_volume(disks - 1) if disks > 1 else None
    if disk not in (0, 0xFFFF) or cd_disk not in (0, 0xFFFF):
        return _last_volume(disk)
    return None


def _prefixed_zip(f: IO[bytes], tail: _Tail) -> bool:
    """Whether the file is a whole ZIP with other bytes before it: its directory lies
    exactly as many bytes after where the end record says as the end record after where
    it should be (what readers that compute a "base offset" accept: Go, zipfile)."""
    pos = tail.end_record
    if pos is None:
        return False
    _, _, _, _, _, cd_size, cd_offset, _ = END_RECORD.unpack_from(tail.data, pos)
    prefix = tail.start + pos - (cd_offset + cd_size)
    return prefix > 0 and cd_size > 0 and _read_exact(f, cd_offset + prefix, 4) == CENTRAL_HEADER_SIG


def _not_a_zip(f: IO[bytes], size: int, label: str, package_name: str) -> Problem:
    """PKG_NOT_ZIP for a file that does not start like a ZIP, unless it is a later volume
    of a split archive (by its end record, or, when its bytes say nothing, its name).
    A ZIP behind other bytes stays PKG_NOT_ZIP (the contract wants one ZIP file, and
    readers disagree on such files), but the clerk is told what it is."""
    tail = _read_tail(f, size)  # once, for both questions
    volume = _split_by_end_record(tail) if size else None
    if volume is None and label == "未知格式":
        volume = _split_by_name(package_name)
        if volume is None and _prefixed_zip(f, tail):
            label = "开头附加了其他数据的 ZIP 压缩包"
    return _split_problem(volume) if volume else problem("PKG_NOT_ZIP", "", detected=label)


def _locate_directory(f: IO[bytes], size: int, spanned: bool, package_name: str) -> _Directory:
    """:func:`_find_directory`, with the faults that missing volumes explain turned into
    :class:`_SplitVolume`: any, after a spanning marker; the incomplete ones, by name."""
    try:
        return _find_directory(f, size)
    except _Corrupt as exc:
        volume = _SplitVolume("第 1 卷") if spanned else None
        if volume is None and exc.fault in _INCOMPLETE:
            volume = _split_by_name(package_name)
        if volume is not None:
            raise volume from exc
        raise


def _scan(f: IO[bytes], size: int, limits: ZipLimits, *, spanned: bool = False,
          package_name: str = "") -> _Scan:
    """Everything that can be learnt without decompressing a byte. ``spanned``: the file
    starts with a spanning marker, so an archive without a whole directory of its own is
    the first volume of a split archive."""
    scan = _Scan()
    try:
        directory = _locate_directory(f, size, spanned, package_name)
        if directory.count > limits.max_entries:
            scan.problems.append(problem("PKG_LIMIT", "", detail=(
                f"共有 {directory.count} 个条目，超过上限 {limits.max_entries} 个"),
                fault="entries", count=directory.count, max_count=limits.max_entries))
            return scan
        if directory.size > limits.max_entries * _CD_BYTES_PER_ENTRY + (1 << 20):
            scan.problems.append(problem("PKG_LIMIT", "", detail=(
                f"压缩包目录过大（{format_size(directory.size)}）"),
                fault="directory_bytes", size_bytes=directory.size))
            return scan
        entries = scan.entries = _parse_central(f, directory)
    except _Corrupt as exc:
        scan.problems.append(problem("PKG_CORRUPT", "", detail=exc.detail, fault=exc.fault, **exc.facts))
        return scan
    except _SplitVolume as volume:
        scan.problems.append(_split_problem(volume))
        return scan
    scan.name_encoding, bad_name = _decode_names(entries)
    if bad_name is not None:
        scan.problems.append(bad_name)
    _classify(entries, limits, scan)
    total = sum(e.file_size for e in entries)
    if total > limits.max_total_bytes:
        scan.problems.append(problem("PKG_LIMIT", "", detail=(
            f"解压后总大小 {format_size(total)}，超过上限 {format_size(limits.max_total_bytes)}"),
            fault="total_size", size_bytes=total, max_bytes=limits.max_total_bytes))
    scan.problems += _check_layout(f, entries, directory)
    scan.material.sort(key=lambda e: e.name or "")
    return scan


# ---------------------------------------------------------------------------------------
# the single pass: whole-file hash + extraction


class _ExtractionFailed(Exception):
    def __init__(self, found: Problem) -> None:
        super().__init__(found.message)
        self.problem = found


def _corrupt(entry: _Entry, detail: str, fault: str) -> _ExtractionFailed:
    return _ExtractionFailed(problem("PKG_CORRUPT", entry.path, detail=detail, fault=fault,
                                     entry=entry.label))


def _too_large(entry: _Entry) -> _ExtractionFailed:
    return _ExtractionFailed(problem("PKG_LIMIT", entry.path, detail=(
        f"文件“{entry.label}”解压后的实际大小超过了声明的大小"), fault="beyond_declared_size",
        entry=entry.label, declared_bytes=entry.file_size))


@dataclass(eq=False)
class _Member:
    """A material file during the pass. The reader thread owns the counters and the
    inflater; the writer thread owns ``digest`` and ``file`` (read by the reader only
    after the writer has stopped)."""

    entry: _Entry
    local: Path | None  # None: read where it lies in the ZIP (a stored video), not written
    start: int  # its data in the ZIP: [start, end)
    end: int
    digest: Any = field(default_factory=hashlib.sha256)
    crc: int = 0
    size: int = 0  # content bytes so far
    inflater: Any = None  # zlib decompressor of a deflated member, once started
    complete: bool = False  # deflated: declared size reached or stream ended
    file: IO[bytes] | None = None


_Op = tuple[_Member, "bytes | memoryview | None"]  # content to hash and write; None: close


class _Writer:
    """Second thread: member SHA-256 + writes (hashlib and file writes release the GIL,
    so this runs beside the reader's whole-file SHA-256, CRCs and inflating).

    Every :meth:`post` needs a permit (:meth:`reserve`), given back when the writer has
    finished with it, so at most ``slots`` posts are in flight: that bounds memory, and
    tells the reader when a read buffer is no longer in use (see :func:`_stream`).
    """

    def __init__(self, slots: int) -> None:
        self._permits = threading.Semaphore(slots)
        self._queue: queue.SimpleQueue[list[_Op] | None] = queue.SimpleQueue()
        self._open: list[_Member] = []
        self.error: BaseException | None = None  # first failure (ours: disk full, ...)
        self._thread = threading.Thread(target=self._run, name="package-writer", daemon=True)
        self._thread.start()

    def reserve(self) -> None:
        self._permits.acquire()

    def unreserve(self) -> None:
        self._permits.release()

    def post(self, ops: list[_Op]) -> None:
        """Hand over ``ops`` (after :meth:`reserve`); the list is not to be touched again."""
        self._queue.put(ops)

    def close(self) -> None:
        """Finish what was posted (skipped after an error) and stop; idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            while (ops := self._queue.get()) is not None:
                if self.error is None:
                    try:
                        self._apply(ops)
                    except BaseException as exc:  # handed to the reader, which raises it
                        self.error = exc
                del ops  # drop the views of the read buffer before giving it back
                self._permits.release()
        finally:
            for member in self._open:
                if member.file is not None:
                    member.file.close()

    def _apply(self, ops: list[_Op]) -> None:
        for member, piece in ops:
            if member.local is None:  # read in place: only hashed
                if piece is not None:
                    member.digest.update(piece)
                continue
            if member.file is None:
                member.file = open(member.local, "wb")  # closed by its op None
                self._open.append(member)
            if piece is None:
                member.file.close()
            else:
                member.digest.update(piece)
                member.file.write(piece)


class _Extraction:
    """The material files' share of the pass, fed chunk by chunk in file order."""

    def __init__(self, members: list[_Member], budget: int, writer: _Writer) -> None:
        self.members = members  # sorted by start, non-overlapping (checked by the scan)
        self.next = 0  # first member not finished
        self.budget = budget  # content bytes still allowed in total
        self.writer = writer
        self.ops: list[_Op] = []

    def feed(self, chunk: memoryview, pos: int) -> None:
        """The chunk of the ZIP at offset ``pos``: CRC + inflate here, queue the content.
        Leaves ``self.ops`` for the caller to post (it holds the chunk's permit)."""
        end = pos + len(chunk)
        while self.next < len(self.members):
            member = self.members[self.next]
            if member.start >= end:  # (an empty member there: next chunk; the ZIP goes on)
                break
            a, b = max(member.start, pos), min(member.end, end)
            if b > a:
                if member.entry.method == 0:
                    self._content(member, chunk[a - pos:b - pos])
                else:
                    self._inflate(member, chunk[a - pos:b - pos])
            if member.end > end:
                break
            self._finish(member)
            self.next += 1

    @property
    def finished(self) -> bool:
        return self.next == len(self.members)

    def _content(self, member: _Member, piece: bytes | memoryview, *, owned: bool = False) -> None:
        """Bytes of the member's content. ``owned``: a fresh inflater output, posted at
        once (under its own permit) so that inflated data in flight stays bounded."""
        member.size += len(piece)
        self.budget -= len(piece)
        if member.size > member.entry.file_size or self.budget < 0:
            raise _too_large(member.entry)
        member.crc = zlib.crc32(piece, member.crc)
        self.ops.append((member, piece))
        if owned:
            ops, self.ops = self.ops, []
            self.writer.reserve()
            self.writer.post(ops)

    def _inflate(self, member: _Member, data: bytes | memoryview) -> None:
        """Inflate ``data`` (compressed bytes of the member), never asking for more output
        than the declared size still allows, nor more than CHUNK per call. Once the
        declared size is reached or the stream ends, the rest is ignored (as zipfile)."""
        if member.inflater is None:
            member.inflater = zlib.decompressobj(-15)
        for at in range(0, len(data), _INFLATE_INPUT):
            pending: bytes | memoryview = data[at:at + _INFLATE_INPUT]
            while not member.complete:
                want = min(member.entry.file_size - member.size, CHUNK)
                if want <= 0:
                    member.complete = True
                    break
                try:
                    out = member.inflater.decompress(pending, want)
                except zlib.error as exc:
                    raise _corrupt(member.entry,
                                   f"文件“{member.entry.label}”的数据不完整或已损坏", "data") from exc
                if out:  # (more than ``want`` would be zlib breaking its contract: PKG_LIMIT)
                    self._content(member, out, owned=True)
                if member.inflater.eof:
                    member.complete = True
                left = len(pending)
                pending = member.inflater.unconsumed_tail
                if not out and len(pending) >= left:
                    break  # input used up (or no progress) and no output pending

    def _finish(self, member: _Member) -> None:
        """The member's data has all been fed (and inflated: :meth:`_inflate` drains the
        inflater after each input): verify, close."""
        entry = member.entry
        if member.size != entry.file_size:
            raise _corrupt(entry, f"文件“{entry.label}”的实际大小与声明的大小不符，数据不完整", "size")
        if member.crc != entry.crc:
            raise _corrupt(entry, f"文件“{entry.label}”校验失败（CRC 错误），数据已损坏", "crc")
        self.ops.append((member, None))


_INFLATE_INPUT = 1 << 16  # compressed bytes per inflater call: bounds unconsumed_tail copies
READ_BUFFERS = 4  # chunks in flight between the reader and the writer thread (>= 2)


def _advise_sequential(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass  # only advice


def _stream(fd: int, size: int, members: list[_Member], limits: ZipLimits,
            ) -> tuple[str, Problem | None]:
    """Read the ZIP once, start to end: (its SHA-256, the extraction problem if any).

    Each chunk is read into one of ``READ_BUFFERS`` reused buffers and feeds, in this
    thread, the whole-file SHA-256 and the members' CRCs/inflaters, and, in the writer
    thread, the members' SHA-256 and files. Before a read the reader takes a permit, and
    every chunk ends with one post to the writer under that permit; as the writer works
    in order and at most ``READ_BUFFERS`` posts are in flight, the buffer read into
    ``READ_BUFFERS`` chunks ago is then free. After an extraction problem (or with no
    members) the writer is stopped and the rest is only hashed: the receipt needs the
    hash of refused packages too.
    """
    whole = hashlib.sha256()
    buffers = [bytearray(CHUNK) for _ in range(READ_BUFFERS if members else 1)]
    writer = _Writer(READ_BUFFERS) if members else None
    extraction = _Extraction(members, limits.max_total_bytes, writer) if writer else None
    failed: Problem | None = None
    pos = number = 0
    try:
        while True:
            if writer is not None:
                writer.reserve()
            buffer = buffers[number % len(buffers)]
            n = os.preadv(fd, [buffer], pos)
            if n == 0:
                if writer is not None:
                    writer.unreserve()
                break
            view = memoryview(buffer)[:n]
            if writer is not None and extraction is not None:
                try:
                    extraction.feed(view, pos)
                except _ExtractionFailed as exc:
                    failed = exc.problem
                    extraction.ops = []  # its files are removed anyway
                ops, extraction.ops = extraction.ops, []
                writer.post(ops)
                del ops
                if failed is not None or writer.error is not None or extraction.finished:
                    writer.close()
                    if writer.error is not None:
                        raise writer.error
                    writer = None
                    buffers = buffers[:1]  # no post can hold a buffer any more
            whole.update(view)
            del view
            pos += n
            number += 1
    finally:
        if writer is not None:
            writer.close()
    if pos != size or (extraction is not None and not extraction.finished and failed is None):
        raise OSError(f"the ZIP file changed while being read ({size} bytes, then {pos})")
    return whole.hexdigest(), failed


_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


def local_name(number: int, archive_path: str) -> str:
    """The work-area name of a member: its number, plus its extension when that is plain
    ASCII (``000017.mp4``). libmediainfo guesses the parser from the extension: without
    it, probing a 40 MB MP4 took 4× longer. Nothing else of the archive name is used."""
    suffix = PurePosixPath(archive_path).suffix.lower()
    return f"{number:06d}{suffix if _SAFE_SUFFIX.fullmatch(suffix) else ''}"


#: stored members with these suffixes are read where they lie in the ZIP, never copied
#: to the work area: videos, nearly all of a package's bytes (a 4.4 GB package was 17 s,
#: most of it writing 4 GB of copies); what reads them takes a FileRange (the video
#: measuring, its mediainfo child included). Photos and forms are small and are copied.
IN_PLACE_SUFFIXES = frozenset(VIDEO_EXTS)


def _in_place(entry: _Entry) -> bool:
    return entry.method == 0 and PurePosixPath(entry.name or "").suffix.lower() in IN_PLACE_SUFFIXES


def _plan(scan: _Scan, files_dir: Path) -> list[_Member]:
    """Material files in archive order; local names number them in path order."""
    members = []
    for number, entry in enumerate(scan.material):
        assert entry.data_offset is not None  # the scan found its local header
        local = None if _in_place(entry) else files_dir / local_name(number, entry.path)
        members.append(_Member(entry, local, entry.data_offset, entry.data_offset + entry.compress_size))
    members.sort(key=lambda m: m.start)
    return members


def read_package(zip_path: Path, work_dir: Path, limits: ZipLimits, *,
                 package_name: str = "") -> PackageContents:
    """Scan ``zip_path`` and, if it has no fatal problem, extract it under ``work_dir``.

    ``package_name`` is the name the file was uploaded under (``zip_path`` may be a
    generated one): it only explains an archive that cannot be read (``x.z02`` is a volume
    of a split archive), never rejects one that can.

    Never raises for a bad archive: every defect becomes a PKG_* problem. Raises only for
    our own faults (``zip_path`` unreadable or changed while read, ``work_dir`` not
    writable, disk full).
    """
    zip_path, work_dir = Path(zip_path), Path(work_dir)
    files_dir = work_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    members: list[_Member] = []
    try:
        with open(zip_path, "rb") as f:
            zip_size = os.fstat(f.fileno()).st_size
            _advise_sequential(f.fileno())
            head = f.read(512)
            label = _sniff(head)
            if label is not None:
                scan = _Scan(problems=[_not_a_zip(f, zip_size, label, package_name)])
            else:
                scan = _scan(f, zip_size, limits, spanned=head.startswith(_SPANNING_MARKERS),
                             package_name=package_name)
            if not scan.problems:
                members = _plan(scan, files_dir)
            zip_sha256, failed = _stream(f.fileno(), zip_size, members, limits)
    except BaseException:
        _remove(members)
        raise
    files: list[ExtractedFile] = []
    problems = scan.problems
    if failed is not None:
        _remove(members)
        problems = [failed]
    elif members:
        files = [ExtractedFile(m.entry.name or "", m.local, m.size, m.digest.hexdigest()) if m.local is not None
                 else ExtractedFile(m.entry.name or "", zip_path, m.size, m.digest.hexdigest(), offset=m.start)
                 for m in members]
    dirs = sorted({p for f in files for p in _parents(f.path)})
    return PackageContents(zip_size, zip_sha256, scan.name_encoding,
                           tuple(sorted(files, key=lambda f: f.path)), tuple(dirs),
                           tuple(scan.ignored), tuple(problems))


def _remove(members: list[_Member]) -> None:
    """Remove what was written (the members read in place have nothing: the ZIP stays)."""
    for member in members:
        if member.local is not None:
            member.local.unlink(missing_ok=True)
