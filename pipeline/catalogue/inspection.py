"""What inspectors ask of the catalogue (可查询、可追溯): every training of a person
(``pipeline trace``), and every pair of packages the integrity signals link, both ways
(``pipeline integrity report``). Everything returned is masked: the catalogue holds no
full personal number, and the person is named by name and masked number.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, and_, func, or_, select, true

from pipeline.check.contract import PHOTO
from pipeline.check.identity import validate_id_number
from pipeline.check.integrity import training_key, unsigned64
from pipeline.check.privacy import mask_id
from pipeline.catalogue.lookup import CatalogueLookup, live
from pipeline.catalogue.schema import attendance, decisions, media, persons, teaching, trainings

_T = trainings


def _training_fields(row: Any) -> dict[str, Any]:
    return {"receipt_id": row["receipt_id"], "institution": row["institution"], "occupation": row["occupation"],
            "level": row["level"], "start_date": row["start_date"], "end_date": row["end_date"]}


def persons_named(engine: Engine, name: str) -> list[dict[str, str]]:
    """The persons seen under ``name`` (key, masked number, name)."""
    with engine.connect() as connection:
        rows = connection.execute(select(persons).where(persons.c.name == name.strip())
                                  .order_by(persons.c.masked)).mappings().all()
    return [{"person_key": r["person_key"], "masked": r["masked"], "name": r["name"]} for r in rows]


def person(engine: Engine, person_key: str) -> dict[str, str] | None:
    with engine.connect() as connection:
        row = connection.execute(select(persons).where(persons.c.person_key == person_key)).mappings().first()
    return None if row is None else {"person_key": row["person_key"], "masked": row["masked"], "name": row["name"]}


def person_by_number(engine: Engine, key_of: Callable[[str], str], number: str,
                     today: date) -> tuple[dict[str, str] | None, str | None]:
    """(the person of this ID number — key, masked number, name — or None when the catalogue
    has never seen them, None), or (None, why the number is not a valid one)."""
    check = validate_id_number(number.strip().upper(), today)
    if not check.ok:
        return None, check.reason
    return person(engine, key_of(number.strip().upper())), None


def trace_number(engine: Engine, key_of: Callable[[str], str], number: str, today: date) -> dict[str, Any]:
    """What the web's search answers for one ID number: ``problem`` (why it is not a valid
    number, masked) or the person (name, masked number; None when the catalogue has never
    seen them) with the trainings attended and taught."""
    masked = mask_id(number.strip().upper())
    found, invalid = person_by_number(engine, key_of, number, today)
    if invalid:
        return {"problem": f"{masked} 不是有效的身份证号（{invalid}）", "person": None}
    if found is None:
        return {"problem": None, "person": None, "masked": masked}
    key = found.pop("person_key")
    return {"problem": None, "person": found, "masked": found["masked"],
            "attended": trainings_attended(engine, key), "taught": trainings_taught(engine, key)}


def trainings_attended(engine: Engine, person_key: str) -> list[dict[str, Any]]:
    """Every training the person attended as a trainee: institution, occupation, level,
    the training's dates, the dates signed in (or "online"), the hours, the receipt id."""
    query = (select(_T.c.id, _T.c.receipt_id, _T.c.institution, _T.c.occupation, _T.c.level, _T.c.start_date,
                    _T.c.end_date, attendance.c.date, attendance.c.mode, attendance.c.hours, decisions.c.decided_at)
             .select_from(attendance.join(_T, _T.c.id == attendance.c.training_id)
                          .join(decisions, decisions.c.receipt_id == _T.c.receipt_id))
             .where(attendance.c.person_key == person_key)
             .order_by(_T.c.start_date, decisions.c.decided_ts, _T.c.receipt_id, attendance.c.date))
    grouped: dict[int, dict[str, Any]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query).mappings():
            entry = grouped.setdefault(row["id"], {**_training_fields(row), "decided_at": row["decided_at"],
                                                   "dates": [], "modes": set(), "hours": 0.0})
            entry["modes"].add(row["mode"])
            if row["date"]:
                entry["dates"].append(row["date"])
            entry["hours"] += float(row["hours"] or 0)
    return [{**e, "modes": sorted(e["modes"]), "hours": round(e["hours"], 2)} for e in grouped.values()]


