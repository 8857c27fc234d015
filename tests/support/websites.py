"""A data folder with real decisions and the web application on it, for the web tests
(tests/test_web.py over HTTP in process, tests/test_web_browser.py in Chromium)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from starlette.testclient import TestClient

from pipeline.app.compose import Composition
from pipeline.app.redis_server import free_loopback_port
from pipeline.app.settings import load_settings
from pipeline.intake.deciding import ingest
from pipeline.intake.ledger import MemoryLedger
from pipeline.intake.uploads import IngestRequest
from pipeline.ops.catalogue_tasks import record_decision
from pipeline.web.passwords import hash_password
from tests.support.integrity import package
from tests.support.stores import small_zip

PASSWORD = "correct horse battery"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

REGISTRY = """[[institution]]
name = "新城区星火职业培训学校"
email = ["office@xinghuo.example"]
accounts = ["xinghuo"]

[[institution]]
name = "东方职业培训学校"
email = ["office@dongfang.example"]
accounts = ["other"]
"""



class Site:
    """A data directory with two institutions' decisions (xinghuo: one rejected and one
    accepted with its trainees in the catalogue; other: one rejected), the logins of every
    role and the web application on it. Decided as the workers do: ingest with every check,
    then the decided step's record, on a clock of the day after the packages' report date."""

    def __init__(self, data: Path, redis_url: str | None = None, packages: bool = True) -> None:
        data.mkdir(parents=True)
        (data / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
        env = {"PIPELINE_DATA_DIR": str(data), "PIPELINE_WEB_SECRET": "s" * 40,
               "PIPELINE_INSTITUTIONS": str(data / "institutions.toml")}
        if redis_url:  # the queue, for requeue (its own namespace on the shared test server)
            env.update(REDIS_URL=redis_url, PIPELINE_NAMESPACE=f"web-{uuid.uuid4().hex[:8]}")
        self.env = env
        self.composition = Composition(load_settings(env=env), ledger=MemoryLedger(),
                                       clock=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc))
        self.receipts: dict[str, str] = {}
        if packages:  # (``packages=False``: the logins only, for tests of what needs no package)
            self.accepted = package("新城区星火职业培训学校", 7)
            self.receipts["xinghuo"] = self.decide("xinghuo", "星火职业培训学校20261120.zip", small_zip("xinghuo"))
            self.receipts["other"] = self.decide("other", "东方职业培训学校20261120.zip", small_zip("other"))
            self.receipts["accepted"] = self.decide("xinghuo", self.accepted.zip_name, self.accepted.zip())
        accounts = self.composition.web_accounts
        accounts.put("xinghuo", "institution", "xinghuo", hash_password(PASSWORD), NOW)
        accounts.put("other", "institution", "other", hash_password(PASSWORD), NOW)
        accounts.put("operator", "operator", None, hash_password(PASSWORD), NOW)
        accounts.put("inspector", "inspector", None, hash_password(PASSWORD), NOW)
        self.app = self.composition.web_app()

    def decide(self, account: str, name: str, zip_bytes: bytes) -> str:
        store = self.composition.services.store
        path = store.inbox / account / name  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zip_bytes)
        outcome = ingest(IngestRequest(f"{account}/{name}", path.stat().st_size, str(path.stat().st_mtime_ns)),
                         self.composition.services)
        assert outcome is not None
        record_decision(store, self.composition.catalogue, outcome.receipt_id, outcome.location)
        return outcome.receipt_id

    def client(self, role: str = "anonymous") -> TestClient:
        client = TestClient(self.app, base_url="http://testserver", follow_redirects=False)
        if role != "anonymous":
            response = login(client, role, PASSWORD)
            assert response.status_code == 303 and response.headers["location"] == "/", response.text
        return client


def add_web_user(data: Path, env: dict[str, str], name: str, role: str, account: str | None = None,
                 password: str = PASSWORD) -> None:
    """`pipeline web-user add` as an operator types it (the password on standard input)."""
    import os

    command = [sys.executable, "-m", "pipeline", "web-user", "add", name, "--role", role]
    added = subprocess.run(command + (["--account", account] if account else []), input=password + "\n",
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env, "PIPELINE_DATA_DIR": str(data)})
    assert added.returncode == 0, added.stderr


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def login(client: TestClient, name: str, password: str) -> Any:
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(client)})


@contextlib.contextmanager
def web_process(env: dict[str, str], log: Path) -> Iterator[str]:
    """`pipeline web` on a free loopback port with ``env`` (its JSON log lines in ``log``);
    yields its address once it answers. At the end: SIGTERM, and the process must exit 0
    having logged its start at that address and its stop."""
    port = free_loopback_port()
    env = {**env, "PIPELINE_WEB_PORT": str(port), "PIPELINE_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"}
    address = f"http://127.0.0.1:{port}/"
    with open(log, "w", encoding="utf-8") as err:
        process = subprocess.Popen([sys.executable, "-m", "pipeline", "web"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=err, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(address + "login", timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text(encoding="utf-8", errors="replace"))
                time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0  # SIGTERM: the requests under way finished, a clean exit
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        started = [json.loads(line) for line in lines if '"web.started"' in line]
        assert [e["address"] for e in started] == [address] and any('"web.stopped"' in line for line in lines)
