"""Packages that share photos, trainees and teachers (spec section 10), built from the
example kit with real, distinct photos; and a dump of a catalogue database to compare two.

Two institutions' packages made with the same report date hold their sessions on the same
dates, so putting one package's trainee into the other's sign-in sheet makes a trainee
sign in at two institutions on one day, and giving one package's teacher a session in the
other makes that teacher teach at both on one date.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import create_engine, select

from pipeline.catalogue.database import sqlalchemy_url
from pipeline.catalogue.schema import attendance, decisions, media, persons, teaching, trainings
from pipeline.kit.example import form_bytes, package_files, zip_package
from tests.support import mp4craft

REPORT_DATE = date(2026, 11, 20)
TRAINING = ("育婴师", "初级", 6)
FOLDER = "育婴师初级"


def scene(seed: int, width: int = 1920, height: int = 1080) -> bytes:
    """A photo-like JPEG of its own: a dozen coloured blocks placed by ``seed``. Like a real
    photo its picture is in the low frequencies a perceptual hash reads, so a copy saved
    again at another quality stays within a bit or two (a texture of noise does not)."""
    r = random.Random(seed)
    im = Image.new("RGB", (width, height), (r.randrange(256),) * 3)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = r.randrange(width), r.randrange(height)
        draw.rectangle((x0, y0, x0 + r.randrange(100, 900), y0 + r.randrange(100, 600)),
                       fill=(r.randrange(256), r.randrange(256), r.randrange(256)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def reencoded(jpeg: bytes, quality: int = 60) -> bytes:
    """The same picture saved again at another quality (what "Save as" in an editor does)."""
    buf = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class Built:
    institution: str
    files: dict[str, bytes]
    photos: list[str] = field(default_factory=list)  # paths below the root, in order

    @property
    def root(self) -> str:
        return f"{self.institution}{REPORT_DATE.strftime('%Y%m%d')}"

    @property
    def zip_name(self) -> str:
        return self.root + ".zip"

    def form(self, path: str) -> dict[str, Any]:
        return json.loads(self.files[path])

    def put_form(self, path: str, value: dict[str, Any]) -> None:
        self.files[path] = form_bytes(value)

    def zip(self) -> bytes:
        return zip_package(self.root, self.files)

    # -- what the tests take from one package into another ---------------------------------
    def first_trainee(self) -> dict[str, Any]:
        sign_in = self.form(f"{FOLDER}/签到表.json")
        trainee = sign_in["sessions"][0]["trainees"][0]
        return {"name": trainee["name"], "id_number": trainee["id_number"]}

    def first_teacher(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the 培训教师.json entry, the first theory session) of this package's first theory teacher."""
        outline = self.form(f"{FOLDER}/理论培训大纲.json")
        session = outline["sessions"][0]
        trainers = self.form("培训教师.json")["trainers"]
        entry = next(t for t in trainers if t["id_number"] == session["teacher"]["id_number"])
        return entry, session

    def take_trainee(self, trainee: dict[str, Any]) -> None:
        """``trainee`` signs in here instead of this package's first trainee, every session."""
        path = f"{FOLDER}/签到表.json"
        sign_in = self.form(path)
        replaced = sign_in["sessions"][0]["trainees"][0]["id_number"]
        for session in sign_in["sessions"]:
            for t in session["trainees"]:
                if t["id_number"] == replaced:
                    t.update(trainee)
        self.put_form(path, sign_in)

    def take_teacher(self, entry: dict[str, Any], hours: float) -> str:
        """The teacher of ``entry`` (a 培训教师.json row) holds this package's first theory
        session, of ``hours`` hours; returns that session's date."""
        trainers_path = "培训教师.json"
        trainers = self.form(trainers_path)
        trainers["trainers"] = [entry] + [t for t in trainers["trainers"] if t["id_number"] != entry["id_number"]]
        self.put_form(trainers_path, trainers)
        path = f"{FOLDER}/理论培训大纲.json"
        outline = self.form(path)
        outline["sessions"][0]["teacher"] = {"name": entry["name"], "id_number": entry["id_number"]}
        self.put_form(path, outline)
        return self.set_first_session_hours(hours)

    def set_first_session_hours(self, hours: float) -> str:
        """The first theory session lasts ``hours``; the second gives or takes the
        difference, so the outline's and the plan's totals stay as they were."""
        path = f"{FOLDER}/理论培训大纲.json"
        outline = self.form(path)
        first, second = outline["sessions"][0], outline["sessions"][1]
        second["hours"] -= hours - first["hours"]
        assert second["hours"] > 0, "the second session cannot give that many hours"
        first["hours"] = hours
        self.put_form(path, outline)
        return first["date"]


def package(institution: str, seed: int) -> Built:
    """An example package of ``institution`` whose media are its own: distinct pictures
    (seeded), not the example's schematic ones, which look alike to a perceptual hash; and
    videos made distinct by a ``free`` box of their own (the example's are one file)."""
    files = package_files(institution, REPORT_DATE, [TRAINING])
    built = Built(institution, dict(files))
    in_sections = sorted(p for p in files if p.count("/") == 2)
    photos = [p for p in in_sections if p.lower().endswith(".jpg")]
    for n, path in enumerate(photos):
        built.files[path] = scene(seed * 100 + n)
    for path in (p for p in in_sections if p.lower().endswith(".mp4")):
        own = mp4craft.box(b"free", f"{seed}:{path}".encode("utf-8"))
        built.files[path] = mp4craft.insert_top_level(files[path], 1, own)
    built.photos = photos
    return built


# -- comparing catalogues ---------------------------------------------------------------------

def catalogue_dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of a catalogue without its generated ids (trainings by receipt and folder),
    sorted: two catalogues holding the same facts dump alike."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as c:
            where = {row.id: (row.receipt_id, row.folder) for row in c.execute(select(trainings))}
            out = {
                "decisions": sorted(tuple(r) for r in c.execute(select(
                    decisions.c.receipt_id, decisions.c.status, decisions.c.package_sha256,
                    decisions.c.institution, decisions.c.facts_recorded))),
                "trainings": sorted(tuple(v for k, v in r._mapping.items() if k != "id")
                                    for r in c.execute(select(trainings))),
                "persons": sorted(tuple(r) for r in c.execute(select(persons))),
                "attendance": sorted((where[r.training_id], r.person_key, r.date or "", r.mode, r.hours)
                                     for r in c.execute(select(attendance))),
                "teaching": sorted((where[r.training_id], r.person_key, r.date, r.hours, r.section)
                                   for r in c.execute(select(teaching))),
                "media": sorted((where[r.training_id], r.path, r.kind, r.sha256, r.phash, r.band0, r.band1,
                                 r.band2, r.band3) for r in c.execute(select(media))),
            }
    finally:
        engine.dispose()
    return out
