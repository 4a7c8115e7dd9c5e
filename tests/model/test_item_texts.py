"""``item_texts`` with the default text fields on real catalogues of both shapes.

MovieLens-1M has title/year/genres; Amazon Beauty has titles only, with HTML entities kept
as found ("&amp;"). One default (``train.text_fields``: title, year, genres) must serve
both: absent fields are skipped, entities are unescaped for the encoder only.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recloop.errors import UnusableInputError
from recloop.model.text import item_texts
from recloop.settings import TrainSettings

DEFAULT_FIELDS = TrainSettings().text_fields


def _catalogue(movielens_dir: Path, name: str, rows: int = 400) -> pd.DataFrame:
    """The first ``rows`` items of a shared dataset, as text exactly as in the file."""
    path = movielens_dir.parent / name / "items.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)


def test_default_fields_on_a_title_only_catalogue(movielens_dir):
    items = _catalogue(movielens_dir, "amazon-beauty", rows=2000)
    assert list(items.columns) == ["item_id", "title"] and DEFAULT_FIELDS[0] == "title"
    texts = item_texts(items, DEFAULT_FIELDS)
    assert texts == [html.unescape(title) for title in items.title]
    escaped = items.title.str.contains("&amp;")
    assert escaped.any()  # the slice has entities, and the encoder reads "&"
    assert not any("&amp;" in text for text, e in zip(texts, escaped, strict=True) if e)
    assert items.title[escaped].str.contains("&amp;").all()  # the frame is untouched


def test_default_fields_on_title_year_genres(movielens_dir):
    items = _catalogue(movielens_dir, "movielens-1m")
    texts = item_texts(items, DEFAULT_FIELDS)
    assert texts[0] == "Toy Story; 1995; Animation, Children's, Comedy"
    assert texts == [
        "; ".join([t, y, g.replace("|", ", ")])
        for t, y, g in zip(items.title, items.year, items.genres, strict=True)
    ]


def test_canonical_beauty_items_read_the_same(movielens_dir):
    """Read through ``read_dataset`` (null year, "" genres), the texts are the titles."""
    from recloop.data.readers import catalog_columns

    raw = _catalogue(movielens_dir, "amazon-beauty")
    items = catalog_columns(raw)
    assert item_texts(items, DEFAULT_FIELDS) == item_texts(raw, DEFAULT_FIELDS)


def test_no_configured_field_in_the_catalogue_is_an_error(movielens_dir):
    items = _catalogue(movielens_dir, "amazon-beauty", rows=5)
    with pytest.raises(UnusableInputError, match=r"none of the item text fields.*item_id, title"):
        item_texts(items, ["description", "brand"])


@given(
    title=st.text(max_size=30),
    year=st.one_of(st.none(), st.sampled_from(["1995", ""])),
    genres=st.one_of(st.none(), st.just("Drama|Comedy")),
)
def test_text_is_the_present_fields_unescaped(title, year, genres):
    frame = pd.DataFrame({"item_id": [1], "title": [title]})
    if year is not None:
        frame["year"] = [year]
    if genres is not None:
        frame["genres"] = [genres]
    (text,) = item_texts(frame, DEFAULT_FIELDS)
    parts = [html.unescape(title)] if title.strip() else []
    parts += [year] if year else []
    parts += ["Drama, Comedy"] if genres else []
    assert text == ("; ".join(parts) or "unknown item")
