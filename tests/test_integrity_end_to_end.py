"""Issue 17 end to end, through `pipeline run` (its embedded Redis, watcher and real
workers) with the embedded SQLite catalogue and with a real PostgreSQL one: two packages of
two institutions sharing a photo (identical, and saved again at another quality), a
trainee signing in at both on one day, and a teacher teaching 6 + 6 hours at both on one
date; `pipeline trace` finds the trainee's trainings, `pipeline integrity report` lists
the pairs both ways, and the catalogue rebuilt from the archive equals the live one."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from pipeline.check.privacy import mask_id
from tests.support.integrity import catalogue_dump, package, reencoded
from tests.support.leaks import leaks
from tests.support.postgres import PostgresServer
from tests.support.running import Pipeline, decisions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

KEY = "0123456789abcdef" * 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The pipeline's catalogue settings: none (the embedded default, which makes its own
    key), or a PostgreSQL DATABASE_URL with its required key."""
    if request.param == "sqlite":
        return {}
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return {"DATABASE_URL": server.fresh_database(), "PIPELINE_CATALOGUE_KEY": KEY}


@pytest.fixture
def pipeline(tmp_path: Path, database: dict[str, str]) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path / "data", tmp_path / "pipeline.log", env=database)
    p.start()
    yield p
    p.kill()


def cli(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    full.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json", **env)
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=full, capture_output=True, text=True,
                          timeout=300)


def drop(data: Path, account: str, name: str, payload: bytes) -> None:
    folder = data / "inbox" / account
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (name + ".part")
    part.write_bytes(payload)
    part.rename(folder / name)


def decided(data: Path, name: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((doc for _, doc in decisions(data).values() if doc["package"]["name"] == name), None)
    wait_until(lambda: found() is not None, 120, message=f"{name} decided")
    return found()  # type: ignore[return-value]


def test_signals_trace_report_and_rebuild(pipeline: Pipeline, database: dict[str, str], tmp_path: Path,
                                          request: pytest.FixtureRequest):
    data = pipeline.data
    first, second = package("星火职业培训学校", 11), package("东风职业培训学校", 12)
    second.files[second.photos[0]] = first.files[first.photos[0]]
    second.files[second.photos[1]] = reencoded(first.files[first.photos[1]], quality=50)
    trainee = first.first_trainee()
    second.take_trainee(trainee)
    teacher, _ = first.first_teacher()
    day = first.set_first_session_hours(6)
    second.take_teacher(teacher, 6)

    drop(data, "xinghuo", first.zip_name, first.zip())
    a = decided(data, first.zip_name)
    # the catalogue holds the first before the second is decided (the decided-package step)
    wait_until(lambda: cli(data, database, "trace", trainee["id_number"]).returncode == 0, 60,
               message="the first package catalogued")
    drop(data, "dongfeng", second.zip_name, second.zip())
    b = decided(data, second.zip_name)
    assert (a["status"], b["status"]) == ("accepted", "accepted")
    codes = sorted(w["code"] for w in b["warnings"] if w["code"].startswith(("W_MEDIA", "W_TRAINEE", "W_TEACHER")))
    assert codes == ["W_MEDIA_REUSED", "W_MEDIA_REUSED", "W_TEACHER_OVERLAP", "W_TRAINEE_OVERLAP"]
    assert all(a["receipt_id"] in w["message"] for w in b["warnings"] if w["code"] in codes)

    # trace: the person's trainings, masked; by name too; the teacher's teaching
    traced = cli(data, database, "trace", trainee["id_number"], "--json")
    assert traced.returncode == 0, traced.stderr
    result = json.loads(traced.stdout)
    assert [p["masked"] for p in result["persons"]] == [mask_id(trainee["id_number"])]
    assert [t["receipt_id"] for t in result["persons"][0]["trainings"]] == [a["receipt_id"], b["receipt_id"]]
    assert all(day in t["dates"] for t in result["persons"][0]["trainings"])
    text = cli(data, database, "trace", "--name", trainee["name"]).stdout
    assert "星火职业培训学校" in text and "东风职业培训学校" in text and not leaks(text)
    taught = json.loads(cli(data, database, "trace", "--teacher", teacher["id_number"], "--json").stdout)
    assert len(taught["persons"][0]["trainings"]) == 2
    assert trainee["id_number"] not in pipeline.log.read_text(errors="replace")  # the trace's log line is masked

    # the report: every pair, both ways
    report = cli(data, database, "integrity", "report", "--format", "csv")
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout.lstrip("\ufeff"))))
    pairs = {(r["signal"], r["receipt_id"], r["other_receipt_id"]) for r in rows}
    for signal in ("W_MEDIA_REUSED", "W_TRAINEE_OVERLAP", "W_TEACHER_OVERLAP"):
        assert {(signal, a["receipt_id"], b["receipt_id"]), (signal, b["receipt_id"], a["receipt_id"])} <= pairs
    page = tmp_path / "report.html"
    assert cli(data, database, "integrity", "report", "--format", "html", "--output", str(page)).returncode == 0
    html = page.read_text(encoding="utf-8")
    assert html.count("data:image/jpeg;base64,") >= 4 and not leaks(html)  # the two photos of each pair

    # the catalogue rebuilt from the archive (documents and ZIPs) equals the one built live
    live_url = database.get("DATABASE_URL") or f"sqlite:///{data / 'catalogue.sqlite3'}"
    key = database.get("PIPELINE_CATALOGUE_KEY") or (data / "catalogue.key").read_text().strip()
    rebuilt_url = (request.getfixturevalue("postgres_server").fresh_database() if "DATABASE_URL" in database
                   else f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    rebuild = cli(data, {"DATABASE_URL": rebuilt_url, "PIPELINE_CATALOGUE_KEY": key}, "catalogue", "rebuild", "--json")
    assert rebuild.returncode == 0, rebuild.stderr
    stats = json.loads(rebuild.stdout)
    assert (stats["documents"], stats["facts_written"], stats["zips_missing"]) == (2, 2, [])
    live, rebuilt = catalogue_dump(live_url), catalogue_dump(rebuilt_url)
    assert live["attendance"] and live["media"] and live["teaching"]
    assert rebuilt == live
