"""The catalogue's tables (SQLAlchemy Core). The migrations (``migrations/versions``) create
them; this module is what the queries are written against. A change here needs a new
migration: ``tests/test_catalogue_db.py`` compares the migrated database with these tables.

No full personal number is stored anywhere: a person is the keyed hash of the ID number
(:func:`pipeline.check.privacy.keyed_hash`), with the masked number and the name beside it.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()

#: every decision: the summary of its document (what ``find`` and ``status`` show)
decisions = Table(
    "decisions", metadata,
    Column("receipt_id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("decided_at", String(40)),  # ISO 8601 with its offset, as the document says
    Column("decided_ts", Float, nullable=False),  # epoch seconds: for ranges and order
    Column("received_at", String(40)),
    Column("institution", Text),
    Column("report_date", String(10)),
    Column("package_name", Text),
    Column("package_size", BigInteger),
    Column("package_sha256", String(64)),
    Column("account", Text),
    Column("source", Text),
    Column("location", Text),
    Column("error_codes", Text),  # JSON list
    Column("errors", Integer, nullable=False, default=0),
    Column("warnings", Integer, nullable=False, default=0),
    Column("warning_codes", Text),  # JSON list
    Column("duplicate_of", String(40)),
    Column("supersedes", String(40)),
    Column("stored_as", Text),  # JSON: how a duplicate's ZIP is held
    Column("package_removed_at", String(40)),
    Column("policy_sha256", String(64)),
    #: the package's facts (trainings, people, media) are in the tables below
    Column("facts_recorded", Integer, nullable=False, default=0),
    #: erased at a withdrawal (``pipeline catalogue erase``): its facts are gone, the
    #: decision stays listed
    Column("erased_at", String(40)),
    Column("erased_reason", Text),
    Index("ix_decisions_decided_ts", "decided_ts"),
    Index("ix_decisions_status_ts", "status", "decided_ts"),
    Index("ix_decisions_sha256", "package_sha256"),
    Index("ix_decisions_supersedes", "supersedes"),
    Index("ix_decisions_account_ts", "account", "decided_ts"),  # an institution's home page (migration 0002)
)

#: the trainings of accepted packages
trainings = Table(
    "trainings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("receipt_id", String(40), ForeignKey("decisions.receipt_id", ondelete="CASCADE"), nullable=False),
    #: SHA-256 of institution, occupation, level and start date: resubmissions share it
    Column("training_key", String(64), nullable=False),
    Column("institution", Text, nullable=False),
    Column("occupation", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("start_date", String(10)),
    Column("end_date", String(10)),
    Column("theory_mode", String(32)),
    Column("practice_mode", String(32)),
    Column("planned_trainees", Integer),
    UniqueConstraint("receipt_id", "folder", name="uq_trainings_receipt_folder"),
    Index("ix_trainings_key", "training_key"),
    Index("ix_trainings_receipt", "receipt_id"),
)

#: every person seen (trainee or teacher), by the keyed hash of the ID number
persons = Table(
    "persons", metadata,
    Column("person_key", String(64), primary_key=True),
    Column("masked", String(32), nullable=False),
    Column("name", Text, nullable=False),
)

#: a trainee at a training: a sign-in date (offline), or the training's period (online)
attendance = Table(
    "attendance", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("training_id", Integer, ForeignKey("trainings.id", ondelete="CASCADE"), nullable=False),
    Column("person_key", String(64), ForeignKey("persons.person_key"), nullable=False),
    Column("date", String(10)),
    Column("mode", String(8), nullable=False),
    #: offline: the hours the training's outlines hold on that date; online: the record's
    Column("hours", Float),
    #: covering what the integrity rule and ``trace`` ask (a person's trainings, dates and
    #: modes): answered from the index alone, never the table's rows (docs/scaling.md)
    Index("ix_attendance_person_date", "person_key", "date", "training_id", "mode"),
    Index("ix_attendance_training", "training_id"),
)

#: a teacher's hours at a training on a date, per section
teaching = Table(
    "teaching", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("training_id", Integer, ForeignKey("trainings.id", ondelete="CASCADE"), nullable=False),
    Column("person_key", String(64), ForeignKey("persons.person_key"), nullable=False),
    Column("date", String(10), nullable=False),
    Column("hours", Float, nullable=False),
    Column("section", String(8), nullable=False),
    Index("ix_teaching_person_date", "person_key", "date", "training_id", "hours"),  # covering, as above
    Index("ix_teaching_training", "training_id"),
)

#: every photo and video of an accepted package; a photo's perceptual hash and its four
#: 16-bit bands (each indexed: a near-duplicate search probes bands, never scans; NULL for
#: videos). Each band's index holds the whole hash (and on PostgreSQL the row's id), so a
#: probe compares the hashes from the index alone and reads only the matching rows.
media = Table(
    "media", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("training_id", Integer, ForeignKey("trainings.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("phash", BigInteger),  # signed 64-bit (pipeline.check.integrity.signed64)
    Column("band0", Integer),
    Column("band1", Integer),
    Column("band2", Integer),
    Column("band3", Integer),
    Index("ix_media_sha256", "sha256"),
    Index("ix_media_band0", "band0", "phash", postgresql_include=["id"]),
    Index("ix_media_band1", "band1", "phash", postgresql_include=["id"]),
    Index("ix_media_band2", "band2", "phash", postgresql_include=["id"]),
    Index("ix_media_band3", "band3", "phash", postgresql_include=["id"]),
    Index("ix_media_training", "training_id"),
)

#: the catalogue's own facts: the last rebuild, the key's fingerprint
meta = Table(
    "catalogue_meta", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: the decision metrics (pipeline/ops/metrics.py), added to in the transaction that
#: records a new decision: every decision counted exactly once
counters = Table(
    "counters", metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Float, nullable=False),
)

BAND_COLUMNS = (media.c.band0, media.c.band1, media.c.band2, media.c.band3)

#: the web application's logins (pipeline/web/, issue 18; pipeline/catalogue/web_accounts.py):
#: an institution's login is bound to one account of the institution registry, an
#: operator's or inspector's to none. The password is kept as its argon2 hash only.
web_users = Table(
    "web_users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # institution, operator or inspector
    Column("account", Text),  # the registry account of an institution login; NULL otherwise
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string format
    Column("created_at", String(40), nullable=False),  # ISO 8601 with its offset
    Column("updated_at", String(40), nullable=False),
    Column("disabled_at", String(40)),  # NULL: the login may sign in
)

#: what web users did: every package viewed, ID number revealed, requeue, sign-in (and
#: failed one); kept for the data-protection officer and the inspection
web_audit = Table(
    "web_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),  # ISO 8601 with its offset
    Column("ts", Float, nullable=False),  # epoch seconds: for ranges and order
    Column("user_name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False),  # view-package, reveal-id, requeue, login, login-failed, …
    Column("receipt_id", String(40)),
    Column("detail", Text),  # JSON
    Index("ix_web_audit_ts", "ts"),
    Index("ix_web_audit_receipt", "receipt_id"),
)
