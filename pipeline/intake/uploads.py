"""What an upload is, to everyone who handles it: its version (where, how big, when
written), the message asking a worker to decide it, the claim that fixes its identity
until decided, the name it is archived under, and which names are uploads still in
progress (never taken)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.check.documents import Source

#: names of uploads in progress (WinSCP's .filepart, browsers' .part, editors' .tmp) and
#: hidden or backup files: never taken
IN_PROGRESS_SUFFIXES = (".part", ".filepart", ".tmp")
IN_PROGRESS_PREFIXES = (".", "~")


def is_in_progress_name(name: str) -> bool:
    """True for the basename of an upload still in progress (or a hidden/backup file)."""
    if not name or name.startswith(IN_PROGRESS_PREFIXES):
        return True
    return name.lower().endswith(IN_PROGRESS_SUFFIXES)


def version_id(location: str, size: int, stamp: str | int) -> str:
    """A short stable id of one version of one upload: (where, how big, when written)."""
    # surrogateescape: a file name that is not UTF-8 on disk (old GBK clients) still
    # gets an id rather than crashing whoever computes it.
    key = f"{location}\0{size}\0{stamp}".encode("utf-8", "surrogateescape")
    return hashlib.sha256(key).hexdigest()[:20]


@dataclass(frozen=True)
class IngestRequest:
    """The message that asks a worker to decide one upload. JSON-friendly by design."""

    location: str  # inbox-relative path ("xinghuo/材料.zip") or object key
    size: int
    stamp: str  # what changes with every new upload under the same name: the file's
    #            mtime in ns (fs), the object's ETag (s3)

    @property
    def version(self) -> str:
        return version_id(self.location, self.size, self.stamp)

    @property
    def account(self) -> str:
        parts = PurePosixPath(self.location).parts
        return parts[0] if len(parts) > 1 else ""

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "size": self.size, "stamp": self.stamp}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IngestRequest":
        return cls(location=str(data["location"]), size=int(data["size"]), stamp=str(data["stamp"]))


@dataclass(frozen=True)
class Claim:
    """A package taken out of the inbox, with the identity it keeps until decided."""

    request: IngestRequest
    receipt_id: str
    source: Source
    package_name: str
    received_at: datetime
    #: a re-check of a stored decision (``pipeline requeue``): the receipt id it replaces
    supersedes: str | None = None

    @property
    def version(self) -> str:
        return self.request.version

    def to_json(self) -> dict[str, Any]:
        data = {"request": self.request.to_json(), "receipt_id": self.receipt_id,
                "source": self.source.to_json(), "package_name": self.package_name,
                "received_at": self.received_at.isoformat()}
        if self.supersedes is not None:
            data["supersedes"] = self.supersedes
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Claim":
        return cls(request=IngestRequest.from_json(data["request"]), receipt_id=data["receipt_id"],
                   source=Source.from_json(data["source"]), package_name=data["package_name"],
                   received_at=datetime.fromisoformat(data["received_at"]),
                   supersedes=data.get("supersedes"))


def readable(text: str) -> str:
    """A name as people read it. A file name that is not UTF-8 on disk (old Windows SFTP
    clients send GBK bytes) reaches Python with its bytes kept as surrogates: it is
    decoded as GB18030 where that is valid, else its odd bytes are shown percent-escaped
    (``%FF``: no backslash, which would read as a folder separator). Everything written
    for people or as JSON (documents, messages, mails, the archived file's name) uses
    this; the move out of the inbox uses the original."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("gb18030")
    except UnicodeDecodeError:
        return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in text)


def claim_record(claim: "Claim") -> bytes:
    """A claim as stored: ASCII JSON, so a request whose name is not UTF-8 (its bytes kept
    as surrogates) round-trips exactly to the name the upload has on disk."""
    return json.dumps(claim.to_json(), ensure_ascii=True).encode("ascii")


def safe_package_name(location: str) -> str:
    """The file name a package is archived under: the upload's own base name, readable."""
    name = PurePosixPath(readable(location).replace("\\", "/")).name.strip()
    if name in ("", ".", "..") or name.startswith("."):
        name = "package" + name
    return name


#: the ZIP comment of a ZIP the pipeline packed from a folder or from loose files
#: (pipeline/intake/folder_uploads.py), followed by ASCII JSON: ``uploaded_as``,
#: ``uploaded_name``, ``uploaded_files``
PACKED_MARKER = b"pipeline-packed:"


def packed_comment(uploaded_as: str, uploaded_name: str, uploaded_files: int) -> bytes:
    return PACKED_MARKER + json.dumps({"uploaded_as": uploaded_as, "uploaded_name": uploaded_name,
                                       "uploaded_files": uploaded_files}, ensure_ascii=True).encode("ascii")


def upload_origin(path: Path) -> dict[str, Any]:
    """How the upload at ``path`` came, for its ``Source``: ``{}`` for a file as uploaded,
    else ``uploaded_as``/``uploaded_name``/``uploaded_files`` read off the ZIP comment of
    a ZIP the pipeline packed (the comment is the last bytes of the file: one small read)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - ORIGIN_TAIL))
            tail = fh.read()
    except OSError:
        return {}
    return origin_from_tail(tail)


#: how many last bytes of an upload :func:`origin_from_tail` needs
ORIGIN_TAIL = 4096


def origin_from_tail(tail: bytes) -> dict[str, Any]:
    """:func:`upload_origin` of the last :data:`ORIGIN_TAIL` bytes of an upload (the S3
    store reads them with a ranged GET)."""
    at = tail.rfind(PACKED_MARKER)
    end = tail.rfind(b"PK\x05\x06", 0, at if at >= 0 else None)
    if at < 0 or end < 0 or end + 22 != at:  # the comment follows the end record directly
        return {}
    try:
        data = json.loads(tail[at + len(PACKED_MARKER):].decode("ascii"))
        origin = {"uploaded_as": str(data["uploaded_as"]), "uploaded_name": str(data["uploaded_name"]),
                  "uploaded_files": int(data["uploaded_files"])}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return {}
    return origin if origin["uploaded_as"] in ("folder", "files") else {}
