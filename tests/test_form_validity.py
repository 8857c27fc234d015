"""The compiled yes/no of a form's validity (pipeline/check/form_validity.py) answers as
jsonschema does: on the forms of correct packages, and on thousands of broken ones made
by changing, removing and adding values anywhere in them. A form it wrongly found valid
would be accepted without its FORM_SCHEMA error: the worst bug this module could have."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline.check.contract import FILE_NAME_OF_FORM
from pipeline.check.form_validity import _TYPES, _equal, _is_date, _unique, validity_check
from pipeline.check.forms import _valid_quickly, form_validator, schema_issues
from pipeline.kit.example import sample_forms
from tests.support.fuzz_strategies import value_paths

KIND_OF_FILE = {name: kind for kind, name in FILE_NAME_OF_FORM.items()}
TRAININGS = [("育婴师", "初级", 3), ("电工", "高级", 2)]


def _forms() -> list[tuple[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    for theory, practice in ((("offline",), ("offline",)), (("online",), ("online", "offline"))):
        for path, form in sample_forms("新城区星火职业培训学校", datetime.date(2026, 11, 20), TRAININGS,
                                       theory, practice).items():
            found.setdefault(KIND_OF_FILE[path.rsplit("/", 1)[-1]], form)
    return sorted(found.items())


FORMS = _forms()

#: values put anywhere: every JSON type, edge numbers, strings that are almost dates or
#: almost ID numbers, empty containers
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 0.5, 2.0, -0.0, 1e308, 10**400, float("nan"), float("inf"),
    "", " ", "x", "2026-11-20", "2026-02-30", "2026-13-01", "20261120", "初级", "高级", "中级", "offline",
    "online", "610114198006269304", "61011419800626930X", "6101141980062693", "13800138000", [], [None],
    {}, {"x": 1}, 120, 40, 8, 3, 100, 1.25,
]


def _mutate(form: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    form = copy.deepcopy(form)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = value_paths(form)
        path = data.draw(st.sampled_from(paths), label="path")
        if not path:
            continue
        parent: Any = form
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = data.draw(st.sampled_from(["replace", "remove", "add", "duplicate", "empty"]), label="action")
        if action == "replace":
            parent[last] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES), label="value"))
        elif action == "remove":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "备注", "remarks", "seq"]), label="key")] = \
                copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES), label="value"))
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        elif action == "empty" and isinstance(parent[last], (list, dict, str)):
            parent[last] = type(parent[last])()
    return form


def _jsonschema_valid(kind: str, value: Any) -> bool:
    return next(iter(form_validator(kind).iter_errors(value)), None) is None


def test_every_form_type_is_compiled() -> None:
    # a schema with a keyword the module lacks silently loses the speed: say so here
    assert {kind for kind, _ in FORMS} == set(FILE_NAME_OF_FORM)
    assert all(validity_check(kind) is not None for kind in FILE_NAME_OF_FORM)


@pytest.mark.parametrize("kind,form", FORMS, ids=[kind for kind, _ in FORMS])
def test_correct_forms_are_valid_both_ways(kind: str, form: dict[str, Any]) -> None:
    assert _jsonschema_valid(kind, form)
    assert _valid_quickly(kind, form)
    assert schema_issues(kind, form) == []


@pytest.mark.parametrize("kind,form", FORMS, ids=[kind for kind, _ in FORMS])
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_broken_forms_are_judged_as_jsonschema_judges_them(kind: str, form: dict[str, Any],
                                                          data: st.DataObject) -> None:
    broken = _mutate(form, data)
    assert _valid_quickly(kind, broken) == _jsonschema_valid(kind, broken)


def test_broken_forms_still_get_jsonschemas_messages() -> None:
    kind, form = FORMS[0]
    broken = copy.deepcopy(form)
    broken["extra"] = 1
    assert not _valid_quickly(kind, broken)
    assert schema_issues(kind, broken)  # the clerk's message comes from jsonschema's error


@pytest.mark.parametrize("value", ODD_VALUES + [[1, 2], {"a": []}, 3.0, -7, "7"], ids=repr)
def test_types_are_jsonschemas(value: Any) -> None:
    checker = Draft202012Validator.TYPE_CHECKER
    assert {name: predicate(value) for name, predicate in _TYPES.items()} == \
        {name: checker.is_type(value, name) for name in _TYPES}


SAMPLES = ODD_VALUES + [[1, 2], [1, 1.0], [True, 1], [[1], [True]], {"a": 1}, {"a": 1.0}, {"a": True}, 3.0, "7",
                        "2024-02-29", "2023-02-29", "２０２６-01-01", "2026-1-01", " 2026-01-01"]


def test_equality_uniqueness_and_dates_are_jsonschemas() -> None:
    from jsonschema import FormatChecker
    from jsonschema._utils import equal, uniq

    for one in SAMPLES:
        assert _is_date(one) == FormatChecker().conforms(one, "date"), one
        for two in SAMPLES:
            assert _equal(one, two) == equal(one, two), (one, two)
            assert _unique([one, two]) == uniq([one, two]), (one, two)
