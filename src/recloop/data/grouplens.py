"""GroupLens' original MovieLens layouts: ml-100k (``u.data``, ``u.item``, ``u.user``),
ml-1m (``ratings.dat``, ``movies.dat``, ``users.dat``) and the ml-latest title convention.

Each reader returns the file's rows under canonical column names, values as in the file
(``readers.read_batch`` does the rest). The originals are Latin-1 encoded.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
# 'Toy Story (1995)' -> title, year
TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
TEXT_FIELDS = {"title", "genres", "gender", "occupation", "zip_code"}


def split_title_year(frame: pd.DataFrame) -> pd.DataFrame:
    """ml-latest/ml-1m titles carry the year: "Toy Story (1995)" -> title, year."""
    parts = frame["title"].astype("string").str.extract(TITLE_YEAR)
    has_year = parts["year"].notna()
    frame = frame.copy()
    frame["title"] = frame["title"].where(~has_year, parts["title"])
    frame["year"] = parts["year"].astype(object).where(has_year, None)
    return frame


def _read_separated(path: Path, separator: str, names: list[str], encoding="latin-1"):
    """Headerless GroupLens files; ``::`` is rewritten to a tab for the fast C parser."""
    text = path.read_text(encoding=encoding)
    if separator == "::":
        text, separator = text.replace("::", "\t"), "\t"
    dtype = {n: object for n in names if n in TEXT_FIELDS}
    return pd.read_csv(
        io.StringIO(text),
        sep=separator,
        header=None,
        names=names,
        dtype=dtype,
        quoting=csv.QUOTE_NONE,
    )


def _read_u_item(path: Path) -> pd.DataFrame:
    names = ["item_id", "title", "release_date", "video_date", "url", *ML100K_GENRES]
    raw = _read_separated(path, "|", names)
    flags = raw[ML100K_GENRES].fillna(0).astype(int).to_numpy(dtype=bool)
    genres = ["|".join(g for g, on in zip(ML100K_GENRES, row, strict=True) if on) for row in flags]
    frame = pd.DataFrame({"item_id": raw["item_id"], "title": raw["title"]})
    frame = split_title_year(frame)
    release_year = raw["release_date"].astype("string").str[-4:]
    frame["year"] = frame["year"].where(frame["year"].notna(), release_year.astype(object))
    frame["year"] = frame["year"].where(frame["year"].notna(), None)
    frame["genres"] = genres
    return frame


def _read_ml1m_movies(path: Path) -> pd.DataFrame:
    frame = _read_separated(path, "::", ["item_id", "title", "genres"])
    return split_title_year(frame)


GROUPLENS_READERS = {
    "u.data": lambda p: _read_separated(p, "\t", ["user_id", "item_id", "value", "timestamp"]),
    "u.item": _read_u_item,
    "u.user": lambda p: _read_separated(
        p, "|", ["user_id", "age", "gender", "occupation", "zip_code"]
    ),
    "ratings.dat": lambda p: _read_separated(p, "::", ["user_id", "item_id", "value", "timestamp"]),
    "movies.dat": _read_ml1m_movies,
    "users.dat": lambda p: _read_separated(
        p, "::", ["user_id", "gender", "age", "occupation", "zip_code"]
    ),
}