def trainings_taught(engine: Engine, person_key: str) -> list[dict[str, Any]]:
    """Every training the person taught: per training the dates and hours (by section)."""
    query = (select(_T.c.id, _T.c.receipt_id, _T.c.institution, _T.c.occupation, _T.c.level, _T.c.start_date,
                    _T.c.end_date, teaching.c.date, teaching.c.hours, teaching.c.section)
             .select_from(teaching.join(_T, _T.c.id == teaching.c.training_id))
             .where(teaching.c.person_key == person_key)
             .order_by(_T.c.start_date, _T.c.receipt_id, teaching.c.date))
    grouped: dict[int, dict[str, Any]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query).mappings():
            entry = grouped.setdefault(row["id"], {**_training_fields(row), "sessions": [], "hours": 0.0})
            entry["sessions"].append({"date": row["date"], "hours": float(row["hours"]), "section": row["section"]})
            entry["hours"] += float(row["hours"])
    return [{**e, "hours": round(e["hours"], 2)} for e in grouped.values()]


# -- the integrity report: every pair, both ways ----------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One link between two packages of different trainings (the report lists (a, b) and (b, a))."""

    signal: str  # W_MEDIA_REUSED | W_TRAINEE_OVERLAP | W_TEACHER_OVERLAP
    detail: str  # identical | similar | same_day | same_training | hours | institutions
    receipt_id: str
    institution: str
    training: str
    item: str  # a file path, or a person "name (masked)"
    other_receipt_id: str
    other_institution: str
    other_training: str
    other_item: str
    when: str  # a date, a period, or "" (media)
    distance: int | None = None  # similar photos: differing bits
    hours: float | None = None  # teacher: the date's total

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _different_training(a: Any, b: Any) -> Any:
    """Two trainings (aliases of ``trainings``) of different keys, neither replaced by a re-check."""
    return and_(a.c.training_key != b.c.training_key, live(a), live(b))


def _who(name: str, masked: str) -> str:
    return f"{name}（{masked}）" if name else masked


def media_pairs_of(engine: Engine, distance: int, receipt_id: str) -> list[Pair]:
    """The pairs of one package's files (the web's package page): its own media rows by its
    trainings, then the decision's own near-duplicate probes (pipeline/catalogue/lookup.py:
    the hashes compared inside the band indexes, only matches read), whatever the size of
    the catalogue. Every match of another training, not only the closest; (a, b) only."""
    mine = trainings.alias("mine")
    with engine.connect() as connection:
        rows = connection.execute(
            select(media.c.path, media.c.sha256, media.c.phash, media.c.kind, mine.c.institution,
                   mine.c.occupation, mine.c.level, mine.c.start_date)
            .select_from(media.join(mine, mine.c.id == media.c.training_id))
            .where(mine.c.receipt_id == receipt_id, live(mine))).all()
    if not rows:
        return []
    seen = CatalogueLookup(engine).media_like({r.sha256 for r in rows},
                                              {unsigned64(r.phash) for r in rows if r.phash is not None}, distance)
    pairs = []
    for r in rows:
        own_key = training_key(r.institution, r.occupation, r.level, r.start_date)  # the signals' own rule
        for other in seen:
            if other.training.key == own_key:  # itself, or a resubmission of the same training
                continue
            if other.sha256 == r.sha256:
                detail, bits = "identical", 0
            elif r.kind == PHOTO and r.phash is not None and other.phash is not None:
                bits = (unsigned64(r.phash) ^ other.phash).bit_count()
                if bits > distance:
                    continue
                detail = "similar"
            else:
                continue
            t = other.training
            pairs.append(Pair("W_MEDIA_REUSED", detail, receipt_id, r.institution, f"{r.occupation}{r.level}", r.path,
                              t.receipt_id, t.institution, f"{t.occupation}{t.level}", other.path, "",
                              distance=bits))
    return sorted(pairs, key=lambda p: (p.item, p.distance or 0, p.other_receipt_id, p.other_item))


