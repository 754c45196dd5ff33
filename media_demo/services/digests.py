"""The e-mail digest, end to end: subscribing with double opt-in, building each reader's digest at send time,
sending it once per period with retries, and stopping every mail at once when the reader says so.

Blocking throughout (the database, the engine's reads, SMTP): UI handlers and API routes call it in a
worker thread; the scheduler is a thread of its own. Several processes may run the scheduler (the
workers of a cluster): a delivery is claimed by inserting its (reader, period) row, so only one sends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from media_demo import routes
from media_demo.accounts import Account, Accounts
from media_demo.articles import section_label
from media_demo.mail.digest import MOST_READ, Digest, DigestItem, build_briefing, build_digest
from media_demo.mail.links import LinkError, LinkSubject, MailLinks
from media_demo.mail.render import RenderedMail, compose, render_confirmation, render_digest
from media_demo.mail.smtp import MailSender, SendError
from media_demo.mail.store import (
    CONFIRMED,
    FREQUENCIES,
    MAX_ATTEMPTS,
    NO_DIGEST,
    PENDING,
    UNSUBSCRIBED,
    DigestDelivery,
    Frequency,
    Subscription,
    SubscriptionStore,
)
from media_demo.recommend import ReaderProfile, Recommendation
from media_demo.services.engine_reads import EngineReads
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.consent import BEHAVIOURAL, Consent
from media_demo.tracking import NewsroomTracker, Reader
from media_demo.tracking.email_links import click_url, open_pixel_url

logger = logging.getLogger(__name__)

ONE_CLICK_PATH = "/api/email/unsubscribe"  # RFC 8058: the mail client POSTs here
RETRY_BASE_SECONDS = 60.0  # then 2, 4, 8 minutes ... until MAX_ATTEMPTS
CHECK_SECONDS = 60.0  # how often the scheduler looks for digests due


class DigestError(ValueError):
    """A request refused, with a message fit to show the reader."""


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """What the digests need to know about the deployment."""

    site_url: str  # the newspaper's pages
    api_url: str  # the backend: collector, one-click unsubscribe
    sender: str  # From
    app_id: str  # the site's tracker app id (the mails' addresses carry its e-mail sibling)
    hour: int = 7
    weekday: int = 0  # of the weekly digest
    briefing_weekday: int = 4  # of the section briefings: Friday, as the offer says
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one sending run did, reader by reader."""

    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already had this period's digest, or not subscribed
    failed: dict[str, str] = field(default_factory=dict)  # user_id -> why (retried later when temporary)

    def as_json(self) -> dict[str, object]:
        """The API's answer."""
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


def period_of(frequency: Frequency, local: dt.datetime) -> str:
    """The period a digest covers: the local day, or the ISO week (`2026-W49`)."""
    if frequency == "weekly":
        year, week, _day = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.date().isoformat()


def briefing_period(section: str, local: dt.datetime) -> str:
    """A section briefing's period: the ISO week and the section (`2026-W49:sport`)."""
    return f"{period_of('weekly', local)}:{section}"


def describe(subscription: Subscription) -> str:
    """What a subscriber asked for, in words: "daily digest", "Sport briefing", "weekly digest and the Sport
    and Science briefings"."""
    labels = [section_label(s) for s in subscription.briefings]
    briefings = ""
    if labels:
        names = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        briefings = f"{names} briefing" + ("s" if len(labels) > 1 else "")
    if subscription.frequency not in FREQUENCIES:
        return briefings or "digest"
    digest = f"{subscription.frequency} digest"
    return f"{digest} and the {briefings}" if briefings else digest


