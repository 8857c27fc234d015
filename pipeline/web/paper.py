"""A package's forms laid out as the seed's paper tables (培训方案表, 培训大纲, 签到表,
培训教师个人简历, 诚信承诺书 …), for operators, inspectors and the institution that owns
the package; and an inspector's explicit reveal of the full 身份证号, written to the audit
trail.

The forms are read from the archived ZIP exactly as the checker reads them (the package
reader under the policy's ZIP limits, then :class:`pipeline.check.view.PackageView`'s
layout and forms: JSON files and 表单.xlsx sheets alike, spec section 9), in a scratch
folder removed again at once. A rejected package may have forms that are missing or
unreadable: what could be read is shown, and the checker's own Chinese message says which
form is missing or why it cannot be read. A form that broke its schema is shown as far as
its values go (the receipt page lists its errors).

Privacy: every page shows ID numbers masked 6 + 4 and phone numbers 3 + 4, and masks any
personal number written in free text. Only the answer to an inspector's POST with a reason
shows the ID numbers in full; it is marked as revealed, audited (``reveal-id``: the reason
and how many numbers were shown, never a number), and like every page sent
``Cache-Control: no-store``. Nothing of it goes into a URL, a cookie or the session.
Phone numbers stay masked even then: the reveal is of identities, for tracing people."""

from __future__ import annotations

import secrets
import shutil
import struct
import zipfile
from pathlib import Path
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pipeline.check.catalogue import Problem
from pipeline.check.contract import FILE_NAME_OF_FORM, VIDEO_EXTS, WORKBOOK_FILE, required_training_forms
from pipeline.check.forms import LoadedForm
from pipeline.check.package_reader import read_package
from pipeline.check.policy import Policy
from pipeline.check.privacy import mask_id, mask_known, mask_phone, numbers_in, redact
from pipeline.check.view import PackageView
from pipeline.intake.scratch import worker_identity
from pipeline.web import pages
from pipeline.web.access import NotFound, WebUser
from pipeline.web.media import PackageMedia
from pipeline.web.security import checked_form

#: the titles of the seed's paper tables, by form type
TITLES = {
    "training_plan": "职业技能等级认定培训方案表",
    "integrity_pledge": "诚信承诺书",
    "trainers": "培训教师个人简历",
    "theory_outline": "理论知识培训内容（大纲）",
    "practice_outline": "实际操作培训内容（大纲）",
    "sign_in": "培训学员签到表",
    "online_record": "线上培训上报记录",
    "practice_equipment": "实际操作培训设备设施（操作类职业）",
}

#: the training forms in the order the paper puts them
TRAINING_ORDER = ("theory_outline", "practice_outline", "sign_in", "online_record", "practice_equipment")

#: what the checker reports about a form that keeps it from being shown
UNREADABLE_CODES = ("FORM_MISSING", "FORM_JSON", "FORM_WORKBOOK", "FORM_DUPLICATE")

#: the longest reason a reveal keeps (as a requeue's)
REASON_MAX = 500

#: shown in a cell whose value is of a shape the form does not allow (a list for a name)
ODD_VALUE = "（格式不对）"

NO_ZIP = "找不到这个上报的压缩包（可能已超过保存期限被删除，或是重复提交的压缩包：请看它所重复的回执）。"

SCHEMA_NOTE = "这份表格有不符合格式的地方（详见回执页的错误列表），下面按原样显示能读出的内容。"


# -- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Paper:
    """One paper form as shown: its values made into display text (masked unless
    revealed), or why it cannot be shown."""

    kind: str
    title: str
    #: where it was read from: "诚信承诺书.json" or "表单.xlsx 中的“诚信承诺书”工作表"; "" when absent
    source: str
    #: the form's values shaped for its template (texts, lists of rows); None: not shown
    data: dict[str, Any] | None
    #: plain Chinese: why it is not shown, or that it has errors
    problem: str | None = None


@dataclass(frozen=True)
class TrainingPapers:
    folder: str
    in_plan: bool
    papers: tuple[Paper, ...]


