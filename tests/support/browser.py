"""Debian's Chromium driven by Selenium through Debian's chromedriver (both installed by
`make browser-deps`; no browser or driver is downloaded): headless, with the flags a closed
network needs, a profile of its own, and screenshots kept as test artefacts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.websites import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: where the screenshots go (kept after the run: look at them; .gitignore'd)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1400", "--mute-audio",
         "--autoplay-policy=no-user-gesture-required", "--lang=zh-CN")


def chromium(profile: Path) -> webdriver.Chrome:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        raise RuntimeError("Chromium and chromedriver are missing: run `make browser-deps` (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole page as build/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 40, 6000)))
    driver.save_screenshot(str(path))
    return path


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh Chromium with its own profile for one test (conftest offers it to every test)."""
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: webdriver.Chrome, address: str, name: str, password: str = PASSWORD) -> None:
    """Log in through the log-in form, as a person would, and wait for the logged-in page."""
    driver.get(address + "login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "form.logout"))