class TrackedLinks:
    """A sent digest's links: stories through the collector's click redirect, an open pixel, signed unsubscribe."""

    def __init__(self, settings: DigestSettings, user_id: str, digest_id: str, unsubscribe_token: str) -> None:
        self._s, self._user_id, self._digest_id, self._token = settings, user_id, digest_id, unsubscribe_token

    def story(self, item: DigestItem) -> str:
        """Through the click redirect, which records the click and lands on the story."""
        target = self._s.site_url + routes.article_url(item.article.slug)
        return click_url(
            self._s.api_url,
            target,
            self._s.app_id,
            self._user_id,
            self._digest_id,
            item.position,
            item.article.slug,
            item.article.category,
        )

    @property
    def home(self) -> str:
        """The front page."""
        return self._s.site_url + routes.HOME

    @property
    def account(self) -> str:
        """The account page."""
        return self._s.site_url + routes.ACCOUNT

    @property
    def unsubscribe_page(self) -> str:
        """The unsubscribe page (one button)."""
        return f"{self._s.site_url}{routes.EMAIL_UNSUBSCRIBE}?{urlencode({'token': self._token})}"

    @property
    def unsubscribe_post(self) -> str:
        """The one-click address."""
        return f"{self._s.api_url}{ONE_CLICK_PATH}?{urlencode({'token': self._token})}"

    @property
    def pixel(self) -> str:
        """The collector's open pixel."""
        return open_pixel_url(self._s.api_url, self._s.app_id, self._user_id, self._digest_id)


class PreviewLinks(TrackedLinks):
    """A preview's links: straight to the stories, no pixel (looking at a preview is not opening a digest)."""

    def story(self, item: DigestItem) -> str:
        """The story itself."""
        return self._s.site_url + routes.article_url(item.article.slug)

    @property
    def pixel(self) -> str:
        """None."""
        return ""


