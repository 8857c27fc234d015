"""The rules across fields and forms (spec section 4): pipeline/check/rules/forms.py.

The FormSet is built here from Python dicts (no ZIP, no loader): one complete,
consistent sample that passes every rule, then each rule broken on a copy. Problems are
judged by code, path, pointer and parameters (``Problem.params``); the Chinese wording is
pinned once in test_catalogue.py, and only what a clerk must never read in full (身份证号,
phone numbers) or may only read cut short is checked in the message text here.
"""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.check.catalogue import CATALOGUE, Problem, Severity
from pipeline.check.rules.forms import CROSS_FORM_RULES
from pipeline.check.contract import FILE_NAME_OF_FORM
from pipeline.check.forms import FormSet, LoadedForm, TrainingForms
from pipeline.check.identity import HINT_LEGACY_15, make_id_number
from pipeline.check.layout import Training, TrainingFolder
from pipeline.check.privacy import mask_field, mask_id
from tests.support.fuzz_strategies import value_paths
from tests.support.leaks import leaks

ROOT = "新城区星火职业培训学校20261120"
INSTITUTION = "新城区星火职业培训学校"
REPORT_DATE = date(2026, 11, 20)
TODAY = date(2026, 11, 25)

TEACHER_A = ("张伟", "男", make_id_number("110105", date(1980, 5, 1), 123))
TEACHER_B = ("王芳", "女", make_id_number("310104", date(1985, 3, 2), 246))
TRAINEES = {
    "育婴师初级": [(f"学员甲{i}", make_id_number("440106", date(1995, 1, i + 1), 100 + i)) for i in range(3)],
    "车工中级": [(f"学员乙{i}", make_id_number("320102", date(1990, 6, i + 1), 200 + i)) for i in range(2)],
}
TRAININGS = {"育婴师初级": ("育婴师", "初级"), "车工中级": ("车工", "中级")}

THEORY = [("2026-10-08", 7.5, TEACHER_A), ("2026-10-09", 8, TEACHER_A), ("2026-10-10", 8.5, TEACHER_B),
          ("2026-10-12", 8, TEACHER_A), ("2026-10-13", 8, TEACHER_B)]
PRACTICE = [("2026-10-13", 10, TEACHER_B), ("2026-10-15", 10, TEACHER_A), ("2026-10-16", 10, TEACHER_B),
            ("2026-10-20", 10, TEACHER_A)]


def _outline(kind: str, folder: str, sessions: list[tuple[str, float, tuple[str, str, str]]]) -> dict[str, Any]:
    occupation, level = TRAININGS[folder]
    return {
        "form": kind, "version": 1, "occupation": occupation, "level": level,
        "start_date": sessions[0][0], "end_date": sessions[-1][0],
        "total_hours": sum(h for _, h, _ in sessions),
        "sessions": [{"seq": i + 1, "content": f"第{i + 1}讲", "date": d,
                      "teacher": {"name": t[0], "id_number": t[2]}, "hours": h}
                     for i, (d, h, t) in enumerate(sessions)],
    }


def sample() -> dict[str, Any]:
    """Every form's data: {"plan", "pledge", "trainers", folder: {kind: data}}."""
    data: dict[str, Any] = {
        "plan": {
            "form": "training_plan", "version": 1,
            "institution": {"name": INSTITUTION, "address": "某市新城区建设路 18 号",
                            "contact_person": "李明", "contact_phone": "13812345678"},
            "trainings": [{"occupation": "育婴师", "level": "初级", "trainees": 3},
                          {"occupation": "车工", "level": "中级", "trainees": 2}],
            "theory_mode": ["offline", "online"], "practice_mode": ["offline"],
            "online_platform": "技能学习云课堂",
            "start_date": "2026-10-08", "end_date": "2026-11-10", "total_hours": 80,
            "textbooks": [{"title": "育婴员（基础知识）", "publisher": "中国劳动社会保障出版社"}],
            "result": "全部学员完成培训", "remarks": "",
        },
        "pledge": {"form": "integrity_pledge", "version": 1, "institution_name": INSTITUTION,
                   "legal_representative": "赵强", "contact_phone": "0571-88886666",
                   "signed_date": "2026-11-15", "accepted": True},
        "trainers": {"form": "trainers", "version": 1, "trainers": [
            {"name": name, "gender": gender, "ethnicity": "汉族", "id_number": number,
             "education": "本科", "political_status": "群众", "teaching_major": "育婴",
             "teaching_years": 10, "employer": "星火学校", "phone": phone,
             "certificate": {"occupation": "育婴师", "level": "高级"}, "work_history": "…"}
            for (name, gender, number), phone in ((TEACHER_A, "13912345678"), (TEACHER_B, "021-62345678"))
        ]},
    }
    for folder, people in TRAINEES.items():
        occupation, level = TRAININGS[folder]
        days = sorted({d for d, _, _ in THEORY + PRACTICE})
        data[folder] = {
            "theory_outline": _outline("theory_outline", folder, THEORY),
            "practice_outline": _outline("practice_outline", folder, PRACTICE),
            "sign_in": {"form": "sign_in", "version": 1, "occupation": occupation, "level": level,
                        "sessions": [{"date": d, "location": "一号教室", "trainees": [
                            {"seq": k + 1, "name": n, "id_number": num, "signed": True}
                            for k, (n, num) in enumerate(people)]} for d in days]},
            "online_record": {"form": "online_record", "version": 1, "occupation": occupation,
                              "level": level, "platform": "技能学习云课堂",
                              "start_date": "2026-10-20", "end_date": "2026-11-05",
                              "outline": ["第一章", "第二章"],
                              "trainees": [{"name": n, "id_number": num, "hours": 12.5,
                                            "completion_rate": 100, "signed_in": True}
                                           for n, num in people]},
        }
    return data


