"""The signals of spec section 10 (W_MEDIA_REUSED, W_TRAINEE_OVERLAP, W_TEACHER_OVERLAP),
decided in this process against a real catalogue: the embedded SQLite file and a real
PostgreSQL server (every test runs on both). Packages are example packages with real,
distinct photos (tests/support/integrity.py); the pipeline as a whole, through `pipeline
run`, is tests/test_integrity_end_to_end.py's."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import text

from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.catalogue.inspection import integrity_pairs, persons_named, trainings_attended, trainings_taught
from pipeline.check.catalogue import CATALOGUE
from pipeline.check.privacy import mask_id
from pipeline.intake.deciding import ingest
from pipeline.intake.ledger import RedisLedger
from pipeline.intake.uploads import IngestRequest
from pipeline.ops.catalogue_tasks import FactsFromArchive, erase_withdrawn, record_decision
from tests.support.integrity import FOLDER, Built, package, reencoded
from tests.support.leaks import leaks_in

KEY = "k" * 40
SIGNALS = ("W_MEDIA_REUSED", "W_TRAINEE_OVERLAP", "W_TEACHER_OVERLAP")


class Deciding:
    """A composition on a data folder and a catalogue, deciding packages as the workers do:
    ingest, then the decided-package step's record."""

    def __init__(self, data: Path, catalogue_url: str, ledger: RedisLedger) -> None:
        settings = load_settings(env={"PIPELINE_DATA_DIR": str(data), "DATABASE_URL": catalogue_url,
                                      "PIPELINE_CATALOGUE_KEY": KEY})
        ticks = itertools.count()
        # a clock a minute later at every reading: receipt ids sort by time, as in production
        self.composition = Composition(settings, ledger=ledger, clock=lambda: datetime(
            2026, 11, 21, 2, 0, tzinfo=timezone.utc) + timedelta(minutes=next(ticks)))

    def decide(self, account: str, built: Built) -> dict[str, Any]:
        store = self.composition.services.store
        path = store.inbox / account / built.zip_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built.zip())
        request = IngestRequest(f"{account}/{built.zip_name}", path.stat().st_size, str(path.stat().st_mtime_ns))
        outcome = ingest(request, self.composition.services)
        assert outcome is not None
        return record_decision(store, self.composition.catalogue, outcome.receipt_id, outcome.location)


@pytest.fixture
def deciding(tmp_path: Path, catalogue_url: str, redis_client: redis.Redis) -> Deciding:
    return Deciding(tmp_path / "data", catalogue_url, RedisLedger(redis_client))


def signals(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in document["warnings"] if w["code"] in SIGNALS]


