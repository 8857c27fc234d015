"""The rules across fields and forms (spec section 4, table "Rules across fields and
forms"): ``FORM_ID_NUMBER``, ``FORM_PHONE``, ``FORM_DATE``, ``FORM_HOURS``,
``FORM_MISMATCH``, ``FORM_TEACHER``, ``FORM_TRAINEES``, ``FORM_SIGNIN`` and the warning
``W_HOURS_PLAN``.

Each rule is one small check ``(view) -> Iterable[Problem]`` over ``view.forms`` (the
:class:`~pipeline.check.forms.FormSet` read once by the loader) and ``view.layout``; they are
listed in reporting order in :data:`CROSS_FORM_RULES`, and all of them run. Forms that broke
their JSON Schema are handed over too (``schema_valid`` False), so every rule reads
defensively: a field that is missing or of the wrong type is skipped (reporting it is
``FORM_SCHEMA``'s business), a rule never raises on the data. ``Problem.path`` is the
form's path inside the package, ``pointer`` the JSON pointer of the value at fault, and
every 身份证号 / phone number a rule names is masked by its meaning, valid or not
(:func:`pipeline.check.privacy.mask_id`, :func:`~pipeline.check.privacy.mask_phone`; and
:func:`~pipeline.check.catalogue.problem` masks parameters named ``id_number`` / ``phone``
once more); free text quoted in a message (names, institution, platform) goes through the
recogniser of personal numbers in :func:`~pipeline.check.catalogue.problem` like every
message, hint, path and pointer, and is cut to 30 characters.

Besides the parameters its message is rendered from, a problem carries the facts a
pre-formatted ``location`` / ``reason`` / ``detail`` sentence is made of as raw
parameters (``Problem.params``; unused by the templates): e.g. ``name``, ``date``,
``found`` / ``expected``, ``duplicate_of`` (the pointer of the first occurrence),
``fault`` (which variant of the rule). Ordinals are 1-based as in the message
(``sessions=[1, 2, 4]``: 第 1、2、4 次课), pointers 0-based; 身份证号 and phone numbers only
ever masked, free text cut like in the message.

Three constraints of the field lists that a JSON Schema cannot express are checked
here too and reported as ``FORM_SCHEMA`` (the loader's schema check leaves them to this
module): no training (occupation + level) twice in the plan, no 身份证号 twice among the
trainers (reported at the repeat), an outline's ``seq`` running 1..n in order (one
problem per outline, at the first session out of order).

Decisions (the spec leaves them open):

- **Values judged.** Only values of the right JSON type are judged: 身份证号 and phones
  must be non-blank strings (blank is ``FORM_SCHEMA``'s), dates strings of exactly
  ``YYYY-MM-DD`` (ASCII digits) naming a real day, hours and rates finite numbers
  (``true``/``false`` are not numbers). Anything else is silently skipped.
- **One problem per faulty 身份证号 per form.** An invalid number is reported once per
  form in which it occurs, with the pointer of its first occurrence; the message names
  that place and how often the number occurs in the form ("本表中共 10 处"). A trainee
  on 10 sign-in sessions, or a teacher of 20 sessions, is one fact to fix, not 10 or
  20 errors; the same number in another form is reported there again, since it must be
  fixed there as well. ``FORM_TEACHER`` groups the same way (one problem per distinct
  teacher per outline). A trainer's gender that disagrees with the 17th digit is its
  own ``FORM_ID_NUMBER`` (pointer: the id_number), reported only for an otherwise valid
  number.
- **Phones judged**: the plan's institution.contact_phone, the pledge's contact_phone
  and every trainer's phone (the spec has no other phone field).
- **Dates.** start <= end in the plan, both outlines and the online record. The plan's
  range is used only when its start is not after its end (an inverted plan range is
  reported once, not as "every date out of range"); a missing bound is not checked.
  Within the plan's range: each outline's start/end and session dates, each sign-in
  session date, the online record's start/end. A session date inside the plan's range
  but outside its own outline's start/end is reported too. The pledge's signed_date and
  the plan's end_date are compared with the report date (the level-1 folder's date);
  without a valid report date that part is skipped (``HIER_ROOT_NAME`` reports it).
- **Hours.** Compared with an absolute tolerance of 1e-9; the outline total is
  judged only when every session has numeric hours.
- **Institution names** are compared after trimming surrounding whitespace. The
  reference is the plan's institution.name, or, without one, the level-1 folder's
  institution part. ``FORM_MISMATCH`` compares the pledge with the reference only:
  the level-1 folder name against the plan is ``HIER_ROOT_NAME``'s (one fact, one
  error). A level-2 form is compared with the training of its folder; a folder named
  with a level alias (``育婴师五级``) is compared with the training it stands for, a
  folder of no plan training is skipped (``HIER_LEVEL2_UNKNOWN``). Occupation and
  level are reported separately, each with its pointer. The platform is compared only
  when both the record and the plan name one.
- **Teachers** are matched on the 身份证号 (trimmed, a final x as X), then the names
  compared (trimmed). Nothing is judged when 培训教师.json has no list of trainers.
- **Trainees.** "Distinct trainees" are distinct 身份证号 (trimmed, x as X). The count is
  judged only when the plan gives the training's trainees and every entry carries a
  string id_number (otherwise the count cannot be trusted). The sign-in count applies
  when either mode has "offline", the online count when either has "online". No
  id_number twice in one sign-in session, and (not in the spec, same reason) no
  id_number twice in the online record: reported at the repeat. Every sign-in entry
  whose ``signed`` is ``false`` is reported, one problem per entry. An online trainee
  with completion_rate != 100 and/or signed_in false is one problem naming both.
- **Sign-in per date.** An offline outline (theory when theory_mode has "offline",
  practice likewise) needs a sign-in session on each of its session dates. A date
  missing from the sign-in form is one ``FORM_SIGNIN`` (path: the sign-in form,
  pointer ``/sessions``) naming every offline outline that holds a session then.
  Nothing is judged when the sign-in form is absent (``FORM_MISSING``) or has no list
  of sessions.
- **W_HOURS_PLAN** is per training: when both modes have "offline" and both outlines
  give a numeric total, theory + practice is compared with the plan's total_hours (the
  plan has one total for every training: each training's course is the plan's
  course). Reported on 培训方案.json, pointer ``/total_hours``.
"""

