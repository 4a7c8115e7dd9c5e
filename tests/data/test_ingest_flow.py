"""The Prefect ingest flow runs without a server and orders catalogs before events."""

from __future__ import annotations

import pytest

from recloop.data.store import load_events, load_items


def _flow_module():
    """The flows as the installed package ships them (flows/ingest.py re-exports them)."""
    from recloop.loop import flows

    return flows


@pytest.mark.integration
def test_ingest_flow(prefect_harness, write_batch, ml_lines, movielens_dir, workspace):
    flow_module = _flow_module()
    events = write_batch([*ml_lines[:200], "196,99999,3,881250949"], name="events-0001.csv")
    reports = flow_module.ingest_flow(
        [str(events), str(movielens_dir / "items.csv")], settings=workspace
    )
    assert [r["kind"] for r in reports] == ["items", "events"]
    assert reports[1]["status"] == "partial"
    assert reports[1]["reasons"] == {"unknown_item": 1}
    assert len(load_events(workspace)) == 200 and len(load_items(workspace)) == 1682


class _FailedState:
    """What the retry predicate reads: a state whose result re-raises the task's error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def result(self):
        raise self.error


def test_only_transient_database_errors_are_retried(tmp_path):
    import sqlalchemy as sa

    from recloop.errors import UnusableInputError

    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(sa.exc.OperationalError) as refused:  # a real refused connection
        engine.connect()
    retry = _flow_module().is_transient_db_error
    assert retry(None, None, _FailedState(refused.value)) is True
    assert retry(None, None, _FailedState(UnusableInputError("empty file"))) is False
