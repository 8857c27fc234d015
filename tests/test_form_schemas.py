"""Form schemas and loading (spec section 4): FORM_MISSING, FORM_JSON, FORM_SCHEMA.

The forms of every test package are written here explicitly (complete, realistic
examples below), never taken from the builder's defaults. Packages run through
``PackageView`` with ``check_forms_readable`` only (media are stand-in bytes).

Problems are judged by code, path, pointer and parameters (``Problem.params``); the
catalogue's wording is pinned once in test_catalogue.py. The ``detail`` of FORM_SCHEMA and
FORM_JSON is checked as text: its Chinese field titles and JSON syntax help are what this
module words.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.check.catalogue import Problem
from pipeline.check.rules import default_checks
from pipeline.check.view import PackageView, run_checks
from pipeline.check.rules.hierarchy import HIERARCHY_CHECKS, check_plan_readable
from pipeline.check.rules.media import CHECKS_ON_MEDIA
from pipeline.kit.form_docs import main as docs_main, render
from pipeline.check.contract import ALL_FORM_TYPES, FILE_NAME_OF_FORM, REQUIREMENTS
from pipeline.check.forms import (SCHEMAS_DIR, FormSet, field_label,
                                  form_validator, load_schema, validate_form)
from pipeline.check.rules.forms import check_forms_readable
from pipeline.check.package_reader import read_package
from pipeline.check.policy import load_policy
from tests.support.leaks import leaks
from tests.support.packages import PackageBuilder, fake_photo, fake_video

TODAY = date(2026, 11, 27)
INST = "新城区星火职业培训学校"
ROOT = INST + "20261120"
FOLDER = "育婴师初级"
CJK = re.compile(r"[\u4e00-\u9fff]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body: str) -> str:
    """A GB 11643 number: 17 digits + the MOD 11-2 check character."""
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


TEACHER_1 = ("王丽", id_number("61010319800512002"))   # 女 (17th digit even)
TEACHER_2 = ("张强", id_number("61011319780903001"))   # 男 (17th digit odd)
TRAINEES = [("刘芳", id_number("61010219950317004")), ("陈静", id_number("61011219920825002")),
            ("赵敏", id_number("61010419980130006"))]


# ---------------------------------------------------------------------------------------
# complete, correct forms (the plan's range 2026-10-08..2026-11-10, report date 2026-11-20)


def plan_form(theory=("online", "offline"), practice=("offline",)) -> dict[str, Any]:
    form: dict[str, Any] = {
        "form": "training_plan", "version": 1,
        "institution": {"name": INST, "address": "西安市新城区建设路 18 号",
                        "contact_person": "李明", "contact_phone": "13812345678"},
        "trainings": [{"occupation": "育婴师", "level": "初级", "trainees": 3}],
        "theory_mode": list(theory), "practice_mode": list(practice),
        "start_date": "2026-10-08", "end_date": "2026-11-10", "total_hours": 24,
        "textbooks": [{"title": "育婴员（基础知识）", "publisher": "中国劳动社会保障出版社"},
                      {"title": "育婴员（初级）", "publisher": "中国劳动社会保障出版社"}],
        "result": "3 名学员全部完成培训", "remarks": "",
    }
    if "online" in (*theory, *practice):
        form["online_platform"] = "技能学习云课堂"
    return form


def pledge_form() -> dict[str, Any]:
    return {"form": "integrity_pledge", "version": 1, "institution_name": INST,
            "legal_representative": "李建国", "contact_phone": "029-87654321",
            "signed_date": "2026-11-13", "accepted": True}


def trainers_form() -> dict[str, Any]:
    return {"form": "trainers", "version": 1, "trainers": [
        {"name": TEACHER_1[0], "gender": "女", "ethnicity": "汉族", "id_number": TEACHER_1[1],
         "education": "本科", "political_status": "中共党员", "teaching_major": "学前教育",
         "teaching_years": 12, "employer": INST, "phone": "13991234567",
         "certificate": {"occupation": "育婴师", "level": "高级技师"},
         "work_history": "2008—2014 年 西安市第一保育院 保育员；2014 年至今 本校 育婴师讲师",
         "awards": "2021 年 西安市职业技能大赛育婴师项目二等奖", "remarks": None},
        {"name": TEACHER_2[0], "gender": "男", "ethnicity": "回族", "id_number": TEACHER_2[1],
         "education": "大专", "political_status": "群众", "teaching_major": "护理",
         "teaching_years": 0, "employer": "西安市新城区妇幼保健院", "phone": "15829876543",
         "certificate": {"occupation": "育婴师", "level": "技师"},
         "work_history": "2000 年至今 西安市新城区妇幼保健院 儿科护士"},
    ]}


def outline_form(kind: str) -> dict[str, Any]:
    theory = kind == "theory_outline"
    contents = (["职业道德与法律法规", "婴幼儿生理与心理特点", "婴幼儿营养与喂养"] if theory else
                ["冲调奶粉与喂奶操作", "婴儿抚触与被动操", "婴幼儿洗澡与更换尿布"])
    days = ["2026-10-10", "2026-10-17", "2026-10-24"] if theory else ["2026-10-11", "2026-10-18", "2026-10-25"]
    hours = [4, 3.5, 4.5] if theory else [4, 4, 4]
    teacher = TEACHER_1 if theory else TEACHER_2
    return {"form": kind, "version": 1, "occupation": "育婴师", "level": "初级",
            "start_date": days[0], "end_date": days[-1], "total_hours": 12,
            "sessions": [{"seq": i + 1, "content": c, "date": d,
                          "teacher": {"name": teacher[0], "id_number": teacher[1]}, "hours": h}
                         for i, (c, d, h) in enumerate(zip(contents, days, hours))]}


def sign_in_form() -> dict[str, Any]:
    days = ["2026-10-10", "2026-10-11", "2026-10-17", "2026-10-18", "2026-10-24", "2026-10-25"]
    return {"form": "sign_in", "version": 1, "occupation": "育婴师", "level": "初级", "sessions": [
        {"date": d, "location": "本校二楼实训室",
         "trainees": [{"seq": j + 1, "name": n, "id_number": i, "signed": True,
                       **({"remarks": "迟到 10 分钟"} if (d, j) == ("2026-10-17", 2) else {})}
                      for j, (n, i) in enumerate(TRAINEES)]}
        for d in days]}


def online_record_form() -> dict[str, Any]:
    return {"form": "online_record", "version": 1, "occupation": "育婴师", "level": "初级",
            "platform": "技能学习云课堂", "start_date": "2026-10-08", "end_date": "2026-11-05",
            "outline": ["第一章 育婴员职业概述", "第二章 婴幼儿生活照料", "第三章 婴幼儿保健与护理"],
            "trainees": [{"name": n, "id_number": i, "hours": 12.5, "completion_rate": 100,
                          "signed_in": True} for n, i in TRAINEES]}


def equipment_form() -> dict[str, Any]:
    return {"form": "practice_equipment", "version": 1, "occupation": "育婴师",
            "equipment": [{"name": "婴儿护理模型（全身）", "quantity": 6}, {"name": "婴儿浴盆", "quantity": 6},
                          {"name": "温奶器", "quantity": 3}],
            "consumables": [{"name": "纸尿裤（NB 码）", "quantity": 60}, {"name": "婴儿奶粉（900 克）", "quantity": 2}]}


def all_forms(theory=("online", "offline"), practice=("offline",)) -> dict[str, Any]:
    """Every form of a correct package with one training, by path below level 1."""
    forms: dict[str, Any] = {"培训方案.json": plan_form(theory, practice), "诚信承诺书.json": pledge_form(),
                             "培训教师.json": trainers_form()}
    modes = {*theory, *practice}
    if "offline" in theory:
        forms[f"{FOLDER}/理论培训大纲.json"] = outline_form("theory_outline")
    if "offline" in practice:
        forms[f"{FOLDER}/实操培训大纲.json"] = outline_form("practice_outline")
    if "offline" in modes:
        forms[f"{FOLDER}/签到表.json"] = sign_in_form()
    if "online" in modes:
        forms[f"{FOLDER}/线上培训记录.json"] = online_record_form()
    forms[f"{FOLDER}/实操设备设施.json"] = equipment_form()
    return forms


EXAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "training_plan": plan_form, "integrity_pledge": pledge_form, "trainers": trainers_form,
    "theory_outline": lambda: outline_form("theory_outline"),
    "practice_outline": lambda: outline_form("practice_outline"),
    "sign_in": sign_in_form, "online_record": online_record_form, "practice_equipment": equipment_form,
}


# ---------------------------------------------------------------------------------------
# packages


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")


def package(forms: dict[str, Any], *, trainings=(("育婴师", "初级", 3),), theory=("online", "offline"),
            practice=("offline",), folders: tuple[str, ...] = ()) -> PackageBuilder:
    """A package whose forms are exactly ``forms`` (dicts or raw bytes); one stand-in
    photo per training folder keeps the folder in the ZIP even without forms."""
    b = PackageBuilder(trainings=trainings, theory_mode=theory, practice_mode=practice,
                       photo=fake_photo, video=fake_video, screenshot=lambda name: b"png",
                       photos=1, videos=0, screenshots=0, pledge_scan=False)
    for path in [p for p in b.files if p.endswith(".json")]:
        b.remove(path)
    for folder in folders:
        b.add(f"{folder}/理论/{folder}理论1.jpg", fake_photo("x"))
    for path, value in forms.items():
        b.add(path, value if isinstance(value, bytes) else dumps(value))
    return b


_seq = itertools.count()


def view_of(b: PackageBuilder, tmp_path: Path) -> PackageView:
    where = tmp_path / f"p{next(_seq)}"
    where.mkdir(parents=True)
    name = f"{b.root}.zip"
    contents = read_package(b.to_zip(where / name), where / "work", load_policy().zip)
    assert contents.problems == ()
    return PackageView(name=name, contents=contents, policy=load_policy(), today=TODAY)


def problems_of(b: PackageBuilder, tmp_path: Path, checks=(check_forms_readable,)) -> list[Problem]:
    return run_checks(view_of(b, tmp_path), list(checks))


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [(p.code, p.pointer, p.message) for p in problems]
    return problems[0]


def assert_private(problems: list[Problem]) -> None:
    for p in problems:
        params = json.dumps(dict(p.params), ensure_ascii=False)  # masked like the message
        for text in (p.message, p.hint or "", p.pointer or "", params):
            assert not leaks(text), text  # no personal number in full (tests/support/leaks.py)


# ---------------------------------------------------------------------------------------
# the schemas themselves


def _fields(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every schema node that defines a field: properties (also in ``then``), array
    items, $defs, at every depth. The ``if`` condition is a test, not a field."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(node, dict):
        return out
    for name, child in node.get("properties", {}).items():
        out.append((f"{where}/{name}", child))
        out.extend(_fields(child, f"{where}/{name}"))
    if isinstance(node.get("items"), dict):
        out.append((f"{where}[]", node["items"]))
        out.extend(_fields(node["items"], f"{where}[]"))
    for name, child in node.get("$defs", {}).items():
        out.append((f"{where}$defs/{name}", child))
        out.extend(_fields(child, f"{where}$defs/{name}"))
    if "then" in node:
        out.extend(_fields(node["then"], f"{where}(then)"))
    return out


def test_there_is_one_draft_2020_12_schema_per_form_and_nothing_else():
    assert sorted(p.name for p in SCHEMAS_DIR.glob("*.json")) == sorted(f"{k}.schema.json" for k in ALL_FORM_TYPES)
    for kind in ALL_FORM_TYPES:
        schema = load_schema(kind)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        form_validator(kind).check_schema(schema)
        assert schema["properties"]["form"]["const"] == kind
        assert schema["properties"]["version"]["const"] == 1
        assert {"form", "version"} <= set(schema["required"])
        assert form_validator(kind) is form_validator(kind)  # built once


def test_every_field_has_a_chinese_title_and_description_and_allows_no_other_fields():
    for kind in ALL_FORM_TYPES:
        schema = load_schema(kind)
        assert CJK.search(schema["title"]) and CJK.search(schema["description"])
        fields = _fields(schema, kind)
        assert len(fields) > 5
        for where, node in fields:
            assert isinstance(node.get("title"), str) and CJK.search(node["title"]), where
            assert isinstance(node.get("description"), str) and CJK.search(node["description"]), where
            if "properties" in node or node.get("type") == "object":
                assert node.get("additionalProperties") is False, where
        assert schema["additionalProperties"] is False


def test_id_numbers_and_phones_are_only_non_empty_text_in_the_schemas():
    """Their validity is FORM_ID_NUMBER / FORM_PHONE (the cross-form rules)."""
    for kind in ALL_FORM_TYPES:
        defs = load_schema(kind).get("$defs", {})
        for name in ("id_number", "phone"):
            if name in defs:
                assert {k: v for k, v in defs[name].items() if k not in ("title", "description")} == \
                    {"type": "string", "minLength": 1}
    assert validate_form("trainers", {**trainers_form(), "trainers": [
        {**trainers_form()["trainers"][0], "id_number": "12345", "phone": "call me"}]}) == []


@pytest.mark.parametrize("kind", ALL_FORM_TYPES)
def test_the_correct_example_of_each_form_validates(kind):
    example = EXAMPLES[kind]()
    assert validate_form(kind, example) == []
    broken = copy.deepcopy(example)
    del broken["version"]
    assert validate_form(kind, broken) == [("/version", "缺少“表单版本”")]


def test_a_correct_package_has_no_form_problem_and_every_form_is_loaded(tmp_path):
    view = view_of(package(all_forms()), tmp_path)
    assert list(check_forms_readable(view)) == []
    forms = view.forms
    assert isinstance(forms, FormSet) and forms is view.forms  # read once per package
    assert forms.plan.path == f"{ROOT}/培训方案.json" and forms.plan.data["total_hours"] == 24
    assert forms.pledge.schema_valid and forms.trainers.schema_valid
    [tf] = forms.trainings
    assert tf.folder == FOLDER and tf.training.folder == FOLDER and tf.training.trainees == 3
    assert [f.kind for f in tf.present()] == ["theory_outline", "practice_outline", "sign_in",
                                              "online_record", "practice_equipment"]
    assert tf.sign_in.path == f"{ROOT}/{FOLDER}/签到表.json" and tf.sign_in.obj["level"] == "初级"
    assert len(forms.all()) == 8 and all(f.schema_valid for f in forms.all())


def test_the_schema_check_runs_after_the_hierarchy_checks_and_before_the_media_checks():
    checks = list(default_checks())
    at = checks.index(check_forms_readable)
    assert checks[:at] == list(HIERARCHY_CHECKS)
    assert checks[at + 1: at + 1 + len(CHECKS_ON_MEDIA)] == list(CHECKS_ON_MEDIA)


# ---------------------------------------------------------------------------------------
# every rule, both ways


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the value at a JSON-pointer-like path ("a/0/b")."""
    def apply(form: dict[str, Any]) -> None:
        *head, last = [int(s) if s.isdigit() else s for s in path.split("/")]
        node: Any = form
        for step in head:
            node = node[step]
        node[last] = value
    return apply


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(form: dict[str, Any]) -> None:
        *head, last = [int(s) if s.isdigit() else s for s in path.split("/")]
        node: Any = form
        for step in head:
            node = node[step]
        del node[last]
    return apply


