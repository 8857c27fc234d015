"""A package whose forms are the sheets of 表单.xlsx (spec section 9) is checked by the same
schemas and rules as one with JSON files, every problem naming its sheet and cell."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.check.assess import assess
from pipeline.check.contract import FILE_NAME_OF_FORM
from pipeline.check.documents import Source, build_document, schema_errors
from pipeline.check.policy import load_policy
from pipeline.kit.workbook import workbook_bytes
from tests.support.packages import PackageBuilder

TODAY = date(2026, 11, 27)
ROOT = "新城区星火职业培训学校20261120"
KIND_OF = {name: kind for kind, name in FILE_NAME_OF_FORM.items()}


def as_workbooks(b: PackageBuilder, keep_json: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Move every form of ``b`` into a 表单.xlsx per folder (except ``keep_json``); returns
    the forms per folder, which a test may change before :func:`write_books`."""
    books: dict[str, dict[str, Any]] = {}
    for path in list(b.forms):
        folder, _, name = path.rpartition("/")
        books.setdefault(folder, {})[KIND_OF[name]] = b.forms[path]
        if path not in keep_json:
            b.remove(path)
    return books


def write_books(b: PackageBuilder, books: dict[str, dict[str, Any]]) -> None:
    for folder, forms in books.items():
        b.add(f"{folder}/表单.xlsx" if folder else "表单.xlsx", workbook_bytes(forms))


def check(b: PackageBuilder, tmp_path: Path) -> dict[str, Any]:
    zip_path = b.to_zip(tmp_path / f"{ROOT}.zip")
    findings = assess(zip_path, zip_path.name, load_policy(), tmp_path / "work", TODAY)
    now = datetime.now(timezone.utc)
    doc = build_document(findings, receipt_id="R20261127-00000000", source=Source("check", zip_path.name),
                         received_at=now, decided_at=now)
    assert schema_errors(doc) == []
    return doc


def test_a_package_with_workbooks_instead_of_json_is_accepted_without_warning(tmp_path: Path):
    b = PackageBuilder(theory_mode=["offline", "online"])
    write_books(b, as_workbooks(b))
    doc = check(b, tmp_path)
    assert doc["status"] == "accepted" and doc["errors"] == [] and doc["warnings"] == []
    assert doc["institution"] == "新城区星火职业培训学校"
    assert doc["trainings"] == [{"occupation": "育婴师", "level": "初级", "folder": "育婴师初级", "trainees": 20}]
    # the receipt holds the forms as read, as JSON (personal numbers masked, as everywhere)
    read = {(f["path"].rsplit("/", 2)[-2], f["sheet"]): f for f in doc["forms_read"]}
    assert len(read) == 7 and read[("育婴师初级", "签到表")]["form"] == "sign_in"
    session = read[("育婴师初级", "签到表")]["data"]["sessions"][0]
    assert session["trainees"][0]["id_number"].count("*") == 8
    assert {e["kind"] for e in doc["manifest"] if e["path"].endswith("表单.xlsx")} == {"form"}


def test_problems_in_a_sheet_name_the_sheet_and_the_cell(tmp_path: Path):
    b = PackageBuilder()
    books = as_workbooks(b)
    sign_in = books["育婴师初级"]["sign_in"]
    row = sign_in["sessions"][3]["trainees"][5]
    row["id_number"] = row["id_number"][:-1]  # FORM_ID_NUMBER
    sign_in["sessions"][1]["trainees"][2]["signed"] = False  # FORM_TRAINEES
    books[""]["trainers"]["trainers"][0]["phone"] = "1999910964"  # FORM_PHONE
    books[""]["training_plan"]["trainings"][0]["trainees"] = 0  # FORM_SCHEMA
    write_books(b, books)
    doc = check(b, tmp_path)
    found = {e["code"]: e for e in doc["errors"]}
    assert sorted(found) == ["FORM_ID_NUMBER", "FORM_PHONE", "FORM_SCHEMA", "FORM_TRAINEES"]
    for e in doc["errors"]:
        assert e["path"].endswith("表单.xlsx") and e["sheet"] and e["cell"], e
        assert e["message"].endswith(f"位置：“{e['sheet']}”工作表 {e['cell']} 单元格。")
    # each cell named holds the value at fault (looked up in the workbook as written)
    level1 = openpyxl.load_workbook(io.BytesIO(workbook_bytes(books[""])))
    level2 = openpyxl.load_workbook(io.BytesIO(workbook_bytes(books["育婴师初级"])))
    assert found["FORM_ID_NUMBER"]["sheet"] == "签到表"
    assert level2["签到表"][found["FORM_ID_NUMBER"]["cell"]].value == row["id_number"]
    assert found["FORM_ID_NUMBER"]["message"].startswith("表单“签到表”第 4 次签到")
    assert level2["签到表"][found["FORM_TRAINEES"]["cell"]].value == "否"
    assert level1["培训教师"][found["FORM_PHONE"]["cell"]].value == "1999910964"
    assert level1["培训方案"][found["FORM_SCHEMA"]["cell"]].value == 0


