"""Alembic's environment for the catalogue. Run through :func:`pipeline.catalogue.database.migrate`
with the connection in ``config.attributes["connection"]``; no alembic.ini, no URL here."""

from __future__ import annotations

from alembic import context

from pipeline.catalogue.schema import metadata


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


_run()
