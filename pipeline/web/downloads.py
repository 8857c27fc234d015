"""What an institution downloads to start from: the empty form workbooks (``pipeline
template``) and a complete example package with its forms as workbooks (``pipeline example
--workbook``), each made by the kit on request into a temporary folder and sent as one ZIP."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import date
from pathlib import Path

from pipeline.kit.example import write_example
from pipeline.kit.workbook import write_templates

TEMPLATES_NAME = "表单模板.zip"
EXAMPLE_NAME = "示例上报包.zip"


def _zip_folder(folder: Path, skip: frozenset[Path] = frozenset()) -> bytes:
    """Every file under ``folder`` (names relative to it, UTF-8 flagged: Windows' Explorer
    and WPS show the Chinese names), deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in skip):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def templates_zip() -> bytes:
    """The level-1 and level-2 workbooks (表单.xlsx) in their folders, and the README."""
    with tempfile.TemporaryDirectory(prefix="templates-") as tmp:
        write_templates(Path(tmp))
        return _zip_folder(Path(tmp))


def example_zip(institution: str, report_date: date) -> bytes:
    """The example package of ``institution`` as a folder to look at and copy (forms as
    workbooks, photos, videos) with its README; the package's own ZIP is left out: the
    clerk compresses their own folder."""
    with tempfile.TemporaryDirectory(prefix="example-") as tmp:
        _folder, package_zip = write_example(Path(tmp), institution=institution, report_date=report_date,
                                             workbook=True)
        return _zip_folder(Path(tmp), skip=frozenset({package_zip}))
