"""Folder hierarchy and names (spec section 2, naming rules of section 3): the layout
and every HIER_* / NAME_* / MEDIA_COUNT rule, on packages built by tests/support/packages.py."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path

import pytest

from pipeline.check.assess import assess
from pipeline.check.catalogue import CATALOGUE, Problem, Severity
from pipeline.check.rules import default_checks
from pipeline.check.view import PackageView, run_checks
from pipeline.check.rules.hierarchy import HIERARCHY_CHECKS, check_hierarchy
from pipeline.check.contract import PHOTO, VIDEO
from pipeline.check.layout import canonical_training, parse_root_date, split_level
from pipeline.check.package_reader import read_package
from pipeline.check.policy import Policy, load_policy
from tests.support.packages import PackageBuilder

TODAY = date(2026, 11, 27)
INST = "新城区星火职业培训学校"
ROOT = INST + "20261120"
# Messages are asserted only to be Chinese (what a clerk reads); their wording is pinned
# once per code in tests/test_catalogue.py, the facts here through codes and parameters.
CJK = re.compile(r"[\u4e00-\u9fff]")


def view_of(b: PackageBuilder, tmp_path: Path, *, flat: bool = False, zip_name: str | None = None,
            today: date = TODAY, policy: Policy | None = None) -> PackageView:
    name = zip_name or "upload.zip"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = b.to_zip(tmp_path / name, flat=flat)
    policy = policy or load_policy()
    contents = read_package(path, tmp_path / "work", policy.zip)
    assert contents.problems == ()
    return PackageView(name=name, contents=contents, policy=policy, today=today)


def problems_of(b: PackageBuilder, tmp_path: Path, **kwargs) -> list[Problem]:
    view = view_of(b, tmp_path, **kwargs)
    return run_checks(view, HIERARCHY_CHECKS)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, (code, [(p.code, p.message) for p in problems])
    return found[0]


def with_media(**rules) -> Policy:
    """The default policy with some of its media rules changed."""
    default = load_policy()
    return dataclasses.replace(default, media=dataclasses.replace(default.media, **rules))


# ---------------------------------------------------------------------------------------
# correct packages and the layout


def test_correct_package_passes(tmp_path):
    assert problems_of(PackageBuilder(), tmp_path) == []


def test_correct_package_with_two_trainings_and_online_mode_passes(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "高级技师", 8)],
                       theory_mode=["online", "offline"], practice_mode=["offline"], screenshots=20)
    assert "车工高级技师/线上培训截图20.png" in b.files
    assert problems_of(b, tmp_path) == []


def test_assess_with_default_checks_runs_the_hierarchy_checks(tmp_path):
    assert list(default_checks()[:len(HIERARCHY_CHECKS)]) == list(HIERARCHY_CHECKS)
    b = PackageBuilder()
    b.remove("育婴师初级/实操")
    path = b.to_zip(tmp_path / f"{ROOT}.zip")
    findings = assess(path, path.name, load_policy(), tmp_path / "work", TODAY)
    assert codes(findings.problems) == ["HIER_SECTION_MISSING"]
    assert findings.problems[0].path == f"{ROOT}/育婴师初级/实操"
    assert not (tmp_path / "work").exists()


def test_layout_of_a_correct_package(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 12)],
                       theory_mode=["online"], practice_mode=["offline"])
    view = view_of(b, tmp_path)
    lay = view.layout
    assert view.layout is lay  # computed once
    assert (lay.root_prefix, lay.root_name, lay.root_ok, lay.flat) == (ROOT + "/", ROOT, True, False)
    assert (lay.name_institution, lay.name_date, lay.report_date) == (INST, "20261120", date(2026, 11, 20))
    assert lay.institution == lay.plan_institution == INST
    assert lay.plan is not None and lay.plan["form"] == "training_plan" and lay.plan_problem is None
    assert [(t.occupation, t.level, t.trainees, t.folder) for t in lay.trainings] == [
        ("育婴师", "初级", 20, "育婴师初级"), ("车工", "中级", 12, "车工中级")]
    assert (lay.theory_mode, lay.practice_mode) == (("online",), ("offline",))
    assert lay.training_folders == ("育婴师初级", "车工中级")
    assert lay.training("车工中级") == lay.trainings[1] and lay.training("车工四级") is None
    assert len(lay.media) == 2 * 2 * (5 + 3)
    m = next(m for m in lay.media if m.file.path.endswith("车工中级实操3.mp4"))
    assert (m.training_folder, m.section, m.kind, m.number, m.name) == (
        "车工中级", "实操", VIDEO, 3, "车工中级实操3.mp4")
    assert lay.relative(m.file) == "车工中级/实操/车工中级实操3.mp4"
    assert lay.file_at("车工中级/实操/车工中级实操3.mp4") is m.file
    assert lay.file_at("车工中级/实操/车工中级实操3.MP4") is m.file  # extension in any case
    assert lay.file_at("车工中级/实操/车工中级实操4.mp4") is None
    assert lay.subfolders("") == ("育婴师初级", "车工中级")
    assert lay.subfolders("育婴师初级") == ("实操", "理论")
    assert [lay.relative(f) for f in lay.files_in("")] == [
        "培训教师.json", "培训方案.json", "诚信承诺书.json", "诚信承诺书.pdf"]
    assert all(f.path.startswith(ROOT + "/") for f in lay.files)


def test_layout_media_numbers_follow_the_folder_they_lie_in(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("理论", 1), "育婴师初级/理论/育婴师初级实操1.jpg")
    b.rename(b.media("理论", 2), "育婴师初级/理论/育婴师初级理论02.jpg")
    b.rename(b.media("理论", 3), "育婴师初级/理论/育婴师初级理论3.JPEG")
    b.add("育婴师初级/理论/extra.png")
    lay = view_of(b, tmp_path).layout
    numbers = {m.name: (m.kind, m.number) for m in lay.media if m.section == "理论"}
    assert numbers["育婴师初级实操1.jpg"] == (PHOTO, None)
    assert numbers["育婴师初级理论02.jpg"] == (PHOTO, None)
    assert numbers["育婴师初级理论3.JPEG"] == (PHOTO, 3)
    assert numbers["育婴师初级理论3.mp4"] == (VIDEO, 3)
    assert "extra.png" not in numbers  # only .jpg/.jpeg/.mp4 are media candidates


def test_plan_with_bom_is_read(tmp_path):
    b = PackageBuilder()
    b.replace("培训方案.json", b"\xef\xbb\xbf" + json.dumps(b.plan, ensure_ascii=False).encode())
    view = view_of(b, tmp_path)
    assert view.layout.plan_institution == INST
    assert run_checks(view, HIERARCHY_CHECKS) == []


def test_plan_rows_that_are_malformed_are_skipped(tmp_path):
    b = PackageBuilder()
    b.plan["trainings"].append({"occupation": 3, "level": "初级"})
    b.plan["trainings"].append("车工中级")
    lay = view_of(b, tmp_path).layout
    assert [t.folder for t in lay.trainings] == ["育婴师初级"]


def test_name_helpers():
    assert split_level("育婴师五级") == ("育婴师", "初级", "五级")
    assert split_level("车工高级技师") == ("车工", "高级技师", "高级技师")
    assert split_level("车工技师") == ("车工", "技师", "技师")
    assert split_level("车工高级工") == ("车工", "高级", "高级工")
    assert split_level("新建文件夹") is None and split_level("初级") is None
    assert canonical_training("电工 一级") == "电工高级技师"
    assert canonical_training("电工二级") == "电工技师"
    assert parse_root_date("星火20261120") == ("星火", "20261120", date(2026, 11, 20))
    assert parse_root_date("星火2026-11-20") == ("星火", "2026-11-20", date(2026, 11, 20))
    assert parse_root_date("星火2026年1月5日") == ("星火", "2026年1月5日", date(2026, 1, 5))
    assert parse_root_date("星火20261301") == ("星火", "20261301", None)
    assert parse_root_date("星火") is None and parse_root_date("星火2026/11/20") is None


# ---------------------------------------------------------------------------------------
# level 1: HIER_ROOT, flat archives, HIER_ROOT_NAME


def test_file_beside_the_top_folder_is_hier_root_once_and_checks_go_on(tmp_path):
    b = PackageBuilder()
    b.add_outside("说明.txt")
    b.remove("育婴师初级/理论")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_ROOT", "HIER_SECTION_MISSING"]
    p = problems[0]
    assert sorted(p.params["entries"]) == sorted([f"{ROOT}/", "说明.txt"]) and p.params["wrapper"] == ""
    assert CJK.search(p.message)  # kept: the clerk's text is Chinese (wording: test_catalogue)
    assert p.path == "" and p.params["example"] == ROOT


def test_two_top_folders_is_hier_root_and_the_one_with_the_plan_is_checked(tmp_path):
    b = PackageBuilder()
    b.add_outside("备份/育婴师初级理论1.jpg")
    view = view_of(b, tmp_path)
    assert (view.layout.root_name, view.layout.root_ok) == (ROOT, False)
    problems = run_checks(view, HIERARCHY_CHECKS)
    assert codes(problems) == ["HIER_ROOT"]
    assert sorted(problems[0].params["entries"]) == sorted([f"{ROOT}/", "备份/"])


def test_of_several_level1_folders_the_one_holding_most_of_the_package_is_checked(tmp_path):
    """A near-empty folder named to sort first (an earlier attempt, holding only a plan)
    must not hide the real package beside it: the fuller folder is checked, and named."""
    b = PackageBuilder()
    b.add_outside("0旧版/培训方案.json", b.build()[f"{ROOT}/培训方案.json"])
    view = view_of(b, tmp_path)
    assert (view.layout.root_name, view.layout.root_ok) == (ROOT, False)
    problems = run_checks(view, HIERARCHY_CHECKS)
    assert codes(problems) == ["HIER_ROOT"]
    assert problems[0].params["checked_folder"] == ROOT and ROOT in problems[0].params["checked"]


def test_of_equally_full_top_folders_the_one_with_the_plan_then_the_first_by_name_is_checked(tmp_path):
    b = PackageBuilder()
    b.add_outside("a/x.txt")
    b.add_outside("b/y.txt")
    view = view_of(b, tmp_path)
    assert view.layout.root_name == ROOT  # the package itself holds the most
    lone = PackageBuilder()
    lone.files.clear()
    lone.add_outside("b/y.txt")
    lone.add_outside("a/x.txt")
    assert view_of(lone, tmp_path / "lone", zip_name="x.zip").layout.root_name == "a"


def test_level1_folder_wrapped_in_another_folder(tmp_path):
    b = PackageBuilder()
    files = b.build()
    b2 = PackageBuilder()
    b2.files.clear()
    for path, data in files.items():
        b2.add_outside("新建文件夹/" + path, data)
    view = view_of(b2, tmp_path, zip_name="upload.zip")
    assert (view.layout.root_prefix, view.layout.root_ok) == (f"新建文件夹/{ROOT}/", False)
    problems = run_checks(view, HIERARCHY_CHECKS)
    assert codes(problems) == ["HIER_ROOT"]
    assert problems[0].params["wrapper"] == "新建文件夹/"  # named as a wrapper, not as entries


def test_flat_archive_uses_the_zip_name(tmp_path):
    view = view_of(PackageBuilder(), tmp_path, flat=True, zip_name=f"{ROOT}.zip")
    lay = view.layout
    assert (lay.root_prefix, lay.root_name, lay.root_ok, lay.flat) == ("", ROOT, True, True)
    assert lay.report_date == date(2026, 11, 20)
    assert run_checks(view, HIERARCHY_CHECKS) == []


def test_flat_archive_with_a_wrong_zip_name(tmp_path):
    problems = problems_of(PackageBuilder(), tmp_path, flat=True, zip_name="材料.zip")
    p = only(problems, "HIER_ROOT_NAME")
    assert codes(problems) == ["HIER_ROOT_NAME"]
    assert p.params["name"] == "材料" and p.params["flat"] is True  # the ZIP's name stands in
    assert p.params["faults"] == ["date_missing", "institution_mismatch"]
    assert p.params["plan_institution"] == INST and p.params["example"] == f"{INST}20261127"
    # the clerk compressed the folder's contents: the fix is the folder itself, or the ZIP's name
    assert p.params["fault"] == "flat_archive" and p.hint == CATALOGUE["HIER_ROOT_NAME"].causes["flat_archive"].hint.format(
        example=f"{INST}20261127")


def test_a_wrong_folder_name_keeps_the_folder_hint(tmp_path):
    b = PackageBuilder(date="")
    p = only(problems_of(b, tmp_path), "HIER_ROOT_NAME")
    assert p.params["fault"] == "folder_name" and p.params["flat"] is False
    assert p.hint == CATALOGUE["HIER_ROOT_NAME"].hint.format(example=f"{INST}20261127")


def test_flat_archive_with_only_training_folders_is_flat_without_a_plan(tmp_path):
    b = PackageBuilder()
    for form in ("培训方案.json", "诚信承诺书.json", "培训教师.json", "诚信承诺书.pdf"):
        b.remove(form)
    view = view_of(b, tmp_path, flat=True, zip_name=f"{ROOT}.zip")
    assert (view.layout.root_prefix, view.layout.root_ok, view.layout.plan) == ("", True, None)
    assert codes(run_checks(view, HIERARCHY_CHECKS)) == ["FORM_MISSING", "W_PLEDGE_SCAN"]


@pytest.mark.parametrize("written, day", [
    ("20261120", date(2026, 11, 20)),
    ("2026-11-20", date(2026, 11, 20)),
    ("2026年11月20日", date(2026, 11, 20)),
    ("2026年1月5日", date(2026, 1, 5)),
    ("20261127", TODAY),  # the day of checking itself is not in the future
])
def test_the_three_date_spellings_are_accepted(tmp_path, written, day):
    view = view_of(PackageBuilder(date=written), tmp_path)
    assert view.layout.report_date == day and view.layout.name_institution == INST
    assert run_checks(view, HIERARCHY_CHECKS) == []


@pytest.mark.parametrize("written, fault, date_read", [
    ("20261301", "date_invalid", "20261301"),
    ("2026-02-30", "date_invalid", "2026-02-30"),
    ("20261128", "date_future", "20261128"),
    ("", "date_missing", ""),
    ("2026.11.20", "date_missing", ""),
])
def test_bad_dates_are_hier_root_name(tmp_path, written, fault, date_read):
    b = PackageBuilder(date=written)
    p = only(problems_of(b, tmp_path), "HIER_ROOT_NAME")
    assert p.params["faults"] == [fault] and p.params["date"] == date_read and p.params["name"] == b.root
    assert p.path == b.root and p.params["example"] == f"{INST}20261127"


def test_other_institution_name_is_hier_root_name(tmp_path):
    b = PackageBuilder()
    b.plan["institution"]["name"] = "旧城区星火职业培训学校"
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_ROOT_NAME"]
    p = problems[0]
    assert p.params["faults"] == ["institution_mismatch"]
    assert (p.params["institution"], p.params["plan_institution"]) == ("新城区星火职业培训学校", "旧城区星火职业培训学校")
    assert p.params["example"] == "旧城区星火职业培训学校20261120"


def test_name_that_is_only_a_date_lacks_the_institution(tmp_path):
    b = PackageBuilder(institution="")
    b.plan["institution"]["name"] = INST
    assert only(problems_of(b, tmp_path), "HIER_ROOT_NAME").params["faults"] == ["institution_missing"]


def test_unreadable_plan_reported_once_and_only_the_date_is_checked(tmp_path):
    b = PackageBuilder(institution="别的名字")
    b.replace("培训方案.json", json.dumps(b.plan, ensure_ascii=False).encode("gbk"))
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["FORM_JSON"]
    assert problems[0].path == "别的名字20261120/培训方案.json" and problems[0].params["fault"] == "not_utf8"

    b = PackageBuilder(institution="别的名字", date="20261232")
    b.replace("培训方案.json", b'{"form": "training_plan",')
    problems = problems_of(b, tmp_path / "2")
    assert codes(problems) == ["HIER_ROOT_NAME", "FORM_JSON"]
    assert problems[0].params["faults"] == ["date_invalid"]  # nothing said of the institution
    assert problems[1].params["fault"] == "syntax"


def test_missing_plan_is_form_missing_once(tmp_path):
    b = PackageBuilder()
    b.remove("培训方案.json")
    view = view_of(b, tmp_path)
    problems = run_checks(view, HIERARCHY_CHECKS)
    assert codes(problems) == ["FORM_MISSING"]
    assert problems[0].path == f"{ROOT}/培训方案.json" and problems[0].params["form"] == "培训方案.json"
    assert view.layout.institution == INST  # from the folder name
    assert view.layout.plan_problem == problems[0]


# ---------------------------------------------------------------------------------------
# level 1 files


def test_pledge_scan_missing_is_a_warning_and_jpg_or_pdf_will_do(tmp_path):
    b = PackageBuilder(pledge_scan=False)
    p = only(problems_of(b, tmp_path), "W_PLEDGE_SCAN")
    assert p.severity is Severity.WARNING and p.path == ROOT and dict(p.params) == {}  # the code says it all
    b.add("诚信承诺书.JPG", b"\xff\xd8\xff")
    assert problems_of(b, tmp_path / "2") == []
    off = dataclasses.replace(load_policy(), severity={"W_PLEDGE_SCAN": "off"})
    assert problems_of(PackageBuilder(pledge_scan=False), tmp_path / "3", policy=off) == []


def test_unexpected_files_at_level1(tmp_path):
    b = PackageBuilder()
    b.add("培训方案.docx")
    b.add("培训方案(1).json")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_UNEXPECTED", "HIER_UNEXPECTED"]
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {f"{ROOT}/培训方案.docx", f"{ROOT}/培训方案(1).json"}
    assert all(CJK.search(p.message) for p in problems)  # kept: Chinese for the clerk
    assert by_path[f"{ROOT}/培训方案.docx"].params["name"] == "培训方案.docx"
    assert by_path[f"{ROOT}/培训方案(1).json"].params["name"] == "培训方案(1).json"


# ---------------------------------------------------------------------------------------
# level 2


def test_folder_of_no_listed_training_is_unknown_once_and_left_alone(tmp_path):
    b = PackageBuilder()
    for n in range(5):
        b.add(f"新建文件夹/子目录/文件{n}.txt")
    problems = problems_of(b, tmp_path)
    p = only(problems, "HIER_LEVEL2_UNKNOWN")
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN"]
    assert p.path == f"{ROOT}/新建文件夹" and p.params["name"] == "新建文件夹"
    assert (p.params["spelling"], p.params["listed"]) == ("", ["育婴师初级"])


@pytest.mark.parametrize("alias", ["五级", "初级工"])
def test_level_alias_folder_names_the_right_spelling(tmp_path, alias):
    b = PackageBuilder()
    b.rename("育婴师初级", f"育婴师{alias}")
    problems = problems_of(b, tmp_path)
    p = only(problems, "HIER_LEVEL2_UNKNOWN")
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN"]  # not also MISSING, nor one per file
    assert p.params["name"] == f"育婴师{alias}" and p.params["spelling"] == "育婴师初级"
    assert p.params["listed"] == []  # the spelling alone: it is a plan training


@pytest.mark.parametrize("typo", ["育婴员初级", "育婴师初级班"])
def test_a_misspelt_training_folder_is_one_error_with_its_right_name(tmp_path, typo):
    b = PackageBuilder()
    b.rename("育婴师初级", typo)  # its 16 photos and videos keep the plan's name
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN"]  # not MISSING, nor a NAME_PATTERN per file
    p = problems[0]
    assert (p.params["name"], p.params["spelling"], p.params["fault"]) == (typo, "育婴师初级", "respell")
    assert p.hint == f"请把文件夹“{typo}”改名为“育婴师初级”，与培训方案一致。"


def test_a_misspelt_folder_is_paired_by_its_file_names_among_several(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 5), ("车工", "中级", 5)])
    b.rename("育婴师初级", "育婴初级")
    b.rename("车工中级", "车二中级")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN", "HIER_LEVEL2_UNKNOWN"]
    assert sorted((p.params["name"], p.params["spelling"]) for p in problems) == [
        ("育婴初级", "育婴师初级"), ("车二中级", "车工中级")]


def test_an_unrelated_folder_is_not_taken_for_a_missing_training(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 5), ("车工", "中级", 5)])
    b.remove("车工中级")
    b.add("其他资料/说明.txt")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN", "HIER_LEVEL2_MISSING"]
    assert problems[0].params["spelling"] == ""


def test_alias_folder_content_is_checked_against_the_right_spelling(tmp_path):
    b = PackageBuilder(trainings=[("车工", "中级", 5)])
    b.rename("车工中级", "车工四级")
    b.rename("车工四级/理论/车工中级理论1.jpg", "车工四级/理论/车工四级理论1.jpg")
    b.remove("车工四级/实操")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_LEVEL2_UNKNOWN", "HIER_SECTION_MISSING", "NAME_PATTERN"]
    assert problems[2].params["example"] == "车工中级理论1.jpg"


def test_unlisted_training_without_alias(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 5)])
    b.plan["trainings"].pop()
    p = only(problems_of(b, tmp_path), "HIER_LEVEL2_UNKNOWN")
    assert p.params["name"] == "车工中级"
    assert (p.params["spelling"], p.params["listed"]) == ("", ["育婴师初级"])


def test_listed_training_without_folder_is_missing(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 5)])
    b.remove("车工中级")
    problems = problems_of(b, tmp_path)
    p = only(problems, "HIER_LEVEL2_MISSING")
    assert codes(problems) == ["HIER_LEVEL2_MISSING"]
    assert p.path == f"{ROOT}/车工中级" and p.params["name"] == "车工中级"


def test_without_a_plan_only_the_form_of_folder_names_is_judged(tmp_path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 5)])
    b.remove("培训方案.json")
    b.rename("车工中级", "车工四级")
    b.add("新建文件夹/a.txt")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["FORM_MISSING", "HIER_LEVEL2_UNKNOWN", "HIER_LEVEL2_UNKNOWN"]
    assert problems[1].params["name"] == "新建文件夹"
    assert (problems[2].params["name"], problems[2].params["spelling"]) == ("车工四级", "车工中级")


def test_section_folder_missing(tmp_path):
    b = PackageBuilder()
    b.remove("育婴师初级/理论")
    b.rename("育婴师初级/实操", "育婴师初级/实操培训")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_SECTION_MISSING", "HIER_SECTION_MISSING", "HIER_UNEXPECTED"]
    assert [p.path for p in problems[:2]] == [f"{ROOT}/育婴师初级/理论", f"{ROOT}/育婴师初级/实操"]
    assert (problems[0].params["training"], problems[0].params["section"]) == ("育婴师初级", "理论")
    assert (problems[0].params["photos"], problems[0].params["videos"]) == (5, 3)
    assert problems[2].path == f"{ROOT}/育婴师初级/实操培训" and problems[2].params["name"] == "育婴师初级/实操培训/"


def test_unexpected_files_and_folders_in_a_training_folder(tmp_path):
    b = PackageBuilder()
    b.add("育婴师初级/签到表.docx")
    b.add("育婴师初级/育婴师初级理论6.jpg")  # media belong in 理论/
    for n in range(4):
        b.add(f"育婴师初级/旧照片/{n}.jpg")
    b.add("育婴师初级/理论/草稿/1.jpg")
    b.add("育婴师初级/理论/草稿/2.jpg")
    b.add("育婴师初级/实操/说明.txt")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["HIER_UNEXPECTED"] * 5
    assert [p.path for p in problems] == [
        f"{ROOT}/育婴师初级/旧照片", f"{ROOT}/育婴师初级/签到表.docx", f"{ROOT}/育婴师初级/育婴师初级理论6.jpg",
        f"{ROOT}/育婴师初级/理论/草稿", f"{ROOT}/育婴师初级/实操/说明.txt"]
    assert problems[1].params["name"] == "育婴师初级/签到表.docx"


def test_forms_and_screenshots_are_allowed_in_a_training_folder(tmp_path):
    b = PackageBuilder(theory_mode=["online"], practice_mode=["online", "offline"], screenshots=0)
    b.add("育婴师初级/实操设备设施.json")
    b.add("育婴师初级/线上培训截图1.PNG")
    b.add("育婴师初级/线上培训截图2.jpg")
    b.add("育婴师初级/线上培训截图20.jpeg")
    assert problems_of(b, tmp_path) == []


@pytest.mark.parametrize("name, fault, example", [
    ("线上培训截图21.png", "number_range", "线上培训截图1.png"),
    ("线上培训截图0.png", "number_range", "线上培训截图1.png"),
    ("线上培训截图.png", "number_missing", "线上培训截图1.png"),
    ("线上培训截图01.png", "leading_zero", "线上培训截图1.png"),
    ("线上培训截图3.gif", "screenshot_ext", "线上培训截图3.png"),
])
def test_misnamed_screenshots(tmp_path, name, fault, example):
    b = PackageBuilder(screenshots=0)
    b.add(f"育婴师初级/{name}")
    p = only(problems_of(b, tmp_path), "NAME_PATTERN")
    assert p.params["faults"] == [fault] and p.params["name"] == name and p.params["example"] == example
    if fault == "number_range":
        assert p.params["max_number"] == 20


def test_screenshot_count_follows_the_policy(tmp_path):
    b = PackageBuilder(screenshots=0)
    b.add("育婴师初级/线上培训截图25.png")
    assert problems_of(b, tmp_path, policy=with_media(screenshot_max_count=25)) == []


# ---------------------------------------------------------------------------------------
# level 3: NAME_PATTERN, NAME_SEQUENCE, MEDIA_COUNT


def test_extensions_in_any_case_and_jpeg_are_accepted(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("理论", 1), "育婴师初级/理论/育婴师初级理论1.JPG")
    b.rename(b.media("理论", 2), "育婴师初级/理论/育婴师初级理论2.jpeg")
    b.rename(b.media("实操", 1, ".mp4"), "育婴师初级/实操/育婴师初级实操1.MP4")
    assert problems_of(b, tmp_path) == []


def test_file_named_for_the_other_section(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("理论", 2), "育婴师初级/理论/育婴师初级实操2.jpg")
    problems = problems_of(b, tmp_path)
    p = only(problems, "NAME_PATTERN")
    assert codes(problems) == ["NAME_PATTERN"]  # 理论2 missing is the same fault, said once
    assert p.path == f"{ROOT}/育婴师初级/理论/育婴师初级实操2.jpg"
    assert p.params["name"] == "育婴师初级实操2.jpg"
    assert p.params["faults"] == ["section"] and p.params["written_section"] == "实操"
    assert p.params["example"] == "育婴师初级理论2.jpg"


def test_file_named_for_another_training(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("实操", 3, ".mp4"), "育婴师初级/实操/车工中级实操3.mp4")
    p = only(problems_of(b, tmp_path), "NAME_PATTERN")
    assert p.params["faults"] == ["training"]
    assert (p.params["written_training"], p.params["training"]) == ("车工中级", "育婴师初级")
    assert p.params["example"] == "育婴师初级实操3.mp4"


@pytest.mark.parametrize("bad, fault", [
    ("IMG_20261101_0001.jpg", "stem"),
    ("育婴师初级理论01.jpg", "leading_zero"),
    ("育婴师初级理论１.jpg", "full_width"),
    ("育婴师初级 理论1.jpg", "spaces"),
    ("育婴师初级理论.jpg", "number_missing"),
    ("育婴师初级理论1.png", "photo_ext"),
    ("育婴师初级理论1.heic", "photo_ext"),
])
def test_photo_names_that_break_the_pattern(tmp_path, bad, fault):
    b = PackageBuilder()
    b.rename(b.media("理论", 1), f"育婴师初级/理论/{bad}")
    problems = problems_of(b, tmp_path)
    p = only(problems, "NAME_PATTERN")
    assert codes(problems) == ["NAME_PATTERN"]  # still 5 photos; number 1 is the misnamed one
    assert p.params["faults"] == [fault] and p.params["name"] == bad
    if fault == "leading_zero":
        assert p.params["digits"] == "01"
    if fault == "photo_ext":
        assert p.params["ext"] == bad[bad.rindex("."):]
    assert (p.params["training"], p.params["section"]) == ("育婴师初级", "理论")
    assert p.params["example"] == "育婴师初级理论1.jpg"


@pytest.mark.parametrize("bad, fault", [
    ("育婴师初级理论2.mov", "video_ext"),
    ("育婴师初级理论2.avi", "video_ext"),
    ("育婴师初级理论2", "no_ext"),
])
def test_video_names_that_break_the_pattern(tmp_path, bad, fault):
    b = PackageBuilder()
    b.rename(b.media("理论", 2, ".mp4"), f"育婴师初级/理论/{bad}")
    problems = problems_of(b, tmp_path)
    p = only(problems, "NAME_PATTERN")
    assert p.params["faults"] == [fault] and p.params["name"] == bad
    if bad.endswith((".mov", ".avi")):
        assert p.params["ext"] == bad[-4:]
        assert p.params["example"] == "育婴师初级理论2.mp4"
        assert codes(problems) == ["NAME_PATTERN"]  # still counted as one of 3 videos
    else:  # no extension: neither photo nor video
        assert codes(problems) == ["NAME_PATTERN", "MEDIA_COUNT"]
        count = problems[1].params
        assert (count["media"], count["expected"], count["found"]) == ("video", 3, 2)


def test_two_misnamed_files_get_different_examples(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("理论", 2), "育婴师初级/理论/a.jpg")
    b.rename(b.media("理论", 4), "育婴师初级/理论/b.jpg")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["NAME_PATTERN", "NAME_PATTERN"]
    assert problems[0].params["example"] == "育婴师初级理论2.jpg"
    assert problems[1].params["example"] == "育婴师初级理论4.jpg"


def test_duplicate_number_is_name_sequence(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("理论", 5), "育婴师初级/理论/育婴师初级理论1.JPEG")
    problems = problems_of(b, tmp_path)
    p = only(problems, "NAME_SEQUENCE")
    assert codes(problems) == ["NAME_SEQUENCE"]
    assert p.path == f"{ROOT}/育婴师初级/理论"
    assert (p.params["folder"], p.params["media"], p.params["max"]) == ("育婴师初级/理论", "photo", 5)
    assert p.params["numbers"] == [1, 1, 2, 3, 4]  # 1 twice
    assert (p.params["repeated"], p.params["outside"], p.params["missing"]) == ([1], [], [5])


def test_number_out_of_range_is_name_sequence(tmp_path):
    b = PackageBuilder()
    b.rename(b.media("实操", 3, ".mp4"), "育婴师初级/实操/育婴师初级实操4.mp4")
    problems = problems_of(b, tmp_path)
    p = only(problems, "NAME_SEQUENCE")
    assert codes(problems) == ["NAME_SEQUENCE"]
    assert (p.params["media"], p.params["max"]) == ("video", 3)
    assert (p.params["repeated"], p.params["outside"], p.params["missing"]) == ([], [4], [3])


def test_one_photo_too_few_is_one_media_count_naming_the_missing_file(tmp_path):
    b = PackageBuilder()
    b.remove(b.media("实操", 3))
    problems = problems_of(b, tmp_path)
    # one fault, one error: the count names the missing file; no NAME_SEQUENCE besides
    assert codes(problems) == ["MEDIA_COUNT"]
    count = problems[0]
    assert count.path == f"{ROOT}/育婴师初级/实操"
    assert (count.params["media"], count.params["expected"], count.params["found"]) == ("photo", 5, 4)
    assert (count.params["fault"], count.params["numbers"]) == ("missing", [3])
    assert "缺少“育婴师初级实操3.jpg”" in count.message and "请补上缺少的照片" in count.hint


def test_extra_video_is_one_media_count_naming_the_extra_file(tmp_path):
    b = PackageBuilder()
    b.add_video("育婴师初级/理论/育婴师初级理论4.mp4")
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["MEDIA_COUNT"]
    count = problems[0]
    assert (count.params["media"], count.params["expected"], count.params["found"]) == ("video", 3, 4)
    assert (count.params["fault"], count.params["numbers"]) == ("extra", [4])
    assert "多出“育婴师初级理论4.mp4”" in count.message


def test_a_wrong_count_and_a_numbering_fault_of_other_files_are_both_reported(tmp_path):
    b = PackageBuilder()
    b.remove(b.media("实操", 3))
    b.rename(b.media("实操", 5), "育婴师初级/实操/育婴师初级实操7.jpg")  # 1, 2, 4, 7: not the count's story
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["MEDIA_COUNT", "NAME_SEQUENCE"]
    assert "fault" not in problems[0].params
    assert (problems[1].params["outside"], problems[1].params["missing"]) == ([7], [3, 5])


def test_section_without_any_photo_is_media_count_only(tmp_path):
    b = PackageBuilder()
    for n in range(1, 6):
        b.remove(b.media("理论", n))
    problems = problems_of(b, tmp_path)
    assert codes(problems) == ["MEDIA_COUNT"]
    assert (problems[0].params["media"], problems[0].params["found"]) == ("photo", 0)


def test_counts_follow_the_policy(tmp_path):
    problems = problems_of(PackageBuilder(photos=4, videos=2), tmp_path,
                           policy=with_media(photo_count=4, video_count=2))
    assert problems == []
    problems = problems_of(PackageBuilder(), tmp_path / "2", policy=with_media(photo_count=4))
    assert codes(problems) == ["MEDIA_COUNT"] * 2  # each naming its fifth photo as the extra one
    count = problems[0].params
    assert (count["media"], count["expected"], count["found"]) == ("photo", 4, 5)


# ---------------------------------------------------------------------------------------
# everything at once


def test_faults_in_many_places_are_all_reported(tmp_path):
    b = PackageBuilder(institution="新城区星火职业培训学校", date="20261301",
                       trainings=[("育婴师", "初级", 20), ("车工", "中级", 5), ("电工", "技师", 3)],
                       pledge_scan=False)
    b.add_outside("readme.txt")
    b.add("说明.docx")
    b.rename("车工中级", "车工中级工")
    b.remove("电工技师")
    b.add("新建文件夹/x.jpg")
    b.remove("育婴师初级/实操")
    b.add("育婴师初级/旧/1.jpg")
    b.rename(b.media("理论", 1), "育婴师初级/理论/IMG_0001.jpg")
    b.rename(b.media("理论", 3), "育婴师初级/理论/育婴师初级理论2.JPEG")
    b.add("育婴师初级/线上培训截图99.png")
    problems = problems_of(b, tmp_path)
    assert sorted(codes(problems)) == sorted([
        "HIER_ROOT", "HIER_ROOT_NAME", "HIER_UNEXPECTED", "W_PLEDGE_SCAN",
        "HIER_LEVEL2_UNKNOWN", "HIER_LEVEL2_UNKNOWN", "HIER_LEVEL2_MISSING",
        "HIER_SECTION_MISSING", "HIER_UNEXPECTED", "NAME_PATTERN", "NAME_PATTERN",
        "NAME_SEQUENCE"])
    assert check_hierarchy(view_of(b, tmp_path / "again")) == problems  # same order every time
    for p in problems:
        assert CJK.search(p.message), p  # kept: every message is Chinese for the clerk
        assert p.path.startswith(b.root) or p.code == "HIER_ROOT"
    # every offender is named by some problem: (code, parameter, value or member)
    offenders = [("HIER_ROOT", "entries", "readme.txt"), ("HIER_ROOT_NAME", "date", "20261301"),
                 ("HIER_UNEXPECTED", "name", "说明.docx"), ("HIER_LEVEL2_UNKNOWN", "name", "车工中级工"),
                 ("HIER_LEVEL2_MISSING", "name", "电工技师"), ("HIER_LEVEL2_UNKNOWN", "name", "新建文件夹"),
                 ("HIER_SECTION_MISSING", "section", "实操"), ("HIER_UNEXPECTED", "name", "育婴师初级/旧/"),
                 ("NAME_PATTERN", "name", "IMG_0001.jpg"), ("NAME_PATTERN", "name", "线上培训截图99.png"),
                 ("NAME_SEQUENCE", "repeated", 2)]
    for code, key, value in offenders:
        assert any(p.code == code and (p.params[key] == value or (isinstance(p.params[key], list)
                                                                and value in p.params[key]))
                   for p in problems), (code, key, value)
    assert only(problems, "NAME_SEQUENCE").params["numbers"] == [2, 2, 4, 5]  # 2 twice
    assert only(problems, "W_PLEDGE_SCAN").severity is Severity.WARNING
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert len(errors) == len(problems) - 1
