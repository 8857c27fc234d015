"""Craft ZIP archives byte by byte, including hostile and malformed ones, for tests.

``zipfile`` refuses to write most of what an attacker (or a broken zip tool) produces:
names without the UTF-8 flag in GBK, lying sizes, entries sharing data, symlinks,
encryption flags without encryption. This module writes exactly the bytes asked for.

Typical use::

    data = build([stored("a.txt", b"hi"), deflated("b/c.txt", b"x" * 100)])
    path = write(tmp_path / "p.zip", data)

An :class:`Entry` holds what goes into one local record and its central-directory
record; every field that a test may want to lie about can be overridden.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800

STORED = 0
DEFLATED = 8

SYSTEM_DOS = 0  # MS-DOS / Windows FAT: what Windows tools write
SYSTEM_UNIX = 3
SYSTEM_NTFS = 10
SYSTEM_MACOS = 19  # OS X (Darwin)

#: the markers a split archive's first volume starts with (APPNOTE 8.5.3-8.5.4)
SPANNING_MARKER = b"PK\x07\x08"
SPANNING_MARKER_OLD = b"PK00"

#: external_attr of a Unix symlink entry (mode 0o120777 in the high 16 bits)
SYMLINK_ATTR = 0o120777 << 16
#: external_attr of an ordinary Unix file (mode 0o100644)
FILE_ATTR = 0o100644 << 16

_LOCAL = struct.Struct("<4sHHHHHLLLHH")  # 30 bytes
_CENTRAL = struct.Struct("<4sBBHHHHHLLLHHHHHLL")  # 46 bytes
_EOCD = struct.Struct("<4sHHHHLLH")  # 22 bytes
_EOCD64 = struct.Struct("<4sQHHLLQQQQ")  # 56 bytes
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_DOS_TIME, _DOS_DATE = 0, (2024 - 1980) << 9 | 1 << 5 | 1


@dataclass(frozen=True)
class Entry:
    """One archive member as it will be written.

    ``data`` is the member's bytes as they lie in the archive (already compressed when
    ``method`` is not STORED). ``crc``, ``file_size`` and ``compress_size`` are the values
    declared in both headers; the helpers :func:`stored` and :func:`deflated` fill them
    truthfully, tests replace them to lie.
    """

    name: bytes
    data: bytes = b""
    crc: int = 0
    file_size: int = 0
    compress_size: int | None = None  # None: len(data)
    method: int = STORED
    flags: int = 0
    extra: bytes = b""  # central-directory extra field
    local_extra: bytes | None = None  # None: same as ``extra``
    local_name: bytes | None = None  # None: same as ``name``
    external_attr: int = FILE_ATTR
    create_system: int = SYSTEM_UNIX
    create_version: int = 20  # low byte of "version made by"
    #: "version needed to extract", both headers; the high byte may carry a host too
    #: (7-Zip on Unix writes 0x030A, i.e. host 3, version 1.0)
    extract_version: int = 20
    #: central record points at the local header of the entry with this index instead
    #: of a local record of its own (no local record is written for this entry)
    local_of: int | None = None
    #: for FLAG_DATA_DESCRIPTOR: write a descriptor (with signature) after the data
    descriptor: bool = False
    #: write every size (and the central header offset) as 0xFFFFFFFF with the real
    #: values in a ZIP64 extra field (0x0001) put before ``extra``/``local_extra``
    force_zip64: bool = False

    @property
    def declared_compress_size(self) -> int:
        return len(self.data) if self.compress_size is None else self.compress_size


def replace(entry: Entry, **changes: Any) -> Entry:
    """``entry`` with some declared fields changed: how a test makes an entry lie."""
    return dataclasses.replace(entry, **changes)


def name_bytes(name: str | bytes, encoding: str = "utf-8") -> bytes:
    return name if isinstance(name, bytes) else name.encode(encoding)


def _utf8_flag(name: str | bytes, flags: int | None) -> int:
    """Default flags: bit 11 when a str name is not pure ASCII (as zipfile writes it)."""
    if flags is not None:
        return flags
    return FLAG_UTF8 if isinstance(name, str) and not name.isascii() else 0


def stored(name: str | bytes, content: bytes = b"", *, flags: int | None = None,
           **overrides: Any) -> Entry:
    """A truthful STORED entry; ``str`` names are UTF-8 with the flag when non-ASCII."""
    entry = Entry(name=name_bytes(name), data=content, crc=zlib.crc32(content),
                  file_size=len(content), method=STORED, flags=_utf8_flag(name, flags))
    return replace(entry, **overrides)


def deflated(name: str | bytes, content: bytes, *, flags: int | None = None,
             **overrides: Any) -> Entry:
    """A truthful DEFLATE entry compressed in memory (fine for small contents)."""
    return deflated_stream(name, [content], flags=flags, **overrides)


def deflated_stream(name: str | bytes, chunks: Iterable[bytes], *, flags: int | None = None,
                    **overrides: Any) -> Entry:
    """A DEFLATE entry from chunks, so a large uncompressible-in-memory content (50 MB of
    zeros) is never materialised: only the compressed bytes are kept."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts: list[bytes] = []
    crc = size = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    entry = Entry(name=name_bytes(name), data=b"".join(parts), crc=crc, file_size=size,
                  method=DEFLATED, flags=_utf8_flag(name, flags))
    return replace(entry, **overrides)