@dataclass(frozen=True)
class PaperForms:
    """The forms of one package as the paper page shows them."""

    #: plain Chinese when nothing could be read (no ZIP, not a readable ZIP)
    unreadable: str | None = None
    root: tuple[Paper, ...] = ()
    trainings: tuple[TrainingPapers, ...] = ()
    #: the forms that are missing or cannot be read, in the checker's words
    notes: tuple[str, ...] = ()
    #: how many distinct full ID numbers the page shows (0 unless revealed)
    revealed: int = 0


class _Shown:
    """Values as a page may show them. ``reveal``: ID fields in full (phones never)."""

    def __init__(self, reveal: bool, known: list[str]) -> None:
        self.reveal = reveal
        self.known = known  # personal numbers anywhere in the package's forms
        self.full_ids: set[str] = set()

    def text(self, value: Any) -> str:
        """Free text, with any personal number in it masked (a 身份证号 typed in a remark,
        an occupation that is somebody's number: masked wherever it stands)."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, (int, float)):
            return mask_known(redact(_number(value)), self.known)
        if isinstance(value, str):
            return mask_known(redact(value), self.known)
        return ODD_VALUE

    def id_number(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return ODD_VALUE
        number = _number(value) if not isinstance(value, str) else value.strip()
        if not self.reveal:
            return mask_id(number)
        self.full_ids.add(number)
        return number

    def phone(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return ODD_VALUE
        return mask_phone(_number(value) if not isinstance(value, str) else value.strip())

    def mark(self, value: Any, yes: str = "√", no: str = "×") -> str:
        """A 是/否 cell (signed, signed in, accepted)."""
        if value is True:
            return yes
        if value is False:
            return no
        return self.text(value)


def _number(value: float) -> str:
    """Hours, counts and rates as written: 40, 4.5 (never 40.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rows(value: Any) -> list[dict[str, Any]]:
    """A list of entries, each an object (a broken entry shows as an empty row)."""
    return [_obj(item) for item in value] if isinstance(value, list) else []


def _modes(value: Any) -> dict[str, bool]:
    chosen = {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()
    return {"online": "online" in chosen, "offline": "offline" in chosen}


def _plan(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    institution = _obj(d.get("institution"))
    return {
        "institution": s.text(institution.get("name")), "address": s.text(institution.get("address")),
        "contact_person": s.text(institution.get("contact_person")),
        "contact_phone": s.phone(institution.get("contact_phone")),
        "trainings": [{"occupation": s.text(t.get("occupation")), "level": s.text(t.get("level")),
                       "trainees": s.text(t.get("trainees"))} for t in _rows(d.get("trainings"))],
        "theory_mode": _modes(d.get("theory_mode")), "practice_mode": _modes(d.get("practice_mode")),
        "online_platform": s.text(d.get("online_platform")),
        "start_date": s.text(d.get("start_date")), "end_date": s.text(d.get("end_date")),
        "total_hours": s.text(d.get("total_hours")),
        "textbooks": [{"title": s.text(b.get("title")), "publisher": s.text(b.get("publisher"))}
                      for b in _rows(d.get("textbooks"))],
        "result": s.text(d.get("result")), "remarks": s.text(d.get("remarks")),
    }


def _pledge(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    return {"institution_name": s.text(d.get("institution_name")),
            "legal_representative": s.text(d.get("legal_representative")),
            "contact_phone": s.phone(d.get("contact_phone")), "signed_date": s.text(d.get("signed_date")),
            "accepted": s.mark(d.get("accepted"), "本单位已确认以上承诺", "未确认承诺")}


def _trainers(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    people = []
    for t in _rows(d.get("trainers")):
        certificate = _obj(t.get("certificate"))
        people.append({
            "name": s.text(t.get("name")), "gender": s.text(t.get("gender")), "ethnicity": s.text(t.get("ethnicity")),
            "id_number": s.id_number(t.get("id_number")), "education": s.text(t.get("education")),
            "political_status": s.text(t.get("political_status")), "teaching_major": s.text(t.get("teaching_major")),
            "teaching_years": s.text(t.get("teaching_years")), "employer": s.text(t.get("employer")),
            "phone": s.phone(t.get("phone")), "certificate_occupation": s.text(certificate.get("occupation")),
            "certificate_level": s.text(certificate.get("level")), "work_history": s.text(t.get("work_history")),
            "awards": s.text(t.get("awards")), "remarks": s.text(t.get("remarks"))})
    return {"trainers": people}


def _outline(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    sessions = []
    for row in _rows(d.get("sessions")):
        teacher = _obj(row.get("teacher"))
        sessions.append({"seq": s.text(row.get("seq")), "content": s.text(row.get("content")),
                         "date": s.text(row.get("date")), "teacher_name": s.text(teacher.get("name")),
                         "teacher_id": s.id_number(teacher.get("id_number")), "hours": s.text(row.get("hours"))})
    return {"occupation": s.text(d.get("occupation")), "level": s.text(d.get("level")),
            "start_date": s.text(d.get("start_date")), "end_date": s.text(d.get("end_date")),
            "total_hours": s.text(d.get("total_hours")), "sessions": sessions}


def _sign_in(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    sessions = []
    for session in _rows(d.get("sessions")):
        trainees = [{"seq": s.text(t.get("seq")), "name": s.text(t.get("name")),
                     "id_number": s.id_number(t.get("id_number")), "signed": s.mark(t.get("signed"), "√", "未签到"),
                     "unsigned": t.get("signed") is False, "remarks": s.text(t.get("remarks"))}
                    for t in _rows(session.get("trainees"))]
        sessions.append({"date": s.text(session.get("date")), "location": s.text(session.get("location")),
                         "trainees": trainees})
    return {"occupation": s.text(d.get("occupation")), "level": s.text(d.get("level")), "sessions": sessions}


def _online(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    outline = d.get("outline")
    trainees = []
    for t in _rows(d.get("trainees")):
        rate = t.get("completion_rate")
        trainees.append({"name": s.text(t.get("name")), "id_number": s.id_number(t.get("id_number")),
                         "hours": s.text(t.get("hours")),
                         "completion_rate": s.text(rate) + ("%" if isinstance(rate, (int, float))
                                                            and not isinstance(rate, bool) else ""),
                         "signed_in": s.mark(t.get("signed_in"), "已签到", "未签到")})
    return {"occupation": s.text(d.get("occupation")), "level": s.text(d.get("level")),
            "platform": s.text(d.get("platform")), "start_date": s.text(d.get("start_date")),
            "end_date": s.text(d.get("end_date")),
            "outline": [s.text(c) for c in outline] if isinstance(outline, list) else [],
            "trainees": trainees}


def _equipment(d: dict[str, Any], s: _Shown) -> dict[str, Any]:
    def items(key: str) -> list[dict[str, str]]:
        return [{"name": s.text(i.get("name")), "quantity": s.text(i.get("quantity"))} for i in _rows(d.get(key))]

    return {"occupation": s.text(d.get("occupation")), "equipment": items("equipment"),
            "consumables": items("consumables")}


_SHAPERS = {"training_plan": _plan, "integrity_pledge": _pledge, "trainers": _trainers,
            "theory_outline": _outline, "practice_outline": _outline, "sign_in": _sign_in,
            "online_record": _online, "practice_equipment": _equipment}


def _source(form: LoadedForm) -> str:
    if form.sheet is not None:
        return f"{WORKBOOK_FILE} 中的“{form.sheet.sheet}”工作表"
    return FILE_NAME_OF_FORM[form.kind]


def _paper(form: LoadedForm | None, kind: str, shown: _Shown, problems: dict[str, list[str]],
           missing_path: str) -> Paper:
    """The paper of ``form``; of a form that is not there, a stub naming why (the
    checker's message at its path)."""
    if form is None:
        said = problems.get(missing_path) or [f"缺少表单“{FILE_NAME_OF_FORM[kind]}”。"]
        return Paper(kind, TITLES[kind], "", None, "；".join(said))
    if form.data is None or not isinstance(form.data, dict):
        said = problems.get(form.path) or ["这份表格无法读取。"]
        return Paper(kind, TITLES[kind], _source(form), None, "；".join(said))
    data = _SHAPERS[kind](form.data, shown)
    return Paper(kind, TITLES[kind], _source(form), data, None if form.schema_valid else SCHEMA_NOTE)


def _said(found: Iterable[Problem]) -> tuple[dict[str, list[str]], list[str]]:
    """The checker's messages about forms that cannot be shown: by path, and in order."""
    by_path: dict[str, list[str]] = {}
    notes: list[str] = []
    for p in found:
        if p.code in UNREADABLE_CODES:
            by_path.setdefault(p.path, []).append(p.message)
            if p.message not in notes:
                notes.append(p.message)
    return by_path, notes


def papers_of(view: PackageView, reveal: bool) -> PaperForms:
    """The paper forms of a readable package, read by the checker's own view."""
    layout, forms = view.layout, view.forms
    problems = [layout.plan_problem] if layout.plan_problem is not None else []
    by_path, notes = _said([*problems, *forms.problems])
    shown = _Shown(reveal, numbers_in([f.data for f in forms.all()]))
    root = (_paper(forms.plan, "training_plan", shown, by_path, layout.full(FILE_NAME_OF_FORM["training_plan"])),
            _paper(forms.pledge, "integrity_pledge", shown, by_path,
                   layout.full(FILE_NAME_OF_FORM["integrity_pledge"])),
            _paper(forms.trainers, "trainers", shown, by_path, layout.full(FILE_NAME_OF_FORM["trainers"])))
    required = required_training_forms(layout.theory_mode, layout.practice_mode) if layout.plan is not None else ()
    trainings = []
    for tf in forms.trainings:
        papers = []
        for kind in TRAINING_ORDER:
            form = tf.form(kind)
            if form is None and (tf.training is None or kind not in required):
                continue  # not asked of this training: nothing to say
            papers.append(_paper(form, kind, shown, by_path, layout.full(f"{tf.folder}/{FILE_NAME_OF_FORM[kind]}")))
        trainings.append(TrainingPapers(tf.folder, tf.training is not None, tuple(papers)))
    return PaperForms(root=root, trainings=tuple(trainings), notes=tuple(notes), revealed=len(shown.full_ids))


def read_papers(media: PackageMedia, policy: Policy, receipt_id: str, package_name: str, today: date,
                reveal: bool) -> PaperForms:
    """The paper forms of an archived package: its ZIP read as the checker reads it, under
    the policy's limits, in a scratch folder removed before returning. Never raises for a
    bad package. Blocking: run it off the event loop."""
    zip_path = media.zip_path(receipt_id)
    if zip_path is None:
        return PaperForms(unreadable=NO_ZIP)
    # named as a worker's scratch (host-pid-…): a web process killed while reading leaves
    # nothing the next worker's start does not remove (pipeline/intake/scratch.py)
    scratch = media.cache_dir.parent / f"{worker_identity()}-web-forms-{secrets.token_hex(6)}"
    try:
        try:
            scratch.mkdir(parents=True)
            light = without_videos(zip_path, scratch / "package.zip")
            contents = read_package(light, scratch / "read", policy.zip, package_name=package_name)
        except FileNotFoundError:  # removed by retention since it was found (a full disk is ours: a 500)
            return PaperForms(unreadable=NO_ZIP)
        if contents.problems:
            return PaperForms(unreadable="压缩包无法读取，里面的表格都看不到：" + contents.problems[0].message)
        return papers_of(PackageView(name=package_name, contents=contents, policy=policy, today=today), reveal)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


#: a member other than a video copied into the light ZIP only up to this (compressed) size
LIGHT_MEMBER_MAX = 64 * 1024 * 1024
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")


def without_videos(source: Path, target: Path) -> Path:
    """``source`` (a package's ZIP) written to ``target`` with every video, and anything
    else over :data:`LIGHT_MEMBER_MAX`, as an empty stored member of the same name: the same
    names (their raw bytes and flags, so the checker decodes them alike), folders and order,
    every other member's compressed bytes copied as they are (never inflated here: the
    checker's reader applies its limits to them). A view of the forms then reads a few MB
    instead of a package's hundreds. ``source`` itself when it cannot be copied this way
    (ZIP64, a damaged directory): the checker reads it whole and says what is wrong."""
    try:
        with zipfile.ZipFile(source) as archive, open(source, "rb") as raw, open(target, "wb") as out:
            central = bytearray()
            infos = archive.infolist()
            for info in infos:
                if info.file_size > 0xFFFFFFFE or info.compress_size > 0xFFFFFFFE or info.header_offset > 0xFFFFFFFE:
                    return source
                name = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
                empty = info.filename.lower().endswith(VIDEO_EXTS) or info.compress_size > LIGHT_MEMBER_MAX
                raw.seek(info.header_offset)
                header = raw.read(_LOCAL.size)
                if len(header) < _LOCAL.size or header[:4] != b"PK":
                    return source
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                raw.seek(info.header_offset + _LOCAL.size + name_len + extra_len)
                method, crc, compressed, size = ((0, 0, 0, 0) if empty else
                                                 (info.compress_type, info.CRC, info.compress_size, info.file_size))
                flags = info.flag_bits & 0x0800  # the name's encoding; no data descriptor, no encryption
                offset = out.tell()
                out.write(_LOCAL.pack(0x04034B50, 20, flags, method, *_dos(info), crc, compressed, size, len(name), 0))
                out.write(name)
                left = compressed
                while left:
                    block = raw.read(min(left, 1 << 20))
                    if not block:
                        return source
                    out.write(block)
                    left -= len(block)
                central += _CENTRAL.pack(0x02014B50, 20, 20, flags, method, *_dos(info), crc, compressed, size,
                                         len(name), 0, 0, 0, 0, info.external_attr & 0xFFFFFFFF, offset) + name
            where = out.tell()
            out.write(central)
            out.write(_END.pack(0x06054B50, 0, 0, len(infos), len(infos), len(central), where, 0))
    except (OSError, zipfile.BadZipFile, ValueError, struct.error, UnicodeEncodeError):
        return source
    return target


def _dos(info: zipfile.ZipInfo) -> tuple[int, int]:
    year, month, day, hour, minute, second = info.date_time
    return (hour << 11) | (minute << 5) | (second // 2), (max(year, 1980) - 1980) << 9 | (month << 5) | day


# -- the handlers ------------------------------------------------------------------------------

@dataclass
class _Page:
    """What paper.html is given besides the papers."""

    revealed: bool = False
    reason: str = ""
    form_error: str | None = None


async def _papers(request: Request, entry: dict[str, Any], found: dict[str, Any], reveal: bool) -> PaperForms:
    services = request.app.state.services
    package = found["document"].get("package") or {}
    name = str(package.get("name") or entry.get("name") or "")
    return await run_in_threadpool(read_papers, services.media, services.policy, entry["receipt_id"], name,
                                   services.now().date(), reveal)


def _render(request: Request, user: WebUser, entry: dict[str, Any], found: dict[str, Any], papers: PaperForms,
            page: _Page, status_code: int = 200) -> Response:
    return pages.render(request, "paper.html", status_code=status_code, entry=entry, document=found["document"],
                        papers=papers, revealed=page.revealed, reason=page.reason, form_error=page.form_error,
                        may_reveal=user.role == "inspector" and not papers.unreadable)


async def paper_forms(request: Request) -> Response:
    """The package's forms as the paper tables, numbers masked. Who may see the package
    may see them (another institution's: 404 as a missing one); staff views are audited."""
    # the package page's own access rule, so the two can never differ
    user, entry, found = pages.visible_package(request)
    if user.staff:
        request.app.state.audit(request, user.name, user.role, "view-forms", entry["receipt_id"], None)
    papers = await _papers(request, entry, found, reveal=False)
    return _render(request, user, entry, found, papers, _Page())


async def reveal_ids(request: Request) -> Response:
    """An inspector's reveal of the full ID numbers, with a reason: answered with the same
    page, the numbers in full, and audited. An operator may not (403); an institution does
    not see the route (404)."""
    state = request.app.state
    user, entry, found = pages.visible_package(request)
    if not user.staff:
        raise NotFound()
    form = await checked_form(request)
    if user.role != "inspector":
        return pages.render(request, "error.html", status_code=403, title="无权操作",
                            text="只有监管人员可以查看完整的证件号码。")
    reason = " ".join(str(form.get("reason") or "").split())[:REASON_MAX]
    if not reason:
        papers = await _papers(request, entry, found, reveal=False)
        return _render(request, user, entry, found, papers,
                       _Page(form_error="请填写查看完整证件号码的原因（例如：核查学员重复参训），原因会记入审计日志。"),
                       status_code=400)
    papers = await _papers(request, entry, found, reveal=True)
    state.audit(request, user.name, user.role, "reveal-id", entry["receipt_id"],
                {"reason": reason, "count": papers.revealed})
    return _render(request, user, entry, found, papers, _Page(revealed=True, reason=reason))
