"""All checks together through `assess`, as the workers and `pipeline check` run them."""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from pipeline.check.assess import assess
from pipeline.check.documents import Source, build_document, schema_errors
from pipeline.check.policy import load_policy, parse_policy
from tests.support import media
from pipeline.check.folders import zip_folder
from tests.support.packages import PackageBuilder

TODAY = date(2026, 11, 27)
ROOT = "新城区星火职业培训学校20261120"


def check(builder: PackageBuilder, tmp_path: Path, policy=None, name: str = f"{ROOT}.zip"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    zip_path = builder.to_zip(tmp_path / name)
    findings = assess(zip_path, name, policy or load_policy(), tmp_path / "work", TODAY)
    now = datetime.now(timezone.utc)
    doc = build_document(findings, receipt_id="R20261127-00000000", source=Source("check", name),
                         received_at=now, decided_at=now)
    assert schema_errors(doc) == []
    assert not (tmp_path / "work").exists()  # scratch removed
    return doc


def codes(doc) -> list[str]:
    return sorted(e["code"] for e in doc["errors"])


def test_a_correct_package_passes_and_its_manifest_has_the_measurements(tmp_path: Path):
    doc = check(PackageBuilder(theory_mode=["offline", "online"]), tmp_path)
    assert doc["status"] == "accepted" and doc["errors"] == [] and doc["warnings"] == []
    assert doc["institution"] == "新城区星火职业培训学校" and doc["report_date"] == "2026-11-20"
    assert doc["trainings"] == [{"occupation": "育婴师", "level": "初级", "folder": "育婴师初级", "trainees": 20}]
    by_kind: dict[str, list[dict]] = {}
    for entry in doc["manifest"]:
        by_kind.setdefault(entry.get("kind", "other"), []).append(entry)
    assert len(by_kind["photo"]) == 10 and len(by_kind["video"]) == 6 and len(by_kind["screenshot"]) == 2
    assert all(v["format"] == "MPEG-4" and v["codec"] == "AVC" and abs(v["duration"] - 150) < 0.5
               and (v["width"], v["height"]) == (1280, 720) for v in by_kind["video"])
    assert all(p["format"] == "JPEG" and (p["width"], p["height"]) == (1920, 1080) for p in by_kind["photo"])
    assert {e["kind"] for e in by_kind["form"]} == {"form"}


def test_one_upload_reports_every_fault_of_every_kind(tmp_path: Path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 10)], theory_mode=["offline", "online"])
    b.remove("育婴师初级/理论/育婴师初级理论3.jpg")                                    # MEDIA_COUNT naming it
    b.replace("育婴师初级/理论/育婴师初级理论1.jpg", media.png())                       # IMG_FORMAT
    b.replace("育婴师初级/理论/育婴师初级理论2.jpg", media.jpeg(1024, 576))             # IMG_RESOLUTION
    b.replace("育婴师初级/实操/育婴师初级实操1.mp4", media.mp4(100))                    # VID_DURATION
    b.replace("育婴师初级/实操/育婴师初级实操2.mp4", media.mp4(150, 640, 360))          # VID_RESOLUTION
    b.replace("育婴师初级/实操/育婴师初级实操3.mp4", media.mp4(150, container="mov"))   # VID_FORMAT
    b.replace("车工中级/理论/车工中级理论1.mp4", media.mp4(150, codec="mpeg4"))        # W_VIDEO_CODEC
    b.replace("车工中级/实操/车工中级实操4.jpg", media.truncated(media.jpeg(noise=True)))  # IMG_CORRUPT
    b.rename("车工中级/实操/车工中级实操5.jpg", "车工中级/实操/车工实操5.jpg")           # NAME_PATTERN
    b.add("育婴师初级/说明.docx", b"PK\x03\x04 not really")                          # HIER_UNEXPECTED
    b.replace("育婴师初级/线上培训截图1.png", media.gif())                              # IMG_FORMAT (screenshot)
    doc = check(b, tmp_path)
    assert doc["status"] == "rejected"
    assert codes(doc) == sorted(["MEDIA_COUNT", "IMG_FORMAT", "IMG_RESOLUTION", "VID_DURATION",
                                 "VID_RESOLUTION", "VID_FORMAT", "IMG_CORRUPT", "NAME_PATTERN",
                                 "HIER_UNEXPECTED", "IMG_FORMAT"])
    assert [w["code"] for w in doc["warnings"]] == ["W_VIDEO_CODEC"]
    for e in doc["errors"]:
        assert e["path"].startswith(ROOT) and e["message"] and e["hint"]
    resolution = next(e for e in doc["errors"] if e["code"] == "IMG_RESOLUTION")
    assert resolution["path"] == f"{ROOT}/育婴师初级/理论/育婴师初级理论2.jpg"
    measured = next(entry for entry in doc["manifest"] if entry["path"] == resolution["path"])
    assert (measured["width"], measured["height"]) == (1024, 576)  # the photo judged, as measured


def test_screenshot_size_limit(tmp_path: Path):
    b = PackageBuilder(theory_mode=["online"], practice_mode=["offline"])
    big = media.png(800, 600)
    b.replace("育婴师初级/线上培训截图2.png", big)
    policy = load_policy()
    small = dataclasses.replace(policy, media=dataclasses.replace(policy.media, screenshot_max_bytes=len(big) - 1))
    doc = check(b, tmp_path, small)
    assert codes(doc) == ["IMG_SIZE", "IMG_SIZE"]  # both screenshots are that big
    assert all("线上培训截图" in e["path"] for e in doc["errors"])