from __future__ import annotations

import math
import re
import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Iterator

from pipeline.check.catalogue import Problem, problem
from pipeline.check.forms import FormSet, LoadedForm, TrainingForms
from pipeline.check.identity import gender_matches, validate_id_number, validate_phone
from pipeline.check.layout import Training
from pipeline.check.privacy import mask_id, mask_phone

__all__ = [
    "CROSS_FORM_RULES", "check_forms_readable", "check_form_lists", "check_id_numbers", "check_phones", "check_dates", "check_hours",
    "check_mismatch", "check_teachers", "check_trainees", "check_signin", "check_hours_plan",
]

TOLERANCE = 1e-9
_MAX_LISTED = 8  # session numbers listed in one message before "等 N 次"
_ECHO_LIMIT = 30  # characters of free text (names) quoted in a message
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# ---------------------------------------------------------------------------------------
# defensive readers


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rows(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, row) for every object in a JSON array; non-objects are skipped."""
    for i, row in enumerate(_list(value)):
        if isinstance(row, dict):
            yield i, row


def _text(value: Any) -> str | None:
    """A non-empty string, trimmed; else None."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _date(value: Any) -> date | None:
    """A strict ``YYYY-MM-DD`` date, or None (bad dates are the schema's business)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    """A finite JSON number as float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _num(x: float) -> str:
    """40.0 -> "40", 2.5 -> "2.5"."""
    return f"{x:.10g}"


def _id_key(value: Any) -> str | None:
    """A 身份证号 as compared: trimmed, a final x as X; None when not a usable string."""
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    return s[:-1] + "X" if s.endswith("x") else s


def _echo(text: str) -> str:
    """Free text as a message quotes it: at most ``_ECHO_LIMIT`` characters."""
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT - 1] + "…"


def _masked_id(value: str) -> str:
    return mask_id(value.strip())


def _masked_phone(value: str) -> str:
    return mask_phone(value.strip())


def _who(row: dict[str, Any]) -> str:
    name = _text(row.get("name"))
    return f"（{_echo(name)}）" if name else ""


def _named(row: dict[str, Any]) -> dict[str, str]:
    """The raw parameter naming the person of ``row`` as :func:`_who` does ({} without a name)."""
    name = _text(row.get("name"))
    return {"name": _echo(name)} if name else {}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _trainee(row: dict[str, Any]) -> str:
    """"（张三，110101********1234）" as messages name a trainee after their place
    (第 3 名学员（张三，…）), like :func:`_who` names a teacher."""
    name = _echo(_text(row.get("name")) or "")
    number = row.get("id_number")
    if isinstance(number, str) and number.strip():
        return f"（{name}，{_masked_id(number)}）" if name else f"（{_masked_id(number)}）"
    return f"（{name}）" if name else ""


def _problem(code: str, source: LoadedForm, pointer: str | None = None, /, **params: Any) -> Problem:
    """``problem()`` on ``source`` (its path; its name as ``form`` unless given; the sheet
    and cell of ``pointer`` when it was read from a workbook); ``problem()`` masks what it
    renders."""
    params.setdefault("form", source.name)
    return problem(code, source.path, pointer=pointer, **source.place(pointer), **params)


# ---------------------------------------------------------------------------------------
# what the rules look at


def _formset(view: Any) -> FormSet | None:
    forms = getattr(view, "forms", None)
    return forms if isinstance(forms, FormSet) else None


def _usable(form: Any) -> LoadedForm | None:
    """The form when it was read into a JSON object, else None."""
    return form if isinstance(form, LoadedForm) and isinstance(form.data, dict) else None


def _training_forms(fs: FormSet) -> list[TrainingForms]:
    return [tf for tf in (fs.trainings if isinstance(fs.trainings, tuple | list) else ())
            if isinstance(tf, TrainingForms)]


def _outlines(tf: TrainingForms) -> list[LoadedForm]:
    return [f for f in (_usable(tf.theory_outline), _usable(tf.practice_outline)) if f]


def _level2(tf: TrainingForms) -> list[LoadedForm]:
    return [f for f in (_usable(tf.theory_outline), _usable(tf.practice_outline),
                        _usable(tf.sign_in), _usable(tf.online_record),
                        _usable(tf.practice_equipment)) if f]


