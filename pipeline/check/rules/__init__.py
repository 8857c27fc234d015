"""The rules that judge a package: each module declares its checks, and
:func:`default_checks` lists them in reporting order.

A check is any callable ``check(view) -> Iterable[Problem]`` (:mod:`pipeline.check.view`).
The package reader enforces section 1 before any of these run; the hierarchy and media
checks (sections 2, 3) and the form checks (section 4) register here.
"""

from __future__ import annotations

from typing import Sequence

from pipeline.check.rules.forms import CROSS_FORM_RULES, check_forms_readable
from pipeline.check.rules.hierarchy import HIERARCHY_CHECKS
from pipeline.check.rules.media import CHECKS_ON_MEDIA
from pipeline.check.view import Check


def default_checks() -> Sequence[Check]:
    """The checks of the contract, in reporting order: hierarchy, the forms' readability
    (FORM_MISSING / FORM_JSON / FORM_SCHEMA), media, then the cross-form rules."""
    return (*HIERARCHY_CHECKS, check_forms_readable, *CHECKS_ON_MEDIA, *CROSS_FORM_RULES)