def media_pairs(engine: Engine, distance: int, since_ts: float | None = None) -> Iterator[Pair]:
    """Identical files and near-identical photos across trainings. ``since_ts``: only pairs
    with a package decided at or after it (on either side)."""
    ta, tb = trainings.alias("ta"), trainings.alias("tb")
    ma, mb = media.alias("ma"), media.alias("mb")
    da, db = decisions.alias("da"), decisions.alias("db")
    columns = (ma.c.path.label("a_path"), ma.c.phash.label("a_phash"), ma.c.sha256.label("a_sha"),
               ta.c.receipt_id.label("a_rid"), ta.c.institution.label("a_inst"),
               (ta.c.occupation + ta.c.level).label("a_training"),
               mb.c.path.label("b_path"), mb.c.phash.label("b_phash"), mb.c.sha256.label("b_sha"),
               tb.c.receipt_id.label("b_rid"), tb.c.institution.label("b_inst"),
               (tb.c.occupation + tb.c.level).label("b_training"))
    band_match = or_(*(getattr(ma.c, f"band{i}") == getattr(mb.c, f"band{i}") for i in range(4)))
    joined = (ma.join(ta, ta.c.id == ma.c.training_id).join(da, da.c.receipt_id == ta.c.receipt_id)
              .join(mb, or_(mb.c.sha256 == ma.c.sha256, and_(ma.c.kind == PHOTO, mb.c.kind == PHOTO, band_match)))
              .join(tb, tb.c.id == mb.c.training_id).join(db, db.c.receipt_id == tb.c.receipt_id))
    since = true() if since_ts is None else or_(da.c.decided_ts >= since_ts, db.c.decided_ts >= since_ts)
    query = select(*columns).select_from(joined).where(_different_training(ta, tb), since) \
        .order_by(ta.c.receipt_id, ma.c.path, tb.c.receipt_id, mb.c.path)
    seen: set[tuple[str, str]] = set()
    with engine.connect() as connection:
        for r in connection.execute(query).mappings():
            if (r["a_path"], r["b_path"]) in seen:
                continue
            if r["a_sha"] == r["b_sha"]:
                detail, bits = "identical", 0
            else:
                if r["a_phash"] is None or r["b_phash"] is None:
                    continue
                bits = (unsigned64(r["a_phash"]) ^ unsigned64(r["b_phash"])).bit_count()
                if bits > distance:
                    continue
                detail = "similar"
            seen.add((r["a_path"], r["b_path"]))
            yield Pair("W_MEDIA_REUSED", detail, r["a_rid"], r["a_inst"], r["a_training"], r["a_path"],
                       r["b_rid"], r["b_inst"], r["b_training"], r["b_path"], "", distance=bits)


def trainee_pairs(engine: Engine, since_ts: float | None = None) -> Iterator[Pair]:
    """A trainee signed in on one date at two trainings, or in two overlapping trainings of
    the same occupation and level."""
    ta, tb = trainings.alias("ta"), trainings.alias("tb")
    aa, ab = attendance.alias("aa"), attendance.alias("ab")
    da, db = decisions.alias("da"), decisions.alias("db")
    same_day = and_(ab.c.date == aa.c.date, aa.c.mode == "offline", ab.c.mode == "offline")
    same_training = and_(ta.c.occupation == tb.c.occupation, ta.c.level == tb.c.level,
                         ta.c.start_date <= tb.c.end_date, tb.c.start_date <= ta.c.end_date)
    joined = (aa.join(ta, ta.c.id == aa.c.training_id).join(da, da.c.receipt_id == ta.c.receipt_id)
              .join(ab, and_(ab.c.person_key == aa.c.person_key, ab.c.training_id != aa.c.training_id))
              .join(tb, tb.c.id == ab.c.training_id).join(db, db.c.receipt_id == tb.c.receipt_id)
              .join(persons, persons.c.person_key == aa.c.person_key))
    since = true() if since_ts is None else or_(da.c.decided_ts >= since_ts, db.c.decided_ts >= since_ts)
    query = (select(ta.c.receipt_id.label("a_rid"), ta.c.institution.label("a_inst"),
                    (ta.c.occupation + ta.c.level).label("a_training"), ta.c.start_date.label("a_start"),
                    ta.c.end_date.label("a_end"), tb.c.receipt_id.label("b_rid"), tb.c.institution.label("b_inst"),
                    (tb.c.occupation + tb.c.level).label("b_training"), tb.c.start_date.label("b_start"),
                    tb.c.end_date.label("b_end"), aa.c.person_key, aa.c.date.label("a_date"),
                    ab.c.date.label("b_date"), same_day.label("same_day"), persons.c.name, persons.c.masked)
             .select_from(joined)
             .where(_different_training(ta, tb), or_(same_day, same_training), since)
             .order_by(ta.c.receipt_id, persons.c.masked, tb.c.receipt_id, aa.c.date))
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    with engine.connect() as connection:
        for r in connection.execute(query).mappings():
            key = (r["a_rid"], r["person_key"], r["b_rid"])
            entry = grouped.setdefault(key, {"row": r, "dates": set()})
            if r["same_day"] and r["a_date"]:
                entry["dates"].add(r["a_date"])
    for (_, _, _), entry in grouped.items():
        r, who = entry["row"], _who(entry["row"]["name"], entry["row"]["masked"])
        if entry["dates"]:
            detail, when = "same_day", "、".join(sorted(entry["dates"]))
        else:
            detail, when = "same_training", f"{r['a_start']} 至 {r['a_end']} / {r['b_start']} 至 {r['b_end']}"
        yield Pair("W_TRAINEE_OVERLAP", detail, r["a_rid"], r["a_inst"], r["a_training"], who,
                   r["b_rid"], r["b_inst"], r["b_training"], who, when)


