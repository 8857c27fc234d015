"""The workbooks through LibreOffice (issue 16, point 5): the template opened and saved by
LibreOffice Calc keeps its drop-down lists and its text and date formats, and a filled
workbook saved by LibreOffice reads back as the same forms and passes the check. Debian's
headless Calc (`make office-deps`), as a clerk's LibreOffice or WPS would save them."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import openpyxl

from pipeline.check.assess import assess
from pipeline.check.contract import FILE_NAME_OF_FORM, ROOT_FORM_TYPES, TRAINING_FORM_TYPES
from pipeline.check.documents import Source, build_document
from pipeline.check.policy import load_policy
from pipeline.check.workbook import read_workbook
from pipeline.kit.workbook import workbook_bytes, write_template
from tests.support.packages import PackageBuilder

KIND_OF = {name: kind for kind, name in FILE_NAME_OF_FORM.items()}


def saved_by_libreoffice(source: Path, tmp_path: Path) -> Path:
    """``source`` opened and saved again as .xlsx by LibreOffice Calc (headless), as a file
    a clerk saved in LibreOffice."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is installed by `make office-deps` (make test does it)"
    out = tmp_path / "saved"
    out.mkdir(exist_ok=True)
    result = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                             "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(source)],
                            capture_output=True, text=True, timeout=120)
    saved = out / source.name
    assert result.returncode == 0 and saved.exists(), result.stdout + result.stderr
    assert b"LibreOffice" in zipfile.ZipFile(saved).read("docProps/app.xml")  # written by LibreOffice
    return saved


def _validations(ws) -> dict[str, str]:
    return {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}


def test_the_template_keeps_its_drop_downs_and_formats_through_libreoffice(tmp_path: Path):
    original = write_template(tmp_path / "表单.xlsx", "2")
    saved = saved_by_libreoffice(original, tmp_path)
    before, after = openpyxl.load_workbook(original), openpyxl.load_workbook(saved)
    assert after.sheetnames == before.sheetnames
    for name in before.sheetnames[1:]:
        assert _validations(after[name]) == _validations(before[name]), name  # every drop-down list
    sign_in = after["签到表"]
    header = next(row for row in sign_in.iter_rows() if any(c.value == "身份证号" for c in row))
    columns = {c.value: c.column_letter for c in header}
    first = header[0].row + 1
    assert sign_in[f"{columns['身份证号']}{first}"].number_format == "@"  # text before anyone types
    assert "yy" in sign_in[f"{columns['培训日期']}{first}"].number_format  # a date cell


def test_forms_saved_by_libreoffice_read_back_the_same_and_pass(tmp_path: Path):
    b = PackageBuilder(theory_mode=["offline", "online"])
    books: dict[str, dict] = {}
    for path in list(b.forms):
        folder, _, name = path.rpartition("/")
        books.setdefault(folder, {})[KIND_OF[name]] = b.forms[path]
        b.remove(path)
    for folder, forms in books.items():
        written = tmp_path / (folder or "root") / "表单.xlsx"
        written.parent.mkdir(parents=True)
        written.write_bytes(workbook_bytes(forms))
        saved = saved_by_libreoffice(written, written.parent)
        found = read_workbook(saved, "x/表单.xlsx", ROOT_FORM_TYPES if not folder else TRAINING_FORM_TYPES)
        assert found.problems == [] and {k: f.value for k, f in found.forms.items()} == forms
        b.add(f"{folder}/表单.xlsx" if folder else "表单.xlsx", saved.read_bytes())
    zip_path = b.to_zip(tmp_path / "新城区星火职业培训学校20261120.zip")
    findings = assess(zip_path, zip_path.name, load_policy(), tmp_path / "work", date(2026, 11, 27))
    now = datetime.now(timezone.utc)
    doc = build_document(findings, receipt_id="R20261127-00000000", source=Source("check", zip_path.name),
                         received_at=now, decided_at=now)
    assert doc["status"] == "accepted" and doc["warnings"] == [], doc["errors"]
