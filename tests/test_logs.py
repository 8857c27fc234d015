"""Every line a pipeline process writes to stderr is one JSON object (in JSON mode), even
what Python would print raw: an exception that kills a thread or the process, a warning,
a library's exception line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROGRAM = """
import logging, threading, time, warnings
from pipeline.app.logs import configure_logging
configure_logging("json", "info", process_name="worker")
threading.Thread(target=lambda: 1 / 0, name="consumer").start()
time.sleep(0.2)
warnings.warn("an old call", DeprecationWarning)
logging.getLogger("dramatiq.worker").exception("Unexpected failure", exc_info=ValueError("boom"))
raise RuntimeError("the main thread died")
"""


def test_crashes_warnings_and_library_tracebacks_are_one_json_line_each():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    result = subprocess.run([sys.executable, "-W", "always", "-c", PROGRAM], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    events = [json.loads(line) for line in lines]  # every line parses
    by_event = {e["event"]: e for e in events}
    assert by_event["thread.crashed"]["thread"] == "consumer" and "ZeroDivisionError" in by_event["thread.crashed"]["exception"]
    assert "ValueError: boom" in by_event["Unexpected failure"]["exception"]
    assert by_event["process.crashed"]["level"] == "critical" and "the main thread died" in by_event["process.crashed"]["exception"]
    assert any("an old call" in e["event"] and e.get("logger") == "py.warnings" for e in events)
    assert len(lines) == 4 and all(e.get("process") == "worker" for e in events)