def directory(name: str | bytes, **overrides: Any) -> Entry:
    """A directory entry (name must end with "/")."""
    entry = stored(name, b"", external_attr=(0o40755 << 16) | 0x10)
    return replace(entry, **overrides)


def zeros(total: int, chunk: int = 1 << 20) -> Iterable[bytes]:
    """``total`` zero bytes in chunks, for bombs that must not be built in memory."""
    block = bytes(chunk)
    while total > 0:
        n = min(chunk, total)
        yield block if n == chunk else bytes(n)
        total -= n


def unicode_path_extra(header_name: bytes, unicode_name: str, *, crc: int | None = None) -> bytes:
    """Info-ZIP Unicode Path extra field (0x7075, version 1) for ``header_name``."""
    body = struct.pack("<BL", 1, zlib.crc32(header_name) if crc is None else crc)
    body += unicode_name.encode("utf-8")
    return struct.pack("<HH", 0x7075, len(body)) + body


def zip64_extra(*values: int) -> bytes:
    """ZIP64 extended information extra field (0x0001) holding ``values`` in order
    (file size, compressed size, header offset: those whose 32-bit field is 0xFFFFFFFF)."""
    body = b"".join(struct.pack("<Q", v) for v in values)
    return struct.pack("<HH", 0x0001, len(body)) + body


def _local_record(e: Entry) -> bytes:
    name = e.name if e.local_name is None else e.local_name
    extra = e.extra if e.local_extra is None else e.local_extra
    csize, usize = min(e.declared_compress_size, 0xFFFFFFFF), min(e.file_size, 0xFFFFFFFF)
    if e.force_zip64:
        extra = zip64_extra(e.file_size, e.declared_compress_size) + extra
        csize = usize = 0xFFFFFFFF
    header = _LOCAL.pack(b"PK\x03\x04", e.extract_version, e.flags, e.method, _DOS_TIME, _DOS_DATE,
                         e.crc, csize, usize, len(name), len(extra))
    out = header + name + extra + e.data
    if e.descriptor:
        out += struct.pack("<4sLLL", b"PK\x07\x08", e.crc, e.declared_compress_size & 0xFFFFFFFF,
                           e.file_size & 0xFFFFFFFF)
    return out


def _central_record(e: Entry, offset: int) -> bytes:
    """Sizes that do not fit 32 bits are written as 0xFFFFFFFF; the test supplies the
    matching :func:`zip64_extra` in ``extra`` itself (unless ``force_zip64``)."""
    csize, usize, extra = e.declared_compress_size, e.file_size, e.extra
    if e.force_zip64:
        extra = zip64_extra(usize, csize, offset) + extra
        csize = usize = offset = 0xFFFFFFFF
    return _CENTRAL.pack(
        b"PK\x01\x02", e.create_version, e.create_system, max(e.extract_version, 45 if e.force_zip64 else 0),
        e.flags, e.method, _DOS_TIME, _DOS_DATE, e.crc, min(csize, 0xFFFFFFFF),
        min(usize, 0xFFFFFFFF), len(e.name), len(extra), 0, 0, 0, e.external_attr,
        min(offset, 0xFFFFFFFF),
    ) + e.name + extra