def test_a_form_given_twice_and_a_sheet_missing(tmp_path: Path):
    b = PackageBuilder()
    books = as_workbooks(b, keep_json=("诚信承诺书.json",))
    del books["育婴师初级"]["sign_in"]  # neither a JSON file nor a sheet
    write_books(b, books)
    doc = check(b, tmp_path)
    codes = sorted(e["code"] for e in doc["errors"])
    assert codes == ["FORM_DUPLICATE", "FORM_MISSING"]
    missing = next(e for e in doc["errors"] if e["code"] == "FORM_MISSING")
    assert "表单.xlsx 中也没有“签到表”工作表" in missing["message"]


def test_a_sheet_left_empty_is_a_missing_form_saying_so(tmp_path: Path):
    b = PackageBuilder()
    books = as_workbooks(b)
    del books["育婴师初级"]["sign_in"]
    write_books(b, books)
    # the training folder's workbook has the sign-in sheet of the template, untouched
    from pipeline.kit.workbook import write_template
    import openpyxl as xl
    template = xl.load_workbook(write_template(tmp_path / "t.xlsx", ["sign_in"]))
    filled = xl.load_workbook(io.BytesIO(workbook_bytes(books["育婴师初级"])))
    sheet = filled.create_sheet("签到表")
    for row in template["签到表"].iter_rows(values_only=True):
        sheet.append(list(row))
    buf = io.BytesIO()
    filled.save(buf)
    b.replace("育婴师初级/表单.xlsx", buf.getvalue())
    doc = check(b, tmp_path)
    assert [e["code"] for e in doc["errors"]] == ["FORM_MISSING"]
    assert "“签到表”工作表还没有填写" in doc["errors"][0]["message"]


def _clerk_fills(template: Path, forms: dict[str, dict[str, Any]]) -> bytes:
    """What a clerk does in Excel: open the template, type each value beside its label and
    each entry under its table's header (finding them by their text, as a person reads the
    sheet), leave the sheets not needed untouched, save."""
    from pipeline.check.sheets import BOOLEAN_LABELS, CHOICE_LABELS, CHOICES, CHOICE, BOOLEAN, DATE, sheet_model

    def shown(cell: Any, value: Any) -> Any:
        if cell.kind == BOOLEAN:
            return BOOLEAN_LABELS[value]
        if cell.kind == CHOICE:
            return CHOICE_LABELS.get(value, value)
        if cell.kind == CHOICES:
            return "、".join(CHOICE_LABELS.get(v, v) for v in value)
        if cell.kind == DATE:
            return date.fromisoformat(value)
        return value

    def get(value: Any, path: tuple[str, ...]) -> Any:
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    book = openpyxl.load_workbook(template)
    for ws in list(book.worksheets):
        model = next((sheet_model(k) for k in forms if sheet_model(k).sheet == ws.title), None)
        if model is None:
            continue  # 填写说明, or a form this training does not need: left as it was
        form = forms[model.kind]
        where = {str(c.value): c for row in ws.iter_rows() for c in row if c.value is not None}
        for cell in model.fields:
            value = get(form, cell.path)
            if value not in (None, ""):
                label = where[cell.label]
                ws.cell(label.row, label.column + 1, shown(cell, value))
        for table in model.tables:
            columns = table.columns + (table.inner.columns if table.inner else ())
            header_row = (where[table.title].row + 1) if not table.plain else where[table.title].row
            col_of = {c.label: ws.cell(header_row, n).column for n in range(1, 40)
                      for c in columns if ws.cell(header_row, n).value == c.label}
            row = header_row + 1
            for entry in get(form, table.path):
                inner = entry.get(table.inner.path[-1]) if table.inner else [None]
                for item in inner:
                    if table.plain:
                        ws.cell(row, col_of[table.title], entry)
                    for cell in columns:
                        if table.plain:
                            break
                        source = item if (table.inner and cell in table.inner.columns) else entry
                        value = get(source, cell.path)
                        if value not in (None, ""):
                            ws.cell(row, col_of[cell.label], shown(cell, value))
                    row += 1
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_a_clerk_filling_the_templates_in_a_spreadsheet_gets_an_accepted_package(tmp_path: Path):
    """Issue 16, done when: a passing package built with a spreadsheet and a file manager."""
    from pipeline.kit.workbook import write_template

    b = PackageBuilder(theory_mode=["offline", "online"])
    books = as_workbooks(b)
    write_template(tmp_path / "l1.xlsx", "1")
    write_template(tmp_path / "l2.xlsx", "2")
    b.add("表单.xlsx", _clerk_fills(tmp_path / "l1.xlsx", books[""]))
    b.add("育婴师初级/表单.xlsx", _clerk_fills(tmp_path / "l2.xlsx", books["育婴师初级"]))
    doc = check(b, tmp_path)
    assert doc["status"] == "accepted" and doc["errors"] == [] and doc["warnings"] == [], doc["errors"]


