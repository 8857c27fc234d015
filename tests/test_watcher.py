"""Tests of the inbox watcher: readiness rules with a fake clock, events with a real observer."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from pipeline.intake import folder_watch as watcher_mod
from tests.support.inotify import small_inotify_queue
from pipeline.intake.folder_watch import (
    SKIPPED_KINDS,
    InboxFile,
    InboxWatcher,
    scan_inbox,
    skipped_in_inbox,
    zip_end_record_present,
)
from pipeline.intake.uploads import is_in_progress_name

QUIET = 2.0
STALE = 1800.0


# --------------------------------------------------------------------------- helpers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """Thread-safe on_ready callback that remembers what it got."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files: list[InboxFile] = []

    def __call__(self, f: InboxFile) -> None:
        with self._lock:
            self.files.append(f)

    def snapshot(self) -> list[InboxFile]:
        with self._lock:
            return list(self.files)

    def relatives(self) -> list[str]:
        return [f.relative for f in self.snapshot()]


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def make_zip(n_files: int = 3, *, comment: bytes = b"", payload: int = 4000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(n_files):
            zf.writestr(f"学员{i}/照片{i}.jpg", os.urandom(payload))
        zf.comment = comment
    return buf.getvalue()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    d = tmp_path / "inbox"
    d.mkdir()
    return d.resolve()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_fake(inbox: Path, clock: FakeClock) -> Callable[..., tuple[InboxWatcher, Recorder]]:
    """A watcher that is never started: the test drives scan() and poll() with the fake clock."""

    def make(**kw: object) -> tuple[InboxWatcher, Recorder]:
        rec = Recorder()
        on_ready = kw.pop("on_ready", rec)
        w = InboxWatcher(inbox, on_ready, clock=clock, **kw)  # type: ignore[arg-type]
        return w, rec

    return make


@pytest.fixture
def running(inbox: Path) -> Iterator[Callable[..., tuple[InboxWatcher, Recorder]]]:
    """Start real watchers (real watchdog observer, real clock); all stopped at teardown."""
    started: list[InboxWatcher] = []

    def start(**kw: object) -> tuple[InboxWatcher, Recorder]:
        rec = Recorder()
        kw.setdefault("quiet_period", 0.2)
        w = InboxWatcher(inbox, rec, **kw)  # type: ignore[arg-type]
        w.start()
        started.append(w)
        return w, rec

    yield start
    for w in started:
        w.stop()


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    "name",
    ["a.zip.part", "a.zip.filepart", "A.ZIP.FILEPART", "a.tmp", ".x", "~x", "~$材料.zip", ".a.zip"],
)
def test_in_progress_names(name: str) -> None:
    assert is_in_progress_name(name) is True


@pytest.mark.parametrize("name", ["a.zip", "材料.ZIP", "a.rar", "partial.zip", "a.zip.bak", "x~.zip"])
def test_regular_names(name: str) -> None:
    assert is_in_progress_name(name) is False


def test_version_is_sha256_of_relative_size_mtime(inbox: Path) -> None:
    f = InboxFile(inbox / "xinghuo" / "材料.zip", "xinghuo/材料.zip", "xinghuo", 123, 456)
    expected = hashlib.sha256("xinghuo/材料.zip\x00123\x00456".encode()).hexdigest()[:20]
    assert f.version == expected
    assert len(f.version) == 20
    assert InboxFile(f.path, f.relative, f.account, 123, 457).version != f.version
    # A name that is not valid UTF-8 on disk still gets an id.
    odd = InboxFile(inbox / "x", os.fsdecode(b"\xb2\xc4\xc1\xcf.zip"), "", 1, 2)
    assert len(odd.version) == 20