def _form(kind: str, path: str, data: Any, schema_valid: bool = True) -> LoadedForm:
    return LoadedForm(kind, path, data, schema_valid)


def view_of(data: dict[str, Any], *, report_date: date | None = REPORT_DATE,
            name_institution: str | None = INSTITUTION, today: date = TODAY) -> SimpleNamespace:
    """A stand-in PackageView: ``forms``, ``layout`` (the attributes the rules read), ``today``."""
    plan = data.get("plan") if isinstance(data.get("plan"), dict) else {}
    rows = plan.get("trainings") if isinstance(plan.get("trainings"), list) else []
    # as the layout reads the plan: rows without string occupation and level are skipped
    trainings = tuple(Training(r["occupation"], r["level"], r.get("trainees")) for r in rows
                      if isinstance(r, dict) and isinstance(r.get("occupation"), str)
                      and isinstance(r.get("level"), str))
    by_folder = {t.folder: t for t in trainings}
    folders = [k for k in data if k not in ("plan", "pledge", "trainers")]
    modes = {m: tuple(v for v in plan.get(m, ()) if isinstance(v, str))
             if isinstance(plan.get(m), list) else () for m in ("theory_mode", "practice_mode")}
    tforms = []
    for folder in folders:
        forms = data[folder] if isinstance(data[folder], dict) else {}
        tforms.append(TrainingForms(
            folder=folder, training=by_folder.get(folder),
            **{kind: (_form(kind, f"{ROOT}/{folder}/{FILE_NAME_OF_FORM[kind]}", forms[kind]) if kind in forms else None)
               for kind in ("theory_outline", "practice_outline", "sign_in", "online_record",
                            "practice_equipment")}))
    root = {key: (_form(kind, f"{ROOT}/{FILE_NAME_OF_FORM[kind]}", data[key]) if key in data else None)
            for key, kind in (("plan", "training_plan"), ("pledge", "integrity_pledge"),
                              ("trainers", "trainers"))}
    fs = FormSet(plan=root["plan"], pledge=root["pledge"], trainers=root["trainers"],
                 trainings=tuple(tforms), problems=())
    layout = SimpleNamespace(
        report_date=report_date, name_institution=name_institution,
        plan_institution=INSTITUTION, trainings=trainings,
        theory_mode=modes["theory_mode"], practice_mode=modes["practice_mode"],
        folders={f: TrainingFolder(f, by_folder.get(f), f if f in by_folder else None, ("理论", "实操"))
                 for f in folders},
    )
    return SimpleNamespace(forms=fs, layout=layout, today=today)


def run(view: Any) -> list[Problem]:
    out: list[Problem] = []
    for rule in CROSS_FORM_RULES:
        out.extend(rule(view))
    return out


