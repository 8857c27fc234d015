"""The catalogue: a database of every decision, training, person, attendance, teaching
session and media file (issue 17, spec section 10). SQLAlchemy Core, migrated by Alembic;
SQLite under the data folder by default, PostgreSQL through ``DATABASE_URL``.

It imports only the checker (pipeline/check): what a package's facts are, and the
:class:`~pipeline.check.integrity.IntegrityLookup` the integrity rule asks.
"""
