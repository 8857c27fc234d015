"""The forms as an Excel workbook (spec section 9): the empty template clerks fill in
Excel or WPS, and the same workbook filled from JSON forms.

* :func:`write_template` — ``pipeline template``: the level-1 workbook (培训方案, 诚信承诺书,
  培训教师) or the level-2 one (理论培训大纲, 实操培训大纲, 签到表, 线上培训记录, 实操设备设施),
  with an instruction sheet 填写说明 first;
* :func:`write_workbook` / :func:`workbook_bytes` — ``pipeline forms to-xlsx`` and
  ``pipeline example --workbook``: the same sheets holding the values of JSON forms.

Nothing here lists a field: every label, header, kind and choice comes from
:func:`pipeline.check.sheets.sheet_model` (itself derived from the JSON Schemas), the
sheet names and workbook name from the contract, the instruction texts from the
schemas' ``description``\\ s. The layout is the one the reader (pipeline/check/workbook.py)
expects:

* row 1: the form's title, merged across the used columns;
* one row per field: the label in column A, the value in column B;
* an empty row, then per table: its title in column A (not for a one-column list of
  texts), the header row from column A, one row per entry (the sign-in sheet: one row
  per trainee, the session's 培训日期 and 培训地点 on every row of the session), an
  empty row.

Values: text as strings; dates as real Excel dates formatted ``yyyy-mm-dd``; integers
and numbers as numbers; booleans 是/否; closed choices as their Chinese label (线上/线下)
and several in one cell joined by ``、``; ID-number and phone cells are strings in cells
formatted as text (``@``), so Excel never turns an 18-digit number into 6.10116E+17; an
absent or null value is an empty cell. A value of the wrong type (JSON that breaks its
schema) is written as it is, so the reader sees what the JSON said.

The template adds, below each table's header, a block of empty rows formatted the same
way (text on ID/phone columns, dates on date columns, drop-down lists on closed choices,
是/否 on booleans); frozen panes under the header of a sheet's only table; column widths
from the labels, headers and contents; print settings (A4, fit to the page's width,
landscape for wide tables, the header row repeated on every page).

The bytes are deterministic: the document's dates and the ZIP entries' times are the
``stamp`` given (default 2026-01-01 09:00), so the example package stays the same byte
for byte.
"""

from __future__ import annotations

import io
import json
import math
import re
import unicodedata
import zipfile
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.check.contract import (ALL_FORM_TYPES, FILE_NAME_OF_FORM, ROOT_FORM_TYPES, SHEET_OF_FORM,
                                     TRAINING_FORM_TYPES, WORKBOOK_FILE)
from pipeline.check.forms import load_schema
from pipeline.check.sheets import (BOOLEAN, BOOLEAN_LABELS, CHOICE, CHOICE_LABELS, CHOICES, DATE, INSTRUCTIONS_SHEET,
                                   INTEGER, NUMBER, Cell, SheetModel, Table, sheet_model)

__all__ = ["LEVEL_FORMS", "INSTRUCTIONS_SHEET", "DATE_FORMAT", "TEXT_FORMAT", "template_rows", "write_template",
           "write_workbook", "workbook_bytes", "choice_list", "forms_of_level", "TEMPLATE_FOLDERS", "template_readme",
           "write_templates", "read_json_forms"]

#: the forms of each level's workbook, in sheet order
LEVEL_FORMS: dict[str, tuple[str, ...]] = {"1": ROOT_FORM_TYPES, "2": TRAINING_FORM_TYPES}
DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"
#: how several closed choices are written in one cell (线上、线下)
CHOICES_JOINER = "、"
#: empty formatted rows of a table in the template; tables of trainees are long
DEFAULT_TEMPLATE_ROWS = 50
_TEMPLATE_ROWS: dict[tuple[str, tuple[str, ...]], int] = {
    ("training_plan", ("trainings",)): 20,
    ("training_plan", ("textbooks",)): 10,
    ("sign_in", ("sessions",)): 300,
    ("online_record", ("outline",)): 30,
    ("online_record", ("trainees",)): 300,
}
#: a frozen header lower than this would take most of a laptop's screen
_MAX_FROZEN_ROWS = 12
#: a sheet whose columns are wider than this (characters) is printed landscape
_PORTRAIT_WIDTH = 95
_MAX_WIDTH = 50
_STAMP = datetime(2026, 1, 1, 9, 0, 0)

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_TITLE_FONT = Font(bold=True, size=16)
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_LABEL_FILL = PatternFill("solid", fgColor="F2F2F2")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_LEFT = Alignment(vertical="center", wrap_text=True)