def only(problems: list[Problem], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


@pytest.fixture
def data() -> dict[str, Any]:
    return sample()


# ---------------------------------------------------------------------------------------
# the sample


def test_sample_is_consistent_and_passes(data):
    assert run(view_of(data)) == []
    # the sample really exercises every rule: outlines sum, sign-in on each date, counts
    assert data["育婴师初级"]["theory_outline"]["total_hours"] == 40
    assert data["育婴师初级"]["practice_outline"]["total_hours"] == 40
    assert len(data["育婴师初级"]["sign_in"]["sessions"]) == 8  # 2026-10-13 holds both


def test_rules_are_all_listed_in_reporting_order():
    names = [r.__name__ for r in CROSS_FORM_RULES]
    assert names == ["check_form_lists", "check_id_numbers", "check_phones", "check_dates", "check_hours",
                     "check_mismatch", "check_teachers", "check_trainees", "check_signin",
                     "check_hours_plan"]


def test_registered_in_default_checks():
    from pipeline.check.rules import default_checks

    checks = list(default_checks())
    assert all(rule in checks for rule in CROSS_FORM_RULES)
    positions = [checks.index(rule) for rule in CROSS_FORM_RULES]
    assert positions == sorted(positions)


# ---------------------------------------------------------------------------------------
# FORM_SCHEMA: field-list constraints no JSON Schema expresses


def test_training_twice_in_plan(data):
    data["plan"]["trainings"].append({"occupation": "育婴师", "level": "初级", "trainees": 3})
    problems = run(view_of(data))
    assert [(p.code, p.path, p.pointer) for p in problems] == [
        ("FORM_SCHEMA", f"{ROOT}/培训方案.json", "/trainings/2")]
    assert problems[0].params["duplicate_of"] == "/trainings/0"


def test_trainer_number_twice(data):
    data["trainers"]["trainers"].append(dict(data["trainers"]["trainers"][0], name="张伟伟"))
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_SCHEMA", "/trainers/2/id_number")]
    p = problems[0]
    assert p.params["duplicate_of"] == "/trainers/0/id_number" and p.params["id_number"] == mask_id(TEACHER_A[2])
    assert TEACHER_A[2] not in p.message  # privacy: the clerk's text never shows the number in full


def test_outline_seq_in_order(data):
    sessions = data["车工中级"]["theory_outline"]["sessions"]
    sessions[1]["seq"], sessions[2]["seq"] = 3, 2
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_SCHEMA", "/sessions/1/seq")]
    sessions[1]["seq"], sessions[2]["seq"] = 2.0, 3  # 2.0 is the integer 2 in JSON Schema
    assert run(view_of(data)) == []


# ---------------------------------------------------------------------------------------
# FORM_ID_NUMBER


def test_invalid_trainer_id_number(data):
    bad = TEACHER_A[2][:-1] + ("0" if TEACHER_A[2][-1] != "0" else "1")
    data["trainers"]["trainers"][0]["id_number"] = bad
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    trainer = [p for p in problems if p.path.endswith("培训教师.json")]
    assert len(trainer) == 1
    p = trainer[0]
    assert p.pointer == "/trainers/0/id_number"
    assert (p.params["fault"], p.params["name"]) == ("check_character", "张伟")
    assert p.params["id_number"] == bad[:6] + "********" + bad[-4:]
    # privacy: what the clerk reads names the number masked, never in full
    assert bad[:6] + "********" + bad[-4:] in p.message and bad not in p.message
    assert p.severity is Severity.ERROR


def test_legacy_15_digit_number_gets_the_hint(data):
    data["trainers"]["trainers"][1]["id_number"] = "110105800501123"
    p = only(run(view_of(data)), "FORM_ID_NUMBER")[0]
    assert p.params["fault"] == "legacy_15" and p.params["reason"].endswith(f"（{HINT_LEGACY_15}）")


def test_trainer_gender_must_agree_with_17th_digit(data):
    data["trainers"]["trainers"][0]["gender"] = "女"  # number has an odd 17th digit
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    assert len(problems) == 1
    assert problems[0].pointer == "/trainers/0/id_number"
    params = problems[0].params
    assert (params["fault"], params["gender"], params["id_gender"]) == ("gender", "女", "男")


def test_lowercase_x_is_accepted(data):
    number = next(make_id_number("110105", date(1981, 1, 1), s) for s in range(1, 999, 2)
                  if make_id_number("110105", date(1981, 1, 1), s).endswith("X"))
    data["trainers"]["trainers"][0]["id_number"] = number[:-1] + "x"
    for folder in TRAINEES:
        for outline in ("theory_outline", "practice_outline"):
            for s in data[folder][outline]["sessions"]:
                if s["teacher"]["name"] == "张伟":
                    s["teacher"]["id_number"] = number
    assert run(view_of(data)) == []


def test_outline_teacher_number_reported_once_per_outline(data):
    bad = "11010519800501123"  # 17 characters
    sessions = data["育婴师初级"]["theory_outline"]["sessions"]
    for s in sessions:
        if s["teacher"]["name"] == "张伟":
            s["teacher"]["id_number"] = bad
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    assert len(problems) == 1
    p = problems[0]
    assert p.path == f"{ROOT}/育婴师初级/理论培训大纲.json"
    assert p.pointer == "/sessions/0/teacher/id_number"
    assert (p.params["occurrences"], p.params["fault"]) == (3, "length")
    assert p.params["id_number"] == mask_id(bad)  # 17 characters, masked
    # one fault, one error: the invalid number is not also "another teacher than the list's"
    assert only(run(view_of(data)), "FORM_TEACHER") == []


def test_sign_in_trainee_number_grouped_per_form(data):
    people = TRAINEES["车工中级"]
    bad = "00" + people[0][1][2:]  # 00: no such province
    for session in data["车工中级"]["sign_in"]["sessions"]:
        session["trainees"][0]["id_number"] = bad
    data["车工中级"]["online_record"]["trainees"][0]["id_number"] = bad
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    assert len(problems) == 2
    sign, online = problems  # in reporting order: sign-in form, then online record
    assert sign.path.endswith("车工中级/签到表.json")
    assert sign.pointer == "/sessions/0/trainees/0/id_number"
    assert (sign.params["date"], sign.params["name"], sign.params["occurrences"]) == ("2026-10-08", people[0][0], 8)
    assert online.path.endswith("车工中级/线上培训记录.json") and online.pointer == "/trainees/0/id_number"
    assert online.params["occurrences"] == 1
    assert all(p.params["fault"] == "region" for p in problems)


def test_each_distinct_invalid_number_is_its_own_problem(data):
    session = data["育婴师初级"]["sign_in"]["sessions"][3]
    session["trainees"][0]["id_number"] = "123"
    session["trainees"][2]["id_number"] = "1234567890123456789"
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    assert sorted(p.pointer for p in problems) == ["/sessions/3/trainees/0/id_number",
                                                  "/sessions/3/trainees/2/id_number"]


def test_future_birth_date(data):
    data["育婴师初级"]["online_record"]["trainees"][1]["id_number"] = make_id_number(
        "440106", date(2026, 12, 1), 101)
    problems = only(run(view_of(data)), "FORM_ID_NUMBER")
    assert len(problems) == 1 and problems[0].params["fault"] == "birth_date_future"


# ---------------------------------------------------------------------------------------
# FORM_PHONE


@pytest.mark.parametrize("where", ["plan", "pledge", "trainer"])
def test_invalid_phone(data, where):
    if where == "plan":
        data["plan"]["institution"]["contact_phone"] = "12812345678"
        path, pointer = f"{ROOT}/培训方案.json", "/institution/contact_phone"
    elif where == "pledge":
        data["pledge"]["contact_phone"] = "88886666"
        path, pointer = f"{ROOT}/诚信承诺书.json", "/contact_phone"
    else:
        data["trainers"]["trainers"][1]["phone"] = "139123456789"
        path, pointer = f"{ROOT}/培训教师.json", "/trainers/1/phone"
    problems = run(view_of(data))
    assert [(p.code, p.path, p.pointer) for p in problems] == [("FORM_PHONE", path, pointer)]


def test_tolerated_phone_spellings(data):
    data["plan"]["institution"]["contact_phone"] = "+86 138-1234-5678"
    data["pledge"]["contact_phone"] = "0571 8888 6666"
    data["trainers"]["trainers"][1]["phone"] = "010-12345678-123"
    assert run(view_of(data)) == []


def test_phone_is_masked(data):
    data["trainers"]["trainers"][0]["phone"] = "1391234567"  # 10 digits
    p = only(run(view_of(data)), "FORM_PHONE")[0]
    assert (p.pointer, p.params["phone"], p.params["name"]) == ("/trainers/0/phone", "139***4567", "张伟")
    # privacy: what the clerk reads names the number masked, never in full
    assert "139***4567" in p.message and "1391234567" not in p.message


# ---------------------------------------------------------------------------------------
# FORM_DATE


def test_start_after_end(data):
    data["育婴师初级"]["online_record"]["start_date"] = "2026-11-06"
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_DATE", "/start_date")]
    assert (problems[0].params["start_date"], problems[0].params["end_date"]) == ("2026-11-06", "2026-11-05")


def test_inverted_plan_range_is_one_problem(data):
    data["plan"]["start_date"], data["plan"]["end_date"] = "2026-11-10", "2026-10-08"
    problems = run(view_of(data))
    assert [(p.code, p.path, p.pointer) for p in problems] == [
        ("FORM_DATE", f"{ROOT}/培训方案.json", "/start_date")]


def test_session_outside_plan_range(data):
    data["车工中级"]["practice_outline"]["sessions"][3]["date"] = "2026-11-12"
    data["车工中级"]["practice_outline"]["end_date"] = "2026-11-12"
    problems = only(run(view_of(data)), "FORM_DATE")
    assert sorted(p.pointer for p in problems) == ["/end_date", "/sessions/3/date"]
    assert all((p.params["date"], p.params["plan_start"], p.params["plan_end"]) ==
               ("2026-11-12", "2026-10-08", "2026-11-10") for p in problems)
    # and no sign-in that day
    signin = only(run(view_of(data)), "FORM_SIGNIN")
    assert len(signin) == 1 and signin[0].params["date"] == "2026-11-12"


def test_session_outside_its_outline_range(data):
    data["育婴师初级"]["theory_outline"]["start_date"] = "2026-10-09"
    problems = only(run(view_of(data)), "FORM_DATE")
    assert [p.pointer for p in problems] == ["/sessions/0/date"]
    params = problems[0].params
    assert (params["date"], params["outline_start"], params["outline_end"]) == ("2026-10-08", "2026-10-09", "2026-10-13")
    assert "plan_start" not in params  # inside the plan's range: its own outline's range is broken


def test_sign_in_and_online_dates_within_plan(data):
    data["育婴师初级"]["sign_in"]["sessions"][0]["date"] = "2026-10-01"
    data["车工中级"]["online_record"]["end_date"] = "2026-11-11"
    problems = only(run(view_of(data)), "FORM_DATE")
    assert sorted((p.path.rsplit("/", 2)[-2], p.pointer) for p in problems) == [
        ("育婴师初级", "/sessions/0/date"), ("车工中级", "/end_date")]


def test_pledge_and_plan_end_not_after_report_date(data):
    data["pledge"]["signed_date"] = "2026-11-21"
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_DATE", "/signed_date")]
    assert (problems[0].params["date"], problems[0].params["report_date"]) == ("2026-11-21", "2026-11-20")
    problems = run(view_of(data, report_date=date(2026, 11, 9)))
    assert sorted((p.path.rsplit("/", 1)[-1], p.pointer) for p in problems) == [
        ("培训方案.json", "/end_date"), ("诚信承诺书.json", "/signed_date")]
    assert run(view_of(data, report_date=None)) == []


@pytest.mark.parametrize("bad", ["2026/10/08", "2026-10-8", "2026-02-30", "20261008", 20261008, None,
                                 "２０２６-10-08"])
def test_unparsable_dates_are_skipped(data, bad):
    data["育婴师初级"]["sign_in"]["sessions"][2]["date"] = bad
    data["plan"]["end_date"] = bad
    problems = run(view_of(data))
    # without the plan's end the range is open; only the sign-in date is missing now
    assert [p.code for p in problems] == ["FORM_SIGNIN"]


# ---------------------------------------------------------------------------------------
# FORM_HOURS


def test_outline_total_differs_from_sessions(data):
    data["车工中级"]["theory_outline"]["sessions"][1]["hours"] = 8.5
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_HOURS", "/total_hours")]
    assert (problems[0].params["total_hours"], problems[0].params["sessions_sum"]) == (40, 40.5)


def test_halves_and_float_sums_are_exact_enough(data):
    outline = data["车工中级"]["practice_outline"]
    outline["sessions"] = outline["sessions"][:1] * 3
    for s, h in zip(outline["sessions"], (0.1, 0.2, 0.3)):
        s["hours"] = h
    outline["sessions"] = [dict(s, hours=h, seq=i + 1) for i, (s, h) in enumerate(
        zip(outline["sessions"], (0.1, 0.2, 0.3)))]
    outline["total_hours"] = 0.6
    outline["end_date"] = outline["start_date"]
    problems = run(view_of(data))
    assert not only(problems, "FORM_HOURS")
    assert [p.code for p in problems] == ["W_HOURS_PLAN"]


def test_online_hours_must_be_positive(data):
    data["育婴师初级"]["online_record"]["trainees"][2]["hours"] = 0
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_HOURS", "/trainees/2/hours")]
    assert (problems[0].params["name"], problems[0].params["hours"]) == ("学员甲2", 0)


# ---------------------------------------------------------------------------------------
# FORM_MISMATCH


def test_pledge_institution_name(data):
    data["pledge"]["institution_name"] = "新城区星火培训学校"
    problems = run(view_of(data))
    assert [(p.code, p.path, p.pointer) for p in problems] == [
        ("FORM_MISMATCH", f"{ROOT}/诚信承诺书.json", "/institution_name")]
    assert (problems[0].params["found"], problems[0].params["expected"]) == ("新城区星火培训学校", INSTITUTION)


def test_surrounding_spaces_in_names_are_ignored(data):
    data["pledge"]["institution_name"] = f" {INSTITUTION} "
    assert run(view_of(data)) == []


def test_folder_name_differing_from_plan_is_left_to_hierarchy(data):
    assert run(view_of(data, name_institution="别的学校")) == []


def test_without_plan_name_the_folder_name_is_the_reference(data):
    data["plan"]["institution"] = "not an object"
    data["pledge"]["institution_name"] = "别的学校"
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_MISMATCH", "/institution_name")]
    assert problems[0].params["other"] == "顶层文件夹名称"  # the reference: the level-1 folder's name
    assert (problems[0].params["found"], problems[0].params["expected"]) == ("别的学校", INSTITUTION)


def test_level2_occupation_and_level(data):
    data["育婴师初级"]["sign_in"]["occupation"] = "保育师"
    data["车工中级"]["theory_outline"]["level"] = "四级"
    problems = run(view_of(data))
    assert sorted((p.path.split("/", 1)[1], p.pointer) for p in problems) == [
        ("育婴师初级/签到表.json", "/occupation"), ("车工中级/理论培训大纲.json", "/level")]
    assert all(p.code == "FORM_MISMATCH" for p in problems)
    assert sorted((p.params["found"], p.params["expected"]) for p in problems) == [("保育师", "育婴师"), ("四级", "中级")]


def test_alias_folder_is_compared_with_its_training(data):
    data["育婴师五级"] = data.pop("育婴师初级")
    view = view_of(data)
    view.layout.folders["育婴师五级"] = TrainingFolder("育婴师五级", None, "育婴师初级", ("理论", "实操"))
    assert run(view) == []
    data["育婴师五级"]["sign_in"]["level"] = "五级"
    view = view_of(data)
    view.layout.folders["育婴师五级"] = TrainingFolder("育婴师五级", None, "育婴师初级", ("理论", "实操"))
    problems = run(view)
    assert [(p.code, p.pointer) for p in problems] == [("FORM_MISMATCH", "/level")]


def test_online_platform(data):
    data["车工中级"]["online_record"]["platform"] = "别的平台"
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_MISMATCH", "/platform")]
    assert (problems[0].params["found"], problems[0].params["expected"]) == ("别的平台", "技能学习云课堂")


# ---------------------------------------------------------------------------------------
# FORM_TEACHER


def test_teacher_not_in_trainer_list(data):
    stranger = make_id_number("510104", date(1979, 9, 9), 333)
    data["育婴师初级"]["practice_outline"]["sessions"][2]["teacher"] = {"name": "刘洋", "id_number": stranger}
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TEACHER", "/sessions/2/teacher")]
    p = problems[0]
    assert (p.params["name"], p.params["id_number"]) == ("刘洋", mask_id(stranger))
    assert (p.params["fault"], p.params["sessions"]) == ("not_listed", [3])
    assert stranger not in p.message  # privacy: the clerk's text never shows the number in full


def test_teacher_name_differs(data):
    data["车工中级"]["theory_outline"]["sessions"][2]["teacher"]["name"] = "王丽"
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TEACHER", "/sessions/2/teacher")]
    assert (problems[0].params["fault"], problems[0].params["listed_names"]) == ("other_name", ["王芳"])
    assert problems[0].params["name"] == "王丽"


def test_teacher_number_differs(data):
    other = make_id_number("310104", date(1985, 3, 2), 248)
    data["车工中级"]["theory_outline"]["sessions"][2]["teacher"]["id_number"] = other
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TEACHER", "/sessions/2/teacher")]
    assert (problems[0].params["fault"], problems[0].params["name"]) == ("other_id_number", "王芳")


def test_no_trainer_list_no_teacher_judgement(data):
    data["trainers"]["trainers"] = "nobody"
    assert only(run(view_of(data)), "FORM_TEACHER") == []


# ---------------------------------------------------------------------------------------
# FORM_TRAINEES


def test_sign_in_count_differs_from_plan(data):
    data["plan"]["trainings"][0]["trainees"] = 4
    view = view_of(data)
    problems = run(view)
    assert sorted((p.code, p.path.split("/", 1)[1], p.pointer) for p in problems) == [
        ("FORM_TRAINEES", "育婴师初级/签到表.json", "/sessions"),
        ("FORM_TRAINEES", "育婴师初级/线上培训记录.json", "/trainees")]
    assert all((p.params["found"], p.params["expected"]) == (3, 4) for p in problems)


def test_extra_trainee_in_one_session_counts(data):
    newcomer = {"seq": 4, "name": "插班生", "id_number": make_id_number("440106", date(1996, 2, 2), 155),
                "signed": True}
    data["育婴师初级"]["sign_in"]["sessions"][5]["trainees"].append(newcomer)
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TRAINEES", "/sessions")]
    assert (problems[0].params["found"], problems[0].params["expected"]) == (4, 3)
    # the count names who differs: the one found in some sessions only
    assert "只出现在部分签到中的学员：插班生（440106********" in problems[0].message
    assert "（第 6 次）" in problems[0].message and problems[0].params["fault"] == "count"


def test_an_invalid_number_in_one_session_is_one_error_not_also_a_new_trainee(data):
    row = data["育婴师初级"]["sign_in"]["sessions"][3]["trainees"][1]
    row["id_number"] = row["id_number"][:-1]  # a digit dropped: the same person, mistyped
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_ID_NUMBER", "/sessions/3/trainees/1/id_number")]


def test_an_invalid_number_of_an_unknown_name_still_counts_as_a_person(data):
    stranger = {"seq": 4, "name": "陌生人", "id_number": "44010619960202155", "signed": True}  # 17 characters
    data["育婴师初级"]["sign_in"]["sessions"][0]["trainees"].append(stranger)
    problems = run(view_of(data))
    assert sorted(p.code for p in problems) == ["FORM_ID_NUMBER", "FORM_TRAINEES"]
    count = only(problems, "FORM_TRAINEES")[0]
    assert (count.params["found"], count.params["expected"]) == (4, 3) and "陌生人" in count.message


def test_a_plan_number_the_schema_refuses_is_not_also_a_count_error(data):
    data["plan"]["trainings"][0]["trainees"] = 0  # FORM_SCHEMA (minimum 1): that is the one error
    assert only(run(view_of(data)), "FORM_TRAINEES") == []


def test_online_count_names_who_is_not_on_the_sign_in_sheet(data):
    extra = {**data["育婴师初级"]["online_record"]["trainees"][0], "name": "线上多出",
             "id_number": make_id_number("440106", date(1997, 3, 3), 177)}
    data["育婴师初级"]["online_record"]["trainees"].append(extra)
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TRAINEES", "/trainees")]
    assert "不在签到表中的：线上多出（440106********" in problems[0].message


def test_count_skipped_when_mode_does_not_apply(data):
    data["plan"]["theory_mode"] = ["offline"]
    data["plan"]["trainings"][1]["trainees"] = 9
    problems = run(view_of(data))
    # the online record is not required now, but its count is not judged either
    assert [(p.path.split("/", 1)[1], p.pointer) for p in problems] == [("车工中级/签到表.json", "/sessions")]


def test_repeated_trainee_in_one_session(data):
    trainees = data["车工中级"]["sign_in"]["sessions"][1]["trainees"]
    trainees.append(dict(trainees[0], seq=3))
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TRAINEES", "/sessions/1/trainees/2/id_number")]
    assert problems[0].params["duplicate_of"] == "/sessions/1/trainees/0/id_number"


def test_unsigned_entries(data):
    data["育婴师初级"]["sign_in"]["sessions"][4]["trainees"][1]["signed"] = False
    data["育婴师初级"]["sign_in"]["sessions"][6]["trainees"][1]["signed"] = False
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [
        ("FORM_TRAINEES", "/sessions/4/trainees/1/signed"), ("FORM_TRAINEES", "/sessions/6/trainees/1/signed")]
    assert (problems[0].params["signed"], problems[0].params["name"]) == (False, "学员甲1")


def test_online_completion_and_sign_in(data):
    row = data["车工中级"]["online_record"]["trainees"][1]
    row["completion_rate"], row["signed_in"] = 95, False
    data["车工中级"]["online_record"]["trainees"][0]["signed_in"] = False
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [
        ("FORM_TRAINEES", "/trainees/0/signed_in"), ("FORM_TRAINEES", "/trainees/1/completion_rate")]
    assert {k: problems[1].params.get(k) for k in ("name", "completion_rate", "signed_in")} == \
        {"name": "学员乙1", "completion_rate": 95, "signed_in": False}
    assert "completion_rate" not in problems[0].params and problems[0].params["signed_in"] is False


def test_online_duplicate_row(data):
    trainees = data["车工中级"]["online_record"]["trainees"]
    trainees.append(dict(trainees[1]))
    problems = run(view_of(data))
    assert [(p.code, p.pointer) for p in problems] == [("FORM_TRAINEES", "/trainees/2/id_number")]
    assert problems[0].params["duplicate_of"] == "/trainees/1/id_number"


# ---------------------------------------------------------------------------------------
# FORM_SIGNIN


def test_missing_sign_in_date(data):
    sessions = data["育婴师初级"]["sign_in"]["sessions"]
    data["育婴师初级"]["sign_in"]["sessions"] = [s for s in sessions if s["date"] != "2026-10-09"]
    problems = run(view_of(data))
    assert [(p.code, p.path.split("/", 1)[1], p.pointer) for p in problems] == [
        ("FORM_SIGNIN", "育婴师初级/签到表.json", "/sessions")]
    assert (problems[0].params["outlines"], problems[0].params["date"]) == (["理论培训大纲.json"], "2026-10-09")


def test_date_of_both_outlines_is_one_problem(data):
    sessions = data["车工中级"]["sign_in"]["sessions"]
    data["车工中级"]["sign_in"]["sessions"] = [s for s in sessions if s["date"] != "2026-10-13"]
    problems = run(view_of(data))
    assert [p.code for p in problems] == ["FORM_SIGNIN"]
    assert problems[0].params["outlines"] == ["理论培训大纲.json", "实操培训大纲.json"]
    assert problems[0].params["date"] == "2026-10-13"


def test_online_only_outline_needs_no_sign_in(data):
    data["plan"]["theory_mode"] = ["online"]
    sessions = data["车工中级"]["sign_in"]["sessions"]
    theory_only = {"2026-10-08", "2026-10-09", "2026-10-10", "2026-10-12"}
    data["车工中级"]["sign_in"]["sessions"] = [s for s in sessions if s["date"] not in theory_only]
    problems = run(view_of(data))
    assert not only(problems, "FORM_SIGNIN")
    # both outlines offline no more: no W_HOURS_PLAN either, whatever the totals
    data["plan"]["total_hours"] = 60
    assert not only(run(view_of(data)), "W_HOURS_PLAN")


def test_missing_sign_in_form_is_not_judged_here(data):
    del data["育婴师初级"]["sign_in"]
    assert run(view_of(data)) == []


# ---------------------------------------------------------------------------------------
# W_HOURS_PLAN


def test_outline_totals_differ_from_plan(data):
    data["plan"]["total_hours"] = 72
    problems = run(view_of(data))
    assert [(p.code, p.severity, p.path, p.pointer) for p in problems] == [
        ("W_HOURS_PLAN", Severity.WARNING, f"{ROOT}/培训方案.json", "/total_hours"),
        ("W_HOURS_PLAN", Severity.WARNING, f"{ROOT}/培训方案.json", "/total_hours")]
    hours = [(p.params["training"], p.params["theory_hours"], p.params["practice_hours"], p.params["plan_hours"])
             for p in problems]
    assert hours == [("育婴师初级", 40, 40, 72), ("车工中级", 40, 40, 72)]


def test_hours_plan_per_training(data):
    outline = data["车工中级"]["practice_outline"]
    outline["sessions"] = outline["sessions"][:3]
    outline["total_hours"], outline["end_date"] = 30, outline["sessions"][-1]["date"]
    problems = run(view_of(data))
    assert [p.code for p in problems] == ["W_HOURS_PLAN"]
    params = problems[0].params
    assert (params["training"], params["theory_hours"], params["practice_hours"], params["plan_hours"]) == \
        ("车工中级", 40, 30, 80)


# ---------------------------------------------------------------------------------------
# everything together, broken data, privacy


def test_faults_in_several_forms_are_all_reported(data):
    data["trainers"]["trainers"][1]["id_number"] = "310104198503022460"
    data["pledge"]["contact_phone"] = "123"
    data["plan"]["end_date"] = "2026-11-30"
    data["育婴师初级"]["theory_outline"]["total_hours"] = 41
    data["车工中级"]["online_record"]["platform"] = "别的平台"
    data["车工中级"]["sign_in"]["sessions"][0]["trainees"][0]["signed"] = False
    data["育婴师初级"]["sign_in"]["sessions"].pop()
    data["育婴师初级"]["practice_outline"]["sessions"][0]["teacher"]["name"] = "某某"
    codes = {p.code for p in run(view_of(data))}
    assert codes >= {"FORM_ID_NUMBER", "FORM_PHONE", "FORM_DATE", "FORM_HOURS", "FORM_MISMATCH",
                     "FORM_TEACHER", "FORM_TRAINEES", "FORM_SIGNIN", "W_HOURS_PLAN"}


def test_wrong_types_everywhere_raise_nothing(data):
    data["plan"].update(institution=[], trainings="x", start_date=5, end_date={}, total_hours="abc",
                        online_platform=3, theory_mode="offline")
    data["pledge"] = ["not", "an", "object"]
    data["trainers"]["trainers"] = {"name": "x"}
    f1 = data["育婴师初级"]
    f1["theory_outline"]["sessions"] = "sessions"
    f1["practice_outline"]["sessions"] = [1, None, {"teacher": "张伟", "hours": "abc", "date": 20261010},
                                          {"teacher": {"name": 5, "id_number": 110105}, "hours": True}]
    f1["practice_outline"]["total_hours"] = None
    f1["sign_in"]["sessions"] = [{"trainees": {"a": 1}}, {"date": "2026-10-08", "trainees": [None, 3]}]
    f1["online_record"]["trainees"] = {"name": "x"}
    f2 = data["车工中级"]
    f2["theory_outline"] = None
    f2["practice_outline"] = "text"
    f2["sign_in"] = 42
    f2["online_record"]["trainees"] = [{"hours": "abc", "completion_rate": "100", "signed_in": "no",
                                       "id_number": ["x"]}, {"hours": 10**400, "completion_rate": float("nan")}]
    problems = run(view_of(data))
    assert all(isinstance(p, Problem) and p.code in CATALOGUE for p in problems)


def test_missing_and_unreadable_forms():
    fs = FormSet(plan=None, pledge=LoadedForm("integrity_pledge", f"{ROOT}/诚信承诺书.json", None, False),
                 trainers=None, trainings=(TrainingForms("育婴师初级", None, None, None, None, None, None),),
                 problems=())
    view = SimpleNamespace(forms=fs, layout=SimpleNamespace(), today=TODAY)
    assert run(view) == []
    assert run(SimpleNamespace(layout=SimpleNamespace(), today=TODAY)) == []  # no forms at all


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                       st.sampled_from(["2026-10-10", "2026-13-40", TEACHER_A[2], "13812345678", "x"]))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["date", "hours", "id_number", "name", "trainees", "sessions", "teacher", "signed", "gender",
         "phone", "total_hours", "start_date", "end_date", "completion_rate", "signed_in", "level"]),
        inner, max_size=5)), max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_value_anywhere_raises_nothing(draw):
    data = sample()
    for _ in range(draw.draw(st.integers(1, 4))):
        paths = [p for p in value_paths(data) if p]
        path = draw.draw(st.sampled_from(paths))
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = draw.draw(_json)
    problems = run(view_of(data))
    assert all(isinstance(p, Problem) for p in problems)
    _assert_masked(problems)


