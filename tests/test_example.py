"""The example package (pipeline/kit/example.py, `pipeline example`): complete, correct by every
rule of the contract, deterministic, and what the test suite's PackageBuilder builds on."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from PIL import Image, ImageOps

from pipeline.check.contract import PHOTO_EXTS, SCREENSHOT_STEM, SECTIONS, VIDEO_EXTS
from pipeline.kit import example
from pipeline.check.assess import assess
from pipeline.check.documents import Source, build_document
from pipeline.check.identity import gender_matches, validate_id_number
from pipeline.check.policy import load_policy
from tests.support.packages import PackageBuilder

REPORT = date(2026, 11, 20)
TODAY = date(2026, 11, 27)
INST = example.DEFAULT_INSTITUTION
ROOT = f"{INST}20261120"
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "forms"

#: (trainings, theory_mode, practice_mode): every shape of package the modes allow
CASES = [
    ([("育婴师", "初级", 20)], ["offline"], ["offline"]),
    ([("育婴师", "初级", 20)], ["online"], ["offline"]),
    ([("育婴师", "初级", 20)], ["offline"], ["online"]),
    ([("育婴师", "初级", 20)], ["online"], ["online"]),
    ([("育婴师", "初级", 20)], ["offline", "online"], ["offline"]),
    ([("育婴师", "初级", 20)], ["online", "offline"], ["online", "offline"]),
    ([("育婴师", "初级", 20), ("车工", "中级", 12)], ["offline"], ["offline"]),
    ([("育婴师", "初级", 20), ("车工", "中级", 12)], ["online"], ["offline"]),
    ([("电工", "技师", 3), ("茶艺师", "高级技师", 1), ("养老护理员", "高级", 45)], ["offline", "online"],
     ["offline"]),
]
CASE_IDS = ["offline", "theory-online", "practice-online", "all-online", "theory-both", "both-both",
            "two-trainings", "two-trainings-online", "three-trainings-unknown-occupation"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          timeout=120)


def full_check(zip_path: Path, today: date = TODAY) -> dict:
    """The error-list document of every check (hierarchy, media, forms), in process."""
    findings = assess(zip_path, zip_path.name, load_policy(), zip_path.parent / "work", today)
    now = datetime.now(timezone.utc)
    return build_document(findings, receipt_id="R20261127-00000000", source=Source("check", zip_path.name),
                          received_at=now, decided_at=now)


def problems(doc: dict) -> list[tuple[str, str, str | None]]:
    return [(p["code"], p["path"], p.get("pointer")) for p in doc["errors"] + doc["warnings"]]


def zip_of(tmp_path: Path, trainings, theory, practice, name: str = f"{ROOT}.zip") -> Path:
    files = example.package_files(INST, REPORT, trainings, theory, practice)
    path = tmp_path / name
    path.write_bytes(example.zip_package(ROOT, files))
    return path


# ---------------------------------------------------------------------------------------
# the command


def test_cli_writes_folder_zip_and_readme_that_pass_the_full_check(tmp_path: Path):
    out = tmp_path / "示例"
    result = run_cli("example", str(out), "--date", "2026-11-20")
    assert result.returncode == 0, result.stderr
    folder, zip_path, readme = out / ROOT, out / f"{ROOT}.zip", out / "README.txt"
    assert folder.is_dir() and zip_path.is_file() and readme.is_file()
    assert str(zip_path) in result.stdout and f"pipeline check {zip_path}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted([ROOT, f"{ROOT}.zip", "README.txt"])

    on_disk = {p.relative_to(out).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with zipfile.ZipFile(zip_path) as zf:
        in_zip = {i.filename: zf.read(i) for i in zf.infolist()}
    assert in_zip == on_disk  # the ZIP is exactly the folder
    expected = {"培训方案.json", "诚信承诺书.json", "诚信承诺书.jpg", "培训教师.json",
                "育婴师初级/理论培训大纲.json", "育婴师初级/实操培训大纲.json", "育婴师初级/签到表.json",
                "育婴师初级/实操设备设施.json"}
    expected |= {f"育婴师初级/{s}/育婴师初级{s}{n}.jpg" for s in ("理论", "实操") for n in range(1, 6)}
    expected |= {f"育婴师初级/{s}/育婴师初级{s}{n}.mp4" for s in ("理论", "实操") for n in range(1, 4)}
    assert {p.split("/", 1)[1] for p in on_disk} == expected

    text = readme.read_bytes().decode("utf-8-sig")
    for needed in (ROOT, "pipeline check", "发送到", "压缩(zipped)文件夹", "育婴师初级理论1.jpg", "1280×720",
                   "培训教师.json", "签到表.json"):
        assert needed in text, needed

    check = run_cli("check", "--json", "--today", "2026-11-27", str(zip_path))
    doc = json.loads(check.stdout)
    assert (check.returncode, doc["status"], problems(doc)) == (0, "accepted", [])
    assert doc["institution"] == INST and doc["report_date"] == "2026-11-20"
    videos = [m for m in doc["manifest"] if m.get("kind") == "video"]
    photos = [m for m in doc["manifest"] if m.get("kind") == "photo"]
    assert len(videos) == 6 and len(photos) == 10
    assert all(v["format"] == "MPEG-4" and v["codec"] == "AVC" and 120 <= v["duration"] <= 180
               and (v["width"], v["height"]) == (1280, 720) for v in videos)
    assert all(p["format"] == "JPEG" and p["width"] >= 1280 and p["height"] >= 720 for p in photos)


def test_cli_online_and_two_trainings_default_date_pass_the_check(tmp_path: Path):
    result = run_cli("example", str(tmp_path), "--online", "--institution", "东城区阳光职业技能培训中心",
                     "--training", "育婴师:初级:20", "--training", "车工：中级：12")
    assert result.returncode == 0, result.stderr
    [zip_path] = tmp_path.glob("*.zip")
    assert zip_path.stem.startswith("东城区阳光职业技能培训中心")  # + today's date
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    root = zip_path.stem
    for folder in ("育婴师初级", "车工中级"):
        assert f"{root}/{folder}/线上培训记录.json" in names and f"{root}/{folder}/线上培训截图1.png" in names
        assert f"{root}/{folder}/实操培训大纲.json" in names
        assert f"{root}/{folder}/理论培训大纲.json" not in names  # theory is online
    check = run_cli("check", "--json", str(zip_path))  # the day of checking: today, as the example's
    doc = json.loads(check.stdout)
    assert (check.returncode, doc["status"], problems(doc)) == (0, "accepted", [])
    assert [t["folder"] for t in doc["trainings"]] == ["育婴师初级", "车工中级"]


@pytest.mark.parametrize("args, message", [
    (["--training", "育婴师-初级-20"], "职业:等级:人数"),
    (["--training", "育婴师:五级:20"], "初级"),
    (["--training", "育婴师:初级:0"], ">= 1"),
    (["--training", "育婴师:初级:二十"], ">= 1"),
    (["--training", "育婴师:初级:5", "--training", "育婴师:初级:8"], "twice"),
    (["--date", "2099-01-01"], "after today"),
    (["--date", "2026/11/20"], "YYYY-MM-DD"),
    (["--institution", "星火/学校"], "folder name"),
    (["--institution", "  "], "folder name"),
    (["--online", "--theory", "offline"], "not allowed"),
    (["--practice", "sometimes"], "invalid choice"),
])
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path: Path, args, message):
    result = run_cli("example", str(tmp_path / "out"), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_never_overwrites_an_existing_package(tmp_path: Path):
    assert run_cli("example", str(tmp_path), "--date", "2026-11-20").returncode == 0
    plan = tmp_path / ROOT / "培训方案.json"
    plan.write_text("本机构已经改过的内容", encoding="utf-8")
    again = run_cli("example", str(tmp_path), "--date", "2026-11-20")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert plan.read_text(encoding="utf-8") == "本机构已经改过的内容"


# ---------------------------------------------------------------------------------------
# the data


@pytest.mark.parametrize("trainings, theory, practice", CASES, ids=CASE_IDS)
def test_every_shape_of_package_passes_every_check(tmp_path: Path, trainings, theory, practice):
    doc = full_check(zip_of(tmp_path, trainings, theory, practice))
    assert doc["status"] == "accepted" and problems(doc) == []
    assert [(t["occupation"], t["level"], t["trainees"]) for t in doc["trainings"]] == trainings


@pytest.mark.parametrize("trainings, theory, practice", CASES, ids=CASE_IDS)
def test_forms_validate_against_their_schemas(trainings, theory, practice):
    forms = example.sample_forms(INST, REPORT, trainings, theory, practice)
    for path, form in forms.items():
        schema_file = SCHEMAS / f"{form['form']}.schema.json"
        assert schema_file.is_file(), f"schema of {path} missing: {schema_file} (schemas/forms/ not written yet?)"
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(form)]
        assert errors == [], (path, errors)
        # what is written is what was validated
        assert json.loads(example.form_bytes(form).decode("utf-8")) == form


def test_which_forms_exist_follows_the_modes():
    def names(theory, practice):
        forms = example.sample_forms(INST, REPORT, [("育婴师", "初级", 2)], theory, practice)
        return sorted(p.split("/", 1)[1] for p in forms if "/" in p)

    assert names(["offline"], ["offline"]) == ["实操培训大纲.json", "实操设备设施.json", "理论培训大纲.json", "签到表.json"]
    assert names(["online"], ["online"]) == ["线上培训记录.json"]
    assert names(["online"], ["offline"]) == ["实操培训大纲.json", "实操设备设施.json", "签到表.json", "线上培训记录.json"]
    assert names(["offline", "online"], ["online"]) == ["理论培训大纲.json", "签到表.json", "线上培训记录.json"]
    plan = example.sample_forms(INST, REPORT, [("育婴师", "初级", 2)], ["offline"], ["offline"])["培训方案.json"]
    assert "online_platform" not in plan
    plan = example.sample_forms(INST, REPORT, [("育婴师", "初级", 2)], ["online"], ["offline"],
                                online_platform="职培在线")["培训方案.json"]
    assert plan["online_platform"] == "职培在线"


def test_the_rules_hold_in_the_data_itself():
    """The contract's cross-form rules, checked here directly on the sample data (so a
    fault in it is found even where the form checks would miss it)."""
    trainings = [("育婴师", "初级", 20), ("车工", "中级", 12)]
    forms = example.sample_forms(INST, REPORT, trainings, ["offline", "online"], ["offline"])
    plan, pledge, trainers = forms["培训方案.json"], forms["诚信承诺书.json"], forms["培训教师.json"]["trainers"]
    start, end = date.fromisoformat(plan["start_date"]), date.fromisoformat(plan["end_date"])
    assert start <= end <= REPORT and date.fromisoformat(pledge["signed_date"]) <= REPORT
    assert pledge["institution_name"] == plan["institution"]["name"] == INST and pledge["accepted"] is True

    numbers = [t["id_number"] for t in trainers]
    assert all(validate_id_number(n, TODAY).ok for n in numbers) and len(set(numbers)) == len(numbers)
    assert all(gender_matches(t["id_number"], t["gender"]) for t in trainers)
    by_number = {t["id_number"]: t["name"] for t in trainers}
    every_number = list(numbers)
    for occupation, level, count in trainings:
        folder = occupation + level
        outlines = [forms[f"{folder}/理论培训大纲.json"], forms[f"{folder}/实操培训大纲.json"]]
        assert sum(o["total_hours"] for o in outlines) == plan["total_hours"]  # no W_HOURS_PLAN
        teachers = set()
        for o in outlines:
            assert (o["occupation"], o["level"]) == (occupation, level)
            assert [s["seq"] for s in o["sessions"]] == list(range(1, len(o["sessions"]) + 1))
            assert o["total_hours"] == sum(s["hours"] for s in o["sessions"])
            assert all(s["hours"] > 0 and float(s["hours"] * 2).is_integer() for s in o["sessions"])
            assert all(start <= date.fromisoformat(s["date"]) <= end for s in o["sessions"])
            assert all(by_number[s["teacher"]["id_number"]] == s["teacher"]["name"] for s in o["sessions"])
            teachers |= {s["teacher"]["id_number"] for s in o["sessions"]}
        assert len(teachers) == 2  # two trainers per training
        sign_in = forms[f"{folder}/签到表.json"]
        signed_days = {s["date"] for s in sign_in["sessions"]}
        assert {s["date"] for o in outlines for s in o["sessions"]} <= signed_days
        for session in sign_in["sessions"]:
            ids = [t["id_number"] for t in session["trainees"]]
            assert len(ids) == len(set(ids)) == count and all(t["signed"] is True for t in session["trainees"])
        online = forms[f"{folder}/线上培训记录.json"]
        assert online["platform"] == plan["online_platform"] and len(online["outline"]) >= 1
        assert {t["id_number"] for t in online["trainees"]} == set(ids) and len(online["trainees"]) == count
        assert all(t["hours"] > 0 and t["completion_rate"] == 100 and t["signed_in"] is True
                   for t in online["trainees"])
        every_number += ids
    assert all(validate_id_number(n, TODAY).ok for n in every_number)
    assert len(set(every_number)) == len(every_number)  # nobody twice in the package
    from pipeline.check.identity import validate_phone
    phones = [plan["institution"]["contact_phone"], pledge["contact_phone"], *(t["phone"] for t in trainers)]
    assert all(validate_phone(p).ok for p in phones)


def test_sample_forms_are_deterministic_and_tag_changes_only_the_remarks():
    args = (INST, REPORT, [("育婴师", "初级", 20), ("车工", "中级", 12)], ["online"], ["offline"])
    first = example.sample_forms(*args)
    assert example.sample_forms(*args) == first
    assert example.form_bytes(example.sample_forms(*args)["育婴师初级/签到表.json"]) == \
        example.form_bytes(first["育婴师初级/签到表.json"])
    tagged = example.sample_forms(*args, tag="7")
    assert tagged["培训方案.json"]["remarks"] == "7" and first["培训方案.json"]["remarks"] == ""
    untagged = copy.deepcopy(tagged)
    untagged["培训方案.json"]["remarks"] = ""
    assert untagged == first
    other = example.sample_forms("别的培训学校", *args[1:])
    assert other["培训教师.json"] != first["培训教师.json"]


def test_the_same_arguments_give_the_same_zip(tmp_path: Path):
    one = example.write_example(tmp_path / "a", report_date=REPORT)[1].read_bytes()
    two = example.write_example(tmp_path / "b", report_date=REPORT)[1].read_bytes()
    assert one == two
    later = example.write_example(tmp_path / "c", report_date=date(2026, 11, 21))[1].read_bytes()
    assert later != one


def test_zip_names_are_utf8_media_stored_forms_deflated(tmp_path: Path):
    _, zip_path = example.write_example(tmp_path, report_date=REPORT, theory_mode=["online"])
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
    assert infos and all(i.filename.startswith(ROOT + "/") for i in infos)
    assert all(i.flag_bits & 0x800 for i in infos)
    for i in infos:
        media = i.filename.endswith((".jpg", ".png", ".mp4"))
        assert i.compress_type == (zipfile.ZIP_STORED if media else zipfile.ZIP_DEFLATED), i.filename
    assert any(i.filename.endswith("线上培训截图2.png") for i in infos)


def test_sample_media_pass_the_media_rules():
    photo = Image.open(io.BytesIO(example.sample_photo(label="育婴师初级理论1")))
    assert photo.format == "JPEG" and photo.size == (1920, 1080)
    assert len(example.sample_photo(label="育婴师初级理论1")) <= 2 * 1024 * 1024
    assert example.sample_photo(label="a") != example.sample_photo(label="b")
    small = Image.open(io.BytesIO(example.sample_photo(1280, 720)))
    assert small.size == (1280, 720)
    shot = example.sample_screenshot()
    assert Image.open(io.BytesIO(shot)).format == "PNG" and len(shot) <= 5 * 1024 * 1024
    assert Image.open(io.BytesIO(example.sample_pledge_scan())).format == "JPEG"
    video = example.sample_video()
    assert video[4:12] == b"ftypisom" and b"avc1" in video[:64] and len(video) < 100_000
    shipped = Path(example.__file__).parent / "example_media" / "sample.mp4"
    assert shipped.read_bytes() == video


def test_the_example_media_meet_the_default_policy(tmp_path: Path):
    """Every photo, video and screenshot of the example, measured directly, is within the
    shipped policy's limits, and each section folder has exactly its counts."""
    from pymediainfo import MediaInfo

    rules = load_policy().media
    files = example.package_files(INST, REPORT, [("育婴师", "初级", 20), ("车工", "中级", 12)],
                                  theory_mode=["online"], practice_mode=["offline"])
    tolerance = rules.duration_tolerance_seconds
    photos: dict[str, int] = {}
    videos: dict[str, int] = {}
    screenshots: dict[str, int] = {}
    for path, data in files.items():
        parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
        suffix = Path(name).suffix
        if parent.endswith(tuple(f"/{section}" for section in SECTIONS)) and suffix in PHOTO_EXTS:
            photos[parent] = photos.get(parent, 0) + 1
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))  # as displayed
            long_side, short_side = max(image.size), min(image.size)
            assert long_side >= rules.min_long_side and short_side >= rules.min_short_side, path
            assert len(data) <= rules.photo_max_bytes, path
        elif parent.endswith(tuple(f"/{section}" for section in SECTIONS)) and suffix in VIDEO_EXTS:
            videos[parent] = videos.get(parent, 0) + 1
            video_file = tmp_path / f"{len(videos)}-{videos[parent]}{suffix}"
            video_file.write_bytes(data)
            [track] = [t for t in MediaInfo.parse(video_file).tracks if t.track_type == "Video"]
            seconds = float(track.duration) / 1000
            assert rules.video_min_seconds - tolerance <= seconds <= rules.video_max_seconds + tolerance, path
            long_side, short_side = max(track.width, track.height), min(track.width, track.height)
            assert long_side >= rules.min_long_side and short_side >= rules.min_short_side, path
            assert len(data) <= rules.video_max_bytes, path
        elif name.startswith(SCREENSHOT_STEM):
            screenshots[parent] = screenshots.get(parent, 0) + 1
            assert len(data) <= rules.screenshot_max_bytes, path
    section_folders = {f"{training}/{section}" for training in ("育婴师初级", "车工中级") for section in SECTIONS}
    assert photos == dict.fromkeys(section_folders, rules.photo_count)
    assert videos == dict.fromkeys(section_folders, rules.video_count)
    assert set(screenshots) == {"育婴师初级", "车工中级"}
    assert all(1 <= count <= rules.screenshot_max_count for count in screenshots.values())