def test_policy_relaxes_and_tightens_rules(tmp_path: Path):
    b = PackageBuilder(pledge_scan=False)
    b.replace("育婴师初级/实操/育婴师初级实操3.mp4", media.mp4(150, container="mov"))
    strict = check(b, tmp_path / "a")
    assert codes(strict) == ["VID_FORMAT"] and [w["code"] for w in strict["warnings"]] == ["W_PLEDGE_SCAN"]
    relaxed = parse_policy(b'[media]\nrefuse_mov = false\n[severity]\nW_PLEDGE_SCAN = "off"\n', "relaxed")
    doc = check(b, tmp_path / "b", relaxed)
    assert doc["status"] == "accepted" and doc["warnings"] == []
    assert doc["policy_sha256"] == relaxed.sha256 != strict["policy_sha256"]
    promoted = parse_policy(b'[severity]\nW_PLEDGE_SCAN = "error"\n', "promoted")
    doc = check(PackageBuilder(pledge_scan=False), tmp_path / "c", promoted)
    assert codes(doc) == ["W_PLEDGE_SCAN"] and doc["status"] == "rejected"


def test_check_command_json_lines_and_exit_codes(tmp_path: Path):
    good = PackageBuilder().to_zip(tmp_path / f"{ROOT}.zip")
    bad_builder = PackageBuilder()
    bad_builder.remove("育婴师初级/实操")
    bad = bad_builder.to_zip(tmp_path / "bad.zip")
    policy = tmp_path / "policy.toml"
    policy.write_text("[media]\nphoto_count = 5\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", "check", *args], capture_output=True,
                              text=True, timeout=120)

    result = run("--json", "--today", "2026-11-27", "--policy", str(policy), str(good), str(bad))
    assert result.returncode == 1
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["status"] for d in docs] == ["accepted", "rejected"]
    assert docs[0]["policy_sha256"] == __import__("hashlib").sha256(policy.read_bytes()).hexdigest()
    assert [e["code"] for e in docs[1]["errors"]] == ["HIER_SECTION_MISSING"]
    assert all(schema_errors(d) == [] for d in docs)
    passed = run("--today", "2026-11-27", str(good))
    assert passed.returncode == 0
    # a self-check, never to be taken for a receipt: labelled so, and no receipt id
    assert passed.stdout.startswith("自查结果（未上报，不是回执）：通过，可以上报\n")
    assert "回执编号" not in passed.stdout and not re.search(r"R\d{8}-", passed.stdout)
    readable = run("--today", "2026-11-27", str(bad))
    assert "HIER_SECTION_MISSING" in readable.stdout and "实操" in readable.stdout and readable.returncode == 1
    assert readable.stdout.startswith("自查结果（未上报，不是回执）：未通过") and "回执编号" not in readable.stdout
    assert run(str(tmp_path / "missing.zip")).returncode == 2
    assert run("--today", "yesterday", str(good)).returncode == 2
    assert run("--policy", str(tmp_path / "nope.toml"), str(good)).returncode == 2
    # a future report date is judged against --today
    assert run("--today", "2026-11-19", str(good)).returncode == 1


def test_a_folder_is_checked_as_if_it_were_zipped(tmp_path: Path):
    """`pipeline check DIR`: the clerk's folder gets the verdict its ZIP would get, and is
    told that the upload is the ZIP; a folder's fault is found as in a ZIP."""
    b = PackageBuilder()
    folder = tmp_path / ROOT
    for path, data in b.build().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not in the package")
    (folder / "link.txt").symlink_to(outside)  # never followed: a link is left out

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", "check", "--json", "--today", "2026-12-06", *args],
                              capture_output=True, text=True, timeout=120)

    result = run(str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "accepted" and doc["package"]["name"] == f"{ROOT}.zip"
    assert doc["source"]["location"] == str(folder)
    assert not any(m["path"].endswith("link.txt") for m in doc["manifest"])
    assert "压缩包" in result.stderr  # the clerk is told to upload the ZIP
    (folder / "育婴师初级" / "说明.docx").write_bytes(b"x")
    doc = json.loads(run(str(folder)).stdout)
    assert [e["code"] for e in doc["errors"]] == ["HIER_UNEXPECTED"]


def test_zip_folder_packs_the_folder_as_its_top_folder_in_sorted_order(tmp_path: Path):
    folder = tmp_path / "星火20261120"
    (folder / "b").mkdir(parents=True)
    (folder / "b" / "2.txt").write_bytes(b"two")
    (folder / "a.txt").write_bytes(b"one")
    zipped = zip_folder(folder, tmp_path / "out.zip")
    with zipfile.ZipFile(zipped) as zf:
        assert zf.namelist() == ["星火20261120/a.txt", "星火20261120/b/2.txt"]
        assert all(i.compress_type == zipfile.ZIP_STORED and i.flag_bits & 0x800 for i in zf.infolist())
        assert zf.read("星火20261120/b/2.txt") == b"two"
    assert zip_folder(folder, tmp_path / "again.zip").read_bytes() == zipped.read_bytes()  # same bytes
