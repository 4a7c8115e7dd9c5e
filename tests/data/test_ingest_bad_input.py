"""Bad input through ``recloop ingest``: exit code, counts and reasons; nothing is lost.

Every batch is cut from real MovieLens rows; the ``recloop`` fixture checks
received = accepted + quarantined + duplicates on every JSON report.
"""

from __future__ import annotations

import base64
import json
import os
import time

import pandas as pd
import pytest
import sqlalchemy as sa

from recloop.data import schema
from recloop.data.store import dispose_stores, load_events, open_store
from recloop.settings import Settings

GOOD = 60  # good rows per small batch: a few bad ones stay under the 10% rejection limit


def _ingest(recloop, path, *extra):
    return recloop("ingest", path, "--json", *extra)


def _log_row(settings, batch_id):
    with open_store(settings).connect() as connection:
        log = schema.ingest_log
        return connection.execute(sa.select(log).where(log.c.batch_id == batch_id)).mappings().one()


def _quarantine(settings, batch_id):
    with open_store(settings).connect() as connection:
        table = schema.quarantine
        query = sa.select(table).where(table.c.batch_id == batch_id).order_by(table.c.row_number)
        return connection.execute(query).mappings().all()


def test_real_batch_is_accepted_and_logged(recloop, write_batch, ml_lines, workspace):
    result = _ingest(recloop, write_batch(ml_lines[:GOOD]))
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert (report["status"], report["accepted"], report["reasons"]) == ("accepted", GOOD, {})
    logged = _log_row(workspace, report["batch_id"])
    assert (logged["received"], logged["accepted"], logged["status"]) == (GOOD, GOOD, "accepted")
    assert logged["received"] == logged["accepted"] + logged["quarantined"] + logged["duplicates"]
    assert len(load_events(workspace)) == GOOD


def test_reingest_same_file_is_a_noop(recloop, write_batch, ml_lines, workspace):
    path = write_batch(ml_lines[:GOOD])
    first = _ingest(recloop, path)
    again = _ingest(recloop, path)
    assert again.exit_code == 0
    assert again.report["batch_id"] == first.report["batch_id"]
    assert (again.report["status"], again.report["duplicates"]) == ("duplicate", GOOD)
    assert len(load_events(workspace)) == GOOD


def test_empty_file(recloop, write_batch):
    result = _ingest(recloop, write_batch(data=b""))
    assert result.exit_code == 2
    assert "empty" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_header_only(recloop, write_batch):
    result = _ingest(recloop, write_batch([]))
    assert result.exit_code == 2
    assert "no data rows" in result.stderr


def test_missing_file(recloop, tmp_path):
    result = _ingest(recloop, tmp_path / "nope.csv")
    assert result.exit_code == 2 and "no such file" in result.stderr
    assert _ingest(recloop, tmp_path).exit_code == 2


def test_wrong_delimiter(recloop, write_batch, ml_lines):
    lines = [line.replace(",", ";") for line in ml_lines[:GOOD]]
    result = _ingest(recloop, write_batch(lines, header="user_id;item_id;rating;timestamp"))
    assert result.exit_code == 2
    assert "wrong delimiter" in result.stderr


def test_missing_column(recloop, write_batch, ml_lines):
    lines = [line.rsplit(",", 1)[0] for line in ml_lines[:GOOD]]
    result = _ingest(recloop, write_batch(lines, header="user_id,item_id,rating"))
    assert result.exit_code == 2
    assert "missing required events column(s) timestamp" in result.stderr


def test_extra_columns_are_reported_and_kept_in_quarantine(
    recloop, write_batch, ml_lines, workspace
):
    lines = [f"{line},web" for line in ml_lines[:GOOD]] + ["1,2,9,881250949,app"]
    result = _ingest(recloop, write_batch(lines, header="user_id,item_id,rating,timestamp,src"))
    report = result.report
    assert result.exit_code == 0
    assert report["ignored_columns"] == ["src"]
    assert (report["status"], report["accepted"], report["reasons"]) == (
        "partial",
        GOOD,
        {"value_out_of_range": 1},
    )
    [row] = _quarantine(workspace, report["batch_id"])
    assert json.loads(row["raw"])["src"] == "app"


