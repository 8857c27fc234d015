"""Every line a pipeline process writes to stderr is one JSON object (in JSON mode), even
what Python would print raw: an exception that kills a thread or the process, a warning,
a library's exception line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import structlog

from pipeline.app.logs import LogFile, configure_logging, rotate_log_file

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


def test_the_log_file_is_rotated_aside_and_its_writers_reopen_it(tmp_path: Path):
    path = tmp_path / "logs" / "pipeline.log"
    first, second = LogFile(path), LogFile(path)  # two processes' writers
    first.write('{"event": "a"}')
    second.write('{"event": "b"}\n')
    assert not rotate_log_file(path, max_bytes=1024)  # small: left alone
    assert rotate_log_file(path, max_bytes=10, keep=2)
    first.write('{"event": "c"}')
    second.write('{"event": "d"}')
    assert path.read_text().splitlines() == ['{"event": "c"}', '{"event": "d"}']
    assert (tmp_path / "logs" / "pipeline.log.1").read_text().splitlines() == ['{"event": "a"}', '{"event": "b"}']
    assert rotate_log_file(path, max_bytes=10, keep=2)
    first.write('{"event": "e"}')
    assert (tmp_path / "logs" / "pipeline.log.2").read_text().count("\n") == 2  # the oldest kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["pipeline.log", "pipeline.log.1", "pipeline.log.2"]
    assert path.read_text() == '{"event": "e"}\n'


def test_configured_logging_writes_masked_json_to_the_file_and_the_console_to_the_terminal(tmp_path: Path):
    path = tmp_path / "pipeline.log"
    terminal = io.StringIO()
    configure_logging("console", "info", stream=terminal, process_name="worker", log_file=path)
    try:
        structlog.get_logger().info("package.decided", source="xinghuo/a.zip", phone="13812345678")
        logging.getLogger("dramatiq.Worker").warning("a library line")
    finally:
        configure_logging("json", "info")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["event"] for line in lines] == ["package.decided", "a library line"]
    assert lines[0]["phone"] == "138****5678" and lines[0]["process"] == "worker"
    assert "package.decided" in terminal.getvalue() and not terminal.getvalue().startswith("{")
