"""The decision documents (spec section 6): ``receipt.json`` and ``errors.json``.

Both have one shape, defined by ``schemas/receipt.schema.json``. This module builds them,
mints receipt ids and serialises them; it knows nothing of where they are stored.

A document is built masked (:func:`masked_document`): the names the uploader chose (the
ZIP's name, the paths inside it, junk names, the plan's institution and trainings) may
hold a 身份证号 or a mobile number, and the document goes to the archive, the index, the
mail and the operator's screen. The archived ZIP keeps its name and bytes (存档备查).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable

from pipeline.check.catalogue import Problem, Severity
from pipeline.check.privacy import redact_whole
from schemas import SCHEMAS_DIR

SCHEMA_VERSION = 1
ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate"
STATUSES = (ACCEPTED, REJECTED, DUPLICATE)

# Crockford base32: no I, L, O, U, so it reads unambiguously over the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def local_zone(utc_offset_hours: int) -> timezone:
    return timezone(timedelta(hours=utc_offset_hours))


#: a receipt id as :func:`new_receipt_id` mints it; anything else is not one
RECEIPT_ID = re.compile(r"^R[0-9]{8}-[0-9A-HJKMNP-TV-Z]{8}$")


def new_receipt_id(now: datetime) -> str:
    """``R20261127-7K3F9QAB``: the local date, 4 characters of time within the day
    (tenths of a second, so ids of one day sort by time), 4 random characters."""
    tenths = (now.hour * 3600 + now.minute * 60 + now.second) * 10 + now.microsecond // 100_000
    time_part = "".join(_ALPHABET[(tenths >> shift) & 31] for shift in (15, 10, 5, 0))
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(4))
    return f"R{now:%Y%m%d}-{time_part}{random_part}"


def receipt_month(receipt_id: str) -> str:
    """The ``YYYY-MM`` folder a decision lives in, read off its receipt id."""
    return f"{receipt_id[1:5]}-{receipt_id[5:7]}"


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Source:
    """Where a package came from: the store kind, its inbox path or key, the account."""

    kind: str  # "fs" | "s3" | "check"
    location: str
    account: str = ""
    #: how the upload came when it was not one ZIP file (pipeline/intake/folder_uploads.py):
    #: "folder" (a folder, packed by the pipeline as a stored ZIP, bytes kept) or "files"
    #: (loose files uploaded together, packed into one ZIP); "" for a ZIP as uploaded
    uploaded_as: str = ""
    #: the uploaded folder's name ("folder" only)
    uploaded_name: str = ""
    #: how many files were packed ("folder" and "files")
    uploaded_files: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "location": self.location, "account": self.account}
        if self.uploaded_as:  # the keys are present only for a packed upload
            data.update(uploaded_as=self.uploaded_as, uploaded_name=self.uploaded_name,
                        uploaded_files=self.uploaded_files)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Source":
        return cls(kind=data["kind"], location=data["location"], account=data.get("account", ""),
                   uploaded_as=data.get("uploaded_as", ""), uploaded_name=data.get("uploaded_name", ""),
                   uploaded_files=int(data.get("uploaded_files") or 0))


def upload_note(document: dict[str, Any]) -> str | None:
    """One line for the clerk when the upload was not one ZIP file (``source.uploaded_as``),
    shown by the readable receipt and the mail; None for an ordinary ZIP."""
    source = document.get("source") or {}
    name = (document.get("package") or {}).get("name", "")
    files = source.get("uploaded_files") or 0
    if source.get("uploaded_as") == "folder":
        return (f"本次是以文件夹方式上传的（文件夹“{source.get('uploaded_name', '')}”，共 {files} 个文件），"
                f"系统已把文件夹原样打包为“{name}”（文件内容不变）后检查。以后请直接上传 ZIP 压缩包。")
    if source.get("uploaded_as") == "files":
        return (f"本次上传的是 {files} 个零散文件（没有放在文件夹里，也没有压缩），系统已把它们一起打包为"
                f"“{name}”后检查。请把整个上报文件夹（“机构名称+上报日期”）压缩成一个 ZIP 文件后重新上传。")
    return None


@dataclass
class Findings:
    """What the checks established about a package, before the decision is made."""

    package_name: str
    package_size: int
    package_sha256: str
    policy_sha256: str
    institution: str | None = None
    report_date: date | None = None
    trainings: list[dict[str, Any]] = field(default_factory=list)
    manifest: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: the forms read from workbook sheets, as JSON (spec section 9: downstream systems get
    #: JSON whatever the institution sent): path, sheet, form type, data
    forms_read: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]


def build_document(findings: Findings, *, receipt_id: str, source: Source, received_at: datetime,
                   decided_at: datetime, duplicate_of: str | None = None,
                   status: str | None = None, supersedes: str | None = None) -> dict[str, Any]:
    """The document of one decision. Status follows from the errors unless given.
    ``supersedes``: the receipt id of the decision this re-check replaces (``pipeline
    requeue``); the key is present only then."""
    if status is None:
        status = DUPLICATE if duplicate_of else (REJECTED if findings.errors else ACCEPTED)
    document = {
        "schema_version": SCHEMA_VERSION,
        "receipt_id": receipt_id,
        "status": status,
        "package": {"name": findings.package_name, "size": findings.package_size,
                    "sha256": findings.package_sha256},
        "source": source.to_json(),
        "institution": findings.institution,
        "report_date": findings.report_date.isoformat() if findings.report_date else None,
        "received_at": iso(received_at),
        "decided_at": iso(decided_at),
        "policy_sha256": findings.policy_sha256,
        "trainings": findings.trainings,
        "manifest": findings.manifest,
        "ignored": findings.ignored,
        "errors": [p.to_json() for p in findings.errors],
        "warnings": [p.to_json() for p in findings.warnings],
        "duplicate_of": duplicate_of,
    }
    if supersedes is not None:
        document["supersedes"] = supersedes
    if findings.forms_read:  # present only when a workbook was read
        document["forms_read"] = findings.forms_read
    return masked_document(document)


def masked_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every personal number in its text masked (pipeline/check/privacy.py):
    package name, source location, institution, trainings, manifest paths, ignored names,
    problems; a number found in one of them is masked wherever else it occurs, glued to
    other digits too (:func:`~pipeline.check.privacy.redact_whole`). Receipt ids, digests
    and versions are never touched, nor is the ``source.account``: it is the
    deployment's name of an upload account (the key the institution registry matches
    on), not text an uploader chose. Masking a masked document changes nothing, so
    documents stored before masking was complete can be passed through it on their way
    out."""
    masked = redact_whole(document)
    source = document.get("source")
    if isinstance(source, dict) and "account" in source and isinstance(masked.get("source"), dict):
        masked["source"]["account"] = source["account"]
    return masked


def document_filename(document: dict[str, Any]) -> str:
    """``errors.json`` for a rejection, ``receipt.json`` otherwise (spec section 6)."""
    return "errors.json" if document["status"] == REJECTED else "receipt.json"


def dumps(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def dumps_line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=1)
def receipt_validator() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads((SCHEMAS_DIR / "receipt.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Messages of every way ``document`` violates the receipt schema (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in receipt_validator().iter_errors(document)]


def group_by_path(problems: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for p in problems:
        grouped.setdefault(p.get("path") or "（整个压缩包）", []).append(p)
    return grouped