# -- privacy ------------------------------------------------------------------------------

def _assert_masked(problems: list[Problem]) -> None:
    for p in problems:
        # the parameters are JSON (no NaN) and masked like the message
        params = json.dumps(dict(p.params), ensure_ascii=False, allow_nan=False)
        for text in (p.message, p.hint or "", p.pointer or "", params):
            assert not leaks(text), text  # no personal number in full (tests/support/leaks.py)
        for key in ("id_number", "phone"):  # by their meaning: masked whatever they hold
            if isinstance(p.params.get(key), str):
                assert mask_field(key, p.params[key]) == p.params[key], (key, p.params[key])


def test_no_message_shows_a_full_number(data):
    # break everything that names a number so that messages are produced
    data["trainers"]["trainers"][0]["gender"] = "女"
    data["trainers"]["trainers"][0]["phone"] = "139123456780"
    data["trainers"]["trainers"][1]["name"] = "王芳13812345678"  # numbers in free text too
    for folder in TRAINEES:
        for s in data[folder]["sign_in"]["sessions"]:
            for t in s["trainees"]:
                t["signed"] = False
                t["id_number"] = t["id_number"][:-1] + ("0" if t["id_number"][-1] != "0" else "1")
        for t in data[folder]["online_record"]["trainees"]:
            t["completion_rate"] = 50
        data[folder]["theory_outline"]["sessions"][0]["teacher"]["id_number"] = make_id_number(
            "510104", date(1979, 9, 9), 333)
    problems = run(view_of(data))
    assert len(problems) > 20
    _assert_masked(problems)
    text = json.dumps([[p.to_json(), dict(p.params)] for p in problems], ensure_ascii=False)
    for number in [TEACHER_A[2], TEACHER_B[2], *(n for people in TRAINEES.values() for _, n in people)]:
        assert number not in text and number[:-1] not in text


