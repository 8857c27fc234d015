"""The web application (issue 18), over HTTP in the test's process (Starlette's test client
on the application `pipeline web` serves): log-in, sessions, CSRF, the throttle, the
security headers, and every route for every role, including an institution guessing
another's receipt ids. Real decisions (the pipeline's own ingest on a local store), a real
SQLite catalogue, real argon2 hashes."""

from __future__ import annotations

import html
import io
import re
import urllib.parse
import zipfile
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from PIL import Image
from starlette.testclient import TestClient

from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.intake.ledger import MemoryLedger
from pipeline.web.passwords import hash_password
from pipeline.web.security import CONTENT_SECURITY_POLICY
from tests.support.stores import small_zip
from tests.support.websites import NOW, PASSWORD, Site, csrf_of, login, web_process

ROLES = ("anonymous", "xinghuo", "other", "operator", "inspector")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site(tmp_path_factory.mktemp("web") / "var")


def test_the_decisions_are_real_and_belong_to_their_accounts(site: Site):
    own = site.composition.catalogue.get(site.receipts["xinghuo"])
    other = site.composition.catalogue.get(site.receipts["other"])
    accepted = site.composition.catalogue.get(site.receipts["accepted"])
    assert own["account"] == accepted["account"] == "xinghuo" and other["account"] == "other"
    assert own["status"] == "rejected" and own["errors"] > 0  # a ZIP without the forms: real errors to show
    assert accepted["status"] == "accepted" and site.composition.catalogue.has_facts(accepted["receipt_id"])


# -- every route, every role ---------------------------------------------------------------

def _expected(role: str, route: str) -> int:
    """The status each role gets at each route (see the module docstring)."""
    if role == "anonymous":
        return 200 if route in ("login", "static") else 303
    if route == "login":
        return 303  # logged in already: to the home page
    if route in ("own-package", "own-document") and role == "other":
        return 404  # xinghuo's package, asked for by another institution: as if it did not exist
    if route in ("search", "dashboard") and role in ("xinghuo", "other"):
        return 404  # operators' and inspectors' page: not there for an institution
    return 200


ROUTES = {
    "home": "/",
    "login": "/login",
    "static": "/static/site.css",
    "own-package": "/packages/{xinghuo}",
    "own-document": "/packages/{xinghuo}/document.json",
    "search": "/search?text=%E6%98%9F%E7%81%AB",
    "downloads": "/downloads",
    "dashboard": "/dashboard",
    "rules": "/rules",
    "missing-package": "/packages/R20261201-ZZZZZZZZ",
    "not-a-receipt": "/packages/R2026%27OR%271%3D1",
    "path-escape": "/packages/..%2F..%2Fetc%2Fpasswd",
}


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(site: Site, role: str):
    client = site.client(role)
    for route, template in ROUTES.items():
        response = client.get(template.format(**site.receipts))
        expected = _expected(role, route)
        if route in ("missing-package", "not-a-receipt"):
            expected = 303 if role == "anonymous" else 404
        if route == "path-escape":
            expected = 404  # no route has a "/" in a receipt id
        assert response.status_code == expected, (role, route, response.status_code)
        if expected == 303 and role == "anonymous":
            assert response.headers["location"] == "/login"
        # every answer carries the security headers, errors and static files included
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_an_institution_sees_only_its_own_packages(site: Site):
    own, other = site.receipts["xinghuo"], site.receipts["other"]
    page = site.client("xinghuo").get("/").text
    assert own in page and other not in page and "我的上报" in page
    assert f'href="/packages/{own}"' in page  # the package page is reached by a link
    staff = site.client("operator").get("/").text
    assert own in staff and other in staff and "东方职业培训学校20261120.zip" in staff


def test_an_upload_not_yet_decided_is_listed_as_waiting_for_its_institution_only(tmp_path: Path):
    site = Site(tmp_path / "var", packages=False)
    inbox = site.composition.services.store.inbox  # type: ignore[attr-defined]
    (inbox / "xinghuo").mkdir(parents=True, exist_ok=True)
    (inbox / "xinghuo" / "星火职业培训学校20261125.zip").write_bytes(small_zip("waiting"))
    own = site.client("xinghuo").get("/").text
    assert "等待检查" in own and "星火职业培训学校20261125.zip" in own
    assert '<meta http-equiv="refresh" content="10">' in own  # the page follows it until decided
    other = site.client("other").get("/").text
    assert "星火职业培训学校20261125.zip" not in other and 'http-equiv="refresh"' not in other
    staff = site.client("operator").get("/").text
    assert "等待检查" in staff and "星火职业培训学校20261125.zip" in staff


