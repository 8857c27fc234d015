"""Generate ``docs/forms.md`` from the form schemas (``schemas/forms/*.schema.json``).

The schemas are the single source of truth for the forms' fields; this page is derived
from them, never edited by hand (a test compares it with :func:`render`)::

    python -m pipeline.kit.form_docs [PATH]           # (re)write PATH (default docs/forms.md)
    python -m pipeline.kit.form_docs --check [PATH]   # exit 1 when PATH is out of date

PATH is relative to the current folder (run it from the project's root): the page lives
in the project, never beside the installed code.

Per form: its file name, where it goes, when it is required (from
:data:`pipeline.check.contract.REQUIREMENTS`, the table :func:`pipeline.check.forms.load_forms` acts
on) and a table of every field at every depth (path, Chinese title, type, required,
constraints, description). The decisions of :mod:`pipeline.check.forms` (its docstring)
are copied in, so the page and the loader cannot disagree either.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from pipeline.check import forms
from pipeline.check.contract import ALL_FORM_TYPES, FILE_NAME_OF_FORM, REQUIREMENTS
from pipeline.check.forms import load_schema

#: where the page lives, from the project's root
DOCS_PATH = Path("docs") / "forms.md"

_TYPE_EN = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
            "object": "object", "array": "array", "null": "null"}


def _resolve(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """The site node merged over what its ``$ref`` points to (site keywords win)."""
    merged: dict[str, Any] = {}
    chain = [node]
    root = load_schema(kind)
    while "$ref" in chain[-1] and chain[-1]["$ref"].startswith("#/$defs/") and len(chain) < 16:
        chain.append(root["$defs"][chain[-1]["$ref"][len("#/$defs/"):]])
    for part in reversed(chain):
        merged.update(part)
    merged.pop("$ref", None)
    return merged


def _conditional(kind: str) -> dict[str, str]:
    """Fields required by a top-level if/then: name -> the then branch's description."""
    then = load_schema(kind).get("then") or {}
    return {name: then.get("description", "conditionally") for name in then.get("required", [])}


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        value = node["const"]
        return "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string"
    t = node.get("type", "any")
    if isinstance(t, list):
        return " or ".join(_TYPE_EN.get(x, x) for x in t)
    if t == "array":
        items = node.get("items") or {}
        inner = items.get("type") or ("object" if "properties" in items else None)
        if inner is None and "$ref" in items:
            inner = "object"  # refined by the caller when it can resolve
        return f"array of {inner}" if inner else "array"
    return _TYPE_EN.get(t, t)


def _code(value: Any) -> str:
    import json

    return "`" + json.dumps(value, ensure_ascii=False) + "`"


def _constraints(node: dict[str, Any]) -> str:
    out: list[str] = []
    if "const" in node:
        out.append(f"= {_code(node['const'])}")
    if "enum" in node:
        out.append("one of " + ", ".join(_code(v) for v in node["enum"]))
    if "minimum" in node:
        out.append(f">= {node['minimum']}")
    if "exclusiveMinimum" in node:
        out.append(f"> {node['exclusiveMinimum']}")
    if "maximum" in node:
        out.append(f"<= {node['maximum']}")
    if "multipleOf" in node:
        out.append(f"multiple of {node['multipleOf']}")
    if node.get("format") == "date":
        out.append("date `YYYY-MM-DD` (a real day)")
    if node.get("minLength"):
        out.append("non-empty" if node["minLength"] == 1 else f"length >= {node['minLength']}")
    if node.get("pattern") == "\\S":
        out.append("not only spaces")
    elif "pattern" in node:
        out.append(f"pattern `{node['pattern']}`")
    if node.get("type") == "array":
        if node.get("minItems"):
            out.append(f">= {node['minItems']} item{'s' if node['minItems'] > 1 else ''}")
        if node.get("uniqueItems"):
            out.append("no repeats")
    if node.get("type") == "object" and node.get("additionalProperties") is False:
        out.append("no other fields")
    return "; ".join(out)