def teacher_pairs(engine: Engine, max_hours: float, since_ts: float | None = None) -> Iterator[Pair]:
    """A teacher's sessions on one date across trainings adding up to more than
    ``max_hours``, or held by two institutions."""
    query = (select(teaching.c.person_key, teaching.c.date, teaching.c.hours, _T.c.receipt_id, _T.c.institution,
                    (_T.c.occupation + _T.c.level).label("training"), _T.c.training_key, decisions.c.decided_ts,
                    persons.c.name, persons.c.masked)
             .select_from(teaching.join(_T, _T.c.id == teaching.c.training_id)
                          .join(decisions, decisions.c.receipt_id == _T.c.receipt_id)
                          .join(persons, persons.c.person_key == teaching.c.person_key))
             .where(live(_T), teaching.c.person_key.in_(
                 select(teaching.c.person_key).select_from(teaching)
                 .group_by(teaching.c.person_key, teaching.c.date)
                 .having(func.count(func.distinct(teaching.c.training_id)) > 1)))
             .order_by(teaching.c.person_key, teaching.c.date, _T.c.receipt_id))
    days: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    with engine.connect() as connection:
        for r in connection.execute(query).mappings():
            held = days[(r["person_key"], r["date"])].setdefault(r["training_key"], {"row": r, "hours": 0.0})
            held["hours"] += float(r["hours"])
    for (_, day), by_training in sorted(days.items()):
        if len(by_training) < 2:
            continue
        total = sum(t["hours"] for t in by_training.values())
        institutions = {t["row"]["institution"] for t in by_training.values()}
        if total <= max_hours and len(institutions) < 2:
            continue
        if since_ts is not None and all(t["row"]["decided_ts"] < since_ts for t in by_training.values()):
            continue
        detail = "institutions" if len(institutions) > 1 else "hours"
        rows = [t["row"] for t in by_training.values()]
        for a in rows:
            for b in rows:
                if a is b:
                    continue
                who = _who(a["name"], a["masked"])
                yield Pair("W_TEACHER_OVERLAP", detail, a["receipt_id"], a["institution"], a["training"], who,
                           b["receipt_id"], b["institution"], b["training"], who, day, hours=round(total, 2))


def integrity_pairs(engine: Engine, *, distance: int, max_hours: float,
                    since_ts: float | None = None) -> list[Pair]:
    """Every pair the three signals link, both ways, ordered for reading."""
    pairs = [*media_pairs(engine, distance, since_ts), *trainee_pairs(engine, since_ts),
             *teacher_pairs(engine, max_hours, since_ts)]
    return sorted(pairs, key=lambda p: (p.signal, p.receipt_id, p.item, p.other_receipt_id, p.other_item, p.when))