def _set(books: dict[str, dict[str, Any]], folder: str, kind: str, path: tuple[Any, ...], value: Any) -> Any:
    target = books[folder][kind]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return value


RULES = [  # (code, folder, form, path, new value) — each breaks one rule of spec section 4
    ("FORM_DATE", "育婴师初级", "theory_outline", ("sessions", 1, "date"), "2025-01-05"),
    ("FORM_HOURS", "育婴师初级", "practice_outline", ("total_hours",), 99),
    ("FORM_MISMATCH", "", "integrity_pledge", ("institution_name",), "别的学校"),
    ("FORM_TEACHER", "育婴师初级", "theory_outline", ("sessions", 0, "teacher", "name"), "不在名单"),
    ("FORM_ID_NUMBER", "", "trainers", ("trainers", 1, "id_number"), "61011419800712930"),
    ("FORM_PHONE", "", "integrity_pledge", ("contact_phone",), "12345"),
    ("FORM_TRAINEES", "育婴师初级", "sign_in", ("sessions", 0, "trainees", 0, "signed"), False),
    ("FORM_SCHEMA", "", "training_plan", ("total_hours",), "八十"),
]


@pytest.mark.parametrize(("code", "folder", "kind", "path", "value"), RULES, ids=[r[0] for r in RULES])
def test_every_rule_names_the_cell_of_the_value_at_fault(tmp_path: Path, code: str, folder: str, kind: str,
                                                        path: tuple[Any, ...], value: Any):
    b = PackageBuilder()
    books = as_workbooks(b)
    _set(books, folder, kind, path, value)
    write_books(b, books)
    doc = check(b, tmp_path)
    found = [e for e in doc["errors"] if e["code"] == code]
    assert len(found) == 1, doc["errors"]
    e = found[0]
    sheet = {"theory_outline": "理论培训大纲", "practice_outline": "实操培训大纲", "integrity_pledge": "诚信承诺书",
             "trainers": "培训教师", "sign_in": "签到表", "training_plan": "培训方案"}[kind]
    assert e["sheet"] == sheet and e["path"].endswith("表单.xlsx")
    written = openpyxl.load_workbook(io.BytesIO(workbook_bytes(books[folder])))[sheet][e["cell"]].value
    expected = {"FORM_TRAINEES": "否", "FORM_DATE": date(2025, 1, 5)}.get(code, value)
    assert written == expected or (isinstance(written, datetime) and written.date() == expected), (e, written)


def test_a_session_date_without_sign_in_is_named_at_the_sign_in_table(tmp_path: Path):
    b = PackageBuilder()
    books = as_workbooks(b)
    sessions = books["育婴师初级"]["sign_in"]["sessions"]
    del sessions[2]  # FORM_SIGNIN: an outline session's date has no sign-in
    write_books(b, books)
    doc = check(b, tmp_path)
    (e,) = [e for e in doc["errors"] if e["code"] == "FORM_SIGNIN"]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook_bytes(books["育婴师初级"])))["签到表"]
    assert e["sheet"] == "签到表" and sheet[e["cell"]].value == "培训日期"  # the table's header


def test_the_operator_part_of_the_report_names_sheet_and_cell(tmp_path: Path):
    from pipeline.check.report import TECHNICAL_HEADING, render_text

    b = PackageBuilder()
    books = as_workbooks(b)
    books[""]["integrity_pledge"]["contact_phone"] = "12345"
    write_books(b, books)
    doc = check(b, tmp_path)
    (e,) = doc["errors"]
    clerk, operator = render_text(doc).split(TECHNICAL_HEADING)
    assert f"{e['sheet']}!{e['cell']} /contact_phone" in operator
    assert f"位置：“诚信承诺书”工作表 {e['cell']} 单元格。" in clerk and "/contact_phone" not in clerk