def test_zip_end_record_present(tmp_path: Path) -> None:
    data = make_zip(comment="备注 PK\x05\x06 inside the comment".encode())
    complete = tmp_path / "complete.zip"
    complete.write_bytes(data)
    assert zip_end_record_present(complete) is True

    half = tmp_path / "half.zip"
    half.write_bytes(data[: len(data) // 2])
    assert zip_end_record_present(half) is False

    no_end = tmp_path / "no_end.zip"
    no_end.write_bytes(data[:-30])
    assert zip_end_record_present(no_end) is False

    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    assert zip_end_record_present(empty) is False

    tiny = tmp_path / "tiny.zip"
    tiny.write_bytes(b"PK\x03")
    assert zip_end_record_present(tiny) is False

    rar = tmp_path / "a.rar"
    rar.write_bytes(b"Rar!\x1a\x07\x01\x00" + os.urandom(500))
    assert zip_end_record_present(rar) is None

    text = tmp_path / "notes.txt"
    text.write_text("not a zip at all\n")
    assert zip_end_record_present(text) is None

    empty_archive = tmp_path / "nothing.zip"
    with zipfile.ZipFile(empty_archive, "w"):
        pass
    assert zip_end_record_present(empty_archive) is True


def test_half_upload_ending_after_a_nested_zip_is_incomplete(tmp_path: Path) -> None:
    """A stored inner ZIP carries its own end record; a half upload cut right after it
    must not count as complete (the upload may still be resumed)."""
    inner = make_zip(1, payload=100)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("inner.zip", inner)
        zf.writestr("after.bin", os.urandom(2000))
    data = buf.getvalue()
    cut = data.index(inner) + len(inner)
    p = tmp_path / "outer.zip"
    p.write_bytes(data[:cut])
    assert zip_end_record_present(p) is False
    p.write_bytes(data)
    assert zip_end_record_present(p) is True


def test_no_prefix_of_a_zip_counts_as_complete(tmp_path: Path) -> None:
    """Every truncation of an archive (nested ZIP, comment, deflated data) is incomplete."""
    inner = make_zip(1, payload=50)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner.zip", inner, compress_type=zipfile.ZIP_STORED)
        zf.writestr("x.bin", os.urandom(500))
        zf.comment = b"c" * 300
    data = buf.getvalue()
    p = tmp_path / "cut.zip"
    complete_at = []
    for cut in range(len(data) + 1):
        p.write_bytes(data[:cut])
        if zip_end_record_present(p) is not False:
            complete_at.append(cut)
    assert complete_at == [len(data)]


def test_zip64_archive_is_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Force zipfile to write the zip64 end record + locator for a small archive.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 0)
    p = tmp_path / "big.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.txt", "hello")
    data = p.read_bytes()
    assert b"PK\x06\x07" in data[-200:]  # the fixture really is zip64
    assert zip_end_record_present(p) is True
    p.write_bytes(data[: data.rindex(b"PK\x06\x07") + 20])  # cut after the locator
    assert zip_end_record_present(p) is False


def test_scan_inbox_lists_candidates_only(inbox: Path, tmp_path: Path) -> None:
    (inbox / "top.zip").write_bytes(b"PK\x03\x04top")
    (inbox / "xinghuo").mkdir()
    (inbox / "xinghuo" / "材料.ZIP").write_bytes(b"abc")
    (inbox / "xinghuo" / "up.zip.filepart").write_bytes(b"x")
    (inbox / "xinghuo" / "deeper").mkdir()
    (inbox / "xinghuo" / "deeper" / "deep.zip").write_bytes(b"x")
    (inbox / ".claims").mkdir()
    (inbox / ".claims" / "claimed.zip").write_bytes(b"x")
    (inbox / "~x").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (inbox / "link.zip").symlink_to(outside)

    files = scan_inbox(inbox)
    # a ZIP in a subfolder of an account is taken like one at account level (issue 15)
    assert [f.relative for f in files] == ["top.zip", "xinghuo/deeper/deep.zip", "xinghuo/材料.ZIP"]
    assert files[1].account == "xinghuo"
    top, acc = files[0], files[2]
    assert top.account == "" and top.size == 7 and top.path == inbox / "top.zip"
    assert acc.account == "xinghuo" and acc.size == 3
    assert acc.mtime_ns == (inbox / "xinghuo" / "材料.ZIP").stat().st_mtime_ns


# --------------------------------------------------------------------------- readiness (fake clock)


