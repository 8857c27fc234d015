"""A regular (non-editable) install gets the JSON Schemas: ``schemas/`` is the ``schemas``
package, and pyproject.toml ships its ``*.json`` as package data.

The wheel's files are what setuptools' ``build_py`` puts into the build folder (a wheel is
that folder, zipped, plus metadata), so the test runs ``build_py`` on a copy of the sources
with pyproject.toml's configuration instead of building a wheel: no network and no
``wheel`` package needed, well under a second. Then the offline checks run from that
folder alone, outside the repository, as they would from an installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: what the wheel is built from: the project files and the top-level packages
SOURCES = ("pyproject.toml", "README.md", "pipeline", "workers", "schemas")


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120, **kwargs)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package files a wheel of this tree would contain (``build_py``'s output)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    lib = base / "lib"
    result = run([sys.executable, "-c", "import setuptools; setuptools.setup()", "build_py", "--build-lib", str(lib)],
                 cwd=source, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    # a data folder setuptools sees as a package left out of the configuration
    assert "would be ignored" not in result.stderr, result.stderr
    return lib


def test_the_wheel_contains_every_schema(built: Path) -> None:
    in_repo = files_under(ROOT / "schemas")
    assert {"__init__.py", "receipt.schema.json"} <= in_repo and any(f.startswith("forms/") for f in in_repo)
    assert files_under(built / "schemas") == in_repo


def test_the_wheel_contains_the_packages_data(built: Path) -> None:
    # the pipeline package's data (default policy, example media) is shipped as before
    for package in ("pipeline", "workers"):
        expected = {f for f in files_under(ROOT / package) if f.endswith((".py", ".toml", ".mp4"))}
        assert expected and expected <= files_under(built / package), package


def test_checks_run_from_the_installed_files_alone(built: Path, tmp_path: Path) -> None:
    """``pipeline example`` + ``pipeline check`` with only the built files importable (no
    source tree): the code finds its schemas in the installed ``schemas`` package."""
    env = {**os.environ, "PYTHONPATH": str(built), "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PIPELINE_CONFIG", None)
    where = run([sys.executable, "-c", "import pipeline.check.documents as d, pipeline.check.forms as f, schemas; "
                 "print(schemas.__file__, d.SCHEMAS_DIR, f.SCHEMAS_DIR)"], env=env, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.split() == [str(built / "schemas" / "__init__.py"), str(built / "schemas"),
                                    str(built / "schemas" / "forms")]
    example = run([sys.executable, "-m", "pipeline", "example", "ex"], env=env, cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    (package,) = (tmp_path / "ex").glob("*.zip")
    check = run([sys.executable, "-m", "pipeline", "check", "--json", str(package)], env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert '"status":"accepted"' in check.stdout
