"""Implicit feedback as a first-class case, on real slices of MovieLens-1M and Amazon Beauty.

Both datasets (``../shared/datasets``) are event logs without a value column: each row is
one positive interaction, and rows with equal timestamps are ordered by the file (the
datasets' READMEs: "read the file in order and sort stably by time"). Each test reads the
first ``SLICE_ROWS`` events of a dataset and exactly the catalogue lines they reference,
copied byte for byte into a canonical-layout folder named like the dataset, so that the
folder resolves by name through ``RECLOOP_DATA_DIR``.

The documented defaults (``settings.ingest``): no event and no value column gives
``event_type="interaction"`` with value 1.0; a value column without an event column gives
``"rating"``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recloop.data import schema
from recloop.data.datasets import load_dataset, resolve_dataset, write_canonical
from recloop.data.readers import read_dataset
from recloop.data.store import dispose_stores, open_store
from recloop.settings import Settings
from recloop.training.sequences import time_ordered

SLICE_ROWS = 3000
IMPLICIT = ["movielens-1m", "amazon-beauty"]
INT64_MAX = 2**63 - 1


def _write_slice(source: Path, target: Path, rows: int) -> None:
    """The first ``rows`` events and the catalogue lines they use, bytes unchanged."""
    target.mkdir(parents=True)
    with (source / "interactions.csv").open(newline="") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    (target / "interactions.csv").write_text("".join(lines), newline="")
    used = {line.split(",")[1] for line in lines[1:]}
    with (source / "items.csv").open(newline="") as handle:
        header, *catalogue = handle.readlines()
    kept = [line for line in catalogue if next(csv.reader([line]))[0] in used]
    (target / "items.csv").write_text(header + "".join(kept), newline="")


@pytest.fixture(scope="module")
def data_dir(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A datasets folder holding slices of the three shared datasets under their names."""
    root = tmp_path_factory.mktemp("datasets")
    for name in [*IMPLICIT, "movielens-100k"]:
        source = movielens_dir.parent / name
        if not (source / "interactions.csv").exists():
            pytest.fail(f"{name} not found at {source} (../shared/datasets)")
        _write_slice(source, root / name, SLICE_ROWS)
    return root


@pytest.fixture
def named(workspace, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The test workspace's settings, with ``data_dir`` as the datasets directory."""
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(data_dir))
    return Settings()