class Digests:
    """Subscriptions, digests and their sending."""

    def __init__(
        self,
        store: SubscriptionStore,
        accounts: Accounts,
        views: ReaderViews,
        reads: EngineReads,
        tracker: NewsroomTracker,
        links: MailLinks,
        sender: MailSender,
        settings: DigestSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self._accounts, self._views, self._reads = store, accounts, views, reads
        self._tracker, self._links, self._sender, self.settings = tracker, links, sender, settings
        self._clock = clock
        self._zone = ZoneInfo(settings.timezone)
        self._sending = threading.Lock()  # one run at a time in this process (the rows guard across processes)

    # --- subscribing ------------------------------------------------------------------------------------------------

    def subscription(self, user_id: str) -> Subscription | None:
        """The account's subscription, in any state."""
        return self.store.get(user_id)

    def subscribe(self, user_id: str, frequency: str) -> Subscription:
        """Ask for the digest: a confirmed reader just changes how often; anyone else gets a confirmation
        mail and nothing more until its link is followed. `DigestError` when that mail cannot go."""
        return self.choose(user_id, frequency, None)

    def add_briefing(self, user_id: str, section: str) -> Subscription:
        """Add one section's weekly briefing (the newsletter intervention's offer), by the same double opt-in."""
        current = self.store.get(user_id)
        kept = current.briefings if current is not None and current.status != UNSUBSCRIBED else ()
        return self.choose(user_id, None, {*kept, section})

    def choose(self, user_id: str, frequency: str | None, briefings: Iterable[str] | None) -> Subscription:
        """Set what the reader gets (None keeps it): the digest at `frequency` ("daily", "weekly" or "none")
        and the weekly `briefings` of these sections. Choosing nothing at all unsubscribes. Someone not yet
        confirmed gets one confirmation mail per request, and nothing else until its link is followed."""
        account = self._account(user_id)
        if frequency is not None and frequency not in (*FREQUENCIES, NO_DIGEST):
            raise DigestError("Choose daily, weekly or no digest.")
        chosen = set(briefings) if briefings is not None else None
        unknown = (chosen or set()) - set(self._views.corpus.categories)
        if unknown:
            raise DigestError(f"There is no {sorted(unknown)[0]!r} section.")
        before = self.store.get(user_id)
        wants = (frequency if frequency is not None else before.frequency if before else NO_DIGEST) != NO_DIGEST or (
            chosen if chosen is not None else set(before.briefings if before else ())
        )
        if not wants:
            self.unsubscribe(user_id)
            ended = self.store.get(user_id)
            if ended is None:
                raise DigestError("Choose a digest or a briefing to subscribe to.")
            return ended
        subscription = self.store.choose(user_id, frequency, chosen)
        fresh_request = before is None or before.status != PENDING or before.generation != subscription.generation
        if subscription.status == PENDING and fresh_request:
            self._send_confirmation(account, subscription)
        return subscription

    def _send_confirmation(self, account: Account, subscription: Subscription) -> None:
        """The double opt-in mail: a signed link that expires; `DigestError` when it cannot go."""
        token = self._links.confirm_token(LinkSubject(account.user_id, subscription.generation))
        url = f"{self.settings.site_url}{routes.EMAIL_CONFIRM}?{urlencode({'token': token})}"
        mail = render_confirmation(account.display_name, describe(subscription), url)
        try:
            self._sender.send(self._compose(mail, account))
        except SendError as exc:
            logger.warning("confirmation mail to account %s not sent: %s", account.user_id, exc)
            raise DigestError("We could not send the confirmation e-mail just now. Please try again.") from None

    def confirm(self, token: str, reader: Reader | None = None) -> Subscription:
        """Follow a confirmation link: the subscription starts and e-mail consent is recorded (`DigestError`
        for an expired, altered or superseded link)."""
        try:
            subject = self._links.check_confirm(token)
        except LinkError as exc:
            raise DigestError(str(exc)) from None
        before = self.store.get(subject.user_id)
        subscription = self.store.confirm(subject.user_id, subject.generation)
        if subscription is None:
            raise DigestError("This confirmation link is no longer valid: subscribe again from your account.")
        if before is not None and before.status != CONFIRMED:
            signed_in = reader if reader is not None and reader.user_id == subject.user_id else None
            self._tracker.email_consent(subject.user_id, True, self._policy_url, signed_in)
            self._reads.settle()
        return subscription

    def unsubscribe(self, user_id: str, reader: Reader | None = None) -> bool:
        """Stop every mail to this account at once and record the withdrawn e-mail consent; True if any was due."""
        ended = self.store.end(user_id)
        if ended:
            self._tracker.email_consent(user_id, False, self._policy_url, reader)
            self._reads.settle()
        return ended

    def unsubscribe_with(self, token: str) -> bool:
        """An unsubscribe link (or the RFC 8058 POST): no sign-in, the signed token says whose."""
        try:
            subject = self._links.check_unsubscribe(token)
        except LinkError as exc:
            raise DigestError(str(exc)) from None
        current = self.store.get(subject.user_id)
        if current is None or current.generation != subject.generation:
            return False  # an older mail's link: the subscription it was for has ended already
        return self.unsubscribe(subject.user_id)

    def forget(self, user_ids: Iterable[str]) -> None:
        """A deleted account: nothing of its e-mail stays (no mail can go to it again)."""
        for user_id in user_ids:
            self.store.forget(user_id)

    # --- the digest -------------------------------------------------------------------------------------------------

    def build(self, user_id: str, digest_id: str, period: str, frequency: str) -> Digest:
        """This reader's digest as it stands now: their profile only with behavioural consent."""
        account = self._account(user_id)
        last = self.store.last_sent_at(user_id)
        since = dt.datetime.fromtimestamp(last, dt.UTC) if last is not None else None
        profile: ReaderProfile | None = None
        picks = []
        if self._allows_profile(user_id):
            profile = self._views.profile("", user_id=user_id)
            picks = self._views.picks(profile, 6) if profile.has_history else []
        return build_digest(
            digest_id=digest_id,
            period=period,
            frequency=frequency,
            greeting_name=account.display_name,
            corpus=self._views.corpus,
            profile=profile,
            picks=picks,
            most_read=self._most_read(MOST_READ),
            since=since,
        )

    def build_briefing(self, user_id: str, digest_id: str, period: str, section: str) -> Digest:
        """One section's weekly briefing: its stories of the last week, most read first (then newest), without
        those the reader read when their consent lets us know."""
        account = self._account(user_id)
        last = self.store.last_sent_at(user_id)
        since = dt.datetime.fromtimestamp(last, dt.UTC) if last is not None else None
        week_ago = self._local_now().date() - dt.timedelta(days=7)
        recent = [a for a in self._views.corpus.in_category(section) if a.published >= week_ago]
        stories = recent if len(recent) >= 3 else self._views.corpus.in_category(section)[:20]
        with self._reads.everyone() as everyone:
            ranked = sorted(stories, key=lambda a: (everyone.popularity.readers(a.slug), a.order_key), reverse=True)
        read = self._views.profile("", user_id=user_id).read if self._allows_profile(user_id) else frozenset()
        return build_briefing(
            digest_id=digest_id,
            period=period,
            section=section,
            greeting_name=account.display_name,
            stories=ranked,
            read=read,
            since=since,
        )

    def preview(self, user_id: str) -> RenderedMail:
        """What this reader's next digest would say, with plain links and no pixel (nothing is tracked)."""
        subscription = self.store.get(user_id)
        frequency = subscription.frequency if subscription is not None else "daily"
        local = self._local_now()
        digest = self.build(user_id, "preview", period_of(frequency, local), frequency)
        links = PreviewLinks(self.settings, user_id, "preview", self._unsubscribe_token(user_id, subscription))
        return render_digest(digest, links, local.date())

    # --- sending ----------------------------------------------------------------------------------------------------

    def send_due(self) -> SendReport:
        """The scheduler's run: every confirmed reader whose digest is due now and not yet claimed, then the
        retries whose time has come."""
        local = self._local_now()
        report = SendReport()
        if local.hour < self.settings.hour:
            return self._retry_due(report)
        briefing_day = local.weekday() == self.settings.briefing_weekday
        for subscription in self.store.confirmed():
            wants_digest = subscription.frequency == "daily" or (
                subscription.frequency == "weekly" and local.weekday() == self.settings.weekday
            )
            if wants_digest:
                self._send_one(subscription, local, report)
            if briefing_day:
                self._send_briefings(subscription, local, report)
        return self._retry_due(report)

    def send_now(self, user_ids: Iterable[str] | None = None) -> SendReport:
        """On demand (`POST /api/digests/send`): this period's digest to these readers (default: every confirmed
        one), whatever the hour; a reader who already had it is skipped, so asking twice sends nothing twice."""
        local = self._local_now()
        report = SendReport()
        wanted = None if user_ids is None else set(user_ids)
        confirmed = {s.user_id: s for s in self.store.confirmed()}
        for user_id in sorted(wanted) if wanted is not None else list(confirmed):
            subscription = confirmed.get(user_id)
            if subscription is None:
                report.skipped.append(user_id)
                continue
            if subscription.frequency in FREQUENCIES:
                self._send_one(subscription, local, report)
            self._send_briefings(subscription, local, report)
        return report

    def _send_one(self, subscription: Subscription, local: dt.datetime, report: SendReport) -> None:
        delivery = self.store.claim(subscription.user_id, period_of(subscription.frequency, local))
        if delivery is None:
            report.skipped.append(subscription.user_id)
            return
        self._attempt(delivery, subscription, local, report)

    def _send_briefings(self, subscription: Subscription, local: dt.datetime, report: SendReport) -> None:
        for section in subscription.briefings:
            delivery = self.store.claim(subscription.user_id, briefing_period(section, local))
            if delivery is None:
                report.skipped.append(f"{subscription.user_id}:{section}")
                continue
            self._attempt(delivery, subscription, local, report)

    def _retry_due(self, report: SendReport) -> SendReport:
        local = self._local_now()
        for delivery in self.store.due_retries():
            subscription = self.store.get(delivery.user_id)
            if subscription is None or not subscription.active:
                self.store.mark_failed(delivery, "unsubscribed before a retry", None)
                continue
            if self.store.retake(delivery):
                self._attempt(delivery, subscription, local, report)
        return report

    def _attempt(
        self, delivery: DigestDelivery, subscription: Subscription, local: dt.datetime, report: SendReport
    ) -> None:
        """Build, send and record one claimed delivery (the claim guarantees nobody else sends it)."""
        user_id = delivery.user_id
        with self._sending:
            try:
                account = self._account(user_id)
                period, _, section = delivery.period.partition(":")
                if section:
                    digest = self.build_briefing(user_id, delivery.digest_id, delivery.period, section)
                else:
                    digest = self.build(user_id, delivery.digest_id, period, subscription.frequency)
                token = self._unsubscribe_token(user_id, subscription)
                links = TrackedLinks(self.settings, user_id, delivery.digest_id, token)
                message = self._compose(render_digest(digest, links, local.date()), account)
                self._sender.send(message)
            except SendError as exc:
                attempts = self.store.attempts(delivery)
                retry = exc.temporary and attempts < MAX_ATTEMPTS
                wait = RETRY_BASE_SECONDS * 2 ** (attempts - 1) if retry else None
                self.store.mark_failed(delivery, str(exc), wait)
                report.failed[user_id] = str(exc)
                logger.warning("digest %s to %s: attempt %d failed: %s", delivery.digest_id, user_id, attempts, exc)
                return
            except DigestError as exc:  # the account went meanwhile
                self.store.mark_failed(delivery, str(exc), None)
                report.failed[user_id] = str(exc)
                return
            self.store.mark_sent(delivery)
        frequency = "weekly" if digest.is_briefing else subscription.frequency
        self._tracker.email_sent(user_id, delivery.digest_id, frequency, digest.section_order, len(digest.items))
        report.sent.append(user_id)

    # --- helpers ----------------------------------------------------------------------------------------------------

    @property
    def _policy_url(self) -> str:
        return self.settings.site_url + routes.PRIVACY

    def _account(self, user_id: str) -> Account:
        account = self._accounts.get(user_id)
        if account is None:
            raise DigestError("There is no account with that id.")
        return account

    def _allows_profile(self, user_id: str) -> bool:
        """Whether the reader's latest choice, on any device linked to the account, allows behavioural use."""
        choices = [c for d in self._reads.devices(user_id) if (c := self._reads.consent_of(d)) is not None]
        latest: Consent | None = max(choices, key=lambda c: c.at, default=None)
        return latest is not None and latest.allows(BEHAVIOURAL)

    def _most_read(self, count: int) -> list[Recommendation]:
        """Everyone's most-read stories, topped up with the newest while few stories have readers (a new site)."""
        picks = self._views.most_read(count)
        shown = {r.article.slug for r in picks}
        latest = [a for a in self._views.corpus.latest(count + len(shown)) if a.slug not in shown]
        return picks + [Recommendation(a, "New in The Daily Current", "latest") for a in latest[: count - len(picks)]]

    def _unsubscribe_token(self, user_id: str, subscription: Subscription | None) -> str:
        generation = subscription.generation if subscription is not None else 0
        return self._links.unsubscribe_token(LinkSubject(user_id, generation))

    def _compose(self, mail: RenderedMail, account: Account) -> EmailMessage:
        domain = urlsplit(self.settings.site_url).hostname or "dailycurrent.example"
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        return compose(mail, self.settings.sender, account.email, account.display_name, domain, now)

    def _local_now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), self._zone)


class DigestScheduler:
    """A thread that sends the digests due, every `CHECK_SECONDS`, until stopped."""

    def __init__(self, digests: Digests, interval: float = CHECK_SECONDS) -> None:
        self._digests, self._interval = digests, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="digest-scheduler", daemon=True)

    def start(self) -> None:
        """Start checking (the first check at once)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the run under way, if any (nothing to do if it never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self._digests.send_due()
                if report.sent or report.failed:
                    logger.info("digests: %d sent, %d failed", len(report.sent), len(report.failed))
            except Exception:  # a bad run must not end the scheduler; the next one tries again
                logger.exception("digest run failed")
            self._stop.wait(self._interval)
