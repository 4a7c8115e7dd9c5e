"""recloop's clock: ISO instants to Unix seconds (UTC), and the champion's age on the data clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.clock import SECONDS_PER_DAY, champion_age_days, iso_date, parse_instant

MOMENTS = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1))


@settings(max_examples=50, deadline=None)
@given(MOMENTS)
def test_a_zoneless_iso_instant_is_read_as_utc(moment):
    expected = moment.replace(tzinfo=UTC).timestamp()
    assert parse_instant(moment.isoformat()) == expected
    assert parse_instant(moment.isoformat(sep=" ")) == expected
    day = moment.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    assert parse_instant(day.isoformat()) == midnight
    assert iso_date(parse_instant(moment.isoformat())) == day.isoformat()  # and back


@settings(max_examples=50, deadline=None)
@given(MOMENTS, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_an_instant_with_a_zone_keeps_it(moment, minutes):
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert parse_instant(aware.isoformat()) == aware.timestamp()


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="abcxyz !?/,;", min_size=1, max_size=20))
def test_text_that_is_no_instant_is_refused(text):
    with pytest.raises(ValueError):
        parse_instant(text)


def test_the_champion_ages_with_the_data_not_the_wall_clock():
    born = 886_000_000  # the end of its training window (1998)
    assert champion_age_days(born, born + 31 * SECONDS_PER_DAY) == 31.0
    assert champion_age_days(born, born) == 0.0
