"""`pipeline run` serves the web application (issue 18): a clerk's login made with
`pipeline web-user add`, a package dropped into the account's inbox, and the clerk
following it over real HTTP to its receipt — the pipeline's own children (embedded Redis,
watcher, workers, web), a browser's requests made with urllib and a cookie jar."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.running import Pipeline, decisions, good_package
from tests.support.waiting import wait_until
from tests.support.websites import PASSWORD, add_web_user
from pipeline.app.redis_server import free_loopback_port as free_port

REGISTRY = """[[institution]]
name = "新城区星火职业培训学校"
email = ["office@xinghuo.example"]
accounts = ["xinghuo"]
"""



class Browser:
    """Requests with a cookie jar, following redirects, as a browser would."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.address + path.lstrip("/"), timeout=30) as response:
            return response.status, response.read().decode("utf-8")

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode("ascii")
        with self.opener.open(self.address + path.lstrip("/"), data=data, timeout=30) as response:
            return response.status, response.read().decode("utf-8")

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.get(path)[1])
        assert found
        return found.group(1)


def test_a_clerk_follows_a_dropped_package_to_its_receipt_in_the_browser(tmp_path: Path):
    (tmp_path / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    port = free_port()
    env = {"PIPELINE_INSTITUTIONS": str(tmp_path / "institutions.toml"), "PIPELINE_WEB_PORT": str(port)}
    data = tmp_path / "data"
    data.mkdir()  # web-user refuses a data folder that is not there (a mistyped PIPELINE_DATA_DIR)
    add_web_user(data, env, "星火", "institution", "xinghuo")
    pipeline = Pipeline(data, tmp_path / "pipeline.log", env)
    pipeline.start()
    try:
        started = next(e for e in pipeline.events() if e.get("event") == "supervisor.started")
        address = f"http://127.0.0.1:{port}/"
        assert started["web"] == address
        inbox = data / "inbox" / "xinghuo"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "新城区星火职业培训学校20261120.zip").write_bytes(good_package("web"))
        wait_until(lambda: len(decisions(data)) == 1, 120, message="the decision")
        [(folder, document)] = decisions(data).values()
        rid = document["receipt_id"]

        def served() -> bool:
            try:
                return Browser(address).get("/login")[0] == 200
            except OSError:
                return False

        wait_until(served, 60, message="the web child")
        browser = Browser(address)
        status, home = browser.post("/login", {"name": "星火", "password": PASSWORD,
                                               "csrf_token": browser.csrf("/login")})

        def listed() -> str | None:
            page = browser.get("/")[1]
            return page if rid in page else None  # the catalogue is written by the decided step

        home = wait_until(listed, 60, message="the package in the clerk's list")
        assert status == 200 and "我的上报" in home and "已受理" in home
        link = re.search(rf'href="(/packages/{rid})"', home)
        assert link, home
        status, page = browser.get(link.group(1))
        assert status == 200 and f"回执编号 {rid}：已受理" in page and "新城区星火职业培训学校20261120.zip" in page
        status, raw = browser.get(f"/packages/{rid}/document.json")
        assert json.loads(raw)["receipt_id"] == rid
    finally:
        pipeline.stop()
    assert any(e.get("event") == "web.stopped" for e in pipeline.events())
