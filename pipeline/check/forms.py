"""The forms (表单) of a package (spec section 4): which exist, read, validated against
their JSON Schemas in ``schemas/forms/``.

:func:`load_forms` reads every form of a package once; the schema check reports what it
found while loading (``FORM_JSON``, ``FORM_MISSING``, ``FORM_SCHEMA``) and the cross-form
rules (``pipeline/check/rules/forms.py``) work on the parsed data, defensively: a form that
broke its schema is still handed over (``schema_valid`` False) so that the rules can
report everything else they can see in it.

The schemas (``schemas/forms/<form>.schema.json``, JSON Schema draft 2020-12) are the
single source of truth for field names, types, required and optional fields; the
Chinese ``title`` of every field is what messages call it, and ``docs/forms.md`` is
generated from them (``python -m pipeline.kit.form_docs``).

Division of labour with the cross-form rules: the schema says what one value must look
like on its own (type, required, enum, range, ``YYYY-MM-DD`` date that exists, minimum
list lengths, no unknown field). 身份证号 and phones are only "non-empty text" here:
their validity is ``FORM_ID_NUMBER`` / ``FORM_PHONE``. Everything comparing two values
(start <= end, dates within the plan, sums of hours, unique training pairs and
身份证号, trainee counts, outline ``seq`` 1..n in order, signed/completion flags being
true/100, an online trainee's hours > 0) belongs to the cross-form rules, so the schema
deliberately allows ``signed: false``, ``completion_rate: 80`` and ``hours: 0`` there.

Decisions (the spec leaves them open):

- **Which forms are required.** 诚信承诺书.json and 培训教师.json always (level 1). In a
  training folder: 理论培训大纲.json when the plan's theory_mode has "offline",
  实操培训大纲.json when practice_mode has "offline", 签到表.json when either has
  "offline", 线上培训记录.json when either has "online"; 实操设备设施.json is never
  required (only operation-type occupations fill it in, and the package does not say
  which those are). Per-training ``FORM_MISSING`` is reported only for folders that are a
  plan training (exactly, or spelled with a level alias: ``育婴师五级`` stands for
  ``育婴师初级``, as in the hierarchy check) and only when the plan is readable: with no
  usable plan (absent, unreadable, not a JSON object) the modes are unknown and nothing
  per training is reported missing. Mode values that are not "online"/"offline" (a
  schema error) require nothing.
- **Which folders are read.** Every level-2 folder that is (or is spelled like) a
  training, in folder order, whether the plan lists it or not; the forms present there
  are read and validated. ``TrainingForms.training`` is the plan training the folder
  is, or stands for (alias spelling); None when the plan does not list it.
- **培训方案.json** is read by the layout (one read per package); its absence or broken
  JSON is reported once by the hierarchy check, never here. A readable plan is
  validated here like every other form.
- **A form carrying another form's type** (``签到表.json`` with ``"form":
  "theory_outline"``) gets one ``FORM_SCHEMA`` at ``/form`` saying which form the file
  holds, and is not validated further: the dozens of errors of judging one form by
  another's schema would hide the one fix needed (rename or replace the file).
- **One problem per violation**, pointer = the offending value (for a missing field,
  where it should be; for an unknown field, that field). At one pointer a wrong type
  hides the other rules about that value, an empty text hides the "only spaces" rule.
  Problems of a form come in the order of the schema's fields (array items by index).
- **Numbers.** Hours are multiples of 0.5 (plan, outline totals and sessions); an online
  trainee's hours are any number >= 0 (platforms report decimals; > 0 is
  ``FORM_HOURS``). ``teaching_years``, ``trainees``, ``quantity`` and ``seq`` are
  integers (``20.0`` counts as an integer, as JSON Schema says). NaN, Infinity and
  numbers too large for a float (``1e400``), which Python's JSON reader lets through,
  are ``FORM_SCHEMA`` at their pointer.
- **Free text.** ``result``, ``remarks``, ``awards`` and ``online_platform`` (when no mode
  is online) may be absent, null or ""; every other text is required and may not be ""
  or only spaces. ``signed`` / ``signed_in`` / ``accepted`` are JSON booleans (``accepted``
  must be true); ``seq`` is an integer >= 1; ``completion_rate`` a percentage 0..100.
- **Privacy.** Values echoed in messages are masked, then cut to 30 characters: the value
  of an ``id_number``, ``phone`` or ``contact_phone`` field by its meaning, whatever it
  holds (:func:`pipeline.check.privacy.mask_field`; in a line quoted from broken JSON too),
  any other value by the recogniser of personal numbers
  (:func:`pipeline.check.privacy.redact`): a 身份证号 or mobile number in a wrong field
  never appears in full (nor in a pointer made of an unknown key), while dates, counts
  and other digit runs are shown as written.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from pipeline.check.catalogue import Problem, problem
from pipeline.check.contract import (FILE_NAME_OF_FORM, MAX_FORM_BYTES, PLAN_FORM, REQUIREMENTS, SHEET_OF_FORM,
                                     TRAINING_FORM_TYPES, WORKBOOK_FILE, required_training_forms)
from pipeline.check.layout import Layout, Training, read_json
from pipeline.check.package_reader import ExtractedFile
from pipeline.check.privacy import ID_FIELDS, PERSONAL_FIELDS, mask_field, mask_id, mask_phone, redact
from pipeline.check.form_validity import validity_check
from pipeline.check.form_schemas import SCHEMAS_DIR, load_schema
from pipeline.check.workbook import SheetForm, WorkbookRead, read_workbook


__all__ = [
    "SCHEMAS_DIR", "LoadedForm", "TrainingForms", "FormSet",
    "load_schema", "form_validator", "validate_form", "schema_issues", "field_label", "json_pointer", "load_forms",
]



@dataclass(frozen=True)
class LoadedForm:
    kind: str  # "training_plan", ... (the key of FILE_NAME_OF_FORM)
    path: str  # full path inside the package, e.g. "机构20261120/育婴师初级/签到表.json"
    data: Any  # the parsed JSON; None when it could not be read (FORM_JSON reported)
    schema_valid: bool  # False when FORM_SCHEMA (or FORM_JSON) was reported for it
    #: read from a sheet of 表单.xlsx (spec section 9): the sheet, with the cell of every
    #: value (``path`` is then the workbook's)
    sheet: SheetForm | None = None

    @property
    def name(self) -> str:
        """The form as messages name it: its file name (培训方案.json), or its sheet's name
        (培训方案) when read from a workbook."""
        return self.sheet.sheet if self.sheet is not None else FILE_NAME_OF_FORM[self.kind]

    def place(self, pointer: str | None) -> dict[str, str]:
        """``sheet`` and ``cell`` of the value at ``pointer`` for :func:`problem`, when the
        form was read from a workbook; else nothing."""
        if self.sheet is None:
            return {}
        return {"sheet": self.sheet.sheet, "cell": self.sheet.cell_of(pointer or "")}

    @property
    def obj(self) -> dict[str, Any]:
        """The data when it is a JSON object, else {} (rules read it defensively)."""
        return self.data if isinstance(self.data, dict) else {}


@dataclass(frozen=True)
class TrainingForms:
    """The forms of one level-2 (training) folder."""

    folder: str  # the folder name as in the package
    #: the plan's training for it: the training named exactly so, or the one a level
    #: alias spelling stands for (育婴师五级 -> 育婴师初级); None: not in the plan
    training: Training | None
    theory_outline: LoadedForm | None
    practice_outline: LoadedForm | None
    sign_in: LoadedForm | None
    online_record: LoadedForm | None
    practice_equipment: LoadedForm | None

    def form(self, kind: str) -> LoadedForm | None:
        """The form of type ``kind`` (one of TRAINING_FORM_TYPES) in this folder, if present."""
        return getattr(self, kind) if kind in TRAINING_FORM_TYPES else None

    def present(self) -> tuple[LoadedForm, ...]:
        """The forms found in this folder, in TRAINING_FORM_TYPES order."""
        return tuple(f for f in (getattr(self, k) for k in TRAINING_FORM_TYPES) if f is not None)


@dataclass(frozen=True)
class FormSet:
    """Every form of a package, read once."""

    plan: LoadedForm | None
    pledge: LoadedForm | None
    trainers: LoadedForm | None
    trainings: tuple[TrainingForms, ...]  # one per training folder, in folder order
    problems: tuple[Problem, ...]  # FORM_JSON / FORM_MISSING / FORM_SCHEMA found while loading

    def all(self) -> tuple[LoadedForm, ...]:
        """Every form found, root forms first, then per training folder."""
        root = tuple(f for f in (self.plan, self.pledge, self.trainers) if f is not None)
        return root + tuple(f for tf in self.trainings for f in tf.present())


# ---------------------------------------------------------------------------------------
# schemas





def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``multipleOf`` without float overflow (jsonschema's raises on ``10**400``), exact."""
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "number"):
        return
    if isinstance(instance, float) and not math.isfinite(instance):
        return  # reported on its own as a non-finite number
    if Fraction(instance) % Fraction(divisor) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"multipleOf": _multiple_of})


