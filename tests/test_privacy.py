"""Personal numbers (issue 13, item 5): the recogniser of pipeline/check/privacy.py masks
exactly the 身份证号 and mobile numbers in a text, and nothing else; and it is applied
wherever text leaves the checker: problems (message, hint, path, pointer, parameters),
the decision document (package name, source, manifest, ignored junk, institution,
trainings) and the log lines. The operator's commands: tests/test_operator_queries.py;
the mail: tests/test_mail.py; form values: tests/test_form_schemas.py and
tests/test_form_rules.py. The leak detector of the tests is a second reading of the
definition: tests/support/leaks.py."""

from __future__ import annotations

import io
import json
import logging
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.app.logs import configure_logging
from pipeline.check.assess import assess
from pipeline.check.catalogue import problem
from pipeline.check.documents import Findings, Source, build_document, masked_document, schema_errors
from pipeline.check.identity import make_id_number
from pipeline.check.policy import load_policy
from pipeline.check.privacy import mask_field, personal_numbers, redact, redact_record
from tests.support.fuzz_strategies import id_like_strings
from tests.support.leaks import leaks, leaks_in
from tests.support.packages import PackageBuilder, fake_photo, fake_video

ID = make_id_number("610116", date(1980, 11, 11), 338)  # 610116198011113382
ID_X = "11010519491231002X"  # a real check character X
PERMIT = make_id_number("810000", date(1953, 11, 3), 171)  # 港澳台居民居住证
FOREIGNER = make_id_number("931840", date(1985, 6, 1), 12)  # 外国人永久居留身份证 (2023)
LEGACY = "610113800101401"  # 15 digits: 610113 + 800101 + 401
MOBILE = "13812345678"
TODAY = date(2026, 12, 6)


def masked_id(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


# -- what is a personal number ----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (ID, "610116********3382"),
    (ID_X, "110105********002X"),
    (ID_X.lower(), "110105********002x"),
    (PERMIT, masked_id(PERMIT)),
    (FOREIGNER, masked_id(FOREIGNER)),
    (LEGACY, "610113*****1401"),
    (MOBILE, "138****5678"),
    ("+86 138-1234-5678", "+86 138-****-5678"),
    ("+8613812345678", "+86138****5678"),
    ("0086 138 1234 5678", "0086 138 **** 5678"),
    ("8613812345678", "86138****5678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width, as input methods type
    ("６１０１１６１９８０１１１１３３８２", "６１０１１６********３３８２"),
    ("610116 19801111 3382", "610116 ******** 3382"),  # grouped 6-8-4
    ("610116-19801111-3382", "610116-********-3382"),
    # glued to Chinese, letters, punctuation: still found
    (f"张三{ID}.zip", "张三610116********3382.zip"),
    (f"id{ID}abc", "id610116********3382abc"),
    (f"No.{ID}abc", "No.610116********3382abc"),
    (f"{ID}x.jpg", "610116********3382x.jpg"),
    (f"tel{MOBILE}号", "tel138****5678号"),
    (f"{ID}-{MOBILE}", "610116********3382-138****5678"),
    # an ID glued to a date (the checker composes institution + date): still found
    (f"{ID}20261120", "610116********338220261120"),
    (f"20261120{ID}01", "20261120610116********338201"),
])
def test_personal_numbers_are_masked(text: str, expected: str) -> None:
    assert redact(text, TODAY) == expected
    assert personal_numbers(text, TODAY) and leaks(text, TODAY)
    assert not leaks(expected, TODAY)


@pytest.mark.parametrize("text", [
    # the names cameras, phones and WeChat give files: digit runs, no personal numbers
    "IMG_20231105_143022.jpg", "VID20231105143022.mp4", "Screenshot_2023-11-05-14-30-22.png",
    "微信图片_20231105143022.jpg", "mmexport1699165822123.jpg", "微信视频_20231105143022123.mp4",
    "PXL_20231105_143022123.MP.jpg", "VID_20231105_143022.mp4", "wx_camera_1699165822123.jpg",
    # sizes, counts, timestamps in messages
    "照片“a.jpg”大小为 2147483648 字节，超过上限 2097152 字节。", "本表中共 12345678901 处",
    "1699165822123", "20231105143022", "2026-11-20T09:30:00+08:00",
    # numbers that are not an ID: wrong check character, region, birth date; lengths
    ID[:17] + "1", "000000" + ID[6:], "610116" + "20310101" + "3382", "71" + ID[2:],
    ID[:17], "12345678901", "138123456789", "0" + MOBILE, MOBILE + "0", "1" + LEGACY,
    "990101800101401",  # 15 digits, no province 99
    "010-12345678", "0571-88886666-123",  # landlines: the institutions' office numbers
    # identifiers and digests of ours
    "R20261127-7K3F9QAB", "dd18405309674dd2974b",  # a receipt id, a version id
    "e3b0c44298fc1c14" + "13812345678" + "9afbf4c8996fb92427ae41e4649b934ca4" + ID[:5],  # SHA-256
    f"sha256:{'ab' * 7}{ID}{'cd' * 15}",  # a digest with an ID-shaped run
])
def test_what_is_no_personal_number_is_shown_as_written(text: str) -> None:
    assert redact(text, TODAY) == text
    assert personal_numbers(text, TODAY) == [] and leaks(text, TODAY) == []


