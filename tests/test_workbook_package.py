"""A package whose forms are the sheets of 表单.xlsx (spec section 9) is checked by the same
schemas and rules as one with JSON files, every problem naming its sheet and cell."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import openpyxl

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
