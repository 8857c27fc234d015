"""Reading the forms of a ``表单.xlsx`` workbook (spec section 9): each sheet to the form's
JSON, with the cell of every value, so that every problem the schemas and rules find can
name its sheet and cell.

The sheets are read as :mod:`pipeline.check.sheets` lays them out, **by labels and header
names**, never by fixed cells: inserted rows and columns, hidden columns, reordered sheets,
trailing empty rows, merged label cells and stray spaces or full-width characters in
labels do not matter. Values are taken as the clerk meant them: Excel dates and text dates
(``2026-11-20``, ``2026/11/20``, ``2026年11月20日``), whole numbers, 是/否 and √/×, the Chinese
choices. What cannot be taken stays as written, so the schema reports it at its cell —
never a guess: an 18-digit ID that Excel stored as a number (``6.10116E+17``) has lost its
last digits and is reported as such (``FORM_ID_NUMBER``, fault ``excel_number``), with no
digit made up.

A workbook is a ZIP of XML, so before openpyxl (read-only, streaming; XML through
defusedxml: no entity expansion, no external entities) opens it, its directory is held to
limits (entries, sizes, ratios) and refused (``FORM_WORKBOOK``) when it is no ``.xlsx`` (an
``.xls``/``.et`` or an encrypted file renamed: an OLE compound file), holds macros or
external links, has formulas without stored values, or more rows or cells than allowed.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterable

from pipeline.check.catalogue import Problem, problem
from pipeline.check.contract import KIND_OF_SHEET, SHEET_OF_FORM
from pipeline.check.policy import WorkbookLimits, load_policy
from pipeline.check.sheets import (BOOLEAN, CHOICE, CHOICE_LABELS, CHOICES, DATE, INSTRUCTIONS_SHEET, INTEGER, NUMBER,
                                   TEXT, Cell, SheetModel, Table, sheet_model)

__all__ = ["SheetForm", "WorkbookRead", "read_workbook", "normalise_label", "VERSION_OF_FORMS",
           "convert_value", "sheet_rows"]

#: the version the schemas know (the sheet does not carry it)
VERSION_OF_FORMS = 1

#: the ZIP signature, and an OLE compound file's (.xls, .et, or an encrypted .xlsx)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class SheetForm:
    """One form as read from its sheet."""

    kind: str
    sheet: str
    value: dict[str, Any]
    #: JSON pointer -> cell (``D7``) of the labelled fields and of every list (its header's
    #: first cell); "" -> the title's cell
    cells: dict[str, str] = field(default_factory=dict)
    #: pointers whose problem the reader reported itself (no second one from the rules)
    reported: set[str] = field(default_factory=set)
    #: a table's entries: entry pointer -> (its row, its table's number); the cell of a value
    #: is its row and its column (kept per table, not per value: a sign-in sheet has
    #: hundreds of thousands of values)
    entry_rows: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: per table number: the pointer suffix of every column ("/id_number", "/teacher/name",
    #: and "/teacher" for the object) -> its column letter; "" -> the first column's
    table_columns: list[dict[str, str]] = field(default_factory=list)

    def cell_of(self, pointer: str) -> str:
        """The cell of ``pointer``: a field's, a table value's (its row, its column; a blank
        value's too, where it belongs), or else its nearest ancestor's."""
        at = pointer
        while at:
            if at in self.cells:
                return self.cells[at]
            if at in self.entry_rows:
                row, table = self.entry_rows[at]
                columns = self.table_columns[table]
                suffix = pointer[len(at):]
                while suffix and suffix not in columns:
                    suffix = suffix.rsplit("/", 1)[0]
                return f"{columns.get(suffix, columns[''])}{row}"
            at = at.rsplit("/", 1)[0]
        return self.cells.get("", "A1")


@dataclass
class WorkbookRead:
    forms: dict[str, SheetForm] = field(default_factory=dict)  # by form type
    problems: list[Problem] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)
    empty_sheets: list[str] = field(default_factory=list)  # form sheets nothing was typed in


_SPACES = re.compile(r"\s+")


def normalise_label(text: Any) -> str:
    """A label or header as compared: NFKC (full-width to half-width), no whitespace, no
    trailing colon or required-marker star."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    s = _SPACES.sub("", s)
    return s.strip("*：:")


# ---------------------------------------------------------------------------------------
# the ZIP and the XML before openpyxl


def _refusal(path: str, fault: str, detail: str) -> Problem:
    return problem("FORM_WORKBOOK", path, name=path.rsplit("/", 1)[-1], detail=detail, fault=fault)


def _vet(file: Path, shown: str, limits: WorkbookLimits) -> Problem | None:
    """FORM_WORKBOOK for a file that must not be opened, else None."""
    with open(file, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_OLE_MAGIC):
        return _refusal(shown, "not_xlsx", "它不是 .xlsx 格式（可能是 .xls、WPS 的 .et，或设置了打开密码的工作簿）")
    if not head.startswith(_ZIP_MAGIC):
        return _refusal(shown, "not_xlsx", "它不是 .xlsx 格式的工作簿")
    try:
        with zipfile.ZipFile(file) as zf:
            infos = zf.infolist()
            names = {i.filename.lower() for i in infos}
            if len(infos) > limits.max_entries:
                return _refusal(shown, "limit", f"工作簿内部有 {len(infos)} 个部件，超过上限 {limits.max_entries} 个")
            total = sum(i.file_size for i in infos)
            if total > limits.max_total_bytes:
                return _refusal(shown, "limit", f"工作簿解压后 {total // (1024 * 1024)} MB，超过上限 "
                                                f"{limits.max_total_bytes // (1024 * 1024)} MB")
            for i in infos:
                if i.file_size > limits.ratio_floor_bytes and i.file_size > limits.max_ratio * max(i.compress_size, 1):
                    return _refusal(shown, "limit", "工作簿内部有压缩比异常的部件（疑似压缩炸弹）")
            if "xl/workbook.xml" not in names:
                return _refusal(shown, "not_xlsx", "它不是 .xlsx 格式的工作簿（缺少工作簿部件）")
            if any(n.endswith("vbaproject.bin") for n in names):
                return _refusal(shown, "macro", "工作簿中含有宏")
            if any(n.startswith("xl/externallinks/") for n in names):
                return _refusal(shown, "external_link", "工作簿中含有指向其他文件的外部链接")
            for info in infos:  # no DTD anywhere: entity expansion and external entities refused
                if info.filename.lower().endswith((".xml", ".rels")) and _declares_dtd(zf, info.filename):
                    return _refusal(shown, "not_xlsx", "工作簿的内部文件含有不允许的 XML 声明（DOCTYPE）")
            sheets = [i for i in infos if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")]
            for info in sheets:
                found = _scan_sheet_xml(zf, info.filename, limits)
                if found:
                    return _refusal(shown, *found)
    except Exception as exc:  # zipfile raises many kinds for a damaged or odd ZIP (BadZipFile,
        # zlib.error, NotImplementedError for strong encryption or a future version, RuntimeError
        # for a password): whatever it is, the workbook cannot be read, and that is the package's
        return _refusal(shown, "not_xlsx", f"工作簿已损坏，无法打开（{type(exc).__name__}）")
    return None


def _declares_dtd(zf: zipfile.ZipFile, name: str) -> bool:
    """A DOCTYPE (entities live there) before the root element of an XML part. Excel, WPS
    and LibreOffice write none; defusedxml refuses them too, this says so before parsing."""
    with zf.open(name) as fh:
        head = fh.read(4096)
    return b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper()


#: a cell holding a formula and no stored value (none, or an empty <v/>): a program wrote the
#: formula and nothing ever calculated it
_FORMULA_WITHOUT_VALUE = re.compile(
    rb"<(?:\w+:)?c\b[^>]*>\s*<(?:\w+:)?f\b[^>]*(?:/>|>[^<]*</(?:\w+:)?f>)\s*"
    rb"(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*</(?:\w+:)?c>")
_ROW = re.compile(rb"<(?:\w+:)?row\b")
_CELL = re.compile(rb"<(?:\w+:)?c\b")


def _scan_sheet_xml(zf: zipfile.ZipFile, name: str, limits: WorkbookLimits) -> tuple[str, str] | None:
    """(fault, detail) when a sheet's XML has a formula without a stored value or more rows
    or cells than allowed. Streams the XML in chunks (a pattern across a chunk boundary is
    found in the overlap)."""
    rows = cells = 0
    tail = b""
    with zf.open(name) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            data = tail + chunk
            rows += len(_ROW.findall(chunk))
            cells += len(_CELL.findall(chunk))
            if _FORMULA_WITHOUT_VALUE.search(data):
                return "formula", "工作簿中有公式没有保存计算结果（如从其他程序导出、未经 Excel 计算）"
            if rows > limits.max_rows:
                return "limit", f"一张工作表超过 {limits.max_rows} 行"
            if cells > limits.max_cells:
                return "limit", f"工作表的单元格超过 {limits.max_cells} 个"
            tail = data[-4096:]
    return None


# ---------------------------------------------------------------------------------------
# values


_TEXT_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
_TRUE = {"是", "√", "✓", "✔", "true", "yes", "y", "1", "对", "已签到", "已签"}
_FALSE = {"否", "×", "✗", "✘", "x", "false", "no", "n", "0", "未签到", "未签"}
_CHOICE_OF_LABEL = {label: value for value, label in CHOICE_LABELS.items()}
_SPLIT_CHOICES = re.compile(r"[、,，;；/／\s]+")
#: a number this large in an ID column was an 18-digit ID typed into a General cell:
#: Excel keeps 15 significant digits, the rest is lost
_LOST_DIGITS_FROM = 1e15


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def convert_value(cell: Cell, value: Any) -> tuple[Any, str | None]:
    """(JSON value, None) or (the value as written, the fault: ``excel_number``) of one
    non-empty cell."""
    if isinstance(value, str):
        value = value.strip()
    kind = cell.kind
    if kind == DATE:
        if isinstance(value, datetime):
            return value.date().isoformat(), None
        if isinstance(value, date):
            return value.isoformat(), None
        if isinstance(value, str):
            m = _TEXT_DATE.match(unicodedata.normalize("NFKC", value))
            if m:
                try:
                    return date(int(m[1]), int(m[2]), int(m[3])).isoformat(), None
                except ValueError:
                    return value, None  # 2026-02-30: the schema says it is no real date
        return _plain(value), None
    if kind in (INTEGER, NUMBER):
        if isinstance(value, bool):
            return value, None
        if isinstance(value, (int, float)):
            return (int(value) if float(value).is_integer() else value), None
        if isinstance(value, str):
            text = unicodedata.normalize("NFKC", value).replace(",", "")
            try:
                number = float(text)
            except ValueError:
                return value, None
            return (int(number) if number.is_integer() else number), None
        return _plain(value), None
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value, None
        key = unicodedata.normalize("NFKC", str(value)).strip().lower()
        if key in _TRUE:
            return True, None
        if key in _FALSE:
            return False, None
        return _plain(value), None
    if kind == CHOICE:
        text = unicodedata.normalize("NFKC", str(_plain(value))).strip()
        return _CHOICE_OF_LABEL.get(text, text), None
    if kind == CHOICES:
        parts = [p for p in _SPLIT_CHOICES.split(unicodedata.normalize("NFKC", str(_plain(value)))) if p]
        return [_CHOICE_OF_LABEL.get(p, p) for p in parts], None
    # TEXT
    if isinstance(value, bool):
        return ("是" if value else "否"), None
    if isinstance(value, (int, float)):
        if cell.as_text and abs(value) >= _LOST_DIGITS_FROM:
            return _number_text(value), "excel_number"
        return _number_text(value), None
    if isinstance(value, (datetime, date)):
        return (value.date() if isinstance(value, datetime) else value).isoformat(), None
    if isinstance(value, time):
        return value.isoformat(), None
    return str(value), None


def _plain(value: Any) -> Any:
    """A cell value as JSON can hold it (what the schema will judge)."""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _pointer(*parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# ---------------------------------------------------------------------------------------
# one sheet


@dataclass
class _Row:
    number: int  # 1-based
    by_column: dict[int, Any]  # column index (1-based) -> value, non-empty cells only

    @property
    def first(self) -> tuple[int, Any]:
        col = min(self.by_column)
        return col, self.by_column[col]

    def coordinate(self, col: int) -> str:
        return f"{_column_name(col)}{self.number}"


def sheet_rows(ws: Any) -> list[_Row]:
    """The rows of a worksheet holding anything, as column -> value (streaming read)."""
    out: list[_Row] = []
    for row in ws.iter_rows():
        by_column = {c.column: c.value for c in row if getattr(c, "column", None) and not _is_empty(c.value)}
        if by_column:  # the row's number from a real cell (a read-only row begins with empty ones)
            out.append(_Row(next(c.row for c in row if getattr(c, "row", None)), by_column))
    return out


class _SheetReader:
    def __init__(self, model: SheetModel, rows: list[_Row], path: str) -> None:
        self.model = model
        self.rows = rows
        self.path = path  # the workbook's path in the package, for problems
        self.form = SheetForm(model.kind, model.sheet, {"form": model.kind, "version": VERSION_OF_FORMS})
        self.problems: list[Problem] = []
        self.values_read = 0  # none: the sheet was left as the template had it
        self.form.cells[""] = rows[0].coordinate(rows[0].first[0]) if rows else "A1"

    def read(self) -> tuple[SheetForm | None, list[Problem]]:
        """The form and the problems found reading it; no form for a sheet where nothing
        was typed (a template sheet left untouched is an absent form, not one full of
        empty fields)."""
        form, problems = self._read()
        return (form if self.values_read else None), problems

    def _read(self) -> tuple[SheetForm, list[Problem]]:
        headers = self._find_headers()
        inside: set[int] = set()
        ordered = sorted(headers.items(), key=lambda item: item[1][0])
        for n, (table, (start, columns)) in enumerate(ordered):
            end = ordered[n + 1][1][0] - 1 if n + 1 < len(ordered) else len(self.rows)
            # a table's rows end where the next table's title (or header) row is
            end = min([end] + [i for i in range(start + 1, end) if self._is_title_row(i)])
            inside.update(range(start, end))
            self._read_table(table, start, end, columns)
        self._read_fields(inside)
        return self.form, self.problems

    # -- where things are --------------------------------------------------------------
    def _texts(self, index: int) -> list[str]:
        return [normalise_label(v) for v in self.rows[index].by_column.values()]

    def _is_title_row(self, index: int) -> bool:
        first = normalise_label(self.rows[index].first[1])
        titles = {normalise_label(t.title) for t in self.model.tables if not t.plain}
        return first in titles and len(self.rows[index].by_column) == 1

    def _find_headers(self) -> dict[Table, tuple[int, dict[int, Cell]]]:
        """Each table's header row (index into the rows) and its columns by column index:
        the row holding all of the table's required headers (most of them for a short
        table), the nearest one under the table's title row when several tables share
        headers (the equipment and the consumables)."""
        found: dict[Table, tuple[int, dict[int, Cell]]] = {}
        for table in self.model.tables:
            cells = list(table.columns) + (list(table.inner.columns) if table.inner else [])
            wanted = {normalise_label(c.label): c for c in cells}
            needed = {normalise_label(c.label) for c in cells if c.required} or set(wanted)
            title = normalise_label(table.title)
            candidates = []
            for i, row in enumerate(self.rows):
                texts = {normalise_label(v): col for col, v in row.by_column.items()}
                if needed <= set(texts):
                    columns = {texts[name]: cell for name, cell in wanted.items() if name in texts}
                    after_title = table.plain or any(normalise_label(self.rows[j].first[1]) == title
                                                     for j in range(max(0, i - 2), i))
                    candidates.append((not after_title, i, columns))
            taken = {start for start, _ in found.values()}
            for _, i, columns in sorted(candidates, key=lambda c: (c[0], c[1])):
                if i not in taken:
                    found[table] = (i, columns)
                    break
        return found

    # -- values ------------------------------------------------------------------------
    def _value(self, cell: Cell, coordinate: str, raw: Any, pointer: str, field_cell: bool = False) -> Any:
        """The JSON value of one non-empty cell; ``field_cell``: a labelled field's, whose
        place is remembered here (a table value's place is its row and column)."""
        self.values_read += 1
        value, fault = convert_value(cell, raw)
        if field_cell:
            self.form.cells[pointer] = coordinate
            parent = pointer
            for _ in cell.path[1:]:  # a nested object's value names the object too
                parent = parent.rsplit("/", 1)[0]
                self.form.cells.setdefault(parent, coordinate)
        if fault == "excel_number":
            self.form.reported.add(pointer)
            row = re.sub(r"[A-Z]+", "", coordinate)
            self.problems.append(problem(
                "FORM_ID_NUMBER", self.path, pointer=pointer, form=self.model.sheet,
                location=f"第 {row} 行“{cell.label}”",
                id_number=f"{float(raw):.5E}", reason="在 Excel 中被存成了数字，最后几位已经丢失，无法还原",
                fault="excel_number", sheet=self.model.sheet, cell=coordinate))  # the sheet as modelled
        return value

    def _read_fields(self, inside: set[int]) -> None:
        labels = {normalise_label(c.label): c for c in self.model.fields}
        for i, row in enumerate(self.rows):
            if i in inside:
                continue
            columns = sorted(row.by_column)
            used: set[int] = set()  # value cells of this row: never labels themselves
            for n, col in enumerate(columns):
                text = row.by_column[col]
                cell = labels.get(normalise_label(text))
                if col in used or cell is None or _pointer(*cell.path) in self.form.cells:
                    continue
                pointer = _pointer(*cell.path)
                # the value: the cell right of the label, whatever it holds (a value may read
                # like a label); else, for a label merged over two cells, the next one that
                # is no label
                right = ([col + 1] if col + 1 in row.by_column else
                         [c for c in columns[n + 1:] if normalise_label(row.by_column[c]) not in labels])
                if not right:  # an empty value: its place is the cell right of the label
                    self.form.cells[pointer] = f"{_column_name(col + 1)}{row.number}"
                if right:
                    used.add(right[0])
                    value_coordinate, raw = row.coordinate(right[0]), row.by_column[right[0]]
                    _put(self.form.value, cell.path, self._value(cell, value_coordinate, raw, pointer, field_cell=True))
                elif _blank_is_empty_text(cell):
                    _put(self.form.value, cell.path, "")

    def _table_columns(self, plan: list[tuple[int, Cell, bool, str, str]]) -> int:
        """Register a table's columns (pointer suffix -> letter, objects by their first
        column, "" -> the first column); returns the table's number."""
        columns: dict[str, str] = {"": plan[0][4]} if plan else {"": "A"}
        for _, cell, _, suffix, letter in plan:
            columns.setdefault(suffix, letter)
            for depth in range(1, len(cell.path)):
                columns.setdefault(_pointer(*cell.path[:depth]), letter)
        self.form.table_columns.append(columns)
        return len(self.form.table_columns) - 1

    def _read_table(self, table: Table, start: int, end: int, columns: dict[int, Cell]) -> None:
        header = self.rows[start]
        self.form.cells[_pointer(*table.path)] = header.coordinate(header.first[0])
        inner_ids = {id(c) for c in table.inner.columns} if table.inner else set()
        # per column: its cell, whether it belongs to the outer entry, its pointer suffix
        # and letter (computed once: a sign-in sheet has tens of thousands of rows)
        plan = [(col, cell, id(cell) not in inner_ids, _pointer(*cell.path), _column_name(col))
                for col, cell in sorted(columns.items())]
        outer_plan = [p for p in plan if p[2]]
        inner_plan = [p for p in plan if not p[2]]
        outer_table = self._table_columns(outer_plan)
        inner_table = self._table_columns(inner_plan) if table.inner else outer_table
        rows = self.form.entry_rows
        list_pointer = _pointer(*table.path)
        inner_key = table.inner.path[-1] if table.inner else ""
        entries: list[Any] = []
        for i in range(start + 1, end):
            row = self.rows[i]
            by_column = row.by_column
            if not any(col in by_column for col, *_ in plan):
                continue
            if table.plain:
                col = plan[0][0]
                if col in by_column:
                    pointer = f"{list_pointer}/{len(entries)}"
                    rows[pointer] = (row.number, outer_table)
                    entries.append(self._value(plan[0][1], row.coordinate(col), by_column[col], pointer))
                continue
            outer_here = [p for p in outer_plan if p[0] in by_column]
            starts_entry = table.inner is None or not entries or bool(outer_here)
            if starts_entry and table.inner is not None and entries and outer_here:
                # the same outer values as the entry above: the same session, continued
                previous = entries[-1]
                starts_entry = not all(convert_value(p[1], by_column[p[0]])[0] == _get(previous, p[1].path)
                                       for p in outer_here)
            if starts_entry:
                base = f"{list_pointer}/{len(entries)}"
                rows[base] = (row.number, outer_table)
                entry = self._entry(row, outer_plan, base)
                entries.append(entry)
                if table.inner is not None:
                    entry[inner_key] = []
            if table.inner is not None:
                items = entries[-1][inner_key]
                base = f"{list_pointer}/{len(entries) - 1}/{inner_key}/{len(items)}"
                rows[base] = (row.number, inner_table)
                items.append(self._entry(row, inner_plan, base))
        _put(self.form.value, table.path, entries)

    def _entry(self, row: _Row, plan: list[tuple[int, Cell, bool, str, str]], base: str) -> dict[str, Any]:
        """One entry of a table from its row's cells of ``plan``'s columns; a blank optional
        text is "" (a blank cell on the paper form)."""
        entry: dict[str, Any] = {}
        for col, cell, _, suffix, letter in plan:
            if col in row.by_column:
                _put(entry, cell.path, self._value(cell, f"{letter}{row.number}", row.by_column[col], base + suffix))
            elif _blank_is_empty_text(cell):
                _put(entry, cell.path, "")
        return entry


def _blank_is_empty_text(cell: Cell) -> bool:
    """An optional text whose cell is blank reads as "" (the schemas take absent, null and
    "" alike; "" is what the paper form's blank means)."""
    return cell.kind == TEXT and not cell.required


def _get(entry: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(entry, dict):
            return None
        entry = entry.get(key)  # type: ignore[assignment]
    return entry


def _column_name(index: int) -> str:
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


# ---------------------------------------------------------------------------------------
# the workbook


def read_workbook(file: Path, path: str, kinds: Iterable[str],
                  limits: WorkbookLimits | None = None) -> WorkbookRead:
    """The forms of the workbook at ``file`` (``path``: its path in the package, for the
    problems) whose sheets are among ``kinds`` (the forms of its folder's level). Never
    raises for a bad workbook."""
    out = WorkbookRead()
    kinds = tuple(kinds)
    refused = _vet(file, path, limits or load_policy().workbook)
    if refused is not None:
        out.problems.append(refused)
        return out
    import openpyxl  # imported here: only packages with a workbook pay for it

    wanted = set(kinds)
    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # a workbook openpyxl cannot open is the package's fault
        out.problems.append(_refusal(path, "not_xlsx", f"工作簿无法打开（{type(exc).__name__}）"))
        return out
    try:
        _read_sheets(book, path, kinds, wanted, out)
    except Exception as exc:  # damaged XML met while streaming the rows: the package's fault
        return WorkbookRead(problems=[_refusal(path, "not_xlsx", f"工作簿已损坏，无法读取（{type(exc).__name__}）")])
    finally:
        book.close()
    return out


def _read_sheets(book: Any, path: str, kinds: tuple[str, ...], wanted: set[str], out: WorkbookRead) -> None:
    """Every form sheet of ``book`` into ``out`` (see :func:`read_workbook`)."""
    for ws in book.worksheets:
        name = normalise_label(ws.title)
        kind = KIND_OF_SHEET.get(name)
        if kind is None or kind not in wanted:
            out.ignored_sheets.append(ws.title)
            if name != normalise_label(INSTRUCTIONS_SHEET):
                out.problems.append(problem("W_WORKBOOK_SHEET", path, name=path.rsplit("/", 1)[-1], sheet_name=ws.title,
                                            expected="、".join(SHEET_OF_FORM[k] for k in kinds)))
            continue
        if kind in out.forms:
            continue  # the same sheet twice (培训方案 and 培训方案 ): the first counts
        form, problems = _SheetReader(sheet_model(kind), sheet_rows(ws), path).read()
        out.problems.extend(problems)
        if form is None:
            out.empty_sheets.append(ws.title)
            continue
        form.sheet = ws.title
        out.forms[kind] = form