def test_a_mobile_or_legacy_number_inside_a_longer_digit_run_is_no_number_of_its_own() -> None:
    # 13 digits: a millisecond timestamp holds mobile-shaped windows (16991658221, ...)
    assert redact("mmexport1699165822123.jpg") == "mmexport1699165822123.jpg"
    assert redact("x" + MOBILE + "9") == "x" + MOBILE + "9"
    assert redact("1" + LEGACY) == "1" + LEGACY
    assert redact("1" + ID) == "1610116********3382"  # an ID's checks make a chance find rare


def test_what_masking_cuts_off_is_read_again() -> None:
    # the ID inside the run is masked; what then stands alone (130 0130 0000) is a mobile
    text = "110101195001011300130-0000-0000"
    assert redact(text) == "110101********130****-0000-0000" == redact(redact(text))


def test_masking_is_idempotent_and_keeps_every_other_character() -> None:
    text = f"张三{ID} 电话 +86 {MOBILE} 微信图片_20231105143022.jpg {LEGACY}"
    once = redact(text)
    assert redact(once) == once
    assert len(once) == len(text)
    assert [i for i, (a, b) in enumerate(zip(text, once)) if a != b] == \
        [i for i, c in enumerate(once) if c == "*"]


_texts = st.lists(st.one_of(id_like_strings(), st.sampled_from(
    ["张三", "id", "No.", " ", "/", "-", "_", "abc", "20261120", ".jpg", "微信图片_", "+86 ", "x", "1"]),
    st.text(max_size=6)), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_masking_changes_only_digits_of_personal_numbers_and_leaves_none(text: str) -> None:
    once = redact(text, TODAY)
    assert len(once) == len(text) and redact(once, TODAY) == once
    for a, b in zip(text, once):
        assert a == b or (b == "*" and a in "0123456789０１２３４５６７８９"), (text, once)
    assert leaks(once, TODAY) == [], (text, once)
    # the code's recogniser and the tests' detector read the definition alike
    assert bool(personal_numbers(text, TODAY)) == bool(leaks(text, TODAY)), text


# -- personal fields, identifiers ----------------------------------------------------------------

def test_personal_fields_are_masked_whatever_they_hold() -> None:
    assert mask_field("id_number", ID[:17] + "1") == "610116********3381"  # a wrong check character
    assert mask_field("id_number", " 61010219500122 ") == "610102****0122"
    assert mask_field("phone", "12345") == "*****"
    assert mask_field("contact_phone", 13812345678) == "138****5678"
    assert mask_field("name", ID) == ID and mask_field("id_number", True) is True


def test_records_keep_identifiers_and_digests() -> None:
    sha = "0" * 20 + "13812345678" + "a" * 33
    # a version or a holder may read like a personal number: their keys say they are not
    record = {"receipt_id": "R20261127-7K3F9QAB", "version": ID + "01", "holder": f"host-7-a{MOBILE}",
              "sha256": sha, "expected_sha256": sha, "duplicate_of": "R20261127-00000000", "path": f"a/{ID}.jpg",
              "nested": [{"id_number": "123"}, MOBILE], "size": 13812345678}
    out = redact_record(record)
    assert out == {**record, "path": "a/610116********3382.jpg", "nested": [{"id_number": "***"}, "138****5678"]}


# -- problems ------------------------------------------------------------------------------

ROOT = "新城区星火职业培训学校20261120"


def test_problems_keep_file_names_sizes_and_counts_as_written() -> None:
    for name in ("微信图片_20231105143022.jpg", "mmexport1699165822123.jpg", "IMG_20231105_143022.jpg"):
        p = problem("NAME_PATTERN", f"{ROOT}/育婴师初级/理论/{name}", name=name, reason="应为“育婴师初级理论”加序号",
                    example="育婴师初级理论1.jpg")
        assert p.path.endswith(name) and f"文件名“{name}”" in p.message and p.params["name"] == name
    p = problem("IMG_SIZE", f"{ROOT}/a.jpg", name="a.jpg", size="13812345678 字节", limit="2097152 字节")
    assert "13812345678" not in p.message  # mobile-shaped: a size cannot be told apart
    p = problem("MEDIA_COUNT", f"{ROOT}/育婴师初级/理论", folder="育婴师初级/理论", kind="照片",
                expected=12345678901, found=20231105143022, unit="张")
    assert "12345678901" in p.message and "20231105143022" in p.message


def test_problems_mask_path_pointer_message_hint_and_parameters() -> None:
    p = problem("FORM_ID_NUMBER", f"{ROOT}/{ID}/培训教师.json", pointer=f"/{MOBILE}", form="培训教师.json",
                location=f"第 1 名培训教师（张三{ID}）", id_number=ID[:17] + "0", reason="校验位错误")
    assert p.path == f"{ROOT}/610116********3382/培训教师.json" and p.pointer == "/138****5678"
    assert p.params["id_number"] == "610116********3380"  # by its meaning: an invalid number too
    assert p.params["location"] == "第 1 名培训教师（张三610116********3382）"
    assert not leaks_in([p.message, p.hint, dict(p.params)]) and ID[:7] not in p.message


def test_a_number_a_check_glues_to_other_digits_is_masked_where_its_part_shows_it(tmp_path: Path) -> None:
    """HIER_ROOT_NAME suggests "the plan's institution + the report date": a mobile typed as
    the institution becomes a 19-digit run, no number of its own, but the parameter it
    came from names it, so it is masked in the composed text too."""
    b = PackageBuilder(photo=fake_photo, video=fake_video, screenshot=lambda name: b"png")
    b.plan["institution"]["name"] = f"+86 {MOBILE}"
    zip_path = b.to_zip(tmp_path / f"{b.root}.zip")
    findings = assess(zip_path, zip_path.name, load_policy(), tmp_path / "work", TODAY)
    [root_name] = [p for p in findings.problems if p.code == "HIER_ROOT_NAME"]
    assert "例如“+86 138****567820261120”" in root_name.hint
    assert root_name.params["example"] == "+86 138****567820261120"
    for p in findings.problems:
        assert MOBILE not in json.dumps([p.message, p.hint, p.path, dict(p.params)], ensure_ascii=False), p


# -- the decision document ------------------------------------------------------------------------

SHA_WITH_RUNS = "1" * 11 + ID + "ab" * 17 + "1"  # 64 hex characters with long digit runs


def _findings(**kwargs) -> Findings:
    base = dict(package_name=f"张三{ID}.zip", package_size=10, package_sha256=SHA_WITH_RUNS,
                policy_sha256=SHA_WITH_RUNS, institution=f"星火学校{MOBILE}", report_date=date(2026, 11, 20),
                trainings=[{"occupation": MOBILE, "level": "初级", "folder": f"{MOBILE}初级", "trainees": 20}],
                manifest=[{"path": f"{ROOT}/育婴师初级/理论/{ID}.jpg", "size": 12345678901, "sha256": SHA_WITH_RUNS,
                           "kind": "photo"},
                          {"path": f"{ROOT}/育婴师初级/理论/微信图片_20231105143022.jpg", "size": 1,
                           "sha256": SHA_WITH_RUNS}],
                ignored=[f"__MACOSX/._{ID}.jpg", "Thumbs.db"])
    return Findings(**{**base, **kwargs})


def test_a_number_found_in_one_place_of_a_document_is_masked_in_every_other() -> None:
    # a folder named occupation + level, the occupation a mobile, the level digits: the
    # problem alone sees one 15-digit run (no number); the document knows the occupation
    folder = f"{MOBILE}2026"
    missing = problem("HIER_LEVEL2_MISSING", f"{ROOT}/{folder}", name=folder)
    assert folder in missing.message
    findings = _findings(trainings=[{"occupation": MOBILE, "level": "2026", "folder": folder, "trainees": 1}],
                         problems=[missing])
    now = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)
    doc = build_document(findings, receipt_id="R20261127-0K3F9QAB", source=Source("check", "x.zip"),
                         received_at=now, decided_at=now)
    assert doc["errors"][0]["path"] == f"{ROOT}/138****56782026" and MOBILE not in json.dumps(doc)


