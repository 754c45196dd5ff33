"""Who gets the digest, and which digests went out: two tables beside the accounts, in the same database.

A subscription is `pending` until its confirmation link is followed (double opt-in), then
`confirmed`, until the reader unsubscribes, withdraws e-mail consent or deletes the account.
Each digest a reader is due gets one `digest_deliveries` row keyed by (user_id, period) before
anything is sent: whichever process inserts it first sends it, so a retry, a restart or a second
worker can never send the same digest twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from media_demo.signals.storage.database import table_of

Frequency = Literal["daily", "weekly", "none"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")  # what a reader may choose for the digest
NO_DIGEST: Frequency = "none"  # a subscriber to section briefings only
PENDING, CONFIRMED, UNSUBSCRIBED = "pending", "confirmed", "unsubscribed"
# A delivery is `sending` from its claim until the SMTP server answers: `sent`, or `retry` (a temporary failure,
# tried again at `next_attempt_at`), or `failed` for good. A `sending` row found after a crash stays unsent:
# the server may have taken the message, and a second copy is the one thing a digest must never do.
SENDING, SENT, RETRY, FAILED = "sending", "sent", "retry", "failed"
MAX_ATTEMPTS = 5


class EmailSubscription(SQLModel, table=True):
    """One account's digest subscription."""

    __tablename__ = "email_subscriptions"

    user_id: str = Field(primary_key=True)
    frequency: str  # one of FREQUENCIES, or NO_DIGEST
    briefings: str = ""  # the weekly section briefings wanted, comma-separated section names
    status: str  # PENDING, CONFIRMED or UNSUBSCRIBED
    generation: int = 1  # bumped on every new request: an older confirmation or unsubscribe link stops working
    requested_at: float
    confirmed_at: float | None = None
    ended_at: float | None = None


class DigestDelivery(SQLModel, table=True):
    """One digest due to one reader for one period (a day or an ISO week)."""

    __tablename__ = "digest_deliveries"

    user_id: str = Field(primary_key=True)
    period: str = Field(primary_key=True)  # "2026-12-06" (daily) or "2026-W49" (weekly)
    digest_id: str = Field(index=True, unique=True)
    status: str
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""
    created_at: float
    sent_at: float | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as the app shows it."""

    user_id: str
    frequency: Frequency
    status: str
    generation: int
    requested_at: float
    confirmed_at: float | None
    briefings: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether digests go out to this reader."""
        return self.status == CONFIRMED


def _frequency(value: object) -> Frequency:
    if value not in FREQUENCIES and value != NO_DIGEST:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {str(value)[:32]!r}")
    return value  # narrowed by the membership tests above


def _subscription(row: EmailSubscription) -> Subscription:
    briefings = tuple(b for b in row.briefings.split(",") if b)
    return Subscription(
        row.user_id,
        _frequency(row.frequency),
        row.status,
        row.generation,
        row.requested_at,
        row.confirmed_at,
        briefings,
    )