PLAN, PLEDGE, TRAINERS = "培训方案.json", "诚信承诺书.json", "培训教师.json"
THEORY, PRACTICE = f"{FOLDER}/理论培训大纲.json", f"{FOLDER}/实操培训大纲.json"
SIGN_IN, ONLINE, EQUIP = f"{FOLDER}/签到表.json", f"{FOLDER}/线上培训记录.json", f"{FOLDER}/实操设备设施.json"

# (case, form path, mutation, pointer, the Chinese detail exactly)
BROKEN = [
    ("required", PLAN, _del("total_hours"), "/total_hours", "缺少“培训学时”"),
    ("required-nested", TRAINERS, _del("trainers/0/certificate/level"), "/trainers/0/certificate/level",
     "缺少第 1 名培训教师（王丽）的“职业资格/技能等级证书”的“证书等级”"),
    ("type-integer", PLAN, _set("trainings/0/trainees", "三"), "/trainings/0/trainees",
     "第 1 项培训的“培训人数”应为整数，实际为 \"三\""),
    ("type-object", PLAN, _set("institution", "新城区星火职业培训学校"), "/institution",
     "“培训单位”应为对象（{…}），实际为 \"新城区星火职业培训学校\""),
    ("type-boolean", SIGN_IN, _set("sessions/1/trainees/0/signed", "是"), "/sessions/1/trainees/0/signed",
     "第 2 次签到（2026-10-11）第 1 名学员（刘芳）的“签到”应为 true（是）或 false（否），实际为 \"是\""),
    ("type-optional-text", PLAN, _set("remarks", 5), "/remarks", "“备注”应为文本或 null，实际为 5（号码、编号等也须用英文双引号括起来，写成文本）"),
    ("minimum-integer", PLAN, _set("trainings/0/trainees", 0), "/trainings/0/trainees",
     "第 1 项培训的“培训人数”应为不小于 1 的整数，实际为 0"),
    ("minimum-teaching-years", TRAINERS, _set("trainers/1/teaching_years", -1), "/trainers/1/teaching_years",
     "第 2 名培训教师（张强）的“教龄”应为不小于 0 的整数，实际为 -1"),
    ("minimum-quantity", EQUIP, _set("consumables/0/quantity", 0), "/consumables/0/quantity",
     "第 1 项耗材（纸尿裤（NB 码））的“数量”应为不小于 1 的整数，实际为 0"),
    ("minimum-seq", THEORY, _set("sessions/0/seq", 0), "/sessions/0/seq",
     "第 1 次课（2026-10-10）的“序号”应为不小于 1 的整数，实际为 0"),
    ("exclusive-minimum", PLAN, _set("total_hours", 0), "/total_hours", "“培训学时”应大于 0，实际为 0"),
    ("exclusive-minimum-session", PRACTICE, _set("sessions/2/hours", -2), "/sessions/2/hours",
     "第 3 次课（2026-10-25）的“培训学时”应大于 0，实际为 -2"),
    ("minimum-online-hours", ONLINE, _set("trainees/0/hours", -1), "/trainees/0/hours",
     "第 1 名学员（刘芳）的“学时”应不小于 0，实际为 -1"),
    ("maximum", ONLINE, _set("trainees/2/completion_rate", 100.5), "/trainees/2/completion_rate",
     "第 3 名学员（赵敏）的“培训完成率”应不大于 100，实际为 100.5"),
    ("multiple-of", THEORY, _set("sessions/1/hours", 1.3), "/sessions/1/hours",
     "第 2 次课（2026-10-17）的“培训学时”应为 0.5 的整数倍（可以有半学时，如 1.5），实际为 1.3"),
    ("enum-gender", TRAINERS, _set("trainers/0/gender", "F"), "/trainers/0/gender",
     "第 1 名培训教师（王丽）的“性别”应为 男 或 女，实际为 \"F\""),
    ("enum-level", PLAN, _set("trainings/0/level", "五级"), "/trainings/0/level",
     "第 1 项培训的“培训等级”应为 初级、中级、高级、技师 或 高级技师，实际为 \"五级\""),
    ("enum-mode", PLAN, _set("theory_mode/0", "线上"), "/theory_mode/0",
     "“理论知识培训方式”第 1 项应为 \"online\"（线上）或 \"offline\"（线下），实际为 \"线上\""),
    ("unique-items", PLAN, _set("practice_mode", ["offline", "offline"]), "/practice_mode",
     "“实际操作培训方式”中有重复的项：\"offline\""),
    ("min-items-mode", PLAN, _set("practice_mode", []), "/practice_mode",
     "“实际操作培训方式”至少应有 1 项，实际为空列表"),
    ("min-items-trainers", TRAINERS, _set("trainers", []), "/trainers", "“培训教师”至少应有 1 项，实际为空列表"),
    ("min-items-textbooks", PLAN, _set("textbooks", []), "/textbooks", "“培训使用教材”至少应有 1 项，实际为空列表"),
    ("min-items-sessions", PRACTICE, _set("sessions", []), "/sessions", "“培训课次”至少应有 1 项，实际为空列表"),
    ("min-items-sign-in", SIGN_IN, _set("sessions/0/trainees", []), "/sessions/0/trainees",
     "第 1 次签到（2026-10-10）的“学员签到”至少应有 1 项，实际为空列表"),
    ("min-items-outline", ONLINE, _set("outline", []), "/outline", "“培训大纲目录”至少应有 1 项，实际为空列表"),
    ("min-items-equipment", EQUIP, _set("equipment", []), "/equipment", "“实操培训设备/仪器”至少应有 1 项，实际为空列表"),
    ("const-version", PLEDGE, _set("version", 2), "/version", "“表单版本”应为 1，实际为 2"),
    ("const-form", PLEDGE, _set("form", "pledge"), "/form",
     "“表单类型”应为 \"integrity_pledge\"，实际为 \"pledge\""),
    ("const-accepted", PLEDGE, _set("accepted", False), "/accepted", "“同意承诺”应为 true，实际为 false"),
    ("format-date", PLAN, _set("start_date", "2026/10/8"), "/start_date",
     "“培训开始日期”应为 YYYY-MM-DD 格式的日期（如 2026-10-08），实际为 \"2026/10/8\""),
    ("format-date-unreal", SIGN_IN, _set("sessions/3/date", "2026-09-31"), "/sessions/3/date",
     "第 4 次签到（2026-09-31）的“培训日期” \"2026-09-31\" 不是真实存在的日期"),
    ("format-date-chinese", PLEDGE, _set("signed_date", "2026年11月13日"), "/signed_date",
     "“签署日期”应为 YYYY-MM-DD 格式的日期（如 2026-10-08），实际为 \"2026年11月13日\""),
    ("min-length", PLEDGE, _set("legal_representative", ""), "/legal_representative", "“法人代表”不能为空"),
    ("min-length-id", TRAINERS, _set("trainers/0/id_number", ""), "/trainers/0/id_number",
     "第 1 名培训教师（王丽）的“身份证号”不能为空"),
    ("pattern-blank", ONLINE, _set("outline/1", "   "), "/outline/1", "“培训大纲目录”第 2 条不能只有空格"),
    ("additional-properties", PLAN, _set("budget", 10000), "/budget",
     "不应有字段“budget”（表单模板中没有该字段，请删除或改用模板中的字段名）"),
    ("additional-properties-typo", THEORY, _set("sessions/0/teacher/idnumber", "x"), "/sessions/0/teacher/idnumber",
     "第 1 次课（2026-10-10）的“培训老师”中不应有字段“idnumber”（是否应为“id_number”（身份证号）？）"),
    ("if-then-required", PLAN, _del("online_platform"), "/online_platform",
     "缺少“线上培训平台”（理论或实操培训方式含线上（online）时必填）"),
    ("if-then-empty", PLAN, _set("online_platform", ""), "/online_platform",
     "“线上培训平台”不能为空（理论或实操培训方式含线上（online）时必填）"),
    ("if-then-null", PLAN, _set("online_platform", None), "/online_platform",
     "“线上培训平台”应为文本，实际为 null（理论或实操培训方式含线上（online）时必填）"),
    ("non-finite", PRACTICE, _set("total_hours", float("nan")), "/total_hours",
     "“培训总学时”应为有效的数字，实际为 NaN（JSON 中没有 NaN、Infinity，数值也不能超出范围）"),
]

