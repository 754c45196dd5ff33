"""Local reader accounts: sign-up rules, password hashing, sessions and deletion."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from argon2 import PasswordHasher
from sqlmodel import create_engine

from media_demo.accounts import EDITOR, MAX_PASSWORD, MIN_PASSWORD, Account, AccountError, Accounts

PASSWORD = "correct horse battery"


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    """A hand-moved clock, so expiry is tested without sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "a.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[sqlalchemy.Engine]:
    engine = create_engine(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(engine: sqlalchemy.Engine, clock: Clock) -> Accounts:
    return Accounts(engine, cheap_hasher(), clock=clock)


def raw_bytes(engine: sqlalchemy.Engine, db_path: Path) -> bytes:
    """Everything SQLite has on disk for this database (main file plus any journal), as an attacker would see it."""
    engine.dispose()
    return b"".join(path.read_bytes() for path in sorted(db_path.parent.glob(db_path.name + "*")))


def count(db_path: Path, table: str, user_id: str) -> int:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(f"SELECT count(*) FROM {table} WHERE user_id = ?", (user_id,)).fetchone()[0]


# --- sign up and sign in -------------------------------------------------------------------------------------------


def test_create_then_authenticate(accounts: Accounts, clock: Clock) -> None:
    account = accounts.create("  Ann.Reader@Example.ORG ", PASSWORD)
    assert account.email == "ann.reader@example.org"
    assert account.display_name == "ann.reader"
    assert account.created_at == clock.now
    assert len(account.user_id) == 36 and account.user_id.count("-") == 4
    signed_in = accounts.authenticate("ANN.reader@example.org", PASSWORD)
    assert signed_in is not None
    assert signed_in.user_id == account.user_id
    assert signed_in.display_name == "ann.reader"


def test_an_explicit_display_name_is_stripped_and_kept(accounts: Accounts) -> None:
    account = accounts.create("ann@example.org", PASSWORD, display_name="  Ann R.  ")
    assert account.display_name == "Ann R."
    fetched = accounts.get(account.user_id)
    assert fetched is not None and fetched.display_name == "Ann R."


def test_each_account_gets_its_own_id(accounts: Accounts) -> None:
    first = accounts.create("a@example.org", PASSWORD)
    second = accounts.create("b@example.org", PASSWORD)
    assert first.user_id != second.user_id


def test_a_long_local_part_is_cut_to_a_valid_default_display_name(accounts: Accounts) -> None:
    account = accounts.create("x" * 70 + "@example.org", PASSWORD)
    assert account.display_name == "x" * 60


def test_wrong_password_and_unknown_email_give_none(accounts: Accounts) -> None:
    accounts.create("ann@example.org", PASSWORD)
    assert accounts.authenticate("ann@example.org", PASSWORD + "!") is None
    assert accounts.authenticate("ann@example.org", "") is None
    assert accounts.authenticate("bob@example.org", PASSWORD) is None
    assert accounts.authenticate("not an email", PASSWORD) is None
    assert accounts.authenticate("ann@example.org", "x" * (MAX_PASSWORD + 1)) is None
    assert accounts.authenticate("ann@example.org", PASSWORD) is not None  # the store itself still works


class RecordingHasher(PasswordHasher):
    """A cheap hasher that remembers which hashes it was asked to verify against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, stored: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(stored))
        return super().verify(stored, password)


def test_unknown_emails_are_checked_against_a_hash_too(engine: sqlalchemy.Engine) -> None:
    """A miss must cost one Argon2 verification, like a wrong password, so timing does not reveal accounts."""
    hasher = RecordingHasher()
    accounts = Accounts(engine, hasher)
    stored = accounts.create("ann@example.org", PASSWORD).password_hash
    for email in ("nobody@example.org", "not an email"):
        assert accounts.authenticate(email, PASSWORD) is None
    assert accounts.authenticate("ann@example.org", "wrong password") is None
    assert len(hasher.verified) == 3
    dummy = hasher.verified[0]
    assert dummy.startswith("$argon2id$") and dummy != stored
    assert hasher.verified == [dummy, dummy, stored]


def test_emails_are_unique_whatever_their_case(accounts: Accounts) -> None:
    accounts.create("ann@example.org", PASSWORD)
    with pytest.raises(AccountError, match=r"^An account with this email already exists\.$"):
        accounts.create(" ANN@Example.org", "another password")
    assert accounts.authenticate("ann@example.org", "another password") is None


class RacingHasher(PasswordHasher):
    """A cheap hasher that, while hashing, lets another sign-up with the same email land first."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.db_path = db_path
        self.armed = False

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if not self.armed:
            return super().hash(password, salt=salt)
        with sqlite3.connect(self.db_path) as connection:
            connection.execute(
                "INSERT INTO accounts (user_id, email, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                ("racer", "ann@example.org", "racer", "$argon2id$racer", 0.0),
            )
        return super().hash(password, salt=salt)


def test_a_sign_up_race_for_one_email_is_refused_cleanly(engine: sqlalchemy.Engine, db_path: Path) -> None:
    hasher = RacingHasher(db_path)
    accounts = Accounts(engine, hasher)
    hasher.armed = True  # after the store hashed its dummy password, before the sign-up hashes the real one
    with pytest.raises(AccountError, match=r"^An account with this email already exists\.$"):
        accounts.create("ann@example.org", PASSWORD)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT user_id FROM accounts").fetchall() == [("racer",)]


@pytest.mark.parametrize(
    ("email", "password", "display_name", "message"),
    [
        ("", PASSWORD, None, "Enter a valid email address."),
        ("no-at-sign.example.org", PASSWORD, None, "Enter a valid email address."),
        ("ann@localhost", PASSWORD, None, "Enter a valid email address."),
        ("ann reader@example.org", PASSWORD, None, "Enter a valid email address."),
        ("ann@@example.org", PASSWORD, None, "Enter a valid email address."),
        ("ann@example.org\nBcc: x@y.z", PASSWORD, None, "Enter a valid email address."),
        ("a" * 243 + "@example.org", PASSWORD, None, "Enter a valid email address."),  # 255 characters
        ("ann@example.org", "x" * (MIN_PASSWORD - 1), None, "Use at least 8 characters for your password."),
        ("ann@example.org", "", None, "Use at least 8 characters for your password."),
        ("ann@example.org", "x" * (MAX_PASSWORD + 1), None, "Use at most 1024 characters for your password."),
        ("ann@example.org", PASSWORD, "   ", "Use a display name of 1 to 60 characters."),
        ("ann@example.org", PASSWORD, "", "Use a display name of 1 to 60 characters."),
        ("ann@example.org", PASSWORD, "n" * 61, "Use a display name of 1 to 60 characters."),
        ("ann@example.org", PASSWORD, "Ann\x00Admin", "Use a display name without control characters."),
    ],
)
def test_validation_messages(
    accounts: Accounts, db_path: Path, email: str, password: str, display_name: str | None, message: str
) -> None:
    with pytest.raises(AccountError) as refused:
        accounts.create(email, password, display_name)
    assert str(refused.value) == message
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_the_limits_themselves_are_accepted(accounts: Accounts) -> None:
    accounts.create("a" * 242 + "@example.org", "x" * MIN_PASSWORD)  # 254 characters
    accounts.create("b@example.org", "y" * MAX_PASSWORD, display_name="n" * 60)
    assert accounts.authenticate("b@example.org", "y" * MAX_PASSWORD) is not None


def test_account_error_is_a_value_error() -> None:
    assert issubclass(AccountError, ValueError)


# --- what is on disk -----------------------------------------------------------------------------------------------


def test_the_database_file_holds_the_email_but_never_the_password(
    accounts: Accounts, engine: sqlalchemy.Engine, db_path: Path
) -> None:
    password = "Unmistakable-Passw0rd-42"
    accounts.create("ann@example.org", password)
    accounts.authenticate("ann@example.org", password)
    data = raw_bytes(engine, db_path)
    assert b"ann@example.org" in data  # proves the search would find a plain-text column
    assert password.encode() not in data
    assert password.encode("utf-16-le") not in data


def test_the_stored_hash_is_argon2id(accounts: Accounts, db_path: Path) -> None:
    account = accounts.create("ann@example.org", PASSWORD)
    with sqlite3.connect(db_path) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$")
    assert stored == account.password_hash
    assert PasswordHasher().verify(stored, PASSWORD)


def test_the_default_hasher_works_end_to_end(engine: sqlalchemy.Engine) -> None:
    accounts = Accounts(engine)
    account = accounts.create("ann@example.org", PASSWORD)
    defaults = PasswordHasher()
    assert f"m={defaults.memory_cost},t={defaults.time_cost},p={defaults.parallelism}" in account.password_hash
    assert accounts.authenticate("ann@example.org", PASSWORD) is not None
    assert accounts.authenticate("ann@example.org", "wrong password") is None


def test_a_stronger_hasher_upgrades_the_stored_hash_on_sign_in(engine: sqlalchemy.Engine, db_path: Path) -> None:
    old = Accounts(engine, cheap_hasher()).create("ann@example.org", PASSWORD).password_hash
    stronger = Accounts(engine, PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert stronger.authenticate("ann@example.org", "wrong password") is None
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT password_hash FROM accounts").fetchone()[0] == old  # no upgrade on a miss

    signed_in = stronger.authenticate("ann@example.org", PASSWORD)
    assert signed_in is not None
    with sqlite3.connect(db_path) as connection:
        (upgraded,) = connection.execute("SELECT password_hash FROM accounts").fetchone()
    assert upgraded != old
    assert "m=16,t=2,p=1" in upgraded
    assert signed_in.password_hash == upgraded

    assert stronger.authenticate("ann@example.org", PASSWORD) is not None
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT password_hash FROM accounts").fetchone()[0] == upgraded  # not redone


# --- sessions -------------------------------------------------------------------------------------------------------


def test_open_look_up_and_close_a_session(accounts: Accounts) -> None:
    account = accounts.create("ann@example.org", PASSWORD)
    token = accounts.open_session(account.user_id)
    other = accounts.open_session(account.user_id)
    assert token != other
    found = accounts.session_account(token)
    assert found is not None and found.user_id == account.user_id and found.email == "ann@example.org"
    accounts.close_session(token)
    assert accounts.session_account(token) is None
    assert accounts.session_account(other) is not None  # signing one browser out leaves the others


def test_a_session_expires(accounts: Accounts, clock: Clock, db_path: Path) -> None:
    account = accounts.create("ann@example.org", PASSWORD)
    token = accounts.open_session(account.user_id, ttl_seconds=60)
    clock.now += 59
    assert accounts.session_account(token) is not None
    assert count(db_path, "account_sessions", account.user_id) == 1
    clock.now += 1
    assert accounts.session_account(token) is None
    assert count(db_path, "account_sessions", account.user_id) == 0


def test_the_default_session_lasts_thirty_days(accounts: Accounts, clock: Clock) -> None:
    token = accounts.open_session(accounts.create("ann@example.org", PASSWORD).user_id)
    clock.now += 30 * 86400 - 1
    assert accounts.session_account(token) is not None
    clock.now += 1
    assert accounts.session_account(token) is None


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan")])
def test_a_session_needs_a_positive_finite_lifetime(accounts: Accounts, ttl: float) -> None:
    account = accounts.create("ann@example.org", PASSWORD)
    with pytest.raises(ValueError, match="ttl_seconds"):
        accounts.open_session(account.user_id, ttl_seconds=ttl)


def test_no_session_for_an_unknown_account(accounts: Accounts) -> None:
    with pytest.raises(AccountError):
        accounts.open_session("no-such-user")


@pytest.mark.parametrize("token", ["", None, "../x", "a" * 10_000, "a" * 31, "a" * 42 + "=", "a" * 42 + " ", 42])
def test_malformed_tokens_give_none_quietly_without_a_query(
    accounts: Accounts, engine: sqlalchemy.Engine, token: object
) -> None:
    accounts.open_session(accounts.create("ann@example.org", PASSWORD).user_id)
    statements: list[str] = []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert accounts.session_account(token) is None  # type: ignore[arg-type]
    accounts.close_session(token)  # type: ignore[arg-type]
    assert statements == []  # refused on shape alone: never hashed, never looked up


def test_a_well_formed_but_unknown_token_gives_none(accounts: Accounts, engine: sqlalchemy.Engine) -> None:
    accounts.open_session(accounts.create("ann@example.org", PASSWORD).user_id)
    statements: list[str] = []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert accounts.session_account("A" * 43) is None
    accounts.close_session("A" * 43)
    assert statements  # this one is looked up, which shows the listener above sees queries


def test_tokens_are_stored_only_as_hashes(accounts: Accounts, engine: sqlalchemy.Engine, db_path: Path) -> None:
    token = accounts.open_session(accounts.create("ann@example.org", PASSWORD).user_id)
    data = raw_bytes(engine, db_path)
    assert hashlib.sha256(token.encode()).hexdigest().encode() in data  # proves the session row is in these bytes
    assert token.encode() not in data


# --- deletion and detached objects ----------------------------------------------------------------------------------


def test_delete_removes_the_account_and_all_its_sessions(accounts: Accounts, db_path: Path) -> None:
    ann = accounts.create("ann@example.org", PASSWORD)
    bob = accounts.create("bob@example.org", PASSWORD)
    tokens = [accounts.open_session(ann.user_id) for _ in range(3)]
    bobs = accounts.open_session(bob.user_id)

    assert accounts.delete(ann.user_id) == 4
    assert count(db_path, "accounts", ann.user_id) == 0
    assert count(db_path, "account_sessions", ann.user_id) == 0
    assert accounts.get(ann.user_id) is None
    assert all(accounts.session_account(token) is None for token in tokens)
    assert accounts.authenticate("ann@example.org", PASSWORD) is None

    assert count(db_path, "accounts", bob.user_id) == 1  # the neighbour is untouched
    assert accounts.session_account(bobs) is not None
    assert accounts.delete(ann.user_id) == 0

    accounts.create("ann@example.org", PASSWORD)  # the email is free again


def test_get(accounts: Accounts) -> None:
    account = accounts.create("ann@example.org", PASSWORD)
    fetched = accounts.get(account.user_id)
    assert fetched is not None and fetched.email == "ann@example.org"
    assert accounts.get("no-such-user") is None


def test_returned_accounts_are_readable_after_their_session_closed(accounts: Accounts) -> None:
    created = accounts.create("ann@example.org", PASSWORD)
    token = accounts.open_session(created.user_id)
    for account in (
        created,
        accounts.get(created.user_id),
        accounts.authenticate("ann@example.org", PASSWORD),
        accounts.session_account(token),
    ):
        assert isinstance(account, Account)
        assert sqlalchemy.inspect(account).detached or sqlalchemy.inspect(account).transient
        assert (account.email, account.display_name) == ("ann@example.org", "ann")


def test_roles_are_granted_by_email_checked_by_user_and_go_with_the_account(engine: sqlalchemy.Engine) -> None:
    accounts = Accounts(engine, cheap_hasher())
    ada = accounts.create("Ada@Example.org", "a long enough secret", "Ada")
    bob = accounts.create("bob@example.org", "a long enough secret", "Bob")
    assert not accounts.has_role(ada.user_id, EDITOR)
    assert accounts.grant(" ADA@example.org ", EDITOR).user_id == ada.user_id
    accounts.grant("ada@example.org", EDITOR)  # granting twice is harmless
    assert accounts.has_role(ada.user_id, EDITOR)
    assert not accounts.has_role(bob.user_id, EDITOR)
    assert not accounts.has_role(None, EDITOR) and not accounts.has_role("", EDITOR)
    with pytest.raises(AccountError, match=r"No account with the email 'nobody@example\.org'"):
        accounts.grant("nobody@example.org", EDITOR)
    with pytest.raises(ValueError, match="role: must be one of"):
        accounts.grant("ada@example.org", "owner")
    assert accounts.revoke(ada.user_id, EDITOR) and not accounts.has_role(ada.user_id, EDITOR)
    assert not accounts.revoke(ada.user_id, EDITOR)
    accounts.grant("ada@example.org", EDITOR)
    assert accounts.delete(ada.user_id) == 2  # the account and its role (no sessions open)
    assert not accounts.has_role(ada.user_id, EDITOR)
