"""Item text is encoded once per content, and a training run reports its peak memory.

Real runs on a MovieLens-100k slice with the real encoder: the cache's own log line says
how many texts came from disk and how many were encoded.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np

_LINE = re.compile(r"(\d+) distinct texts, (\d+) from the cache, (\d+) encoded")


def _encoded(caplog) -> list[tuple[int, int, int]]:
    """(distinct, cached, encoded) of every cache log line so far, then forget them."""
    found = [
        tuple(int(n) for n in match.groups())
        for record in caplog.records
        if record.name == "recloop.model.text" and (match := _LINE.search(record.getMessage()))
    ]
    caplog.clear()
    return found


def test_a_second_run_encodes_nothing_and_an_edit_only_the_edited_items(
    ml_slice, tmp_path, make_settings, caplog
):
    from recloop.model.text import item_texts
    from recloop.training.setup import build_run

    events, items = ml_slice
    events = events[events["item_id"] <= 50]  # 50 movies: a few seconds of encoding
    items = items[items["item_id"] <= 50].reset_index(drop=True)
    settings = make_settings(tmp_path / "home", tmp_path / "cache", text_max_tokens=16)

    def prepare(catalog):
        with caplog.at_level(logging.INFO, logger="recloop.model.text"):
            run = build_run(
                settings,
                events,
                catalog,
                init_from=None,
                replay_events=None,
                valid_events=None,
                out_dir=tmp_path / "model",
            )
        return run.net.text_bank[1:].numpy().copy(), _encoded(caplog)

    first, log_first = prepare(items)
    distinct = len(set(item_texts(items, settings.train.text_fields)))
    assert log_first == [(distinct, 0, distinct)]
    second, log_second = prepare(items)
    assert log_second == [(distinct, distinct, 0)]  # every text from the cache
    np.testing.assert_array_equal(second, first)
    edited = items.copy()
    edited.loc[:2, "title"] = ["A Brand New Title", "Another New One", "Third Edit"]
    third, log_third = prepare(edited)
    assert log_third == [(distinct, distinct - 3, 3)]  # only the edited items
    np.testing.assert_array_equal(third[3:], first[3:])
    assert not np.allclose(third[:3], first[:3])


def test_training_reports_its_peak_memory(ml_slice, tmp_path, make_settings):
    import resource

    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    events = events[events["user_id"] <= 20]
    settings = make_settings(tmp_path / "home", tmp_path / "cache", epochs=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = train_recommender(settings, events, items, out_dir=tmp_path / "model")
    config = json.loads((result.model_dir / "config.json").read_text())
    peak = result.metrics["peak_rss_mib"]
    assert config["peak_rss_mib"] == config["metrics"]["peak_rss_mib"] == peak
    # ru_maxrss never falls: the run's peak is at least the process's peak before it
    # (reported to 0.1 MiB).
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert before - 0.05 <= peak <= after + 0.05