# (case, form path, mutation): the boundary on the right side of each rule
VALID = [
    ("trainees-1", PLAN, _set("trainings/0/trainees", 1)),
    ("total-hours-half", PLAN, _set("total_hours", 0.5)),
    ("session-hours-half", THEORY, _set("sessions/1/hours", 1.5)),
    ("online-hours-0-and-decimal", ONLINE, lambda f: (_set("trainees/0/hours", 0)(f), _set("trainees/1/hours", 12.37)(f))),
    ("completion-0-and-100", ONLINE, lambda f: (_set("trainees/0/completion_rate", 0)(f),
                                                _set("trainees/1/completion_rate", 100.0)(f))),
    ("teaching-years-0", TRAINERS, _set("trainers/0/teaching_years", 0)),
    ("integral-float", PLAN, _set("trainings/0/trainees", 3.0)),
    ("both-modes", PLAN, _set("practice_mode", ["offline", "online"])),
    ("remarks-absent", PLAN, _del("remarks")),
    ("remarks-null", PLAN, _set("remarks", None)),
    ("result-empty", PLAN, _set("result", "")),
    ("awards-absent", TRAINERS, _del("trainers/0/awards")),
    ("trainer-remarks-empty", TRAINERS, _set("trainers/1/remarks", "")),
    ("sign-in-remarks-null", SIGN_IN, _set("sessions/0/trainees/0/remarks", None)),
    ("signed-false-is-a-cross-form-rule", SIGN_IN, _set("sessions/0/trainees/0/signed", False)),
    ("consumables-empty", EQUIP, _set("consumables", [])),
    ("leap-day", SIGN_IN, _set("sessions/0/date", "2028-02-29")),
    ("id-number-lower-x", TRAINERS, _set("trainers/0/id_number", "11010519491231002x")),
]