def _modes(view: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    layout = getattr(view, "layout", None)
    theory = getattr(layout, "theory_mode", ())
    practice = getattr(layout, "practice_mode", ())
    return (tuple(theory) if isinstance(theory, tuple | list) else (),
            tuple(practice) if isinstance(practice, tuple | list) else ())


def _training_of(view: Any, tf: TrainingForms) -> Training | None:
    """The plan training of a training folder; for a folder named with a level alias,
    the training it stands for."""
    if isinstance(tf.training, Training):
        return tf.training
    layout = getattr(view, "layout", None)
    folders = getattr(layout, "folders", None)
    info = folders.get(tf.folder) if hasattr(folders, "get") else None
    expected = getattr(info, "expected", None)
    if not expected:
        return None
    for training in getattr(layout, "trainings", ()) or ():
        if isinstance(training, Training) and training.folder == expected:
            return training
    return None


def _plan_range(fs: FormSet) -> tuple[date | None, date | None]:
    """The plan's [start, end]; (None, None) when it is inverted."""
    plan = _usable(fs.plan)
    if plan is None:
        return None, None
    start, end = _date(plan.obj.get("start_date")), _date(plan.obj.get("end_date"))
    if start and end and start > end:
        return None, None
    return start, end


def _out_of_plan(day: date, plan_range: tuple[date | None, date | None], label: str = "") -> str | None:
    """Why ``day`` is outside the plan's range, or None."""
    start, end = plan_range
    if (start and day < start) or (end and day > end):
        span = f"{start.isoformat() if start else '…'} 至 {end.isoformat() if end else '…'}"
        return f"{label}{day.isoformat()} 不在培训方案的培训期间（{span}）内"
    return None


# ---------------------------------------------------------------------------------------
# FORM_SCHEMA: the field-list constraints a JSON Schema cannot express


def check_forms_readable(view: Any) -> Iterable[Problem]:
    """FORM_MISSING, FORM_JSON and FORM_SCHEMA of every form but the plan's own absence or
    broken JSON (the hierarchy check reports those): what the loader found."""
    return view.forms.problems


def check_form_lists(view: Any) -> Iterator[Problem]:
    """FORM_SCHEMA for what the field lists demand but a schema cannot check: no
    training (occupation + level) twice in the plan, no 身份证号 twice among the
    trainers, an outline's ``seq`` 1..n in order."""
    fs = _formset(view)
    if fs is None:
        return
    plan = _usable(fs.plan)
    if plan:
        first: dict[tuple[str, str], int] = {}
        for i, row in _rows(plan.obj.get("trainings")):
            occupation, level = _text(row.get("occupation")), _text(row.get("level"))
            if occupation is None or level is None:
                continue
            if (occupation, level) in first:
                yield _schema(plan, f"/trainings/{i}",
                              f"培训“{occupation}{level}”与第 {first[occupation, level] + 1} 项重复"
                              f"（同一职业和等级只能填写一行）",
                              duplicate_of=f"/trainings/{first[occupation, level]}")
            else:
                first[occupation, level] = i
    trainers = _usable(fs.trainers)
    if trainers:
        seen: dict[str, int] = {}
        for i, row in _rows(trainers.obj.get("trainers")):
            key = _id_key(row.get("id_number"))
            if key is None:
                continue
            if key in seen:
                yield _schema(trainers, f"/trainers/{i}/id_number",
                              f"身份证号 {mask_id(key)} 与第 {seen[key] + 1} 名培训教师重复"
                              f"（每名教师只填写一次）",
                              duplicate_of=f"/trainers/{seen[key]}/id_number", id_number=mask_id(key))
            else:
                seen[key] = i
    for tf in _training_forms(fs):
        for outline in _outlines(tf):
            for i, session in _rows(outline.obj.get("sessions")):
                seq = _number(session.get("seq"))
                if seq is not None and seq != i + 1:
                    yield _schema(outline, f"/sessions/{i}/seq",
                                  f"第 {i + 1} 次课的序号为 {_num(seq)}，课次序号应从 1 起依次编排")
                    break  # one renumbering fixes them all


def _schema(form: LoadedForm, pointer: str, detail: str, **raw: Any) -> Problem:
    """FORM_SCHEMA as the loader words it (location: the pointer); ``raw``: the facts of
    ``detail`` as raw parameters."""
    return _problem("FORM_SCHEMA", form, pointer, location=f" {pointer}", detail=detail, **raw)


# ---------------------------------------------------------------------------------------
# FORM_ID_NUMBER


def _id_occurrences(form: LoadedForm) -> Iterator[tuple[Any, str, str, dict[str, Any]]]:
    """(number as written, pointer, location, the location's raw facts) of every 身份证号
    in a form."""
    data = form.obj
    if form.kind == "trainers":
        for i, row in _rows(data.get("trainers")):
            yield (row.get("id_number"), f"/trainers/{i}/id_number", f"第 {i + 1} 名培训教师{_who(row)}",
                   _named(row))
    elif form.kind in ("theory_outline", "practice_outline"):
        for i, session in _rows(data.get("sessions")):
            teacher = _dict(session.get("teacher"))
            yield (teacher.get("id_number"), f"/sessions/{i}/teacher/id_number",
                   f"第 {i + 1} 次课的授课教师{_who(teacher)}", _named(teacher))
    elif form.kind == "sign_in":
        for i, session in _rows(data.get("sessions")):
            day = _date(session.get("date"))
            when = f"（{day.isoformat()}）" if day else ""
            for j, row in _rows(session.get("trainees")):
                yield (row.get("id_number"), f"/sessions/{i}/trainees/{j}/id_number",
                       f"第 {i + 1} 次签到{when}第 {j + 1} 名学员{_who(row)}",
                       {**_named(row), **({"date": day.isoformat()} if day else {})})
    elif form.kind == "online_record":
        for j, row in _rows(data.get("trainees")):
            yield (row.get("id_number"), f"/trainees/{j}/id_number", f"第 {j + 1} 名学员{_who(row)}",
                   _named(row))


def _id_forms(fs: FormSet) -> list[LoadedForm]:
    forms = [f for f in (_usable(fs.trainers),) if f]
    for tf in _training_forms(fs):
        forms.extend(f for f in (_usable(tf.theory_outline), _usable(tf.practice_outline),
                                 _usable(tf.sign_in), _usable(tf.online_record)) if f)
    return forms


def check_id_numbers(view: Any) -> Iterator[Problem]:
    """FORM_ID_NUMBER: every 身份证号 valid (GB 11643); a trainer's gender agrees with it."""
    fs = _formset(view)
    if fs is None:
        return
    today = getattr(view, "today", None) or date.today()
    for form in _id_forms(fs):
        seen: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}  # number -> [(pointer, location, facts)]
        reported = form.sheet.reported if form.sheet is not None else set()
        for value, pointer, location, facts in _id_occurrences(form):
            if pointer in reported:
                continue  # an ID Excel stored as a number: the reader said so (one fault, one error)
            if isinstance(value, str) and value.strip():
                seen.setdefault(value, []).append((pointer, location, facts))
        for value, places in seen.items():
            check = validate_id_number(value, today)
            if check.ok:
                continue
            reason = check.reason or "格式不正确"
            if check.hint:
                reason += f"（{check.hint}）"
            pointer, location, facts = places[0]
            if len(places) > 1:
                location += f"（本表中共 {len(places)} 处）"
            yield _problem("FORM_ID_NUMBER", form, pointer, location=location,
                           id_number=_masked_id(value), reason=reason,
                           fault=check.fault, occurrences=len(places), **facts)
        if form.kind == "trainers":
            yield from _trainer_genders(form, today)


