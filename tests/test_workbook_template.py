"""The form workbooks the pipeline writes (pipeline/kit/workbook.py, spec section 9): the
empty template of `pipeline template`, the workbook filled from JSON (`pipeline forms
to-xlsx`, `pipeline example --workbook`). Opened with openpyxl, cell by cell, against the
sheet model (pipeline/check/sheets.py) the reader uses too."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.check.contract import (ALL_FORM_TYPES, FILE_NAME_OF_FORM, ROOT_FORM_TYPES, SHEET_OF_FORM,
                                     TRAINING_FORM_TYPES, WORKBOOK_FILE)
from pipeline.check.sheets import (BOOLEAN, CHOICE, CHOICE_LABELS, CHOICES, DATE, INSTRUCTIONS_SHEET, Cell, Table,
                                   sheet_model)
from pipeline.kit import example
from pipeline.kit.workbook import (DATE_FORMAT, TEMPLATE_FOLDERS, TEXT_FORMAT, choice_list, template_rows,
                                   workbook_bytes, write_template, write_workbook)

REPORT = date(2026, 11, 20)
LEVELS = {"1": ROOT_FORM_TYPES, "2": TRAINING_FORM_TYPES}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("templates")
    return {level: load_workbook(write_template(folder / f"level{level}.xlsx", level)) for level in LEVELS}


def _columns(table: Table) -> tuple[Cell, ...]:
    return table.columns + (table.inner.columns if table.inner else ())


def _layout(kind: str, rows_of: Any) -> tuple[dict[tuple[str, ...], int], list[tuple[Table, int, int]]]:
    """Where the layout puts things: {field path: row}, [(table, header row, last row)];
    ``rows_of(table)`` is the number of rows under the table's header."""
    model = sheet_model(kind)
    fields = {cell.path: 2 + n for n, cell in enumerate(model.fields)}
    row = 1 + len(model.fields)
    tables = []
    for table in model.tables:
        row += 2 if table.plain else 3
        tables.append((table, row, row + rows_of(table)))
        row += rows_of(table)
    return fields, tables


# ---------------------------------------------------------------------------------------
# the template


def test_each_level_has_the_instructions_then_its_forms_sheets_in_contract_order(templates):
    for level, kinds in LEVELS.items():
        assert templates[level].sheetnames == [INSTRUCTIONS_SHEET] + [SHEET_OF_FORM[k] for k in kinds]
        assert templates[level].active.title == INSTRUCTIONS_SHEET
    assert set(ROOT_FORM_TYPES) | set(TRAINING_FORM_TYPES) == set(ALL_FORM_TYPES)


def test_titles_labels_table_titles_and_headers_are_where_the_layout_says(templates):
    for level, kinds in LEVELS.items():
        for kind in kinds:
            ws: Worksheet = templates[level][SHEET_OF_FORM[kind]]
            model = sheet_model(kind)
            assert ws["A1"].value == model.title
            width = max([2] + [len(t.headers) for t in model.tables])
            assert any(str(r) == f"A1:{get_column_letter(width)}1" for r in ws.merged_cells.ranges)
            fields, tables = _layout(kind, lambda t: template_rows(kind, t))
            for cell in model.fields:
                assert ws.cell(fields[cell.path], 1).value == cell.label, (kind, cell.label)
                assert ws.cell(fields[cell.path], 2).value is None
            for table, header, last in tables:
                if not table.plain:
                    assert ws.cell(header - 1, 1).value == table.title
                assert ws.cell(header - 2 if not table.plain else header - 1, 1).value is None  # the empty row
                assert tuple(ws.cell(header, c).value for c in range(1, len(table.headers) + 1)) == table.headers
                assert ws.cell(header, len(table.headers) + 1).value is None
                assert all(ws.cell(r, c).value is None for r in range(header + 1, last + 1)
                           for c in range(1, len(table.headers) + 1))
            assert ws.max_row == (tables[-1][2] if tables else 1 + len(model.fields))


