"""The app's two timestamp formats, from every kind of moment it has."""

from __future__ import annotations

import datetime as dt
import random

from media_demo.signals.engine.timestamps import as_utc, iso_from_epoch_millis, iso_millis, iso_seconds

MOMENT = 1_714_564_800.1239  # 2024-05-01T12:00:00.1239Z


def test_milliseconds_are_snowplow_s_format() -> None:
    assert iso_millis(MOMENT) == "2024-05-01T12:00:00.123Z"
    assert iso_millis(0) == "1970-01-01T00:00:00.000Z"


def test_epoch_milliseconds_are_exact_up_to_the_last_year() -> None:
    assert iso_from_epoch_millis(1_714_564_800_123) == "2024-05-01T12:00:00.123Z"
    assert iso_from_epoch_millis(253_402_300_799_999) == "9999-12-31T23:59:59.999Z"


def test_epoch_milliseconds_agree_with_the_calendar_for_any_moment() -> None:
    """Including moments before 1970 and consecutive ones within a second (whose second's text is reused)."""
    rng = random.Random(5)
    moments = [rng.randrange(-2_000_000_000_000, 253_402_300_799_999) for _ in range(2_000)]
    moments += [1_714_564_800_000 + i for i in range(-3, 1_003)]
    for millis in moments:
        expected = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=millis)
        assert iso_from_epoch_millis(millis) == expected.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def test_seconds_for_people() -> None:
    assert iso_seconds(MOMENT) == "2024-05-01T12:00:00Z"


def test_a_datetime_without_a_zone_is_utc_and_one_with_a_zone_is_converted() -> None:
    naive = dt.datetime(2024, 5, 1, 12, 0, 0, 123_900)  # as SQLite gives a stored UTC datetime back
    assert iso_millis(naive) == "2024-05-01T12:00:00.123Z"
    paris = dt.datetime(2024, 5, 1, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert iso_seconds(paris) == "2024-05-01T12:00:00Z"
    assert as_utc(naive).tzinfo is dt.UTC