def test_bad_ratings(recloop, write_batch, ml_lines, workspace):
    bad = [
        "196,242,abc,881250949",
        "196,243,7,881250949",
        "196,244,0,881250949",
        "196,245,,881250949",
    ]
    result = _ingest(recloop, write_batch(ml_lines[:GOOD] + bad))
    report = result.report
    assert result.exit_code == 0
    assert report["status"] == "partial"
    assert (report["accepted"], report["quarantined"]) == (GOOD, 4)
    assert report["reasons"] == {
        "missing_value": 1,
        "non_numeric_value": 1,
        "value_out_of_range": 2,
    }
    rows = _quarantine(workspace, report["batch_id"])
    assert [r["row_number"] for r in rows] == [GOOD + 1, GOOD + 2, GOOD + 3, GOOD + 4]
    assert json.loads(rows[0]["raw"])["value"] == "abc"
    assert rows[0]["reasons"] == "non_numeric_value"


def test_null_and_invalid_ids(recloop, write_batch, ml_lines):
    bad = [",242,3,881250949", "196,,3,881250949", "19x,242,3,881250949", "196,2.5,3,881250949"]
    report = _ingest(recloop, write_batch(ml_lines[:GOOD] + bad)).report
    assert report["reasons"] == {
        "missing_user_id": 1,
        "missing_item_id": 1,
        "invalid_user_id": 1,
        "invalid_item_id": 1,
    }
    assert report["accepted"] == GOOD


def test_timestamps_in_ms_future_and_before_1995(recloop, write_batch, ml_lines):
    future = int(time.time()) + 30 * 86400
    bad = [
        "196,242,3,881250949000",
        f"196,243,3,{future}",
        "196,244,3,631152000",
        "196,245,3,88125094.5",
    ]
    report = _ingest(recloop, write_batch(ml_lines[:GOOD] + bad)).report
    assert report["reasons"] == {
        "timestamp_in_milliseconds": 1,
        "timestamp_in_future": 1,
        "timestamp_before_epoch": 1,
        "invalid_timestamp": 1,
    }


def test_all_timestamps_in_ms_rejects_the_batch(recloop, write_batch, ml_lines, workspace):
    lines = [line + "000" for line in ml_lines[:GOOD]]
    result = _ingest(recloop, write_batch(lines))
    report = result.report
    assert result.exit_code == 3
    assert (report["status"], report["accepted"], report["quarantined"]) == ("rejected", 0, GOOD)
    assert report["reasons"] == {"timestamp_in_milliseconds": GOOD}
    assert len(load_events(workspace)) == 0
    assert len(_quarantine(workspace, report["batch_id"])) == GOOD


def test_rejection_threshold_keeps_good_rows_in_quarantine(
    recloop, write_batch, ml_lines, workspace
):
    bad = [f"196,{i},9,881250949" for i in range(1, 21)]  # 20 of 80 rows: 25% > 10%
    report = _ingest(recloop, write_batch(ml_lines[:GOOD] + bad)).report
    assert report["status"] == "rejected"
    assert report["reasons"] == {"value_out_of_range": 20, "batch_rejected": GOOD}
    assert report["quarantined"] == GOOD + 20


def test_duplicates_within_a_batch(recloop, write_batch, ml_lines, workspace):
    first = ml_lines[0]
    user, item, _, stamp = first.split(",")
    conflicting = f"{user},{item},{'1' if first.split(',')[2] != '1' else '2'},{stamp}"
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], first, first, conflicting])).report
    assert (report["accepted"], report["duplicates"], report["quarantined"]) == (GOOD, 2, 1)
    assert report["reasons"] == {"conflicting_duplicate": 1}
    assert len(load_events(workspace)) == GOOD


