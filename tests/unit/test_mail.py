"""The e-mail channel's domain: subscriptions and deliveries, signed links, the digest's content, its rendering."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy

from media_demo.articles import Article, Corpus
from media_demo.mail.digest import NO_CONSENT, NO_HISTORY, build_briefing, build_digest
from media_demo.mail.links import LinkError, LinkSubject, MailLinks
from media_demo.mail.render import compose, render_confirmation, render_digest
from media_demo.mail.smtp import OutboxSender, SmtpConfig
from media_demo.mail.store import CONFIRMED, PENDING, RETRY, SENT, UNSUBSCRIBED, Subscription, SubscriptionStore
from media_demo.recommend import ReaderProfile, Recommendation
from media_demo.services.digests import describe

SECRET = "a-test-secret-of-enough-length"


class Clock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SubscriptionStore:
    return SubscriptionStore(sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'mail.db'}"), clock)


# --- subscriptions -----------------------------------------------------------------------------------------------


def test_a_subscription_waits_for_its_confirmation_and_an_old_link_cannot_confirm_a_newer_request(
    store: SubscriptionStore,
) -> None:
    first = store.request("u1", "daily")
    assert first.status == PENDING and not first.active and store.confirmed() == []
    second = store.request("u1", "weekly")  # asked again: the first mail's link must die
    assert second.generation == first.generation + 1
    assert store.confirm("u1", first.generation) is None
    confirmed = store.confirm("u1", second.generation)
    assert confirmed is not None and confirmed.status == CONFIRMED and confirmed.frequency == "weekly"
    assert [s.user_id for s in store.confirmed()] == ["u1"]
    # A confirmed reader changing the frequency stays confirmed (no second opt-in).
    assert store.request("u1", "daily").status == CONFIRMED


def test_ending_stops_everything_and_no_earlier_link_revives_it(store: SubscriptionStore) -> None:
    pending = store.request("u1", "daily")
    assert store.end("u1") and not store.end("u1")
    assert store.confirm("u1", pending.generation) is None
    ended = store.get("u1")
    assert ended is not None and ended.status == UNSUBSCRIBED and store.confirmed() == []
    with pytest.raises(ValueError, match="frequency must be one of daily, weekly"):
        store.request("u1", "hourly")


def test_a_period_is_claimed_once_whoever_asks(store: SubscriptionStore, clock: Clock) -> None:
    claimed = store.claim("u1", "2026-12-06")
    assert claimed is not None and claimed.attempts == 1
    assert store.claim("u1", "2026-12-06") is None, "a second claim of the same period must lose"
    assert store.claim("u1", "2026-12-07") is not None and store.claim("u2", "2026-12-06") is not None
    store.mark_failed(claimed, "451 try later", retry_in=60)
    assert store.due_retries() == []
    clock.now += 61
    [due] = store.due_retries()
    assert store.retake(due) and not store.retake(due), "only one process may retake a retry"
    assert store.attempts(due) == 2
    store.mark_sent(due)
    assert {d.status for d in store.deliveries("u1")} == {SENT, "sending"}
    assert store.last_sent_at("u1") == clock.now
    assert RETRY not in {d.status for d in store.deliveries("u1")}


def test_forgetting_a_reader_deletes_their_rows(store: SubscriptionStore) -> None:
    store.request("u1", "daily")
    store.claim("u1", "2026-12-06")
    store.request("u2", "daily")
    assert store.forget("u1") == 2
    assert store.get("u1") is None and store.deliveries("u1") == [] and store.get("u2") is not None


# --- links -------------------------------------------------------------------------------------------------------


def test_links_are_signed_per_purpose_and_confirmation_links_expire() -> None:
    links = MailLinks(SECRET)
    subject = LinkSubject("u1", 3)
    assert links.check_confirm(links.confirm_token(subject)) == subject
    assert links.check_unsubscribe(links.unsubscribe_token(subject)) == subject
    with pytest.raises(LinkError, match="not valid"):
        links.check_unsubscribe(links.confirm_token(subject))  # one purpose's token is not the other's
    with pytest.raises(LinkError, match="not valid"):
        links.check_confirm(links.confirm_token(subject)[:-2] + "xx")
    with pytest.raises(LinkError, match="not valid"):
        MailLinks("another-secret-of-enough-length").check_unsubscribe(links.unsubscribe_token(subject))
    with pytest.raises(LinkError, match="expired"):
        links.check_confirm(links.confirm_token(subject), max_age=-1)
    with pytest.raises(LinkError, match="not valid"):
        links.check_unsubscribe("x" * 600)
    with pytest.raises(ValueError, match="need a secret"):
        MailLinks("")


# --- the digest --------------------------------------------------------------------------------------------------


def article(slug: str, category: str, day: int, updated: dt.datetime | None = None) -> Article:
    return Article(
        slug=slug,
        title=f"Title of {slug}",
        excerpt=f"What {slug} is about <b>bold</b>.",
        category=category,
        author="A. Writer",
        published=dt.date(2026, 12, day),
        reading_minutes=3,
        tags=(),
        body="Body.",
        updated=updated,
    )


@pytest.fixture
def corpus() -> Corpus:
    return Corpus(
        [
            article("sport-1", "sport", 1),
            article("sport-2", "sport", 2),
            article("sport-3", "sport", 5),
            article("sport-4", "sport", 6),
            article("science-1", "science", 3),
            article("science-2", "science", 6),
            article("culture-1", "culture", 4),
        ]
    )


def profile(reads: dict[str, int], read: tuple[str, ...]) -> ReaderProfile:
    return ReaderProfile(
        article_read_count=len(read), articles_read=read, last_read=read[-1] if read else None, category_reads=reads
    )


def test_a_digest_opens_with_the_readers_sections_most_read_first_and_skips_what_they_read(corpus: Corpus) -> None:
    reader = profile({"sport": 1, "science": 3, "culture": 0}, ("science-1", "sport-1"))
    since = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    picks = [Recommendation(corpus.get("culture-1"), "Because you read science", "similar")]  # type: ignore[arg-type]
    digest = build_digest(
        digest_id="d1",
        period="2026-12-06",
        frequency="daily",
        greeting_name="Ann",
        corpus=corpus,
        profile=reader,
        picks=picks,
        most_read=[],
        since=since,
    )
    assert digest.personalised and digest.note == ""
    assert [s.key for s in digest.sections] == ["science", "sport", "picks"]
    assert digest.section_order == ["science", "sport"]
    science, sport, chosen = digest.sections
    assert [i.article.slug for i in science.items] == ["science-2"], "science-1 was read"
    assert [i.article.slug for i in sport.items] == ["sport-4", "sport-3", "sport-2"], "newest first, unread only"
    assert science.why == "You have read 3 stories in Science."
    assert [i.new for i in sport.items] == [True, True, False]  # published after the last digest
    assert sport.items[0].note == "New since your last digest"
    assert [(i.article.slug, i.note) for i in chosen.items] == [("culture-1", "Because you read science")]
    assert [i.position for i in digest.items] == [1, 2, 3, 4, 5]


def test_without_consent_or_history_a_digest_is_the_most_read_and_says_why(corpus: Corpus) -> None:
    most_read = [Recommendation(a, "Popular", "popular") for a in corpus.articles[:3]]
    kwargs = dict(digest_id="d", period="p", frequency="weekly", greeting_name="", corpus=corpus, picks=[])
    no_consent = build_digest(**kwargs, profile=None, most_read=most_read, since=None)  # type: ignore[arg-type]
    assert not no_consent.personalised and no_consent.note == NO_CONSENT
    assert [s.key for s in no_consent.sections] == ["most_read"] and len(no_consent.items) == 3
    empty = build_digest(**kwargs, profile=ReaderProfile(), most_read=most_read, since=None)  # type: ignore[arg-type]
    assert empty.note == NO_HISTORY and not any(i.new for i in empty.items)
    assert empty.sections[0].heading == "Most read"
    newest = [Recommendation(a, "New in The Daily Current", "latest") for a in corpus.articles[:2]]
    new_site = build_digest(**kwargs, profile=None, most_read=newest, since=None)  # type: ignore[arg-type]
    assert new_site.sections[0].heading == "The latest" and len(new_site.items) == 2


class Links:
    home = "https://news.example/"
    account = "https://news.example/account"
    unsubscribe_page = "https://news.example/email/unsubscribe?token=t&x=1"
    unsubscribe_post = "https://api.news.example/api/email/unsubscribe?token=t"
    pixel = "https://api.news.example/i?e=ue&uid=u1"

    def story(self, item: object) -> str:
        return f"https://api.news.example/r/tp2?u=https%3A%2F%2Fnews.example%2Farticle%2F{item.article.slug}"  # type: ignore[attr-defined]


def test_a_rendered_digest_has_inlined_styles_absolute_links_a_text_part_and_one_click_headers(
    corpus: Corpus,
) -> None:
    reader = profile({"sport": 2}, ("sport-1",))
    digest = build_digest(
        digest_id="d1",
        period="2026-12-06",
        frequency="daily",
        greeting_name="Ann <script>",
        corpus=corpus,
        profile=reader,
        picks=[],
        most_read=[],
        since=None,
    )
    mail = render_digest(digest, Links(), dt.date(2026, 12, 6))
    assert mail.subject == "Sunday 6 December in The Daily Current: Title of sport-4"
    assert dict(mail.headers) == {
        "List-Unsubscribe": "<https://api.news.example/api/email/unsubscribe?token=t>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    hrefs = re.findall(r'href="([^"]+)"', mail.html)
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert all(s.startswith("https://") for s in re.findall(r'src="([^"]+)"', mail.html))
    assert 'class="title"' in mail.html and re.search(r'<a class="title"[^>]*style="[^"]*font-size: ?20px', mail.html)
    assert "@media only screen and (max-width: 620px)" in mail.html, "the phone rules stay for clients that read them"
    assert "Ann &lt;script&gt;" in mail.html and "<script>" not in mail.html, "names are escaped"
    assert "&lt;b&gt;bold" in mail.html, "excerpts are text, never markup"
    assert "https://news.example/email/unsubscribe?token=t&amp;x=1" in mail.html
    assert "== SPORT ==" in mail.text and "https://api.news.example/r/tp2?u=" in mail.text
    assert "Unsubscribe (one click, no sign-in): https://news.example/email/unsubscribe?token=t&x=1" in mail.text
    message = compose(mail, "Daily <d@news.example>", "ann@example.org", "Ann", "news.example", dt.datetime.now(dt.UTC))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
    assert str(message["Message-ID"]).endswith("@news.example>")


def test_a_confirmation_mail_has_one_link_and_says_nothing_is_sent_before_it() -> None:
    mail = render_confirmation("Ann", "weekly", "https://news.example/email/confirm?token=abc")
    assert re.findall(r'href="([^"]+)"', mail.html) == ["https://news.example/email/confirm?token=abc"]
    assert "Nothing is sent until you confirm" in mail.text and "weekly digest" in mail.text


# --- sending -----------------------------------------------------------------------------------------------------


def test_smtp_urls_are_parsed_or_refused_with_the_reason() -> None:
    assert SmtpConfig.from_url("smtp://localhost:1025") == SmtpConfig("localhost", 1025)
    assert SmtpConfig.from_url("smtps://mail.example") == SmtpConfig("mail.example", 465, tls=True)
    config = SmtpConfig.from_url("smtp://me%40x.org:p%3Ass@mail.example:587?starttls=true")
    assert (config.username, config.password, config.starttls, config.port) == ("me@x.org", "p:ss", True, 587)
    for url, reason in [
        ("http://mail.example", "use smtp://"),
        ("smtp://", "no host"),
        ("smtp://mail.example:abc", "port is not a number"),
        ("smtp://mail.example?tls=1", "unknown option 'tls'"),
        ("smtps://mail.example?starttls=true", "TLS already"),
    ]:
        with pytest.raises(ValueError, match=reason):
            SmtpConfig.from_url(url)


def test_without_smtp_the_mails_are_written_to_the_outbox(tmp_path: Path) -> None:
    mail = render_confirmation("Ann", "daily", "https://news.example/email/confirm?token=abc")
    message = compose(mail, "d@news.example", "ann@example.org", "Ann", "news.example", dt.datetime.now(dt.UTC))
    OutboxSender(tmp_path / "outbox").send(message)
    [written] = (tmp_path / "outbox").glob("*.eml")
    assert b"Confirm your Daily Current digest" in written.read_bytes()


def test_choosing_briefings_keeps_a_pending_link_alive_and_a_fresh_start_forgets_the_old_choice(
    store: SubscriptionStore,
) -> None:
    first = store.set_briefings("u1", ["sport"])
    assert (first.status, first.frequency, first.briefings) == (PENDING, "none", ("sport",))
    more = store.set_briefings("u1", ["sport", "science"])  # no new request: the mail already sent still works
    assert more.generation == first.generation and more.briefings == ("science", "sport")
    confirmed = store.confirm("u1", first.generation)
    assert confirmed is not None and confirmed.status == CONFIRMED
    assert store.choose("u1", "weekly", None).status == CONFIRMED  # a confirmed reader changes freely
    store.end("u1")
    again = store.request("u1", "daily")
    assert (again.status, again.briefings) == (PENDING, ()), "nothing from before the unsubscribe comes back"


def test_a_briefing_is_the_sections_stories_as_ranked_without_those_read(corpus: Corpus) -> None:
    stories = corpus.in_category("sport")
    briefing = build_briefing(
        digest_id="b1",
        period="2026-W49:sport",
        section="sport",
        greeting_name="Ann",
        stories=stories,
        read=frozenset({"sport-4"}),
        since=None,
    )
    assert briefing.is_briefing and briefing.name == "Sport briefing" and briefing.section_order == ["sport"]
    assert [i.article.slug for i in briefing.items] == ["sport-3", "sport-2", "sport-1"]
    mail = render_digest(briefing, Links(), dt.date(2026, 12, 11))
    assert mail.subject == "The Sport briefing: Title of sport-3"
    assert "Here is the week in Sport." in mail.text and "You get this Sport briefing because" in mail.text


def test_what_a_subscriber_asked_for_is_said_in_words() -> None:
    def sub(frequency: str, *briefings: str) -> Subscription:
        return Subscription("u", frequency, PENDING, 1, 0.0, None, briefings)  # type: ignore[arg-type]

    assert describe(sub("daily")) == "daily digest"
    assert describe(sub("none", "sport")) == "Sport briefing"
    assert describe(sub("weekly", "science", "sport")) == "weekly digest and the Science and Sport briefings"