def test_the_document_is_built_masked_and_keeps_identifiers() -> None:
    now = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)
    doc = build_document(_findings(), receipt_id="R20261127-0K3F9QAB", received_at=now, decided_at=now,
                         source=Source("fs", f"inbox/13900001111/张三{ID}.zip", "13900001111"),
                         duplicate_of="R20261120-0K3F9QAB")
    assert schema_errors(doc) == []
    assert doc["package"] == {"name": "张三610116********3382.zip", "size": 10, "sha256": SHA_WITH_RUNS}
    assert doc["source"] == {"kind": "fs", "location": "inbox/139****1111/张三610116********3382.zip",
                             "account": "13900001111"}  # the account: the registry's key, kept
    assert doc["institution"] == "星火学校138****5678"
    assert doc["trainings"] == [{"occupation": "138****5678", "level": "初级", "folder": "138****5678初级",
                                 "trainees": 20}]
    assert [m["path"] for m in doc["manifest"]] == [f"{ROOT}/育婴师初级/理论/610116********3382.jpg",
                                                    f"{ROOT}/育婴师初级/理论/微信图片_20231105143022.jpg"]
    assert doc["manifest"][0]["size"] == 12345678901 and doc["manifest"][0]["sha256"] == SHA_WITH_RUNS
    assert doc["ignored"] == ["__MACOSX/._610116********3382.jpg", "Thumbs.db"]
    assert doc["policy_sha256"] == SHA_WITH_RUNS and doc["duplicate_of"] == "R20261120-0K3F9QAB"
    assert doc["receipt_id"] == "R20261127-0K3F9QAB"
    assert masked_document(doc) == doc  # masking a masked document changes nothing
    shown = {k: doc[k] for k in ("package", "institution", "trainings", "manifest", "ignored")}
    assert leaks_in(shown) == [] and leaks(doc["source"]["location"]) == []