def test_the_template_rows_are_formatted_before_anyone_types(templates):
    """ID and phone cells are text ("@"), date cells dates, in every pre-formatted row."""
    seen_text = set()
    for level, kinds in LEVELS.items():
        for kind in kinds:
            ws = templates[level][SHEET_OF_FORM[kind]]
            fields, tables = _layout(kind, lambda t: template_rows(kind, t))
            for cell in sheet_model(kind).fields:
                assert ws.cell(fields[cell.path], 2).number_format == _format(cell), (kind, cell.label)
            for table, header, last in tables:
                assert last - header == template_rows(kind, table) >= 10
                for column, cell in enumerate(_columns(table), start=1):
                    formats = {ws.cell(r, column).number_format for r in range(header + 1, last + 1)}
                    assert formats == {_format(cell)}, (kind, cell.label)
                    if cell.as_text:
                        seen_text.add(cell.label)
    assert {"身份证号", "联系电话", "培训老师身份证号"} <= seen_text
    assert template_rows("sign_in", sheet_model("sign_in").tables[0]) == 300


def _format(cell: Cell) -> str:
    return TEXT_FORMAT if cell.as_text else DATE_FORMAT if cell.kind == DATE else "General"


def _validations(ws: Worksheet) -> dict[str, str]:
    """{cell coordinate: the list it offers} of every list validation of the sheet."""
    out: dict[str, str] = {}
    for rule in ws.data_validations.dataValidation:
        if rule.type != "list":
            continue
        for rng in rule.sqref.ranges:
            for row in ws.iter_rows(min_row=rng.min_row, max_row=rng.max_row, min_col=rng.min_col,
                                    max_col=rng.max_col):
                for c in row:
                    out[c.coordinate] = rule.formula1
    return out


def test_closed_choices_and_booleans_have_their_drop_down_over_every_row(templates):
    seen: dict[str, str] = {}
    for level, kinds in LEVELS.items():
        for kind in kinds:
            ws = templates[level][SHEET_OF_FORM[kind]]
            lists = _validations(ws)
            fields, tables = _layout(kind, lambda t: template_rows(kind, t))
            expected: dict[str, str] = {}
            for cell in sheet_model(kind).fields:
                if cell.kind in (CHOICE, CHOICES, BOOLEAN):
                    expected[f"B{fields[cell.path]}"] = '"' + ",".join(choice_list(cell)) + '"'
                    seen[cell.label] = expected[f"B{fields[cell.path]}"]
            for table, header, last in tables:
                for column, cell in enumerate(_columns(table), start=1):
                    if cell.kind in (CHOICE, CHOICES, BOOLEAN):
                        for r in range(header + 1, last + 1):
                            expected[ws.cell(r, column).coordinate] = '"' + ",".join(choice_list(cell)) + '"'
                        seen[cell.label] = expected[ws.cell(header + 1, column).coordinate]
            assert lists == expected, kind
    assert seen["理论知识培训方式"] == '"线上,线下,线上、线下"'
    assert seen["培训等级"] == '"初级,中级,高级,技师,高级技师"'
    assert seen["性别"] == '"男,女"' and seen["签到"] == '"是,否"' and seen["同意承诺"] == '"是,否"'
    assert set(seen) >= {"证书等级", "在线签到", "级别", "等级", "实际操作培训方式"}
    sign_in = templates["2"][SHEET_OF_FORM["sign_in"]]
    rule = next(r for r in sign_in.data_validations.dataValidation if r.formula1 == '"是,否"')
    assert str(rule.sqref) == "F7:F306" and rule.showErrorMessage and rule.error


def test_id_columns_warn_when_a_number_is_not_18_characters(templates):
    ws = templates["2"][SHEET_OF_FORM["sign_in"]]
    (rule,) = [r for r in ws.data_validations.dataValidation if r.type == "textLength"]
    assert str(rule.sqref) == "E7:E306" and rule.formula1 == "18" and rule.errorStyle == "warning"


