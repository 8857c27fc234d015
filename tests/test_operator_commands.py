"""The operator commands as an operator types them, against a running pipeline: `pipeline
status`, `find`, `receipt`, `verify-archive` and `requeue` as subprocesses beside `pipeline
run` (its embedded Redis, real worker processes, the local store), and the metrics scraped
over HTTP. All slow.

The library behind these commands, called in this process: tests/test_operator_queries.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from pipeline.check.documents import schema_errors
from pipeline.app.redis_server import free_loopback_port
from tests.support.waiting import wait_until
from tests.support.packages import PackageBuilder, sample_package

pytestmark = pytest.mark.slow

STRICT = '[severity]\nW_PLEDGE_SCAN = "error"\n'
RAR = b"Rar!\x1a\x07\x01\x00" + bytes(range(256)) * 4
MINGDE = "东城区明德职业技能培训学校"


class Running:
    """`pipeline run` on one data directory; restartable with another environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "pipeline.log"
        self.metrics_port = free_loopback_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (root / "strict.toml").write_text(STRICT, encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "PIPELINE_POLICY", "PIPELINE_CONFIG", "PIPELINE_METRICS_PORT")}
        env.update(PIPELINE_DATA_DIR=str(self.data), PIPELINE_LOG_FORMAT="json", **extra)
        return env

    def start(self, **extra: str) -> None:
        env = self.env(PIPELINE_QUIET_PERIOD="0.3", PIPELINE_SCAN_INTERVAL="2", PIPELINE_WORKER_PROCESSES="2",
                       PIPELINE_WORKER_THREADS="2", PIPELINE_STALE_UPLOAD_TIMEOUT="600",
                       PIPELINE_METRICS_PORT=str(self.metrics_port), **extra)
        start = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_until(lambda: self.log.read_bytes()[start:].count(b'"worker.started"') >= 2
                   and b'"watcher.started"' in self.log.read_bytes()[start:], 60, message="pipeline start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            children = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.kill()
            for child in children:
                child.kill()

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """A `pipeline` command as the operator runs it: no REDIS_URL (the embedded one is
        found through the data directory)."""
        return subprocess.run([sys.executable, "-m", "pipeline", *args], env=self.env(**extra),
                              capture_output=True, text=True, timeout=120)

    def cli_json(self, *args: str, **extra: str) -> Any:
        done = self.cli(*args, "--json", **extra)
        assert done.returncode in (0, 1), done.stderr
        return json.loads(done.stdout)

    def drop(self, relative: str, blob: bytes) -> None:
        path = self.data / "inbox" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(blob)
        tmp.rename(path)

    def documents(self) -> dict[str, tuple[Path, dict[str, Any]]]:
        out = {}
        for area in ("archive", "quarantine"):
            for doc_path in (self.data / area).glob("*/*/*.json"):
                doc = json.loads(doc_path.read_text(encoding="utf-8"))
                out[doc["receipt_id"]] = (doc_path, doc)
        return out

    def by_name(self, name: str) -> tuple[Path, dict[str, Any]]:
        found = [(p, d) for p, d in self.documents().values() if d["package"]["name"] == name and not d.get("supersedes")]
        assert len(found) == 1, found
        return found[0]

    def mails(self) -> int:
        outbox = self.data / "outbox"
        return len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0


PACKAGES = {
    "xinghuo/星火20261120.zip": sample_package("ops-1"),
    "dc/dongcheng.zip": PackageBuilder(institution=MINGDE, tag="ops-2").zip_bytes(),
    "xinghuo/补交20261120.zip": PackageBuilder(pledge_scan=False, tag="ops-3").zip_bytes(),
    "wrong.zip": RAR,
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A pipeline under a strict policy (the pledge scan required) that decided four
    packages (2 accepted, 2 rejected) and has one upload still waiting in its inbox."""
    r = Running(tmp_path_factory.mktemp("ops"))
    r.start(PIPELINE_POLICY=str(r.root / "strict.toml"))
    try:
        for relative, blob in PACKAGES.items():
            r.drop(relative, blob)
        half = sample_package("ops-waiting")
        (r.data / "inbox" / "uploading.zip").write_bytes(half[:len(half) // 2])  # an upload broken off
        wait_until(lambda: len(r.documents()) == 4 and r.mails() == 4, 90, message="four decisions mailed")
        yield r
    finally:
        r.kill()


def test_status_counts_match_what_was_dropped(running: Running):
    def settled() -> Any:
        st = running.cli_json("status")
        return st if all(q == {"queued": 0, "delayed": 0, "dead": 0} for q in st["queues"].values()) else None

    st = wait_until(settled, 30, message="empty queues")
    assert st["decided"]["last_hour"] == {"accepted": 2, "rejected": 2, "duplicate": 0}
    assert st["decided"]["last_day"] == st["decided"]["all"] == st["decided"]["last_hour"]
    assert st["inbox"]["waiting"] == 1 and st["inbox"]["oldest"]["location"] == "uploading.zip"
    assert st["in_progress"] == {"count": 0, "packages": []}
    assert st["workers"]["alive"] == 2 and all(p["threads"] == 2 for p in st["workers"]["processes"])
    assert st["catalogue"]["decisions"] == 4
    # one time zone, the pipeline's (China Standard Time by default), in every time shown
    times = re.findall(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^"]*)"', json.dumps(st))
    assert len(times) >= 2 and all(t.endswith("+08:00") for t in times), times
    text = running.cli("status")
    assert text.returncode == 0 and "workers alive: 2" in text.stdout and "inbox: 1 waiting" in text.stdout


def test_find_by_receipt_id_sha256_name_fragment_and_institution(running: Running):
    path, doc = running.by_name("dongcheng.zip")
    rid = doc["receipt_id"]

    found = running.cli_json("find", rid)
    assert found["kind"] == "receipt_id" and [d["receipt_id"] for d in found["decisions"]] == [rid]
    hit = found["decisions"][0]
    assert hit["status"] == "accepted" and hit["institution"] == MINGDE
    assert Path(hit["zip"]) == path.parent / "dongcheng.zip" and Path(hit["document"]) == path

    sha = hashlib.sha256(PACKAGES["xinghuo/星火20261120.zip"]).hexdigest()
    found = running.cli_json("find", sha)
    assert found["kind"] == "sha256"
    assert [d["receipt_id"] for d in found["decisions"]] == [running.by_name("星火20261120.zip")[1]["receipt_id"]]

    found = running.cli_json("find", "补交")
    assert [(d["name"], d["status"], d["error_codes"]) for d in found["decisions"]] == [
        ("补交20261120.zip", "rejected", ["W_PLEDGE_SCAN"])]
    assert Path(found["decisions"][0]["zip"]).is_file()

    found = running.cli_json("find", "明德职业")  # only in the institution's name
    assert [d["receipt_id"] for d in found["decisions"]] == [rid]

    found = running.cli_json("find", "uploading")  # not decided yet: waiting in the inbox
    assert found["decisions"] == [] and [w["location"] for w in found["waiting"]] == ["uploading.zip"]

    nothing = running.cli("find", "no-such-package")
    assert nothing.returncode == 1 and "nothing found" in nothing.stdout

    # a part of a receipt id, as a clerk quotes it on the phone
    for fragment in (rid[-8:], rid[:14], rid[-8:].lower()):
        found = running.cli_json("find", fragment)
        assert rid in [d["receipt_id"] for d in found["decisions"]], fragment


def test_find_into_a_reader_that_stops_early_prints_no_traceback(running: Running):
    # `pipeline find zip | head -1`: the reader is gone before the command writes
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "find", "zip"], env=running.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_receipt_readable_and_raw(running: Running):
    path, doc = running.by_name("补交20261120.zip")
    text = running.cli("receipt", doc["receipt_id"])
    assert text.returncode == 0
    assert f"回执编号 {doc['receipt_id']}" in text.stdout and "未通过" in text.stdout
    assert "1. W_PLEDGE_SCAN" in text.stdout and str(path.parent / "补交20261120.zip") in text.stdout
    raw = running.cli("receipt", doc["receipt_id"], "--json")
    assert json.loads(raw.stdout) == doc
    assert running.cli("receipt", "R20991231-00000000").returncode == 1


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(pipeline_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def test_metrics_scraped_over_http_show_the_counts(running: Running):
    def scraped() -> dict[str, float] | None:
        try:
            m = _metrics(running.metrics_port)
        except OSError:
            return None
        # a mail is counted just after its .eml is written (the fixture waits for the files):
        # wait for the last count to land too
        return m if m.get('pipeline_mails_total{result="sent"}') == 4 else None

    m = wait_until(scraped, 30, message="the metrics endpoint, every mail counted")
    assert m["pipeline_metrics_up"] == 1
    assert m['pipeline_packages_decided_total{status="accepted"}'] == 2
    assert m['pipeline_packages_decided_total{status="rejected"}'] == 2
    assert m['pipeline_packages_decided_total{status="duplicate"}'] == 0
    assert m['pipeline_decision_errors_total{code="W_PLEDGE_SCAN"}'] == 1
    assert m['pipeline_decision_errors_total{code="PKG_NOT_ZIP"}'] == 1
    assert m["pipeline_processed_bytes_total"] == sum(len(b) for b in PACKAGES.values())
    assert m["pipeline_decision_seconds_count"] == 4 and m['pipeline_decision_seconds_bucket{le="+Inf"}'] == 4
    assert 0 < m["pipeline_decision_seconds_sum"] < 60
    assert m['pipeline_mails_total{result="sent"}'] == 4 and m['pipeline_mails_total{result="unknown"}'] == 0
    assert m["pipeline_inbox_waiting"] == 1 and m["pipeline_inbox_oldest_seconds"] > 0
    assert m['pipeline_queue_messages{queue="packages",state="queued"}'] == 0
    assert m["pipeline_workers_alive"] == 2 and m["pipeline_in_progress"] == 0


def test_verify_archive_detects_a_zip_altered_on_disk(running: Running):
    ok = running.cli("verify-archive")
    assert ok.returncode == 0 and "2 ok, 0 problem" in ok.stdout
    path, doc = running.by_name("星火20261120.zip")
    zip_path = path.parent / "星火20261120.zip"
    original = zip_path.read_bytes()
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0x01  # one bit, same size
    zip_path.write_bytes(bytes(altered))
    try:
        bad = running.cli("verify-archive")
        assert bad.returncode == 1
        assert "MISMATCH" in bad.stdout and doc["receipt_id"] in bad.stdout and str(zip_path) in bad.stdout
        report = running.cli_json("verify-archive", "--sample", "2")
        assert report["checked"] == 2 and report["ok"] == 1
        [problem] = report["problems"]
        assert problem["receipt_id"] == doc["receipt_id"] and problem["problem"] == "mismatch"
        assert problem["actual_sha256"] == hashlib.sha256(bytes(altered)).hexdigest()
    finally:
        zip_path.write_bytes(original)
    assert running.cli("verify-archive").returncode == 0


def test_requeue_under_a_relaxed_policy_makes_one_new_decision_naming_the_old(running: Running):
    old_path, old_doc = running.by_name("补交20261120.zip")
    old_rid, old_bytes = old_doc["receipt_id"], old_path.read_bytes()
    rar_rid = running.by_name("wrong.zip")[1]["receipt_id"]

    # What would change, before the policy is relaxed for the workers: nothing is stored.
    [dry] = running.cli_json("requeue", old_rid, "--dry-run")
    assert (dry["action"], dry["old_status"], dry["old_error_codes"]) == ("dry_run", "rejected", ["W_PLEDGE_SCAN"])
    assert (dry["new_status"], dry["new_error_codes"], dry["new_warning_codes"]) == ("accepted", [], ["W_PLEDGE_SCAN"])
    assert len(running.documents()) == 4

    running.stop()
    running.start()  # the shipped policy: a missing pledge scan is a warning
    [done] = running.cli_json("requeue", old_rid, "--wait", "60")
    assert done["action"] == "decided" and done["new_status"] == "accepted"
    new_rid = done["new_receipt_id"]
    assert new_rid != old_rid

    docs = running.documents()
    assert len(docs) == 5
    new_path, new_doc = docs[new_rid]
    assert new_doc["supersedes"] == old_rid and new_doc["status"] == "accepted" and schema_errors(new_doc) == []
    assert new_path.parent.parent.parent.name == "archive"
    assert (new_path.parent / "补交20261120.zip").read_bytes() == PACKAGES["xinghuo/补交20261120.zip"]
    assert new_doc["source"] == old_doc["source"] and new_doc["received_at"] == old_doc["received_at"]
    # the old decision is kept as it was
    assert old_path.read_bytes() == old_bytes
    assert (old_path.parent / "补交20261120.zip").read_bytes() == PACKAGES["xinghuo/补交20261120.zip"]

    # again: no third decision
    [again] = running.cli_json("requeue", old_rid, "--wait", "5")
    assert (again["action"], again["new_receipt_id"], again["new_status"]) == ("already_decided", new_rid, "accepted")
    time.sleep(1)
    assert len(running.documents()) == 5
    assert [d["receipt_id"] for _, d in running.documents().values() if d.get("supersedes") == old_rid] == [new_rid]

    found = running.cli_json("find", old_rid)["decisions"][0]
    assert found["superseded_by"] == new_rid
    # by day and code: the RAR is re-checked (and stays rejected); the re-checked one is not chosen again
    selected = running.cli_json("requeue", "--since", old_doc["decided_at"][:10], "--code", "PKG_NOT_ZIP",
                                "--code", "W_PLEDGE_SCAN", "--wait", "60")
    assert [(r["receipt_id"], r["action"], r["new_status"], r["new_error_codes"]) for r in selected] == [
        (rar_rid, "decided", "rejected", ["PKG_NOT_ZIP"])]
    assert running.cli_json("requeue", "--code", "PKG_NOT_ZIP") == []
    wait_until(lambda: running.mails() == 6, 30, message="a receipt mail per new decision")


def test_reading_commands_work_from_the_store_alone_with_the_pipeline_stopped(tmp_path: Path):
    """find, receipt, verify-archive and status with no pipeline running (no Redis): they
    read the catalogue (filled from the stored documents when empty) and the store; status
    says what only Redis knows is unknown; requeue, which needs Redis, says so. Before
    issue 17 they needed a throw-away Redis; before that they failed with "REDIS_URL is not set"."""
    from pipeline.intake.deciding import ingest
    from pipeline.intake.ledger import MemoryLedger
    from tests.support.stores import LocalHarness, small_zip

    data = tmp_path / "var"
    fs = LocalHarness(data, MemoryLedger())
    outcome = ingest(fs.drop("xinghuo/星火20261120.zip", small_zip("stopped")), fs.services)
    assert outcome is not None
    rid = outcome.receipt_id
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PIPELINE_DATA_DIR")}

    def cli(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    found = cli("find", rid[-8:], "--json")  # the default data folder: ./var
    assert found.returncode == 0, found.stderr
    assert [d["receipt_id"] for d in json.loads(found.stdout)["decisions"]] == [rid]
    receipt = cli("receipt", rid)
    assert receipt.returncode == 0 and f"回执编号 {rid}" in receipt.stdout
    verified = cli("verify-archive", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["checked"] == 1
    # from another folder: the command says where it looked
    elsewhere = cli("find", rid, cwd=tmp_path / "var" / "archive")
    assert elsewhere.returncode == 2 and f"no pipeline data folder at {data / 'archive' / 'var'}" in elsewhere.stderr
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert st["redis"]["reachable"] is False and "REDIS_URL is not set" in st["redis"]["problem"]
    assert (st["queues"], st["workers"]["alive"], st["decided"]["all"]["accepted"]) == (None, None, 1)
    assert "queues and workers: unknown, Redis cannot be reached" in cli("status").stdout
    requeue = cli("requeue", rid)
    assert requeue.returncode == 2 and "REDIS_URL is not set" in requeue.stderr


def test_every_command_help_lists_the_settings_it_reads():
    """Issue 15: an operator looks at --help first; every setting is explained somewhere."""
    from pipeline.app.cli import build_parser
    from pipeline.app.settings import ENV_NAMES
    from pipeline.app.settings_help import COMMAND_SETTINGS, SETTING_HELP

    assert set(SETTING_HELP) == set(ENV_NAMES)  # every setting has its line, nothing else
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("run", "watch", "worker", "status", "find", "receipt", "requeue", "verify-archive"):
        text = subprocess.run([sys.executable, "-m", "pipeline", name, "--help"], capture_output=True, text=True,
                              timeout=60).stdout
        assert "settings (environment variables" in text, name
        for env in COMMAND_SETTINGS.get(name, ("PIPELINE_DATA_DIR", "REDIS_URL", "PIPELINE_STORAGE")):
            assert env in text, (name, env)
    run_help = commands["run"].format_help()
    assert all(env in run_help for env in ENV_NAMES) and "[default: var]" in run_help
    for secret in ("S3_SECRET_KEY", "SMTP_URL"):  # no value is ever shown for a secret
        line = next(line for line in run_help.splitlines() if line.strip().startswith(secret))
        assert "[default" not in line
    assert "settings: none" in commands["check"].format_help()
    assert "docs/operations.md" in commands["status"].format_help()  # --json and its keys