def test_duplicates_across_batches(recloop, write_batch, ml_lines, workspace):
    _ingest(recloop, write_batch(ml_lines[:GOOD]))
    report = _ingest(recloop, write_batch(ml_lines[GOOD // 2 : GOOD + 10])).report
    assert report["status"] == "accepted"
    assert (report["accepted"], report["duplicates"]) == (10, GOOD // 2)
    events = load_events(workspace)
    assert len(events) == GOOD + 10
    assert not events.duplicated(["user_id", "item_id", "timestamp", "event_type"]).any()


def test_unknown_items_are_quarantined_once_a_catalog_exists(
    recloop, write_batch, ml_lines, movielens_dir, workspace
):
    assert recloop("ingest", movielens_dir / "items.csv", "--kind", "items").exit_code == 0
    bad = ["196,99999,3,881250949", "196,123456,4,881250949"]
    report = _ingest(recloop, write_batch(ml_lines[:GOOD] + bad)).report
    assert report["reasons"] == {"unknown_item": 2}
    assert report["accepted"] == GOOD


def test_unknown_items_can_be_registered(
    recloop, write_batch, ml_lines, movielens_dir, workspace, monkeypatch
):
    from recloop.data.store import load_items

    monkeypatch.setenv("RECLOOP_INGEST__UNKNOWN_ITEMS", "register")
    recloop("ingest", movielens_dir / "items.csv", "--kind", "items")
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], "196,99999,3,881250949"])).report
    assert (report["status"], report["accepted"]) == ("accepted", GOOD + 1)
    items = load_items(workspace).set_index("item_id")
    assert items.loc[99999, "first_seen"] == 881250949 and items.loc[99999, "title"] is None


def test_unknown_items_pass_without_a_catalog(recloop, write_batch, ml_lines):
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], "196,99999,3,881250949"])).report
    assert (report["status"], report["accepted"]) == ("accepted", GOOD + 1)


def test_non_utf8_bytes(recloop, write_batch, ml_lines, workspace):
    header = "user_id,item_id,rating,timestamp,scenario"
    good = "\n".join(f"{line},home" for line in ml_lines[:GOOD]).encode()
    data = (
        header.encode()
        + b"\n"
        + good
        + b"\n196,242,3,881250949,s\xe9arch\n1\xff,2,3,881250949,home\n"
    )
    report = _ingest(recloop, write_batch(data=data)).report
    assert report["accepted"] == GOOD
    assert report["reasons"] == {"invalid_utf8": 2, "invalid_user_id": 1}
    rows = _quarantine(workspace, report["batch_id"])
    assert json.loads(rows[0]["raw"])["scenario"] == "s\\xe9arch"
    assert rows[1]["reasons"] == "invalid_user_id,invalid_utf8"


def test_truncated_last_line(recloop, write_batch, ml_lines):
    data = ("\n".join(["user_id,item_id,rating,timestamp", *ml_lines[:GOOD], "196,24"])).encode()
    report = _ingest(recloop, write_batch(data=data)).report
    assert report["accepted"] == GOOD
    assert report["reasons"] == {"missing_timestamp": 1, "missing_value": 1}


def test_ragged_row_with_too_many_fields(recloop, write_batch, ml_lines, workspace):
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], "196,242,3,881250949,1,2"])).report
    assert report["reasons"] == {"malformed_row": 1}
    assert report["accepted"] == GOOD
    [row] = _quarantine(workspace, report["batch_id"])
    assert base64.b64decode(row["record_base64"]) == b"196,242,3,881250949,1,2"


def test_quarantine_commands(recloop, write_batch, ml_lines, tmp_path):
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], "196,242,7,881250949"])).report
    listed = recloop("quarantine", "list", "--json")
    assert listed.exit_code == 0
    [batch] = listed.report["batches"]
    assert batch["batch_id"] == report["batch_id"] and batch["reasons"] == {"value_out_of_range": 1}
    shown = recloop("quarantine", "show", report["batch_id"][:10], "--json")
    [row] = shown.report["rows"]
    assert row["reasons"] == ["value_out_of_range"] and row["raw"]["value"] == "7"  # as written
    assert row["record"] == "196,242,7,881250949"
    out = tmp_path / "quarantine.csv"
    exported = recloop("quarantine", "export", out, "--json")
    assert exported.report["rows"] == 1
    frame = pd.read_csv(out)
    assert frame.loc[0, "row_number"] == GOOD + 1
    assert recloop("quarantine", "show", "ffffffff").exit_code == 2


