"""The forms (表单) of a package (spec section 4): which exist, read, validated against
their JSON Schemas in ``schemas/forms/``.

:func:`load_forms` reads every form of a package once; the schema check reports what it
found while loading (``FORM_JSON``, ``FORM_MISSING``, ``FORM_SCHEMA``) and the cross-form
rules (``pipeline/checks/forms.py``) work on the parsed data, defensively: a form that
broke its schema is still handed over (``schema_valid`` False) so that the rules can
report everything else they can see in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.catalogue import Problem
from pipeline.layout import Training

#: form type ("form" field) -> its file name in the package
FORM_FILES: dict[str, str] = {
    "training_plan": "培训方案.json",
    "integrity_pledge": "诚信承诺书.json",
    "trainers": "培训教师.json",
    "theory_outline": "理论培训大纲.json",
    "practice_outline": "实操培训大纲.json",
    "sign_in": "签到表.json",
    "online_record": "线上培训记录.json",
    "practice_equipment": "实操设备设施.json",
}
ROOT_FORMS = ("training_plan", "integrity_pledge", "trainers")
TRAINING_FORMS = ("theory_outline", "practice_outline", "sign_in", "online_record", "practice_equipment")


@dataclass(frozen=True)
class LoadedForm:
    kind: str  # "training_plan", ... (the key of FORM_FILES)
    path: str  # full path inside the package, e.g. "机构20261120/育婴师初级/签到表.json"
    data: Any  # the parsed JSON; None when it could not be read (FORM_JSON reported)
    schema_valid: bool  # False when FORM_SCHEMA (or FORM_JSON) was reported for it

    @property
    def name(self) -> str:
        """The form's file name, as messages name it (培训方案.json)."""
        return FORM_FILES[self.kind]

    @property
    def obj(self) -> dict[str, Any]:
        """The data when it is a JSON object, else {} (rules read it defensively)."""
        return self.data if isinstance(self.data, dict) else {}


@dataclass(frozen=True)
class TrainingForms:
    """The forms of one level-2 (training) folder."""

    folder: str  # the folder name as in the package
    training: Training | None  # the plan's training for it (None: not in the plan)
    theory_outline: LoadedForm | None
    practice_outline: LoadedForm | None
    sign_in: LoadedForm | None
    online_record: LoadedForm | None
    practice_equipment: LoadedForm | None


@dataclass(frozen=True)
class FormSet:
    """Every form of a package, read once."""

    plan: LoadedForm | None
    pledge: LoadedForm | None
    trainers: LoadedForm | None
    trainings: tuple[TrainingForms, ...]  # one per training folder, in folder order
    problems: tuple[Problem, ...]  # FORM_JSON / FORM_MISSING / FORM_SCHEMA found while loading
