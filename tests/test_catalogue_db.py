"""The catalogue database itself (pipeline/catalogue/), on the embedded SQLite file and on a
real PostgreSQL server: the migrations make exactly the tables the code queries, a
decision and its facts are written once however often they are recorded, the settings
refuse a production database without a key, and the near-duplicate search probes the
band indexes instead of scanning."""

from __future__ import annotations

import random
import re
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from pipeline.app.settings import SettingsError, load_settings
from pipeline.catalogue.database import head_revision, current_revision, open_engine, redacted
from pipeline.catalogue.decisions import DecisionCatalogue
from pipeline.catalogue.lookup import PHOTOS_PER_STATEMENT, CatalogueLookup, media_queries
from pipeline.catalogue.schema import attendance, counters, media, metadata, persons, teaching, trainings
from pipeline.check.integrity import (Attendance, MediaFacts, PackageFacts, PersonFacts, Teaching, TrainingFacts,
                                      probe_radius)
from pipeline.check.privacy import keyed_hash


def document(receipt_id: str, status: str = "accepted", **extra: object) -> dict[str, object]:
    return {"receipt_id": receipt_id, "status": status, "decided_at": "2026-11-21T10:00:00+08:00",
            "received_at": "2026-11-21T09:59:00+08:00", "institution": "星火职业培训学校",
            "package": {"name": "星火职业培训学校20261120.zip", "size": 1000, "sha256": "ab" * 32},
            "source": {"account": "xinghuo", "location": "inbox/xinghuo/星火职业培训学校20261120.zip"},
            "errors": [], "warnings": [], **extra}


def facts(phash: int = 0x0123456789ABCDEF) -> PackageFacts:
    key = keyed_hash(b"k" * 32, "110101199003071234")
    teacher = keyed_hash(b"k" * 32, "610113197004277369")
    return PackageFacts(
        institution="星火职业培训学校",
        trainings=(TrainingFacts("育婴师", "初级", "育婴师初级", "2026-10-01", "2026-10-31", ("offline",),
                                 ("offline",), 20),),
        persons=(PersonFacts(key, "110101********1234", "张三"), PersonFacts(teacher, "610113********7369", "雷佳怡")),
        attendance=(Attendance(0, key, "2026-10-08", "offline", 4.0),),
        teaching=(Teaching(0, teacher, "2026-10-08", 4.0, "理论"),),
        media=(MediaFacts(0, "星火/育婴师初级/理论/育婴师初级理论1.jpg", "photo", "cd" * 32, phash),))


def test_the_migrations_make_exactly_the_tables_the_code_queries(catalogue_url: str):
    from pipeline.catalogue.database import HEAD_REVISION, make_engine

    assert current_revision(make_engine(catalogue_url)) is None  # a new database: no revision yet
    engine = open_engine(catalogue_url)
    # the constant every process compares with in plain SQL is the newest script's
    assert current_revision(engine) == head_revision() == HEAD_REVISION == "0002"
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert diff == []
    open_engine(catalogue_url)  # a second start: nothing to migrate, no error


def test_processes_starting_at_once_migrate_once(catalogue_url: str):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_engine(catalogue_url)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and current_revision(open_engine(catalogue_url)) == head_revision()


def test_a_decision_and_its_facts_are_written_once(catalogue_url: str):
    catalogue = DecisionCatalogue(open_engine(catalogue_url))
    doc = document("R20261121-AAAA0001")
    assert catalogue.record(doc, "archive/2026-11/R20261121-AAAA0001", count={"decided:accepted": 1},
                            facts=facts()) is True
    for _ in range(3):  # redeliveries
        assert catalogue.record(doc, "archive/2026-11/R20261121-AAAA0001", count={"decided:accepted": 1},
                                facts=facts()) is False
    with catalogue.engine.connect() as c:
        counts = {t.name: c.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in (trainings, persons, attendance, teaching, media)}
        assert counts == {"trainings": 1, "persons": 2, "attendance": 1, "teaching": 1, "media": 1}
        assert c.execute(select(counters.c.value).where(counters.c.name == "decided:accepted")).scalar_one() == 1
    # a later record of the same document (retention marked it) updates the row, adds nothing
    catalogue.record({**doc, "package_removed": {"at": "2027-05-01T00:00:00+08:00"}},
                     "archive/2026-11/R20261121-AAAA0001", count={"decided:accepted": 1})
    entry = catalogue.get("R20261121-AAAA0001")
    assert entry is not None and entry["package_removed_at"] == "2027-05-01T00:00:00+08:00"
    assert catalogue.counter_values()["decided:accepted"] == 1
    # facts of a rejected package are never catalogued
    catalogue.record(document("R20261121-AAAA0002", status="rejected"), "quarantine/x", facts=facts())
    assert not catalogue.has_facts("R20261121-AAAA0002") and catalogue.has_facts("R20261121-AAAA0001")


