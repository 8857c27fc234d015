"""Reading forms from a 表单.xlsx workbook (spec section 9, pipeline/check/workbook.py):
by labels and headers, whatever rows and columns were added; values as the clerk meant
them; never a guess; a workbook that must not be opened is refused before its XML is read.
Workbooks are written here with openpyxl, as Excel and WPS save them."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.check.policy import WorkbookLimits, load_policy
from pipeline.check.workbook import read_workbook
from tests.support.fuzz_strategies import byte_mutations

PATH = "星火20261120/育婴师初级/表单.xlsx"
ID_A, ID_B = "610114198007129303", "610122199711049643"


def sign_in_book(*, shift_rows: int = 0, shift_cols: int = 0, label: str = "培训职业（工种）",
                 first_date: Any = date(2026, 10, 24), signed: Any = "是", id_b: Any = ID_B,
                 extra_sheet: str | None = None) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "签到表"
    pad = [None] * shift_cols
    for _ in range(shift_rows):
        ws.append(["（填表说明：请如实填写）"])
    ws.append(pad + ["培训学员签到表"])
    ws.append(pad + [label, "育婴师"])
    ws.append(pad + ["等级", "初级"])
    ws.append([])
    ws.append(pad + ["签到记录"])
    ws.append(pad + ["培训日期", "培训地点", "序号", "姓名", "身份证号", "签到", "备注"])
    ws.append(pad + [first_date, "201教室", 1, "武桂兰", ID_A, signed, None])
    ws.append(pad + [None, None, 2, "魏莹", id_b, "√", "迟到"])
    ws.append(pad + [date(2026, 10, 25), "201教室", 1, "武桂兰", ID_A, "是", None])
    ws.append(pad + [date(2026, 10, 25), "201教室", 2, "魏莹", ID_B, "×", None])
    ws.append([])
    ws.append([])
    if extra_sheet:
        wb.create_sheet(extra_sheet).append(["随手记"])
    return wb


def read(tmp_path: Path, wb: openpyxl.Workbook, kinds=("sign_in",)):
    file = tmp_path / "表单.xlsx"
    wb.save(file)
    return read_workbook(file, PATH, kinds)


EXPECTED = {
    "form": "sign_in", "version": 1, "occupation": "育婴师", "level": "初级",
    "sessions": [
        {"date": "2026-10-24", "location": "201教室", "trainees": [
            {"seq": 1, "name": "武桂兰", "id_number": ID_A, "signed": True, "remarks": ""},
            {"seq": 2, "name": "魏莹", "id_number": ID_B, "signed": True, "remarks": "迟到"}]},
        {"date": "2026-10-25", "location": "201教室", "trainees": [
            {"seq": 1, "name": "武桂兰", "id_number": ID_A, "signed": True, "remarks": ""},
            {"seq": 2, "name": "魏莹", "id_number": ID_B, "signed": False, "remarks": ""}]},
    ],
}


def test_a_sign_in_sheet_reads_as_its_json_with_the_cell_of_every_value(tmp_path: Path):
    found = read(tmp_path, sign_in_book())
    assert found.problems == [] and found.forms["sign_in"].value == EXPECTED
    cells = found.forms["sign_in"].cells
    form = found.forms["sign_in"]
    assert cells["/occupation"] == "B2" and form.cell_of("/sessions/0/trainees/1/id_number") == "E8"
    assert found.forms["sign_in"].cell_of("/sessions/1/trainees/1/signed") == "F10" and cells["/sessions"] == "A6"
    # an empty cell where a value belongs still has its place: a missing value is reported there
    assert found.forms["sign_in"].cell_of("/sessions/0/trainees/0/remarks") == "G7"
    assert found.forms["sign_in"].cell_of("/sessions/0/trainees/0/nickname") == "C7"  # the entry row


def test_inserted_rows_and_columns_full_width_labels_and_hidden_columns_do_not_matter(tmp_path: Path):
    wb = sign_in_book(shift_rows=3, shift_cols=2, label=" 培训职业（工种）： ")
    wb.active.column_dimensions["A"].hidden = True
    found = read(tmp_path, wb)
    assert found.problems == [] and found.forms["sign_in"].value == EXPECTED
    assert found.forms["sign_in"].cells["/occupation"] == "D5"


@pytest.mark.parametrize("written", [datetime(2026, 10, 24), "2026-10-24", "2026/10/24", "2026年10月24日",
                                     "２０２６－１０－２４"])
def test_excel_and_text_dates(tmp_path: Path, written: Any):
    found = read(tmp_path, sign_in_book(first_date=written))
    assert found.forms["sign_in"].value["sessions"][0]["date"] == "2026-10-24"


def test_what_cannot_be_taken_stays_as_written_for_the_schema_to_report(tmp_path: Path):
    found = read(tmp_path, sign_in_book(first_date="十月二十四日", signed="到了"))
    session = found.forms["sign_in"].value["sessions"][0]
    assert session["date"] == "十月二十四日" and session["trainees"][0]["signed"] == "到了"


def test_an_id_excel_stored_as_a_number_is_reported_never_guessed(tmp_path: Path):
    found = read(tmp_path, sign_in_book(id_b=6.10122199711049e17))
    (p,) = found.problems
    assert (p.code, p.params["fault"], p.sheet, p.cell) == ("FORM_ID_NUMBER", "excel_number", "签到表", "E8")
    assert p.pointer == "/sessions/0/trainees/1/id_number" and "第 8 行“身份证号”" in p.message
    assert p.message.endswith("位置：“签到表”工作表 E8 单元格。")
    assert {"sheet": "签到表", "cell": "E8"}.items() <= p.to_json().items()
    assert "文本" in p.hint and ID_B not in p.message
    form = found.forms["sign_in"]
    assert "/sessions/0/trainees/1/id_number" in form.reported  # the rules will not report it again
    assert form.value["sessions"][0]["trainees"][1]["id_number"] != ID_B  # no digit made up


def test_an_unknown_sheet_is_a_warning_and_the_instructions_sheet_is_not(tmp_path: Path):
    found = read(tmp_path, sign_in_book(extra_sheet="Sheet2"))
    assert [(p.code, p.params["sheet_name"]) for p in found.problems] == [("W_WORKBOOK_SHEET", "Sheet2")]
    found = read(tmp_path, sign_in_book(extra_sheet="填写说明"))
    assert found.problems == []
    # a level-1 sheet in a training folder's workbook is not read there
    found = read(tmp_path, sign_in_book(), kinds=("theory_outline",))
    assert "sign_in" not in found.forms and found.problems[0].code == "W_WORKBOOK_SHEET"


def _refused(tmp_path: Path, data: bytes, limits: WorkbookLimits | None = None) -> tuple[str, str]:
    file = tmp_path / "表单.xlsx"
    file.write_bytes(data)
    found = read_workbook(file, PATH, ("sign_in",), limits)
    (p,) = found.problems
    assert p.code == "FORM_WORKBOOK" and not found.forms
    return p.params["fault"], p.message


def _xlsx_bytes(wb: openpyxl.Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _with_member(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr(name, content)
    return out.getvalue()


def test_workbooks_that_must_not_be_opened_are_refused(tmp_path: Path):
    good = _xlsx_bytes(sign_in_book())
    # an .xls (or an encrypted .xlsx): an OLE compound file
    assert _refused(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))[0] == "not_xlsx"
    assert _refused(tmp_path, b"just text")[0] == "not_xlsx"
    assert _refused(tmp_path, _with_member(good, "xl/vbaProject.bin", b"macro"))[0] == "macro"
    assert _refused(tmp_path, _with_member(good, "xl/externalLinks/externalLink1.xml", b"<x/>"))[0] == "external_link"
    # a bomb: a sheet part inflating far beyond its compressed size
    assert _refused(tmp_path, _with_member(good, "xl/worksheets/sheet9.xml", b" " * (8 * 1024 * 1024)))[0] == "limit"
    assert _refused(tmp_path, good, dataclasses.replace(load_policy().workbook, max_rows=5))[0] == "limit"


def test_a_formula_without_a_stored_value_is_refused(tmp_path: Path):
    wb = sign_in_book()
    wb.active["H7"] = "=C7+1"  # openpyxl stores the formula only, as a program that never calculates
    fault, message = _refused(tmp_path, _xlsx_bytes(wb))
    assert fault == "formula" and "公式" in message


def test_entity_tricks_in_the_xml_are_refused_not_expanded(tmp_path: Path):
    good = _xlsx_bytes(sign_in_book())
    out = io.BytesIO()
    doctype = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/workbook.xml":  # entity definitions before the root element
                data = doctype + data
            dst.writestr(info, data)
    fault, message = _refused(tmp_path, out.getvalue())
    assert fault == "not_xlsx" and "DOCTYPE" in message


def test_a_template_sheet_nothing_was_typed_in_is_an_absent_form(tmp_path: Path):
    from pipeline.kit.workbook import write_template

    file = write_template(tmp_path / "表单.xlsx", "2")
    found = read_workbook(file, PATH, ("theory_outline", "practice_outline", "sign_in", "online_record",
                                       "practice_equipment"))
    assert found.forms == {} and found.problems == []
    assert found.empty_sheets == ["理论培训大纲", "实操培训大纲", "签到表", "线上培训记录", "实操设备设施"]


_FUZZ_BOOK = None


def _fuzz_base() -> bytes:
    global _FUZZ_BOOK
    if _FUZZ_BOOK is None:
        _FUZZ_BOOK = _xlsx_bytes(sign_in_book(extra_sheet="Sheet2"))
    return _FUZZ_BOOK


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damaged_workbook_gives_problems_never_an_exception(tmp_path: Path, data: st.DataObject):
    """Byte edits of a real workbook (near the ZIP's records half the time) and edits of its
    parts' XML: the reader answers with problems or forms, never raises, whatever it meets."""
    blob = _fuzz_base()
    if data.draw(st.booleans()):
        blob, _ = data.draw(byte_mutations(blob))
    else:  # well-formed ZIP, damaged XML inside
        name = data.draw(st.sampled_from(["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/styles.xml",
                                          "[Content_Types].xml", "xl/_rels/workbook.xml.rels"]))
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            part, _ = data.draw(byte_mutations(zf.read(name), near_signatures=False))
        blob = _with_member(blob, name, part)
    file = tmp_path / "表单.xlsx"
    file.write_bytes(blob)
    found = read_workbook(file, PATH, ("sign_in",))
    for p in found.problems:
        assert p.code in {"FORM_WORKBOOK", "W_WORKBOOK_SHEET", "FORM_ID_NUMBER"} and p.message
    for form in found.forms.values():
        assert form.value["form"] == "sign_in"


def test_a_label_merged_over_two_cells_finds_its_value_beyond(tmp_path: Path):
    wb = sign_in_book()
    ws = wb.active
    ws.insert_cols(2)  # the labels' column is now two cells wide, merged
    for row in (2, 3):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
    found = read(tmp_path, wb)
    assert found.problems == [] and found.forms["sign_in"].value == EXPECTED
    assert found.forms["sign_in"].cells["/occupation"] == "C2"
