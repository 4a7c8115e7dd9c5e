"""The data stage: canonical tables, readers, the event store, ingest, replay."""
