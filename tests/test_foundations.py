"""Settings, catalogue, privacy masking, receipt ids and the document schema."""

from __future__ import annotations

import dataclasses
import re
import string
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.check.catalogue import CATALOGUE, Severity, problem
from pipeline.app.settings import SettingsError, load_settings
from pipeline.check.documents import Findings, Source, build_document, new_receipt_id, schema_errors
from pipeline.check.policy import (MediaRules, PolicyError, ZipLimits, _parse, default_policy_bytes, load_policy,
                                  parse_policy)
from pipeline.check.privacy import mask_id, mask_phone, redact

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "package-format.md"
CJK = re.compile(r"[\u4e00-\u9fff]")


def spec_codes() -> set[str]:
    if not SPEC.exists():
        pytest.fail(f"spec not found at {SPEC}")
    text = SPEC.read_text(encoding="utf-8")
    section7 = text[text.index("## 7. Error codes"):text.index("## 8.")]
    codes = set(re.findall(r"`((?:PKG|HIER|NAME|MEDIA|IMG|VID|FORM|W)_[A-Z0-9_]+|INTERNAL)`", section7))
    # v1.1 sections the pipeline implements add the codes they list ("Codes of this section")
    for heading in IMPLEMENTED_V11_SECTIONS:
        section = text[text.index(heading):]
        line = next(line for line in section.splitlines() if line.startswith("Codes of this section"))
        codes |= set(re.findall(r"`([A-Z_]+)`", line))
    return codes


#: spec v1.1 sections built so far
IMPLEMENTED_V11_SECTIONS = ("## 9. Forms in a workbook", "## 10. Integrity across packages")


def test_catalogue_is_exactly_the_spec_codes():
    assert set(CATALOGUE) == spec_codes()


def test_every_code_has_chinese_message_and_hint():
    # the text is the point: every code speaks Chinese to the clerks (wording: test_catalogue.py)
    for code, kind in CATALOGUE.items():
        p = problem(code, "x.jpg")
        assert CJK.search(p.message), code
        assert p.hint and CJK.search(p.hint), code
        assert (kind.severity is Severity.WARNING) == code.startswith("W_"), code


def test_problem_fills_template_and_tolerates_missing_values():
    p = problem("IMG_RESOLUTION", "a/b.jpg", name="b.jpg", width=1024, height=576, min_long=1280, min_short=720)
    assert (p.code, p.path, p.pointer) == ("IMG_RESOLUTION", "a/b.jpg", None)
    assert dict(p.params) == {"name": "b.jpg", "width": 1024, "height": 576, "min_long": 1280, "min_short": 720}
    template = CATALOGUE["IMG_RESOLUTION"].template  # the wording itself: test_catalogue.py
    assert p.message == template.format(**p.params)
    # a value a check forgot renders as nothing: the message is still there to read
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    assert problem("IMG_RESOLUTION").message == template.format(**dict.fromkeys(fields, "")) != template
    assert p.to_json()["severity"] == "error" and "pointer" not in p.to_json()


def test_settings_from_env_file_and_errors(tmp_path: Path):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text('worker_threads = 7\nquiet_period = 0.5\ndata_dir = "/tmp/x"\n')
    s = load_settings(env={"PIPELINE_CONFIG": str(cfg), "PIPELINE_QUIET_PERIOD": "3", "REDIS_URL": ""})
    assert (s.worker_threads, s.quiet_period, s.redis_url, s.data_dir) == (7, 3.0, None, Path("/tmp/x"))
    assert load_settings(env={}).data_dir == Path("./var").resolve()
    with pytest.raises(SettingsError, match="PIPELINE_WORKER_THREADS"):
        load_settings(env={"PIPELINE_WORKER_THREADS": "many"})
    cfg.write_text("no_such_setting = 1\n")
    with pytest.raises(SettingsError, match="no_such_setting"):
        load_settings(env={"PIPELINE_CONFIG": str(cfg)})
    with pytest.raises(Exception):
        s.worker_threads = 1  # frozen


def test_policy_default_and_override(tmp_path: Path):
    default = load_policy()
    assert default.zip.max_entries == 2000 and len(default.sha256) == 64
    custom = tmp_path / "p.toml"
    custom.write_text("version = 1\n[zip]\nmax_entries = 10\n")
    p = load_policy(custom)
    assert p.zip.max_entries == 10 and p.sha256 != default.sha256
    with pytest.raises(PolicyError, match="unknown"):
        parse_policy(b"[zip]\nmax_entrys = 1\n", "x")
    with pytest.raises(PolicyError):
        parse_policy(b"[zip]\nmax_entries = 'ten'\n", "x")