def _trainer_genders(form: LoadedForm, today: date) -> Iterator[Problem]:
    for i, row in _rows(form.obj.get("trainers")):
        number, gender = row.get("id_number"), row.get("gender")
        if not isinstance(number, str) or gender not in ("男", "女"):
            continue
        check = validate_id_number(number, today)
        if not check.ok or gender_matches(number, gender):
            continue
        actual = check.gender or ("女" if gender == "男" else "男")
        yield _problem("FORM_ID_NUMBER", form, f"/trainers/{i}/id_number",
                       location=f"第 {i + 1} 名培训教师{_who(row)}", id_number=_masked_id(number),
                       reason=f"性别填写为“{gender}”，但身份证号第 17 位表示{actual}性"
                              f"（请核对性别或身份证号）",
                       fault="gender", gender=gender, id_gender=actual, **_named(row))


# ---------------------------------------------------------------------------------------
# FORM_PHONE


def check_phones(view: Any) -> Iterator[Problem]:
    """FORM_PHONE: the plan's and the pledge's contact phones and every trainer's phone."""
    fs = _formset(view)
    if fs is None:
        return
    found: list[tuple[LoadedForm, Any, str, str, dict[str, Any]]] = []
    plan, pledge, trainers = _usable(fs.plan), _usable(fs.pledge), _usable(fs.trainers)
    if plan:
        found.append((plan, _dict(plan.obj.get("institution")).get("contact_phone"),
                      "/institution/contact_phone", "中机构联系人", {}))
    if pledge:
        found.append((pledge, pledge.obj.get("contact_phone"), "/contact_phone", "中联系人", {}))
    if trainers:
        for i, row in _rows(trainers.obj.get("trainers")):
            found.append((trainers, row.get("phone"), f"/trainers/{i}/phone",
                          f"第 {i + 1} 名培训教师{_who(row)}", _named(row)))
    for form, value, pointer, location, facts in found:
        if not isinstance(value, str) or not value.strip():
            continue
        check = validate_phone(value)
        if not check.ok:
            yield _problem("FORM_PHONE", form, pointer, location=location,
                           phone=_masked_phone(value), reason=check.reason or "格式不正确", **facts)


# ---------------------------------------------------------------------------------------
# FORM_DATE


def _plan_facts(plan_range: tuple[date | None, date | None]) -> dict[str, Any]:
    """The plan's range as raw parameters (None: that bound is open)."""
    return {"plan_start": _iso(plan_range[0]), "plan_end": _iso(plan_range[1])}


def _start_end(form: LoadedForm) -> Iterator[Problem]:
    start, end = _date(form.obj.get("start_date")), _date(form.obj.get("end_date"))
    if start and end and start > end:
        yield _problem("FORM_DATE", form, "/start_date", location="",
                       reason=f"开始日期 {start.isoformat()} 晚于结束日期 {end.isoformat()}",
                       start_date=start.isoformat(), end_date=end.isoformat())


