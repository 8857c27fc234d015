"""``pipeline run`` as a subprocess (its embedded Redis, watcher and real workers), and
reading what it decided."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from tests.support.packages import sample_package
from tests.support.waiting import wait_until


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def good_package(tag: str) -> bytes:
    """A package that passes every check; ``tag`` makes its bytes differ."""
    return sample_package(tag)


class Pipeline:
    def __init__(self, data: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.data, self.log = data, log
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(PIPELINE_DATA_DIR=str(self.data), PIPELINE_QUIET_PERIOD="0.5",
                   PIPELINE_STALE_UPLOAD_TIMEOUT="3",
                   PIPELINE_SCAN_INTERVAL="2", PIPELINE_WORKER_PROCESSES="2", PIPELINE_WORKER_THREADS="2",
                   PIPELINE_LOG_FORMAT="json", PIPELINE_MIN_BACKOFF_MS="200")
        env.update(self.extra_env)
        started_before = self._watchers_started()
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        # the log is appended to across starts: this start's watcher, not the last one's
        wait_until(lambda: self._watchers_started() > started_before, 60, message="watcher start")

    def _watchers_started(self) -> int:
        return self.log.read_text(errors="replace").count('"watcher.started"') if self.log.exists() else 0

    def kill(self) -> None:
        """Kill the pipeline and every process it started, if it still runs (a fixture's end)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        import psutil

        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.kill()
        for child in children:
            child.kill()

    def stop(self) -> float:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        return time.monotonic() - started

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def decisions(data: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """receipt_id -> (decision folder, document) for everything decided so far."""
    out = {}
    for area in ("archive", "quarantine"):
        for doc_path in (data / area).glob("*/*/*.json"):
            doc = json.loads(doc_path.read_text(encoding="utf-8"))
            out[doc["receipt_id"]] = (doc_path.parent, doc)
    return out


def by_name(data: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    for folder, doc in decisions(data).values():
        if doc["package"]["name"] == name:
            return folder, doc
    return None


def inbox_files(data: Path) -> list[Path]:
    return [p for p in (data / "inbox").rglob("*") if p.is_file()]