def test_a_guessed_receipt_of_another_institution_looks_like_a_missing_one(site: Site):
    client = site.client("other")
    theirs = client.get(f"/packages/{site.receipts['xinghuo']}")
    missing = client.get("/packages/R20261201-ZZZZZZZZ")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text  # nothing tells the one from the other
    assert site.receipts["xinghuo"] not in theirs.text
    document = client.get(f"/packages/{site.receipts['xinghuo']}/document.json")
    assert document.status_code == 404 and "星火" not in document.text


def test_the_package_page_shows_the_errors_in_the_clerks_words(site: Site):
    rid = site.receipts["xinghuo"]
    page = site.client("xinghuo").get(f"/packages/{rid}").text
    document = site.composition.ops().receipt(rid)["document"]
    assert f"回执编号 {rid}" in page and "未通过" in page
    for problem in document["errors"]:
        assert problem["message"] in page.replace("&#34;", '"').replace("&#39;", "'")
        assert problem["code"] not in page  # codes are data, not the clerk's text
    as_json = site.client("xinghuo").get(f"/packages/{rid}/document.json")
    assert as_json.headers["content-type"].startswith("application/json") and as_json.json()["receipt_id"] == rid


def test_staff_views_are_audited_and_institutions_own_views_are_not(site: Site):
    rid = site.receipts["other"]
    before = len(site.composition.web_accounts.audit_log(limit=1000, receipt_id=rid))
    site.client("inspector").get(f"/packages/{rid}")
    site.client("other").get(f"/packages/{rid}")
    log = site.composition.web_accounts.audit_log(limit=1000, receipt_id=rid)
    assert len(log) == before + 1
    assert (log[0]["user_name"], log[0]["role"], log[0]["action"]) == ("inspector", "inspector", "view-package")


# -- downloads -------------------------------------------------------------------------------

def test_the_templates_and_the_example_download_as_zips(site: Site):
    client = site.client("xinghuo")
    assert 'href="/downloads/templates.zip"' in client.get("/downloads").text
    templates = client.get("/downloads/templates.zip")
    assert templates.status_code == 200 and templates.headers["content-type"] == "application/zip"
    assert "filename*=UTF-8''%E8%A1%A8%E5%8D%95%E6%A8%A1%E6%9D%BF.zip" in templates.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(templates.content)).namelist()
    assert sum(n.endswith("/表单.xlsx") for n in names) == 2
    example = client.get("/downloads/example.zip")
    names = zipfile.ZipFile(io.BytesIO(example.content)).namelist()
    today = site.composition.web_app().state.services.now().strftime("%Y%m%d")
    folder = f"新城区星火职业培训学校{today}/"  # the login's institution, by its registry name
    assert "README.txt" in names and f"{folder}表单.xlsx" in names
    assert any(n.startswith(folder) and n.lower().endswith(".mp4") for n in names)
    assert not any(n.endswith(".zip") for n in names)  # the folder to copy, not a package to upload
    assert TestClient(site.app, follow_redirects=False).get("/downloads/example.zip").status_code == 303


def test_the_rules_page_states_the_policy_in_force(tmp_path: Path):
    policy = "version = 1\n[zip]\nmax_entries = 1234\n[media]\nphoto_count = 4\n"  # over the shipped one
    (tmp_path / "policy.toml").write_text(policy, encoding="utf-8")
    env = {"PIPELINE_DATA_DIR": str(tmp_path / "var"), "PIPELINE_WEB_SECRET": "s" * 40,
           "PIPELINE_POLICY": str(tmp_path / "policy.toml")}
    composition = Composition(load_settings(env=env), ledger=MemoryLedger())
    composition.web_accounts.put("clerk", "operator", None, hash_password(PASSWORD), NOW)
    client = TestClient(composition.web_app(), follow_redirects=False)
    assert login(client, "clerk", PASSWORD).status_code == 303
    page = client.get("/rules").text
    assert "文件（含文件夹）不超过 1234 个" in page and "培训照片 4 张" in page and "培训照片 5 张" not in page
    assert composition.policy.sha256[:12] in page
    default = Site(tmp_path / "default", packages=False).client("xinghuo").get("/rules").text
    assert "不超过 2000 个" in default and "培训照片 5 张" in default
    assert "新城区星火职业培训学校" in default  # the guide's folder names the login's institution


