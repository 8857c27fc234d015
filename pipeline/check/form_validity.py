"""Is a form valid against its schema? A yes/no, compiled once per form type, ten times
faster than asking jsonschema for every error.

jsonschema walks a form by making a new validator object for every value and following
every ``$ref`` through its registry: a sign-in sheet of 300 rows took 34 ms, and the
forms were half of what a worker spent on a small package (docs/performance.md). Nearly
every form is valid, and a valid form has nothing to explain, so the forms loader asks
this module first and runs jsonschema (whose errors make the clerk's messages) only for
a form this module finds invalid. The answer must be jsonschema's: each keyword the
forms' schemas use is restated from jsonschema's own code (its types, ``equal``,
``uniq`` and ``date`` format: jsonschema is not even imported for a valid form),
``$ref`` is resolved once when compiling, and a schema with any keyword or format not
implemented here is not compiled at all (the loader then asks jsonschema alone).
tests/test_form_validity.py holds the two equal on valid forms and on thousands of broken
ones.
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import date
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable

from pipeline.check.form_schemas import load_schema

Check = Callable[[Any], bool]

#: keywords that say nothing about validity (annotations, and where ``$ref`` s point)
_ANNOTATIONS = {"title", "description", "$schema", "$id", "$defs", "$comment", "examples", "default",
                "deprecated", "readOnly", "writeOnly"}


class Unsupported(Exception):
    """The schema uses a keyword this module does not implement."""


@lru_cache(maxsize=None)
def validity_check(kind: str) -> Check | None:
    """A function telling whether a form of type ``kind`` is valid, or None when its
    schema uses something not implemented here (ask jsonschema then)."""
    try:
        return _Compiler(load_schema(kind)).compile(load_schema(kind))
    except Unsupported:
        return None


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.by_ref: dict[str, Check] = {}

    @staticmethod
    def is_type(instance: Any, name: str) -> bool:
        return _TYPES[name](instance)

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda instance: True
        if schema is False:
            return lambda instance: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        checks = [self._keyword(key, value, schema) for key, value in schema.items()
                  if key not in _ANNOTATIONS and not key.startswith("x-")]
        checks = [c for c in checks if c is not None]
        if len(checks) == 1:
            return checks[0]
        return lambda instance: all(check(instance) for check in checks)

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise Unsupported(ref)
        if ref not in self.by_ref:
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            # a placeholder first: a schema that refers to itself compiles
            self.by_ref[ref] = lambda instance: self.by_ref[ref](instance)
            self.by_ref[ref] = self.compile(target)
        return self.by_ref[ref]

    def _keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check | None:
        is_type = self.is_type
        if key == "$ref":
            return self._ref(value)
        if key == "type":
            names = value if isinstance(value, list) else [value]
            if any(name not in _TYPES for name in names):
                raise Unsupported(f"type {names}")
            if len(names) == 1:
                return _TYPES[names[0]]
            predicates = [_TYPES[name] for name in names]
            return lambda instance: any(predicate(instance) for predicate in predicates)
        if key == "const":
            return lambda instance: _equal(instance, value)
        if key == "enum":
            return lambda instance: any(_equal(each, instance) for each in value)
        if key == "minLength":
            return lambda instance: not is_type(instance, "string") or len(instance) >= value
        if key == "maxLength":
            return lambda instance: not is_type(instance, "string") or len(instance) <= value
        if key == "pattern":
            search = re.compile(value).search  # (jsonschema: re.search, which compiles the same)
            return lambda instance: not isinstance(instance, str) or search(instance) is not None
        if key == "format":
            if value not in _FORMATS:
                raise Unsupported(f"format {value}")
            return _FORMATS[value]
        if key == "minimum":
            return lambda instance: not is_type(instance, "number") or not instance < value
        if key == "maximum":
            return lambda instance: not is_type(instance, "number") or not instance > value
        if key == "exclusiveMinimum":
            return lambda instance: not is_type(instance, "number") or not instance <= value
        if key == "exclusiveMaximum":
            return lambda instance: not is_type(instance, "number") or not instance >= value
        if key == "multipleOf":
            return lambda instance: _multiple_of(is_type, value, instance)
        if key == "required":
            return lambda instance: not is_type(instance, "object") or all(name in instance for name in value)
        if key == "properties":
            compiled = {name: self.compile(sub) for name, sub in value.items()}
            return lambda instance: not is_type(instance, "object") or all(
                check(instance[name]) for name, check in compiled.items() if name in instance)
        if key == "additionalProperties":
            if "patternProperties" in schema:
                raise Unsupported("patternProperties")
            known = set(schema.get("properties", {}))
            extra = self.compile(value)
            return lambda instance: not is_type(instance, "object") or all(
                extra(instance[name]) for name in instance if name not in known)
        if key == "items":
            if "prefixItems" in schema:
                raise Unsupported("prefixItems")
            item = self.compile(value)
            return lambda instance: not is_type(instance, "array") or all(item(each) for each in instance)
        if key == "minItems":
            return lambda instance: not is_type(instance, "array") or len(instance) >= value
        if key == "maxItems":
            return lambda instance: not is_type(instance, "array") or len(instance) <= value
        if key == "uniqueItems":
            return lambda instance: not value or not is_type(instance, "array") or _unique(instance)
        if key == "contains":
            if "minContains" in schema or "maxContains" in schema:
                raise Unsupported("minContains/maxContains")
            match = self.compile(value)
            return lambda instance: not is_type(instance, "array") or any(match(each) for each in instance)
        if key == "anyOf":
            options = [self.compile(sub) for sub in value]
            return lambda instance: any(option(instance) for option in options)
        if key == "allOf":
            parts = [self.compile(sub) for sub in value]
            return lambda instance: all(part(instance) for part in parts)
        if key == "if":
            condition = self.compile(value)
            then = self.compile(schema.get("then", True))
            otherwise = self.compile(schema.get("else", True))
            return lambda instance: then(instance) if condition(instance) else otherwise(instance)
        if key in ("then", "else"):
            return None  # part of "if"
        raise Unsupported(key)


def _is_integer(instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


def _is_number(instance: Any) -> bool:
    return isinstance(instance, numbers.Number) and not isinstance(instance, bool)


#: draft 2020-12's types as jsonschema's type checker defines them (an integral float is an
#: integer; a bool is neither integer nor number); tests/test_form_validity.py compares
_TYPES: dict[str, Callable[[Any], bool]] = {
    "array": lambda instance: isinstance(instance, list),
    "boolean": lambda instance: isinstance(instance, bool),
    "integer": _is_integer,
    "null": lambda instance: instance is None,
    "number": _is_number,
    "object": lambda instance: isinstance(instance, dict),
    "string": lambda instance: isinstance(instance, str),
}


_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    """True and 1 (False and 0) are different values to JSON Schema."""
    return _TRUE if value is True else _FALSE if value is False else value


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal`` (enum, const, uniqueItems): strings as strings, arrays and
    objects member by member, numbers by value (1 == 1.0), booleans never equal to numbers."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(key in two and _equal(value, two[key]) for key, value in one.items())
    return bool(_unbool(one) == _unbool(two))


def _unique(items: list[Any]) -> bool:
    return not any(_equal(_unbool(items[i]), _unbool(items[j]))
                   for i in range(len(items)) for j in range(i + 1, len(items)))


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(instance: Any) -> bool:
    """jsonschema's ``date`` format: YYYY-MM-DD and a real day (not 2026-02-30)."""
    if not isinstance(instance, str):
        return True
    if not _DATE.fullmatch(instance):
        return False
    try:
        date.fromisoformat(instance)
    except ValueError:
        return False
    return True


#: the formats the forms use (anything else: not compiled, jsonschema alone judges)
_FORMATS: dict[str, Callable[[Any], bool]] = {"date": _is_date}


def _multiple_of(is_type: Callable[[Any, str], bool], divisor: Any, instance: Any) -> bool:
    """As the forms' own ``multipleOf`` (pipeline/check/forms.py): exact, and silent on a
    non-finite number (reported on its own)."""
    if not is_type(instance, "number"):
        return True
    if isinstance(instance, float) and not math.isfinite(instance):
        return True
    return Fraction(instance) % Fraction(divisor) == 0
