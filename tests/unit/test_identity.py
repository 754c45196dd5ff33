"""Reader identity: the long-lived domain_userid and the rotating 30-minute session."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_demo.tracking import ReaderSession, is_domain_userid, new_domain_userid, touch_session
from media_demo.tracking.identity import SESSION_TIMEOUT_SECONDS

NOW = 1_800_000_000.0
SESSION_ID = "3f1c9a3e-52d4-4c59-9a77-0d8a4c1b2e6f"


@pytest.fixture
def active() -> ReaderSession:
    return ReaderSession(SESSION_ID, 4, NOW)


# ---------------------------------------------------------------- touch_session


def test_first_event_starts_session_one() -> None:
    session = touch_session(None, NOW)
    assert session.index == 1
    assert session.last_activity == NOW
    assert is_domain_userid(session.session_id)


def test_each_new_reader_gets_a_different_session_id() -> None:
    assert touch_session(None, NOW).session_id != touch_session(None, NOW).session_id


@pytest.mark.parametrize("idle", [0.0, 1.0, 29 * 60.0, float(SESSION_TIMEOUT_SECONDS)])
def test_activity_within_thirty_minutes_keeps_the_session(active: ReaderSession, idle: float) -> None:
    session = touch_session(active, NOW + idle)
    assert session == ReaderSession(SESSION_ID, 4, NOW + idle)


def test_an_out_of_order_earlier_event_does_not_move_last_activity_back(active: ReaderSession) -> None:
    assert touch_session(active, NOW - 60) == active


def test_session_window_slides_with_activity(active: ReaderSession) -> None:
    # 25 minutes, then 25 more: 50 minutes after the start but never 30 idle.
    later = touch_session(touch_session(active, NOW + 25 * 60), NOW + 50 * 60)
    assert (later.session_id, later.index) == (SESSION_ID, 4)


@pytest.mark.parametrize("idle", [SESSION_TIMEOUT_SECONDS + 1.0, 2 * 3600.0, 30 * 24 * 3600.0])
def test_more_than_thirty_minutes_idle_starts_the_next_session(active: ReaderSession, idle: float) -> None:
    session = touch_session(active, NOW + idle)
    assert session.session_id != SESSION_ID
    assert is_domain_userid(session.session_id)
    assert session.index == 5
    assert session.last_activity == NOW + idle


def test_is_expired_boundary(active: ReaderSession) -> None:
    assert not active.is_expired(NOW + SESSION_TIMEOUT_SECONDS)
    assert active.is_expired(NOW + SESSION_TIMEOUT_SECONDS + 0.001)


# ---------------------------------------------------------------------- cookies


def test_cookie_format(active: ReaderSession) -> None:
    assert active.to_cookie() == f"{SESSION_ID}.4.1800000000"


def test_cookie_round_trip(active: ReaderSession) -> None:
    assert ReaderSession.from_cookie(active.to_cookie()) == active


@given(index=st.integers(min_value=1, max_value=10**6), last=st.integers(min_value=0, max_value=4_000_000_000))
def test_cookie_round_trip_for_any_whole_second(index: int, last: int) -> None:
    session = ReaderSession(SESSION_ID, index, float(last))
    assert ReaderSession.from_cookie(session.to_cookie()) == session


def test_touched_session_survives_a_cookie_round_trip() -> None:
    first = touch_session(None, NOW)
    restored = ReaderSession.from_cookie(first.to_cookie())
    assert restored is not None
    assert touch_session(restored, NOW + 60).session_id == first.session_id


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "garbage",
        "not-a-uuid.1.1800000000",
        f"{SESSION_ID}.one.1800000000",
        f"{SESSION_ID}.1.yesterday",
        f"{SESSION_ID}.1",
        f"{SESSION_ID}.1.1800000000.extra",
        f"{SESSION_ID[:-1]}.1.1800000000",
        "..",
    ],
)
def test_missing_or_tampered_cookie_is_none(cookie: str | None) -> None:
    assert ReaderSession.from_cookie(cookie) is None


@pytest.mark.parametrize("last", ["inf", "-inf", "nan", "infinity"])
def test_cookie_with_non_finite_time_is_rejected(last: str) -> None:
    assert ReaderSession.from_cookie(f"{SESSION_ID}.1.{last}") is None


def test_tampered_infinite_time_cookie_cannot_break_the_next_visit() -> None:
    # What ReaderState._reader does on every page view with the cookie the browser sent.
    session = touch_session(ReaderSession.from_cookie(f"{SESSION_ID}.1.inf"), NOW)
    cookie = session.to_cookie()
    assert ReaderSession.from_cookie(cookie) == session
    assert session.last_activity == NOW


@pytest.mark.parametrize("index", ["0", "-3"])
def test_cookie_with_session_index_below_one_is_rejected(index: str) -> None:
    # Sessions are numbered from 1; no cookie we issue carries 0 or a negative index.
    assert ReaderSession.from_cookie(f"{SESSION_ID}.{index}.1800000000") is None


# -------------------------------------------------------------- domain_userid


def test_new_domain_userid_is_a_fresh_uuid4() -> None:
    first, second = new_domain_userid(), new_domain_userid()
    assert is_domain_userid(first)
    assert uuid.UUID(first).version == 4
    assert first != second


@pytest.mark.parametrize(
    "value",
    [
        SESSION_ID,
        "00000000-0000-4000-8000-000000000000",
        "3f2b9c1e-7a4d-4e8b-9c0a-5d6e7f8a9b0c",
    ],
)
def test_canonical_uuid_strings_are_domain_userids(value: str) -> None:
    assert is_domain_userid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not-a-uuid",
        SESSION_ID.replace("-", ""),
        "{" + SESSION_ID + "}",
        "urn:uuid:" + SESSION_ID,
        SESSION_ID + " ",
        SESSION_ID[:-1],
        None,
        42,
        uuid.UUID(SESSION_ID),
    ],
)
def test_other_values_are_not_domain_userids(value: object) -> None:
    assert not is_domain_userid(value)