def test_every_problem_names_a_form_path(data):
    data["plan"]["total_hours"] = 1
    data["pledge"]["contact_phone"] = "1"
    problems = run(view_of(data))
    assert problems and all(p.path.startswith(ROOT + "/") and p.path.endswith(".json") for p in problems)
    assert all(p.pointer and p.pointer.startswith("/") for p in problems)


# ---------------------------------------------------------------------------------------
# end to end: real packages through the loader (PackageBuilder's forms are consistent)


def _package_problems(builder, tmp_path) -> list[Problem]:
    from pipeline.check.assess import assess
    from pipeline.check.rules.forms import check_forms_readable
    from pipeline.check.policy import load_policy

    zip_path = builder.to_zip(tmp_path / f"{builder.root}.zip")
    findings = assess(zip_path, zip_path.name, load_policy(), tmp_path / "work", TODAY,
                      checks=(check_forms_readable, *CROSS_FORM_RULES))
    return findings.problems


def _builder(**kwargs):
    from tests.support.packages import PackageBuilder, fake_photo, fake_video

    return PackageBuilder(photo=fake_photo, video=fake_video, screenshot=lambda name: b"png", **kwargs)


def test_end_to_end_sample_package_passes(tmp_path):
    b = _builder(trainings=[("育婴师", "初级", 4), ("车工", "中级", 3)], theory_mode=["offline", "online"])
    assert _package_problems(b, tmp_path) == []