def _mutated(path: str, mutate: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    forms = all_forms()
    mutate(forms[path])
    return forms


@pytest.mark.parametrize("case,path,mutate,pointer,detail", BROKEN, ids=[c[0] for c in BROKEN])
def test_each_rule_reports_one_form_schema_problem_with_pointer_and_chinese_message(
        tmp_path, case, path, mutate, pointer, detail):
    found = only(problems_of(package(_mutated(path, mutate)), tmp_path))
    name = path.rsplit("/", 1)[-1]
    assert (found.code, found.path, found.pointer) == ("FORM_SCHEMA", f"{ROOT}/{path}", pointer)
    # the place is said in words; the pointer is data, never in the clerk's text
    assert (found.params["form"], found.params["location"]) == (name, "")
    assert pointer not in found.message and found.params["fault"]
    # the detail is the text itself: Chinese, built from the schema's field titles
    assert found.params["detail"] == detail and CJK.search(found.params["detail"])
    assert "is not" not in found.params["detail"] and "required property" not in found.params["detail"]


@pytest.mark.parametrize("case,path,mutate", VALID, ids=[c[0] for c in VALID])
def test_values_on_the_right_side_of_each_rule_pass(case, path, mutate):
    forms = _mutated(path, mutate)
    kind = forms[path]["form"]
    assert validate_form(kind, forms[path]) == []


def test_online_platform_may_be_absent_null_or_empty_without_online_mode(tmp_path):
    for value in (None, ""):
        plan = plan_form(("offline",), ("offline",))
        plan["online_platform"] = value
        assert validate_form("training_plan", plan) == []
    plan = plan_form(("offline",), ("offline",))
    assert "online_platform" not in plan and validate_form("training_plan", plan) == []
    plan["practice_mode"] = ["offline", "online"]  # now it is required
    assert validate_form("training_plan", plan) == [
        ("/online_platform", "缺少“线上培训平台”（理论或实操培训方式含线上（online）时必填）")]


def test_every_violation_is_its_own_problem_in_schema_order(tmp_path):
    forms = all_forms()
    plan = forms[PLAN]
    del plan["institution"]["address"], plan["institution"]["contact_person"]
    plan["trainings"].append({"occupation": "车工", "level": "中级", "trainees": 0, "room": 1, "teacher": "x"})
    plan["end_date"] = "2026-13-01"
    found = problems_of(package(forms), tmp_path)
    assert [p.pointer for p in found] == [
        "/institution/address", "/institution/contact_person", "/trainings/1/trainees",
        "/trainings/1/room", "/trainings/1/teacher", "/end_date"]
    assert {p.code for p in found} == {"FORM_SCHEMA"}
    assert found[0].params["form"] == "培训方案.json"
    assert found[0].params["detail"] == "缺少“培训单位”的“地址”"  # the field titles' wording


def test_a_wrong_type_is_one_problem_not_one_per_rule_of_the_value(tmp_path):
    forms = all_forms()
    forms[TRAINERS]["trainers"][0]["gender"] = 1
    forms[TRAINERS]["trainers"][0]["certificate"] = ["育婴师", "高级技师"]
    found = problems_of(package(forms), tmp_path)
    assert [(p.pointer, p.params["detail"]) for p in found] == [  # the details' wording: field titles
        ("/trainers/0/gender", "第 1 名培训教师（王丽）的“性别”应为文本，实际为 1（号码、编号等也须用英文双引号括起来，写成文本）"),
        ("/trainers/0/certificate", "第 1 名培训教师（王丽）的“职业资格/技能等级证书”应为对象（{…}），实际为 列表 […]"),
    ]


def test_a_form_carrying_another_forms_type_is_one_problem_at_form(tmp_path):
    forms = all_forms()
    forms[SIGN_IN] = outline_form("theory_outline")  # the outline saved under the sign-in's name
    found = only(problems_of(package(forms), tmp_path))
    assert (found.code, found.path, found.pointer) == ("FORM_SCHEMA", f"{ROOT}/{SIGN_IN}", "/form")
    detail = found.params["detail"]  # the wording: which form the file should be and which it is
    assert detail.startswith("“表单类型”应为 \"sign_in\"（签到表.json），实际为 \"theory_outline\"")
    assert "理论培训大纲.json" in detail
    view = view_of(package(forms), tmp_path)
    assert view.forms.trainings[0].sign_in.schema_valid is False
    assert view.forms.trainings[0].sign_in.data["form"] == "theory_outline"  # handed over anyway


@pytest.mark.parametrize("value,shown", [([1, 2], "列表 […]"), ("培训方案", "\"培训方案\""), (None, "null")])
def test_a_json_value_that_is_not_an_object_is_form_schema_at_the_root(tmp_path, value, shown):
    forms = all_forms()
    forms[PLEDGE] = value
    found = only(problems_of(package(forms), tmp_path))
    assert (found.code, found.pointer) == ("FORM_SCHEMA", "")
    assert (found.params["form"], found.params["location"]) == ("诚信承诺书.json", "")
    assert found.params["detail"] == f"表单内容应为 JSON 对象（{{…}}），实际为 {shown}"  # the detail's wording


def test_huge_and_non_finite_numbers_never_crash_the_check(tmp_path):
    forms = all_forms()
    forms[THEORY]["sessions"][0]["hours"] = 10 ** 400  # an integer: valid by the schema
    raw = dumps(forms[PRACTICE]).decode().replace('"total_hours": 12', '"total_hours": 1e400')
    forms[PRACTICE] = raw.encode()
    found = problems_of(package(forms), tmp_path)
    assert [(p.code, p.path, p.pointer) for p in found] == [("FORM_SCHEMA", f"{ROOT}/{PRACTICE}", "/total_hours")]
    assert "Infinity" in found[0].params["detail"]


def test_a_huge_integer_where_text_belongs_is_a_schema_problem_not_a_crash(tmp_path):
    """400 digits parse as a Python int; judging "should be text" must not overflow a float."""
    forms = all_forms()
    forms[PLEDGE] = dumps(pledge_form()).decode().replace('"legal_representative": "', '"legal_representative": 1'
                                                          + "0" * 400 + ', "x_": "').encode()
    found = [p for p in problems_of(package(forms), tmp_path) if p.pointer == "/legal_representative"]
    assert [(p.code, p.path) for p in found] == [("FORM_SCHEMA", f"{ROOT}/{PLEDGE}")]


# ---------------------------------------------------------------------------------------
# FORM_JSON


def test_a_utf8_bom_is_accepted(tmp_path):
    forms = all_forms()
    forms[PLEDGE] = b"\xef\xbb\xbf" + dumps(pledge_form())
    forms[SIGN_IN] = b"\xef\xbb\xbf" + dumps(sign_in_form())
    view = view_of(package(forms), tmp_path)
    assert list(check_forms_readable(view)) == []
    assert view.forms.pledge.data["institution_name"] == INST


def test_a_gbk_encoded_form_is_form_json_saying_so(tmp_path):
    forms = all_forms()
    forms[TRAINERS] = json.dumps(trainers_form(), ensure_ascii=False, indent=2).encode("gbk")
    found = only(problems_of(package(forms), tmp_path))
    assert (found.code, found.path, found.pointer) == ("FORM_JSON", f"{ROOT}/{TRAINERS}", None)
    assert found.params["form"] == "培训教师.json"
    detail = found.params["detail"]  # the wording of the encoding help is the point
    assert detail.startswith("文件是 GBK/GB18030（ANSI）编码，不是 UTF-8")
    assert "第 6 行第" in detail and detail.endswith("编码选择“UTF-8”")
    view = view_of(package(forms), tmp_path)
    assert view.forms.trainers.data is None and view.forms.trainers.schema_valid is False


@pytest.mark.parametrize("text,where,why", [
    # a missing comma is placed at the end of its line, not at the next line's start
    ('{\n  "form": "integrity_pledge",\n  "version": 1\n  "accepted": true\n}', "第 3 行第 15 列",
     "这一行末尾缺少英文逗号“,”"),
    ('{\n  "form": "integrity_pledge"，\n  "version": 1\n}', "第 2 行第 29 列", "中文（全角）标点“，”"),
    # a comma after the last item is the fault itself, not the "}" after it
    ('{\n  "form": "integrity_pledge",\n  "version": 1,\n}', "第 3 行第 15 列", "最后一项后面多了一个逗号"),
    ('{\n  "form": "integrity_pledge",\n  "version": [1,\n\n  ]\n}', "第 3 行第 16 列", "最后一项后面多了一个逗号"),
    ('{\n  "form": "integrity_pledge",\n  "legal_representative": 李建国\n}', "第 3 行第 27 列",
     "此处应为一个值"),
    ('{"form": "integrity_pledge"} {"form": "trainers"}', "第 1 行第 30 列", "多余的内容"),
])
def test_broken_json_is_form_json_with_line_column_and_reason(tmp_path, text, where, why):
    forms = all_forms()
    forms[PLEDGE] = text.encode("utf-8")
    found = only(problems_of(package(forms), tmp_path))
    assert (found.code, found.path) == ("FORM_JSON", f"{ROOT}/{PLEDGE}")
    assert found.params["form"] == "诚信承诺书.json"
    detail = found.params["detail"]  # the wording of the JSON syntax help is the point
    assert detail.startswith(f"JSON 格式错误（{where}）："), detail
    assert why in detail


def test_a_key_given_twice_is_form_json_naming_the_key_and_its_line(tmp_path):
    """A clerk copies a line and forgets the old one: JSON keeps the last value silently;
    the form names the key and the line of its second place instead."""
    forms = all_forms()
    text = dumps(pledge_form()).decode()
    forms[PLEDGE] = text.replace('"accepted": true', '"accepted": true,\n  "accepted": false').encode()
    found = only(problems_of(package(forms), tmp_path))
    assert (found.code, found.path) == ("FORM_JSON", f"{ROOT}/{PLEDGE}")
    second = text[:text.index('"accepted": true')].count("\n") + 2
    assert "“accepted”" in found.params["detail"] and f"第 {second} 行" in found.params["detail"]
    # the same key in two different objects (every trainee has a "name") is no repeat
    assert list(check_forms_readable(view_of(package(all_forms()), tmp_path / "ok"))) == []


def test_a_key_given_twice_in_the_plan_is_reported_once_by_the_hierarchy_check(tmp_path):
    forms = all_forms()
    text = dumps(forms["培训方案.json"]).decode()
    forms["培训方案.json"] = text.replace('"total_hours":', '"total_hours": 1,\n  "total_hours":', 1).encode()
    found = [p for p in problems_of(package(forms), tmp_path, checks=(check_plan_readable, check_forms_readable))]
    assert [(p.code, p.params.get("fault")) for p in found] == [("FORM_JSON", "duplicate_key")]
    assert found[0].params["key"] == "total_hours"


@pytest.mark.parametrize("data,why", [(b"", "文件内容为空"), (b"  \n", "文件内容为空"),
                                      ('{"form": "sign_in"}'.encode("utf-16"), "UTF-16")])
def test_empty_and_utf16_forms_are_form_json(tmp_path, data, why):
    forms = all_forms()
    forms[SIGN_IN] = data
    found = only(problems_of(package(forms), tmp_path))
    assert found.code == "FORM_JSON" and why in found.params["detail"]  # the help's wording


# ---------------------------------------------------------------------------------------
# FORM_MISSING


def _missing(tmp_path: Path, theory, practice, keep=()) -> set[str]:
    forms = {p: f for p, f in all_forms(theory, practice).items() if "/" not in p or p in keep}
    found = problems_of(package(forms, theory=theory, practice=practice), tmp_path)
    assert {p.code for p in found} <= {"FORM_MISSING"}
    return {p.path for p in found}


@pytest.mark.parametrize("theory,practice,expected", [
    (("offline",), ("offline",), {"理论培训大纲.json", "实操培训大纲.json", "签到表.json"}),
    (("online",), ("online",), {"线上培训记录.json"}),
    (("online", "offline"), ("offline", "online"),
     {"理论培训大纲.json", "实操培训大纲.json", "签到表.json", "线上培训记录.json"}),
    (("online",), ("offline",), {"实操培训大纲.json", "签到表.json", "线上培训记录.json"}),
    (("offline",), ("online",), {"理论培训大纲.json", "签到表.json", "线上培训记录.json"}),
])
def test_missing_forms_follow_the_plans_modes(tmp_path, theory, practice, expected):
    assert _missing(tmp_path, theory, practice) == {f"{ROOT}/{FOLDER}/{name}" for name in expected}


def test_a_complete_folder_has_no_missing_form_and_the_equipment_form_is_never_required(tmp_path):
    theory, practice = ("online", "offline"), ("offline",)
    keep = [p for p in all_forms(theory, practice) if "/" in p and not p.endswith("实操设备设施.json")]
    assert _missing(tmp_path, theory, practice, keep) == set()


def test_missing_form_message_names_the_form_the_reason_and_the_folder(tmp_path):
    forms = {p: f for p, f in all_forms(("offline",), ("offline",)).items() if not p.endswith("签到表.json")}
    found = only(problems_of(package(forms, theory=("offline",), practice=("offline",)), tmp_path))
    assert (found.code, found.path, found.pointer) == ("FORM_MISSING", f"{ROOT}/{SIGN_IN}", None)
    params = found.params
    assert (params["form"], params["reason"], params["folder"]) == ("签到表.json", REQUIREMENTS["sign_in"].reason, FOLDER)


def test_missing_pledge_and_trainers_are_reported_at_level_1(tmp_path):
    forms = all_forms()
    del forms[PLEDGE], forms[TRAINERS]
    found = problems_of(package(forms), tmp_path)
    assert [(p.code, p.path) for p in found] == [("FORM_MISSING", f"{ROOT}/{PLEDGE}"),
                                                 ("FORM_MISSING", f"{ROOT}/{TRAINERS}")]
    assert (found[0].params["form"], found[0].params["folder"]) == ("诚信承诺书.json", ROOT)
    assert (found[1].params["form"], found[1].params["folder"]) == ("培训教师.json", ROOT)


def test_folders_of_no_plan_training_need_no_forms_but_alias_folders_do(tmp_path):
    forms = all_forms(("offline",), ("offline",))
    b = package(forms, theory=("offline",), practice=("offline",), folders=("车工中级", "育婴师五级"))
    b.add("车工中级/实操设备设施.json", dumps({**equipment_form(), "occupation": ""}))
    view = view_of(b, tmp_path)
    found = list(check_forms_readable(view))
    assert sorted((p.code, p.path) for p in found) == sorted([
        ("FORM_SCHEMA", f"{ROOT}/车工中级/实操设备设施.json"),  # present forms are validated anyway
        *(("FORM_MISSING", f"{ROOT}/育婴师五级/{n}") for n in ("理论培训大纲.json", "实操培训大纲.json", "签到表.json")),
    ])
    by_folder = {tf.folder: tf for tf in view.forms.trainings}
    assert by_folder["车工中级"].training is None
    assert by_folder["育婴师五级"].training.folder == FOLDER  # the training the alias stands for
    assert by_folder["车工中级"].practice_equipment.schema_valid is False


@pytest.mark.parametrize("plan", [None, b"{\"form\": \"training_plan\",", b"\xd1\xfd\xd3\xa4" + b"{}"],
                         ids=["absent", "broken", "gbk"])
def test_the_plans_own_absence_or_broken_json_is_left_to_the_hierarchy_check(tmp_path, plan):
    forms = {p: f for p, f in all_forms().items() if "/" not in p and p != PLAN}
    if plan is not None:
        forms[PLAN] = plan
    view = view_of(package(forms), tmp_path)
    assert list(check_forms_readable(view)) == []  # no plan problem, no per-training FORM_MISSING
    together = run_checks(view, [check_plan_readable, check_forms_readable])
    assert [p.code for p in together] == ["FORM_MISSING" if plan is None else "FORM_JSON"]
    assert view.forms.plan is None if plan is None else view.forms.plan.data is None


def test_a_plan_that_is_not_an_object_is_form_schema_and_makes_the_modes_unknown(tmp_path):
    forms = {p: f for p, f in all_forms().items() if "/" not in p}
    forms[PLAN] = [plan_form()]
    found = problems_of(package(forms), tmp_path, checks=(check_plan_readable, check_forms_readable))
    assert [(p.code, p.path, p.pointer) for p in found] == [("FORM_SCHEMA", f"{ROOT}/{PLAN}", "")]


# ---------------------------------------------------------------------------------------
# privacy


def test_id_numbers_and_mobiles_in_wrong_places_never_appear_in_full(tmp_path):
    someone = TRAINEES[0][1]
    forms = all_forms()
    plan = forms[PLAN]
    plan["trainings"][0]["trainees"] = someone                   # a string where an integer goes
    plan["total_hours"] = "13812345678"                          # a mobile where a number goes
    plan["start_date"] = someone                                 # not a date
    plan["institution"]["contact_phone"] = 13812345678           # a number where text goes
    plan[someone] = "x"                                          # an unknown field named by it
    forms[TRAINERS]["trainers"][0]["gender"] = someone           # not 男/女
    forms[TRAINERS]["trainers"][0]["certificate"]["level"] = "ID" + someone  # glued to letters
    forms[ONLINE]["trainees"][0]["completion_rate"] = int(someone)  # far above 100
    forms[SIGN_IN]["sessions"][0]["trainees"] = [someone, someone]  # items of the wrong type
    forms[PLEDGE] = ('{\n  "contact_phone": "13812345678" "id": "' + someone + '"\n}').encode()
    found = problems_of(package(forms), tmp_path)
    assert {p.code for p in found} == {"FORM_SCHEMA", "FORM_JSON"} and len(found) >= 10
    assert_private(found)
    # privacy: the point is what the clerk reads, so the message text itself is checked
    messages = "\n".join(p.message for p in found)
    assert someone[:6] + "********" + someone[-4:] in messages and "138****5678" in messages
    assert someone[:7] not in messages and "1381234" not in messages  # not even in part


def test_personal_fields_are_masked_by_meaning_and_other_digits_are_shown(tmp_path):
    """An ``id_number`` / ``phone`` / ``contact_phone`` value is a person's number whatever
    it looks like (a mistyped one too), so it is masked; a digit run in another field that
    is no personal number (a WeChat file name, a count) is shown as written."""
    forms = all_forms()
    forms[TRAINERS]["trainers"][0]["id_number"] = 61010219500122424  # 17 digits, a number, not text
    forms[TRAINERS]["trainers"][1]["phone"] = 1234567890123  # no mobile: still a phone field
    forms[PLAN]["institution"]["name"] = 20231105143022  # a timestamp typed where text goes
    forms[PLEDGE] = b'{\n  "contact_phone": "1234567890" "form": "integrity_pledge"\n}'  # broken JSON
    found = problems_of(package(forms), tmp_path)
    assert_private(found)
    messages = "\n".join(p.message for p in found)
    assert "610102*******2424" in messages and "61010219500122424" not in messages
    assert "123******0123" in messages and "1234567890123" not in messages
    assert "20231105143022" in messages  # no personal number: shown in full
    [broken] = [p for p in found if p.code == "FORM_JSON"]
    assert "\"123***7890\"" in broken.message and "1234567890" not in broken.message  # the line quoted


# ---------------------------------------------------------------------------------------
# docs


def test_docs_forms_md_is_the_generators_output():
    page = Path(__file__).resolve().parents[1] / "docs" / "forms.md"
    assert page.read_text(encoding="utf-8") == render()
    assert docs_main(["--check", str(page)]) == 0


def test_docs_list_every_field_of_every_schema():
    text = render()
    for kind in ALL_FORM_TYPES:
        assert f"### {FILE_NAME_OF_FORM[kind]} — `{kind}`" in text
    for row in ("| `trainings[].occupation` | 培训职业（工种） | string | yes |",
                "| `online_platform` | 线上培训平台 | string or null | when: 理论或实操培训方式含线上（online）时必填 |",
                "| `sessions[].teacher.id_number` | 身份证号 | string | yes | non-empty |",
                "| `remarks` | 备注 | string or null | no (absent, null or \"\") |"):
        assert row in text, row


def test_field_labels_come_from_the_schema_titles():
    # a list's item in the clerk's words (the list's x-item phrase), with its date or name
    assert field_label("sign_in", ["sessions", 0, "trainees", 2, "id_number"]) == "第 1 次签到第 3 名学员的“身份证号”"
    sheet = {"sessions": [{"date": "2026-10-24", "trainees": [{}, {}, {"name": "张三"}]}]}
    assert field_label("sign_in", ["sessions", 0, "trainees", 2, "id_number"], sheet) == \
        "第 1 次签到（2026-10-24）第 3 名学员（张三）的“身份证号”"
    assert field_label("training_plan", ["theory_mode", 1]) == "“理论知识培训方式”第 2 项"  # no phrase: title
    assert field_label("training_plan", []) == "表单内容"
    assert field_label("trainers", ["nickname"]) == "“nickname”"