def test_a_borrowed_photo_a_shared_trainee_and_a_busy_teacher_are_each_signalled(deciding: Deciding):
    first, second = package("星火职业培训学校", 1), package("东风职业培训学校", 2)
    photo = first.files[first.photos[0]]
    second.files[second.photos[0]] = photo  # byte-identical
    second.files[second.photos[1]] = reencoded(first.files[first.photos[1]], quality=55)  # saved again
    trainee = first.first_trainee()
    second.take_trainee(trainee)
    teacher, session = first.first_teacher()
    day = first.set_first_session_hours(6)
    assert second.take_teacher(teacher, 6) == day == session["date"]

    a = deciding.decide("xinghuo", first)
    assert a["status"] == "accepted" and signals(a) == []  # nothing to compare with yet
    b = deciding.decide("dongfeng", second)
    assert b["status"] == "accepted"  # warnings by default (spec section 10)
    found = {(w["code"], w["path"].rsplit("/", 1)[-1]) for w in signals(b)}
    assert found == {("W_MEDIA_REUSED", second.photos[0].rsplit("/", 1)[-1]),
                     ("W_MEDIA_REUSED", second.photos[1].rsplit("/", 1)[-1]),
                     ("W_TRAINEE_OVERLAP", "签到表.json"), ("W_TEACHER_OVERLAP", "理论培训大纲.json")}
    by_code = {w["code"]: w for w in signals(b)}
    for w in signals(b):  # each names the other receipt, institution and training
        assert a["receipt_id"] in w["message"] and "星火职业培训学校“育婴师初级”" in w["message"], w
        assert not leaks_in(w), w
    identical = next(w for w in signals(b) if w["path"].endswith(second.photos[0]))
    similar = next(w for w in signals(b) if w["path"].endswith(second.photos[1]))
    assert "完全相同" in identical["message"] and "画面几乎相同" in similar["message"]
    assert mask_id(trainee["id_number"]) in by_code["W_TRAINEE_OVERLAP"]["message"]
    assert day in by_code["W_TRAINEE_OVERLAP"]["message"] and "等 " in by_code["W_TRAINEE_OVERLAP"]["message"]
    teacher_message = by_code["W_TEACHER_OVERLAP"]["message"]
    assert mask_id(teacher["id_number"]) in teacher_message and day in teacher_message
    assert "同时在两个机构授课" in teacher_message  # and 6 + 6 = 12 hours that day
    assert by_code["W_TEACHER_OVERLAP"]["hint"] == CATALOGUE["W_TEACHER_OVERLAP"].causes["institutions"].hint

    engine = deciding.composition.catalogue_engine
    key = deciding.composition.person_key(trainee["id_number"])
    attended = trainings_attended(engine, key)
    assert [(t["institution"], t["receipt_id"]) for t in attended] == [
        ("星火职业培训学校", a["receipt_id"]), ("东风职业培训学校", b["receipt_id"])]
    assert all(day in t["dates"] and t["hours"] > 0 for t in attended)
    taught = trainings_taught(engine, deciding.composition.person_key(teacher["id_number"]))
    assert sorted(sum(s["hours"] for s in t["sessions"] if s["date"] == day) for t in taught) == [6, 6]
    assert [p["masked"] for p in persons_named(engine, trainee["name"])] == [mask_id(trainee["id_number"])]

    pairs = integrity_pairs(engine, distance=3, max_hours=8.0)
    media_pairs = {(p.receipt_id, p.other_receipt_id, p.detail) for p in pairs if p.signal == "W_MEDIA_REUSED"}
    assert media_pairs == {(a["receipt_id"], b["receipt_id"], "identical"), (b["receipt_id"], a["receipt_id"], "identical"),
                           (a["receipt_id"], b["receipt_id"], "similar"), (b["receipt_id"], a["receipt_id"], "similar")}
    for signal in ("W_TRAINEE_OVERLAP", "W_TEACHER_OVERLAP"):  # both ways
        assert sorted((p.receipt_id, p.other_receipt_id) for p in pairs if p.signal == signal) == sorted(
            [(a["receipt_id"], b["receipt_id"]), (b["receipt_id"], a["receipt_id"])]), signal
    # --since: the pairs with a package decided from then on
    decided_b = datetime.fromisoformat(b["decided_at"]).timestamp()
    assert integrity_pairs(engine, distance=3, max_hours=8.0, since_ts=decided_b) == pairs
    assert integrity_pairs(engine, distance=3, max_hours=8.0, since_ts=decided_b + 1) == []


def test_a_resubmission_of_the_same_training_is_not_compared_with_itself(deciding: Deciding):
    first = package("星火职业培训学校", 3)
    deciding.decide("xinghuo", first)
    again = package("星火职业培训学校", 3)  # the same training, sent again with a remark changed
    plan = again.form("培训方案.json")
    plan["remarks"] = "补交"
    again.put_form("培训方案.json", plan)
    assert signals(deciding.decide("xinghuo", again)) == []
    # the same institution's *other* training is compared: another occupation and level
    other = package("星火职业培训学校", 3)
    other.files = {path.replace(FOLDER, "育婴师中级"): data for path, data in other.files.items()}
    other.photos = [p.replace(FOLDER, "育婴师中级") for p in other.photos]
    for path in [p for p in other.files if p.endswith(".json")]:
        other.files[path] = other.files[path].replace("初级".encode(), "中级".encode())
    decided = deciding.decide("xinghuo", other)
    assert decided["status"] == "accepted", decided["errors"]
    assert {w["code"] for w in signals(decided)} >= {"W_MEDIA_REUSED", "W_TEACHER_OVERLAP"}