def test_end_to_end_faults_are_found(tmp_path):
    b = _builder(trainings=[("育婴师", "初级", 4), ("车工", "中级", 3)], theory_mode=["offline", "online"])
    folder = b.folder(1)
    b.forms[f"{folder}/签到表.json"]["sessions"][0]["trainees"][0]["signed"] = False
    b.forms[f"{folder}/理论培训大纲.json"]["sessions"][0]["teacher"]["name"] = "不在名单"
    b.forms["诚信承诺书.json"]["institution_name"] = "别的学校"
    b.plan["trainings"][0]["trainees"] = 5
    problems = _package_problems(b, tmp_path)
    found = sorted((p.code, p.path.split("/", 1)[1], p.pointer) for p in problems)
    assert found == sorted([
        ("FORM_MISMATCH", "诚信承诺书.json", "/institution_name"),
        ("FORM_TEACHER", f"{folder}/理论培训大纲.json", "/sessions/0/teacher"),
        ("FORM_TRAINEES", f"{folder}/签到表.json", "/sessions/0/trainees/0/signed"),
        ("FORM_TRAINEES", "育婴师初级/签到表.json", "/sessions"),
        ("FORM_TRAINEES", "育婴师初级/线上培训记录.json", "/trainees"),
    ])
    _assert_masked(problems)


