"""Integrity across packages (spec section 10): what a package says about people, dates
and pictures (:class:`PackageFacts`), and the rule that compares it with the accepted
packages of other trainings (:func:`integrity_check`).

The checker stays pure: it does not know where past packages are kept. It asks an
:class:`IntegrityLookup` (the catalogue database implements it, pipeline/catalogue/) and
judges the answers. Personal numbers never leave a package in clear: the facts carry a
keyed hash (:func:`pipeline.check.privacy.keyed_hash`, the key is the deployment's secret)
beside the masked number and the name.

A training is known by its **key**: institution, occupation, level and the plan's start
date. A resubmission of the same training (same key) is never compared with itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import cached_property
from datetime import date
from typing import Any, Callable, Collection, Iterable, Iterator, Protocol

from pipeline.check.catalogue import Problem, problem
from pipeline.check.contract import PHOTO, VIDEO
from pipeline.check.identity import validate_id_number
from pipeline.check.privacy import mask_id

#: the version of the facts' JSON (a journal record per decision, pipeline/intake/deciding.py)
FACTS_VERSION = 1
#: bits of a perceptual hash; the catalogue's index splits it into BANDS bands
HASH_BITS = 64
BANDS = 4
BAND_BITS = HASH_BITS // BANDS

OFFLINE, ONLINE = "offline", "online"


def training_key(institution: str, occupation: str, level: str, start_date: str | None) -> str:
    """The identity of one training: resubmissions of it share this key."""
    return "\x1f".join((institution, occupation, level, start_date or ""))


def hash_bands(value: int) -> tuple[int, ...]:
    """The BANDS 16-bit bands of a 64-bit hash, high to low (the index's columns)."""
    mask = (1 << BAND_BITS) - 1
    return tuple((value >> (BAND_BITS * (BANDS - 1 - i))) & mask for i in range(BANDS))


def band_probes(band: int, radius: int) -> list[int]:
    """``band`` and every value within ``radius`` flipped bits of it (radius 0 or 1)."""
    probes = [band]
    if radius >= 1:
        probes += [band ^ (1 << bit) for bit in range(BAND_BITS)]
    return probes


def probe_radius(distance: int) -> int:
    """Pigeonhole: two hashes within ``distance`` bits agree on some band within this many
    bits (0 for a distance of 0..3, 1 for 4..7). Larger distances are refused."""
    if not 0 <= distance < 2 * BANDS:
        raise ValueError(f"photo_hash_distance must be 0..{2 * BANDS - 1}")
    return distance // BANDS


def signed64(value: int) -> int:
    """An unsigned 64-bit hash as the signed integer a BIGINT column holds."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


# -- the facts of one package --------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFacts:
    occupation: str
    level: str
    folder: str
    start_date: str | None
    end_date: str | None
    theory_mode: tuple[str, ...]
    practice_mode: tuple[str, ...]
    planned_trainees: int | None


@dataclass(frozen=True)
class PersonFacts:
    key: str  # keyed hash of the ID number
    masked: str  # 110101********1234
    name: str


@dataclass(frozen=True)
class Attendance:
    training: int  # index into PackageFacts.trainings
    person: str  # PersonFacts.key
    date: str | None  # a sign-in date; None for an online trainee (the period counts)
    mode: str  # OFFLINE | ONLINE
    #: offline: the hours the training's outlines hold on that date; online: the record's
    hours: float | None = None


@dataclass(frozen=True)
class Teaching:
    training: int
    person: str
    date: str
    hours: float
    section: str  # "理论" | "实操"


@dataclass(frozen=True)
class MediaFacts:
    training: int
    path: str  # full path inside the ZIP
    kind: str  # PHOTO | VIDEO
    sha256: str
    phash: int | None  # unsigned 64-bit; photos only


@dataclass(frozen=True)
class PackageFacts:
    """What a package tells of its trainings, people and pictures (JSON round-trips)."""

    institution: str
    trainings: tuple[TrainingFacts, ...] = ()
    persons: tuple[PersonFacts, ...] = ()
    attendance: tuple[Attendance, ...] = ()
    teaching: tuple[Teaching, ...] = ()
    media: tuple[MediaFacts, ...] = ()

    def key_of(self, training: int) -> str:
        t = self.trainings[training]
        return training_key(self.institution, t.occupation, t.level, t.start_date)

    def person(self, key: str) -> PersonFacts:
        return self._persons[key]

    @cached_property
    def _persons(self) -> dict[str, PersonFacts]:
        return {p.key: p for p in self.persons}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["version"] = FACTS_VERSION
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PackageFacts":
        if data.get("version") != FACTS_VERSION:
            raise ValueError(f"facts version {data.get('version')!r} is not {FACTS_VERSION}")
        return cls(
            institution=data["institution"],
            trainings=tuple(TrainingFacts(**{**t, "theory_mode": tuple(t["theory_mode"]),
                                             "practice_mode": tuple(t["practice_mode"])})
                            for t in data["trainings"]),
            persons=tuple(PersonFacts(**p) for p in data["persons"]),
            attendance=tuple(Attendance(**a) for a in data["attendance"]),
            teaching=tuple(Teaching(**t) for t in data["teaching"]),
            media=tuple(MediaFacts(**m) for m in data["media"]))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _iso(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _modes(value: Any) -> tuple[str, ...]:
    return tuple(sorted({m for m in value if isinstance(m, str)})) if isinstance(value, list) else ()


def _list(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


class _Collector:
    """Builds the facts: people are keyed once, each valid ID number hashed once."""

    def __init__(self, person_key: Callable[[str], str], today: date) -> None:
        self.person_key = person_key
        self.today = today
        self.persons: dict[str, PersonFacts] = {}
        #: number -> its key, or None when invalid: each number validated and hashed once
        self._keys: dict[str, str | None] = {}
        #: (training, person, date, mode) -> hours (None: not known)
        self.attendance: dict[tuple[int, str, str | None, str], float | None] = {}
        #: (training, date) -> the hours the outlines hold then
        self.session_hours: dict[tuple[int, str], float] = defaultdict(float)
        self.teaching: dict[tuple[int, str, str, str], float] = defaultdict(float)

    def person(self, record: Any) -> str | None:
        """The key of the person a form row names, or None when its ID number is not valid
        (FORM_ID_NUMBER says so; an invalid number identifies nobody)."""
        if not isinstance(record, dict) or not isinstance(record.get("id_number"), str):
            return None
        number = record["id_number"].strip().upper()
        if number not in self._keys:
            self._keys[number] = self.person_key(number) if validate_id_number(number, self.today).ok else None
        key = self._keys[number]
        if key is not None and key not in self.persons:
            self.persons[key] = PersonFacts(key, mask_id(number), _text(record.get("name")) or "")
        return key


def extract_facts(view: Any, person_key: Callable[[str], str]) -> PackageFacts | None:
    """The facts of the package ``view`` (a :class:`~pipeline.check.view.PackageView`), or None
    when it is not readable enough to say who trained whom (no institution, no plan).
    ``person_key``: the keyed hash of an ID number."""
    layout = view.layout
    plan = layout.plan if isinstance(layout.plan, dict) else None
    institution = _text(layout.institution)
    if plan is None or institution is None:
        return None
    collector = _Collector(person_key, view.today)
    trainings: list[TrainingFacts] = []
    index_of_folder: dict[str, int] = {}
    for tf in view.forms.trainings:
        if tf.training is None:
            continue
        index = len(trainings)
        index_of_folder[tf.folder] = index
        trainings.append(TrainingFacts(
            occupation=tf.training.occupation, level=tf.training.level, folder=tf.folder,
            start_date=_iso(plan.get("start_date")), end_date=_iso(plan.get("end_date")),
            theory_mode=_modes(plan.get("theory_mode")), practice_mode=_modes(plan.get("practice_mode")),
            planned_trainees=tf.training.trainees))
        if tf.sign_in is not None:
            for session in _list(tf.sign_in.obj.get("sessions")):
                day = _iso(session.get("date"))
                for trainee in _list(session.get("trainees")):
                    key = collector.person(trainee)
                    if key is not None and day is not None:
                        collector.attendance[(index, key, day, OFFLINE)] = None
        if tf.online_record is not None:
            for trainee in _list(tf.online_record.obj.get("trainees")):
                key = collector.person(trainee)
                hours = trainee.get("hours")
                if key is not None:
                    collector.attendance[(index, key, None, ONLINE)] = (
                        float(hours) if isinstance(hours, (int, float)) and not isinstance(hours, bool) else None)
        for section, outline in (("理论", tf.theory_outline), ("实操", tf.practice_outline)):
            if outline is None:
                continue
            for session in _list(outline.obj.get("sessions")):
                day, hours = _iso(session.get("date")), session.get("hours")
                if day is None or isinstance(hours, bool) or not isinstance(hours, (int, float)):
                    continue
                collector.session_hours[(index, day)] += float(hours)
                key = collector.person(session.get("teacher"))
                if key is not None:
                    collector.teaching[(index, key, day, section)] += float(hours)
    media = []
    measured = view.measurements if layout.media else {}
    for m in layout.media:
        index = index_of_folder.get(m.training_folder)
        if index is None or m.kind not in (PHOTO, VIDEO):
            continue
        measurement = measured.get(m.file.path)
        phash = measurement.perceptual_hash if measurement is not None else None
        media.append(MediaFacts(index, m.file.path, m.kind, m.file.sha256, phash))
    return PackageFacts(
        institution=institution, trainings=tuple(trainings),
        persons=tuple(sorted(collector.persons.values(), key=lambda p: p.key)),
        attendance=tuple(
            Attendance(t, p, d, mode, hours if mode == ONLINE else collector.session_hours.get((t, d or "")))
            for (t, p, d, mode), hours in sorted(collector.attendance.items(), key=lambda item: (
                item[0][0], item[0][1], item[0][2] or "", item[0][3]))),
        teaching=tuple(Teaching(t, p, d, h, s) for (t, p, d, s), h in sorted(collector.teaching.items())),
        media=tuple(media))


# -- what the catalogue answers -------------------------------------------------------------


@dataclass(frozen=True)
class OtherTraining:
    """A training of an accepted package in the catalogue."""

    receipt_id: str
    institution: str
    occupation: str
    level: str
    start_date: str | None
    end_date: str | None

    @property
    def key(self) -> str:
        return training_key(self.institution, self.occupation, self.level, self.start_date)

    @property
    def name(self) -> str:
        return self.occupation + self.level


@dataclass(frozen=True)
class MediaSeen:
    training: OtherTraining
    path: str
    sha256: str
    phash: int | None  # unsigned


@dataclass(frozen=True)
class AttendanceSeen:
    training: OtherTraining
    person: str
    date: str | None
    mode: str


@dataclass(frozen=True)
class TeachingSeen:
    training: OtherTraining
    person: str
    date: str
    hours: float


class IntegrityLookup(Protocol):
    """What the integrity rule asks of the accepted packages decided before."""

    def media_like(self, sha256s: Collection[str], phashes: Collection[int],
                   distance: int) -> list[MediaSeen]:
        """Media whose SHA-256 is one of ``sha256s``, and photos whose perceptual hash is
        within ``distance`` bits of one of ``phashes`` (candidates: the rule compares)."""
        ...

    def attendance_of(self, persons: Collection[str]) -> list[AttendanceSeen]:
        """Every attendance of these persons (keyed hashes)."""
        ...

    def teaching_of(self, persons: Collection[str], dates: Collection[str]) -> list[TeachingSeen]:
        """Every session these persons taught on these dates."""
        ...


# -- the rule --------------------------------------------------------------------------------


def _who(person: PersonFacts) -> str:
    return f"{person.name}（{person.masked}）" if person.name else person.masked


def _where(other: OtherTraining) -> str:
    return f"{other.institution}“{other.name}”培训（回执编号 {other.receipt_id}）"


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _overlaps(a_start: str | None, a_end: str | None, b_start: str | None, b_end: str | None) -> bool:
    if None in (a_start, a_end, b_start, b_end):
        return False
    return bool(a_start <= b_end and b_start <= a_end)  # type: ignore[operator]


def media_signals(facts: PackageFacts, lookup: IntegrityLookup, distance: int) -> Iterator[Problem]:
    """W_MEDIA_REUSED: one per file of this package and other training, naming the closest
    match (of that training's latest receipt, when it was resubmitted)."""
    mine = list(facts.media)
    if not mine:
        return
    seen = lookup.media_like({m.sha256 for m in mine}, {m.phash for m in mine if m.phash is not None}, distance)
    for m in mine:
        own_key = facts.key_of(m.training)
        best: dict[str, tuple[int, MediaSeen]] = {}
        for other in seen:
            if other.training.key == own_key:
                continue
            if other.sha256 == m.sha256:
                bits = -1  # byte-identical: the closest of all
            elif m.phash is not None and other.phash is not None and m.kind == PHOTO:
                bits = (m.phash ^ other.phash).bit_count()
                if bits > distance:
                    continue
            else:
                continue
            held = best.get(other.training.key)
            if held is None or _closer((bits, other), held):
                best[other.training.key] = (bits, other)
        for bits, other in sorted(best.values(), key=lambda item: item[1].training.receipt_id):
            rid = other.training.receipt_id
            yield problem("W_MEDIA_REUSED", m.path, fault="identical" if bits < 0 else "similar",
                          name=_name(m.path), other=_where(other.training), other_file=_name(other.path),
                          other_path=other.path, other_receipt=rid, distance=max(bits, 0),
                          kind="照片" if m.kind == PHOTO else "视频")


def _closer(candidate: tuple[int, MediaSeen], held: tuple[int, MediaSeen]) -> bool:
    """Fewer differing bits first; then the later receipt; then the first path."""
    (bits, other), (held_bits, held_other) = candidate, held
    if bits != held_bits:
        return bits < held_bits
    if other.training.receipt_id != held_other.training.receipt_id:
        return other.training.receipt_id > held_other.training.receipt_id
    return other.path < held_other.path


#: where a signal is reported: (training index, form type) -> the form's path in the package
Place = Callable[[int, str], str]
#: dates listed in full in a message; more are cut to these and a count
SHOWN_DATES = 5


def _dates(dates: Iterable[str]) -> str:
    ordered = sorted(dates)
    shown = "、".join(ordered[:SHOWN_DATES])
    return shown if len(ordered) <= SHOWN_DATES else f"{shown} 等 {len(ordered)} 天"


def trainee_signals(facts: PackageFacts, lookup: IntegrityLookup, place: Place) -> Iterator[Problem]:
    """W_TRAINEE_OVERLAP: one per trainee and other training (same dates listed, or the
    overlapping period of the same occupation and level), naming its latest receipt; on
    the trainee's sign-in sheet (or online record)."""
    if not facts.attendance:
        return
    seen = lookup.attendance_of({a.person for a in facts.attendance})
    by_person: dict[str, list[AttendanceSeen]] = defaultdict(list)
    for other in seen:
        by_person[other.person].append(other)
    keys = {i: facts.key_of(i) for i in range(len(facts.trainings))}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for a in facts.attendance:
        mine = facts.trainings[a.training]
        for other in by_person.get(a.person, ()):
            if other.training.key == keys[a.training]:
                continue
            entry = found.setdefault((a.person, other.training.key),
                                     {"other": other.training, "dates": set(), "training": mine, "period": False,
                                      "where": place(a.training, "sign_in" if a.mode == OFFLINE else "online_record")})
            if other.training.receipt_id > entry["other"].receipt_id:
                entry["other"] = other.training
            if a.date is not None and a.date == other.date and a.mode == OFFLINE == other.mode:
                entry["dates"].add(a.date)
            elif ((other.training.occupation, other.training.level) == (mine.occupation, mine.level)
                  and _overlaps(mine.start_date, mine.end_date, other.training.start_date, other.training.end_date)):
                entry["period"] = True
    for (person, _key), entry in sorted(found.items(), key=lambda item: (item[0][0], item[1]["other"].receipt_id)):
        who, other, mine = _who(facts.person(person)), entry["other"], entry["training"]
        rid = other.receipt_id
        if entry["dates"]:
            yield problem("W_TRAINEE_OVERLAP", entry["where"], fault="same_day", person=who, training=mine.folder,
                          dates=_dates(entry["dates"]), other=_where(other), other_receipt=rid)
        elif entry["period"]:
            yield problem("W_TRAINEE_OVERLAP", entry["where"], fault="same_training", person=who,
                          training=mine.folder,
                          period=f"{mine.start_date} 至 {mine.end_date}",
                          other_period=f"{other.start_date} 至 {other.end_date}", other=_where(other),
                          other_receipt=rid)


def teacher_signals(facts: PackageFacts, lookup: IntegrityLookup, max_hours: float,
                    place: Place) -> Iterator[Problem]:
    """W_TEACHER_OVERLAP: one per teacher and date whose sessions, across trainings, add up
    to more than ``max_hours`` or are held by two institutions; on the outline of the
    teacher's first session that date in this package."""
    if not facts.teaching:
        return
    own_keys = {facts.key_of(i) for i in range(len(facts.trainings))}
    seen = lookup.teaching_of({t.person for t in facts.teaching}, {t.date for t in facts.teaching})
    days: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    others: dict[tuple[str, str], dict[str, OtherTraining]] = defaultdict(dict)
    where: dict[tuple[str, str], str] = {}
    for t in facts.teaching:
        days[(t.person, t.date)][f"本次“{facts.trainings[t.training].folder}”"] += t.hours
        where.setdefault((t.person, t.date), place(t.training, _OUTLINE_OF_SECTION.get(t.section, "theory_outline")))
    for other in seen:
        if other.training.key in own_keys or (other.person, other.date) not in days:
            continue
        label = _where(other.training)
        days[(other.person, other.date)][label] += other.hours
        others[(other.person, other.date)][label] = other.training
    for (person, day), parts in sorted(days.items()):
        if len(parts) < 2:
            continue  # one training alone: the outline's own business
        total = sum(parts.values())
        institutions = {o.institution for o in others[(person, day)].values()} - {facts.institution}
        if total <= max_hours and not institutions:
            continue
        described = "；".join(f"{label} {_hours(h)} 学时" for label, h in parts.items())
        receipts = sorted({o.receipt_id for o in others[(person, day)].values()})
        yield problem("W_TEACHER_OVERLAP", where[(person, day)], fault="institutions" if institutions else "hours",
                      person=_who(facts.person(person)), date=day, total=_hours(total), max=_hours(max_hours),
                      parts=described, other_receipt="、".join(receipts))


_OUTLINE_OF_SECTION = {"理论": "theory_outline", "实操": "practice_outline"}


def _hours(value: float) -> str:
    return f"{value:g}"


def _places(view: Any) -> Place:
    """The path of each training's forms (in the order :func:`extract_facts` numbers the
    trainings); the plan's where a form is missing."""
    fallback = view.forms.plan.path if view.forms.plan is not None else view.layout.root_path
    forms = [tf for tf in view.forms.trainings if tf.training is not None]

    def place(training: int, kind: str) -> str:
        form = forms[training].form(kind) if training < len(forms) else None
        return form.path if form is not None else fallback

    return place


def integrity_check(lookup: IntegrityLookup, person_key: Callable[[str], str],
                    found: list[PackageFacts] | None = None) -> Callable[[Any], Iterable[Problem]]:
    """The check (``view -> problems``) of spec section 10 against ``lookup``. The facts it
    extracts are appended to ``found`` (when given), for the decision's catalogue rows."""

    def check(view: Any) -> Iterator[Problem]:
        facts = extract_facts(view, person_key)
        if facts is None:
            return
        if found is not None:
            found.append(facts)
        rules, place = view.policy.integrity, _places(view)
        yield from media_signals(facts, lookup, rules.photo_hash_distance)
        yield from trainee_signals(facts, lookup, place)
        yield from teacher_signals(facts, lookup, rules.teacher_daily_max_hours, place)

    return check