@lru_cache(maxsize=None)
def form_validator(kind: str) -> Any:
    """A draft 2020-12 validator of form type ``kind`` with ``format`` checked (dates),
    built once per process."""
    from jsonschema import Draft202012Validator, FormatChecker

    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return _validator_class()(schema, format_checker=FormatChecker())


def _resolve(kind: str, node: Any) -> dict[str, Any]:
    """``node`` with local ``$ref`` s followed (for navigating to children)."""
    root = load_schema(kind)
    for _ in range(16):
        if not isinstance(node, dict) or "$ref" not in node:
            break
        ref = node["$ref"]
        if not ref.startswith("#/$defs/"):
            break
        node = root.get("$defs", {}).get(ref[len("#/$defs/"):])
    return node if isinstance(node, dict) else {}


def _title(kind: str, node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    return node.get("title") or _resolve(kind, node).get("title")


def _child(kind: str, node: Any, segment: str | int) -> Any:
    target = _resolve(kind, node)
    if isinstance(segment, int):
        return target.get("items")
    return target.get("properties", {}).get(segment)


def _node(kind: str, path: Iterable[str | int]) -> Any:
    node: Any = load_schema(kind)
    for segment in path:
        node = _child(kind, node, segment)
        if node is None:
            return None
    return node


def field_label(kind: str, path: Iterable[str | int], document: Any = None) -> str:
    """How messages name the value at ``path`` of a form, in the clerk's words, from the
    schema: a list's item by the list's ``x-item`` phrase (``第 4 次签到``) and, when the
    ``document`` is given, the item's ``x-item-shows`` value (its date or the person's
    name); a field by its ``title``. ``["sessions", 3, "trainees", 5, "name"]`` ->
    ``第 4 次签到（2026-10-30）第 6 名学员（乔志强）的“姓名”``. A list without a phrase
    says ``“培训项目”第 1 项``; an unknown key is quoted as written (masked); the empty
    path is ``表单内容``."""
    parts: list[str] = []
    node: Any = load_schema(kind)
    value: Any = document
    for segment in path:
        array = _resolve(kind, node) if node is not None else {}
        node = _child(kind, node, segment) if node is not None else None
        if isinstance(segment, int):
            value = value[segment] if isinstance(value, list) and 0 <= segment < len(value) else None
            phrase = array.get("x-item")
            if phrase:
                shown = value.get(array.get("x-item-shows", "")) if isinstance(value, dict) else None
                text = phrase.format(n=segment + 1)
                if isinstance(shown, str) and shown.strip():
                    text += f"（{_cut(_mask(shown.strip()))}）"
                if parts and parts[-1].startswith("“"):
                    parts.pop()  # the phrase names the list already
                    if parts and not parts[-1].startswith("“"):
                        parts[-1] += text  # 第 4 次签到第 6 名学员, one place
                    else:
                        parts.append(text)
                elif parts:
                    parts[-1] += text
                else:
                    parts.append(text)
            elif parts:
                parts[-1] += f"第 {segment + 1} 项"
            else:
                parts.append(f"第 {segment + 1} 项")
        else:
            value = value.get(segment) if isinstance(value, dict) else None
            parts.append(f"“{_title(kind, node) or _mask(segment)}”")
    return "的".join(parts) or "表单内容"


def json_pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 pointer of ``path`` ("" for the whole document)."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in path)


# ---------------------------------------------------------------------------------------
# Chinese messages for schema violations

_ECHO_LIMIT = 30
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_TYPE_NAMES = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "true（是）或 false（否）",
               "object": "对象（{…}）", "array": "列表（[…]）", "null": "null"}
