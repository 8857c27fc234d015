"""The sheet of each form (spec section 9), derived from the schemas: what the template
writer and the reader share."""

from __future__ import annotations

from pipeline.check.contract import ALL_FORM_TYPES, FILE_NAME_OF_FORM
from pipeline.check.forms import load_schema
from pipeline.check.sheets import BOOLEAN, CHOICES, DATE, INTEGER, all_sheet_models, sheet_model


def _leaf_paths(kind: str) -> set[tuple[str, ...]]:
    """Every value path of the form's schema (lists as their own path), form/version aside."""
    model = sheet_model(kind)
    paths = {c.path for c in model.fields}
    for table in model.tables:
        paths |= {table.path + c.path for c in table.columns}
        if table.inner:
            paths |= {table.path + table.inner.path + c.path for c in table.inner.columns}
    return paths


def test_every_form_has_a_sheet_named_like_its_file():
    assert [m.sheet + ".json" for m in all_sheet_models()] == [FILE_NAME_OF_FORM[k] for k in ALL_FORM_TYPES]
    assert all(m.title == load_schema(m.kind)["title"] for m in all_sheet_models())


def test_every_property_of_every_schema_is_on_its_sheet_once():
    for kind in ALL_FORM_TYPES:
        schema = load_schema(kind)
        top = set(schema["properties"]) - {"form", "version"}
        assert {p[0] for p in _leaf_paths(kind)} == top, kind


def test_the_sign_in_sheet_is_one_flattened_table_of_sessions_and_trainees():
    model = sheet_model("sign_in")
    (table,) = model.tables
    assert table.headers == ("培训日期", "培训地点", "序号", "姓名", "身份证号", "签到", "备注")
    assert table.inner is not None and table.inner.path == ("trainees",)
    kinds = {c.label: c for c in table.columns + table.inner.columns}
    assert kinds["培训日期"].kind == DATE and kinds["签到"].kind == BOOLEAN and kinds["序号"].kind == INTEGER
    assert kinds["身份证号"].as_text and kinds["签到"].shown_choices == ("是", "否")
    assert not kinds["备注"].required and kinds["备注"].nullable


def test_nested_objects_become_columns_and_closed_lists_drop_downs():
    outline = sheet_model("theory_outline").tables[0]
    assert [c.label for c in outline.columns if c.path[0] == "teacher"] == ["培训老师姓名", "培训老师身份证号"]
    trainers = sheet_model("trainers").tables[0]
    assert [c.label for c in trainers.columns if c.path[0] == "certificate"] == ["证书职业（工种）名称", "证书等级"]
    plan = {c.path: c for c in sheet_model("training_plan").fields}
    assert plan[("theory_mode",)].kind == CHOICES and plan[("theory_mode",)].shown_choices == ("线上", "线下")
    assert plan[("institution", "contact_phone")].as_text
    assert [t.title for t in sheet_model("practice_equipment").tables] == ["实操培训设备/仪器", "实操培训耗材"]
    (outline_list, _) = sheet_model("online_record").tables
    assert outline_list.plain and outline_list.headers == ("培训大纲目录",)