def test_frozen_header_rows_widths_and_print_settings(templates):
    level1, level2 = templates["1"], templates["2"]
    frozen = {name: ws.freeze_panes for wb in (level1, level2) for name, ws in zip(wb.sheetnames, wb.worksheets)}
    assert frozen == {INSTRUCTIONS_SHEET: None, "培训方案": None, "诚信承诺书": None, "培训教师": "A5",
                      "理论培训大纲": "A10", "实操培训大纲": "A10", "签到表": "A7", "线上培训记录": None,
                      "实操设备设施": None}
    for wb in (level1, level2):
        for ws in wb.worksheets:
            setup = ws.page_setup
            assert ws.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth == 1 and setup.fitToHeight == 0
            assert int(setup.paperSize) == int(ws.PAPERSIZE_A4)
            if ws.freeze_panes:  # the header row is printed on every page
                header = int(ws.freeze_panes[1:]) - 1
                assert ws.print_title_rows == f"${header}:${header}"
    assert level1["培训教师"].page_setup.orientation == "landscape"
    assert level2["签到表"].page_setup.orientation == "landscape"
    assert level1["诚信承诺书"].page_setup.orientation == "portrait"
    for wb in (level1, level2):  # every used column shows its longest label or header
        for ws in wb.worksheets[1:]:
            for row in ws.iter_rows(min_row=2):
                for c in row:
                    if isinstance(c.value, str):
                        shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in c.value)
                        assert ws.column_dimensions[c.column_letter].width >= shown, (ws.title, c.value)
    trainers = level1["培训教师"]
    id_column = 1 + sheet_model("trainers").tables[0].headers.index("身份证号")
    assert trainers.column_dimensions[get_column_letter(id_column)].width >= 20  # 18 digits


def test_the_instruction_sheet_explains_every_sheet_label_and_header_in_plain_words(templates):
    for level, kinds in LEVELS.items():
        ws = templates[level][INSTRUCTIONS_SHEET]
        text = "\n".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)
        assert ws["A1"].value == INSTRUCTIONS_SHEET
        assert WORKBOOK_FILE in text and "文本" in text and "下拉" in text and "6.10116E+17" in text
        names = [f"工作表“{SHEET_OF_FORM[k]}”" for k in kinds]
        positions = [text.index(name) for name in names]
        assert positions == sorted(positions)
        items = [row[0].value for row in ws.iter_rows(min_row=2)
                 if row[1].value in ("必填", "选填") and row[0].value != "项目"]
        expected = [label for kind in kinds for label in
                    [c.label for c in sheet_model(kind).fields]
                    + [c.label for t in sheet_model(kind).tables for c in _columns(t)]]
        assert items == expected
        sheets_part = text[positions[0]:].lower()  # the schema's words, as the clerk reads them
        for word in ("json", "null", "true", "false", "online", "offline", "form_"):
            assert word not in sheets_part, word
        assert ws.page_setup.fitToWidth == 1
    plan_help = {row[0].value: row[2].value for row in templates["1"][INSTRUCTIONS_SHEET].iter_rows(min_row=2)
                 if row[1].value in ("必填", "选填")}
    assert "线上、线下" in plan_help["理论知识培训方式"] and "2026-11-20" in plan_help["培训开始日期"]
    assert "可以空着" in plan_help["线上培训平台"]


def test_the_template_is_the_same_bytes_each_time(tmp_path):
    one = write_template(tmp_path / "a.xlsx", "2").read_bytes()
    two = write_template(tmp_path / "b.xlsx", "2").read_bytes()
    assert one == two
    with pytest.raises(ValueError):
        write_template(tmp_path / "c.xlsx", "3")
    custom = load_workbook(write_template(tmp_path / "d.xlsx", ["sign_in", "trainers"]))
    assert custom.sheetnames == [INSTRUCTIONS_SHEET, "签到表", "培训教师"]


# ---------------------------------------------------------------------------------------
# filled from JSON


