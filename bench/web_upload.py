"""Upload throughput of the web (issue 18): a 300 MB package submitted through `pipeline web`
by the chunked protocol (pipeline/web/uploads.py) — by a plain HTTP client, and by Debian's
Chromium running the page's own script (static/upload.js) — against the floors of this
machine: copying the file on the same disk, and one SHA-256 pass over it. Also the web
process's peak memory while it takes the upload (it must not grow with the file).

    .venv/bin/python -m bench.web_upload [--mb 300] [--runs 3] [--no-browser]

Prints a Markdown table; nothing here is a test."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.app.redis_server import free_loopback_port  # noqa: E402
from pipeline.intake.browser_uploads import CHUNK_BYTES  # noqa: E402
from tests.support.websites import PASSWORD, REGISTRY, add_web_user  # noqa: E402  (the suite's registry and login)

MB = 1024 * 1024


class Web:
    """`pipeline web` on a fresh data folder with one institution login."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.data.mkdir(parents=True)
        (root / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
        self.port = free_loopback_port()
        self.env = {**os.environ, "PIPELINE_DATA_DIR": str(self.data), "PIPELINE_WEB_PORT": str(self.port),
                    "PIPELINE_INSTITUTIONS": str(root / "institutions.toml"), "PIPELINE_LOG_FORMAT": "json"}
        add_web_user(self.data, self.env, "星火", "institution", "xinghuo")
        self.log = open(root / "web.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "web"], env=self.env, cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/login")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("pipeline web did not start")
            time.sleep(0.2)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


class Client:
    """A logged-in HTTP/1.1 client on one kept-alive connection."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""
        token = self.token("/login")
        self.request("POST", "/login", urllib.parse.urlencode(
            {"name": "星火", "password": PASSWORD, "csrf_token": token}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.csrf = self.token("/upload")

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {**(headers or {}), "Cookie": self.cookie} if self.cookie else dict(headers or {})
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        cookie = response.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data

    def token(self, path: str) -> str:
        _, page = self.request("GET", path)
        found = re.search(rb'csrf_token" value="([^"]+)"|data-csrf="([^"]+)"', page)
        assert found, page[:500]
        return (found.group(1) or found.group(2)).decode()


def upload_by_client(web: Web, path: Path) -> float:
    """Seconds to submit ``path`` by the protocol, chunk by chunk from the file."""
    import json

    client = Client(web.port)
    started = time.perf_counter()
    form = urllib.parse.urlencode({"csrf_token": client.csrf, "name": path.name, "size": str(path.stat().st_size),
                                   "purpose": "submit"}).encode()
    status, body = client.request("POST", "/uploads", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    upload_id = json.loads(body)["id"]
    with open(path, "rb") as f:
        offset = 0
        while chunk := f.read(CHUNK_BYTES):
            status, body = client.request("PUT", f"/uploads/{upload_id}?offset={offset}", chunk,
                                          {"X-CSRF-Token": client.csrf, "Content-Type": "application/octet-stream"})
            assert status == 200, body
            offset += len(chunk)
    status, body = client.request("POST", f"/uploads/{upload_id}/finish",
                                  urllib.parse.urlencode({"csrf_token": client.csrf}).encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return time.perf_counter() - started


def upload_by_browser(web: Web, path: Path, profile: Path) -> float:
    """Seconds from picking ``path`` in the page to the page's own redirect after finishing."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chromium

    driver = chromium(profile)
    try:
        driver.get(web.address + "login")
        driver.find_element(By.NAME, "name").send_keys("星火")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form.logout"))
        driver.get(web.address + "upload")
        started = time.perf_counter()
        driver.find_element(By.CSS_SELECTOR, "#submit .pick-zip").send_keys(str(path))
        WebDriverWait(driver, 1800, poll_frequency=0.1).until(lambda d: "uploaded=1" in d.current_url)
        return time.perf_counter() - started
    finally:
        driver.quit()


def watch_rss(pid: int) -> tuple[Callable[[], float], threading.Event]:
    """The process's peak RSS (MB) while it runs, sampled every 50 ms."""
    peak = [0.0]
    stop = threading.Event()
    process = psutil.Process(pid)

    def sample() -> None:
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], process.memory_info().rss / MB)
            except psutil.Error:
                return
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    return (lambda: peak[0]), stop


def floors(path: Path) -> tuple[float, float]:
    started = time.perf_counter()
    shutil.copyfile(path, path.with_suffix(".copy"))
    with open(path.with_suffix(".copy"), "rb") as f:
        os.fsync(f.fileno())
    copy = time.perf_counter() - started
    path.with_suffix(".copy").unlink()
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MB):
            digest.update(block)
    return copy, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as scratch_name:
        scratch = Path(scratch_name)
        package = scratch / "新城区星火职业培训学校20261120.zip"
        with open(package, "wb") as f:  # incompressible bytes: what a ZIP of photos and videos is
            for _ in range(args.mb):
                f.write(os.urandom(MB))
        size_mb = package.stat().st_size / MB
        rows: dict[str, list[float]] = {"copy on the same disk": [], "one SHA-256 pass": [],
                                        "HTTP client, 8 MiB chunks": [], "Chromium, the page's script": []}
        peaks: list[float] = []
        for run in range(args.runs):
            copy, sha = floors(package)
            rows["copy on the same disk"].append(copy)
            rows["one SHA-256 pass"].append(sha)
            web = Web(scratch / f"client-{run}")
            peak, stop = watch_rss(web.proc.pid)
            try:
                rows["HTTP client, 8 MiB chunks"].append(upload_by_client(web, package))
                if not args.no_browser:
                    landed = web.data / "inbox" / "xinghuo" / package.name
                    landed.unlink()
                    rows["Chromium, the page's script"].append(upload_by_browser(web, package, scratch / f"profile-{run}"))
                    assert landed.stat().st_size == package.stat().st_size
            finally:
                stop.set()
                peaks.append(peak())
                web.stop()
                shutil.rmtree(scratch / f"client-{run}", ignore_errors=True)
        print(f"# Web upload of a {size_mb:.0f} MB package — {time.strftime('%Y-%m-%d')}, "
              f"{platform.node()}, {os.cpu_count()} cores, commit "
              f"{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=REPO).stdout.strip()}")
        print()
        print(f"| path | median s | MB/s (median) | spread s (min–max) over {args.runs} runs |")
        print("|---|---|---|---|")
        for name, seconds in rows.items():
            if not seconds:
                continue
            median = statistics.median(seconds)
            print(f"| {name} | {median:.2f} | {size_mb / median:.0f} | {min(seconds):.2f}–{max(seconds):.2f} |")
        print()
        print(f"`pipeline web`'s peak RSS while taking the uploads: {statistics.median(peaks):.0f} MB "
              f"(min–max {min(peaks):.0f}–{max(peaks):.0f}; the file is {size_mb:.0f} MB)")


if __name__ == "__main__":
    main()
