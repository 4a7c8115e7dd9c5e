"""Column names of recloop's canonical tables, in one place.

Every stage reads and writes DataFrames with these names; functions take them as keyword
defaults (``user_col=USER_COL``) rather than spelling strings inline.

Canonical events (one row per behaviour event, in source order):
    user_id (int64), item_id (int64), event_type (str, e.g. "rating"), value (float64,
    the rating or event value), timestamp (int64, Unix seconds UTC), scenario (str or None:
    home feed, search, ...), session_id (str or None).
Canonical items: item_id (int64), title (str), year (str or None), genres (str,
    "|"-separated), first_seen (int64 Unix seconds or None).
Canonical users: user_id (int64), age (Int64 or None), gender, occupation, zip_code (str or None).
"""

USER_COL = "user_id"
ITEM_COL = "item_id"
EVENT_TYPE_COL = "event_type"
VALUE_COL = "value"
TIMESTAMP_COL = "timestamp"
SCENARIO_COL = "scenario"
SESSION_COL = "session_id"

TITLE_COL = "title"
YEAR_COL = "year"
GENRES_COL = "genres"
FIRST_SEEN_COL = "first_seen"
GENRE_SEPARATOR = "|"

EVENT_COLUMNS = [
    USER_COL,
    ITEM_COL,
    EVENT_TYPE_COL,
    VALUE_COL,
    TIMESTAMP_COL,
    SCENARIO_COL,
    SESSION_COL,
]
ITEM_COLUMNS = [ITEM_COL, TITLE_COL, YEAR_COL, GENRES_COL, FIRST_SEEN_COL]
USER_COLUMNS = [USER_COL, "age", "gender", "occupation", "zip_code"]
