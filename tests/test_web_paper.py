"""The paper forms page (pipeline/web/paper.py) over HTTP in the test's process: a package's
forms laid out as the seed's paper tables, read from the archived ZIP as the checker reads
it (JSON forms and 表单.xlsx alike); every role at both routes; ID numbers masked except on
an inspector's reveal, which needs the CSRF token and a reason and is audited once. Real
decisions on a real SQLite catalogue (tests/support/websites.py), no mocks."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pipeline.check.policy import load_policy
from pipeline.check.privacy import mask_id, mask_phone
from pipeline.web.media import PackageMedia
from pipeline.web.paper import read_papers
from tests.support.integrity import FOLDER
from tests.support.paper import (
    decide_paper_packages,
    id_numbers,
    json_forms,
    workbook_forms,
)
from tests.support.websites import Site, csrf_of

ROLES = ("anonymous", "xinghuo", "other", "operator", "inspector")
LINK = "纸质表格（培训方案、大纲、签到表、简历、承诺书）"
REVEALED = "已显示完整证件号码，本次查看已记入审计日志"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("paper") / "var")
    site.receipts.update(decide_paper_packages(site))
    return site


def _reveal(client: TestClient, rid: str, reason: str | None = "核查学员重复参训", token: bool = True) -> Any:
    form = {"csrf_token": csrf_of(client, "/")} if token else {}
    if reason is not None:
        form["reason"] = reason
    return client.post(f"/packages/{rid}/forms/reveal", data=form)


def _audited(site: Site, rid: str, action: str) -> list[dict[str, Any]]:
    return [e for e in site.composition.web_accounts.audit_log(limit=10_000, receipt_id=rid) if e["action"] == action]


def _text(html: str) -> str:
    """The page's text as a reader sees it (tags gone, spaces collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#34;", '"').replace("&#39;", "'")


# -- who may see what ----------------------------------------------------------------------------

EXPECTED = {  # role: (GET the forms of xinghuo's accepted package, POST a reveal of them)
    "anonymous": (303, 303),
    "xinghuo": (200, 404),  # the owner reads its forms; the reveal is not an institution's route
    "other": (404, 404),  # another institution's package: as if it did not exist
    "operator": (200, 403),
    "inspector": (200, 200),
}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_at_both_routes(site: Site, role: str):
    rid = site.receipts["accepted"]
    client = site.client(role)
    page = client.get(f"/packages/{rid}/forms")
    revealed = _reveal(client, rid, token=role != "anonymous")
    assert (page.status_code, revealed.status_code) == EXPECTED[role], role
    if role == "anonymous":
        assert page.headers["location"] == revealed.headers["location"] == "/login"
    if page.status_code == 200:
        assert "职业技能等级认定培训方案表" in page.text
        assert (f'action="/packages/{rid}/forms/reveal"' in page.text) == (role == "inspector")
    full = site.accepted.first_trainee()["id_number"]
    assert (full in revealed.text) == (role == "inspector")


def test_another_institution_guessing_the_url_gets_the_same_404_as_a_missing_receipt(site: Site):
    client = site.client("other")
    theirs = client.get(f"/packages/{site.receipts['accepted']}/forms")
    missing = client.get("/packages/R20261201-ZZZZZZZZ/forms")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text and "新城区星火" not in theirs.text
    guessed = _reveal(client, site.receipts["accepted"])
    nothing = _reveal(client, "R20261201-ZZZZZZZZ")
    assert guessed.status_code == nothing.status_code == 404 and guessed.text == nothing.text
    assert client.get("/packages/not-a-receipt/forms").status_code == 404


def test_the_package_page_links_to_the_paper_forms(site: Site):
    rid = site.receipts["accepted"]
    for role in ("xinghuo", "operator", "inspector"):
        page = site.client(role).get(f"/packages/{rid}").text
        assert f'<a href="/packages/{rid}/forms">{LINK}</a>' in page


