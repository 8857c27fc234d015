"""The JSON Schemas of the pipeline: ``receipt.schema.json`` (the decision documents,
pipeline/check/documents.py) and ``forms/<form>.schema.json`` (the forms, pipeline/check/forms.py).

A package only so that they ship in the wheel as package data (pyproject.toml) and are
found the same way in an editable install, a source checkout and an installed wheel: next
to this file. Schemas are data: the folder stays ``schemas/`` at the project root.
"""

from __future__ import annotations

from pathlib import Path

#: the folder of ``receipt.schema.json``
SCHEMAS_DIR = Path(__file__).resolve().parent
#: the folder of the form schemas, ``<form>.schema.json``
FORMS_DIR = SCHEMAS_DIR / "forms"