#: how enum values in English are explained
_ENUM_LABELS = {"online": "线上", "offline": "线下"}


#: the value of a personal field in raw JSON text: ``"id_number": "…"`` (or a bare number)
_PERSONAL_VALUE = re.compile(r'("(' + "|".join(sorted(PERSONAL_FIELDS)) + r')"\s*:\s*"?)([^",}\]]*)')


def _mask(text: str) -> str:
    """The personal numbers in free text masked (pipeline/check/privacy.py)."""
    return redact(text)


def _mask_json_text(text: str) -> str:
    """A piece of (broken) JSON text as a message may quote it: the values of personal
    fields masked by their meaning, then every personal number elsewhere. Masks keep the
    length, so columns still point at the same character."""
    def by_meaning(m: re.Match[str]) -> str:
        value = m[3]
        return m[1] + (mask_id(value) if m[2] in ID_FIELDS else mask_phone(value))

    return redact(_PERSONAL_VALUE.sub(by_meaning, text))


def _personal_key(path: Iterable[str | int]) -> str | None:
    """The field name when ``path`` ends at a personal field (id_number, phone, ...)."""
    last = list(path)[-1:] or [None]
    return last[0] if isinstance(last[0], str) and last[0] in PERSONAL_FIELDS else None


def _cut(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"


def _num(x: Any) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
    return str(x)


def _show(value: Any, key: str | None = None) -> str:
    """A JSON value as echoed in a message: masked and short. ``key``: the personal field
    (:data:`~pipeline.check.privacy.PERSONAL_FIELDS`) the value is of, masked by meaning."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        text = _num(value) if isinstance(value, float) else str(value)
        return _cut(mask_field(key, text) if key else _mask(text))
    if isinstance(value, str):
        if not value:
            return "\"\"（空）"
        return f"\"{_cut(mask_field(key, value) if key else _mask(value))}\""
    if isinstance(value, dict):
        return "对象 {…}"
    if isinstance(value, list):
        return "列表 […]" if value else "空列表 []"
    return _cut(_mask(str(value)))


def _enum_text(values: list[Any]) -> str:
    shown = [f"\"{v}\"（{_ENUM_LABELS[v]}）" if v in _ENUM_LABELS else
             (v if isinstance(v, str) else _show(v)) for v in values]
    if len(shown) == 1:
        return shown[0]
    head = "、".join(shown[:-1])
    return head + ("" if head.endswith("）") else " ") + "或 " + shown[-1]


def _types_text(types: Any) -> str:
    types = [types] if isinstance(types, str) else list(types)
    out = ""
    for name in (_TYPE_NAMES.get(t, t) for t in types):
        if out:
            out += (" " if out[-1].isascii() else "") + "或" + (" " if name[0].isascii() else "")
        out += name
    return out


def _const_text(value: Any) -> str:
    return f"\"{value}\"" if isinstance(value, str) else _show(value)


@dataclass(frozen=True)
class _Issue:
    path: tuple[str | int, ...]
    detail: str
    keyword: str
    rank: int = 0  # among issues of one keyword at one path, the lowest wins


def _then_reason(kind: str, error: Any) -> str:
    """The description of the ``then`` branch an error comes from ("" if none)."""
    schema_path = list(error.absolute_schema_path)
    if "then" not in schema_path:
        return ""
    node: Any = load_schema(kind)
    for step in schema_path[: schema_path.index("then") + 1]:
        node = node[step] if isinstance(node, dict) else node[int(step)]
    text = node.get("description") if isinstance(node, dict) else None
    return text or ""


@dataclass(frozen=True)
class _Error:
    """One jsonschema error as the detail builders read it."""

    kind: str  # the form type
    error: Any  # the jsonschema ValidationError
    path: tuple[str | int, ...]  # where the value at fault is
    value: Any  # the keyword's value in the schema (the limit, the enum, ...)
    instance: Any  # the value at fault
    document: Any = None  # the whole form, for the names and dates of list items

    @property
    def subject(self) -> str:
        """How the message names the value at fault."""
        return field_label(self.kind, self.path, self.document)

    @property
    def actual(self) -> str:
        return f"，实际为 {_show(self.instance, _personal_key(self.path))}"

    def issue(self, detail: str, rank: int = 0) -> list[_Issue]:
        return [_Issue(self.path, detail, self.error.validator, rank)]


def _detail_required(e: _Error) -> list[_Issue]:
    reason = _then_reason(e.kind, e.error)
    reason = f"（{reason}）" if reason else ""
    return [_Issue(e.path + (name,), f"缺少{field_label(e.kind, e.path + (name,), e.document)}{reason}", "required")
            for name in e.value if isinstance(e.instance, dict) and name not in e.instance]


def _detail_additional_properties(e: _Error) -> list[_Issue]:
    allowed = list(_resolve(e.kind, e.error.schema).get("properties", {}))
    out = []
    for key in e.instance if isinstance(e.instance, dict) else ():
        if key in allowed:
            continue
        where = f"{e.subject}中" if e.path else ""
        detail = f"{where}不应有字段“{_cut(_mask(key))}”"
        close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
        if close:
            title = _title(e.kind, _child(e.kind, e.error.schema, close[0]))
            detail += f"（是否应为“{close[0]}”{f'（{title}）' if title else ''}？）"
        else:
            detail += "（表单模板中没有该字段，请删除或改用模板中的字段名）"
        out.append(_Issue(e.path + (key,), detail, "additionalProperties"))
    return out


def _detail_type(e: _Error) -> list[_Issue]:
    types = [e.value] if isinstance(e.value, str) else list(e.value)
    notes = [_then_reason(e.kind, e.error)]
    # an int is always finite (math.isfinite would overflow on 400 digits)
    if "string" in types and not isinstance(e.instance, bool) and (
            isinstance(e.instance, int) or (isinstance(e.instance, float) and math.isfinite(e.instance))):
        notes.append("号码、编号等也须用英文双引号括起来，写成文本")
    note = "；".join(n for n in notes if n)
    expected = _types_text(types)
    expected = (" " if expected[0].isascii() else "") + expected
    return e.issue(f"{e.subject}应为{expected}{e.actual}" + (f"（{note}）" if note else ""), rank=len(types))


def _detail_enum(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}应为 {_enum_text(e.value)}{e.actual}")


def _detail_const(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}应为 {_const_text(e.value)}{e.actual}")


def _detail_minimum(e: _Error) -> list[_Issue]:
    integer = _resolve(e.kind, e.error.schema).get("type") == "integer"
    what = f"应为不小于 {_num(e.value)} 的整数" if integer else f"应不小于 {_num(e.value)}"
    return e.issue(f"{e.subject}{what}{e.actual}")


def _detail_exclusive_minimum(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}应大于 {_num(e.value)}{e.actual}")


def _detail_maximum(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}应不大于 {_num(e.value)}{e.actual}")


def _detail_exclusive_maximum(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}应小于 {_num(e.value)}{e.actual}")


def _detail_multiple_of(e: _Error) -> list[_Issue]:
    half = "（可以有半学时，如 1.5）" if e.value == 0.5 else ""
    return e.issue(f"{e.subject}应为 {_num(e.value)} 的整数倍{half}{e.actual}")


def _detail_min_length(e: _Error) -> list[_Issue]:
    reason = _then_reason(e.kind, e.error)
    return e.issue(f"{e.subject}不能为空" + (f"（{reason}）" if reason else ""))


def _detail_max_length(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}不能超过 {e.value} 个字符")


def _detail_pattern(e: _Error) -> list[_Issue]:
    if e.value == "\\S":
        return e.issue(f"{e.subject}不能只有空格")
    return e.issue(f"{e.subject}的格式不正确{e.actual}")


def _detail_min_items(e: _Error) -> list[_Issue]:
    found = "空列表" if isinstance(e.instance, list) and not e.instance else f"{len(e.instance)} 项"
    return e.issue(f"{e.subject}至少应有 {e.value} 项，实际为{found}")


def _detail_max_items(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}最多只能有 {e.value} 项，实际为 {len(e.instance)} 项")


def _detail_unique_items(e: _Error) -> list[_Issue]:
    seen: list[Any] = []
    dups: list[Any] = []
    for item in e.instance:
        if item in seen and item not in dups:
            dups.append(item)
        seen.append(item)
    return e.issue(f"{e.subject}中有重复的项：{'、'.join(_show(d) for d in dups)}")


def _detail_format(e: _Error) -> list[_Issue]:
    if e.value == "date" and isinstance(e.instance, str) and _ISO_DATE.fullmatch(e.instance):
        return e.issue(f"{e.subject} {_show(e.instance)} 不是真实存在的日期")
    if e.value == "date":
        return e.issue(f"{e.subject}应为 YYYY-MM-DD 格式的日期（如 2026-10-08）{e.actual}")
    return e.issue(f"{e.subject}应为 {e.value} 格式{e.actual}")


def _detail_other(e: _Error) -> list[_Issue]:
    return e.issue(f"{e.subject}不符合表单模板的要求{e.actual}")


#: JSON Schema keyword -> the Chinese detail(s) of an error of it
_DETAILS: dict[str, Callable[[_Error], list[_Issue]]] = {
    "required": _detail_required, "additionalProperties": _detail_additional_properties,
    "type": _detail_type, "enum": _detail_enum, "const": _detail_const,
    "minimum": _detail_minimum, "exclusiveMinimum": _detail_exclusive_minimum,
    "maximum": _detail_maximum, "exclusiveMaximum": _detail_exclusive_maximum,
    "multipleOf": _detail_multiple_of, "minLength": _detail_min_length, "maxLength": _detail_max_length,
    "pattern": _detail_pattern, "minItems": _detail_min_items, "maxItems": _detail_max_items,
    "uniqueItems": _detail_unique_items, "format": _detail_format,
}


def _issues(kind: str, error: Any, document: Any) -> list[_Issue]:
    """The issue(s) of one jsonschema error, each with its Chinese detail."""
    e = _Error(kind, error, tuple(error.absolute_path), error.validator_value, error.instance, document)
    return _DETAILS.get(error.validator, _detail_other)(e)


def _non_finite(value: Any) -> Iterator[tuple[tuple[str | int, ...], float]]:
    """(path, value) of every NaN / ±Infinity in a parsed document (iteratively)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            yield path, node
        elif isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))