def test_chunked_write_handed_once_after_it_stops_changing(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    p = inbox / "report.rar"  # not a ZIP: only the quiet period applies
    p.write_bytes(b"Rar!\x1a\x07\x00" + b"a" * 100)
    w.scan()
    assert w.poll() == []
    for chunk in (b"b" * 100, b"c" * 100, b"d" * 100):
        clock.advance(QUIET * 0.75)
        with p.open("ab") as fh:
            fh.write(chunk)
        assert w.poll() == []  # changed: the quiet period starts over
        clock.advance(QUIET * 0.75)
        assert w.poll() == []
    clock.advance(QUIET)
    handed = w.poll()
    assert [f.size for f in handed] == [p.stat().st_size] == [407]
    for _ in range(3):
        clock.advance(QUIET * 2)
        w.scan()
        assert w.poll() == []
    assert len(rec.files) == 1
    assert rec.files[0] == handed[0]
    assert rec.files[0].mtime_ns == p.stat().st_mtime_ns


def test_complete_zip_ready_after_quiet_period(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    (inbox / "a.zip").write_bytes(make_zip())
    w.scan()
    clock.advance(QUIET - 0.5)
    assert w.poll() == []
    clock.advance(0.5)
    assert [f.relative for f in w.poll()] == ["a.zip"]
    assert rec.relatives() == ["a.zip"]


def test_incomplete_zip_waits_until_stale_timeout(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    data = make_zip()
    p = inbox / "half.zip"
    p.write_bytes(data[: len(data) // 2])
    w.scan()
    with capture_logs() as logs:
        for _ in range(5):
            clock.advance(QUIET)
            assert w.poll() == []
        clock.advance(STALE - 6 * QUIET)
        assert w.poll() == []
    waiting = [e for e in logs if e["event"] == "watcher.waiting_incomplete_zip"]
    assert len(waiting) == 1  # once per version
    assert waiting[0]["relative"] == "half.zip" and waiting[0]["size"] == len(data) // 2
    assert rec.files == []

    clock.advance(2 * QUIET)  # now unchanged for longer than the stale timeout
    handed = w.poll()
    assert [(f.relative, f.size) for f in handed] == [("half.zip", len(data) // 2)]
    clock.advance(STALE)
    assert w.poll() == []
    assert len(rec.files) == 1


def test_resumed_upload_handed_once_with_final_size(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    data = make_zip(5)
    p = inbox / "resumed.zip"
    p.write_bytes(data[:5000])  # the client was killed here
    w.scan()
    clock.advance(QUIET * 10)
    assert w.poll() == []
    clock.advance(60)
    w.scan()
    assert w.poll() == []
    with p.open("ab") as fh:  # resumed: the rest is appended
        fh.write(data[5000:])
    assert w.poll() == []
    clock.advance(QUIET)
    handed = w.poll()
    assert [f.size for f in handed] == [len(data)]
    for _ in range(3):
        clock.advance(STALE)
        w.scan()
        assert w.poll() == []
    assert [f.size for f in rec.files] == [len(data)]


def test_same_version_not_handed_twice(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    (inbox / "a.zip").write_bytes(make_zip())
    w.scan()
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1
    for _ in range(5):
        w.scan()
        clock.advance(QUIET * 3)
        assert w.poll() == []
        assert w.poll() == []
    assert rec.relatives() == ["a.zip"]


def test_same_path_new_content_is_handed_again(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    p = inbox / "a.zip"
    p.write_bytes(make_zip(2))
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1

    # Same size, new mtime: a new version.
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1

    # New content altogether.
    p.write_bytes(make_zip(4))
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1

    versions = [f.version for f in rec.files]
    assert len(rec.files) == 3 and len(set(versions)) == 3
    assert rec.files[0].size == rec.files[1].size != rec.files[2].size
    assert rec.files[0].mtime_ns != rec.files[1].mtime_ns


def test_account_subfolder_gives_account_and_zips_in_a_subfolder_are_taken_too(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    (inbox / "xinghuo").mkdir()
    (inbox / "xinghuo" / "材料.ZIP").write_bytes(make_zip())
    (inbox / "xinghuo" / "2024").mkdir()
    (inbox / "xinghuo" / "2024" / "deep.zip").write_bytes(make_zip())
    with capture_logs() as logs:
        for _ in range(3):
            w.scan()
            clock.advance(QUIET)
            w.poll()
    assert sorted((f.relative, f.account) for f in rec.files) == [
        ("xinghuo/2024/deep.zip", "xinghuo"), ("xinghuo/材料.ZIP", "xinghuo")]
    assert {f.path for f in rec.files} == {inbox / "xinghuo" / "材料.ZIP", inbox / "xinghuo" / "2024" / "deep.zip"}
    assert not [e for e in logs if e["event"] == "watcher.skipped"]


def test_in_progress_names_are_never_handed(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    (inbox / "acc").mkdir()
    names = ["a.zip.part", "a.zip.filepart", "a.tmp", ".x", "~x", "acc/b.zip.filepart", "acc/.hidden.zip"]
    for name in names:
        (inbox / name).write_bytes(make_zip())
    (inbox / "control.rar").write_bytes(b"Rar!\x1a\x07\x00")  # positive control
    for _ in range(3):
        w.scan()
        clock.advance(STALE + 1)
        w.poll()
    assert rec.relatives() == ["control.rar"]


def test_non_zip_is_handed_after_quiet_period(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    (inbox / "材料.rar").write_bytes(b"Rar!\x1a\x07\x00" + os.urandom(300))
    (inbox / "empty.zip").write_bytes(b"")  # created, nothing written yet: waits
    w.scan()
    clock.advance(QUIET)
    assert [f.relative for f in w.poll()] == ["材料.rar"]
    assert rec.relatives() == ["材料.rar"]


def test_on_ready_raising_is_retried_with_backoff(inbox: Path, make_fake, clock: FakeClock) -> None:
    attempts: list[InboxFile] = []

    def flaky(f: InboxFile) -> None:
        attempts.append(f)
        if len(attempts) <= 2:
            raise ConnectionError("broker down")

    w, _ = make_fake(quiet_period=QUIET, on_ready=flaky)
    (inbox / "a.zip").write_bytes(make_zip())
    w.scan()
    clock.advance(QUIET)
    with capture_logs() as logs:
        assert w.poll() == []
    failed = [e for e in logs if e["event"] == "watcher.enqueue_failed"]
    assert len(failed) == 1
    assert failed[0]["log_level"] == "error" and failed[0]["exc_info"] is True
    assert failed[0]["relative"] == "a.zip"
    assert w.poll() == [] and len(attempts) == 1  # backing off: not hammered every poll
    clock.advance(0.5)
    assert w.poll() == [] and len(attempts) == 2  # second failure: the wait doubles
    clock.advance(0.5)
    assert w.poll() == [] and len(attempts) == 2
    clock.advance(0.5)
    handed = w.poll()  # no new quiet period needed
    assert [f.relative for f in handed] == ["a.zip"]
    assert len(attempts) == 3 and attempts[0] == attempts[2]
    clock.advance(QUIET * 5)
    w.scan()
    assert w.poll() == []
    assert len(attempts) == 3


def test_vanished_file_is_dropped_without_error(
    inbox: Path, make_fake, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    gone = inbox / "gone.zip"
    gone.write_bytes(make_zip())
    raced = inbox / "raced.zip"
    raced.write_bytes(make_zip())
    stays = inbox / "stays.zip"
    stays.write_bytes(make_zip())
    w.scan()
    gone.unlink()  # claimed by a worker between the scan and the poll

    real = watcher_mod.zip_end_record_present

    def claimed_while_reading(path: Path) -> bool | None:
        if path.name == "raced.zip":
            path.unlink()  # vanishes between stat and open
        return real(path)

    monkeypatch.setattr(watcher_mod, "zip_end_record_present", claimed_while_reading)
    clock.advance(QUIET)
    with capture_logs() as logs:
        handed = w.poll()
        assert w.poll() == []
    assert [f.relative for f in handed] == ["stays.zip"]
    assert rec.relatives() == ["stays.zip"]
    assert [e for e in logs if e["log_level"] in ("error", "warning")] == []


def test_file_vanishing_after_hand_over_is_forgotten_and_a_new_one_handed(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    w, rec = make_fake(quiet_period=QUIET)
    p = inbox / "a.zip"
    data = make_zip()
    p.write_bytes(data)
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1
    st = p.stat()
    p.unlink()
    w.scan()  # the memory of the gone file is dropped
    p.write_bytes(data)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # even the very same version again
    w.scan()
    clock.advance(QUIET)
    assert len(w.poll()) == 1
    assert len(rec.files) == 2 and rec.files[0].version == rec.files[1].version


def test_scan_calls_on_scan_and_survives_its_failure(inbox: Path, make_fake) -> None:
    calls: list[int] = []

    def on_scan() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("redis down")

    w, _ = make_fake(on_scan=on_scan)
    with capture_logs() as logs:
        w.scan()
        w.scan()
        w.scan()
    assert len(calls) == 3
    assert [e["event"] for e in logs].count("watcher.on_scan_failed") == 1
    assert [e["event"] for e in logs].count("watcher.scan") == 3


# --------------------------------------------------------------------------- skipped entries

#: a fixed wall-clock "now" for the pure function: mtimes are set relative to it
NOW = 1_700_000_000.0


def set_mtime(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime), follow_symlinks=False)


def make_skipped_entries(inbox: Path, outside: Path) -> dict[str, str]:
    """One of each kind the watcher skips, at the top and the account level; returns
    relative -> expected kind. Their mtimes are set far in the past (wall clock)."""
    outside.mkdir(exist_ok=True)
    (outside / "secret.zip").write_bytes(make_zip())
    (inbox / "acc").mkdir()
    (inbox / "link.zip").symlink_to(outside / "secret.zip")
    (inbox / "acc" / "dirlink").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "pipe.zip")
    os.mkfifo(inbox / "acc" / "pipe.zip")
    # (at the account level such a folder is a folder upload: tests/test_folder_uploads.py)
    for folder in (inbox / "unpacked.zip",):
        (folder / "report").mkdir(parents=True)
        (folder / "report" / "photo.jpg").write_bytes(b"\xff\xd8" + os.urandom(100))
        (folder / "inner.zip").write_bytes(make_zip())  # a complete ZIP: still not a candidate
    for folder in (inbox / ".hidden", inbox / "~backup", inbox / "acc" / ".git"):
        folder.mkdir()
        (folder / "x.zip").write_bytes(make_zip())
    for name in ("old.zip.part", "acc/old.zip.filepart", "old.tmp", ".old.zip", "~old.zip"):
        (inbox / name).write_bytes(b"PK\x03\x04")
    expected = {
        "link.zip": "symlink", "acc/dirlink": "symlink",
        "pipe.zip": "not_a_file", "acc/pipe.zip": "not_a_file",
        "unpacked.zip": "folder_named_like_a_package",
        ".hidden": "hidden_folder", "~backup": "hidden_folder", "acc/.git": "hidden_folder",
        "old.zip.part": "unfinished_upload", "acc/old.zip.filepart": "unfinished_upload",
        "old.tmp": "unfinished_upload", ".old.zip": "unfinished_upload", "~old.zip": "unfinished_upload",
    }
    long_ago = time.time() - 10 * STALE
    for relative in expected:
        set_mtime(inbox / relative, long_ago)
    return expected


def test_skipped_in_inbox_names_each_kind_and_where_it_is(inbox: Path, tmp_path: Path) -> None:
    expected = make_skipped_entries(inbox, tmp_path / "outside")
    (inbox / "good.zip").write_bytes(make_zip())  # positive control: a candidate, not skipped
    (inbox / "acc" / "good.zip").write_bytes(make_zip())
    found = skipped_in_inbox(inbox, time.time(), STALE)
    assert [(e.relative, e.kind) for e in found] == sorted(expected.items())
    assert {e.relative: e.account for e in found} == {
        rel: (rel.split("/")[0] if "/" in rel else "") for rel in expected}
    assert all(e.note == SKIPPED_KINDS[e.kind] and e.note for e in found)
    # lstat: the symlink's own mtime, not its target's
    assert {e.mtime for e in found if e.kind == "symlink"} == {(inbox / "link.zip").lstat().st_mtime}
    # the unpacked folders' contents are neither candidates nor too deep
    assert [f.relative for f in scan_inbox(inbox)] == ["acc/good.zip", "good.zip"]


def test_in_progress_names_are_reported_only_once_older_than_the_stale_timeout(inbox: Path) -> None:
    (inbox / "acc").mkdir()
    for name, age in (("young.zip.part", 10.0), ("acc/.young.zip", STALE - 1), ("old.zip.filepart", STALE + 1),
                      ("acc/~old.tmp", 3 * STALE)):
        (inbox / name).write_bytes(b"PK\x03\x04")
        set_mtime(inbox / name, NOW - age)
    found = skipped_in_inbox(inbox, NOW, STALE)
    assert [(e.relative, e.kind, e.mtime) for e in found] == [
        ("acc/~old.tmp", "unfinished_upload", NOW - 3 * STALE),
        ("old.zip.filepart", "unfinished_upload", NOW - STALE - 1)]
    # later, the young ones are old too
    assert [e.relative for e in skipped_in_inbox(inbox, NOW + STALE, STALE)] == [
        "acc/.young.zip", "acc/~old.tmp", "old.zip.filepart", "young.zip.part"]


def skipped_logs(logs: list[dict[str, object]]) -> list[tuple[object, object]]:
    return sorted((e["relative"], e["kind"]) for e in logs if e["event"] == "watcher.skipped")


def test_each_skipped_entry_is_logged_once_and_again_after_it_returns(
    inbox: Path, tmp_path: Path, make_fake, clock: FakeClock
) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    expected = make_skipped_entries(inbox, tmp_path / "outside")
    (inbox / "young.zip.part").write_bytes(b"PK\x03\x04")  # an upload in progress: no word
    with capture_logs() as logs:
        for _ in range(3):
            w.scan()
            clock.advance(QUIET)
            w.poll()
    assert skipped_logs(logs) == sorted(expected.items())
    for e in (e for e in logs if e["event"] == "watcher.skipped"):
        assert e["log_level"] == "warning" and e["note"] == SKIPPED_KINDS[str(e["kind"])]
        assert e["account"] == (str(e["relative"]).split("/")[0] if "/" in str(e["relative"]) else "")
    assert rec.files == []  # nothing skipped was handed over
    assert not [e for e in logs if e["event"] == "watcher.packed"]

    # gone at a scan: forgotten; back: named again, and only the ones that came back
    (inbox / "pipe.zip").unlink()
    (inbox / "acc" / "dirlink").unlink()
    with capture_logs() as logs:
        w.scan()
    assert skipped_logs(logs) == []
    os.mkfifo(inbox / "pipe.zip")
    (inbox / "acc" / "dirlink").symlink_to(tmp_path / "outside", target_is_directory=True)
    with capture_logs() as logs:
        w.scan()
        w.scan()
    assert skipped_logs(logs) == [("acc/dirlink", "symlink"), ("pipe.zip", "not_a_file")]

    # the same name as another kind is news too
    (inbox / "link.zip").unlink()
    os.mkfifo(inbox / "link.zip")
    with capture_logs() as logs:
        w.scan()
    assert skipped_logs(logs) == [("link.zip", "not_a_file")]


def test_an_upload_left_unfinished_is_named_once_it_is_older_than_the_stale_timeout(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    w, _ = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    part = inbox / "a.zip.filepart"
    part.write_bytes(b"PK\x03\x04")
    with capture_logs() as logs:
        w.scan()
        w.scan()
    assert skipped_logs(logs) == []  # in progress
    set_mtime(part, time.time() - STALE - 60)  # nobody wrote to it for longer than the timeout
    with capture_logs() as logs:
        w.scan()
        w.scan()
    assert skipped_logs(logs) == [("a.zip.filepart", "unfinished_upload")]


def test_files_in_a_folder_named_like_a_package_are_neither_taken_nor_warned(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE)
    (inbox / "材料.zip").mkdir()  # an unpacked upload: one folder, many files
    (inbox / "材料.zip" / "培训方案.json").write_text("{}")
    (inbox / "材料.zip" / "scan.zip").write_bytes(make_zip())
    (inbox / "control.zip").write_bytes(make_zip())
    with capture_logs() as logs:
        for _ in range(3):
            w.scan()
            clock.advance(STALE + 1)
            w.poll()
    assert rec.relatives() == ["control.zip"]
    assert [e for e in logs if e["event"] in ("watcher.stale_incomplete_zip", "watcher.packed")] == []
    assert skipped_logs(logs) == [("材料.zip", "folder_named_like_a_package")]


def test_files_written_into_a_folder_named_like_a_package_are_ignored_real_observer(
    inbox: Path, running
) -> None:
    # events (not only scans) must leave them alone: the periodic scan is an hour away
    _, rec = running(quiet_period=0.2, scan_interval=3600)
    data = make_zip()
    (inbox / "unpacked.zip").mkdir()
    (inbox / "unpacked.zip" / "a.zip").write_bytes(data)
    time.sleep(0.1)
    (inbox / "control.zip").write_bytes(data)  # written last
    with capture_logs() as logs:
        assert wait_for(lambda: "control.zip" in rec.relatives())
        time.sleep(0.5)
    assert rec.relatives() == ["control.zip"]
    assert [e for e in logs if e["event"] == "watcher.packed"] == []


# --------------------------------------------------------------------------- 0-byte files


def test_empty_file_is_handed_over_after_the_empty_wait(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, stale_upload_timeout=STALE, empty_upload_wait=60.0)
    (inbox / "acc").mkdir()
    (inbox / "acc" / "empty.zip").write_bytes(b"")
    grows = inbox / "grows.zip"
    grows.write_bytes(b"")  # created; its client starts writing within the wait
    w.scan()
    data = make_zip()
    with capture_logs() as logs:
        clock.advance(QUIET)
        assert w.poll() == []  # a client may have created them and not written yet
        clock.advance(50.0 - QUIET)
        grows.write_bytes(data)  # an ordinary upload now: the quiet period rules it
        assert w.poll() == []
        clock.advance(QUIET)
        assert [(f.relative, f.size) for f in w.poll()] == [("grows.zip", len(data))]
        clock.advance(60.0 - 50.0 - QUIET - 0.5)
        assert w.poll() == []
        clock.advance(0.5)
        handed = w.poll()  # long before the stale-upload timeout
        clock.advance(STALE)
        w.scan()
        assert w.poll() == []
    assert [(f.relative, f.size) for f in handed] == [("acc/empty.zip", 0)]
    assert rec.relatives() == ["grows.zip", "acc/empty.zip"]
    [empty] = [e for e in logs if e["event"] == "watcher.empty_file"]
    assert empty["log_level"] == "info" and empty["relative"] == "acc/empty.zip" and empty["account"] == "acc"
    assert empty["version"] == handed[0].version and empty["waited_s"] == 60.0
    assert [e for e in logs if e["event"] == "watcher.waiting_incomplete_zip"] == []


def test_the_empty_wait_is_never_shorter_than_the_quiet_period(inbox: Path, make_fake, clock: FakeClock) -> None:
    w, rec = make_fake(quiet_period=QUIET, empty_upload_wait=0.1)
    assert w.empty_upload_wait == QUIET
    (inbox / "empty.zip").write_bytes(b"")
    w.scan()
    clock.advance(QUIET / 2)
    assert w.poll() == []
    clock.advance(QUIET / 2)
    assert rec.relatives() == [] and [f.relative for f in w.poll()] == ["empty.zip"]


def test_empty_file_renamed_into_the_inbox_is_handed_at_once(inbox: Path, tmp_path: Path, clock: FakeClock) -> None:
    """A real rename event, read with the fake clock: no time passes, yet it is handed."""
    rec = Recorder()
    w = InboxWatcher(inbox, rec, quiet_period=QUIET, stale_upload_timeout=STALE, scan_interval=3600, clock=clock)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "empty.zip").write_bytes(b"")
    w.start()
    try:
        with capture_logs() as logs:
            os.rename(outside / "empty.zip", inbox / "empty.zip")  # `mv`: the writer is done
            assert wait_for(lambda: len(rec.files) == 1)
        assert [(f.relative, f.size) for f in rec.snapshot()] == [("empty.zip", 0)]
        [empty] = [e for e in logs if e["event"] == "watcher.empty_file"]
        assert empty["waited_s"] == 0.0
    finally:
        w.stop()


# --------------------------------------------------------------------------- real observer


def test_file_present_before_start_is_found_by_initial_scan(inbox: Path, running) -> None:
    data = make_zip()
    (inbox / "early.zip").write_bytes(data)
    (inbox / "acc").mkdir()
    (inbox / "acc" / "early2.zip").write_bytes(data)
    _, rec = running(scan_interval=3600)
    assert wait_for(lambda: len(rec.files) == 2)
    assert sorted(rec.relatives()) == ["acc/early2.zip", "early.zip"]
    assert {f.account for f in rec.snapshot()} == {"", "acc"}


def test_renamed_into_inbox_is_handed_at_once(inbox: Path, tmp_path: Path, running) -> None:
    # A quiet period far longer than the wait: only the rename rule can hand these over.
    _, rec = running(quiet_period=60, scan_interval=3600)
    data = make_zip()
    part = inbox / "a.zip.filepart"
    with part.open("wb") as fh:  # WinSCP: upload to .filepart, then rename
        for i in range(0, len(data), 3000):
            fh.write(data[i : i + 3000])
            fh.flush()
            time.sleep(0.01)
    part.rename(inbox / "a.zip")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.zip").write_bytes(data)
    os.rename(outside / "b.zip", inbox / "b.zip")  # `mv` from elsewhere

    assert wait_for(lambda: len(rec.files) == 2)
    assert sorted(rec.relatives()) == ["a.zip", "b.zip"]
    assert all(f.size == len(data) for f in rec.snapshot())


def test_slow_chunked_upload_real_observer_handed_once(inbox: Path, running) -> None:
    w, rec = running(quiet_period=0.2, scan_interval=3600)
    data = make_zip(6)
    p = inbox / "slow.zip"
    step = len(data) // 5 + 1
    for i in range(0, len(data), step):
        with p.open("ab") as fh:  # each chunk closes the file: close-after-write fires
            fh.write(data[i : i + step])
        time.sleep(0.05)
    assert wait_for(lambda: len(rec.files) >= 1)
    # Hints about the same version after the hand-over change nothing: a client opening
    # the file for writing and closing it unchanged (close-after-write), a chmod, a scan.
    open(p, "ab").close()
    os.chmod(p, 0o640)
    w.scan()
    time.sleep(0.8)  # room for a wrong second hand-over to show up
    assert [(f.relative, f.size) for f in rec.snapshot()] == [("slow.zip", len(data))]


def test_in_progress_names_never_handed_real_observer(inbox: Path, running) -> None:
    _, rec = running(quiet_period=0.2, scan_interval=3600)
    data = make_zip()
    for name in ["a.part", "a.zip.filepart", "a.tmp", ".x", "~x"]:
        (inbox / name).write_bytes(data)
    time.sleep(0.1)
    (inbox / "control.zip").write_bytes(data)  # written last
    assert wait_for(lambda: "control.zip" in rec.relatives())
    time.sleep(0.5)
    assert rec.relatives() == ["control.zip"]


# watchdog's own benign race when a folder and its subfolder appear at once.
@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")
def test_account_folder_created_after_start(inbox: Path, running) -> None:
    _, rec = running(quiet_period=0.2, scan_interval=3600)
    (inbox / "xinghuo").mkdir()
    (inbox / "xinghuo" / "2024").mkdir()
    (inbox / "xinghuo" / "2024" / "deep.zip").write_bytes(make_zip())  # a ZIP in a subfolder: taken too
    time.sleep(0.1)
    (inbox / "xinghuo" / "材料.ZIP").write_bytes(make_zip())
    assert wait_for(lambda: len(rec.files) == 2)
    time.sleep(0.4)
    assert len(rec.files) == 2
    assert sorted((f.relative, f.account, f.path) for f in rec.snapshot()) == [
        ("xinghuo/2024/deep.zip", "xinghuo", inbox / "xinghuo" / "2024" / "deep.zip"),
        ("xinghuo/材料.ZIP", "xinghuo", inbox / "xinghuo" / "材料.ZIP")]


def test_close_after_write_restarts_the_quiet_period(inbox: Path, clock: FakeClock) -> None:
    """A real close-after-write event, read with the fake clock: the file must stay
    unchanged for the quiet period counted from the close."""
    rec = Recorder()
    w = InboxWatcher(inbox, rec, quiet_period=QUIET, scan_interval=3600, clock=clock)
    p = inbox / "a.zip"
    p.write_bytes(make_zip())
    w.start()
    try:
        clock.advance(QUIET * 0.75)
        open(p, "ab").close()  # e.g. a client reconnecting: opened for writing, closed
        time.sleep(0.5)  # let the event arrive (arriving later only moves the start later)
        clock.advance(QUIET * 0.5)  # 1.25 quiet periods since the scan, 0.5 since the close
        assert w.poll() == []
        assert rec.files == []
        clock.advance(QUIET)
        assert wait_for(lambda: len(rec.files) == 1)
        assert rec.relatives() == ["a.zip"]
    finally:
        w.stop()


def test_start_and_stop_threads(inbox: Path) -> None:
    w = InboxWatcher(inbox, lambda f: None, quiet_period=0.2)
    w.start()
    try:
        names = {t.name for t in threading.enumerate()}
        assert "inbox-watcher" in names
        with pytest.raises(RuntimeError):
            w.start()
    finally:
        w.stop()
    assert wait_for(lambda: "inbox-watcher" not in {t.name for t in threading.enumerate()}, 2)


def test_a_version_still_in_the_inbox_long_after_its_hand_over_is_handed_again(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    # e.g. Redis lost the message and its enqueue record: the file must not wait forever
    w, rec = make_fake(quiet_period=QUIET)
    w.rehand_after = 30.0
    (inbox / "a.zip").write_bytes(make_zip())
    w.scan()
    clock.advance(QUIET)
    assert [f.relative for f in w.poll()] == ["a.zip"]
    clock.advance(10)
    w.scan()
    clock.advance(QUIET)
    assert w.poll() == []  # not yet: it may simply be queued
    clock.advance(30)
    w.scan()
    clock.advance(QUIET)
    assert [f.relative for f in w.poll()] == ["a.zip"]
    assert rec.relatives() == ["a.zip", "a.zip"]


def test_no_hand_over_is_repeated_while_the_queue_still_holds_messages(
    inbox: Path, make_fake, clock: FakeClock
) -> None:
    # a backlog: the file's message may simply not have been reached yet
    backlog = {"waiting": 5}

    def idle() -> bool:
        if backlog["waiting"] < 0:
            raise ConnectionError("redis down")
        return backlog["waiting"] == 0

    w, rec = make_fake(quiet_period=QUIET, rehand_after=30.0, may_rehand=idle)
    (inbox / "a.zip").write_bytes(make_zip())
    w.scan()
    clock.advance(QUIET)
    assert [f.relative for f in w.poll()] == ["a.zip"]
    clock.advance(60)
    w.scan()
    clock.advance(QUIET)
    assert w.poll() == []  # long past rehand_after, but messages still wait
    backlog["waiting"] = -1
    w.scan()  # the queue cannot be asked: no repeat, and the scan goes on
    clock.advance(QUIET)
    assert w.poll() == []
    backlog["waiting"] = 0
    w.scan()
    clock.advance(QUIET)
    assert [f.relative for f in w.poll()] == ["a.zip"]  # the queue drained, the file is still here
    assert rec.relatives() == ["a.zip", "a.zip"]


def test_inotify_overflow_scans_at_once_and_loses_nothing(inbox: Path, tmp_path: Path, running) -> None:
    # A burst written by another process into an inotify queue of 8 events drops most of
    # them. The periodic scan is 10 minutes away, so only the scan the overflow triggers
    # can find the lost files.
    staging = tmp_path / "staging"
    staging.mkdir()
    blob = make_zip(1, payload=10)
    names = [f"burst-{i:04d}.zip" for i in range(1000)]
    for name in names:
        (staging / name).write_bytes(blob)
    burst = ("import os, sys\n"
             "staging, inbox = sys.argv[1:3]\n"
             "for name in sorted(os.listdir(staging)):\n"
             "    os.rename(os.path.join(staging, name), os.path.join(inbox, name))\n"
             "    os.utime(os.path.join(inbox, name))\n")
    with capture_logs() as logs:
        with small_inotify_queue(8):
            _, rec = running(scan_interval=600)
        subprocess.run([sys.executable, "-c", burst, str(staging), str(inbox)], check=True)
        assert wait_for(lambda: len(rec.snapshot()) >= len(names), 30), f"{len(rec.snapshot())} handed"
    assert sorted(rec.relatives()) == names  # each once
    assert any(e["event"] == "watcher.events_lost" for e in logs)