def test_staff_views_are_audited_as_view_forms_and_the_owners_are_not(site: Site):
    rid = site.receipts["accepted"]
    before = len(_audited(site, rid, "view-forms"))
    site.client("xinghuo").get(f"/packages/{rid}/forms")
    assert len(_audited(site, rid, "view-forms")) == before
    site.client("operator").get(f"/packages/{rid}/forms")
    site.client("inspector").get(f"/packages/{rid}/forms")
    log = _audited(site, rid, "view-forms")
    assert len(log) == before + 2
    assert {(e["user_name"], e["role"]) for e in log[:2]} == {("operator", "operator"), ("inspector", "inspector")}


# -- masked by default, revealed on an inspector's request ------------------------------------

def test_every_view_masks_id_and_phone_numbers(site: Site):
    rid = site.receipts["accepted"]
    forms = json_forms(site.accepted.files)
    numbers = id_numbers(forms)
    trainer = forms["培训教师.json"]["trainers"][0]
    assert len(numbers) > 5
    for role in ("xinghuo", "operator", "inspector"):
        response = site.client(role).get(f"/packages/{rid}/forms")
        assert response.headers["cache-control"] == "no-store"
        for number in numbers:
            assert number not in response.text, role
            assert mask_id(number) in response.text, role
        assert trainer["phone"] not in response.text and mask_phone(trainer["phone"]) in response.text
        assert REVEALED not in response.text


def test_an_inspectors_reveal_shows_the_full_numbers_and_writes_one_audit_row(site: Site):
    rid = site.receipts["accepted"]
    numbers = id_numbers(json_forms(site.accepted.files))
    trainee = site.accepted.first_trainee()
    inspector = site.client("inspector")
    before = site.composition.web_accounts.audit_log(limit=10_000, receipt_id=rid)
    response = _reveal(inspector, rid, reason="  核查 学员重复参训 ")
    assert response.status_code == 200 and REVEALED in response.text
    assert response.headers["cache-control"] == "no-store"
    for number in numbers:
        assert number in response.text
    row = next(r for r in _text(response.text).split(trainee["name"])[1:] if trainee["id_number"] in r[:40])
    assert row  # the number stands in the sign-in table beside the trainee's name
    after = site.composition.web_accounts.audit_log(limit=10_000, receipt_id=rid)
    assert len(after) == len(before) + 1  # the reveal alone: no view-forms besides
    entry = after[0]
    assert (entry["user_name"], entry["role"], entry["action"]) == ("inspector", "inspector", "reveal-id")
    assert entry["detail"] == {"reason": "核查 学员重复参训", "count": len(numbers)}
    # the numbers are in the page's body only: not in a cookie, the session or a URL
    assert not any(n in str(response.headers) for n in numbers)
    assert not any(n in str(dict(inspector.cookies)) for n in numbers)
    assert not any(n in str(entry) for n in numbers)
    assert not re.search(r'(href|action|src)="[^"]*' + trainee["id_number"], response.text)
    again = inspector.get(f"/packages/{rid}/forms")  # the next view is masked again
    assert trainee["id_number"] not in again.text and REVEALED not in again.text


def test_an_operator_may_not_reveal(site: Site):
    rid = site.receipts["accepted"]
    denied = _reveal(site.client("operator"), rid)
    assert denied.status_code == 403 and "只有监管人员" in denied.text
    assert site.accepted.first_trainee()["id_number"] not in denied.text
    assert not [e for e in _audited(site, rid, "reveal-id") if e["user_name"] == "operator"]


def test_a_reveal_without_the_csrf_token_is_refused(site: Site):
    rid = site.receipts["accepted"]
    before = len(_audited(site, rid, "reveal-id"))
    inspector = site.client("inspector")
    missing = _reveal(inspector, rid, token=False)
    forged = inspector.post(f"/packages/{rid}/forms/reveal", data={"csrf_token": "x" * 43, "reason": "核查"})
    assert missing.status_code == forged.status_code == 403 and "页面已过期" in missing.text
    assert site.accepted.first_trainee()["id_number"] not in missing.text + forged.text
    assert len(_audited(site, rid, "reveal-id")) == before


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_reveal_without_a_reason_asks_for_one_and_records_nothing(site: Site, reason: str | None):
    rid = site.receipts["accepted"]
    before = len(_audited(site, rid, "reveal-id"))
    response = _reveal(site.client("inspector"), rid, reason=reason)
    assert response.status_code == 400 and "请填写查看完整证件号码的原因" in response.text
    assert site.accepted.first_trainee()["id_number"] not in response.text and REVEALED not in response.text
    assert "职业技能等级认定培训方案表" in response.text  # the same page, masked, with the form again
    assert len(_audited(site, rid, "reveal-id")) == before