def _rows(kind: str) -> Iterator[tuple[str, str, str, str, str, str]]:
    """(path, title, type, required, constraints, description) of every field."""
    conditional = _conditional(kind)

    def walk(node: dict[str, Any], prefix: str, top: bool) -> Iterator[tuple[str, str, str, str, str, str]]:
        required = set(node.get("required", []))
        for name, site in node.get("properties", {}).items():
            field = _resolve(kind, site)
            path = f"{prefix}{name}"
            if name in required:
                needed = "yes"
            elif top and name in conditional:
                needed = f"when: {conditional[name]}"
            else:
                needed = "no (absent, null or \"\")" if "null" in (field.get("type") or []) else "no"
            kind_text = _type(field)
            items = _resolve(kind, field["items"]) if field.get("type") == "array" and "items" in field else None
            if items is not None and kind_text == "array of object" and "properties" not in items:
                kind_text = f"array of {_type(items)}"
            yield (path, field.get("title", ""), kind_text, needed, _constraints(field),
                   field.get("description", ""))
            if field.get("type") == "object":
                yield from walk(field, f"{path}.", False)
            elif items is not None:
                if items.get("type") == "object":
                    yield from walk(items, f"{path}[].", False)
                else:
                    yield (f"{path}[]", items.get("title", ""), _type(items), "each item",
                           _constraints(items), items.get("description", ""))

    yield from walk(load_schema(kind), "", True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rst_to_md(text: str) -> str:
    text = re.sub(r":(?:func|mod|class|data|attr|meth):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _decisions() -> str:
    doc = forms.__doc__ or ""
    start = doc.find("The schemas (")
    return _rst_to_md(doc[start:].strip()) if start >= 0 else ""


def _workbook_section() -> list[str]:
    """"Filling the forms in Excel/WPS": the workbook path first, each sheet's labels and
    headers from the sheet model (pipeline/check/sheets.py) the template and the reader share."""
    from pipeline.check.contract import ROOT_FORM_TYPES, SHEET_OF_FORM, TRAINING_FORM_TYPES, WORKBOOK_FILE
    from pipeline.check.sheets import INSTRUCTIONS_SHEET, sheet_model
    from pipeline.kit.workbook import TEMPLATE_FOLDERS, choice_list

    lines = [
        "## Filling the forms in Excel/WPS",
        "",
        f"Clerks fill the forms as the sheets of one workbook `{WORKBOOK_FILE}` per folder (spec section 9);",
        "the JSON files below are the same forms for systems and for the checks. `pipeline template [DIR]`",
        f"writes the two empty workbooks, `DIR/{TEMPLATE_FOLDERS['1']}/{WORKBOOK_FILE}` (level 1) and",
        f"`DIR/{TEMPLATE_FOLDERS['2']}/{WORKBOOK_FILE}` (each training folder), with a Chinese `README.txt`;",
        f"`pipeline example DIR --workbook` writes the complete example with `{WORKBOOK_FILE}` in place of",
        "the JSON files; `pipeline forms to-xlsx DIR OUT.xlsx` fills a workbook from the JSON forms of a",
        "folder. The workbooks are made by `pipeline/kit/workbook.py` from the sheet model",
        "(`pipeline/check/sheets.py`), which the reader uses too.",
        "",
        f"- The first sheet, `{INSTRUCTIONS_SHEET}`, says in plain Chinese how to fill every field and",
        "  column (from the schemas' descriptions); the reader passes over it.",
        "- Each form's sheet: row 1 the form's title; one row per single field (label in column A,",
        "  value in B); then per table an empty row, the table's title, the header row and one row",
        "  per entry. The reader finds labels and headers by their text, so inserted rows and",
        "  columns do not matter; the names of sheets, labels and headers must stay as written.",
        "- 签到表 is one table of trainees: each row carries its session's 培训日期 and 培训地点.",
        "- ID-number and phone cells are formatted as text before anyone types (Excel would turn an",
        "  18-digit number into 6.10116E+17 and lose its last digits); date cells are dates",
        "  (`yyyy-mm-dd`; text dates are read too); closed choices and 是/否 have drop-down lists;",
        "  several choices in one cell are joined with `、` (`线上、线下`).",
        "- The template has frozen header rows, column widths that show the content and print",
        "  settings (A4, fit to the page's width, landscape for wide tables, the header row on every",
        "  page). A sheet a training does not need (线上培训记录 when nothing is online) is deleted.",
        "- A form given both as JSON and as a sheet is `FORM_DUPLICATE` (the JSON file counts); a",
        "  sheet nobody typed in (as the template left it) is an absent form, and `FORM_MISSING` says",
        "  the sheet is still empty.",
        "- Reading (`pipeline/check/workbook.py`): before any XML is parsed the workbook's ZIP",
        "  directory is held to the policy's `[workbook]` limits (shipped: 500 parts, 64 MiB",
        "  uncompressed, ratio 200 for parts over 1 MiB, 100,000 rows per sheet, 2,000,000 cells)",
        "  and refused as `FORM_WORKBOOK` when it is",
        "  no `.xlsx` (an `.xls`/`.et` or an encrypted file: an OLE compound file), holds macros",
        "  (`vbaProject.bin`), external links, a DOCTYPE in any XML part, or formulas without a stored",
        "  value; then openpyxl reads it in read-only mode (streaming), its XML through defusedxml.",
        "  openpyxl rather than python-calamine: it is the well-kept standard for .xlsx in Python",
        "  and writes the templates too (one library for both, no native extension); calamine would",
        "  read faster (a 32,000-row 签到表 takes 4.7-5.1 s here, peak RSS 83 MB).",
        "  Labels and headers are compared after NFKC (full-width to half-width), without spaces and",
        "  a trailing colon or `*`. Dates: Excel dates and text (`2026-11-20`, `2026/11/20`,",
        "  `2026年11月20日`); numbers: whole numbers as integers; booleans: 是/否, √/×, true/false,",
        "  1/0; choices by their Chinese (线上/线下). A value that cannot be taken stays as written,",
        "  so the schema reports it at its cell. An ID that Excel stored as a number has lost its",
        "  last digits: `FORM_ID_NUMBER` (`excel_number`) at its cell, once, and no digit is guessed.",
        "  An empty optional text cell reads as `\"\"`; a row repeating the session's date and place",
        "  of the row above continues that session.",
        "- Every problem found in a sheet carries `sheet` and `cell` beside `path` (the workbook) and",
        "  its message ends with the place: `位置：“签到表”工作表 E72 单元格。`. The receipt's",
        "  `forms_read` holds the forms as read, as JSON (personal numbers masked); the archive keeps",
        "  the workbook's bytes. `pipeline forms to-json 表单.xlsx DIR` writes the same JSON files.",
        "- Tested with real files: workbooks saved by LibreOffice (7.3, 7.4, 6.3) and Excel (desktop,",
        "  Mac, Online) open and their dates read in both date systems (`tests/data/workbooks`); the",
        "  template opened and saved by LibreOffice Calc keeps every drop-down list and its text and",
        "  date formats, and forms saved by LibreOffice read back the same and pass",
        "  (`tests/test_workbook_libreoffice.py`; `make test` installs Debian's headless Calc). WPS",
        "  saves the same OOXML; no WPS-saved file is in the tests yet.",
        "",
        "| folder | workbook | sheets |",
        "|---|---|---|",
        f"| level 1 | `{WORKBOOK_FILE}` | {', '.join(SHEET_OF_FORM[k] for k in ROOT_FORM_TYPES)} |",
        f"| each training folder | `{WORKBOOK_FILE}` | {', '.join(SHEET_OF_FORM[k] for k in TRAINING_FORM_TYPES)} |",
        "",
        "| sheet | single fields (label in A, value in B) | tables: title — headers |",
        "|---|---|---|",
    ]
    for kind in ALL_FORM_TYPES:
        model = sheet_model(kind)

        def shown(cell: Any) -> str:
            extra = f" ({'/'.join(choice_list(cell))})" if cell.kind in ("choice", "choices", "boolean") else ""
            return cell.label + extra

        fields = "、".join(shown(c) for c in model.fields) or "—"
        tables = "; ".join(f"{'' if t.plain else t.title + ' — '}"
                           + " / ".join(shown(c) for c in t.columns + (t.inner.columns if t.inner else ()))
                           for t in model.tables)
        lines.append(f"| {model.sheet} | {_cell(fields)} | {_cell(tables)} |")
    return lines + [""]


def render() -> str:
    """The whole of docs/forms.md."""
    lines: list[str] = [
        "# Forms (表单): fields and rules",
        "",
        "<!-- Generated by `python -m pipeline.kit.form_docs` from schemas/forms/*.schema.json and the",
        "     docstring of pipeline/check/forms.py. Do not edit by hand: change the schemas, then regenerate. -->",
        "",
        "Every form is a UTF-8 JSON file (a BOM is tolerated) holding one JSON object with",
        "`\"form\"` (its type) and `\"version\": 1`. Spec: section 4 of `package-format.md`.",
        "Problems: `FORM_MISSING` (a required form is absent), `FORM_JSON` (not UTF-8, not",
        "JSON: the message names the line and column), `FORM_SCHEMA` (one per violation of",
        "the schema, with the JSON pointer of the offending value and a Chinese message",
        "naming the field by its title). The cross-form rules (`FORM_ID_NUMBER`, `FORM_PHONE`,",
        "`FORM_DATE`, `FORM_HOURS`, `FORM_MISMATCH`, `FORM_TEACHER`, `FORM_TRAINEES`,",
        "`FORM_SIGNIN`) are `pipeline/check/rules/forms.py`.",
        "",
        "In the tables, *path* names a field the way `trainings[].occupation` does (`[]`: each",
        "item of a list); \"no other fields\" means an unknown field is `FORM_SCHEMA`.",
        "Optional text (\"no (absent, null or \\\"\\\")\") may be left out, `null` or `\"\"`, as",
        "blank cells are on the paper forms; required text may not be empty or only spaces.",
        "",
        *_workbook_section(),
        "## Decisions",
        "",
        _decisions(),
        "",
        "## The forms",
        "",
        "| form | file | where | required |",
        "|---|---|---|---|",
    ]
    for kind in ALL_FORM_TYPES:
        req = REQUIREMENTS[kind]
        lines.append(f"| `{kind}` | {FILE_NAME_OF_FORM[kind]} | {_cell(req.where)} | {_cell(req.when)} |")
    for kind in ALL_FORM_TYPES:
        schema = load_schema(kind)
        req = REQUIREMENTS[kind]
        lines += [
            "",
            f"### {FILE_NAME_OF_FORM[kind]} — `{kind}` ({schema['title']})",
            "",
            _cell(schema["description"]),
            "",
            f"- Schema: `schemas/forms/{kind}.schema.json`",
            f"- Where: {req.where}",
            f"- Required: {req.when}",
            "",
            "| path | 标题 | type | required | constraints | description |",
            "|---|---|---|---|---|---|",
        ]
        for row in _rows(kind):
            path, title, kind_text, needed, constraints, description = map(_cell, row)
            lines.append(f"| `{path}` | {title} | {kind_text} | {needed} | {constraints} | {description} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if len(paths) > 1 or any(a.startswith("-") for a in paths):
        print("usage: python -m pipeline.kit.form_docs [--check] [PATH]", file=sys.stderr)
        return 2
    target = Path(paths[0]) if paths else DOCS_PATH
    text = render()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run python -m pipeline.kit.form_docs {target}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