# -- dashboard -------------------------------------------------------------------------------

def test_the_dashboard_charts_the_decisions_per_day_and_the_frequent_errors(site: Site):
    page = site.client("operator").get("/dashboard").text
    assert "<title>2026-11-21 未通过 2</title>" in page and "<title>2026-11-21 已受理 1</title>" in page
    assert page.count("<rect ") >= 3 and "<script" not in page  # drawn on the server, no script
    from pipeline.check.catalogue import CATALOGUE

    assert f"<td>{CATALOGUE['FORM_MISSING'].title}</td><td>FORM_MISSING</td><td>2</td>" in page
    assert "等待检查（收件箱）" in page and "Redis 现在连不上" in page  # this site runs no Redis
    assert "队列中的任务</dt><dd>未知" in page


# -- search ----------------------------------------------------------------------------------

def _listed(page: str) -> set[str]:
    return set(re.findall(r'href="/packages/(R[0-9]{8}-[0-9A-Z]{8})"', page))


def test_staff_search_by_text_training_status_and_date(site: Site):
    client = site.client("inspector")
    r = site.receipts
    assert _listed(client.get("/search", params={"text": "星火"}).text) == {r["xinghuo"], r["accepted"]}
    assert _listed(client.get("/search", params={"text": r["other"][-8:].lower()}).text) == {r["other"]}
    # a whole receipt id (as pasted, any case, spaces around) is looked up by its key
    assert _listed(client.get("/search", params={"text": f" {r['other'].lower()} "}).text) == {r["other"]}
    assert _listed(client.get("/search", params={"text": r["other"], "status": "accepted"}).text) == set()
    # its beginning: the day's receipts (read by a range of the key on SQLite)
    assert _listed(client.get("/search", params={"text": r["other"][:9].lower()}).text) == set(r.values())
    assert _listed(client.get("/search", params={"text": r["other"][:12]}).text) == \
        {v for v in r.values() if v.startswith(r["other"][:12])}
    assert _listed(client.get("/search", params={"text": "R20251121"}).text) == set()
    training = site.composition.ops().receipt(r["accepted"])["document"]["trainings"][0]
    by_training = client.get("/search", params={"training": training["occupation"] + training["level"]}).text
    assert _listed(by_training) == {r["accepted"]}
    assert _listed(client.get("/search", params={"status": "rejected"}).text) == {r["xinghuo"], r["other"]}
    on_the_day = {"from": "2026-11-21", "to": "2026-11-21"}  # the clock's day (UTC+8: 10:00)
    assert _listed(client.get("/search", params=on_the_day).text) == set(r.values())
    assert _listed(client.get("/search", params={"from": "2026-11-22"}).text) == set()
    bad = client.get("/search", params={"from": "2026/11/21"})
    assert bad.status_code == 200 and "应写成 2026-11-20 的样子" in bad.text and not _listed(bad.text)


def test_a_persons_trainings_by_id_number_masked_and_audited(site: Site):
    client = site.client("inspector")
    trainee = site.accepted.first_trainee()
    number = trainee["id_number"]
    token = csrf_of(client, "/search")
    page = client.post("/search/person", data={"id_number": number, "csrf_token": token})
    assert page.status_code == 200
    assert trainee["name"] in page.text and f'href="/packages/{site.receipts["accepted"]}"' in page.text
    assert number not in page.text and f"{number[:6]}********{number[-4:]}" in page.text
    entry = site.composition.web_accounts.audit_log(limit=1)[0]
    assert (entry["user_name"], entry["action"]) == ("inspector", "search-person")
    assert number not in str(entry) and entry["detail"]["found"] is True
    unknown = client.post("/search/person", data={"id_number": "110101199003071233", "csrf_token": token})
    assert "没有证件号码为 110101********1233 的人员" in unknown.text
    invalid = client.post("/search/person", data={"id_number": "110101199003071235", "csrf_token": token})
    assert "不是有效的身份证号" in invalid.text and "110101199003071235" not in invalid.text
    assert client.post("/search/person", data={"id_number": number}).status_code == 403  # no CSRF token
    institution = site.client("xinghuo")
    denied = institution.post("/search/person", data={"id_number": number,
                                                      "csrf_token": csrf_of(institution, "/")})
    assert denied.status_code == 404 and trainee["name"] not in denied.text


# -- photos and videos ------------------------------------------------------------------------

