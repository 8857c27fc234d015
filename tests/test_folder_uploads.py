"""Issue 15, points 1 and 2: uploads that are not one ZIP file get exactly one answer.

A folder uploaded instead of a ZIP, ZIPs put in a subfolder, and loose files (a package's
contents without their folder), through ``pipeline run`` (its embedded Redis, the real
watcher and workers) mailing to a real SMTP server; the operator's view through the CLI;
and the packing's crash safety with the watcher SIGKILLed at every step of it."""

from __future__ import annotations

import email
import hashlib
import io
import json
from datetime import datetime, timedelta
import os
import subprocess
import sys
import threading
import zipfile
from email import policy
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.running import Pipeline, decisions, good_package
from tests.support.smtpserver import RecordingHandler, SmtpServer
from tests.support.waiting import wait_until

MAIL_ENV = {"MAIL_FROM": "回执 <receipts@test.example>", "OPERATOR_EMAIL": "operator@test.example"}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(RecordingHandler())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    started: list[Pipeline] = []
    yield started
    for p in started:
        if p.proc is not None and p.proc.poll() is None:
            p.stop()


def start(tmp_path: Path, started: list[Pipeline], smtp: SmtpServer, **env: str) -> Pipeline:
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True, exist_ok=True)
    p = Pipeline(data, tmp_path / "pipeline.log",
                 {"SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "PIPELINE_FOLDER_QUIET_PERIOD": "1.5",
                  **MAIL_ENV, **env})
    p.start()
    started.append(p)
    return p


def unpack(blob: bytes, target: Path) -> dict[str, bytes]:
    """Extract a package ZIP under ``target``; returns its files (path -> bytes)."""
    files = {}
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            data = zf.read(info)
            (target / info.filename).parent.mkdir(parents=True, exist_ok=True)
            (target / info.filename).write_bytes(data)
            files[info.filename] = data
    return files