def forms_of_level(level: str | Iterable[str]) -> tuple[str, ...]:
    """``"1"``/``"2"`` -> that level's form types; a list of form types -> itself, checked."""
    if isinstance(level, str):
        if level not in LEVEL_FORMS:
            raise ValueError(f"level must be 1 or 2, or a list of form types: {level!r}")
        return LEVEL_FORMS[level]
    kinds = tuple(level)
    unknown = [k for k in kinds if k not in FILE_NAME_OF_FORM]
    if unknown:
        raise ValueError(f"unknown form types: {unknown}")
    return kinds


def template_rows(kind: str, table: Table) -> int:
    """How many empty formatted rows the template gives a table."""
    return _TEMPLATE_ROWS.get((kind, table.path), DEFAULT_TEMPLATE_ROWS)


def choice_list(cell: Cell) -> tuple[str, ...]:
    """What the drop-down of a cell offers: its choices (是/否 for a boolean); for several
    choices in one cell, every non-empty combination in the schema's order
    (线上, 线下, 线上、线下)."""
    shown = cell.shown_choices
    if cell.kind != CHOICES:
        return shown
    return tuple(CHOICES_JOINER.join(combo) for n in range(1, len(shown) + 1) for combo in combinations(shown, n))


# ---------------------------------------------------------------------------------------
# values


def _display_width(text: str) -> int:
    """Columns a text takes on screen: CJK characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _cell_value(cell: Cell, value: Any) -> Any:
    """The cell's value for a JSON value (None: an empty cell)."""
    if value is None:
        return None
    kind = cell.kind
    if kind == DATE and isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value  # 2026-02-30 stays the text it was: the checks say what is wrong
    if kind in (INTEGER, NUMBER) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        return BOOLEAN_LABELS[value]
    if kind == CHOICE and isinstance(value, str):
        return CHOICE_LABELS.get(value, value)
    if kind == CHOICES and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return CHOICES_JOINER.join(CHOICE_LABELS.get(v, v) for v in value) or None
    if isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, ensure_ascii=False)  # an object or list where a value belongs


def _typical_width(cell: Cell) -> int:
    """How wide a column of this cell should be before anything is typed."""
    if cell.as_text:
        return 20 if cell.path[-1:] == ("id_number",) else 15
    if cell.kind == DATE:
        return 12
    if cell.kind in (CHOICE, CHOICES, BOOLEAN):
        return max(_display_width(c) for c in choice_list(cell)) + 3  # the drop-down's arrow
    if cell.kind in (INTEGER, NUMBER):
        return 8
    return 14


# ---------------------------------------------------------------------------------------
# one sheet


