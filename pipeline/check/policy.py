"""The policy: every limit and severity of the checks, loaded from one TOML file.

The shipped ``default_policy.toml`` holds the spec's defaults; an operator overrides it
with a file of their own. Documents record ``policy_sha256`` (the hash of the file's
bytes) so each decision can be traced to the exact rules that made it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from pipeline.check.catalogue import CATALOGUE, Problem, Severity


class PolicyError(ValueError):
    """The policy file is unreadable or holds an unknown or ill-typed setting."""


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = 2000
    max_total_bytes: int = 8 * 1024**3
    max_entry_bytes: int = 1024**3
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1024**2
    nested_archive_suffixes: tuple[str, ...] = (
        ".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cab", ".arj", ".iso",
    )


@dataclass(frozen=True)
class MediaRules:
    photo_count: int = 5
    video_count: int = 3
    photo_max_bytes: int = 2 * 1024**2
    video_max_bytes: int = 50 * 1024**2
    min_long_side: int = 1280
    min_short_side: int = 720
    video_min_seconds: float = 120.0
    video_max_seconds: float = 180.0
    duration_tolerance_seconds: float = 0.5
    refuse_mov: bool = True
    preferred_video_codec: str = "AVC"
    photo_max_pixels: int = 100_000_000
    video_probe_timeout_seconds: float = 30.0
    screenshot_max_bytes: int = 5 * 1024**2
    screenshot_max_count: int = 20


SEVERITY_CHOICES = ("error", "warning", "off")


@dataclass(frozen=True)
class Policy:
    zip: ZipLimits = field(default_factory=ZipLimits)
    media: MediaRules = field(default_factory=MediaRules)
    #: code -> "error" | "warning" | "off", overriding the catalogue's default
    severity: Mapping[str, str] = field(default_factory=dict)
    sha256: str = ""  # of the file it was loaded from
    source: str = "default"


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise PolicyError(f"unknown policy setting [{where}] {key}")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PolicyError(f"policy setting [{where}] {key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise PolicyError(f"policy setting [{where}] {key} must be true or false")
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise PolicyError(f"policy setting [{where}] {key} must be a string")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PolicyError(f"policy setting [{where}] {key} must be a number")
            value = type(default)(value) if isinstance(default, float) else value
        kwargs[key] = value
    return cls(**kwargs)


def parse_policy(data: bytes, source: str) -> Policy:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy {source}: {exc}") from exc
    if doc.pop("version", 1) != 1:
        raise PolicyError(f"policy {source}: only version = 1 is understood")
    sections = {"zip": ZipLimits, "media": MediaRules}
    built: dict[str, Any] = {}
    if "severity" in doc:
        built["severity"] = _severities(doc.pop("severity"), source)
    for name, table in doc.items():
        if name not in sections or not isinstance(table, dict):
            raise PolicyError(f"policy {source}: unknown section [{name}]")
        built[name] = _build(sections[name], table, name)
    return Policy(**built, sha256=hashlib.sha256(data).hexdigest(), source=source)


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


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return parse_policy(default_policy_bytes(), "default")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc}") from exc
    return parse_policy(data, str(path))
