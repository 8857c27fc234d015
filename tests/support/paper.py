"""Packages for the paper-forms page (pipeline/web/paper.py), decided on a web test site
(tests/support/websites.py): forms in a workbook, a rejected package with a broken and a
missing form, one that is not a ZIP; and the personal numbers a package's forms hold."""

from __future__ import annotations

import json
from typing import Any

from pipeline.check.contract import OFFLINE, ONLINE
from pipeline.kit.example import package_files, sample_forms, zip_package
from tests.support.integrity import FOLDER, REPORT_DATE, TRAINING, package
from tests.support.stores import RAR
from tests.support.websites import Site

#: the institution (account "other" in the site's registry) whose package has workbook forms
WORKBOOK_INSTITUTION = "东方职业培训学校"


#: the modes of the workbook package: theory online and offline (an online record too)
WORKBOOK_MODES = ((OFFLINE, ONLINE), (OFFLINE,))


def workbook_forms() -> dict[str, Any]:
    """The forms the workbook package's sheets hold, as JSON (``{path: form}``): the
    example's forms are made alike on every call."""
    return sample_forms(WORKBOOK_INSTITUTION, REPORT_DATE, [TRAINING], *WORKBOOK_MODES)


def decide_paper_packages(site: Site) -> dict[str, str]:
    """Decide the paper page's packages on ``site``; their receipt ids by name:
    ``workbook`` (东方's forms in 表单.xlsx, theory online and offline: an online record
    too), ``broken`` (星火's, rejected: 签到表.json not JSON, 诚信承诺书.json missing, the
    theory outline with values of shapes its schema refuses, the plan's remarks quoting a
    trainee's ID number) and ``not_zip`` (a RAR)."""
    files = package_files(WORKBOOK_INSTITUTION, REPORT_DATE, [TRAINING], *WORKBOOK_MODES, workbook=True)
    root = f"{WORKBOOK_INSTITUTION}{REPORT_DATE:%Y%m%d}"
    receipts = {"workbook": site.decide("other", f"{root}.zip", zip_package(root, files))}
    broken = package("新城区星火职业培训学校", 11)
    plan = broken.form("培训方案.json")
    plan["remarks"] = f"学员 {broken.first_trainee()['name']}（{broken.first_trainee()['id_number']}）补训一次"
    broken.put_form("培训方案.json", plan)
    broken.files[f"{FOLDER}/签到表.json"] = b'{"form": "sign_in", "version": 1, "sessions": [\n'
    outline = broken.form(f"{FOLDER}/理论培训大纲.json")  # values of shapes the schema refuses
    outline["sessions"][1].update(teacher="张老师", hours=[4])
    outline["sessions"].append("第九课 复习")
    broken.put_form(f"{FOLDER}/理论培训大纲.json", outline)
    del broken.files["诚信承诺书.json"]
    receipts["broken"] = site.decide("xinghuo", "星火职业培训学校20261120-补.zip", broken.zip())
    receipts["not_zip"] = site.decide("xinghuo", "星火职业培训学校20261120.rar.zip", RAR)
    return receipts


def id_numbers(forms: dict[str, Any]) -> set[str]:
    """Every 身份证号 in a package's forms (``{path: form}``): what the reveal shows."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "id_number" and isinstance(item, str):
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(forms)
    return found


def json_forms(files: dict[str, bytes]) -> dict[str, Any]:
    """The JSON forms among a package's files, parsed."""
    return {path: json.loads(data) for path, data in files.items() if path.endswith(".json")}