def _from_cell(cell: Cell, value: Any) -> Any:
    """The JSON value of a written cell, by the layout's rules (what the reader does)."""
    back = {v: k for k, v in CHOICE_LABELS.items()}
    if cell.kind == DATE and isinstance(value, datetime):
        return value.date().isoformat()
    if cell.kind == BOOLEAN:
        return {"是": True, "否": False}[value]
    if cell.kind == CHOICE:
        return back.get(value, value)
    if cell.kind == CHOICES:
        return [back.get(v, v) for v in value.split("、")]
    return value


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _read_back(ws: Worksheet, kind: str) -> dict[str, Any]:
    """The form of a sheet written by write_workbook, read by position (the layout exactly:
    label in A, value in B; table title, header, one row per entry, an empty row)."""
    model = sheet_model(kind)
    form: dict[str, Any] = {"form": kind, "version": 1}
    for n, cell in enumerate(model.fields):
        assert ws.cell(2 + n, 1).value == cell.label
        value = ws.cell(2 + n, 2).value
        if value is not None:
            _put(form, cell.path, _from_cell(cell, value))
    row = 1 + len(model.fields)
    for table in model.tables:
        row += 2 if table.plain else 3
        if not table.plain:
            assert ws.cell(row - 1, 1).value == table.title
        assert tuple(ws.cell(row, c).value for c in range(1, len(table.headers) + 1)) == table.headers
        entries: list[Any] = []
        while any(ws.cell(row + 1, c).value is not None for c in range(1, len(table.headers) + 1)):
            row += 1
            values = [ws.cell(row, c).value for c in range(1, len(table.headers) + 1)]
            if table.plain:
                entries.append(values[0])
                continue
            entry: dict[str, Any] = {}
            for cell, value in zip(table.columns, values):
                if value is not None:
                    _put(entry, cell.path, _from_cell(cell, value))
            if table.inner:
                sub: dict[str, Any] = {}
                for cell, value in zip(table.inner.columns, values[len(table.columns):]):
                    if value is not None:
                        _put(sub, cell.path, _from_cell(cell, value))
                if entries and all(entries[-1].get(c.path[0]) == entry.get(c.path[0]) for c in table.columns):
                    entries[-1][table.inner.path[0]].append(sub)  # the same session, its next trainee
                    continue
                entry[table.inner.path[0]] = [sub]
            entries.append(entry)
        _put(form, table.path, entries)
    return form


def _without_blanks(value: Any) -> Any:
    """Optional values left blank ("" or null) are an empty cell: the same as absent."""
    if isinstance(value, dict):
        return {k: _without_blanks(v) for k, v in value.items() if v not in ("", None)}
    if isinstance(value, list):
        return [_without_blanks(v) for v in value]
    return value


def _by_folder(forms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, form in forms.items():
        out.setdefault(path.rpartition("/")[0], {})[form["form"]] = form
    return out


@pytest.mark.parametrize("trainings, theory, practice", [
    ([("育婴师", "初级", 20)], ["offline"], ["offline"]),
    ([("育婴师", "初级", 20), ("车工", "中级", 12)], ["online", "offline"], ["offline"]),
    ([("电工", "技师", 3)], ["online"], ["online"]),
], ids=["offline", "two-trainings-both", "all-online"])
def test_every_value_of_the_example_is_in_its_cell(tmp_path, trainings, theory, practice):
    forms = example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, trainings, theory, practice)
    for n, (folder, folder_forms) in enumerate(_by_folder(forms).items()):
        wb = load_workbook(write_workbook(tmp_path / f"{n}.xlsx", folder_forms))
        assert wb.sheetnames == [INSTRUCTIONS_SHEET] + [SHEET_OF_FORM[k] for k in ALL_FORM_TYPES if k in folder_forms]
        for kind, form in folder_forms.items():
            ws = wb[SHEET_OF_FORM[kind]]
            fields, tables = _layout(kind, lambda t: len(_rows_of(form, t)))
            assert ws.max_row == (tables[-1][2] if tables else 1 + len(fields))  # nothing below
            assert _read_back(ws, kind) == _without_blanks(form), (folder, kind)


def _rows_of(form: dict[str, Any], table: Table) -> list[Any]:
    entries = form
    for key in table.path:
        entries = entries[key]
    if table.inner is None:
        return list(entries)
    return [sub for entry in entries for sub in entry[table.inner.path[0]]]


def test_values_are_typed_as_the_sheet_shows_them(tmp_path):
    forms = example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, [("育婴师", "初级", 5)], ["offline", "online"],
                                 ["offline"])
    root = load_workbook(write_workbook(tmp_path / "1.xlsx", _by_folder(forms)[""]))
    plan = forms["培训方案.json"]
    ws = root["培训方案"]
    labels = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(2, 14)}
    assert labels["培训开始日期"].value == datetime.fromisoformat(plan["start_date"])
    assert labels["培训开始日期"].number_format == DATE_FORMAT
    assert labels["联系电话"].value == plan["institution"]["contact_phone"]
    assert labels["联系电话"].data_type == "s" and labels["联系电话"].number_format == TEXT_FORMAT
    assert labels["理论知识培训方式"].value == "线下、线上" and labels["实际操作培训方式"].value == "线下"
    assert labels["培训学时"].value == plan["total_hours"] and labels["备注"].value is None
    pledge = root["诚信承诺书"]
    assert [pledge.cell(r, 2).value for r in range(2, 7) if pledge.cell(r, 1).value == "同意承诺"] == ["是"]
    sign_in = load_workbook(write_workbook(tmp_path / "2.xlsx", _by_folder(forms)["育婴师初级"]))["签到表"]
    session = forms["育婴师初级/签到表.json"]["sessions"][0]
    first = [c.value for c in sign_in[7]]
    assert first[:6] == [datetime.fromisoformat(session["date"]), session["location"], 1,
                         session["trainees"][0]["name"], session["trainees"][0]["id_number"], "是"]
    assert sign_in["E7"].number_format == TEXT_FORMAT and sign_in["A7"].number_format == DATE_FORMAT
    assert [c.value for c in sign_in[8]][:2] == first[:2]  # the session's date and place on each of its rows
    assert _validations(sign_in)["F7"] == '"是,否"'


