"""Alembic migrations of the event store (run by ``store.open_store``; see ``env.py``)."""