def test_the_package_page_shows_thumbnails_and_plays_videos_from_the_archived_zip(site: Site):
    rid, built = site.receipts["accepted"], site.accepted
    client = site.client("inspector")
    page = client.get(f"/packages/{rid}").text
    videos = sorted(p for p in built.files if p.lower().endswith(".mp4"))
    photo = built.photos[0]
    quoted = urllib.parse.quote(f"{built.root}/{photo}")
    assert f'src="/packages/{rid}/thumbs/{quoted}"' in page and page.count("<video ") == len(videos)
    thumb = client.get(f"/packages/{rid}/thumbs/{quoted}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) <= 320
    full = client.get(f"/packages/{rid}/media/{quoted}")
    assert full.status_code == 200 and full.content == built.files[photo]
    video = urllib.parse.quote(f"{built.root}/{videos[0]}")
    data = built.files[videos[0]]
    whole = client.get(f"/packages/{rid}/media/{video}")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    part = client.get(f"/packages/{rid}/media/{video}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(f"/packages/{rid}/media/{video}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = client.get(f"/packages/{rid}/media/{video}", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    # only the ZIP's own photos and videos, and only for whoever may see the package
    for path in ("..%2F..%2Fetc%2Fpasswd", urllib.parse.quote(f"{built.root}/培训方案.json"), "nothing.mp4"):
        assert client.get(f"/packages/{rid}/media/{path}").status_code == 404
    assert site.client("other").get(f"/packages/{rid}/media/{video}").status_code == 404
    assert site.client("other").get(f"/packages/{rid}/thumbs/{quoted}").status_code == 404
    assert site.client("xinghuo").get(f"/packages/{rid}/media/{video}").status_code == 200
    assert TestClient(site.app, follow_redirects=False).get(f"/packages/{rid}/media/{video}").status_code == 303


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_member_is_served_at_its_offset_when_stored_and_from_the_cache_when_compressed(tmp_path: Path,
                                                                                         compression: int):
    from pipeline.web.media import PackageMedia, read_span

    video = bytes(range(256)) * 4096 + b"tail"
    zip_path = tmp_path / "package.zip"
    with zipfile.ZipFile(zip_path, "w", compression) as archive:
        archive.writestr("根/育婴师初级/理论/a.txt", b"x" * 1000)
        archive.writestr("根/育婴师初级/理论/育婴师初级理论视频1.mp4", video)
    media = PackageMedia(lambda rid, scratch: zip_path, tmp_path / "cache")
    [member] = media.members("R20261121-AAAAAAAA")
    assert member.kind == "video" and member.stored == (compression == zipfile.ZIP_STORED)
    span = media.span("R20261121-AAAAAAAA", member.path)
    assert (span.file == zip_path) == (compression == zipfile.ZIP_STORED)  # no copy of a stored member
    assert b"".join(read_span(span, 0, span.length - 1)) == video
    assert b"".join(read_span(span, 5000, 5099)) == video[5000:5100]
    assert media.span("R20261121-AAAAAAAA", "根/育婴师初级/理论/a.txt") is None  # not a photo or video


# -- requeue ---------------------------------------------------------------------------------

def _requeue(client: TestClient, rid: str, reason: str | None = "规则已调整") -> Any:
    form = {"csrf_token": csrf_of(client, "/")}
    if reason is not None:
        form["reason"] = reason
    return client.post(f"/packages/{rid}/requeue", data=form)


def test_only_an_operator_requeues_and_only_a_rejected_decision_with_a_reason(site: Site):
    rejected, accepted = site.receipts["xinghuo"], site.receipts["accepted"]
    assert TestClient(site.app, follow_redirects=False).post(f"/packages/{rejected}/requeue").status_code == 303
    assert _requeue(site.client("xinghuo"), rejected).status_code == 404  # not an institution's route
    assert _requeue(site.client("other"), rejected).status_code == 404
    denied = _requeue(site.client("inspector"), rejected)
    assert denied.status_code == 403 and "只有运维人员" in denied.text
    operator = site.client("operator")
    assert "重新检查" in operator.get(f"/packages/{rejected}").text
    assert "按现行规则重新检查" not in site.client("inspector").get(f"/packages/{rejected}").text
    assert _requeue(operator, rejected, reason="   ").status_code == 400
    assert _requeue(operator, accepted).status_code == 409
    assert operator.post(f"/packages/{rejected}/requeue", data={"reason": "x"}).status_code == 403  # no CSRF
    down = _requeue(operator, rejected)  # this site has no Redis: the queue cannot be reached
    assert down.status_code == 503 and "任务队列" in down.text
    assert not [e for e in site.composition.web_accounts.audit_log(limit=1000) if e["action"] == "requeue"]


def test_an_operators_requeue_makes_a_new_claim_sent_to_the_queue_and_audited(tmp_path: Path, redis_server):
    site = Site(tmp_path / "var", redis_url=redis_server.url)
    rid = site.receipts["xinghuo"]
    operator = site.client("operator")
    done = _requeue(operator, rid, reason="照片规则已调整")
    assert done.status_code == 200 and "已交给检查程序重新检查" in done.text
    new_rid = re.search(r"新的回执编号：(R[0-9]{8}-[0-9A-Z]{8})", done.text).group(1)
    assert new_rid != rid
    home = operator.get("/").text
    assert "正在检查" in home  # the new claim, until a worker decides it
    [entry] = [e for e in site.composition.web_accounts.audit_log(limit=100) if e["action"] == "requeue"]
    assert entry["receipt_id"] == rid and entry["user_name"] == "operator"
    assert entry["detail"] == {"reason": "照片规则已调整", "action": "queued", "new_receipt_id": new_rid}
    broker = site.composition.broker_config()
    queued = redis.Redis.from_url(broker.url).keys(f"{broker.namespace}*")
    assert queued  # the ingest message waits in the package queue (no worker runs here)
    again = _requeue(operator, rid)
    assert again.status_code == 200 and new_rid in again.text  # the same new receipt: no second decision
    dashboard = operator.get("/dashboard")  # with Redis: the queues' counts, the requeued message among them
    assert dashboard.status_code == 200 and "Redis 现在连不上" not in dashboard.text
    assert re.search(r"队列中的任务</dt><dd>[1-9]\d*</dd>", dashboard.text), dashboard.text


# -- log-in, sessions, CSRF ------------------------------------------------------------------

def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(site: Site):
    client = TestClient(site.app, base_url="http://testserver", follow_redirects=False)
    response = login(client, "xinghuo", PASSWORD)
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert client.get("/").status_code == 200
    token = csrf_of(client, "/")
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token: refused
    assert client.get("/").status_code == 200
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_a_form_without_the_sessions_csrf_token_is_refused(site: Site):
    client = TestClient(site.app, base_url="http://testserver", follow_redirects=False)
    refused = client.post("/login", data={"name": "operator", "password": PASSWORD})
    assert refused.status_code == 403 and "页面已过期" in refused.text
    forged = client.post("/login", data={"name": "operator", "password": PASSWORD, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert client.get("/").status_code == 303  # not logged in by either


def test_a_wrong_password_says_so_without_saying_which_part_was_wrong(site: Site):
    client = TestClient(site.app, base_url="http://testserver", follow_redirects=False)
    wrong = login(client, "operator", "not the password")
    nobody = login(client, "nobody", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert "用户名或密码不对" in wrong.text and "用户名或密码不对" in nobody.text
    failed = [e for e in site.composition.web_accounts.audit_log(limit=1000) if e["action"] == "login-failed"]
    assert {"operator", "nobody"} <= {e["user_name"] for e in failed}


def test_repeated_failures_make_the_login_wait_even_with_the_right_password(tmp_path: Path):
    site = Site(tmp_path / "var", packages=False)
    client = TestClient(site.app, base_url="http://testserver", follow_redirects=False)
    for _ in range(5):
        assert login(client, "operator", "guess").status_code == 401
    blocked = login(client, "operator", PASSWORD)
    assert blocked.status_code == 429 and "登录失败次数过多" in blocked.text
    assert client.get("/").status_code == 303


def test_disabling_a_login_or_changing_its_password_ends_its_sessions(tmp_path: Path):
    site = Site(tmp_path / "var", packages=False)
    client = site.client("xinghuo")
    assert client.get("/").status_code == 200
    site.composition.web_accounts.put("xinghuo", "institution", "xinghuo", hash_password("a new password!"), NOW)
    assert client.get("/").status_code == 303
    client = site.client("operator")
    site.composition.web_accounts.disable("operator", NOW)
    assert client.get("/").status_code == 303
    assert login(TestClient(site.app, follow_redirects=False), "operator", PASSWORD).status_code == 401


def test_a_session_cookie_signed_with_another_secret_is_ignored(site: Site):
    other = Composition(load_settings(env={**site.env, "PIPELINE_WEB_SECRET": "t" * 40}), ledger=MemoryLedger())
    forged = TestClient(other.web_app(), base_url="http://testserver", follow_redirects=False)
    assert login(forged, "operator", PASSWORD).status_code == 303
    client = TestClient(site.app, base_url="http://testserver", follow_redirects=False)
    client.cookies.update(forged.cookies)
    assert client.get("/").status_code == 303


# -- pipeline web: the real server ----------------------------------------------------------

@pytest.fixture()
def served(site: Site, tmp_path: Path) -> Iterator[str]:
    with web_process(site.env, tmp_path / "web.log") as address:
        yield address


def test_pipeline_web_serves_the_login_page_over_real_http(served: str):
    with urllib.request.urlopen(served + "login", timeout=10) as response:
        body = response.read().decode("utf-8")
        assert response.status == 200 and "登录" in body
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers.get("Server") is None  # no server banner


def test_the_throttle_forgets_failures_that_left_the_window():
    from pipeline.web.security import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(failures=2, window_seconds=60, clock=lambda: now[0])
    throttle.failed("name:a", "client:1")
    throttle.failed("name:a", "client:1")
    assert throttle.wait_seconds("name:a") == 60 and throttle.wait_seconds("name:b", "client:1") == 60
    now[0] = 30.0
    assert throttle.wait_seconds("name:a") == 30
    now[0] = 61.0
    assert throttle.wait_seconds("name:a", "client:1") == 0
    for n in range(LoginThrottle.MAX_KEYS + 1):  # made-up names, each failing once
        throttle.failed(f"name:{n}")
    now[0] = 200.0
    throttle.failed("name:last")
    assert len(throttle._seen) == 1  # the old ones forgotten once over the bound


def test_a_reused_photo_is_shown_beside_the_other_packages_to_staff_only(tmp_path: Path):
    from tests.support.integrity import package

    site = Site(tmp_path / "var")
    second = package("东方职业培训学校", 8)
    second.files[second.photos[0]] = site.accepted.files[site.accepted.photos[0]]
    reusing = site.decide("other", second.zip_name, second.zip())
    first = site.receipts["accepted"]
    page = site.client("inspector").get(f"/packages/{reusing}")
    assert page.status_code == 200 and "与其他培训重复的照片和视频（1 处）" in page.text
    own_path, other_path = f"{second.root}/{second.photos[0]}", f"{site.accepted.root}/{site.accepted.photos[0]}"
    own = f"/packages/{reusing}/thumbs/{urllib.parse.quote(own_path)}"
    other = f"/packages/{first}/thumbs/{urllib.parse.quote(other_path)}"
    assert f'src="{own}"' in page.text and f'src="{other}"' in page.text and "完全相同" in page.text
    inspector = site.client("inspector")
    assert inspector.get(own).headers["content-type"] == "image/jpeg"
    assert inspector.get(other).headers["content-type"] == "image/jpeg"  # both thumbnails are served
    # the other side names it too (pairs both ways); the institutions see only their words
    assert f'src="{own}"' in site.client("operator").get(f"/packages/{first}").text
    clerk = site.client("other").get(f"/packages/{reusing}")
    assert clerk.status_code == 200 and "完全相同" in clerk.text  # the warning's message
    assert first not in re.findall(r'src="/packages/([^/]+)/', clerk.text)  # never the other's photo
    assert site.client("other").get(other).status_code == 404


def test_the_package_page_shows_the_receipt_mail_that_was_sent(tmp_path: Path, redis_server):
    site = Site(tmp_path / "var", redis_url=redis_server.url)
    rid = site.receipts["xinghuo"]
    clerk = site.client("xinghuo")
    assert "回执邮件" not in clerk.get(f"/packages/{rid}").text  # not sent yet
    entry = site.composition.catalogue.get(rid)
    assert site.composition.mailer.deliver({"receipt_id": rid, "location": entry["location"]}) == "sent"
    page = clerk.get(f"/packages/{rid}").text
    assert "回执邮件" in page and "已发送" in page and "office@xinghuo.example" in page
    sent = next((site.composition.settings.data_dir / "outbox").rglob("*.eml")).read_bytes()
    import email
    from email import policy

    message = email.message_from_bytes(sent, policy=policy.default)
    assert html.escape(str(message["Subject"]), quote=False) in page  # the subject that went out
    body = message.get_body(preferencelist=("plain",)).get_content()
    first_lines = [line for line in body.splitlines() if line.strip()][:3]
    assert all(html.escape(line, quote=False) in page for line in first_lines)  # its text
    assert "回执邮件" in site.client("inspector").get(f"/packages/{rid}").text