def _within_plan(form: LoadedForm, plan_range: tuple[date | None, date | None]) -> Iterator[Problem]:
    for field, label in (("start_date", "开始日期"), ("end_date", "结束日期")):
        day = _date(form.obj.get(field))
        why = _out_of_plan(day, plan_range, label + " ") if day else None
        if why:
            yield _problem("FORM_DATE", form, f"/{field}", location="", reason=why,
                           date=_iso(day), **_plan_facts(plan_range))


def check_dates(view: Any) -> Iterator[Problem]:
    """FORM_DATE: start <= end; every date within the plan's range; pledge and plan end
    not after the report date."""
    fs = _formset(view)
    if fs is None:
        return
    plan_range = _plan_range(fs)
    plan, pledge = _usable(fs.plan), _usable(fs.pledge)
    report = getattr(getattr(view, "layout", None), "report_date", None)
    report = report if isinstance(report, date) else None
    if plan:
        yield from _start_end(plan)
        end = _date(plan.obj.get("end_date"))
        if report and end and end > report:
            yield _problem("FORM_DATE", plan, "/end_date", location="",
                           reason=f"培训结束日期 {end.isoformat()} 晚于上报日期 {report.isoformat()}",
                           date=end.isoformat(), report_date=report.isoformat())
    if pledge and report:
        signed = _date(pledge.obj.get("signed_date"))
        if signed and signed > report:
            yield _problem("FORM_DATE", pledge, "/signed_date", location="",
                           reason=f"签署日期 {signed.isoformat()} 晚于上报日期 {report.isoformat()}",
                           date=signed.isoformat(), report_date=report.isoformat())
    for tf in _training_forms(fs):
        for outline in _outlines(tf):
            yield from _start_end(outline)
            yield from _within_plan(outline, plan_range)
            own_start, own_end = _date(outline.obj.get("start_date")), _date(outline.obj.get("end_date"))
            for i, session in _rows(outline.obj.get("sessions")):
                day = _date(session.get("date"))
                if day is None:
                    continue
                why, facts = _out_of_plan(day, plan_range), _plan_facts(plan_range)
                if why is None and ((own_start and day < own_start) or (own_end and day > own_end)):
                    why = (f"{day.isoformat()} 不在本大纲的起止日期（{own_start or '…'} 至 "
                           f"{own_end or '…'}）内")
                    facts = {"outline_start": _iso(own_start), "outline_end": _iso(own_end)}
                if why:
                    yield _problem("FORM_DATE", outline, f"/sessions/{i}/date",
                                   location=f"第 {i + 1} 次课", reason=why, date=day.isoformat(), **facts)
        sign_in = _usable(tf.sign_in)
        if sign_in:
            for i, session in _rows(sign_in.obj.get("sessions")):
                day = _date(session.get("date"))
                why = _out_of_plan(day, plan_range) if day else None
                if why:
                    yield _problem("FORM_DATE", sign_in, f"/sessions/{i}/date",
                                   location=f"第 {i + 1} 次签到", reason=why,
                                   date=_iso(day), **_plan_facts(plan_range))
        online = _usable(tf.online_record)
        if online:
            yield from _start_end(online)
            yield from _within_plan(online, plan_range)


# ---------------------------------------------------------------------------------------
# FORM_HOURS


def check_hours(view: Any) -> Iterator[Problem]:
    """FORM_HOURS: an outline's total is the sum of its sessions; online hours > 0."""
    fs = _formset(view)
    if fs is None:
        return
    for tf in _training_forms(fs):
        for outline in _outlines(tf):
            total = _number(outline.obj.get("total_hours"))
            sessions = outline.obj.get("sessions")
            if total is None or not isinstance(sessions, list):
                continue
            hours = [_number(s.get("hours")) if isinstance(s, dict) else None for s in sessions]
            if any(h is None for h in hours):
                continue
            added = math.fsum(h for h in hours if h is not None)
            if abs(added - total) > TOLERANCE:
                yield _problem("FORM_HOURS", outline, "/total_hours", location="",
                               reason=f"总学时为 {_num(total)}，而 {len(hours)} 次课的学时之和为 {_num(added)}",
                               total_hours=total, sessions_sum=added)
        online = _usable(tf.online_record)
        if online:
            for j, row in _rows(online.obj.get("trainees")):
                hours = _number(row.get("hours"))
                if hours is not None and hours <= 0:
                    yield _problem("FORM_HOURS", online, f"/trainees/{j}/hours",
                                   location=f"第 {j + 1} 名学员{_trainee(row)}",
                                   reason=f"线上学习学时为 {_num(hours)}，应大于 0",
                                   hours=hours, **_named(row))


# ---------------------------------------------------------------------------------------
# FORM_MISMATCH