# -- the forms as the paper tables -------------------------------------------------------------

def test_json_forms_render_as_the_seeds_paper_tables(site: Site):
    rid = site.receipts["accepted"]
    forms = json_forms(site.accepted.files)
    page = site.client("xinghuo").get(f"/packages/{rid}/forms").text
    text = _text(page)
    for title in ("职业技能等级认定培训方案表", "诚信承诺书", "培训教师个人简历", "理论知识培训内容（大纲）",
                  "实际操作培训内容（大纲）", "培训学员签到表", "实际操作培训设备设施（操作类职业）"):
        assert f'<h3 class="paper-title">{title}</h3>' in page
    assert "线上培训上报记录" not in page  # all offline: no online record asked for
    assert "来自 培训方案.json" in text and "表单.xlsx" not in text
    plan = forms["培训方案.json"]
    assert f"培训单位 {plan['institution']['name']}" in text
    assert f"培训起止日期 {plan['start_date']} 至 {plan['end_date']}" in text
    assert "理论知识 培训方式 ☐线上 ☑线下" in text
    outline = forms[f"{FOLDER}/理论培训大纲.json"]
    first = outline["sessions"][0]
    assert (f"1 {first['content']} {first['date']} {first['teacher']['name']} "
            f"{mask_id(first['teacher']['id_number'])} {first['hours']}") in text
    sign_in = forms[f"{FOLDER}/签到表.json"]
    assert text.count("培训地点：") == len(sign_in["sessions"])  # one paper sheet per session
    session = sign_in["sessions"][0]
    person = session["trainees"][0]
    assert f"培训日期： {session['date']} 培训地点： {session['location']}" in text
    assert f"1 {person['name']} {mask_id(person['id_number'])} √" in text
    for trainer in forms["培训教师.json"]["trainers"]:
        assert f"姓名 {trainer['name']} 性别 {trainer['gender']} 族别 {trainer['ethnicity']}" in text
    pledge = forms["诚信承诺书.json"]
    assert f"法人代表（签字） {pledge['legal_representative']}" in text and "本单位承诺" in text
    assert "<script" not in page and "style=" not in page  # the CSP forbids both


def test_forms_in_a_workbook_render_the_same_tables(site: Site):
    rid = site.receipts["workbook"]
    assert site.composition.catalogue.get(rid)["status"] == "accepted"
    page = site.client("inspector").get(f"/packages/{rid}/forms")
    assert page.status_code == 200
    text = _text(page.text)
    read = {form["form"]: form for form in workbook_forms().values()}  # what the sheets hold
    manifest = site.composition.ops().receipt(rid)["document"]["manifest"]
    assert not any(e["path"].endswith(".json") for e in manifest)
    assert any(e["path"].endswith("/表单.xlsx") for e in manifest)
    assert "来自 表单.xlsx 中的“培训方案”工作表" in text and "来自 表单.xlsx 中的“签到表”工作表" in text
    assert "线上培训上报记录" in text and "理论知识 培训方式 ☑线上 ☑线下" in text
    assert f"培训单位 {read['training_plan']['institution']['name']}" in text
    online = read["online_record"]
    assert f"开课起止日期 {online['start_date']} 至 {online['end_date']}" in text
    for chapter in online["outline"]:
        assert chapter in text
    for trainee in online["trainees"]:
        assert f"{trainee['name']} {mask_id(trainee['id_number'])} {trainee['hours']} 100% 已签到" in text
    for number in id_numbers(read):
        assert number not in page.text
    revealed = _reveal(site.client("inspector"), rid)
    assert all(number in revealed.text for number in id_numbers(read))
    assert _audited(site, rid, "reveal-id")[0]["detail"]["count"] == len(id_numbers(read))


