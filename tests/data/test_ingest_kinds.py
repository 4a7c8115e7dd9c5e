"""A batch's columns decide its kind: a wrong ``--kind`` or a misleading file name never
writes an events file into a catalogue (``recloop.data.kinds``)."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.data.kinds import KINDS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, fits, resolve_kind
from recloop.data.store import dispose_stores, load_events, load_items, load_users
from recloop.errors import UnusableInputError
from recloop.settings import Settings

VOCABULARY = sorted({c for k in KINDS for c in REQUIRED_COLUMNS[k] + OPTIONAL_COLUMNS[k]})


@pytest.fixture
def catalogue(store_url, recloop, movielens_dir, monkeypatch):
    """Settings of a store (each backend) holding the real MovieLens-100k items and users."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    for name in ("items.csv", "users.csv"):
        result = recloop("ingest", movielens_dir / name, "--json")
        assert (result.exit_code, result.report["status"]) == (0, "accepted"), result.stderr
    yield Settings()
    dispose_stores()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        ("items", "has the columns of an events file (user_id, item_id, timestamp, value), "
         "not items: use --kind events"),
        ("users", "has the columns of an events file (user_id, item_id, timestamp, value), "
         "not users: use --kind events"),
    ],
)  # fmt: skip
def test_events_file_under_a_catalogue_kind_is_refused(
    catalogue, recloop, movielens_dir, wrong, message
):
    items, users = load_items(catalogue), load_users(catalogue)
    assert (len(items), len(users)) == (1682, 943)
    result = recloop("ingest", movielens_dir / "interactions.csv", "--kind", wrong, "--json")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "interactions.csv" in result.stderr
    assert result.report is None
    # Nothing changed: every title and every demographic is where it was.
    assert load_items(catalogue).equals(items) and load_users(catalogue).equals(users)
    assert items.title.notna().all() and users.age.notna().all()


def test_catalogue_file_under_another_kind_is_refused(workspace, recloop, movielens_dir):
    """Refused while reading, before the store is touched (so one backend is enough)."""
    result = recloop("ingest", movielens_dir / "items.csv", "--kind", "users")
    assert result.exit_code == 2
    assert "has the columns of an items file (item_id, title, year, genres), not users" in (
        result.stderr
    )
    result = recloop("ingest", movielens_dir / "users.csv", "--kind", "events")
    assert result.exit_code == 2
    assert "has the columns of a users file" in result.stderr and "use --kind users" in (
        result.stderr
    )


def test_file_name_never_overrides_the_columns(catalogue, recloop, movielens_dir, tmp_path):
    """users_clicks_2024.csv holds events: it is ingested as events, users stay intact."""
    users = load_users(catalogue)
    assert len(users) == 943
    path = tmp_path / "users_clicks_2024.csv"
    lines = (movielens_dir / "interactions.csv").read_text().splitlines()[:501]
    path.write_text("\n".join(lines) + "\n")
    result = recloop("ingest", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert (result.report["kind"], result.report["accepted"]) == ("events", 500)
    assert len(load_events(catalogue)) == 500
    assert load_users(catalogue).equals(users)

    items_named_as_users = tmp_path / "users.csv"
    shutil.copy(movielens_dir / "items.csv", items_named_as_users)
    result = recloop("ingest", items_named_as_users, "--json")
    assert (result.exit_code, result.report["kind"]) == (0, "items")
    assert result.report["status"] == "duplicate"  # the same items are stored already
    assert load_users(catalogue).equals(users)


def test_columns_that_fit_no_kind_are_refused_with_one_line(recloop, write_batch, workspace):
    path = write_batch(["1,2,Toy Story"], header="user_id,item_id,title")
    result = recloop("ingest", path)
    assert result.exit_code == 2
    assert "missing required events column(s) timestamp" in result.stderr
    result = recloop("ingest", path, "--kind", "items")
    assert result.exit_code == 2
    assert "user_id cannot be in an items file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*VOCABULARY, "url", "notes"]), unique=True))
def test_at_most_one_kind_fits_and_it_is_the_one_resolved(columns):
    fitting = [kind for kind in KINDS if fits(columns, kind)]
    assert len(fitting) <= 1
    for kind in fitting:
        assert set(REQUIRED_COLUMNS[kind]) <= set(columns)
        assert resolve_kind(columns, None, "f") == kind == resolve_kind(columns, kind, "f")
    for kind in [*KINDS, None]:
        if kind not in fitting and (kind is not None or not fitting):
            with pytest.raises(UnusableInputError):
                resolve_kind(columns, kind, "f")
