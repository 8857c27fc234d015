"""The catalogue's tasks that need the store: recording a stored decision (what the
``package_decided`` step does), rebuilding the catalogue from the archive
(``pipeline catalogue rebuild``), erasing a withdrawn package's rows (``pipeline catalogue
erase``), and the integrity report with the two photos of a pair side by side
(``pipeline integrity report --format html``).

A withdrawal is kept in the store's journal (``withdrawn/<receipt id>.json``) as well as
in the catalogue: a rebuild from the archive must not bring the erased rows back.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import shutil
import tempfile
import zipfile
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterable

import structlog

from pipeline.catalogue.decisions import DecisionCatalogue
from pipeline.catalogue.inspection import Pair
from pipeline.check.assess import read_facts
from pipeline.check.documents import ACCEPTED
from pipeline.check.integrity import PackageFacts
from pipeline.check.policy import Policy
from pipeline.intake import package_facts
from pipeline.intake.inventory import Inventory
from pipeline.intake.store import Store

WITHDRAWN = "withdrawn"


def withdrawal_record(receipt_id: str) -> str:
    return f"{WITHDRAWN}/{receipt_id}.json"


def is_withdrawn(store: Store, receipt_id: str) -> bool:
    return store.get_record(withdrawal_record(receipt_id)) is not None


def erase_withdrawn(store: Store, catalogue: DecisionCatalogue, receipt_id: str, reason: str,
                    now: datetime) -> dict[str, Any] | None:
    """Erase a withdrawn package's catalogue rows (its decision stays listed, marked
    erased), after recording the withdrawal in the journal; the archive is not touched.
    None when the receipt id is not in the catalogue."""
    if catalogue.get(receipt_id) is None:
        return None
    store.put_record(withdrawal_record(receipt_id), json.dumps(
        {"receipt_id": receipt_id, "reason": reason, "at": now.isoformat(timespec="seconds")},
        ensure_ascii=False).encode("utf-8"))
    result = catalogue.erase(receipt_id, reason, now)
    structlog.get_logger().info("catalogue.erased", receipt_id=receipt_id, reason=reason,
                                trainings_removed=(result or {}).get("trainings_removed"))
    return result


def record_decision(store: Store, catalogue: DecisionCatalogue, receipt_id: str, location: str,
                    count: Callable[[dict[str, Any]], dict[str, float]] | None = None) -> dict[str, Any]:
    """Record the stored decision at ``location`` in the catalogue, with the facts deciding
    kept in the journal (pipeline/intake/package_facts.py), then drop that record. Safe to
    repeat: the catalogue writes nothing twice. ``count``: the metrics increments of the
    document (added once). Returns the document."""
    document = store.read_document(location)
    facts = package_facts.recall(store, receipt_id)
    catalogue.record(document, location, count=count(document) if count else None, facts=facts)
    if facts is not None:
        package_facts.settle(store, receipt_id)
    return document


def _decided_day(document: dict[str, Any], zone: tzinfo) -> date:
    try:
        return datetime.fromisoformat(str(document.get("decided_at"))).astimezone(zone).date()
    except ValueError:
        return datetime.now(zone).date()


class FactsFromArchive:
    """``facts_of(location, document)`` for a rebuild: an accepted package's facts read
    again from its stored ZIP, as of the day it was decided; None for a withdrawn one, or
    one whose ZIP is gone (retention never removes accepted ones, but a store may lose it)."""

    def __init__(self, *, store: Store, inventory: Inventory, policy: Policy,
                 person_key: Callable[[str], str], zone: tzinfo, package_file: Callable[[str, str], str]) -> None:
        self.store = store
        self.inventory = inventory
        self.policy = policy
        self.person_key = person_key
        self.zone = zone
        self.package_file = package_file
        self.missing: list[str] = []

    def __call__(self, location: str, document: dict[str, Any]) -> PackageFacts | None:
        receipt_id = document["receipt_id"]
        if document.get("status") != ACCEPTED or is_withdrawn(self.store, receipt_id):
            return None
        scratch = Path(tempfile.mkdtemp(prefix="pipeline-catalogue-"))
        try:
            name = self.package_file(location, (document.get("package") or {}).get("name") or "")
            try:
                zip_path = self.inventory.local_zip(location, name, scratch / "download")
            except FileNotFoundError:
                zip_path = None
            if zip_path is None or not zip_path.exists():
                self.missing.append(receipt_id)
                structlog.get_logger().warning("catalogue.zip_missing", receipt_id=receipt_id, location=location)
                return None
            return read_facts(zip_path, name, self.policy, scratch / "package", _decided_day(document, self.zone),
                              self.person_key)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# -- the integrity report ---------------------------------------------------------------------

SIGNAL_TITLES = {"W_MEDIA_REUSED": "照片或视频与其他培训重复", "W_TRAINEE_OVERLAP": "学员同时参加其他培训",
                 "W_TEACHER_OVERLAP": "教师授课时间冲突"}
DETAIL_WORDS = {"identical": "完全相同", "similar": "画面几乎相同", "same_day": "同日签到",
                "same_training": "同期同职业同等级", "hours": "超过每日学时上限", "institutions": "同日在两个机构授课"}
CSV_FIELDS = ("signal", "detail", "receipt_id", "institution", "training", "item", "other_receipt_id",
              "other_institution", "other_training", "other_item", "when", "distance", "hours")


def report_csv(pairs: Iterable[Pair]) -> str:
    """The pairs as CSV (UTF-8 with a BOM, so Excel and WPS open the Chinese right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for pair in pairs:
        writer.writerow({k: ("" if v is None else v) for k, v in pair.to_json().items()})
    return out.getvalue()


class Thumbnails:
    """Small JPEGs of archived photos, read from the stored ZIPs (cached per ZIP member)."""

    def __init__(self, *, inventory: Inventory, catalogue: DecisionCatalogue,
                 package_file: Callable[[str, str], str], size: int = 320) -> None:
        self.inventory = inventory
        self.catalogue = catalogue
        self.package_file = package_file
        self.size = size
        self._cache: dict[tuple[str, str], str | None] = {}

    def data_url(self, receipt_id: str, path: str) -> str | None:
        key = (receipt_id, path)
        if key not in self._cache:
            self._cache[key] = self._make(receipt_id, path)
        return self._cache[key]

    def _make(self, receipt_id: str, path: str) -> str | None:
        from PIL import Image

        entry = self.catalogue.get(receipt_id)
        if entry is None or not path.lower().endswith((".jpg", ".jpeg")):
            return None
        scratch = Path(tempfile.mkdtemp(prefix="pipeline-thumb-"))
        try:
            name = self.package_file(entry["location"], entry["name"] or "")
            zip_path = self.inventory.local_zip(entry["location"], name, scratch / "download")
            with zipfile.ZipFile(zip_path) as archive:
                member = next((i for i in archive.infolist() if member_path(i) == path), None)
                if member is None or member.file_size > 64 * 1024 * 1024:
                    return None
                with archive.open(member) as f, Image.open(f) as im:
                    im.draft("RGB", (self.size, self.size))
                    im.thumbnail((self.size, self.size))
                    buf = io.BytesIO()
                    im.convert("RGB").save(buf, "JPEG", quality=80)
            return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        except (OSError, zipfile.BadZipFile, ValueError):
            return None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def member_path(info: zipfile.ZipInfo) -> str:
    """A member's path as the package reader names it (a GBK name without the UTF-8 flag
    is decoded as the reader does: tried as GBK)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def report_html(pairs: list[Pair], *, title: str, thumbnails: Thumbnails | None) -> str:
    """The pairs as one HTML page for an inspection: a table per signal, a row per pair with
    each side's receipt, institution, training and file or person, the two photos of a media
    pair side by side (thumbnails embedded, so the page can be mailed or archived)."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<style>body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em}"
             "table{border-collapse:collapse;margin-bottom:2em;width:100%;table-layout:fixed}"
             "td,th{border:1px solid #ccc;padding:6px 8px;vertical-align:top;word-break:break-all;text-align:left}"
             "th.kind,td.kind{width:9em}th.when,td.when{width:12em}img{width:100%;max-width:360px;display:block;"
             "margin-top:6px}.receipt{font-family:monospace}.muted{color:#555}</style></head><body>",
             f"<h1>{e(title)}</h1>", f"<p>共 {len(pairs)} 条（每对双向各列一次）。</p>"]
    for signal, heading in SIGNAL_TITLES.items():
        rows = [p for p in pairs if p.signal == signal]
        parts.append(f"<h2>{e(heading)}（{len(rows)}）</h2>")
        if not rows:
            parts.append("<p>无。</p>")
            continue
        parts.append("<table><tr><th class='kind'>类别</th><th>本包</th><th>另一包</th><th class='when'>日期</th></tr>")
        for p in rows:
            detail = DETAIL_WORDS.get(p.detail, p.detail) + (f"（共 {p.hours:g} 学时）" if p.hours else "")
            media = signal == "W_MEDIA_REUSED" and thumbnails is not None
            left = _side(p.receipt_id, p.institution, p.training, p.item,
                         thumbnails.data_url(p.receipt_id, p.item) if media and thumbnails else None)
            right = _side(p.other_receipt_id, p.other_institution, p.other_training, p.other_item,
                          thumbnails.data_url(p.other_receipt_id, p.other_item) if media and thumbnails else None)
            parts.append(f"<tr><td class='kind'>{e(detail)}</td><td>{left}</td><td>{right}</td>"
                         f"<td class='when'>{e(p.when)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _side(receipt_id: str, institution: str, training: str, item: str, image: str | None) -> str:
    e = html.escape
    return (f"<div class='receipt'>{e(receipt_id)}</div><div>{e(institution)} · {e(training)}</div>"
            f"<div class='muted'>{e(item)}</div>" + (_img(image) if image else ""))


def _img(url: str) -> str:
    return f"<img src='{url}' alt=''>"