@dataclass
class _Sheet:
    """Writes one form's sheet; remembers widths and the ranges of each drop-down."""

    ws: Worksheet
    model: SheetModel
    widths: dict[int, int] = field(default_factory=dict)
    lists: dict[tuple[str, ...], list[str]] = field(default_factory=dict)  # choices -> ranges
    id_ranges: list[str] = field(default_factory=list)
    styles: dict[str | None, Any] = field(default_factory=dict)  # number format -> a value cell's style

    def fit(self, column: int, text_width: int) -> None:
        self.widths[column] = max(self.widths.get(column, 0), text_width)

    def put(self, row: int, column: int, cell: Cell, value: Any) -> None:
        target = self.ws.cell(row=row, column=column)
        content = _cell_value(cell, value)
        if isinstance(content, str) and ILLEGAL_CHARACTERS_RE.search(content):
            raise ValueError(f"{self.model.sheet}!{target.coordinate} “{cell.label}”: "
                             "the text holds control characters a workbook cannot store")
        target.value = content
        if isinstance(content, str) and content.startswith("="):
            target.data_type = "s"  # a text, never a formula
        number_format = TEXT_FORMAT if cell.as_text else DATE_FORMAT if cell.kind == DATE else None
        style = self.styles.get(number_format)
        if style is None:  # the first cell of its format: styled, and its style kept for the others
            if number_format:
                target.number_format = number_format
            target.border, target.alignment = _BORDER, _LEFT
            self.styles[number_format] = copy(target._style)
        else:  # as openpyxl's own copy_worksheet does: 10x faster than setting each style
            target._style = copy(style)
        if content is not None:
            shown = content.isoformat() if isinstance(content, date) else str(content)
            if 2 * len(shown) > self.widths.get(column, 0):  # else it cannot be wider than the column
                self.fit(column, min(_display_width(shown), _MAX_WIDTH))

    def mark(self, cell: Cell, ref: str) -> None:
        """Remember that ``ref`` (a cell or a column's range) holds values of ``cell``."""
        if cell.kind in (CHOICE, CHOICES, BOOLEAN):
            self.lists.setdefault(choice_list(cell), []).append(ref)
        if cell.as_text and cell.path[-1:] == ("id_number",):
            self.id_ranges.append(ref)

    def write(self, form: Mapping[str, Any] | None) -> None:
        """The sheet of ``form``, or (None) the empty template."""
        ws, model = self.ws, self.model
        columns = max([2] + [len(t.headers) for t in model.tables])
        ws.cell(row=1, column=1, value=model.title).font = _TITLE_FONT
        ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=columns)
        ws.row_dimensions[1].height = 30
        row = 1
        for cell in model.fields:
            row += 1
            label = ws.cell(row=row, column=1, value=cell.label)
            label.font, label.fill, label.border, label.alignment = _BOLD, _LABEL_FILL, _BORDER, _LEFT
            self.fit(1, _display_width(cell.label))
            self.put(row, 2, cell, _get(form, cell.path) if form is not None else None)
            self.fit(2, _typical_width(cell) if cell.kind != "text" or cell.as_text else 30)
            self.mark(cell, f"B{row}")
        headers: list[int] = []
        for table in model.tables:
            row += 2  # one empty row before each table
            if not table.plain:
                ws.cell(row=row, column=1, value=table.title).font = _BOLD
                self.fit(1, _display_width(table.title))
                row += 1
            headers.append(row)
            row = self._table(table, row, form)
        self._finish(columns, headers)

    def _table(self, table: Table, header_row: int, form: Mapping[str, Any] | None) -> int:
        """The header and rows of a table from ``header_row``; returns its last row."""
        cells = table.columns + (table.inner.columns if table.inner else ())
        for column, cell in enumerate(cells, start=1):
            head = self.ws.cell(row=header_row, column=column, value=cell.label)
            head.font, head.fill, head.border, head.alignment = _BOLD, _HEADER_FILL, _BORDER, _CENTER
            self.fit(column, max(_display_width(cell.label), _typical_width(cell)))
        rows = _rows(table, form) if form is not None else [[None] * len(cells)] * template_rows(
            self.model.kind, table)
        for offset, values in enumerate(rows, start=1):
            for column, (cell, value) in enumerate(zip(cells, values), start=1):
                self.put(header_row + offset, column, cell, value)
        last = header_row + len(rows)
        if rows:
            for column, cell in enumerate(cells, start=1):
                letter = get_column_letter(column)
                self.mark(cell, f"{letter}{header_row + 1}:{letter}{last}")
        return last

    def _finish(self, columns: int, headers: list[int]) -> None:
        ws = self.ws
        for choices, ranges in self.lists.items():
            rule = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                                  showErrorMessage=True, errorTitle="请从下拉列表中选择",
                                  error="只能填写：" + "、".join(f"“{c}”" for c in choices),
                                  sqref=" ".join(ranges))
            ws.add_data_validation(rule)
        if self.id_ranges:
            ws.add_data_validation(DataValidation(
                type="textLength", operator="equal", formula1="18", allow_blank=True, showErrorMessage=True,
                errorStyle="warning", errorTitle="身份证号应为 18 位", error="身份证号应为 18 位（末位可以是 X），请核对。",
                showInputMessage=True, promptTitle="身份证号", prompt="18 位身份证号，本列已设为文本格式，直接输入即可。",
                sqref=" ".join(self.id_ranges)))
        total = 0
        for column in range(1, columns + 1):
            width = min(self.widths.get(column, 8), _MAX_WIDTH) + 2
            ws.column_dimensions[get_column_letter(column)].width = width
            total += width
        if len(self.model.tables) == 1 and headers[0] < _MAX_FROZEN_ROWS:
            ws.freeze_panes = f"A{headers[0] + 1}"
            ws.print_title_rows = f"{headers[0]}:{headers[0]}"
        _print_setup(ws, landscape=total > _PORTRAIT_WIDTH)