def test_the_policy_decides_the_distance_and_may_make_a_signal_an_error(tmp_path: Path, deciding: Deciding):
    policy = tmp_path / "policy.toml"
    policy.write_text('[integrity]\nphoto_hash_distance = 0\n[severity]\nW_MEDIA_REUSED = "error"\n')
    composition = deciding.composition
    deciding.composition = Composition(load_settings(env={
        "PIPELINE_DATA_DIR": str(composition.settings.data_dir), "DATABASE_URL": composition.settings.database_url,
        "PIPELINE_CATALOGUE_KEY": KEY, "PIPELINE_POLICY": str(policy)}), ledger=composition.ledger)
    first, second = package("星火职业培训学校", 4), package("东风职业培训学校", 5)
    second.files[second.photos[0]] = first.files[first.photos[0]]
    second.files[second.photos[1]] = reencoded(first.files[first.photos[1]], quality=40)
    deciding.decide("xinghuo", first)
    b = deciding.decide("dongfeng", second)
    assert b["status"] == "rejected"
    reused = [e for e in b["errors"] if e["code"] == "W_MEDIA_REUSED"]
    identical = [e for e in reused if e["path"].endswith(second.photos[0])]
    assert len(identical) == 1 and "完全相同" in identical[0]["message"]


def test_the_catalogue_holds_no_full_personal_number_and_erasure_leaves_the_archive(deciding: Deciding):
    first, second = package("星火职业培训学校", 6), package("东风职业培训学校", 7)
    second.take_trainee(first.first_trainee())
    a = deciding.decide("xinghuo", first)
    b = deciding.decide("dongfeng", second)
    engine = deciding.composition.catalogue_engine
    with engine.connect() as c:
        tables = ["decisions", "trainings", "persons", "attendance", "teaching", "media", "counters"]
        everything = {t: [tuple(r) for r in c.execute(text(f"SELECT * FROM {t}"))] for t in tables}
    assert everything["persons"] and everything["attendance"]
    assert leaks_in(everything) == []
    assert any(mask_id(first.first_trainee()["id_number"]) == row[1] for row in everything["persons"])

    store = deciding.composition.services.store
    archived = sorted(p.relative_to(store.data_dir) for p in (store.data_dir / "archive").rglob("*") if p.is_file())
    erased = erase_withdrawn(store, deciding.composition.catalogue, a["receipt_id"], "机构撤回",
                             datetime(2026, 11, 22, tzinfo=timezone.utc))
    assert erased == {"receipt_id": a["receipt_id"], "trainings_removed": 1}
    assert sorted(p.relative_to(store.data_dir) for p in (store.data_dir / "archive").rglob("*")
                  if p.is_file()) == archived  # the archive is untouched
    key = deciding.composition.person_key(first.first_trainee()["id_number"])
    assert [t["receipt_id"] for t in trainings_attended(engine, key)] == [b["receipt_id"]]
    assert deciding.composition.catalogue.get(a["receipt_id"])["status"] == "accepted"  # still listed
    assert integrity_pairs(engine, distance=3, max_hours=8.0) == []
    assert erase_withdrawn(store, deciding.composition.catalogue, "R20990101-NOTHERE", "x",
                           datetime(2026, 11, 22, tzinfo=timezone.utc)) is None
    # a rebuild from the archive does not bring the withdrawn package's rows back
    ops = deciding.composition.ops()
    composition = deciding.composition
    from_archive = FactsFromArchive(store=store, inventory=ops.inventory, policy=composition.policy,
                                    person_key=composition.person_key, zone=composition.zone,
                                    package_file=ops.package_file_of)
    assert from_archive(composition.catalogue.get(a["receipt_id"])["location"], a) is None  # withdrawn
    stats = ops.rebuild_decisions(facts_of=from_archive)
    assert stats["documents"] == 2 and from_archive.missing == []
    assert [t["receipt_id"] for t in trainings_attended(engine, key)] == [b["receipt_id"]]
    assert not composition.catalogue.has_facts(a["receipt_id"]) and composition.catalogue.has_facts(b["receipt_id"])


def test_photos_borrowed_by_the_set_read_as_one_fix_in_the_receipt(deciding: Deciding):
    from pipeline.check.report import TECHNICAL_HEADING, render_text

    first, second = package("星火职业培训学校", 8), package("东风职业培训学校", 9)
    for n in range(3):
        second.files[second.photos[n]] = first.files[first.photos[n]]
    deciding.decide("xinghuo", first)
    b = deciding.decide("dongfeng", second)
    clerk = render_text(b).split(TECHNICAL_HEADING)[0]
    hint = CATALOGUE["W_MEDIA_REUSED"].hint
    assert clerk.count(hint) == 1 and clerk.count("办法同第 1 项。") == 2, clerk
