"""Assessment: read one ZIP and run every check on it. The one code path shared by the
workers and ``pipeline check``; it touches no Redis, store or mail."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Sequence

from pipeline.checks import Check, PackageView, default_checks, run_checks
from pipeline.documents import Findings
from pipeline.package_reader import hash_file, read_package
from pipeline.policy import Policy


def assess(zip_path: Path, package_name: str, policy: Policy, work_dir: Path, today: date,
           checks: Sequence[Check] | None = None) -> Findings:
    """Findings on the ZIP at ``zip_path``. ``work_dir`` is scratch space owned by this
    call: it is created, used for the extracted members, and removed again."""
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        contents = read_package(zip_path, work_dir, policy.zip)
        findings = Findings(
            package_name=package_name,
            package_size=contents.zip_size,
            package_sha256=contents.zip_sha256,
            policy_sha256=policy.sha256,
            ignored=list(contents.ignored),
            problems=list(contents.problems),
        )
        if contents.problems:  # fatal: nothing inside can be trusted
            return findings
        findings.manifest = [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in contents.files]
        view = PackageView(name=package_name, contents=contents, policy=policy, today=today)
        findings.problems.extend(run_checks(view, default_checks() if checks is None else checks))
        return findings
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def package_fingerprint(zip_path: Path) -> tuple[int, str]:
    """(size, SHA-256) of a ZIP, streaming; used when a package could not be assessed."""
    return hash_file(zip_path)
