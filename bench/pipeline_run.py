"""`pipeline run` started for a measurement (the bench and the soak share it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


def start_pipeline_run(env: dict[str, str], log_path: Path,
                       timeout: float = 60) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """`pipeline run` in the background with its log in ``log_path``, once its watcher
    has started: (the process, the open log file)."""
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout
    while b"watcher.started" not in log_path.read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"pipeline run did not start (see {log_path})")
        time.sleep(0.1)
    return proc, log
