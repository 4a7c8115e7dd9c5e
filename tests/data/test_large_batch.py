"""A 1,000,000-row batch through ``recloop ingest``: every row accounted for, bad rows found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

ROWS = 1_000_000


@pytest.mark.slow
def test_million_row_file(recloop, movielens, tmp_path, workspace):
    rng = np.random.default_rng(7)
    source = movielens.events
    picks = rng.integers(0, len(source), ROWS)
    frame = pd.DataFrame(
        {
            "user_id": source["user_id"].to_numpy()[picks],
            "item_id": source["item_id"].to_numpy()[picks],
            "rating": source["value"].to_numpy()[picks].astype(int).astype(object),
            "timestamp": source["timestamp"].to_numpy()[picks] + rng.integers(0, 86_400, ROWS),
        }
    )
    bad = rng.choice(ROWS, 1200, replace=False)
    millis, out_of_range, text = bad[:500], bad[500:1000], bad[1000:]
    frame.loc[millis, "timestamp"] *= 1000
    frame.loc[out_of_range, "rating"] = 9
    frame.loc[text, "rating"] = "five"
    path = tmp_path / "million.csv"
    frame.to_csv(path, index=False)

    good = frame.drop(index=bad)
    duplicates = int(good.duplicated(["user_id", "item_id", "timestamp"]).sum())

    result = recloop("ingest", path, "--json")
    report = result.report
    assert result.exit_code == 0, result.stderr
    assert report["status"] == "partial"
    assert report["received"] == ROWS
    assert report["reasons"] == {
        "timestamp_in_milliseconds": 500,
        "value_out_of_range": 500,
        "non_numeric_value": 200,
    }
    assert report["duplicates"] == duplicates
    assert report["accepted"] == ROWS - 1200 - duplicates