def test_end_to_end_schema_broken_form_is_still_judged(tmp_path):
    b = _builder()
    sign_in = b.forms[f"{b.folder()}/签到表.json"]
    sign_in["unknown_field"] = 1  # FORM_SCHEMA, yet the rules still read the form
    sign_in["sessions"][0]["trainees"][0]["signed"] = False
    codes = sorted(p.code for p in _package_problems(b, tmp_path))
    assert codes == ["FORM_SCHEMA", "FORM_TRAINEES"]


def test_blank_numbers_are_left_to_the_schema(data):
    data["trainers"]["trainers"][0]["phone"] = "  "
    data["育婴师初级"]["online_record"]["trainees"][0]["id_number"] = ""
    assert only(run(view_of(data)), "FORM_ID_NUMBER") == only(run(view_of(data)), "FORM_PHONE") == []


def test_long_free_text_is_cut_in_messages(data):
    data["pledge"]["institution_name"] = "很长的机构名称" * 20
    p = only(run(view_of(data)), "FORM_MISMATCH")[0]
    # the point is what the clerk reads: the quoted name is cut short
    assert "很长的机构名称" in p.message and len(p.message) < 150 and "…" in p.message
    assert p.params["found"] == ("很长的机构名称" * 20)[:29] + "…"  # cut like in the message