def test_every_policy_setting_has_its_value_in_the_shipped_file():
    """The dataclasses declare no values: the shipped TOML must set every field, so a new
    field cannot be added without its default."""
    shipped = tomllib.loads(default_policy_bytes().decode("utf-8"))
    for section, cls in (("zip", ZipLimits), ("media", MediaRules)):
        assert set(shipped[section]) == {f.name for f in dataclasses.fields(cls)}, section
        assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   for f in dataclasses.fields(cls)), f"{cls.__name__} has a default of its own"
    with pytest.raises(PolicyError, match=r"\[zip\] lacks max_total_bytes"):
        _parse(b"[zip]\nmax_entries = 1\n", "shipped", None)  # a shipped file without the rest


def test_an_operator_policy_is_laid_over_the_shipped_one():
    default = load_policy()
    p = parse_policy(b"[zip]\nmax_ratio = 7\n[media]\nphoto_count = 4\nrefuse_mov = false\n", "x")
    assert p.zip == dataclasses.replace(default.zip, max_ratio=7.0) and type(p.zip.max_ratio) is float
    assert p.media == dataclasses.replace(default.media, photo_count=4, refuse_mov=False)
    assert parse_policy(b"version = 1\n", "x").media == default.media  # a section left out: the shipped one
    assert load_policy() is default  # read once
    for text, message in ((b"[media]\nrefuse_mov = 1\n", "must be true or false"),
                          (b"[media]\npreferred_video_codec = 264\n", "must be a string"),
                          (b"[media]\nphoto_count = true\n", "must be a number"),
                          (b"[zip]\nnested_archive_suffixes = \".zip\"\n", "must be a list of strings"),
                          (b"[media.photo]\nmax = 1\n", "unknown policy setting"),
                          (b"[video]\nmax = 1\n", "unknown section")):
        with pytest.raises(PolicyError, match=message):
            parse_policy(text, "x")


def test_masking():
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_phone("13812345678") == "138****5678"
    text = redact("张三 身份证 11010519491231002X 电话 +86 138-1234-5678 座机 010-12345678")
    # exactly the personal numbers are masked, everything else is as written
    assert text == "张三 身份证 110105********002X 电话 +86 138-****-5678 座机 010-12345678"
    # a digit run that is no personal number is shown in full (more: tests/test_privacy.py)
    assert redact("微信图片_20231105143022.jpg 共 12345678901 字节") == "微信图片_20231105143022.jpg 共 12345678901 字节"


def test_receipt_ids_sort_by_time_and_read_well():
    t0 = datetime(2026, 11, 27, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    ids = [new_receipt_id(t0 + timedelta(seconds=s)) for s in (0, 1, 60, 3600, 53999)]
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"R20261127-[0-9A-HJKMNP-TV-Z]{8}", i) for i in ids)
    assert len({new_receipt_id(t0) for _ in range(200)}) > 190


def _findings(problems=()):
    return Findings(package_name="a.zip", package_size=10, package_sha256="0" * 64,
                    policy_sha256="1" * 64, report_date=date(2026, 11, 20), problems=list(problems))


@pytest.mark.parametrize("problems,duplicate_of,status", [
    ((), None, "accepted"),
    ((problem("HIER_ROOT", "", found="x"),), None, "rejected"),
    ((problem("W_PLEDGE_SCAN"),), None, "accepted"),
    ((), "R20261127-00000000", "duplicate"),
])
def test_documents_follow_the_schema(problems, duplicate_of, status):
    now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    doc = build_document(_findings(problems), receipt_id=new_receipt_id(now), source=Source("fs", "inbox/a.zip"),
                         received_at=now, decided_at=now, duplicate_of=duplicate_of)
    assert doc["status"] == status
    assert schema_errors(doc) == []


def test_schema_refuses_inconsistent_documents():
    now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    doc = build_document(_findings(), receipt_id=new_receipt_id(now), source=Source("fs", "x"),
                         received_at=now, decided_at=now)
    doc["status"] = "rejected"  # rejected without errors
    assert schema_errors(doc)
    doc["status"] = "accepted"
    doc["package"]["sha256"] = "nothex"
    assert schema_errors(doc)


def test_policy_severity_overrides(tmp_path: Path):
    from pipeline.check.policy import apply_severity
    p = parse_policy(b'[severity]\nW_PLEDGE_SCAN = "off"\nW_VIDEO_CODEC = "error"\n', "x")
    out = apply_severity(p, [problem("W_PLEDGE_SCAN"), problem("W_VIDEO_CODEC", name="a.mp4", codec="HEVC"),
                             problem("IMG_SIZE")])
    assert [(x.code, x.severity.value) for x in out] == [("W_VIDEO_CODEC", "error"), ("IMG_SIZE", "error")]
    with pytest.raises(PolicyError, match="cannot be changed"):
        parse_policy(b'[severity]\nPKG_LIMIT = "warning"\n', "x")
    with pytest.raises(PolicyError, match="not a known"):
        parse_policy(b'[severity]\nNOPE = "warning"\n', "x")
    with pytest.raises(PolicyError):
        parse_policy(b'[severity]\nIMG_SIZE = "fatal"\n', "x")
    assert load_policy().media.photo_max_bytes == 2 * 1024 * 1024