def _rows(table: Table, form: Mapping[str, Any]) -> list[list[Any]]:
    """The table's rows for a form: one per entry, or (a flattened table) one per inner
    entry with the outer entry's values repeated; an outer entry with no inner entries
    still gets its row."""
    entries = _get(form, table.path)
    if not isinstance(entries, list):
        return []
    rows: list[list[Any]] = []
    for entry in entries:
        own = [_get(entry, c.path) if c.path else entry for c in table.columns]
        if table.inner is None:
            rows.append(own)
            continue
        inner = _get(entry, table.inner.path)
        subs = inner if isinstance(inner, list) and inner else [None]
        for sub in subs:
            rows.append(own + [_get(sub, c.path) if sub is not None else None for c in table.inner.columns])
    return rows


def _print_setup(ws: Worksheet, landscape: bool) -> None:
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as it takes
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


# ---------------------------------------------------------------------------------------
# the instruction sheet (填写说明)

_GENERAL = (
    "本工作簿是上报包中一个文件夹的表单，文件名必须是“{workbook}”，放在对应的文件夹中："
    "机构文件夹（一级，“机构名称+上报日期”）中的“{workbook}”含 {root} 三张工作表；"
    "每个培训文件夹（二级，“职业（工种）+等级”）中的“{workbook}”含 {training} 五张工作表。",
    "不要修改工作表的名称、表格标题、表头和左侧标签的文字；可以插入行和列、调整列宽。",
    "单项内容（如“培训单位名称”）填在标签右边的格子里；表格从表头下面第一行起逐行填写，"
    "每行一条，中间不要留空行。",
    "日期填写为 2026-11-20 这样的格式（2026/11/20、2026年11月20日 也可以）；日期格子已设为日期格式。",
    "身份证号和电话所在的格子已设为“文本”格式，直接输入完整号码。从别处复制时请用“选择性粘贴 → 值”，"
    "不要把号码粘贴成数字，否则 18 位身份证号会变成 6.10116E+17 这样的形式并丢失最后几位。",
    "带下拉箭头的格子（等级、性别、线上/线下、是/否）请从下拉列表中选择。",
    "选填的项目可以空着；必填的项目不能空着。本培训不需要的表（例如只有线下培训时的“线上培训记录”），"
    "请删除该工作表（右键点工作表标签 → 删除）。",
    "同一文件夹中不要再放同名的 .json 表单。保存时选择“Excel 工作簿（*.xlsx）”格式；"
    "WPS 请另存为 .xlsx，不要存为 .et 或 .xls。",
)

_KIND_HINTS = {
    DATE: "填写日期，如 2026-11-20。",
    INTEGER: "填写整数。",
    NUMBER: "填写数字，可以有小数（如 4.5）。",
    BOOLEAN: "从下拉列表选择“是”或“否”。",
}