def check_mismatch(view: Any) -> Iterator[Problem]:
    """FORM_MISMATCH: the pledge's institution name, each level-2 form's occupation and
    level, the online record's platform."""
    fs = _formset(view)
    if fs is None:
        return
    layout = getattr(view, "layout", None)
    plan, pledge = _usable(fs.plan), _usable(fs.pledge)
    plan_name = _text(_dict(plan.obj.get("institution")).get("name")) if plan else None
    if plan_name:
        reference, source = plan_name, "培训方案"
    else:
        folder_name = _text(getattr(layout, "name_institution", None))
        reference, source = folder_name, "顶层文件夹名称"
    if pledge and reference:
        name = _text(pledge.obj.get("institution_name"))
        if name and name != reference:
            yield _problem("FORM_MISMATCH", pledge, "/institution_name", location="中的机构名称",
                           other=source, reason=f"承诺书中为“{_echo(name)}”，{source}中为“{_echo(reference)}”",
                           found=_echo(name), expected=_echo(reference))
    platform = _text(plan.obj.get("online_platform")) if plan else None
    for tf in _training_forms(fs):
        training = _training_of(view, tf)
        if training is not None:
            folder = f"所在文件夹“{tf.folder}”"
            for form in _level2(tf):
                fields = (("occupation", "职业（工种）", training.occupation),
                          ("level", "等级", training.level))
                for field, label, expected in fields:
                    if form.kind == "practice_equipment" and field == "level":
                        continue
                    value = _text(form.obj.get(field))
                    if value is not None and value != expected:
                        yield _problem("FORM_MISMATCH", form, f"/{field}", location=f"中的{label}",
                                       other=folder, reason=f"表单中为“{_echo(value)}”，应为“{_echo(expected)}”",
                                       found=_echo(value), expected=_echo(expected))
        online = _usable(tf.online_record)
        if online and platform:
            value = _text(online.obj.get("platform"))
            if value is not None and value != platform:
                yield _problem("FORM_MISMATCH", online, "/platform", location="中的培训平台",
                               other="培训方案", reason=f"表单中为“{_echo(value)}”，培训方案中为“{_echo(platform)}”",
                               found=_echo(value), expected=_echo(platform))


# ---------------------------------------------------------------------------------------
# FORM_TEACHER


def check_teachers(view: Any) -> Iterator[Problem]:
    """FORM_TEACHER: every outline teacher is in 培训教师.json with the same name and
    身份证号 (one problem per distinct teacher per outline)."""
    fs = _formset(view)
    trainers = _usable(fs.trainers) if fs else None
    if fs is None or trainers is None or not isinstance(trainers.obj.get("trainers"), list):
        return
    today = getattr(view, "today", None) or date.today()
    names_by_id: dict[str, list[str]] = {}
    ids_by_name: dict[str, list[str]] = {}
    #: teachers whose number FORM_ID_NUMBER reports: one fault, one error, so neither they
    #: nor an outline's teacher with an invalid number are compared by number here
    invalid_names: set[str] = set()
    for _, row in _rows(trainers.obj.get("trainers")):
        key, name = _id_key(row.get("id_number")), _text(row.get("name"))
        if key and name and not validate_id_number(key, today).ok:
            invalid_names.add(name)
        if key:
            names_by_id.setdefault(key, []).append(name or "")
        if name and key:
            ids_by_name.setdefault(name, []).append(key)
    for tf in _training_forms(fs):
        for outline in _outlines(tf):
            faults: dict[tuple[str, str], list[tuple[int, str, dict[str, Any]]]] = {}  # (name, id) -> places
            for i, session in _rows(outline.obj.get("sessions")):
                teacher = session.get("teacher")
                if not isinstance(teacher, dict):
                    continue
                key, name = _id_key(teacher.get("id_number")), _text(teacher.get("name"))
                if key is None or name is None:
                    continue
                if name in invalid_names or not validate_id_number(key, today).ok:
                    continue
                known = names_by_id.get(key)
                if known is None:
                    if name in ids_by_name:
                        reason, facts = "培训教师名单中有同名教师，但身份证号不同", {"fault": "other_id_number"}
                    else:
                        reason, facts = "培训教师名单中没有这名教师", {"fault": "not_listed"}
                elif name not in known:
                    shown = "、".join(f"“{_echo(n)}”" for n in known if n) or "（空）"
                    reason = f"培训教师名单中该身份证号的教师姓名为{shown}"
                    facts = {"fault": "other_name", "listed_names": [_echo(n) for n in known if n]}
                else:
                    continue
                faults.setdefault((name, key), []).append((i, reason, facts))
            for (name, key), places in faults.items():
                first, reason, facts = places[0]
                shown = "、".join(str(i + 1) for i, _, _ in places[:_MAX_LISTED])
                more = f"等 {len(places)} 次" if len(places) > _MAX_LISTED else ""
                location = f"第 {shown} 次课{more}"
                yield _problem("FORM_TEACHER", outline, f"/sessions/{first}/teacher",
                               location=location, name=_echo(name), id_number=mask_id(key), reason=reason,
                               sessions=[i + 1 for i, _, _ in places], **facts)


# ---------------------------------------------------------------------------------------
# FORM_TRAINEES


@dataclass
class _Person:
    """One trainee of a form, known by a valid 身份证号: their name and where they appear."""

    key: str
    name: str
    places: list[int] = dataclasses.field(default_factory=list)  # session indexes (sign-in) or row indexes

    def shown(self) -> str:
        return f"{_echo(self.name)}（{mask_id(self.key)}）" if self.name else mask_id(self.key)


