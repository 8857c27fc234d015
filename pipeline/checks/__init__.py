"""Checks: small units that each look at one aspect of a package and yield problems.

A check is any callable ``check(view) -> Iterable[Problem]``. :func:`run_checks` runs
every check and collects everything, so one upload reports all of its errors. A check
that raises is our own fault, not the package's: the exception propagates, the worker
retries, and after its retries the package is quarantined as ``INTERNAL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Iterable, Sequence

from pipeline.catalogue import Problem
from pipeline.package_reader import PackageContents
from pipeline.policy import Policy, apply_severity


@dataclass(frozen=True)
class PackageView:
    """What every check may look at: the readable package and the rules of the day."""

    name: str  # the ZIP's file name, e.g. 星火职业培训学校20261120.zip
    contents: PackageContents
    policy: Policy
    today: date  # the day of checking, for the date rules


Check = Callable[[PackageView], Iterable[Problem]]


def default_checks() -> Sequence[Check]:
    """The checks of the contract, in reporting order (hierarchy, media, forms).

    The package reader enforces section 1 before any of these run; the hierarchy and
    media checks (sections 2, 3) and the form checks (section 4) register here.
    """
    return ()


def run_checks(view: PackageView, checks: Sequence[Check]) -> list[Problem]:
    """Every problem of every check, rated by the policy's severities."""
    problems: list[Problem] = []
    for check in checks:
        problems.extend(check(view))
    return apply_severity(view.policy, problems)