def _plain(text: str) -> str:
    """A schema description in words for the clerk filling the sheet: no file names,
    JSON values or rule names."""
    text = re.sub(r"^\S+?\.json：", "", text)
    text = re.sub(r"，?由表单间规则 [A-Z_]+ 检查", "", text)
    text = re.sub(r"（表单间规则[^（）]*）", "", text)
    text = re.sub(r"（(?:online|offline)）", "", text)
    text = text.replace("true 或 false", "“是”或“否”").replace("为 true", "为“是”")
    text = text.replace("可省略、填 null 或空字符串", "可以空着").replace("填空列表 []", "空着")
    for kind, name in FILE_NAME_OF_FORM.items():
        text = text.replace(f"{name} ", name).replace(name, f"“{SHEET_OF_FORM[kind]}”表")
    return text


def _resolve(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """``node`` merged over what its local ``$ref`` points to (its own keys win)."""
    defs = load_schema(kind).get("$defs", {})
    for _ in range(16):
        if "$ref" not in node:
            break
        target = defs.get(node["$ref"].removeprefix("#/$defs/"), {})
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _node(kind: str, path: Sequence[str]) -> dict[str, Any]:
    """The schema node at ``path`` (through lists: a list's entries' properties)."""
    node = _resolve(kind, load_schema(kind))
    for key in path:
        if "items" in node:
            node = _resolve(kind, node["items"])
        node = _resolve(kind, node.get("properties", {}).get(key, {}))
    return node


def _help(kind: str, path: tuple[str, ...], cell: Cell) -> str:
    """What the instruction sheet says of one field or column."""
    parts: list[str] = []
    if len(path) > 1:  # a part of an object shown as prefixed columns (培训老师姓名): the object's words first
        owner = _node(kind, path[:-1])
        if owner.get("x-flatten") == "prefix" and owner.get("description"):
            parts.append(_plain(owner["description"]))
    description = _node(kind, path).get("description", "")
    if description and not cell.as_text:
        parts.append(_plain(description))
    if cell.as_text:
        parts.append("18 位身份证号（末位可以是 X）；本列已设为文本格式，直接输入即可。"
                     if path[-1] == "id_number" else
                     (_plain(description) + "格子已设为文本格式。"))
    elif cell.kind in (CHOICE, CHOICES):
        options = "、".join(cell.shown_choices)
        more = f"；两者都有时选“{CHOICES_JOINER.join(cell.shown_choices)}”" if cell.kind == CHOICES else ""
        parts.append(f"从下拉列表选择：{options}{more}。")
    elif cell.kind in _KIND_HINTS:
        parts.append(_KIND_HINTS[cell.kind])
    return "".join(parts)


def _write_instructions(ws: Worksheet, kinds: Sequence[str]) -> None:
    ws.cell(row=1, column=1, value=INSTRUCTIONS_SHEET).font = _TITLE_FONT
    ws.merge_cells("A1:C1")
    widths = (24, 8, 72)
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width
    row = 1

    def paragraph(text: str, font: Font | None = None, fill: PatternFill | None = None) -> None:
        nonlocal row
        row += 1
        target = ws.cell(row=row, column=1, value=text)
        target.alignment = Alignment(vertical="top", wrap_text=True)
        if font:
            target.font = font
        if fill:
            target.fill = fill
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
        ws.row_dimensions[row].height = 16 * math.ceil(_display_width(text) / (sum(widths) - 4))

    def item(name: str, needed: str, text: str) -> None:
        nonlocal row
        row += 1
        for column, value in enumerate((name, needed, text), start=1):
            target = ws.cell(row=row, column=column, value=value)
            target.border, target.alignment = _BORDER, Alignment(vertical="top", wrap_text=True)
        ws.row_dimensions[row].height = 16 * max(1, math.ceil(_display_width(text) / (widths[2] - 2)),
                                                 math.ceil(_display_width(name) / (widths[0] - 2)))

    names = {level: "、".join(f"“{SHEET_OF_FORM[k]}”" for k in LEVEL_FORMS[level]) for level in LEVEL_FORMS}
    for n, text in enumerate(_GENERAL, start=1):
        paragraph(f"{n}. " + text.format(workbook=WORKBOOK_FILE, root=names["1"], training=names["2"]))
    for kind in kinds:
        model = sheet_model(kind)
        row += 1
        paragraph(f"工作表“{model.sheet}”：{model.title}", _BOLD, _HEADER_FILL)
        paragraph(_plain(load_schema(kind).get("description", "")))
        item("项目", "必填", "怎么填")
        for c in range(1, 4):
            ws.cell(row=row, column=c).font = _BOLD
        for cell in model.fields:
            item(cell.label, "必填" if cell.required else "选填", _help(kind, cell.path, cell))
        for table in model.tables:
            words = _plain(_node(kind, table.path).get("description", ""))
            if table.inner:
                words += _plain(_node(kind, table.path + table.inner.path).get("description", ""))
                words += "同一次课的每名学员各占一行，每行都写上该次课的培训日期和培训地点。"
            shown = "、".join(f"“{h}”" for h in table.headers)
            paragraph(f"表格“{table.title}”（表头：{shown}）：{words}", _BOLD)
            for cell in table.columns:
                item(cell.label, "必填" if cell.required else "选填",
                     _help(kind, table.path + cell.path, cell) if cell.path else words)
            for cell in table.inner.columns if table.inner else ():
                item(cell.label, "必填" if cell.required else "选填",
                     _help(kind, table.path + table.inner.path + cell.path, cell))
    _print_setup(ws, landscape=False)


# ---------------------------------------------------------------------------------------
# workbooks


def _build(kinds: Sequence[str], forms: Mapping[str, Any] | None, instructions: bool) -> Workbook:
    workbook = Workbook()
    first: Worksheet = workbook.active  # type: ignore[assignment]
    if instructions:
        first.title = INSTRUCTIONS_SHEET
        _write_instructions(first, kinds)
    else:
        workbook.remove(first)
    for kind in kinds:
        ws = workbook.create_sheet(SHEET_OF_FORM[kind])
        _Sheet(ws, sheet_model(kind)).write(None if forms is None else forms[kind])
    workbook.active = 0
    return workbook


def _bytes(workbook: Workbook, stamp: datetime | None) -> bytes:
    """The saved workbook, its dates and ZIP entry times ``stamp``: the same bytes each time."""
    when = stamp or _STAMP
    properties = workbook.properties
    properties.creator = "pipeline"
    raw = io.BytesIO()
    workbook.save(raw)  # sets the modified date to now: written again below
    properties.created = properties.modified = when
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o100644 << 16
            data = tostring(properties.to_tree()) if info.filename == ARC_CORE else src.read(info)
            dst.writestr(entry, data)
    return out.getvalue()


def _kinds_of(forms: Mapping[str, Any]) -> tuple[str, ...]:
    unknown = [k for k in forms if k not in FILE_NAME_OF_FORM]
    if unknown:
        raise ValueError(f"unknown form types: {unknown}")
    return tuple(k for k in ALL_FORM_TYPES if k in forms)


def workbook_bytes(forms: Mapping[str, Any], *, instructions: bool = True, stamp: datetime | None = None) -> bytes:
    """The workbook holding ``forms`` ({form type: the form's JSON value}), one sheet per
    form in the contract's order, after the instruction sheet. Raises ValueError for an
    unknown form type or a text a workbook cannot hold (control characters)."""
    kinds = _kinds_of(forms)
    return _bytes(_build(kinds, forms, instructions), stamp)


def write_workbook(path: Path | str, forms: Mapping[str, Any], *, instructions: bool = True,
                   stamp: datetime | None = None) -> Path:
    """Write :func:`workbook_bytes` of ``forms`` to ``path``; returns the path."""
    target = Path(path)
    target.write_bytes(workbook_bytes(forms, instructions=instructions, stamp=stamp))
    return target


def write_template(path: Path | str, level: str | Iterable[str], *, stamp: datetime | None = None) -> Path:
    """Write the empty workbook of ``level`` ("1": the institution folder's forms, "2": a
    training folder's, or a list of form types) to ``path``; returns the path."""
    kinds = forms_of_level(level)
    target = Path(path)
    target.write_bytes(_bytes(_build(kinds, None, True), stamp))
    return target


# ---------------------------------------------------------------------------------------
# what the commands write and read

#: where ``pipeline template DIR`` puts each level's workbook (below DIR)
TEMPLATE_FOLDERS: dict[str, str] = {"1": "机构文件夹", "2": "培训文件夹"}
TEMPLATE_README = "README.txt"


def template_readme() -> str:
    """The Chinese guide ``pipeline template`` writes beside the two workbooks."""
    root, training = TEMPLATE_FOLDERS["1"], TEMPLATE_FOLDERS["2"]
    sheets = {level: "、".join(SHEET_OF_FORM[k] for k in LEVEL_FORMS[level]) for level in LEVEL_FORMS}
    return f"""职业技能培训上报包 —— 表单模板（Excel / WPS）
==========================================

本目录由 `pipeline template` 生成，有两个空白表单工作簿：
  {root}/{WORKBOOK_FILE}：机构一级文件夹的表单，含 {sheets["1"]} 三张表
  {training}/{WORKBOOK_FILE}：每个培训（职业+等级）文件夹的表单，含 {sheets["2"]} 五张表

怎么用：
1. 把 {root}/{WORKBOOK_FILE} 复制到上报包的一级文件夹“机构名称+上报日期”（如“新城区星火职业培训学校20261120”）中，
   文件名保持“{WORKBOOK_FILE}”。
2. 把 {training}/{WORKBOOK_FILE} 复制到每个二级文件夹“职业（工种）+等级”（如“育婴师初级”）中，每个培训一份，
   文件名同样保持“{WORKBOOK_FILE}”。
3. 用 Excel 或 WPS 打开填写。每个工作簿的第一张表“{INSTRUCTIONS_SHEET}”逐项说明每张表怎么填：
   不要改工作表名称、表头和标签文字；日期写成 2026-11-20；身份证号、电话的格子已设为文本格式；
   带下拉箭头的格子从列表中选择；本培训不需要的表（如只有线下培训时的“线上培训记录”）请删除该工作表。
4. 保存为 .xlsx 格式（WPS 不要存为 .et 或 .xls）。已经用工作簿填写的表单，不要再放同名的 .json 文件。
5. 放好照片、视频后压缩一级文件夹，上传前用 `pipeline check 压缩包.zip` 检查。

完整的示例（含填好的表单）可用 `pipeline example 目录 --workbook` 生成。
"""


def write_templates(target_dir: Path | str, *, stamp: datetime | None = None) -> list[Path]:
    """``pipeline template DIR``: the level-1 and level-2 workbooks in their folders below
    ``target_dir`` and the README beside them. Never overwrites: if any of them exists,
    :class:`FileExistsError` is raised and nothing is written."""
    target = Path(target_dir)
    paths = [target / TEMPLATE_FOLDERS[level] / WORKBOOK_FILE for level in LEVEL_FORMS] + [target / TEMPLATE_README]
    for existing in paths:
        if existing.exists():
            raise FileExistsError(f"{existing} already exists")
    for level, path in zip(LEVEL_FORMS, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_template(path, level, stamp=stamp)
    paths[-1].write_text(template_readme(), encoding="utf-8-sig", newline="\r\n")  # Notepad shows it right
    return paths


def read_json_forms(folder: Path | str) -> dict[str, Any]:
    """The JSON forms present in ``folder`` under the contract's file names, {form type:
    value}, in the contract's order (a BOM is tolerated). Raises ValueError naming the
    file that is not UTF-8 JSON."""
    forms: dict[str, Any] = {}
    for kind, name in FILE_NAME_OF_FORM.items():
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            forms[kind] = json.loads(path.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not UTF-8 JSON ({exc})") from exc
    return forms
