"""The house keeps its shape: the rooms' import contracts hold, the design map names every
module of every room, settings come only from the environment in one place, and
importing the code builds nothing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
ROOMS = ("pipeline/check", "pipeline/intake", "pipeline/notify", "pipeline/kit", "pipeline/catalogue", "pipeline/ops",
         "pipeline/web", "pipeline/app", "workers")


def _room_paragraphs() -> dict[str, str]:
    """Each room's paragraph of the design map: it starts with **`<room>/` …**."""
    text = DESIGN.read_text(encoding="utf-8")
    text = text[text.index("## The map of the rooms"):text.index("## The path of one package")]
    out: dict[str, str] = {}
    for paragraph in text.split("\n\n"):
        m = re.match(r"\*\*`([a-z/]+)/`", paragraph)
        if m:
            out[m.group(1)] = paragraph
    return out


def test_the_import_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and ", 0 broken." in result.stdout, result.stdout[-3000:]


def test_the_design_map_names_every_module_of_every_room():
    paragraphs = _room_paragraphs()
    assert set(paragraphs) == set(ROOMS), "every room has its paragraph, and only the rooms do"
    for room in ROOMS:
        modules = {p.relative_to(ROOT / room).as_posix() for p in (ROOT / room).rglob("*.py")
                   if p.name != "__init__.py"}
        named = set(re.findall(r"`([a-z0-9_/]+\.py)`", paragraphs[room]))
        assert not modules - named, f"{room}: docs/design.md does not name {sorted(modules - named)}"
        assert not named - modules, f"{room}: docs/design.md names modules that are not there: {sorted(named - modules)}"


def test_only_the_settings_read_the_environment():
    readers = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")) + sorted((ROOT / "workers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(path.relative_to(ROOT).as_posix())
    assert set(readers) == {"pipeline/app/settings.py"}


def test_no_test_module_imports_another():
    """Shared test helpers live in tests/support/ (docs/design.md): a test module that
    imports another runs that module's import-time code and couples the two."""
    offenders = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {n}" for n in names if re.match(r"tests\.test_", n)]
    assert offenders == []
