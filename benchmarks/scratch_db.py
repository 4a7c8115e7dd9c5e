"""A throwaway PostgreSQL database for one benchmark run (created, then dropped)."""

from __future__ import annotations

import uuid
from collections.abc import Callable


def fresh_pg_database(server_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """Create ``<prefix>_<random>`` on the server of ``server_url``.

    Returns:
        The new database's URL and a function that drops it (forcefully: a benchmark
        killed part-way leaves connections behind).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop
