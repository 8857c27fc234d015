"""The JSON Schemas of the forms (``schemas/forms/<form>.schema.json``), read once: what
the forms loader validates against and what the workbook's sheets are derived from."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pipeline.check.contract import FILE_NAME_OF_FORM
from schemas import FORMS_DIR

#: where the schemas live: ``schemas/forms/<form>.schema.json`` (the ``schemas`` package's data)
SCHEMAS_DIR = FORMS_DIR


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of form type ``kind`` (read once)."""
    if kind not in FILE_NAME_OF_FORM:
        raise KeyError(kind)
    return json.loads((SCHEMAS_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
