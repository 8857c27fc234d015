"""What counts as a full disk (pipeline/intake/disk_space.py), and what the operator is told.
A full disk under `pipeline run` is tests/test_faults.py's."""

from __future__ import annotations

import errno
from pathlib import Path

import redis
import structlog.testing

from pipeline.intake.disk_space import DiskFullReports, disk_full_cause


def _raised_from(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("copying the package") from exc
    except RuntimeError as outer:
        return outer


def test_a_full_disk_is_found_anywhere_in_the_chain():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/work/x")
    assert disk_full_cause(full) is full
    assert disk_full_cause(_raised_from(full)) is full
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert disk_full_cause(_raised_from(quota)) is quota
    misconf = redis.exceptions.ResponseError("MISCONF Errors writing to the AOF file: No space left on device")
    assert disk_full_cause(_raised_from(misconf)) is misconf
    # other failures are not a full disk
    assert disk_full_cause(OSError(errno.EACCES, "Permission denied")) is None
    assert disk_full_cause(redis.exceptions.ResponseError("WRONGTYPE Operation")) is None
    assert disk_full_cause(ValueError("bad")) is None


def test_the_operator_is_told_once_a_minute_what_is_full_and_what_can_go(tmp_path: Path):
    work = tmp_path / "work"
    (work / "dead-worker-v1").mkdir(parents=True)
    (work / "dead-worker-v1" / "package.zip").write_bytes(b"x" * 1000)
    reports = DiskFullReports(work, tmp_path)
    cause = OSError(errno.ENOSPC, "No space left on device", str(work / "dead-worker-v1" / "package.zip"))
    with structlog.testing.capture_logs() as logs:
        reports.report(cause)
        reports.report(cause)  # within the minute: not again
    assert [e["event"] for e in logs] == ["disk.full"]
    line = logs[0]
    assert line["log_level"] == "error" and line["scratch_bytes"] == 1000
    assert set(line["free_bytes"]) == {str(work), str(tmp_path)} and all(v > 0 for v in line["free_bytes"].values())
    assert line["where"].endswith("package.zip") and "free space on the file system of" in line["action"]
    with structlog.testing.capture_logs() as logs:
        DiskFullReports(work).report(redis.exceptions.ResponseError("MISCONF Errors writing to the AOF file"))
    assert logs[0]["where"] == "redis" and "append-only file" in logs[0]["action"]