def _order(kind: str, path: tuple[str | int, ...]) -> tuple[tuple[int, str], ...]:
    """Sort key: schema field order for keys (unknown keys last), index for items."""
    key: list[tuple[int, str]] = []
    node: Any = load_schema(kind)
    for segment in path:
        if isinstance(segment, int):
            key.append((segment, ""))
        else:
            fields = list(_resolve(kind, node).get("properties", {})) if node is not None else []
            key.append((fields.index(segment) if segment in fields else len(fields) + 1, segment))
        node = _child(kind, node, segment) if node is not None else None
    return tuple(key)


def _valid_quickly(kind: str, value: Any) -> bool:
    """True when the compiled check (pipeline/check/form_validity.py) finds ``value``
    valid; False when it finds it invalid, has no check of ``kind``, or fails itself."""
    check = validity_check(kind)
    if check is None:
        return False
    try:
        return check(value)
    except Exception:  # (jsonschema, asked next, says what it makes of such a value)
        return False


_HIDES = {  # at one path, an issue of the key keyword hides those of the listed ones
    "type": {"enum", "const", "format", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
             "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
             "required", "additionalProperties", "nonfinite"},
    "nonfinite": {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf"},
    "minLength": {"pattern"},
}


def validate_form(kind: str, value: Any) -> list[tuple[str, str]]:
    """Every way ``value`` breaks the schema of form type ``kind``, as (JSON pointer,
    Chinese detail) in document order; empty when it is valid."""
    return [(pointer, detail) for pointer, detail, _ in schema_issues(kind, value)]


def schema_issues(kind: str, value: Any) -> list[tuple[str, str, str]]:
    """:func:`validate_form` with each issue's JSON Schema keyword (``required``, ``enum``,
    ...): the cause that chooses the hint."""
    if not isinstance(value, dict):
        return [("", f"表单内容应为 JSON 对象（{{…}}），实际为 {_show(value)}", "type")]
    declared = value.get("form")
    if isinstance(declared, str) and declared != kind and declared in FILE_NAME_OF_FORM:
        return [("/form", f"“表单类型”应为 \"{kind}\"（{FILE_NAME_OF_FORM[kind]}），实际为 \"{declared}\"，"
                          f"即这是一份“{FILE_NAME_OF_FORM[declared]}”：请确认文件内容与文件名一致，"
                          f"把它改名为“{FILE_NAME_OF_FORM[declared]}”或换成正确的表单", "form_kind")]
    issues: list[_Issue] = []
    if not _valid_quickly(kind, value):  # jsonschema, slow, only to say what is wrong
        for error in form_validator(kind).iter_errors(value):
            issues.extend(_issues(kind, error, value))
    for path, number in _non_finite(value):
        issues.append(_Issue(path, f"{field_label(kind, path, value)}应为有效的数字，实际为 {_num(number)}"
                                   "（JSON 中没有 NaN、Infinity，数值也不能超出范围）", "nonfinite"))
    by_path: dict[tuple[str | int, ...], list[_Issue]] = {}
    for issue in issues:
        by_path.setdefault(issue.path, []).append(issue)
    kept: list[_Issue] = []
    for path, found in by_path.items():
        keywords = {i.keyword for i in found}
        hidden = set().union(*(_HIDES.get(k, set()) - {k} for k in keywords))
        best: dict[str, _Issue] = {}
        for issue in found:
            if issue.keyword in hidden:
                continue
            if issue.keyword not in best or issue.rank < best[issue.keyword].rank:
                best[issue.keyword] = issue
        seen_details: set[str] = set()
        for issue in best.values():
            if issue.detail not in seen_details:
                seen_details.add(issue.detail)
                kept.append(issue)
    kept.sort(key=lambda i: _order(kind, i.path))
    return [(_mask(json_pointer(i.path)), i.detail, i.keyword) for i in kept]


# ---------------------------------------------------------------------------------------
# reading


_JSON_ERRORS = (  # json's English messages (prefix) -> what to tell the institution
    ("Expecting property name enclosed in double quotes", "此处应为用英文双引号括起来的字段名"),
    ("Expecting value", "此处应为一个值（文本须用英文双引号括起来；true、false、null 须小写）"),
    ("Expecting ',' delimiter", "缺少英文逗号“,”（相邻两项之间须用逗号分隔）"),
    ("Expecting ':' delimiter", "缺少英文冒号“:”（字段名和值之间须用冒号分隔）"),
    ("Unterminated string", "文本缺少结尾的英文双引号"),
    ("Invalid control character", "文本中有换行、制表符等控制字符（文本中的换行须写作 \\n）"),
    ("Invalid \\uXXXX escape", "“\\u”后应为 4 位十六进制数字"),
    ("Invalid \\escape", "反斜杠“\\”用法不对（文本中的反斜杠须写作 \\\\）"),
    ("Extra data", "JSON 内容结束后还有多余的内容（整个文件只能是一个 {…}）"),
)
_FULLWIDTH = "，：“”‘’｛｝［］　"


def _syntax_detail(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            return "文件内容为空"
        why, at = _syntax_fault(text, exc)
        lineno = text.count("\n", 0, at) + 1
        colno = at - (text.rfind("\n", 0, at) + 1) + 1
        lines = text.splitlines()
        line = _mask_json_text(lines[lineno - 1]) if lineno <= len(lines) else ""  # masked whole
        near = line[max(0, colno - 16): colno + 14].strip()
        near = f"；出错处附近的内容：{near}" if near else ""
        return f"JSON 格式错误（第 {lineno} 行第 {colno} 列）：{why}{near}"
    return "JSON 格式错误"


def _syntax_fault(text: str, exc: json.JSONDecodeError) -> tuple[str, int]:
    """(what is wrong, in Chinese; where it is, as an index into ``text``). The JSON
    reader stops where it can no longer go on, which is not always where the fault is: a
    comma after the last item is found at the next ``}`` (the fault is the comma), a
    missing comma at the start of the next line (the fault is the end of the line before)."""
    pos, msg = exc.pos, exc.msg
    char = text[pos] if pos < len(text) else ""
    before = text[:pos].rstrip()
    if char and char in _FULLWIDTH:
        return f"此处是中文（全角）标点“{char}”，JSON 中的引号、逗号、冒号和括号须用英文半角符号", pos
    if before.endswith(",") and char in "]}":
        return "最后一项后面多了一个逗号", len(before) - 1
    if msg.startswith("Expecting ',' delimiter") and "\n" in text[len(before):pos]:
        return "这一行末尾缺少英文逗号“,”（相邻两项之间须用逗号分隔）", len(before)
    return next((zh for en, zh in _JSON_ERRORS if msg.startswith(en)), "JSON 语法错误"), pos


def _encoding_detail(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "文件是 UTF-16（记事本中的“Unicode”）编码，不是 UTF-8"
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = len(data[: exc.start].rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
        where = f"第 {line} 行第 {column} 列起"
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            return f"文件不是 UTF-8 编码的文本（{where}有无法识别的字节）"
        return (f"文件是 GBK/GB18030（ANSI）编码，不是 UTF-8（{where}无法按 UTF-8 读取）；"
                "请用记事本打开后“另存为”，编码选择“UTF-8”")
    return "文件不是 UTF-8 编码"


def _read_detail(file: ExtractedFile, detail: str) -> str:
    """A more helpful FORM_JSON detail than :func:`read_json`'s, same verdict."""
    if file.size > MAX_FORM_BYTES:
        return detail
    data = file.read_bytes()
    if not data.strip():
        return "文件内容为空"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _encoding_detail(data)
    if detail.startswith("JSON 格式错误"):
        return _syntax_detail(text)
    return detail


def _read(kind: str, file: ExtractedFile, problems: list[Problem],
          value: Any = None, parsed: bool = False) -> LoadedForm:
    """Read (unless ``parsed``) and validate one form, adding its problems."""
    name = FILE_NAME_OF_FORM[kind]
    if not parsed:
        value, detail = read_json(file)
        if detail is not None:
            problems.append(problem("FORM_JSON", file.path, form=name, detail=_read_detail(file, detail)))
            return LoadedForm(kind, file.path, None, False)
    found = schema_issues(kind, value)
    for pointer, detail, keyword in found:
        # the place is said in words in the detail; the pointer stays in the data
        problems.append(problem("FORM_SCHEMA", file.path, pointer=pointer, form=name, location="",
                                detail=detail, fault=keyword))
    return LoadedForm(kind, file.path, value, not found)


def _from_sheet(kind: str, sheet: SheetForm, path: str, problems: list[Problem]) -> LoadedForm:
    """Validate a form read from a workbook's sheet, every problem at its cell. A value the
    reader reported itself (an ID stored as a number) is not reported again."""
    found = [issue for issue in schema_issues(kind, sheet.value) if issue[0] not in sheet.reported]
    for pointer, detail, keyword in found:
        problems.append(problem("FORM_SCHEMA", path, pointer=pointer, form=sheet.sheet, location="",
                                detail=detail, fault=keyword, sheet=sheet.sheet, cell=sheet.cell_of(pointer)))
    return LoadedForm(kind, path, sheet.value, not found, sheet=sheet)


def _workbook_path(layout: Layout, folder: str) -> str:
    return layout.full(f"{folder}/{WORKBOOK_FILE}" if folder else WORKBOOK_FILE)


def _one_form(kind: str, file: ExtractedFile | None, book: WorkbookRead | None, book_path: str,
              problems: list[Problem]) -> LoadedForm | None:
    """The form of ``kind`` from its JSON file or from its sheet (FORM_DUPLICATE when both:
    the JSON file counts), or None when neither is there."""
    sheet = book.forms.get(kind) if book is not None else None
    if file is not None and sheet is not None:
        problems.append(problem("FORM_DUPLICATE", file.path, form=SHEET_OF_FORM[kind], workbook=WORKBOOK_FILE))
    if file is not None:
        return _read(kind, file, problems)
    if sheet is not None:
        return _from_sheet(kind, sheet, book_path, problems)
    return None


def _missing_reason(kind: str, book: WorkbookRead | None) -> str:
    reason = REQUIREMENTS[kind].reason
    if book is not None and SHEET_OF_FORM[kind] in book.empty_sheets:
        reason += f"；{WORKBOOK_FILE} 中的“{SHEET_OF_FORM[kind]}”工作表还没有填写"
    elif book is not None and not any(p.code == "FORM_WORKBOOK" for p in book.problems):
        reason += f"；{WORKBOOK_FILE} 中也没有“{SHEET_OF_FORM[kind]}”工作表"
    return reason


def _plan(layout: Layout, problems: list[Problem]) -> LoadedForm | None:
    file = layout.file_at(PLAN_FORM)
    book = layout.root_workbook
    if file is None and book is not None and "training_plan" in book.forms:
        return _from_sheet("training_plan", book.forms["training_plan"], _workbook_path(layout, ""), problems)
    if file is not None and book is not None and "training_plan" in book.forms:
        problems.append(problem("FORM_DUPLICATE", file.path, form=SHEET_OF_FORM["training_plan"],
                                workbook=WORKBOOK_FILE))
    if file is None:
        return None  # FORM_MISSING: reported by the hierarchy check
    if layout.plan_problem is not None:
        return LoadedForm("training_plan", file.path, None, False)  # FORM_JSON: likewise
    if layout.plan is not None:
        return _read("training_plan", file, problems, layout.plan, parsed=True)
    return _read("training_plan", file, problems)  # readable JSON, not an object


def load_forms(layout: Layout) -> FormSet:
    """Read and validate every form of the package once (see the module doc for which
    forms are required where). Never raises for a bad package."""
    problems: list[Problem] = []
    root_label = layout.root_name
    book = layout.root_workbook
    if book is not None:
        problems.extend(book.problems)
    plan = _plan(layout, problems)
    root: dict[str, LoadedForm | None] = {}
    for kind in ("integrity_pledge", "trainers"):
        file = layout.file_at(FILE_NAME_OF_FORM[kind])
        root[kind] = _one_form(kind, file, book, _workbook_path(layout, ""), problems)
        if root[kind] is None:
            problems.append(problem("FORM_MISSING", layout.full(FILE_NAME_OF_FORM[kind]), form=FILE_NAME_OF_FORM[kind],
                                    reason=_missing_reason(kind, book), folder=root_label))

    plan_usable = layout.plan is not None
    required = required_training_forms(layout.theory_mode, layout.practice_mode) if plan_usable else ()
    by_folder: dict[str, Training] = {}
    for t in layout.trainings:
        by_folder.setdefault(t.folder, t)
    trainings: list[TrainingForms] = []
    for name, folder in layout.folders.items():
        if not folder.is_training:
            continue
        training = folder.training or by_folder.get(folder.expected or "")
        book_file = layout.file_at(f"{name}/{WORKBOOK_FILE}")
        folder_book = (read_workbook(book_file.local_path, book_file.path, TRAINING_FORM_TYPES,
                                     layout.workbook_limits) if book_file is not None else None)
        if folder_book is not None:
            problems.extend(folder_book.problems)
        forms: dict[str, LoadedForm | None] = {}
        for kind in TRAINING_FORM_TYPES:
            relative = f"{name}/{FILE_NAME_OF_FORM[kind]}"
            forms[kind] = _one_form(kind, layout.file_at(relative), folder_book, _workbook_path(layout, name),
                                    problems)
            if forms[kind] is None and training is not None and kind in required:
                problems.append(problem("FORM_MISSING", layout.full(relative), form=FILE_NAME_OF_FORM[kind],
                                        reason=_missing_reason(kind, folder_book), folder=name))
        trainings.append(TrainingForms(folder=name, training=training, **forms))
    return FormSet(plan=plan, pledge=root["integrity_pledge"], trainers=root["trainers"],
                   trainings=tuple(trainings), problems=tuple(problems))