def test_a_production_database_needs_its_key(tmp_path):
    url = "postgresql://pipeline:secret@db.internal:5432/catalogue"
    with pytest.raises(SettingsError, match="PIPELINE_CATALOGUE_KEY must be set"):
        load_settings(env={"DATABASE_URL": url})
    with pytest.raises(SettingsError, match="at least 32 characters"):
        load_settings(env={"DATABASE_URL": url, "PIPELINE_CATALOGUE_KEY": "short"})
    with pytest.raises(SettingsError, match="DATABASE_URL must be"):
        load_settings(env={"DATABASE_URL": "mysql://x@y/z", "PIPELINE_CATALOGUE_KEY": "k" * 32})
    settings = load_settings(env={"DATABASE_URL": url, "PIPELINE_CATALOGUE_KEY": "k" * 32})
    assert "secret" not in repr(settings) and "k" * 32 not in repr(settings)
    assert redacted(url) == "postgresql://pipeline:***@db.internal:5432/catalogue"
    embedded = load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path)})
    assert embedded.catalogue_url == f"sqlite:///{tmp_path / 'catalogue.sqlite3'}"


def test_the_near_duplicate_search_probes_the_band_indexes(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalogue = DecisionCatalogue(open_engine(url))
    rng = random.Random(5)
    target = rng.getrandbits(64)
    for n in range(200):  # other photos, and one that is the target with 2 bits flipped
        phash = target ^ 0b101 if n == 137 else rng.getrandbits(64)
        f = facts(phash)
        f = PackageFacts(institution=f"机构{n}", trainings=f.trainings, persons=f.persons,
                         attendance=f.attendance, teaching=f.teaching,
                         media=(MediaFacts(0, f"p{n}.jpg", "photo", f"{n:064x}", phash),))
        catalogue.record(document(f"R20261121-B{n:07d}"), f"archive/x/{n}", facts=f)
    found = CatalogueLookup(catalogue.engine).media_like(set(), {target}, 3)
    assert [m.path for m in found if (m.phash ^ target).bit_count() <= 3] == ["p137.jpg"]
    assert [m.path for m in found] == ["p137.jpg"]  # the database compared the hashes: matches only
    assert probe_radius(3) == 0 and probe_radius(7) == 1
    # the query the lookup sends, as SQLite plans it: a search of each band's index
    [(statement, values)] = media_queries({"ef" * 32}, {target}, 3, "sqlite")
    sql = str(statement.params(values).compile(catalogue.engine, compile_kwargs={"literal_binds": True}))
    with catalogue.engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert re.search(r"SEARCH (media|media_\d+) USING (COVERING )?INDEX ix_media_sha256\b", plan), plan
    for index in ("ix_media_band0", "ix_media_band1", "ix_media_band2", "ix_media_band3"):  # the index alone
        assert re.search(rf"SEARCH (media|media_\d+) USING COVERING INDEX {index}\b", plan), (index, plan)
    assert not re.search(r"SCAN media\b", plan), plan


def test_a_package_of_many_photos_is_searched_in_several_statements(catalogue_url):
    catalogue = DecisionCatalogue(open_engine(catalogue_url))
    rng = random.Random(9)
    targets = [rng.getrandbits(64) for _ in range(2 * PHOTOS_PER_STATEMENT + 5)]
    last = targets[-1]
    f = facts(last ^ 0b1000)  # the last photo asked, 1 bit away: in the third statement
    catalogue.record(document("R20261121-C0000001"), "archive/x/1",
                     facts=PackageFacts(institution="机构甲", trainings=f.trainings, persons=f.persons,
                                        attendance=f.attendance, teaching=f.teaching,
                                        media=(MediaFacts(0, "old.jpg", "photo", "ab" * 32, last ^ 0b1000),
                                               MediaFacts(0, "old.mp4", "video", "cd" * 32, None))))
    assert len(media_queries({"cd" * 32}, targets, 3, catalogue.engine.dialect.name)) == 3
    found = CatalogueLookup(catalogue.engine).media_like({"cd" * 32}, targets, 3)
    assert sorted(m.path for m in found) == ["old.jpg", "old.mp4"]


def test_receipt_ids_are_found_whole_and_by_their_beginning(catalogue_url: str):
    catalogue = DecisionCatalogue(open_engine(catalogue_url))
    ids = ["R20261121-AAAA0001", "R20261121-ABCD0002", "R20261122-AAAA0003", "R20261221-AAAA0004"]
    for rid in ids:
        catalogue.record(document(rid), f"archive/2026-11/{rid}")

    def found(text: str) -> set[str]:
        return {e["receipt_id"] for e in catalogue.filtered(text=text)}

    assert found("r20261121-abcd0002") == {"R20261121-ABCD0002"}  # whole, any case
    assert found("R20261121") == set(ids[:2]) and found("R20261121-A") == set(ids[:2])
    assert found("R20261121-AB") == {"R20261121-ABCD0002"} and found("R202611") == set(ids[:3])
    assert found("R2026") == set(ids) and found("R2025") == set()
    assert found("AAAA") == {ids[0], ids[2], ids[3]}  # a fragment from the middle: as any text


def test_warming_up_finds_nothing_and_builds_the_common_statements(tmp_path):
    # a worker asks each question once at start (pipeline/app/worker.py): about nothing,
    # so it finds nothing, and the first package finds the statements built
    from pipeline.catalogue import lookup as lookup_module

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalogue = DecisionCatalogue(open_engine(url))
    catalogue.record(document("R20261121-BWARM001"), "archive/x/1", facts=facts(12345))
    lookup_module._media_statement.cache_clear()
    lookup = CatalogueLookup(catalogue.engine)
    lookup.warm_up()
    assert lookup_module._media_statement.cache_info().currsize == 1  # a one-training package's photos
    assert lookup.media_like({"0" * 64}, set(range(10)), 3) == []
    assert lookup_module._media_statement.cache_info().hits >= 1
