"""Checks: small units that each look at one aspect of a package and yield problems.

A check is any callable ``check(view) -> Iterable[Problem]``. :func:`run_checks` runs
every check and collects everything, so one upload reports all of its errors. A check
that raises is our own fault, not the package's: the exception propagates, the worker
retries, and after its retries the package is quarantined as ``INTERNAL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

from pipeline.catalogue import Problem
from pipeline.layout import Layout, build_layout
from pipeline.media import Measurement
from pipeline.package_reader import PackageContents
from pipeline.policy import Policy, apply_severity

if TYPE_CHECKING:
    from pipeline.forms import FormSet


@dataclass(frozen=True)
class PackageView:
    """What every check may look at: the readable package and the rules of the day."""

    name: str  # the ZIP's file name, e.g. 星火职业培训学校20261120.zip
    contents: PackageContents
    policy: Policy
    today: date  # the day of checking, for the date rules

    @cached_property
    def layout(self) -> Layout:
        """The package's derived structure (level 1, plan, training folders, media),
        built on first use and shared by every check."""
        return build_layout(self.contents, self.name)

    @cached_property
    def measurements(self) -> Mapping[str, Measurement]:
        """Every photo, video and screenshot measured once (both cores), keyed by
        package path: the media checks judge them, the manifest records them."""
        from pipeline.checks.media import measure_package_media

        return measure_package_media(self.layout, self.policy.media)

    @cached_property
    def forms(self) -> "FormSet":
        """Every form read and validated once (:func:`pipeline.forms.load_forms`): the
        schema check reports its problems, the cross-form rules read its data."""
        from pipeline.forms import load_forms

        return load_forms(self.layout)


Check = Callable[[PackageView], Iterable[Problem]]


def default_checks() -> Sequence[Check]:
    """The checks of the contract, in reporting order (hierarchy, media, forms).

    The package reader enforces section 1 before any of these run; the hierarchy and
    media checks (sections 2, 3) and the form checks (section 4) register here.
    """
    from pipeline.checks.hierarchy import HIERARCHY_CHECKS  # they import this module
    from pipeline.checks.media import MEDIA_CHECKS
    from pipeline.forms import check_forms_readable  # FORM_MISSING / FORM_JSON / FORM_SCHEMA
    from pipeline.checks.forms import CROSS_FORM_RULES  # the cross-form rules: after the schema check

    return (*HIERARCHY_CHECKS, check_forms_readable, *MEDIA_CHECKS, *CROSS_FORM_RULES)


def run_checks(view: PackageView, checks: Sequence[Check]) -> list[Problem]:
    """Every problem of every check, rated by the policy's severities."""
    problems: list[Problem] = []
    for check in checks:
        problems.extend(check(view))
    return apply_severity(view.policy, problems)