def build(entries: Sequence[Entry], *, comment: bytes = b"", zip64: bool = False,
          declared_count: int | None = None, cd_offset_delta: int = 0, prefix: bytes = b"",
          disk: int = 0, zip64_disks: int = 1) -> bytes:
    """The whole archive: local records, central directory, (ZIP64 records,) EOCD.

    ``declared_count`` lies about the number of entries in the EOCD; ``cd_offset_delta``
    shifts the declared central-directory offset (a broken directory pointer).
    ``prefix`` comes first and counts in the offsets (a spanning marker). ``disk`` is
    the disk number the end records give for themselves and the directory (a split
    archive's last volume: not 0); ``zip64_disks`` the locator's total number of disks.
    """
    body = bytearray(prefix)
    offsets: list[int] = []
    for e in entries:
        if e.local_of is not None:
            offsets.append(offsets[e.local_of])
            continue
        offsets.append(len(body))
        body += _local_record(e)
    cd_offset = len(body)
    central = b"".join(_central_record(e, off) for e, off in zip(entries, offsets, strict=True))
    body += central
    count = len(entries) if declared_count is None else declared_count
    if zip64:
        eocd64_offset = len(body)
        body += _EOCD64.pack(b"PK\x06\x06", 44, 45, 45, disk, disk, count, count, len(central),
                             cd_offset + cd_offset_delta)
        body += _EOCD64_LOCATOR.pack(b"PK\x06\x07", disk, eocd64_offset, zip64_disks)
        body += _EOCD.pack(b"PK\x05\x06", disk, disk, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(comment)) + comment
    else:
        body += _EOCD.pack(b"PK\x05\x06", disk, disk, count, count, len(central),
                           cd_offset + cd_offset_delta, len(comment)) + comment
    return bytes(body)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def gbk_name_valid_as_utf8(length: int = 2) -> str:
    """A ``length``-character Chinese name whose GBK bytes are also valid UTF-8.

    Such a name alone is indistinguishable from UTF-8 (it decodes as different, rarer
    characters); the reader must decide the encoding per archive, not per name.
    Searched among GB2312 level-1 characters: a UTF-8 two-byte sequence is a lead byte
    0xC2..0xDF followed by a continuation 0x80..0xBF.
    """
    found: list[str] = []
    for lead in range(0xC2, 0xD8):  # GB2312 level-1 hanzi rows lie in 0xB0..0xD7
        for trail in range(0xA1, 0xC0):
            try:
                ch = bytes([lead, trail]).decode("gbk")
            except UnicodeDecodeError:
                continue
            found.append(ch)
            if len(found) == length:
                name = "".join(found)
                assert name.encode("gbk").decode("utf-8") != name
                return name
    raise AssertionError("no GBK name valid as UTF-8 found")


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    """``data`` with ``new`` written over it at ``offset``."""
    return data[:offset] + new + data[offset + len(new):]


def split_volumes(entries: Sequence[Entry], first_size: int) -> tuple[bytes, bytes]:
    """A split archive of two volumes as Info-ZIP's ``zip -s`` and WinRAR write it
    (``x.z01``, ``x.zip``): the first starts with the spanning marker and holds the first
    ``first_size`` bytes; the last holds the rest, its end record on disk 1 and the
    directory's offset counted from the start of that volume (the directory must lie in
    it). The directory's entries keep disk 0 and their offsets in the first volume."""
    whole = build(entries, prefix=SPANNING_MARKER)
    first, last = whole[:first_size], whole[first_size:]
    at = last.rindex(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<L", last, at + 16)[0]
    assert cd_offset >= first_size, "the directory must lie in the last volume"
    eocd = struct.pack("<HH", 1, 1) + last[at + 8:at + 16] + struct.pack("<L", cd_offset - first_size)
    return first, patch(last, at + 4, eocd)