def _people(rows: Iterable[tuple[int, dict[str, Any]]], today: date) -> dict[str, _Person] | None:
    """The trainees of ``rows`` ((place, row) pairs) by their 身份证号, or None when some row
    has none (nobody can be counted).

    One fault, one error: a row whose number is invalid (FORM_ID_NUMBER says so) is not a
    new person when its name is a listed person's (the usual case: a digit dropped in one
    session); otherwise it counts once per distinct name."""
    people: dict[str, _Person] = {}
    invalid: list[tuple[int, str]] = []
    for place, row in rows:
        key = _id_key(row.get("id_number"))
        if key is None:
            return None
        name = _text(row.get("name")) or ""
        if not validate_id_number(key, today).ok:
            invalid.append((place, name))
            continue
        person = people.setdefault(key, _Person(key, name))
        person.places.append(place)
    names = {p.name for p in people.values() if p.name}
    for place, name in invalid:
        if name in names:
            continue
        names.add(name)
        people[f"invalid:{name}:{place}"] = _Person("", name, [place])
    return people


def _listed(people: Iterable[_Person], describe: Callable[[_Person], str]) -> str:
    chosen = list(people)
    shown = "、".join(describe(p) for p in chosen[:_MAX_LISTED])
    return shown + (f"等 {len(chosen)} 人" if len(chosen) > _MAX_LISTED else "")


def _sessions_text(places: Iterable[int]) -> str:
    return "、".join(str(i + 1) for i in sorted(set(places)))


def _count_problem(form: LoadedForm, pointer: str, people: dict[str, _Person] | None, training: Training | None,
                   what: str, differ: str) -> Iterator[Problem]:
    """FORM_TRAINEES when the number of people differs from the plan's, naming who
    differs (``differ``: already worded, may be empty). A plan number below 1 is the
    schema's error, not a second one here."""
    expected = training.trainees if training else None
    if people is None or not isinstance(expected, int) or expected < 1 or len(people) == expected:
        return
    found = len(people)
    yield _problem("FORM_TRAINEES", form, pointer, location="",
                   reason=f"{what}共有 {found} 名学员（按身份证号计），培训方案中“{training.folder}”"
                          f"的培训人数为 {expected} 人{differ}",
                   found=found, expected=expected, fault="count")


def _sign_in_differ(people: dict[str, _Person], sessions: int, expected: int) -> str:
    """Who makes the sign-in sheet's count differ: the people missing from some sessions
    (the likely extra or replaced ones), or, when everyone attended every session, a
    pointer to the plan's number."""
    partial = sorted((p for p in people.values() if len(set(p.places)) < sessions),
                     key=lambda p: (len(set(p.places)), p.places))
    if partial:
        return "；只出现在部分签到中的学员：" + _listed(
            partial, lambda p: f"{p.shown()}（第 {_sessions_text(p.places)} 次）")
    if len(people) > expected:
        return "；每名学员都参加了每次签到，请核对培训方案中的培训人数"
    return ""


def _sign_in_people(form: LoadedForm, today: date) -> dict[str, _Person] | None:
    """The trainees of a sign-in sheet (:func:`_people`), each with the sessions they are in."""
    return _people(((i, row) for i, session in _rows(form.obj.get("sessions"))
                    for _, row in _rows(session.get("trainees"))), today)


def _sign_in_trainees(form: LoadedForm, training: Training | None, count: bool,
                      people: dict[str, _Person] | None) -> Iterator[Problem]:
    sessions = form.obj.get("sessions")
    for i, session in _rows(sessions):
        day = _date(session.get("date"))
        when = f"（{day.isoformat()}）" if day else ""
        first_at: dict[str, int] = {}
        for j, row in _rows(session.get("trainees")):
            where = f"第 {i + 1} 次签到{when}第 {j + 1} 名学员{_trainee(row)}"
            key = _id_key(row.get("id_number"))
            if key is not None:
                if key in first_at:
                    yield _problem("FORM_TRAINEES", form, f"/sessions/{i}/trainees/{j}/id_number",
                                   location=where,
                                   reason=f"身份证号与本次签到第 {first_at[key] + 1} 名学员重复",
                                   duplicate_of=f"/sessions/{i}/trainees/{first_at[key]}/id_number",
                                   fault="repeated", **_named(row))
                else:
                    first_at[key] = j
            if row.get("signed") is False:
                yield _problem("FORM_TRAINEES", form, f"/sessions/{i}/trainees/{j}/signed",
                               location=where, reason="“签到”填的是 false，即未签到", signed=False,
                               fault="not_signed", **_named(row))
    if count and isinstance(sessions, list):
        expected = training.trainees if training else None
        differ = (_sign_in_differ(people, len({i for i, _ in _rows(sessions)}), expected)
                  if people is not None and isinstance(expected, int) else "")
        yield from _count_problem(form, "/sessions", people, training, "签到表中", differ)


def _online_differ(people: dict[str, _Person], signed_in: dict[str, _Person] | None) -> str:
    """Who makes the online record's count differ: compared with the sign-in sheet."""
    if not signed_in:
        return ""
    extra = [p for k, p in people.items() if p.key and k not in signed_in]
    absent = [p for k, p in signed_in.items() if p.key and k not in people]
    parts = []
    if extra:
        parts.append("不在签到表中的：" + _listed(extra, _Person.shown))
    if absent:
        parts.append("签到表中有、线上培训记录中没有的：" + _listed(absent, _Person.shown))
    return "；" + "；".join(parts) if parts else ""


