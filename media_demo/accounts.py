"""Local reader accounts: sign up, sign in and sign out, stored in SQLite through sqlmodel.

Passwords are hashed with Argon2id (`argon2-cffi`) and never stored in plain text.
Session tokens are handed to the browser once; the database keeps only their
SHA-256, so a copy of the database is not enough to sign in as anyone.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable

import sqlalchemy
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.storage.database import table_of

logger = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # long enough for any passphrase, short enough that hashing cannot be abused
MAX_EMAIL = 254  # the longest address SMTP can deliver to (RFC 5321 path limit minus the brackets)
MAX_DISPLAY_NAME = 60
DEFAULT_SESSION_TTL = 30 * 86400.0

# Deliberately simple: something@domain.tld in ASCII, no spaces, no quoting tricks.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# `secrets.token_urlsafe(32)` gives 43 characters; anything far from that shape is not ours.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AccountError(ValueError):
    """A request we refuse, with a message fit to show the reader as it is."""


class Account(SQLModel, table=True):
    """One reader's account; the email is the sign-in name, the user_id is what the rest of the app keys on."""

    __tablename__ = "accounts"

    user_id: str = Field(primary_key=True)  # a uuid4 string we issue, never chosen by the reader
    email: str = Field(unique=True, index=True)  # stripped and lower-cased, so lookups ignore case
    display_name: str
    password_hash: str  # an Argon2 PHC string, never the password
    created_at: float  # epoch seconds


class AccountSession(SQLModel, table=True):
    """A signed-in browser, known only by the hash of its token."""

    __tablename__ = "account_sessions"

    token_hash: str = Field(primary_key=True)  # sha256 hex: a leaked database does not leak live tokens
    user_id: str = Field(index=True)  # to end every session of an account at once
    expires_at: float  # epoch seconds


EDITOR = "editor"  # may see the newsroom's own dashboards (experiments)
ROLES = (EDITOR,)


class AccountRole(SQLModel, table=True):
    """A role an account holds beyond reading: granted by the newsroom, never chosen by the reader."""

    __tablename__ = "account_roles"

    user_id: str = Field(primary_key=True)
    role: str = Field(primary_key=True)
    granted_at: float  # epoch seconds


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in, so `Ann@X.org ` and `ann@x.org` are one account."""
    return email.strip().lower()


def _check_email(email: object) -> str:
    if not isinstance(email, str):
        raise AccountError("Enter a valid email address.")
    email = normalise_email(email)
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise AccountError("Enter a valid email address.")
    return email


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"Use at least {MIN_PASSWORD} characters for your password.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"Use at most {MAX_PASSWORD} characters for your password.")
    return password


def _check_display_name(display_name: object) -> str:
    if not isinstance(display_name, str) or not (1 <= len(display_name.strip()) <= MAX_DISPLAY_NAME):
        raise AccountError(f"Use a display name of 1 to {MAX_DISPLAY_NAME} characters.")
    display_name = display_name.strip()
    if _CONTROL.search(display_name):
        raise AccountError("Use a display name without control characters.")
    return display_name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _token_hash(token: object) -> str | None:
    """The stored key for a token, or None when the value cannot be a token we issued (so it is never looked up)."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    return _digest(token)


