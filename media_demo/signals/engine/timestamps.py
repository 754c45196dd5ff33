"""ISO 8601 timestamps in UTC, as the app writes them: the one place their format is decided.

Two formats, both ending in `Z`:

- `iso_millis`: `2024-05-01T12:00:00.123Z`, Snowplow's format for the atomic timestamps
  (`collector_tstamp`, `derived_tstamp`, ...) and what `/micro/bad` lists;
  `iso_from_epoch_millis` writes it exactly from a tracker's integer milliseconds.
- `iso_seconds`: `2024-05-01T12:00:00Z`, for what people and pages read
  (`generated_at` in the API, the inspector, the privacy page).

A moment is epoch seconds or a `datetime`; a `datetime` without a zone is taken as UTC
(SQLite gives back the UTC datetimes stored in it that way).
"""

from __future__ import annotations

import datetime as dt
import functools

EPOCH = dt.datetime(1970, 1, 1)  # UTC, without a zone: its arithmetic and isoformat cost half an aware one's


def as_utc(moment: float | dt.datetime) -> dt.datetime:
    """The moment as an aware UTC datetime (a naive datetime is taken to be in UTC already)."""
    if isinstance(moment, dt.datetime):
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(moment, tz=dt.UTC)


def iso_millis(moment: float | dt.datetime) -> str:
    """`2024-05-01T12:00:00.123Z`."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_epoch_millis(millis: int) -> str:
    """`iso_millis` of epoch milliseconds, exact where a float of seconds near year 9999 would lose the last one.

    Every event carries two or three of these, mostly within the same second as the event before:
    the second's text is kept and only the milliseconds are written.
    """
    seconds, rest = divmod(millis, 1000)
    return f"{_iso_second(seconds)}.{rest:03d}Z"


@functools.lru_cache(maxsize=1024)
def _iso_second(seconds: int) -> str:
    return (EPOCH + dt.timedelta(seconds=seconds)).isoformat()


def iso_seconds(moment: float | dt.datetime) -> str:
    """`2024-05-01T12:00:00Z`."""
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