def test_values_breaking_the_schema_are_written_as_they_are(tmp_path):
    form = {"form": "sign_in", "version": 1, "occupation": "=1+1", "level": "五级",
            "sessions": [{"date": "2026-02-30", "location": 12, "trainees": [
                {"seq": "一", "name": "张三", "id_number": 610102199001011234, "signed": "yes", "remarks": None}]},
                {"date": "2026/10/09", "location": "教室", "trainees": []}]}
    ws = load_workbook(write_workbook(tmp_path / "x.xlsx", {"sign_in": form}))["签到表"]
    assert ws["B2"].value == "=1+1" and ws["B2"].data_type == "s"  # a text, never a formula
    assert ws["B3"].value == "五级"
    assert [c.value for c in ws[7]][:4] + [c.value for c in ws[7]][5:] == ["2026-02-30", 12, "一", "张三", "yes", None]
    assert ws["E7"].data_type == "n"  # a number stays a number (and loses its digits, as in Excel)
    assert [c.value for c in ws[8]][:3] == ["2026/10/09", "教室", None]  # a session without trainees: its row
    with pytest.raises(ValueError, match="签到表!B2"):
        write_workbook(tmp_path / "y.xlsx", {"sign_in": {**form, "occupation": "a\x01b"}})
    with pytest.raises(ValueError):
        workbook_bytes({"no_such_form": {}})


def test_a_sign_in_sheet_of_2000_trainees_is_written_quickly(tmp_path):
    forms = example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, [("育婴师", "初级", 2000)], ["offline"],
                                 ["offline"])
    sign_in = forms["育婴师初级/签到表.json"]
    one_day = {**sign_in, "sessions": sign_in["sessions"][:1]}
    started = time.perf_counter()
    path = write_workbook(tmp_path / "big.xlsx", {"sign_in": one_day})
    assert time.perf_counter() - started < 10
    ws = load_workbook(path, read_only=True)["签到表"]
    assert ws.max_row == 6 + 2000


def test_the_filled_workbook_is_the_same_bytes_each_time():
    forms = _by_folder(example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, [("育婴师", "初级", 5)],
                                            ["offline"], ["offline"]))[""]
    assert workbook_bytes(forms) == workbook_bytes(forms)
    assert workbook_bytes(forms, stamp=datetime(2026, 11, 20, 9)) != workbook_bytes(forms)


# ---------------------------------------------------------------------------------------
# the commands


