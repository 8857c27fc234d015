"""The web application in a real browser (issue 18): Debian's Chromium, driven by Selenium,
against `pipeline web` on a data folder with real decisions. A clerk logs in through the
form and sees their packages; an inspector opens an accepted package whose thumbnails load
and whose video actually plays (its readyState and currentTime advance, the bytes coming
by HTTP range requests out of the archived ZIP); an institution asking for another's
package by its URL gets the not-found page. Screenshots: build/screenshots/."""

from __future__ import annotations

from typing import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import log_in, screenshot
from tests.support.websites import Site, web_process

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium at a time on two cores


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site(tmp_path_factory.mktemp("browser") / "var")


@pytest.fixture(scope="module")
def address(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with web_process(site.env, tmp_path_factory.mktemp("web") / "web.log") as served:
        yield served




def test_a_clerk_logs_in_and_follows_a_link_to_a_receipt(browser, address: str, site: Site):
    log_in(browser, address, "xinghuo")
    assert "我的上报" in browser.find_element(By.TAG_NAME, "h1").text
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "table.list a")]
    assert {address + f"packages/{site.receipts['xinghuo']}", address + f"packages/{site.receipts['accepted']}"} \
        == set(links)
    screenshot(browser, "clerk-home")
    browser.find_element(By.LINK_TEXT, site.receipts["xinghuo"]).click()
    heading = WebDriverWait(browser, 30).until(lambda b: b.find_element(By.TAG_NAME, "h1")).text
    assert heading == f"回执编号 {site.receipts['xinghuo']}：未通过"
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.file li")) >= 5  # the errors, with hints
    screenshot(browser, "clerk-rejected-package")


def test_an_inspector_sees_the_thumbnails_and_the_video_plays(browser, address: str, site: Site):
    log_in(browser, address, "inspector")
    browser.get(address + f"packages/{site.receipts['accepted']}")
    images = browser.find_elements(By.CSS_SELECTOR, "section.media img")
    assert len(images) == len(site.accepted.photos) + 1  # every section's photos and the pledge scan
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(
        "return Array.from(document.querySelectorAll('section.media img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"))
    video = browser.find_elements(By.CSS_SELECTOR, "section.media video")[0]
    browser.execute_script("arguments[0].muted = true; arguments[0].play();", video)
    WebDriverWait(browser, 60).until(lambda b: b.execute_script(
        "return arguments[0].readyState >= 3 && arguments[0].currentTime > 0.5", video))
    assert browser.execute_script("return arguments[0].error", video) is None
    assert browser.execute_script("return arguments[0].duration", video) > 60  # the sample's 2:30
    screenshot(browser, "inspector-package-media")


def test_an_institution_guessing_another_ones_package_url_is_told_it_is_not_there(browser, address: str,
                                                                                   site: Site):
    log_in(browser, address, "other")
    browser.get(address + f"packages/{site.receipts['accepted']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "找不到这个页面"
    assert "新城区星火" not in browser.page_source
    screenshot(browser, "other-institution-denied")


def test_the_dashboard_draws_its_charts(browser, address: str):
    log_in(browser, address, "operator")
    browser.find_element(By.LINK_TEXT, "运行概况").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "svg.chart"))
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    assert bars and all(bar.size["width"] > 0 for bar in bars[:3])  # laid out, not just in the markup
    screenshot(browser, "operator-dashboard")
