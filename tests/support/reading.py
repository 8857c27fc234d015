"""Reading a ZIP through the package reader in tests, with what every reading must
satisfy (used by tests/test_package_reader.py and tests/test_zip_tools.py)."""

from __future__ import annotations

import dataclasses
import io
import re
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

from pipeline.check.catalogue import Problem
from pipeline.check.package_reader import PackageContents, read_package
from pipeline.check.policy import ZipLimits, load_policy

SPEC_PKG_CODES = {"PKG_NOT_ZIP", "PKG_CORRUPT", "PKG_ENCRYPTED", "PKG_UNSAFE_PATH", "PKG_LIMIT",
                  "PKG_NAME_ENCODING", "PKG_DUPLICATE_ENTRY", "PKG_EMPTY"}
CJK = re.compile(r"[\u4e00-\u9fff]")
ROOT = "培训机构20240101"


def assert_well_formed(problems: Iterable[Problem]) -> None:
    """Every problem: a spec PKG_* code, a Chinese message, a fatal error. (The message is
    only checked to be Chinese, what a clerk reads; its wording is pinned once per code in
    tests/test_catalogue.py, and the tests here check codes and parameters.)"""
    for p in problems:
        assert p.code in SPEC_PKG_CODES, p
        assert CJK.search(p.message), p.message
        assert p.fatal and p.severity.value == "error"


def zip_limits(**changes: int) -> ZipLimits:
    """The shipped ZIP limits with ``changes``."""
    return dataclasses.replace(load_policy().zip, **changes)


def read(tmp_path: Path, data: bytes, limits: ZipLimits | None = None) -> PackageContents:
    zip_path = tmp_path / "pkg.zip"
    zip_path.write_bytes(data)
    result = read_package(zip_path, tmp_path / "work", limits or load_policy().zip)
    assert_well_formed(result.problems)
    if result.problems:
        assert result.files == () and result.directories == ()
        assert list((tmp_path / "work" / "files").iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "package-writer"]
    return result


def codes(result: PackageContents) -> list[str]:
    return [p.code for p in result.problems]


def make_zip(members: dict[str, bytes], dirs: Iterable[str] = (),
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A normal archive as zipfile (and every modern tool) writes it: UTF-8 flag on
    non-ASCII names."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d), b"")
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()
