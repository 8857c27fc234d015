"""A clerk's uploads from the browser (issue 18; pipeline/web/uploads.py and
pipeline/intake/browser_uploads.py, self_checks.py), over HTTP in the test's process: a ZIP
sent in chunks lands in the account's inbox byte for byte and is decided like an SFTP
upload; a broken line resumes where the server stopped; limits, CSRF and other accounts'
upload ids; the self-check (自查，未上报) queued for the workers in a real Redis and its
report; with an S3 inbox, parts PUT straight to the bucket (moto's server) by presigned URLs."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

import urllib.request
import pytest
import redis
from starlette.testclient import TestClient

from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.intake.browser_uploads import CHUNK_BYTES, MAX_REQUEST_BYTES, OPEN_PER_ACCOUNT
from pipeline.intake.deciding import ingest
from pipeline.intake.ledger import MemoryLedger
from pipeline.intake.s3_store import INBOX_PREFIX
from pipeline.intake.self_checks import ASK_AGAIN_AFTER_SECONDS, SelfChecks
from pipeline.intake.uploads import IngestRequest
from pipeline.web.passwords import hash_password
from tests.support.integrity import package
from tests.support.s3server import MotoS3, keys, read
from tests.support.stores import small_zip
from tests.support.websites import NOW, PASSWORD, REGISTRY, Site, csrf_of, login


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_server) -> Site:
    return Site(tmp_path_factory.mktemp("uploads") / "var", redis_url=redis_server.url)


def _token(client: TestClient) -> str:
    return csrf_of(client, "/upload")


def _start(client: TestClient, name: str, size: int, purpose: str = "submit", token: str | None = None):
    return client.post("/uploads", data={"csrf_token": token or _token(client), "name": name, "size": str(size),
                                         "purpose": purpose})


def _put(client: TestClient, upload_id: str, offset: int, body: bytes, token: str):
    return client.put(f"/uploads/{upload_id}?offset={offset}", content=body, headers={"X-CSRF-Token": token})


def _send(client: TestClient, blob: bytes, name: str, purpose: str = "submit", chunk: int = 100_000) -> dict:
    token = _token(client)
    started = _start(client, name, len(blob), purpose, token)
    assert started.status_code == 200, started.text
    upload_id = started.json()["id"]
    for at in range(0, len(blob), chunk):
        answer = _put(client, upload_id, at, blob[at:at + chunk], token)
        assert answer.status_code == 200 and answer.json()["offset"] == min(at + chunk, len(blob)), answer.text
    finished = client.post(f"/uploads/{upload_id}/finish", data={"csrf_token": token})
    assert finished.status_code == 200, finished.text
    return {"id": upload_id, **finished.json()}


def test_a_submitted_zip_lands_in_the_accounts_inbox_and_is_decided_as_an_sftp_upload(site: Site):
    made = package("新城区星火职业培训学校", 11)
    blob = made.zip()
    client = site.client("xinghuo")
    page = client.get("/upload")
    assert page.status_code == 200 and 'src="/static/upload.js"' in page.text and "webkitdirectory" in page.text
    finished = _send(client, blob, made.zip_name, chunk=len(blob) // 3 + 1)
    assert finished["next"].startswith("/")
    landed = site.composition.settings.inbox_dir / "xinghuo" / made.zip_name
    assert landed.read_bytes() == blob
    assert not any((site.composition.settings.data_dir / "uploads").iterdir())  # nothing staged is left
    home = client.get("/")
    assert "等待检查" in home.text and made.zip_name in home.text  # the clerk sees it waiting
    # the watcher's request for it, decided by the pipeline's own step: the account's package
    outcome = ingest(IngestRequest(f"xinghuo/{made.zip_name}", landed.stat().st_size, str(landed.stat().st_mtime_ns)),
                     site.composition.services)
    assert outcome is not None and outcome.status == "accepted"
    document = site.composition.services.store.read_document(outcome.location)
    assert document["source"]["account"] == "xinghuo" and document["package"]["size"] == len(blob)


def test_a_broken_line_resumes_where_the_server_stopped(site: Site):
    blob = small_zip("resume") * 1 + bytes(range(256)) * 1000
    client = site.client("xinghuo")
    token = _token(client)
    upload_id = _start(client, "续传.zip", len(blob), token=token).json()["id"]
    assert _put(client, upload_id, 0, blob[:70_000], token).json()["offset"] == 70_000
    # the browser lost the answer and sends the same chunk again: told where the server is
    again = _put(client, upload_id, 0, blob[:70_000], token)
    assert again.status_code == 409 and again.json()["offset"] == 70_000 and "继续" in again.json()["error"]
    assert client.get(f"/uploads/{upload_id}").json() == {"offset": 70_000, "size": len(blob)}
    early = client.post(f"/uploads/{upload_id}/finish", data={"csrf_token": token})
    assert early.status_code == 409 and early.json()["offset"] == 70_000  # not landed with bytes missing
    assert not (site.composition.settings.inbox_dir / "xinghuo" / "续传.zip").exists()
    assert _put(client, upload_id, 70_000, blob[70_000:], token).json()["offset"] == len(blob)
    assert client.post(f"/uploads/{upload_id}/finish", data={"csrf_token": token}).status_code == 200
    assert (site.composition.settings.inbox_dir / "xinghuo" / "续传.zip").read_bytes() == blob


@pytest.mark.parametrize("name, size, status, words", [
    ("材料.rar", 100, 400, "ZIP"),
    (".hidden.zip", 100, 400, "文件名"),
    ("../../etc/passwd.zip", 100, 400, "文件名"),
    ("a\u202eb.zip", 100, 400, "控制字符"),
    ("空.zip", 0, 400, "空"),
    ("太大.zip", 2**40, 413, "太大"),
])
def test_uploads_that_cannot_be_taken_are_refused_in_the_clerks_words(site: Site, name, size, status, words):
    client = site.client("xinghuo")
    answer = _start(client, name, size)
    assert answer.status_code == status and words in answer.json()["error"]
    assert not list((site.composition.settings.inbox_dir).rglob("passwd*"))


def test_a_chunk_never_goes_past_the_declared_size_nor_the_request_limit(site: Site):
    client = site.client("other")
    token = _token(client)
    upload_id = _start(client, "限制.zip", 1000, token=token).json()["id"]
    over = _put(client, upload_id, 0, b"x" * 1001, token)
    assert over.status_code == 413
    big_id = _start(client, "大.zip", MAX_REQUEST_BYTES * 2, token=token).json()["id"]
    assert _put(client, big_id, 0, b"x" * (MAX_REQUEST_BYTES + 1), token).status_code == 413
    # what was written before the refusal stays within the limit: the next chunk starts there
    assert client.get(f"/uploads/{big_id}").json()["offset"] <= MAX_REQUEST_BYTES


def test_an_account_has_only_a_few_uploads_open_at_once(tmp_path: Path):
    from pipeline.intake.browser_uploads import BrowserUploads, UploadRefused

    uploads = BrowserUploads(tmp_path / "uploads", tmp_path / "inbox", max_bytes=1000)
    for i in range(OPEN_PER_ACCOUNT):
        uploads.start("other", f"{i}.zip", 10, "submit")
    with pytest.raises(UploadRefused) as refused:
        uploads.start("other", "one-more.zip", 10, "submit")
    assert refused.value.status == 429 and str(OPEN_PER_ACCOUNT) in refused.value.message
    assert uploads.start("xinghuo", "another-account.zip", 10, "submit")  # per account


def test_csrf_is_required_on_every_step_that_changes_something(site: Site):
    client = site.client("xinghuo")
    token = _token(client)
    assert client.post("/uploads", data={"name": "a.zip", "size": "10", "purpose": "submit"}).status_code == 403
    upload_id = _start(client, "a.zip", 10, token=token).json()["id"]
    assert client.put(f"/uploads/{upload_id}?offset=0", content=b"0123456789").status_code == 403
    assert client.put(f"/uploads/{upload_id}?offset=0", content=b"0123456789",
                      headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.get(f"/uploads/{upload_id}").json()["offset"] == 0
    assert _put(client, upload_id, 0, b"0123456789", token).status_code == 200
    assert client.post(f"/uploads/{upload_id}/finish", data={}).status_code == 403
    assert not (site.composition.settings.inbox_dir / "xinghuo" / "a.zip").exists()


def test_every_upload_route_for_every_role_and_another_accounts_ids(site: Site):
    owner = site.client("xinghuo")
    token = _token(owner)
    upload_id = _start(owner, "mine.zip", 10, token=token).json()["id"]
    check = _send(site.client("xinghuo"), small_zip("rolecheck"), "自查.zip", purpose="self-check")
    check_page = check["next"]
    routes = [("GET", "/upload"), ("POST", "/uploads"), ("GET", f"/uploads/{upload_id}"),
              ("PUT", f"/uploads/{upload_id}?offset=0"), ("GET", f"/uploads/{upload_id}/parts/1"),
              ("POST", f"/uploads/{upload_id}/finish"), ("GET", check_page)]
    for role in ("anonymous", "other", "operator", "inspector"):
        client = site.client(role)
        own_token = csrf_of(client, "/") if role != "anonymous" else "x"
        for method, url in routes:
            answer = client.request(method, url, data={"csrf_token": own_token} if method == "POST" else None,
                                    headers={"X-CSRF-Token": own_token})
            if role == "anonymous":
                assert answer.status_code == 303 and answer.headers["location"] == "/login", (role, url)
            elif role == "other" and url == "/upload":
                assert answer.status_code == 200
            elif role == "other" and url == "/uploads":
                assert answer.status_code == 400  # its own (empty) upload: refused for what it is
            else:  # staff have no inbox; another institution's ids are as missing ones
                assert answer.status_code == 404 and "找不到" in answer.text, (role, method, url, answer.text)
    assert owner.get(f"/uploads/{upload_id}").json()["offset"] == 0  # nobody wrote into it


def test_a_self_check_is_queued_for_the_workers_and_shown_as_not_submitted(site: Site, redis_server):
    made = package("新城区星火职业培训学校", 12)
    client = site.client("xinghuo")
    client_redis = redis.Redis.from_url(redis_server.url)
    finished = _send(client, small_zip("not a package"), "自查一下.zip", purpose="self-check")
    check_id = finished["next"].rsplit("/", 1)[-1]
    assert re.fullmatch(r"[0-9a-f]{32}", check_id)
    # the message a worker takes: on the self-checks queue, for the self_check actor, with the id
    messages = [json.loads(m) for m in
                client_redis.hvals(f"{site.composition.settings.broker_namespace}:self-checks.msgs")]
    assert ("self_check", [check_id]) in [(m["actor_name"], m["args"]) for m in messages]
    waiting = client.get(finished["next"])
    assert waiting.status_code == 200 and "自查，未上报" in waiting.text and "等待检查" in waiting.text
    assert '<meta http-equiv="refresh"' in waiting.text

    # the worker's step (the actor calls exactly this)
    services = site.composition.services
    document = site.composition.self_checks.run(check_id, services.policy, services.work_dir / "sc", services.now)
    assert document is not None and document["status"] == "rejected"
    done = client.get(finished["next"])
    assert "自查，未上报" in done.text and "检查没有通过" in done.text and "办法" in done.text
    assert "回执编号" not in done.text and '<meta http-equiv="refresh"' not in done.text
    # nothing of a self-check is in the inbox, the catalogue or the archive
    assert not (site.composition.settings.inbox_dir / "xinghuo" / "自查一下.zip").exists()
    assert site.composition.catalogue.get(document["receipt_id"]) is None
    assert not (site.composition.settings.data_dir / "self-checks" / check_id / "package.zip").exists()
    # an accepted one says it may now be submitted
    good = _send(client, made.zip(), made.zip_name, purpose="self-check")
    good_id = good["next"].rsplit("/", 1)[-1]
    assert site.composition.self_checks.run(good_id, services.policy, services.work_dir / "sc2",
                                            services.now)["status"] == "accepted"
    assert "检查通过" in client.get(good["next"]).text


def test_a_self_check_whose_message_was_lost_is_asked_for_again(tmp_path: Path):
    now = [1_000_000.0]
    checks = SelfChecks(tmp_path / "self-checks", clock=lambda: now[0])
    staged = tmp_path / "staged.zip"
    staged.write_bytes(small_zip("lost"))
    check_id = checks.create(staged, "xinghuo", "lost.zip")
    found = checks.get(check_id)
    assert found["state"] == "waiting" and not checks.due_again(found)
    now[0] += ASK_AGAIN_AFTER_SECONDS + 1
    assert checks.due_again(checks.get(check_id))
    checks.asked_again(check_id)
    assert not checks.due_again(checks.get(check_id))
    assert checks.get("../../etc") is None and checks.get("0" * 31) is None


def test_a_self_check_with_redis_away_is_kept_and_the_page_says_it_waits(tmp_path: Path):
    site = Site(tmp_path / "var", redis_url="redis://127.0.0.1:1/0", packages=False)  # nothing listens there
    client = site.client("xinghuo")
    finished = _send(client, small_zip("no redis"), "无队列.zip", purpose="self-check")
    page = client.get(finished["next"])
    assert page.status_code == 200 and "等待检查" in page.text
    check_id = finished["next"].rsplit("/", 1)[-1]
    assert (site.composition.settings.data_dir / "self-checks" / check_id / "package.zip").is_file()


def test_with_an_s3_inbox_the_browser_puts_parts_straight_to_the_bucket(tmp_path: Path, moto_s3: MotoS3):
    buckets = moto_s3.new_buckets()
    data = tmp_path / "var"
    data.mkdir()
    (data / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    env = {"PIPELINE_DATA_DIR": str(data), "PIPELINE_WEB_SECRET": "s" * 40,
           "PIPELINE_INSTITUTIONS": str(data / "institutions.toml"), **moto_s3.env(buckets)}
    composition = Composition(load_settings(env=env), ledger=MemoryLedger(),
                              clock=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc))
    composition.web_accounts.put("xinghuo", "institution", "xinghuo", hash_password(PASSWORD), NOW)
    client = TestClient(composition.web_app(), base_url="http://testserver", follow_redirects=False)
    assert login(client, "xinghuo", PASSWORD).status_code == 303
    page = client.get("/upload")
    assert f"connect-src 'self' http://{moto_s3.endpoint}" in page.headers["content-security-policy"]
    blob = uuid.uuid4().bytes * (CHUNK_BYTES // 16) + b"the last part"  # two parts
    token = _token(client)
    started = _start(client, "直传.zip", len(blob), token=token).json()
    assert started["mode"] == "parts"
    upload_id = started["id"]
    first = client.get(f"/uploads/{upload_id}/parts/1").json()["url"]
    assert _put_presigned(first, blob[:CHUNK_BYTES]) == 200  # the browser's PUT, no cookie
    assert client.get(f"/uploads/{upload_id}").json()["parts"] == [1]  # resumes after part 1
    early = client.post(f"/uploads/{upload_id}/finish", data={"csrf_token": token})
    assert early.status_code == 409
    second = client.get(f"/uploads/{upload_id}/parts/2").json()["url"]
    assert _put_presigned(second, blob[CHUNK_BYTES:]) == 200
    assert client.get(f"/uploads/{upload_id}/parts/3").status_code == 404  # there is no third part
    assert client.post(f"/uploads/{upload_id}/finish", data={"csrf_token": token}).status_code == 200
    s3 = moto_s3.client()
    assert keys(s3, buckets.inbox) == [f"{INBOX_PREFIX}xinghuo/直传.zip"]  # where the bucket watcher looks
    assert read(s3, buckets.inbox, f"{INBOX_PREFIX}xinghuo/直传.zip") == blob
    assert not any((data / "uploads").iterdir())


def _put_presigned(url: str, body: bytes) -> int:
    """The browser's PUT of one part to the bucket: no cookie, no token, only the signed URL."""
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT",
                                                       headers={"Content-Type": "application/zip"}), timeout=30) as answer:
        return int(answer.status)


def test_an_upload_that_would_not_leave_the_disk_room_is_refused_before_a_byte(tmp_path: Path):
    import shutil

    from pipeline.intake.browser_uploads import FREE_MARGIN_BYTES, BrowserUploads, UploadRefused

    uploads = BrowserUploads(tmp_path / "uploads", tmp_path / "inbox", max_bytes=2**62)
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(UploadRefused) as refused:
        uploads.start("xinghuo", "大.zip", free - FREE_MARGIN_BYTES + 2**30, "submit")
    assert refused.value.status == 507 and "存储空间" in refused.value.message
    assert not list((tmp_path / "uploads").iterdir())
    assert uploads.start("xinghuo", "小.zip", 10, "submit").size == 10