def test_rejected_batch_can_be_ingested_again_under_a_new_threshold(
    recloop, write_batch, ml_lines, workspace, monkeypatch
):
    path = write_batch([*ml_lines[:GOOD], *[f"196,{i},9,881250949" for i in range(1, 21)]])
    first = _ingest(recloop, path).report
    assert first["status"] == "rejected"
    monkeypatch.setenv("RECLOOP_INGEST__MAX_BAD_FRACTION", "0.5")
    again = _ingest(recloop, path)
    assert again.exit_code == 0
    report = again.report
    assert (report["batch_id"], report["status"]) == (first["batch_id"], "partial")
    assert (report["accepted"], report["reasons"]) == (GOOD, {"value_out_of_range": 20})
    assert len(_quarantine(workspace, report["batch_id"])) == 20  # old rows replaced
    assert _log_row(workspace, report["batch_id"])["status"] == "partial"


# ---- the boundary: exact ids, quotes, text limits, raw bytes, odd paths ----------------


@pytest.fixture
def backend(store_url, workspace, monkeypatch):
    """The CLI's store on SQLite and on PostgreSQL (a fresh database per test)."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    yield Settings()
    dispose_stores()


def _records(settings, batch_id) -> dict[int, bytes]:
    """Quarantined rows' exact source bytes by row number."""
    return {
        row["row_number"]: base64.b64decode(row["record_base64"])
        for row in _quarantine(settings, batch_id)
    }


def test_ids_above_2_53_stay_distinct_and_exact(recloop, write_batch, ml_lines, backend):
    big = [2**53, 2**53 + 1, 2**63 - 1]  # float64 has one value for the first two
    rows = [f"{user},{item},3,881250949" for user in big for item in big]
    result = _ingest(recloop, write_batch([*ml_lines[:GOOD], *rows]))
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert (report["accepted"], report["duplicates"], report["reasons"]) == (GOOD + 9, 0, {})
    stored = load_events(backend)
    pairs = set(zip(stored.user_id.tolist(), stored.item_id.tolist(), strict=True))
    assert {(user, item) for user in big for item in big} <= pairs
    again = _ingest(recloop, write_batch([*rows, *ml_lines[GOOD : GOOD + 10]])).report
    assert (again["duplicates"], again["accepted"]) == (9, 10)  # exact match with the store


def test_ids_outside_signed_64_bits_are_quarantined_never_clamped(
    recloop, write_batch, ml_lines, backend
):
    bad = [
        f"{2**63},242,3,881250949",
        f"{2**64 - 1},242,3,881250949",
        f"196,{2**63},3,881250949",
        "-1,242,3,881250949",
        f"{-(2**63)},243,3,881250949",
        "196,1e20,3,881250949",
    ]
    report = _ingest(recloop, write_batch([*ml_lines[:GOOD], *bad])).report
    assert report["accepted"] == GOOD
    assert report["reasons"] == {"invalid_user_id": 4, "invalid_item_id": 2}
    stored = load_events(backend)
    assert stored.user_id.min() >= 0 and stored.item_id.min() >= 0
    assert stored.user_id.max() < 2**63
    rows = _quarantine(backend, report["batch_id"])
    assert [json.loads(r["raw"])["user_id"] for r in rows[:2]] == [str(2**63), str(2**64 - 1)]


def test_parquet_uint64_and_nullable_ids(recloop, tmp_path, movielens, backend):
    events = movielens.events.iloc[:GOOD][["user_id", "item_id", "value", "timestamp"]]
    frame = events.astype({"user_id": "uint64"}).reset_index(drop=True)
    frame.loc[0, "user_id"] = 2**64 - 1
    frame.loc[1, "user_id"] = 2**53 + 1
    frame.loc[2, "user_id"] = 2**53
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    report = recloop("ingest", path, "--json").report
    assert (report["accepted"], report["reasons"]) == (GOOD - 1, {"invalid_user_id": 1})
    [row] = _quarantine(backend, report["batch_id"])
    assert json.loads(row["raw"])["user_id"] == 2**64 - 1  # exact, not -2**63 or a float
    assert row["record_base64"] is None  # Parquet has no row bytes; raw is exact
    assert {2**53, 2**53 + 1} <= set(load_events(backend).user_id.tolist())

    nullable = events.iloc[:20].astype({"item_id": "Int64"}).reset_index(drop=True)
    nullable.loc[0, "item_id"] = None  # a null made pandas read the column as float64
    nullable.loc[1, "item_id"] = 2**62 + 1
    nullable.loc[2, "timestamp"] = nullable.loc[2, "timestamp"] + 1  # not a duplicate
    nullable.to_parquet(path)
    report = recloop("ingest", path, "--json").report
    assert report["reasons"] == {"missing_item_id": 1}
    assert 2**62 + 1 in set(load_events(backend).item_id.tolist())