class Accounts:
    """The account store: every method opens and closes its own database session and returns detached objects."""

    def __init__(
        self,
        db: sqlalchemy.Engine,
        hasher: PasswordHasher | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._hasher = hasher or PasswordHasher()
        self._clock = clock  # injectable so expiry can be tested without sleeping
        SQLModel.metadata.create_all(db, tables=[table_of(Account), table_of(AccountSession), table_of(AccountRole)])
        # Verified against when an email is unknown, so a miss costs as much as a wrong password
        # and response times do not tell which emails have accounts. Same parameters as real hashes.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    def _session(self) -> Session:
        # No expiry on commit: objects keep their loaded values once the session closes and detaches them.
        return Session(self._db, expire_on_commit=False)

    def create(self, email: str, password: str, display_name: str | None = None) -> Account:
        """Sign a reader up; raises AccountError with a message to show when the input is refused."""
        email = _check_email(email)
        _check_password(password)
        if display_name is None:
            display_name = email.partition("@")[0][:MAX_DISPLAY_NAME]
        display_name = _check_display_name(display_name)
        duplicate = AccountError("An account with this email already exists.")
        with self._session() as session:
            if session.exec(select(Account.user_id).where(Account.email == email)).first() is not None:
                raise duplicate
        # Hash outside any transaction: it is the slow part.
        account = Account(
            user_id=str(uuid.uuid4()),
            email=email,
            display_name=display_name,
            password_hash=self._hasher.hash(password),
            created_at=self._clock(),
        )
        with self._session() as session:
            session.add(account)
            try:
                session.commit()
            except IntegrityError:  # the same email signed up between our check and this insert
                session.rollback()
                raise duplicate from None
            session.expunge(account)
        return account

    def authenticate(self, email: str, password: str) -> Account | None:
        """The account when the email and password match, else None (without saying which one was wrong)."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return None
        try:
            normalised: str | None = _check_email(email)
        except AccountError:
            normalised = None  # cannot belong to an account, but still costs a verification below
        with self._session() as session:
            account = None
            if normalised is not None:
                account = session.exec(select(Account).where(Account.email == normalised)).first()
            stored = account.password_hash if account is not None else self._dummy_hash
            try:
                self._hasher.verify(stored, password)
            except VerificationError:
                return None
            except InvalidHashError:
                logger.warning("account %s has an unreadable password hash", account.user_id if account else "?")
                return None
            if account is None:  # the dummy hash matched: cannot happen, its secret is random and thrown away
                return None
            if self._hasher.check_needs_rehash(account.password_hash):
                # Hash parameters were raised since this password was set: upgrade while we know the password.
                account.password_hash = self._hasher.hash(password)
                session.add(account)
                session.commit()
            session.expunge(account)
            return account

    def open_session(self, user_id: str, ttl_seconds: float = DEFAULT_SESSION_TTL) -> str:
        """Sign a reader in: returns a new token for the browser, of which only the hash is kept."""
        if not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
            raise ValueError(f"ttl_seconds must be a positive number of seconds, got {ttl_seconds!r}")
        token = secrets.token_urlsafe(32)
        token_hash = _digest(token)
        with self._session() as session:
            if session.get(Account, user_id) is None:
                raise AccountError("This account no longer exists.")
            session.add(AccountSession(token_hash=token_hash, user_id=user_id, expires_at=self._clock() + ttl_seconds))
            session.commit()
        return token

    def session_account(self, token: str | None) -> Account | None:
        """The signed-in account for a browser's token, or None for anything missing, malformed, unknown or expired."""
        token_hash = _token_hash(token)
        if token_hash is None:
            return None
        with self._session() as session:
            row = session.get(AccountSession, token_hash)
            if row is None:
                return None
            account = session.get(Account, row.user_id) if row.expires_at > self._clock() else None
            if account is None:  # expired, or its account is gone: the row is of no further use
                session.delete(row)
                session.commit()
                return None
            session.expunge(account)
            return account

    def close_session(self, token: str | None) -> None:
        """Sign a browser out; unknown or malformed tokens are ignored, since the outcome is the same."""
        token_hash = _token_hash(token)
        if token_hash is None:
            return
        with self._session() as session:
            session.exec(delete(AccountSession).where(col(AccountSession.token_hash) == token_hash))
            session.commit()

    def get(self, user_id: str) -> Account | None:
        """The account with this id, if any."""
        if not isinstance(user_id, str):
            return None
        with self._session() as session:
            account = session.get(Account, user_id)
            if account is not None:
                session.expunge(account)
            return account

    def delete(self, user_id: str) -> int:
        """Remove an account and every session of it ("delete my data"); returns how many rows went."""
        with self._session() as session:
            sessions = session.exec(delete(AccountSession).where(col(AccountSession.user_id) == user_id)).rowcount
            roles = session.exec(delete(AccountRole).where(col(AccountRole.user_id) == user_id)).rowcount
            accounts = session.exec(delete(Account).where(col(Account.user_id) == user_id)).rowcount
            session.commit()
        return sessions + roles + accounts

    def grant(self, email: str, role: str) -> Account:
        """Give the account of `email` a role (again is harmless); AccountError when there is no such account."""
        if role not in ROLES:
            raise ValueError(f"role: must be one of {ROLES}, got {role!r}")
        with self._session() as session:
            account = session.exec(select(Account).where(col(Account.email) == normalise_email(email))).first()
            if account is None:
                raise AccountError(f"No account with the email {normalise_email(email)!r}: sign up first.")
            if session.get(AccountRole, (account.user_id, role)) is None:
                session.add(AccountRole(user_id=account.user_id, role=role, granted_at=self._clock()))
                session.commit()
            session.expunge(account)
            return account

    def revoke(self, user_id: str, role: str) -> bool:
        """Take a role back; True if the account held it."""
        with self._session() as session:
            gone = session.exec(
                delete(AccountRole).where(col(AccountRole.user_id) == user_id, col(AccountRole.role) == role)
            ).rowcount
            session.commit()
        return bool(gone)

    def has_role(self, user_id: str | None, role: str) -> bool:
        """Whether the account holds `role` (False for nobody signed in)."""
        if not user_id:
            return False
        with self._session() as session:
            return session.get(AccountRole, (user_id, role)) is not None
