"""The sheet of each form (spec section 9): which labelled fields and which tables a form's
sheet in ``表单.xlsx`` holds, derived from the form's JSON Schema — its titles, types,
enums and two annotations — so the template writer (pipeline/kit/workbook.py) and the
reader (pipeline/check/workbook.py) can never disagree, and no field list is written twice.

A sheet is laid out like the seed's paper tables:

* row 1: the form's title (the schema's ``title``);
* **fields**: one row each, the label (the field's ``title``) in one cell and the value in
  the cell to its right. Scalars of the form and of its nested objects (the plan's
  ``institution``), and lists of closed choices (the plan's 培训方式: ``线下`` or ``线上、线下``);
* **tables**: the row above the header holds the list's title (``培训项目``), then one header
  row (the columns' titles), then one row per entry, up to an empty row. A nested object of
  an entry becomes columns (``培训老师姓名``, ``培训老师身份证号`` where the schema says
  ``"x-flatten": "prefix"``; else the child's own title, ``证书等级``). A list of entries
  inside an entry (the sign-in sheet's sessions, each with its trainees) is one flattened
  table: the outer entry's columns (培训日期, 培训地点) then the inner's; a row whose outer
  cells are empty (or merged) continues the entry above. A list of plain texts (the online
  record's 培训大纲目录) is a one-column table.

``form`` and ``version`` are not on the sheet: the sheet's name says which form it is and
the reader writes the version the schemas know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipeline.check.contract import ALL_FORM_TYPES, SHEET_OF_FORM
from pipeline.check.form_schemas import load_schema
from pipeline.check.privacy import PERSONAL_FIELDS

#: closed choices written in English in the JSON, shown in Chinese on the sheet
CHOICE_LABELS = {"online": "线上", "offline": "线下"}
#: how a boolean is written on the sheet (the reader also takes √/×, true/false, 1/0)
BOOLEAN_LABELS = {True: "是", False: "否"}
#: the fields the sheet does not show
IMPLIED_FIELDS = ("form", "version")
#: the first sheet of the workbooks the pipeline writes (pipeline/kit/workbook.py): plain
#: instructions, no form; the reader passes over it without a warning
INSTRUCTIONS_SHEET = "填写说明"

TEXT, DATE, INTEGER, NUMBER, BOOLEAN, CHOICE, CHOICES = "text", "date", "integer", "number", "boolean", "choice", "choices"


@dataclass(frozen=True)
class Cell:
    """One value of a form on the sheet: a labelled field or a table's column."""

    path: tuple[str, ...]  # within the form (a field) or within the entry (a column)
    label: str  # the label's or the header's text
    kind: str  # TEXT | DATE | INTEGER | NUMBER | BOOLEAN | CHOICE | CHOICES
    required: bool
    choices: tuple[Any, ...] = ()  # the JSON values of a CHOICE / CHOICES
    #: typed as text whatever it looks like (ID and phone numbers: Excel would make an
    #: 18-digit ID a number and lose its last digits)
    as_text: bool = False
    nullable: bool = False  # an empty cell is null rather than absent

    @property
    def shown_choices(self) -> tuple[str, ...]:
        """The choices as the sheet's drop-down offers them."""
        if self.kind == BOOLEAN:
            return tuple(BOOLEAN_LABELS.values())
        return tuple(CHOICE_LABELS.get(c, c) for c in self.choices)


@dataclass(frozen=True)
class Table:
    """A list of entries of the form, as rows under a header."""

    path: tuple[str, ...]  # the list within the form (or within the outer entry)
    title: str  # the list's title, the row above the header
    columns: tuple[Cell, ...]
    required: bool
    inner: "Table | None" = None  # a list inside each entry, flattened into the same rows
    plain: bool = False  # a list of texts: one column, each row one text

    @property
    def headers(self) -> tuple[str, ...]:
        own = tuple(c.label for c in self.columns)
        return own + (self.inner.headers if self.inner else ())


@dataclass(frozen=True)
class SheetModel:
    kind: str  # the form type
    sheet: str  # the sheet's name (the form's file name without .json)
    title: str  # row 1
    fields: tuple[Cell, ...]
    tables: tuple[Table, ...]


def _resolve(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` merged under its own keys (its title wins)."""
    root = load_schema(kind)
    seen = 0
    while "$ref" in node and seen < 16:
        target = root.get("$defs", {}).get(node["$ref"].removeprefix("#/$defs/"), {})
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _scalar(kind: str, key: str, node: dict[str, Any], label: str, required: bool) -> Cell:
    types = _types(node)
    if node.get("format") == "date":
        sort = DATE
    elif "enum" in node:
        sort = CHOICE
    elif "boolean" in types:
        sort = BOOLEAN
    elif "integer" in types:
        sort = INTEGER
    elif "number" in types:
        sort = NUMBER
    else:
        sort = TEXT
    return Cell((key,), label, sort, required, tuple(node.get("enum", ())), as_text=key in PERSONAL_FIELDS,
                nullable="null" in types)


def _cells(kind: str, node: dict[str, Any], top: bool = False, label_prefix: str = ""
           ) -> tuple[list[Cell], list[Table]]:
    """The cells (scalars, closed-choice lists, nested objects' scalars) and the tables
    (lists of entries or texts) of an object node, in schema order."""
    node = _resolve(kind, node)
    required = set(node.get("required", ()))
    cells: list[Cell] = []
    tables: list[Table] = []
    for key, child in node.get("properties", {}).items():
        if top and key in IMPLIED_FIELDS:
            continue
        child = _resolve(kind, child)
        title = child.get("title") or key
        types = _types(child)
        if "object" in types:
            inner_prefix = label_prefix + title if child.get("x-flatten") == "prefix" else label_prefix
            sub_cells, sub_tables = _cells(kind, child, label_prefix=inner_prefix)
            # a nested object's values are required when the object is (paths from the form)
            cells += [Cell((key,) + c.path, c.label, c.kind, c.required and key in required, c.choices,
                           c.as_text, c.nullable) for c in sub_cells]
            tables += [Table((key,) + t.path, t.title, t.columns, t.required, t.inner, t.plain) for t in sub_tables]
        elif "array" in types:
            items = _resolve(kind, child.get("items", {}))
            if "object" in _types(items):
                own, inner = _cells(kind, items)
                tables.append(Table((key,), title, tuple(own), key in required,
                                    inner=inner[0] if inner else None))
            elif "enum" in items:
                cells.append(Cell((key,), label_prefix + title, CHOICES, key in required, tuple(items["enum"])))
            else:
                tables.append(Table((key,), title, (Cell((), title, TEXT, True),), key in required, plain=True))
        else:
            cell = _scalar(kind, key, child, label_prefix + title, key in required)
            cells.append(cell)
    return cells, tables


@lru_cache(maxsize=None)
def sheet_model(kind: str) -> SheetModel:
    """The sheet of form type ``kind``."""
    schema = load_schema(kind)
    fields, tables = _cells(kind, schema, top=True)
    return SheetModel(kind, SHEET_OF_FORM[kind], schema.get("title") or SHEET_OF_FORM[kind],
                      tuple(fields), tuple(tables))


def all_sheet_models() -> tuple[SheetModel, ...]:
    return tuple(sheet_model(kind) for kind in ALL_FORM_TYPES)