class SubscriptionStore:
    """Subscriptions and deliveries; every method is one short transaction (blocking: call off the event loop)."""

    def __init__(self, db: sqlalchemy.Engine, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        SQLModel.metadata.create_all(db, tables=[table_of(EmailSubscription), table_of(DigestDelivery)])

    # --- subscriptions ----------------------------------------------------------------------------------------------

    def get(self, user_id: str) -> Subscription | None:
        """The account's subscription (in any status), or None if it never asked for one."""
        with Session(self._db) as session:
            row = session.get(EmailSubscription, user_id)
            return _subscription(row) if row is not None else None

    def request(self, user_id: str, frequency: str) -> Subscription:
        """Ask for the digest at `frequency`: pending until confirmed, with a new generation (older links die).

        A confirmed reader who only changes the frequency stays confirmed: they opted in already.
        """
        return self.choose(user_id, frequency, None)

    def set_briefings(self, user_id: str, sections: Iterable[str]) -> Subscription:
        """Choose the weekly section briefings: a new subscriber's request waits for its confirmation (with no
        digest unless they also ask for one); a confirmed one's choice applies at once."""
        return self.choose(user_id, None, sections)

    def choose(self, user_id: str, frequency: str | None, briefings: Iterable[str] | None) -> Subscription:
        """Set what the reader gets: the digest's `frequency` (or `NO_DIGEST`) and the section `briefings`;
        None keeps what is there. Anyone not confirmed is pending until the link of the next confirmation
        mail is followed; a new frequency asked by such a reader starts a new generation (older links die).
        A new start after unsubscribing keeps nothing from before."""
        chosen = _frequency(frequency) if frequency is not None else None
        sections = ",".join(sorted(set(briefings))) if briefings is not None else None
        now = self._clock()
        with Session(self._db) as session:
            row = session.get(EmailSubscription, user_id)
            if row is None:
                row = EmailSubscription(user_id=user_id, frequency=NO_DIGEST, status=PENDING, requested_at=now)
                restart = False
            else:
                restart = row.status == UNSUBSCRIBED or (row.status == PENDING and chosen is not None)
                if row.status == UNSUBSCRIBED:
                    row.frequency, row.briefings = NO_DIGEST, ""
            if chosen is not None:
                row.frequency = chosen
            if sections is not None:
                row.briefings = sections
            if restart:
                row.status, row.requested_at = PENDING, now
                row.generation, row.confirmed_at, row.ended_at = row.generation + 1, None, None
            session.add(row)
            session.commit()
            session.refresh(row)
            return _subscription(row)

    def confirm(self, user_id: str, generation: int) -> Subscription | None:
        """Confirm the pending request of that generation; None when there is none (a stale or used link)."""
        with Session(self._db) as session:
            row = session.get(EmailSubscription, user_id)
            if row is None or row.generation != generation or row.status == UNSUBSCRIBED:
                return None
            if row.status == PENDING:
                row.status, row.confirmed_at = CONFIRMED, self._clock()
                session.add(row)
                session.commit()
                session.refresh(row)
            return _subscription(row)

    def end(self, user_id: str) -> bool:
        """Stop every mail to this reader at once (unsubscribe, consent withdrawn); True if one was active or pending.

        The generation moves on, so no earlier link can confirm it again.
        """
        with Session(self._db) as session:
            row = session.get(EmailSubscription, user_id)
            if row is None or row.status == UNSUBSCRIBED:
                return False
            row.status, row.ended_at, row.generation = UNSUBSCRIBED, self._clock(), row.generation + 1
            session.add(row)
            session.commit()
            return True

    def confirmed(self) -> list[Subscription]:
        """Every active subscription, oldest first (the scheduler's list)."""
        with Session(self._db) as session:
            rows = session.exec(
                select(EmailSubscription)
                .where(EmailSubscription.status == CONFIRMED)
                .order_by(col(EmailSubscription.confirmed_at))
            ).all()
            return [_subscription(r) for r in rows]

    def forget(self, user_id: str) -> int:
        """Delete everything kept about this reader's e-mail (a deleted account); the rows deleted."""
        with Session(self._db) as session:
            gone = session.execute(delete(EmailSubscription).where(col(EmailSubscription.user_id) == user_id))
            sent = session.execute(delete(DigestDelivery).where(col(DigestDelivery.user_id) == user_id))
            session.commit()
            return int(gone.rowcount or 0) + int(sent.rowcount or 0)  # type: ignore[attr-defined]

    # --- deliveries -------------------------------------------------------------------------------------------------

    def claim(self, user_id: str, period: str) -> DigestDelivery | None:
        """Claim the digest of `period` for this reader: the new delivery row, or None when one exists already
        (sent, being sent, or failed): the insert is the lock, so two processes never both get it."""
        now = self._clock()
        row = DigestDelivery(
            user_id=user_id, period=period, digest_id=str(uuid.uuid4()), status=SENDING, attempts=1, created_at=now
        )
        with Session(self._db) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                return None
            session.refresh(row)
            session.expunge(row)
            return row

    def due_retries(self) -> list[DigestDelivery]:
        """Deliveries waiting for another attempt whose time has come."""
        with Session(self._db) as session:
            rows = session.exec(
                select(DigestDelivery).where(
                    DigestDelivery.status == RETRY, col(DigestDelivery.next_attempt_at) <= self._clock()
                )
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def retake(self, delivery: DigestDelivery) -> bool:
        """Take a `retry` delivery for its next attempt; False when another process took it first."""
        with Session(self._db) as session:
            done = session.execute(
                update(DigestDelivery)
                .where(
                    col(DigestDelivery.user_id) == delivery.user_id,
                    col(DigestDelivery.period) == delivery.period,
                    col(DigestDelivery.status) == RETRY,
                )
                .values(status=SENDING, attempts=DigestDelivery.attempts + 1)
            )
            session.commit()
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def mark_sent(self, delivery: DigestDelivery) -> None:
        """The SMTP server took the digest."""
        self._set(delivery, status=SENT, sent_at=self._clock(), last_error="")

    def mark_failed(self, delivery: DigestDelivery, error: str, retry_in: float | None) -> None:
        """A failed attempt: tried again in `retry_in` seconds, or never (None: a permanent failure)."""
        if retry_in is None:
            self._set(delivery, status=FAILED, last_error=error[:500])
        else:
            self._set(delivery, status=RETRY, last_error=error[:500], next_attempt_at=self._clock() + retry_in)

    def deliveries(self, user_id: str) -> list[DigestDelivery]:
        """This reader's deliveries, newest first."""
        with Session(self._db) as session:
            rows = session.exec(
                select(DigestDelivery)
                .where(DigestDelivery.user_id == user_id)
                .order_by(col(DigestDelivery.created_at).desc())
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def attempts(self, delivery: DigestDelivery) -> int:
        """How many times this delivery was tried so far."""
        with Session(self._db) as session:
            row = session.get(DigestDelivery, (delivery.user_id, delivery.period))
            return row.attempts if row is not None else 0

    def last_sent_at(self, user_id: str) -> float | None:
        """When this reader's last digest went out, if ever."""
        sent = [d.sent_at for d in self.deliveries(user_id) if d.status == SENT and d.sent_at is not None]
        return max(sent) if sent else None

    def _set(self, delivery: DigestDelivery, **values: object) -> None:
        with Session(self._db) as session:
            session.execute(
                update(DigestDelivery)
                .where(col(DigestDelivery.user_id) == delivery.user_id, col(DigestDelivery.period) == delivery.period)
                .values(**values)
            )
            session.commit()
