"""The policy: every limit and severity of the checks, loaded from one TOML file.

The shipped ``default_policy.toml`` holds the spec's defaults, and it is the only place
they are written: the dataclasses below declare the settings and their types, not their
values. An operator overrides it with a file of their own, laid over the shipped file (a
setting the operator's file leaves out keeps the shipped value). Documents record
``policy_sha256`` (the hash of the file's bytes) so each decision can be traced to the
exact rules that made it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
import typing
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from pipeline.check.catalogue import CATALOGUE, Problem, Severity


class PolicyError(ValueError):
    """The policy file is unreadable or holds an unknown or ill-typed setting."""


# The settings of [zip] and [media]. No defaults here on purpose: the values are in
# default_policy.toml (with what each means), so the shipped file and the code cannot
# disagree. Start from load_policy().zip / .media and dataclasses.replace what differs.


@dataclass(frozen=True)
class ZipLimits:
    """``[zip]``: limits of the archive itself; exceeding any of them is PKG_LIMIT."""

    max_entries: int
    max_total_bytes: int
    max_entry_bytes: int
    max_ratio: float
    ratio_floor_bytes: int
    nested_archive_suffixes: tuple[str, ...]


@dataclass(frozen=True)
class MediaRules:
    """``[media]``: counts, sizes, resolutions and durations of photos, videos and
    screenshots."""

    photo_count: int
    video_count: int
    photo_max_bytes: int
    video_max_bytes: int
    min_long_side: int
    min_short_side: int
    video_min_seconds: float
    video_max_seconds: float
    duration_tolerance_seconds: float
    refuse_mov: bool
    preferred_video_codec: str
    photo_max_pixels: int
    video_probe_timeout_seconds: float
    screenshot_max_bytes: int
    screenshot_max_count: int


@dataclass(frozen=True)
class WorkbookLimits:
    """``[workbook]``: what a 表单.xlsx may hold before any of its XML is read (spec
    section 9); beyond any of them it is FORM_WORKBOOK."""

    max_entries: int
    max_total_bytes: int
    max_ratio: int
    ratio_floor_bytes: int
    max_rows: int
    max_cells: int


@dataclass(frozen=True)
class IntegrityRules:
    """``[integrity]``: the signals across packages (spec section 10)."""

    #: photos whose 64-bit perceptual hashes differ in at most this many bits are "visually
    #: near-identical" (W_MEDIA_REUSED). 0..3 costs one index probe per hash band; every 4
    #: more bits widens the probes (docs/scaling.md)
    photo_hash_distance: int
    #: a teacher's hours on one date, all trainings together, above this: W_TEACHER_OVERLAP
    teacher_daily_max_hours: float


SEVERITY_CHOICES = ("error", "warning", "off")


@dataclass(frozen=True)
class Policy:
    zip: ZipLimits
    media: MediaRules
    workbook: WorkbookLimits
    integrity: IntegrityRules
    #: code -> "error" | "warning" | "off", overriding the catalogue's default
    severity: Mapping[str, str]
    sha256: str  # of the file it was loaded from
    source: str  # the file's path, or "default" for the shipped file


#: the TOML tables that hold settings, and what each becomes
_SECTIONS: dict[str, type] = {"zip": ZipLimits, "media": MediaRules, "workbook": WorkbookLimits,
                              "integrity": IntegrityRules}


def _check_type(kind: Any, value: Any, where: str, key: str) -> Any:
    """``value`` as a setting declared ``kind`` (a dataclass field type) takes it, or
    PolicyError. Numbers are accepted for an int setting as they were before the types
    came from the fields (a float stays a float); a float setting makes it a float."""
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"policy setting [{where}] {key} must be a list of strings")
        return tuple(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise PolicyError(f"policy setting [{where}] {key} must be true or false")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise PolicyError(f"policy setting [{where}] {key} must be a string")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(f"policy setting [{where}] {key} must be a number")
        return float(value) if kind is float else value
    raise TypeError(f"policy setting [{where}] {key}: no check for the type {kind!r}")  # a new field's type


@lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, table: Mapping[str, Any], where: str, source: str, base: Any | None) -> Any:
    """The ``[where]`` section: the settings of ``table``, type-checked, laid over
    ``base`` (the shipped section; None while the shipped file itself is read, which must
    then hold every setting)."""
    types = _field_types(cls)
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)} if base is not None else {}
    for key, value in table.items():
        if key not in types:
            raise PolicyError(f"unknown policy setting [{where}] {key}")
        values[key] = _check_type(types[key], value, where, key)
    missing = [name for name in types if name not in values]
    if missing:
        raise PolicyError(f"policy {source}: [{where}] lacks {', '.join(missing)}")
    return cls(**values)


def parse_policy(data: bytes, source: str) -> Policy:
    """The policy file ``data`` (read from ``source``) laid over the shipped default."""
    return _parse(data, source, default_policy())


def _parse(data: bytes, source: str, base: Policy | None) -> Policy:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy {source}: {exc}") from exc
    if doc.pop("version", 1) != 1:
        raise PolicyError(f"policy {source}: only version = 1 is understood")
    severity = dict(base.severity) if base is not None else {}
    if "severity" in doc:
        severity.update(_severities(doc.pop("severity"), source))
    built: dict[str, Any] = {}
    for name, table in doc.items():
        if name not in _SECTIONS or not isinstance(table, dict):
            raise PolicyError(f"policy {source}: unknown section [{name}]")
        built[name] = _build(_SECTIONS[name], table, name, source, getattr(base, name, None))
    for name, cls in _SECTIONS.items():  # a section the file leaves out: the shipped one
        if name not in built:
            built[name] = _build(cls, {}, name, source, getattr(base, name, None))
    return Policy(**built, severity=MappingProxyType(severity), sha256=hashlib.sha256(data).hexdigest(),
                  source=source)


def _severities(table: Any, source: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise PolicyError(f"policy {source}: [severity] must be a table")
    for code, value in table.items():
        kind = CATALOGUE.get(code)
        if kind is None:
            raise PolicyError(f"policy {source}: [severity] {code} is not a known problem code")
        if kind.fatal or code == "INTERNAL":
            raise PolicyError(f"policy {source}: [severity] {code} cannot be changed")
        if value not in SEVERITY_CHOICES:
            raise PolicyError(f"policy {source}: [severity] {code} must be one of {SEVERITY_CHOICES}")
    return dict(table)


def apply_severity(policy: Policy, problems: list[Problem]) -> list[Problem]:
    """The problems as the policy rates them: overridden severities, "off" ones dropped."""
    out: list[Problem] = []
    for p in problems:
        wanted = policy.severity.get(p.code)
        if wanted is None:
            out.append(p)
        elif wanted != "off":
            out.append(dataclasses.replace(p, severity=Severity(wanted)))
    return out


def default_policy_bytes() -> bytes:
    return resources.files("pipeline.check").joinpath("default_policy.toml").read_bytes()


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped ``default_policy.toml``, read once: it must set every setting itself
    (there is nothing beneath it). The Policy is immutable, so one object is shared."""
    return _parse(default_policy_bytes(), "default", None)


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path`` laid over the shipped default, or the shipped default when
    ``path`` is None."""
    if path is None:
        return default_policy()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from exc
    return parse_policy(data, str(path))