def test_unclosed_quote_never_swallows_the_next_rows(
    recloop, write_batch, movielens_dir, workspace
):
    items = (movielens_dir / "items.csv").read_text().splitlines()
    header, rows = items[0], items[1:41]
    broken = '9001,"Broken title,1999,Drama'
    data = "\n".join([header, *rows[:20], broken, *rows[20:]]) + "\n"
    result = recloop("ingest", write_batch(data=data.encode(), name="items.csv"), "--json")
    report = result.report
    assert result.exit_code == 0, result.stderr
    assert (report["received"], report["accepted"]) == (41, 40)
    assert report["reasons"] == {"unbalanced_quote": 1}
    assert _records(workspace, report["batch_id"]) == {21: broken.encode()}
    from recloop.data.store import load_items

    assert len(load_items(workspace)) == 40


def test_quote_open_at_end_of_file_and_multiline_fields(recloop, write_batch, ml_lines, workspace):
    header = "user_id,item_id,rating,timestamp,scenario"
    good = [f"{line},home" for line in ml_lines[:GOOD]]
    # A legal RFC 4180 multi-line field is read one physical line per row (see readers).
    multiline = ['196,242,3,881250949,"two', 'lines"']
    data = "\n".join([header, *good[:30], *multiline, *good[30:], '186,302,3,891717742,"open'])
    report = _ingest(recloop, write_batch(data=data.encode())).report
    assert report["received"] == GOOD + 3
    # Row 32 ('lines"') is a row of its own, with one field.
    assert report["reasons"] == {
        "unbalanced_quote": 2,
        "invalid_user_id": 1,
        "missing_item_id": 1,
        "missing_timestamp": 1,
        "missing_value": 1,
    }
    records = _records(workspace, report["batch_id"])
    assert records == {
        31: multiline[0].encode(),
        32: b'lines"',
        GOOD + 3: b'186,302,3,891717742,"open',
    }


def test_over_long_text_is_quarantined_on_every_backend(
    recloop, write_batch, ml_lines, backend, tmp_path
):
    header = "user_id,item_id,rating,timestamp,scenario,session_id"
    good = [f"{line},home,{'s' * 128}" for line in ml_lines[:GOOD]]  # exactly the limit
    bad = [f"196,242,3,881250949,home,{'s' * 129}", f"196,243,3,881250949,{'h' * 65},s1"]
    result = _ingest(recloop, write_batch([*good, *bad], header=header))
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report["accepted"] == GOOD
    assert report["reasons"] == {"session_id_too_long": 1, "scenario_too_long": 1}
    assert set(load_events(backend).session_id) == {"s" * 128}

    users = tmp_path / "users.csv"
    lines = ["user_id,age,gender,occupation,zip_code"]
    lines += [f"{n},30,M,writer,{n:05d}" for n in range(1, 31)]
    lines += ["31,30,M,writer,123456789012345678", f"32,30,{'x' * 17},writer,1"]
    users.write_text("\n".join(lines) + "\n")
    users_result = recloop("ingest", users, "--json")
    assert users_result.exit_code == 0, users_result.stderr
    assert users_result.report["reasons"] == {"zip_code_too_long": 1, "gender_too_long": 1}


def test_every_bounded_text_column_has_a_length_rule():
    """A schema length the suite does not check would fail on PostgreSQL only."""
    from recloop.data.decide import STORED_COLUMNS
    from recloop.validation.frame import text_length_limits
    from recloop.validation.suite import load_suite_document

    for kind in ("events", "items", "users"):
        checked = {
            e["kwargs"]["column"]: e["kwargs"]["max_value"]["$PARAMETER"]
            for e in load_suite_document(kind)["expectations"]
            if e["type"] == "expect_column_value_lengths_to_be_between"
        }
        bounded = {c for c in text_length_limits(kind) if c in STORED_COLUMNS[kind]}
        bounded.discard("year")  # a year is 4 digits or set to null (year_unparseable)
        assert checked == {c: f"{c}_max_length" for c in bounded}, kind