def test_pipeline_template_writes_both_workbooks_and_a_guide_once(tmp_path):
    result = run_cli("template", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    level1 = tmp_path / "out" / TEMPLATE_FOLDERS["1"] / WORKBOOK_FILE
    level2 = tmp_path / "out" / TEMPLATE_FOLDERS["2"] / WORKBOOK_FILE
    assert load_workbook(level1).sheetnames[1:] == [SHEET_OF_FORM[k] for k in ROOT_FORM_TYPES]
    assert load_workbook(level2).sheetnames[1:] == [SHEET_OF_FORM[k] for k in TRAINING_FORM_TYPES]
    guide = (tmp_path / "out" / "README.txt").read_text(encoding="utf-8-sig")
    assert TEMPLATE_FOLDERS["1"] in guide and TEMPLATE_FOLDERS["2"] in guide and INSTRUCTIONS_SHEET in guide
    before = level1.read_bytes()
    again = run_cli("template", str(tmp_path / "out"))
    assert again.returncode == 2 and "already exists" in again.stderr and level1.read_bytes() == before
    default = run_cli("template", cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / "表单模板" / TEMPLATE_FOLDERS["2"] / WORKBOOK_FILE).is_file()
    assert "settings: none" in run_cli("template", "--help").stdout


def test_pipeline_forms_to_xlsx_fills_a_workbook_from_a_folders_json_forms(tmp_path):
    forms = example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, [("育婴师", "初级", 8)], ["online"],
                                 ["offline"])
    folder = tmp_path / "育婴师初级"
    folder.mkdir()
    training = _by_folder(forms)["育婴师初级"]
    for kind, form in training.items():
        data = json.dumps(form, ensure_ascii=False).encode("utf-8")
        (folder / FILE_NAME_OF_FORM[kind]).write_bytes(b"\xef\xbb\xbf" + data if kind == "sign_in" else data)
    out = tmp_path / "表单.xlsx"
    result = run_cli("forms", "to-xlsx", str(folder), str(out))
    assert result.returncode == 0, result.stderr
    wb = load_workbook(out)
    assert wb.sheetnames == [INSTRUCTIONS_SHEET] + [SHEET_OF_FORM[k] for k in TRAINING_FORM_TYPES if k in training]
    for kind, form in training.items():
        assert _read_back(wb[SHEET_OF_FORM[kind]], kind) == _without_blanks(form)
    assert run_cli("forms", "to-xlsx", str(folder), str(out)).returncode == 2  # never replaced unasked
    assert run_cli("forms", "to-xlsx", str(folder), str(out), "--force").returncode == 0
    assert run_cli("forms", "to-xlsx", str(tmp_path / "nowhere"), str(tmp_path / "a.xlsx")).returncode == 2
    (folder / "签到表.json").write_text("{broken", encoding="utf-8")
    broken = run_cli("forms", "to-xlsx", str(folder), str(tmp_path / "b.xlsx"))
    assert broken.returncode == 2 and "签到表.json" in broken.stderr and not (tmp_path / "b.xlsx").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("forms", "to-xlsx", str(empty), str(tmp_path / "c.xlsx")).returncode == 2
    assert "settings: none" in run_cli("forms", "to-xlsx", "--help").stdout


def test_pipeline_example_workbook_writes_one_workbook_per_folder_instead_of_json(tmp_path):
    result = run_cli("example", str(tmp_path), "--workbook", "--online", "--date", "2026-11-20",
                     "--training", "育婴师:初级:6", "--training", "车工:中级:4")
    assert result.returncode == 0, result.stderr
    root = tmp_path / f"{example.DEFAULT_INSTITUTION}20261120"
    assert not list(root.rglob("*.json"))
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.xlsx")) == [
        f"育婴师初级/{WORKBOOK_FILE}", WORKBOOK_FILE, f"车工中级/{WORKBOOK_FILE}"]
    forms = example.sample_forms(example.DEFAULT_INSTITUTION, REPORT, [("育婴师", "初级", 6), ("车工", "中级", 4)],
                                 ["online"], ["offline"])
    for folder, folder_forms in _by_folder(forms).items():
        wb = load_workbook(root / folder / WORKBOOK_FILE)
        assert wb.sheetnames[0] == INSTRUCTIONS_SHEET
        assert {SHEET_OF_FORM[k] for k in folder_forms} == set(wb.sheetnames[1:])
        for kind, form in folder_forms.items():
            assert _read_back(wb[SHEET_OF_FORM[kind]], kind) == _without_blanks(form)
    guide = (tmp_path / "README.txt").read_text(encoding="utf-8-sig")
    assert WORKBOOK_FILE in guide and INSTRUCTIONS_SHEET in guide and ".json" not in guide
    files = example.package_files(report_date=REPORT, workbook=True)
    assert files == example.package_files(report_date=REPORT, workbook=True)  # byte for byte
    # and the checker takes it as it takes the JSON example: accepted, no warning
    check = run_cli("check", "--json", "--today", "2026-11-27", str(tmp_path / f"{root.name}.zip"))
    assert check.returncode == 0, check.stdout + check.stderr
    document = json.loads(check.stdout.splitlines()[0])
    assert document["status"] == "accepted" and document["warnings"] == []
    assert len(document["forms_read"]) == len(forms)  # every form, read from its sheet