def stored_members(folder: Path) -> dict[str, bytes]:
    """The members of the one ZIP stored in a decision folder, and their compress types."""
    (zip_path,) = [p for p in folder.iterdir() if p.suffix == ".zip"]
    with zipfile.ZipFile(zip_path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        return {i.filename: zf.read(i) for i in zf.infolist()}


def mail_texts(server: SmtpServer) -> list[str]:
    out = []
    for m in server.messages:
        msg = email.message_from_bytes(m.content, policy=policy.default)
        out.append(msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return out


def cli(p: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PIPELINE_DATA_DIR=str(p.data), PIPELINE_FOLDER_QUIET_PERIOD="1.5")
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def by_location(p: Pipeline) -> dict[str, dict[str, Any]]:
    return {doc["source"]["location"]: doc for _, doc in decisions(p.data).values()}


# --------------------------------------------------------------------------- one answer each


def test_a_folder_zips_in_a_subfolder_and_loose_files_each_get_one_answer(
        tmp_path: Path, pipelines: list[Pipeline], smtp: SmtpServer) -> None:
    p = start(tmp_path, pipelines, smtp)
    inbox = p.data / "inbox"
    staging = tmp_path / "staging"
    staging.mkdir()

    # 1. a package folder dragged into the account folder (renamed in, as a client's mkdir
    #    + uploads end), named 机构名称+上报日期 as the contract wants
    blob = good_package("folder")
    originals = unpack(blob, staging)
    (top,) = {name.split("/")[0] for name in originals}
    (inbox / "xinghuo").mkdir()
    os.rename(staging / top, inbox / "xinghuo" / top)

    # 2. two ZIPs (and a Mac's junk) put in a subfolder
    (inbox / "xinghuo" / "补交").mkdir()
    (inbox / "xinghuo" / "补交" / "a.zip").write_bytes(good_package("sub-a"))
    (inbox / "xinghuo" / "补交" / "b.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (inbox / "xinghuo" / "补交" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    # 3. a package's contents uploaded without their folder, into another account, plus a
    #    RAR that keeps its own answer
    loose_src = tmp_path / "loose"
    loose_src.mkdir()
    loose = unpack(good_package("loose"), loose_src)
    (inbox / "lanxiang").mkdir()
    flat: dict[str, bytes] = {}
    for name, data in loose.items():
        base = name.rsplit("/", 1)[-1]
        if base in flat:  # the same base name in two trainings: as a clerk's "select all" would not
            continue
        flat[base] = data
        (inbox / "lanxiang" / base).write_bytes(data)
    assert len(flat) >= 10
    (inbox / "lanxiang" / "另一份.rar").write_bytes(b"Rar!\x1a\x07\x00" + os.urandom(200))

    expected = {f"inbox/xinghuo/{top}.zip", "inbox/xinghuo/补交/a.zip", "inbox/xinghuo/补交/b.zip",
                "inbox/lanxiang/另一份.rar"}
    wait_until(lambda: len(decisions(p.data)) >= len(expected) + 1 and len(smtp.messages) >= len(expected) + 1,
               120, message="every upload decided and mailed")
    docs = by_location(p)
    loose_docs = [d for loc, d in docs.items() if loc.startswith("inbox/lanxiang/lanxiang散装文件")]
    assert len(loose_docs) == 1, sorted(docs)
    assert set(docs) == expected | {loose_docs[0]["source"]["location"]}

    # the folder: one decision, accepted, its files kept byte for byte in a stored ZIP
    folder_doc = docs[f"inbox/xinghuo/{top}.zip"]
    assert folder_doc["status"] == "accepted", folder_doc["errors"]
    assert folder_doc["source"] == {"kind": "fs", "location": f"inbox/xinghuo/{top}.zip", "account": "xinghuo",
                                    "uploaded_as": "folder", "uploaded_name": top,
                                    "uploaded_files": len(originals)}
    (folder_dir,) = [f for f, d in decisions(p.data).values() if d is folder_doc or d == folder_doc]
    assert stored_members(folder_dir) == originals
    assert hashlib.sha256((folder_dir / f"{top}.zip").read_bytes()).hexdigest() == folder_doc["package"]["sha256"]

    # the ZIPs of the subfolder: decided one by one, their location keeping the subfolder
    assert docs["inbox/xinghuo/补交/a.zip"]["status"] == "accepted"
    assert docs["inbox/xinghuo/补交/a.zip"]["source"]["account"] == "xinghuo"
    assert "uploaded_as" not in docs["inbox/xinghuo/补交/a.zip"]["source"]
    assert docs["inbox/xinghuo/补交/b.zip"]["status"] == "rejected"

    # the loose files: one rejection for all of them, saying there is no package folder
    loose_doc = loose_docs[0]
    assert loose_doc["status"] == "rejected"
    assert loose_doc["source"]["uploaded_as"] == "files"
    assert loose_doc["source"]["uploaded_files"] == len(flat)
    # the time in its name is the configured zone's (+08:00 by default), like every time shown
    stamp = datetime.strptime(loose_doc["package"]["name"].split("散装文件")[1][:15], "%Y%m%d-%H%M%S")
    received = datetime.fromisoformat(loose_doc["received_at"])
    assert received.utcoffset() == timedelta(hours=8)
    assert timedelta(0) <= received.replace(tzinfo=None) - stamp < timedelta(minutes=5)
    assert "HIER_ROOT_NAME" in {e["code"] for e in loose_doc["errors"]}
    # ... in words for what the clerk did: loose files, no ZIP of theirs to rename
    root_name = next(e for e in loose_doc["errors"] if e["code"] == "HIER_ROOT_NAME")
    assert root_name["message"].startswith("上传的是零散的文件") and "改名" not in root_name["hint"]
    assert "PKG_NOT_ZIP" not in {e["code"] for e in loose_doc["errors"]}
    (loose_dir,) = [f for f, d in decisions(p.data).values() if d == loose_doc]
    assert stored_members(loose_dir) == flat
    # the RAR: its own PKG_NOT_ZIP, as before
    assert [e["code"] for e in docs["inbox/lanxiang/另一份.rar"]["errors"]] == ["PKG_NOT_ZIP"]

    # one mail per decision, saying how the upload came
    wait_until(lambda: len(smtp.messages) == len(docs), 60, message="one mail per decision")
    texts = mail_texts(smtp)
    assert len(texts) == len(docs) == 5
    folder_mails = [t for t in texts if "以文件夹方式上传" in t]
    assert len(folder_mails) == 1 and f"“{top}.zip”" in folder_mails[0]
    loose_mails = [t for t in texts if "零散文件" in t]
    assert len(loose_mails) == 1 and f"{len(flat)} 个零散文件" in loose_mails[0]
    assert "压缩成一个 ZIP 文件" in loose_mails[0]

    # nothing is left in the inbox but the emptied subfolder's junk, nothing is packing
    left = sorted(str(f.relative_to(inbox)) for f in inbox.rglob("*") if f.is_file())
    assert left == ["xinghuo/补交/.DS_Store"]
    assert not any((inbox / ".pipeline-packing").glob("*/"))
    # the readable receipt says it too; find finds the decision by the folder's name
    found = json.loads(cli(p, "find", top, "--json").stdout)
    assert [d["receipt_id"] for d in found["decisions"]] == [folder_doc["receipt_id"]]
    receipt = cli(p, "receipt", folder_doc["receipt_id"]).stdout
    assert "以文件夹方式上传" in receipt
    events = p.events()
    assert len([e for e in events if e.get("event") == "watcher.packed"]) == 2
    assert not [e for e in events if e.get("level") == "error"]


def test_the_operator_sees_a_folder_and_loose_files_waiting(
        tmp_path: Path, pipelines: list[Pipeline], smtp: SmtpServer) -> None:
    p = start(tmp_path, pipelines, smtp)
    inbox = p.data / "inbox"
    folder = inbox / "xinghuo" / "星火职业培训学校20261120"
    (folder / "理论").mkdir(parents=True)
    (folder / "培训方案.json").write_text("{}", encoding="utf-8")
    growing = folder / "理论" / "课堂.jpg"
    (inbox / "lanxiang").mkdir()
    for i in range(3):
        (inbox / "lanxiang" / f"照片{i}.jpg").write_bytes(b"\xff\xd8" + os.urandom(100))
    still_uploading = inbox / "lanxiang" / "视频.mp4.filepart"

    # an upload still under way in each: both wait however long the status takes to run
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            with growing.open("ab") as fh:
                fh.write(os.urandom(64))
            with still_uploading.open("ab") as fh:
                fh.write(os.urandom(64))
            stop.wait(0.2)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        status = json.loads(cli(p, "status", "--json").stdout)
        text = cli(p, "status").stdout
        found = json.loads(cli(p, "find", "星火职业培训学校", "--json").stdout)
    finally:
        stop.set()
        writer.join()
    uploads = {u["location"]: u for u in status["inbox"]["uploads"]}
    assert set(uploads) == {"xinghuo/星火职业培训学校20261120/", "lanxiang/（3 个零散文件）"}
    assert uploads["xinghuo/星火职业培训学校20261120/"]["kind"] == "folder"
    assert uploads["xinghuo/星火职业培训学校20261120/"]["files"] == 2
    assert uploads["lanxiang/（3 个零散文件）"]["kind"] == "files"
    assert uploads["lanxiang/（3 个零散文件）"]["taken_in_s"] is None  # the .filepart beside them
    assert status["inbox"]["waiting"] == 2  # each one upload
    assert "folder  xinghuo/星火职业培训学校20261120/  2 files" in text
    assert [w["location"] for w in found["waiting"]] == ["xinghuo/星火职业培训学校20261120/"]

    # once the uploads stop, each is taken: one decision each (the .filepart is renamed
    # to its final name, as WinSCP does, and joins its loose files)
    still_uploading.rename(inbox / "lanxiang" / "视频.mp4")
    wait_until(lambda: len(decisions(p.data)) >= 2 and len(smtp.messages) >= 2, 120, message="both decided")
    docs = by_location(p)
    assert sorted(d["source"].get("uploaded_as") for d in docs.values()) == ["files", "folder"]
    assert sorted(d["source"]["uploaded_files"] for d in docs.values()) == [2, 4]
    status = json.loads(cli(p, "status", "--json").stdout)
    assert status["inbox"]["waiting"] == 0 and status["inbox"]["uploads"] == []


# --------------------------------------------------------------------------- crash safety


@pytest.mark.xdist_group("faults")  # kills processes on a timer: with the fault tests, one at a time
def test_a_watcher_killed_at_every_step_of_a_packing_gives_one_answer_and_loses_nothing(
        tmp_path: Path, pipelines: list[Pipeline], smtp: SmtpServer) -> None:
    """Each fault point kills the watcher (SIGKILL) once per upload; ``pipeline run``
    restarts it, and the new watcher finishes the packing from its holder. The folder is
    killed after the take, the ZIP and the link (a packing killed after its link is
    finished without reaching the cleanup point), the loose files after the take, the ZIP
    and before the cleanup: every point, three kills each."""
    kills_of = {"xinghuo": ["pack_after_take", "pack_after_zip", "pack_after_link"],
                "lanxiang": ["pack_after_take", "pack_after_zip", "pack_before_cleanup"]}
    p = start(tmp_path, pipelines, smtp, PIPELINE_FAULT_POINTS="pack_after_take=kill-once,pack_after_zip=kill-once,"
              "pack_after_link=kill-once@xinghuo,pack_before_cleanup=kill-once")
    inbox = p.data / "inbox"
    staging = tmp_path / "staging"
    staging.mkdir()
    originals = unpack(good_package("crash"), staging)
    (top,) = {name.split("/")[0] for name in originals}
    (inbox / "xinghuo").mkdir()
    os.rename(staging / top, inbox / "xinghuo" / top)
    (inbox / "lanxiang").mkdir()
    loose = {f"文件{i}.json": json.dumps({"n": i}).encode() for i in range(6)}
    for name, data in loose.items():
        (inbox / "lanxiang" / name).write_bytes(data)

    wait_until(lambda: len(decisions(p.data)) >= 2 and len(smtp.messages) >= 2, 180,
               message="both decided after the kills")
    kills = [e for e in p.events() if e.get("event") == "supervisor.child_exited" and e.get("child") == "watcher"]
    expected_kills = sorted(kills_of["xinghuo"] + kills_of["lanxiang"])
    assert len(kills) == len(expected_kills)
    assert sorted(f.name.split("-")[0] for f in (p.data / "faults").iterdir()) == expected_kills
    docs = by_location(p)
    assert len(docs) == 2, sorted(docs)
    folder_doc = docs[f"inbox/xinghuo/{top}.zip"]
    assert folder_doc["status"] == "accepted" and folder_doc["source"]["uploaded_as"] == "folder"
    folder_dir = next(f for f, d in decisions(p.data).values() if d == folder_doc)
    assert stored_members(folder_dir) == originals
    loose_doc = next(d for loc, d in docs.items() if loc != f"inbox/xinghuo/{top}.zip")
    assert loose_doc["source"]["uploaded_as"] == "files"
    loose_dir = next(f for f, d in decisions(p.data).values() if d == loose_doc)
    assert stored_members(loose_dir) == loose
    wait_until(lambda: not (inbox / ".pipeline-packing").exists()
               or not any(x.is_dir() for x in (inbox / ".pipeline-packing").iterdir()), 30,
               message="the holders removed")
    assert [f for f in inbox.rglob("*") if f.is_file() and ".pipeline-packing" not in f.parts] == []
    assert len(smtp.messages) == 2
    assert len([e for e in p.events() if e.get("event") == "watcher.pack_resumed"]) >= len(expected_kills)