def test_quarantine_keeps_nul_nan_and_bad_bytes_exactly(recloop, write_batch, ml_lines, backend):
    header = "user_id,item_id,rating,timestamp,scenario"
    good = [f"{line},home" for line in ml_lines[:GOOD]]
    bad = [
        b"196,242,3,881250949,ho\x00me",
        b"19\x006,243,3,881250949,home",
        b"196,244,NaN,881250949,NA",
        b"196,245,3,881250949,s\xe9arch",
        b"196,246,3.5\x00x,881250949,home",  # pandas' to_numeric reads 3.5
    ]
    data = "\n".join([header, *good]).encode() + b"\n" + b"\r\n".join(bad) + b"\r\n"
    result = _ingest(recloop, write_batch(data=data))
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report["reasons"] == {
        "text_contains_nul": 1,
        "invalid_user_id": 1,
        "non_numeric_value": 2,
        "invalid_utf8": 1,
    }
    rows = _quarantine(backend, report["batch_id"])
    assert [base64.b64decode(r["record_base64"]) for r in rows] == bad
    raws = [json.loads(r["raw"]) for r in rows]
    assert raws[0]["scenario"] == "ho\x00me" and raws[1]["user_id"] == "19\x006"
    assert (raws[2]["value"], raws[2]["scenario"]) == ("NaN", "NA")


def test_text_that_looks_missing_is_stored_verbatim(recloop, write_batch, ml_lines, backend):
    header = "user_id,item_id,rating,timestamp,scenario,session_id"
    rows = [f"{line},NA,null" for line in ml_lines[:GOOD]]
    assert _ingest(recloop, write_batch(rows, header=header)).exit_code == 0
    stored = load_events(backend)
    assert set(stored.scenario) == {"NA"} and set(stored.session_id) == {"null"}


def test_source_columns_named_like_internal_ones(recloop, write_batch, ml_lines, backend):
    header = "row_number,user_id,item_id,rating,timestamp,malformed"
    rows = [f"r{n},{line},yes" for n, line in enumerate(ml_lines[:GOOD])]
    rows.append("r-bad,196,242,9,881250949,yes")
    result = _ingest(recloop, write_batch(rows, header=header))
    report = result.report
    assert result.exit_code == 0, result.stderr
    assert (report["accepted"], report["reasons"]) == (GOOD, {"value_out_of_range": 1})
    assert report["ignored_columns"] == ["row_number", "malformed"]
    [row] = _quarantine(backend, report["batch_id"])
    assert row["row_number"] == GOOD + 1
    raw = json.loads(row["raw"])
    assert (raw["row_number"], raw["malformed"], raw["value"]) == ("r-bad", "yes", "9")


def test_first_seen_too_large_beside_a_blank(recloop, write_batch, movielens_dir, workspace):
    items = (movielens_dir / "items.csv").read_text().splitlines()
    rows = [f"{line}," for line in items[1:31]]  # blank first_seen
    rows[5] = rows[5] + "1e20"
    data = "\n".join([items[0] + ",first_seen", *rows]) + "\n"
    result = recloop("ingest", write_batch(data=data.encode(), name="items.csv"), "--json")
    assert result.exit_code == 0, result.stderr
    assert (result.report["accepted"], result.report["reasons"]) == (29, {"invalid_first_seen": 1})


def test_fifo_and_device_are_not_regular_files(recloop, tmp_path):
    fifo = tmp_path / "batch.csv"
    os.mkfifo(fifo)
    result = _ingest(recloop, fifo)
    assert result.exit_code == 2
    assert "is not a regular file (it is a named pipe (FIFO))" in result.stderr
    device = _ingest(recloop, "/dev/null")
    assert device.exit_code == 2 and "character device" in device.stderr
    assert "no such file" in _ingest(recloop, tmp_path / "absent.csv").stderr
