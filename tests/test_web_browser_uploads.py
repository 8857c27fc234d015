"""A clerk with only a browser (issue 18), against `pipeline run` (embedded Redis, watcher,
workers, the web child): Debian's Chromium through Selenium picks a ZIP and submits it — the
progress bar climbs, the line drops (Chromium's network emulation goes offline) and the
upload resumes by itself — and follows it to its receipt; picks a whole folder for a
self-check, zipped in the page, checked by the workers, shown as 自查，未上报 and never
submitted. Screenshots: build/screenshots/."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipeline.app.redis_server import free_loopback_port
from tests.support.browser import log_in, screenshot
from tests.support.running import Pipeline, decisions
from tests.support.integrity import package
from tests.support.waiting import wait_until
from tests.support.websites import add_web_user

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium at a time on two cores

INSTITUTION = "新城区星火职业培训学校"
REGISTRY = f"""[[institution]]
name = "{INSTITUTION}"
email = ["office@xinghuo.example"]
accounts = ["xinghuo"]
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`pipeline run` with its web child; a clerk's login made by `pipeline web-user add`."""
    root = tmp_path_factory.mktemp("uploads-browser")
    (root / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    port = free_loopback_port()
    env = {"PIPELINE_INSTITUTIONS": str(root / "institutions.toml"), "PIPELINE_WEB_PORT": str(port)}
    data = root / "data"
    data.mkdir()
    add_web_user(data, env, "星火", "institution", "xinghuo")
    pipeline = Pipeline(data, root / "pipeline.log", env)
    pipeline.start()
    address = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: _answers(address), 60, message="the web child")
        yield address, data
    finally:
        pipeline.stop()


def _answers(address: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(address + "login", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False




def _line(browser, *, offline: bool, upload_bytes_per_s: int = -1) -> None:
    """Chromium's own network emulation: a slow line, or none at all."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 20, "downloadThroughput": -1, "uploadThroughput": upload_bytes_per_s})


def test_a_clerk_submits_a_zip_over_a_slow_line_that_breaks_and_follows_it_to_its_receipt(
        browser, served: tuple[str, Path], tmp_path: Path):
    address, data = served
    made = package(INSTITUTION, 21)
    # Windows' thumbnail cache, ignored by the checks: makes the upload three chunks long
    made.files["Thumbs.db"] = os.urandom(18 * 2**20)
    zip_path = tmp_path / made.zip_name
    zip_path.write_bytes(made.zip())
    log_in(browser, address, "星火")
    browser.find_element(By.LINK_TEXT, "上报与自查").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#submit .pick-zip"))
    size = zip_path.stat().st_size
    _line(browser, offline=False, upload_bytes_per_s=max(size // 6, 50_000))  # about six seconds of upload
    browser.find_element(By.CSS_SELECTOR, "#submit .pick-zip").send_keys(str(zip_path))
    seen: list[float] = []

    def climbing() -> bool:
        value = browser.execute_script(
            "var p = document.querySelector('#submit progress'); return p && !p.closest('[hidden]') ? p.value : null")
        if value is not None and 0 < value < size and value not in seen:
            seen.append(value)
        return len(seen) >= 2

    WebDriverWait(browser, 60, poll_frequency=0.2).until(lambda b: climbing())
    screenshot(browser, "clerk-upload-progress")
    _line(browser, offline=True)  # the line drops mid-upload
    WebDriverWait(browser, 60).until(lambda b: "自动重试" in b.find_element(By.CSS_SELECTOR, "#submit .message").text)
    screenshot(browser, "clerk-upload-retrying")
    _line(browser, offline=False)
    # the upload resumes by itself, lands in the inbox and the page goes to the clerk's list
    WebDriverWait(browser, 120).until(lambda b: b.current_url.startswith(address + "?uploaded"))
    assert seen == sorted(seen)  # the bar only climbs
    wait_until(lambda: any(d["package"]["name"] == made.zip_name for _, d in decisions(data).values()), 120,
               message="the submitted package decided")
    [(_, document)] = [v for v in decisions(data).values() if v[1]["package"]["name"] == made.zip_name]
    assert document["status"] == "accepted" and document["source"]["account"] == "xinghuo"
    assert document["package"]["size"] == size and document["ignored"]  # byte for byte, Thumbs.db and all
    assert document["package"]["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    rid = document["receipt_id"]

    def listed() -> bool:
        browser.get(address)
        return bool(browser.find_elements(By.LINK_TEXT, rid))

    wait_until(listed, 60, message="the receipt in the clerk's list")
    browser.find_element(By.LINK_TEXT, rid).click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "h1").text == f"回执编号 {rid}：已受理")
    screenshot(browser, "clerk-uploaded-receipt")


def test_a_clerk_self_checks_a_whole_folder_zipped_in_the_page(browser, served: tuple[str, Path], tmp_path: Path):
    address, data = served
    made = package(INSTITUTION, 22)
    folder_root = tmp_path / "picked"
    zip_path = tmp_path / made.zip_name
    zip_path.write_bytes(made.zip())
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder_root)
    [top] = list(folder_root.iterdir())  # the package's one top folder, as a clerk has it on disk
    log_in(browser, address, "星火")
    browser.get(address + "upload")
    before = set(decisions(data))
    browser.find_element(By.CSS_SELECTOR, "#self-check .pick-folder").send_keys(str(top))
    WebDriverWait(browser, 120).until(lambda b: "/self-checks/" in b.current_url)
    WebDriverWait(browser, 120, poll_frequency=1).until(
        lambda b: (b.refresh() or True) and "检查通过" in b.find_element(By.TAG_NAME, "main").text)
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "自查，未上报" in main and f"{top.name}.zip" in main and "回执编号" not in main
    screenshot(browser, "clerk-folder-self-check")
    assert set(decisions(data)) == before  # nothing was submitted
    assert not [p for p in (data / "inbox").rglob("*") if p.is_file()]

