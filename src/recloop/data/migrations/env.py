"""Alembic environment: migrates the connection handed over by ``recloop.data.store``.

``open_store`` runs ``alembic upgrade head`` programmatically with
``config.attributes["connection"]`` set, so no ``alembic.ini`` or URL is needed here.
From a shell: ``recloop`` does it for you on first use of a store.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from recloop.data.schema import metadata

config = context.config


def run_migrations() -> None:
    """Migrate the given connection (or the URL in ``sqlalchemy.url``)."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _migrate(conn)
        return
    _migrate(connection)


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