def test_a_rejected_package_with_a_broken_and_a_missing_form_shows_what_it_can(site: Site):
    rid = site.receipts["broken"]
    assert site.composition.catalogue.get(rid)["status"] == "rejected"
    page = site.client("xinghuo").get(f"/packages/{rid}/forms")
    assert page.status_code == 200
    text = _text(page.text)
    assert "缺少或无法读取的表格" in text
    assert "缺少表单“诚信承诺书.json”" in text
    assert "表单“签到表.json”无法读取：JSON 格式错误（第 2 行第 1 列）" in text
    assert "培训单位 新城区星火职业培训学校" in text and "培训教师个人简历" in text  # the readable forms
    # a form that broke its schema is shown as far as its values go, said so
    assert "理论知识培训内容（大纲）" in text and "这份表格有不符合格式的地方" in text
    outline = site.client("xinghuo").get(f"/packages/{rid}/document.json").json()
    assert any(e["code"] == "FORM_SCHEMA" for e in outline["errors"])
    assert re.search(r"2 \S+ \d{4}-\d\d-\d\d （格式不对） 3 ", text)  # a teacher that is no object, hours a list
    # a number typed in free text (the plan's remarks) is masked as well
    quoted = re.search(r"学员 \S+（(\d{6}\*{8}\d{3}[\dX])）补训一次", text)
    assert quoted and "*" in quoted.group(1)


def test_a_package_whose_zip_is_gone_says_so(tmp_path: Path):
    media = PackageMedia(lambda receipt_id, scratch: None, tmp_path / "work" / "web-media")
    papers = read_papers(media, load_policy(), "R20261121-AAAAAAAA", "x.zip", date(2026, 11, 21), reveal=True)
    assert papers.unreadable and papers.unreadable.startswith("找不到这个上报的压缩包") and papers.revealed == 0


def test_packages_without_forms_or_not_zip_say_so_plainly(site: Site):
    client = site.client("operator")
    bare = _text(client.get(f"/packages/{site.receipts['xinghuo']}/forms").text)  # a ZIP with a readme only
    for form in ("培训方案.json", "诚信承诺书.json", "培训教师.json"):
        assert f"缺少表单“{form}”" in bare
    not_zip = client.get(f"/packages/{site.receipts['not_zip']}/forms")
    assert not_zip.status_code == 200
    assert "压缩包无法读取，里面的表格都看不到：上传的文件不是 ZIP 压缩包" in _text(not_zip.text)
    assert "/forms/reveal" not in site.client("inspector").get(f"/packages/{site.receipts['not_zip']}/forms").text


def test_the_forms_are_read_from_a_copy_without_the_videos(site: Site, tmp_path: Path):
    """A view of the forms never inflates nor writes a package's videos: the light copy keeps
    every name (raw bytes, flags, order) and every other member's bytes, videos empty."""
    import zipfile

    from pipeline.check.package_reader import read_package
    from pipeline.web.paper import without_videos

    source = tmp_path / "package.zip"
    source.write_bytes(site.accepted.zip())
    light = without_videos(source, tmp_path / "light.zip")
    with zipfile.ZipFile(source) as a:
        videos = sum(i.compress_size for i in a.infolist() if i.filename.lower().endswith(".mp4"))
    assert light != source and light.stat().st_size <= source.stat().st_size - videos + 1024  # headers may differ
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(light) as b:
        assert [i.filename for i in a.infolist()] == [i.filename for i in b.infolist()]
        for i in a.infolist():
            video = i.filename.lower().endswith(".mp4")
            assert b.read(i.filename) == (b"" if video else a.read(i.filename)), i.filename
        assert any(i.filename.endswith(".mp4") and i.file_size > 0 for i in a.infolist())
    policy = load_policy()
    whole = read_package(source, tmp_path / "whole", policy.zip)
    lighter = read_package(light, tmp_path / "lighter", policy.zip)
    assert not lighter.problems and [f.path for f in whole.files] == [f.path for f in lighter.files]
    assert without_videos(tmp_path / "missing.zip", tmp_path / "x.zip") == tmp_path / "missing.zip"
    (tmp_path / "not.zip").write_bytes(b"not a zip at all")
    assert without_videos(tmp_path / "not.zip", tmp_path / "y.zip") == tmp_path / "not.zip"
