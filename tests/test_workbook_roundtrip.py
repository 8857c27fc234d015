"""JSON -> 表单.xlsx -> JSON is exact (issue 16): the writer (pipeline/kit/workbook.py) and
the reader (pipeline/check/workbook.py) over the example's forms and over Hypothesis-made
forms of every kind, drawn from the sheet model itself (so a field added to a schema is
covered without touching this test)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.check.contract import ALL_FORM_TYPES, FILE_NAME_OF_FORM, ROOT_FORM_TYPES, TRAINING_FORM_TYPES
from pipeline.check.sheets import (BOOLEAN, CHOICE, CHOICES, DATE, INTEGER, NUMBER, Cell, Table, sheet_model)
from pipeline.check.workbook import read_workbook
from pipeline.kit.example import sample_forms
from pipeline.kit.workbook import workbook_bytes

KIND_OF = {name: kind for kind, name in FILE_NAME_OF_FORM.items()}

# texts a clerk types: Chinese, letters, digits, punctuation; no surrounding spaces (the
# reader trims a cell, as a clerk means it) and no control characters (no cell holds them)
_CHARS = st.sampled_from("育婴师初级张三李四王五教室（）()-_/、，。0123456789ABCxyz 星火职业培训学校")
TEXTS = st.text(_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)


def _value(cell: Cell) -> st.SearchStrategy[Any]:
    if cell.kind == DATE:
        return st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(date.isoformat)
    if cell.kind == INTEGER:
        return st.integers(0, 10_000)
    if cell.kind == NUMBER:
        return st.integers(0, 400).map(lambda n: n / 2)  # whole and half hours, percentages
    if cell.kind == BOOLEAN:
        return st.booleans()
    if cell.kind == CHOICE:
        return st.sampled_from(cell.choices)
    if cell.kind == CHOICES:
        return st.lists(st.sampled_from(cell.choices), min_size=1, max_size=len(cell.choices), unique=True)
    if cell.as_text:  # an ID or a phone: digits typed as text
        return st.from_regex(r"[0-9]{11,17}[0-9X]", fullmatch=True)
    return TEXTS if cell.required else st.one_of(TEXTS, st.just(""))


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _entry(draw: st.DrawFn, table: Table) -> Any:
    if table.plain:
        return draw(TEXTS)
    entry: dict[str, Any] = {}
    for cell in table.columns:
        _put(entry, cell.path, draw(_value(cell)))
    if table.inner is not None:
        entry[table.inner.path[-1]] = [_inner(draw, table.inner) for _ in range(draw(st.integers(1, 3)))]
    return entry


def _inner(draw: st.DrawFn, table: Table) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for cell in table.columns:
        _put(entry, cell.path, draw(_value(cell)))
    return entry


@st.composite
def forms_of(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    model = sheet_model(kind)
    form: dict[str, Any] = {"form": kind, "version": 1}
    for cell in model.fields:
        _put(form, cell.path, draw(_value(cell)))
    for table in model.tables:
        entries = [_entry(draw, table) for _ in range(draw(st.integers(1, 4)))]
        if table.inner is not None:
            # two sessions on one day in one place are one session on the sheet: a row
            # repeating the date and place above continues it (the writer's layout)
            outer = [tuple(_get(e, c.path) for c in table.columns) for e in entries]
            entries = [e for n, e in enumerate(entries) if n == 0 or outer[n] != outer[n - 1]]
        _put(form, table.path, entries)
    return form


def _get(entry: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        entry = entry[key]
    return entry


def round_trip(forms: dict[str, dict[str, Any]], kinds: tuple[str, ...]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "表单.xlsx"
        file.write_bytes(workbook_bytes(forms))
        found = read_workbook(file, "x/表单.xlsx", kinds)
    assert found.problems == [], [p.message for p in found.problems]
    return {kind: form.value for kind, form in found.forms.items()}


def test_the_example_forms_come_back_exactly():
    forms = sample_forms("新城区星火职业培训学校", date(2026, 11, 20), [("育婴师", "初级", 20), ("车工", "中级", 5)],
                         ["offline", "online"], ["offline"])
    root = {KIND_OF[p]: v for p, v in forms.items() if "/" not in p}
    assert round_trip(root, ROOT_FORM_TYPES) == root
    for folder in ("育婴师初级", "车工中级"):
        level2 = {KIND_OF[p.split("/")[1]]: v for p, v in forms.items() if p.startswith(folder + "/")}
        assert round_trip(level2, TRAINING_FORM_TYPES) == level2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_form_of_any_kind_comes_back_exactly(data: st.DataObject):
    kind = data.draw(st.sampled_from(ALL_FORM_TYPES))
    form = data.draw(forms_of(kind))
    kinds = ROOT_FORM_TYPES if kind in ROOT_FORM_TYPES else TRAINING_FORM_TYPES
    assert round_trip({kind: form}, kinds) == {kind: form}


def test_forms_to_json_writes_what_the_checks_read(tmp_path: Path):
    import json
    import subprocess
    import sys

    forms = sample_forms("新城区星火职业培训学校", date(2026, 11, 20), [("育婴师", "初级", 3)], ["offline"], ["offline"])
    level2 = {KIND_OF[p.split("/")[1]]: v for p, v in forms.items() if "/" in p}
    book = tmp_path / "表单.xlsx"
    book.write_bytes(workbook_bytes(level2))
    result = subprocess.run([sys.executable, "-m", "pipeline", "forms", "to-json", str(book), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for kind, form in level2.items():
        assert json.loads((tmp_path / "out" / FILE_NAME_OF_FORM[kind]).read_text(encoding="utf-8")) == form
    again = subprocess.run([sys.executable, "-m", "pipeline", "forms", "to-json", str(book), str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "--force" in again.stderr  # nothing overwritten unasked