def test_a_package_named_after_a_person_is_masked_everywhere_in_its_document(tmp_path: Path) -> None:
    b = PackageBuilder(photo=fake_photo, video=fake_video, screenshot=lambda name: b"png")
    b.add(f"{b.folder()}/理论/{ID}.jpg", fake_photo("x"))  # a member named after a person
    b.add(f"{b.folder()}/实操/微信图片_20231105143022.jpg", fake_photo("y"))  # no personal number
    b.add_outside(f"__MACOSX/{b.root}/._{MOBILE}.jpg", b"junk")  # an ignored junk name
    b.forms[f"{b.folder()}/签到表.json"]["sessions"][0]["trainees"][0]["name"] = f"张三{MOBILE}"
    zip_path = b.to_zip(tmp_path / f"张三{ID}.zip")
    findings = assess(zip_path, zip_path.name, load_policy(), tmp_path / "work", TODAY)
    now = datetime(2026, 12, 6, 9, 30, tzinfo=timezone.utc)
    doc = build_document(findings, receipt_id="R20261206-0K3F9QAB", source=Source("check", str(zip_path)),
                         received_at=now, decided_at=now)
    assert schema_errors(doc) == []
    text = json.dumps(doc, ensure_ascii=False)
    assert leaks(text) == [] and ID[6:14] not in text and MOBILE not in text
    assert doc["package"]["name"] == "张三610116********3382.zip"
    paths = [m["path"] for m in doc["manifest"]]
    assert f"{b.root}/{b.folder()}/理论/610116********3382.jpg" in paths
    assert f"{b.root}/{b.folder()}/实操/微信图片_20231105143022.jpg" in paths  # found by its name
    assert doc["ignored"] == [f"__MACOSX/{b.root}/._138****5678.jpg"]
    by_path = {e["path"] for e in doc["errors"]}
    assert f"{b.root}/{b.folder()}/理论/610116********3382.jpg" in by_path
    assert f"{b.root}/{b.folder()}/实操/微信图片_20231105143022.jpg" in by_path
    assert PurePosixPath(zip_path).name == f"张三{ID}.zip"  # the ZIP itself keeps its name


# -- logs --------------------------------------------------------------------------------------

def test_log_lines_mask_personal_numbers_and_nothing_else() -> None:
    buf = io.StringIO()
    root_handlers = logging.getLogger().handlers[:]
    configure_logging("json", "info", stream=buf)
    sha = "0" * 20 + ID + "f" * 26
    try:
        structlog.get_logger().info(f"upload 张三{ID}.zip", source=f"inbox/xinghuo/张三{ID}.zip",
                                    path=Path(f"/data/inbox/{MOBILE}.zip"), nested={"phone": "12345", "n": [MOBILE]},
                                    name="微信图片_20231105143022.jpg", sha256=sha, expected_sha256=sha,
                                    receipt_id="R20261127-7K3F9QAB", version="13812345678abcdef012",
                                    size=20231105143022)
        logging.getLogger("dramatiq").warning("stdlib line about %s", f"张三{ID}")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = root_handlers
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["event"] == "upload 张三610116********3382.zip"
    assert first["source"] == "inbox/xinghuo/张三610116********3382.zip"
    assert first["path"] == "PosixPath('/data/inbox/138****5678.zip')"
    assert first["nested"] == {"phone": "*****", "n": ["138****5678"]}
    assert first["name"] == "微信图片_20231105143022.jpg" and first["size"] == 20231105143022
    assert (first["sha256"], first["expected_sha256"]) == (sha, sha)
    assert (first["receipt_id"], first["version"]) == ("R20261127-7K3F9QAB", "13812345678abcdef012")
    assert second["event"] == "stdlib line about 张三610116********3382"
