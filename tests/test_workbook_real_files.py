"""The workbook reader on files written by real programs (tests/data/workbooks/README.md):
LibreOffice's and Excel's workbooks open and their dates read as dates; an .xls, an
encrypted workbook, an .ods and a macro workbook are refused with the clerk's fix; nothing
raises."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from pipeline.check.contract import ALL_FORM_TYPES
from pipeline.check.sheets import sheet_model
from pipeline.check.workbook import convert_value, read_workbook, sheet_rows

DATA = Path(__file__).parent / "data" / "workbooks"


def _as_uploaded(name: str, tmp_path: Path) -> Path:
    """The file as a clerk would upload it: named 表单.xlsx whatever it is."""
    target = tmp_path / "表单.xlsx"
    shutil.copyfile(DATA / name, target)
    return target


@pytest.mark.parametrize("name", ["date.xlsx", "date_1904.xlsx", "issue127.xlsx", "merge_cells.xlsx",
                                  "issue_553.xlsx"])
def test_workbooks_of_libreoffice_and_excel_open_and_their_foreign_sheets_are_named(name: str, tmp_path: Path):
    found = read_workbook(_as_uploaded(name, tmp_path), "x/表单.xlsx", ALL_FORM_TYPES)
    assert found.forms == {}  # none of their sheets is a form's
    assert {p.code for p in found.problems} == {"W_WORKBOOK_SHEET"}
    assert len(found.problems) == len(found.ignored_sheets) > 0


@pytest.mark.parametrize("name", ["date.xlsx", "date_1904.xlsx"])
def test_libreoffice_date_cells_read_as_dates_in_either_date_system(name: str):
    date_cell = next(c for c in sheet_model("integrity_pledge").fields if c.path == ("signed_date",))
    book = openpyxl.load_workbook(DATA / name, read_only=True, data_only=True)
    try:
        rows = sheet_rows(book.worksheets[0])
    finally:
        book.close()
    assert [convert_value(date_cell, rows[i].first[1])[0] for i in (0, 1)] == ["2021-01-01", "2021-01-02"]


@pytest.mark.parametrize(("name", "fault"), [("date.xls", "not_xlsx"), ("pass_protected.xlsx", "not_xlsx"),
                                             ("any_sheets.ods", "not_xlsx"), ("issue281.xlsm", "macro")])
def test_what_is_no_plain_xlsx_is_refused_with_the_fix(name: str, fault: str, tmp_path: Path):
    found = read_workbook(_as_uploaded(name, tmp_path), "x/表单.xlsx", ALL_FORM_TYPES)
    (p,) = found.problems
    assert (p.code, p.params["fault"]) == ("FORM_WORKBOOK", fault) and not found.forms
    assert "另存为" in p.hint or "xlsx" in p.hint