def test_library_code_does_not_import_the_tests(tmp_path: Path):
    code = ("import sys, datetime\n"
            "from pipeline.kit import example\n"
            f"example.write_example({str(tmp_path)!r}, report_date=datetime.date(2026, 11, 20))\n"
            "bad = [m for m in sys.modules if m == 'tests' or m.startswith('tests.') or m == 'av']\n"
            "print(bad)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
    assert (tmp_path / f"{ROOT}.zip").is_file()


# ---------------------------------------------------------------------------------------
# PackageBuilder builds on the sample forms


def test_package_builder_forms_come_from_the_example(tmp_path: Path):
    b = PackageBuilder(trainings=[("育婴师", "初级", 20), ("车工", "中级", 12)], theory_mode=["offline", "online"])
    forms = example.sample_forms(INST, REPORT, b.trainings, b.theory_mode, b.practice_mode)
    built = b.build()
    assert json.loads(built[f"{ROOT}/培训教师.json"]) == forms["培训教师.json"]
    assert json.loads(built[f"{ROOT}/车工中级/签到表.json"]) == forms["车工中级/签到表.json"]
    assert b.plan is b.forms["培训方案.json"]
    doc = full_check(b.to_zip(tmp_path / f"{ROOT}.zip"))
    assert doc["status"] == "accepted" and problems(doc) == []

    b.plan["end_date"] = "2026-11-25"  # the plan is rendered lazily: edits show
    b.forms["车工中级/签到表.json"]["sessions"][0]["trainees"][0]["signed"] = False
    (tmp_path / "2").mkdir()
    doc = full_check(b.to_zip(tmp_path / "2" / f"{ROOT}.zip"))
    assert {"FORM_DATE", "FORM_TRAINEES"} <= {e["code"] for e in doc["errors"]}


def test_package_builder_tag_and_date_spellings(tmp_path: Path):
    assert PackageBuilder(tag="1").zip_bytes() != PackageBuilder(tag="2").zip_bytes()
    assert PackageBuilder(tag="1").zip_bytes() == PackageBuilder(tag="1").zip_bytes()
    for written in ("2026-11-20", "2026年11月20日"):
        assert PackageBuilder(date=written).plan["end_date"] == "2026-11-10"
    assert PackageBuilder(date="2026年1月5日").plan["end_date"] == "2025-12-26"
    assert PackageBuilder(date="20261301").plan["end_date"] == "2026-11-10"  # impossible: a fallback


def test_the_json_example_guide_says_the_workbook_way_first():
    from pipeline.kit.example import readme_text

    text = readme_text("新城区星火职业培训学校20261206", [("育婴师", "初级", 20)], ["offline"], ["offline"])
    assert text.index("推荐：用 Excel 或 WPS 填写表单") < text.index("一、文件夹结构") < text.index("培训方案.json")
    assert "表单.xlsx" in text and "填写说明" in text
    workbook = readme_text("新城区星火职业培训学校20261206", [("育婴师", "初级", 20)], ["offline"], ["offline"],
                           workbook=True)
    assert "推荐：用 Excel 或 WPS 填写表单" not in workbook  # that guide is the workbook's already
