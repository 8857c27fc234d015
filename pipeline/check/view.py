"""What every check looks at (:class:`PackageView`) and the loop that runs them.

Checks: small units that each look at one aspect of a package and yield problems.

A check is any callable ``check(view) -> Iterable[Problem]``. :func:`run_checks` runs
every check and collects everything, so one upload reports all of its errors. A check
that raises is our own fault, not the package's: the exception propagates, the worker
retries, and after its retries the package is quarantined as ``INTERNAL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Callable, Iterable, Mapping, Sequence

from pipeline.check.catalogue import Problem
from pipeline.check.layout import Layout, build_layout
from pipeline.check.forms import FormSet, load_forms
from pipeline.check.measure import Measurement, measure_package_media
from pipeline.check.package_reader import PackageContents
from pipeline.check.policy import Policy, apply_severity


@dataclass(frozen=True)
class PackageView:
    """What every check may look at: the readable package and the rules of the day."""

    name: str  # the ZIP's file name, e.g. 星火职业培训学校20261120.zip
    contents: PackageContents
    policy: Policy
    today: date  # the day of checking, for the date rules
    #: "files" when the pipeline packed loose files into this ZIP, "folder" for a folder
    #: uploaded as such, "" for a ZIP as uploaded (pipeline/intake/folder_uploads.py)
    uploaded_as: str = ""

    @cached_property
    def layout(self) -> Layout:
        """The package's derived structure (level 1, plan, training folders, media),
        built on first use and shared by every check."""
        return build_layout(self.contents, self.name, self.policy.workbook)

    @cached_property
    def measurements(self) -> Mapping[str, Measurement]:
        """Every photo, video and screenshot measured once (both cores), keyed by
        package path: the media checks judge them, the manifest records them."""
        return measure_package_media(self.layout, self.policy.media)

    @cached_property
    def forms(self) -> FormSet:
        """Every form read and validated once (:func:`pipeline.check.forms.load_forms`): the
        schema check reports its problems, the cross-form rules read its data."""
        return load_forms(self.layout)


Check = Callable[[PackageView], Iterable[Problem]]


def run_checks(view: PackageView, checks: Sequence[Check]) -> list[Problem]:
    """Every problem of every check, rated by the policy's severities."""
    problems: list[Problem] = []
    for check in checks:
        problems.extend(check(view))
    return apply_severity(view.policy, problems)