def _online_trainees(form: LoadedForm, training: Training | None, count: bool, today: date,
                     signed_in: dict[str, _Person] | None) -> Iterator[Problem]:
    trainees = form.obj.get("trainees")
    first_at: dict[str, int] = {}
    for j, row in _rows(trainees):
        where = f"第 {j + 1} 名学员{_trainee(row)}"
        key = _id_key(row.get("id_number"))
        if key is not None:
            if key in first_at:
                yield _problem("FORM_TRAINEES", form, f"/trainees/{j}/id_number", location=where,
                               reason=f"身份证号与第 {first_at[key] + 1} 名学员重复",
                               duplicate_of=f"/trainees/{first_at[key]}/id_number", fault="repeated",
                               **_named(row))
            else:
                first_at[key] = j
        reasons: list[str] = []
        pointer: str | None = None
        facts: dict[str, Any] = _named(row)
        rate = _number(row.get("completion_rate"))
        if rate is not None and abs(rate - 100) > TOLERANCE:
            reasons.append(f"“培训完成率”为 {_num(rate)}%，应为 100%")
            pointer = f"/trainees/{j}/completion_rate"
            facts["completion_rate"] = rate
        if row.get("signed_in") is False:
            reasons.append("“在线签到”填的是 false，即未在平台签到")
            pointer = pointer or f"/trainees/{j}/signed_in"
            facts["signed_in"] = False
        if reasons:
            yield _problem("FORM_TRAINEES", form, pointer, location=where, reason="；".join(reasons),
                           fault="online_incomplete", **facts)
    if count and isinstance(trainees, list):
        rows = [row for row in trainees if isinstance(row, dict)]
        people = _people(enumerate(rows), today) if len(rows) == len(trainees) else None
        differ = _online_differ(people, signed_in) if people is not None else ""
        yield from _count_problem(form, "/trainees", people, training, "线上培训记录中", differ)


def check_trainees(view: Any) -> Iterator[Problem]:
    """FORM_TRAINEES: trainee counts per training, no repeat in a session, everyone
    signed, every online trainee complete and signed in."""
    fs = _formset(view)
    if fs is None:
        return
    theory, practice = _modes(view)
    modes = set(theory) | set(practice)
    today = getattr(view, "today", None) or date.today()
    for tf in _training_forms(fs):
        training = _training_of(view, tf)
        sign_in, online = _usable(tf.sign_in), _usable(tf.online_record)
        signed_in: dict[str, _Person] | None = None
        if sign_in:
            signed_in = _sign_in_people(sign_in, today)  # once: the count and the online record's
            yield from _sign_in_trainees(sign_in, training, "offline" in modes, signed_in)
        if online:
            yield from _online_trainees(online, training, "online" in modes, today, signed_in)


# ---------------------------------------------------------------------------------------
# FORM_SIGNIN


def check_signin(view: Any) -> Iterator[Problem]:
    """FORM_SIGNIN: a sign-in session on every date an offline outline holds a session."""
    fs = _formset(view)
    if fs is None:
        return
    theory, practice = _modes(view)
    for tf in _training_forms(fs):
        sign_in = _usable(tf.sign_in)
        if sign_in is None or not isinstance(sign_in.obj.get("sessions"), list):
            continue
        signed_days = {d for _, s in _rows(sign_in.obj.get("sessions")) if (d := _date(s.get("date")))}
        outlines = []
        if "offline" in theory and _usable(tf.theory_outline):
            outlines.append(tf.theory_outline)
        if "offline" in practice and _usable(tf.practice_outline):
            outlines.append(tf.practice_outline)
        missing: dict[date, list[str]] = {}
        for outline in outlines:
            for _, session in _rows(outline.obj.get("sessions")):
                day = _date(session.get("date"))
                if day and day not in signed_days:
                    names = missing.setdefault(day, [])
                    if outline.name not in names:
                        names.append(outline.name)
        for day in sorted(missing):
            yield _problem("FORM_SIGNIN", sign_in, "/sessions", form="”和“".join(missing[day]),
                           date=day.isoformat(), outlines=list(missing[day]))


# ---------------------------------------------------------------------------------------
# W_HOURS_PLAN


def check_hours_plan(view: Any) -> Iterator[Problem]:
    """W_HOURS_PLAN: a training's theory + practice totals differ from the plan's."""
    fs = _formset(view)
    plan = _usable(fs.plan) if fs else None
    planned = _number(plan.obj.get("total_hours")) if plan else None
    if fs is None or plan is None or planned is None:
        return
    theory, practice = _modes(view)
    if "offline" not in theory or "offline" not in practice:
        return
    for tf in _training_forms(fs):
        t, p = _usable(tf.theory_outline), _usable(tf.practice_outline)
        if t is None or p is None:
            continue
        a, b = _number(t.obj.get("total_hours")), _number(p.obj.get("total_hours"))
        if a is None or b is None:
            continue
        if abs(a + b - planned) > TOLERANCE:
            training = _training_of(view, tf)
            yield _problem("W_HOURS_PLAN", plan, "/total_hours",
                           training=training.folder if training else tf.folder,
                           total=f"{_num(a + b)}（理论 {_num(a)} + 实操 {_num(b)}）",
                           plan=_num(planned), theory_hours=a, practice_hours=b, plan_hours=planned)


#: the rules, in reporting order
CROSS_FORM_RULES: tuple[Callable[[Any], Iterable[Problem]], ...] = (
    check_form_lists, check_id_numbers, check_phones, check_dates, check_hours, check_mismatch,
    check_teachers, check_trainees, check_signin, check_hours_plan,
)