def _raw(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The slice's files as text, exactly as written (no type guessing, no NA words)."""
    read = {"dtype": str, "keep_default_na": False}
    return pd.read_csv(directory / "interactions.csv", **read), pd.read_csv(
        directory / "items.csv", **read
    )


# ---- reading by name -------------------------------------------------------------------


@pytest.mark.parametrize("name", IMPLICIT)
def test_named_implicit_dataset_reads_as_positive_interactions(named, data_dir, name):
    directory = resolve_dataset(named, name)
    assert directory == data_dir / name
    dataset = load_dataset(named, name)
    events, items = _raw(directory)
    got = dataset.events
    assert len(got) == SLICE_ROWS
    assert set(got.event_type) == {"interaction"} and set(got.value) == {1.0}
    for column in ("user_id", "item_id", "timestamp"):  # file order, exact values
        assert got[column].tolist() == events[column].astype(int).tolist()
    assert got.index.tolist() == list(range(SLICE_ROWS))
    catalogue = dataset.items.set_index("item_id")
    assert sorted(catalogue.index) == sorted(items.item_id.astype(int))
    assert catalogue.loc[items.item_id.astype(int), "title"].tolist() == items.title.tolist()
    assert list(dataset.items.columns) == ["item_id", "title", "year", "genres", "first_seen"]
    if name == "amazon-beauty":  # title only: year null, genres "" as the store holds them
        assert dataset.items.year.isna().all() and (dataset.items.genres == "").all()
        assert dataset.items.title.str.contains("&amp;").any()  # kept as found
    else:
        assert catalogue.loc[items.item_id.astype(int), "year"].tolist() == items.year.tolist()
        assert catalogue.loc[items.item_id.astype(int), "genres"].tolist() == items.genres.tolist()
    assert dataset.users is None
    direct = read_dataset(directory)  # the same without settings: the defaults
    pd.testing.assert_frame_equal(direct.events, got)


def test_implicit_defaults_follow_settings(named, monkeypatch):
    monkeypatch.setenv("RECLOOP_INGEST__IMPLICIT_EVENT_TYPE", "view")
    monkeypatch.setenv("RECLOOP_INGEST__IMPLICIT_VALUE", "0.5")
    events = load_dataset(Settings(), "amazon-beauty").events
    assert set(events.event_type) == {"view"} and set(events.value) == {0.5}


def test_explicit_ratings_still_read_as_ratings(named):
    events, _ = _raw(named.datasets_dir / "movielens-100k")
    got = load_dataset(named, "movielens-100k").events
    assert set(got.event_type) == {"rating"}
    assert got.value.tolist() == events.rating.astype(float).tolist()


def test_replay_by_name_writes_batches_that_ingest(named, recloop, tmp_path):
    """``recloop replay NAME`` (the path simulate's name takes too) on an implicit set."""
    out = tmp_path / "replay"
    result = recloop("replay", "amazon-beauty", "--every", "365d", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.report["events"] == SLICE_ROWS
    assert recloop("ingest", out / "items.csv", "--json").report["status"] == "accepted"
    first = out / result.report["batches"][0]["file"]
    report = recloop("ingest", first, "--json").report
    assert (report["status"], report["accepted"]) == ("accepted", pd.read_csv(first).shape[0])


@pytest.mark.parametrize("name", IMPLICIT)
def test_simulate_resolves_the_name(named, recloop, tmp_path, monkeypatch, name):
    """``recloop simulate NAME`` hands the simulation the named folder, which reads."""
    from recloop.loop import simulate as simulation

    seen = {}

    def fake_run(settings, dataset_dir, **_options):
        seen["dir"], seen["events"] = Path(dataset_dir), read_dataset(dataset_dir).events
        return {"arms": {}, "report_path": "none"}

    monkeypatch.setattr(simulation, "run_simulation", fake_run)
    result = recloop("simulate", name, "--workspace", tmp_path / "sim", "--json")
    assert result.exit_code == 0, result.stderr
    assert seen["dir"] == named.datasets_dir / name
    assert len(seen["events"]) == SLICE_ROWS and set(seen["events"].event_type) == {"interaction"}
    missing = recloop("simulate", "no-such-dataset", "--workspace", tmp_path / "sim")
    assert missing.exit_code == 2 and "not found" in missing.stderr


# ---- ties: file order, then a stable sort by time ---------------------------------------


@pytest.mark.parametrize("name", IMPLICIT)
def test_equal_timestamps_keep_file_order(named, name):
    events = load_dataset(named, name).events
    ordered = time_ordered(events)
    ties = ordered.timestamp.diff().eq(0).to_numpy()
    assert ties.sum() > 500  # the slice really has ties (about half of all events)
    index = ordered.index.to_numpy()
    assert (np.diff(index)[ties[1:]] > 0).all()  # within equal times: file order
    # Files are grouped by user and time-ordered within a user: each user's sequence after
    # the sort is the file's, so each user's last item is the file's last row of that user.
    for _, group in ordered.groupby("user_id", sort=False):
        assert group.index.is_monotonic_increasing


# ---- ingest through the CLI, both backends ----------------------------------------------


def _stored(settings: Settings) -> list[tuple]:
    table = schema.events
    columns = [table.c[c] for c in ("user_id", "item_id", "timestamp", "event_type", "value")]
    query = sa.select(*columns).order_by(table.c.timestamp, table.c.event_id)
    with open_store(settings).connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


@pytest.mark.parametrize("name", IMPLICIT)
def test_implicit_files_ingest_through_the_cli(
    name, store_url, recloop, data_dir, workspace, monkeypatch
):
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    settings = Settings()
    directory = data_dir / name
    events, items = _raw(directory)
    try:
        item_report = recloop("ingest", directory / "items.csv", "--json").report
        assert (item_report["status"], item_report["accepted"]) == ("accepted", len(items))
        result = recloop("ingest", directory / "interactions.csv", "--json")
        assert result.exit_code == 0, result.stderr
        report = result.report
        assert (report["status"], report["received"], report["accepted"]) == (
            "accepted",
            SLICE_ROWS,
            SLICE_ROWS,
        )
        assert (report["quarantined"], report["duplicates"]) == (0, 0)
        # Exact rows, in (timestamp, event_id) order = the file stably sorted by time.
        expected = events.astype({"user_id": int, "item_id": int, "timestamp": int})
        expected = expected.sort_values("timestamp", kind="stable")
        assert _stored(settings) == [
            (u, i, t, "interaction", 1.0)
            for u, i, t in expected[["user_id", "item_id", "timestamp"]].itertuples(index=False)
        ]
        query = sa.select(schema.items.c.item_id, schema.items.c.title)
        with open_store(settings).connect() as connection:
            titles = {str(item): title for item, title in connection.execute(query)}
        assert titles == dict(zip(items.item_id, items.title, strict=True))  # "&amp;" kept
    finally:
        dispose_stores()


# ---- writing the canonical form ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "events_header", "items_header"),
    [
        ("movielens-1m", "user_id,item_id,timestamp", "item_id,title,year,genres"),
        ("amazon-beauty", "user_id,item_id,timestamp", "item_id,title"),
        ("movielens-100k", "user_id,item_id,rating,timestamp", "item_id,title,year,genres"),
    ],
)
def test_write_canonical_writes_what_exists(named, tmp_path, name, events_header, items_header):
    dataset = load_dataset(named, name)
    write_canonical(dataset, tmp_path)
    assert (tmp_path / "interactions.csv").read_text().splitlines()[0] == events_header
    assert (tmp_path / "items.csv").read_text().splitlines()[0] == items_header
    again = read_dataset(tmp_path)
    pd.testing.assert_frame_equal(again.events, dataset.events)
    pd.testing.assert_frame_equal(again.items, dataset.items, check_dtype=False)


def test_write_canonical_keeps_mixed_event_types(named, tmp_path):
    dataset = load_dataset(named, "amazon-beauty")
    dataset.events.loc[:9, ["event_type", "value"]] = ["purchase", 3.0]
    write_canonical(dataset, tmp_path)
    assert (tmp_path / "interactions.csv").read_text().splitlines()[0] == (
        "user_id,item_id,rating,event_type,timestamp"
    )
    pd.testing.assert_frame_equal(read_dataset(tmp_path).events, dataset.events)


# ---- property: any implicit events file ------------------------------------------------

ID_EDGES = [0, 1, 2**31, 2**53 - 1, 2**53, 2**53 + 1, 2**63 - 2, INT64_MAX]
ids = st.one_of(st.sampled_from(ID_EDGES), st.integers(0, INT64_MAX))
bad_ids = st.sampled_from([-1, 2**63, 2**64 - 1, -(2**63) - 1])
# From the default min_timestamp (1995-01-01) to 2020: all plausible, some ties.
timestamps = st.one_of(st.integers(788_918_400, 1_600_000_000), st.just(1_000_000_000))
NAMES = {"user_id": ["user_id", "userId", "user"], "item_id": ["item_id", "movieId", "item"]}
EXAMPLES = {"sqlite": 12, "postgresql": 4}


@st.composite
def implicit_files(draw) -> tuple[list[str], list[tuple[int, int, int]], list[bool]]:
    """(header, rows as (user, item, timestamp), which rows hold an id outside int64)."""
    header = [draw(st.sampled_from(NAMES["user_id"])), draw(st.sampled_from(NAMES["item_id"]))]
    header = [*draw(st.permutations(header)), draw(st.sampled_from(["timestamp", "ts"]))]
    n = draw(st.integers(1, 40))
    rows, bad = [], []
    for _ in range(n):
        is_bad = draw(st.integers(0, 9)) == 0
        user = draw(bad_ids if is_bad else ids)
        row = (user, draw(ids), draw(timestamps))
        if rows and draw(st.integers(0, 7)) == 0:
            row = draw(st.sampled_from(rows))  # an exact repeat: a duplicate
            is_bad = not 0 <= row[0] <= INT64_MAX
        rows.append(row)
        bad.append(is_bad)
    return header, rows, bad


@pytest.fixture(params=["sqlite", "postgresql"])
def property_store(request, workspace, monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("RECLOOP_DATABASE_URL", url)
    monkeypatch.setenv("RECLOOP_INGEST__MAX_BAD_FRACTION", "1.0")
    yield request.param, Settings()
    dispose_stores()


def test_any_implicit_events_file_ingests_every_row(recloop, property_store, tmp_path):
    backend, settings = property_store

    @hypothesis_settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(file=implicit_files())
    def check(file) -> None:
        header, rows, bad = file
        with open_store(settings).begin() as connection:
            for table in (schema.events, schema.quarantine, schema.ingest_log):
                connection.execute(sa.delete(table))
        position = {"user_id": header.index(next(h for h in header if h in NAMES["user_id"]))}
        position["item_id"] = header.index(next(h for h in header if h in NAMES["item_id"]))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for user, item, timestamp in rows:
            fields = [None, None, timestamp]
            fields[position["user_id"]], fields[position["item_id"]] = user, item
            writer.writerow(fields)
        path = tmp_path / "implicit.csv"
        path.write_text(buffer.getvalue())
        result = recloop("ingest", path, "--json")
        assert result.exit_code == 0, result.stderr
        report = result.report
        good = [row for row, is_bad in zip(rows, bad, strict=True) if not is_bad]
        distinct = set(good)
        assert report["received"] == len(rows)
        assert report["quarantined"] == sum(bad)
        assert report["accepted"] == len(distinct)
        assert report["duplicates"] == len(good) - len(distinct)
        stored = _stored(settings)
        assert sorted(stored) == sorted((u, i, t, "interaction", 1.0) for u, i, t in distinct)

    check()
