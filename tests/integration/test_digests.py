"""The e-mail digest end to end over real servers: double opt-in, a digest built from the reader's reading,
sent over SMTP to a real server (aiosmtpd) once per period, retried after a temporary refusal, its open
pixel and click redirect reporting back through the collector, and a one-click way out.

The mails are parsed back from the bytes the SMTP server received; the attributes they produce are read
through the official `snowplow-signals` client, as a Signals deployment would serve them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from snowplow_signals import SignalsSandbox

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.mail.store import FAILED, RETRY, SENT, SubscriptionStore
from media_demo.newsroom import Newsroom, get_index
from media_demo.services.digests import DigestError, Digests, DigestScheduler, DigestSettings
from media_demo.settings import Settings
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import API_TOKEN, AUTH, free_port, read, serve
from tests.mailserver import SmtpServer, html_links, html_of, smtp_server, text_of, wait

SITE = "http://news.example"


@dataclass
class Served:
    room: Newsroom
    client: httpx.Client
    url: str
    smtp: SmtpServer


@pytest.fixture
def served(tmp_path: Path, corpus: Corpus) -> Iterator[Served]:
    port = free_port()
    with smtp_server() as smtp:
        settings = Settings(
            media_demo_db=tmp_path / "events.db",
            flush_interval_seconds=0.01,
            signals_api_token=API_TOKEN,
            smtp_url=smtp.url(),
            site_url=SITE,
            public_api_url=f"http://127.0.0.1:{port}",
            digest_hour=0,
        )
        room = Newsroom(settings, corpus, get_index())
        try:
            with serve(build_api(lambda: room), port) as url, httpx.Client(base_url=url, timeout=10) as client:
                yield Served(room, client, url, smtp)
        finally:
            room.close()


def reader_of(room: Newsroom, email: str, name: str) -> tuple[str, Reader]:
    account = room.accounts.create(email, "a-long-password", name)
    reader = Reader(new_domain_userid(), touch_session(None, time.time()), user_id=account.user_id)
    return account.user_id, reader


def confirm_link(message: object) -> str:
    [link] = html_links(message)  # type: ignore[arg-type]
    assert link.startswith(f"{SITE}/email/confirm?token=")
    return parse_qs(urlsplit(link).query)["token"][0]


def test_a_subscriber_confirms_gets_one_digest_per_period_and_their_opens_and_clicks_count(
    served: Served, corpus: Corpus
) -> None:
    room, client, smtp = served.room, served.client, served.smtp
    user_id, reader = reader_of(room, "ann@example.org", "Ann")
    sport = [a.slug for a in corpus.in_category("sport")][:3]
    science = [a.slug for a in corpus.in_category("science")][:1]
    for slug in sport + science:
        read(room, reader, slug)  # consented, signed in: the reads count for the account

    pending = room.digests.subscribe(user_id, "daily")
    assert pending.status == "pending"
    [confirmation] = smtp.mailbox.wait_for(1)
    assert confirmation["To"].addresses[0].addr_spec == "ann@example.org"
    assert "Nothing is sent until you confirm" in text_of(confirmation)
    # Nothing goes out before the link is followed.
    assert client.post("/api/digests/send", headers=AUTH).json() == {"sent": [], "skipped": [], "failed": {}}
    assert room.digests.confirm(confirm_link(confirmation)).status == "confirmed"

    answer = client.post("/api/digests/send", headers=AUTH)
    assert answer.status_code == 200 and answer.json()["sent"] == [user_id]
    digest = smtp.mailbox.wait_for(2)[1]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = digest["List-Unsubscribe"].strip("<>")
    assert one_click.startswith(f"{served.url}/api/email/unsubscribe?token=")
    html, text = html_of(digest), text_of(digest)
    headings = re.findall(r'<div class="heading"[^>]*>([^<]+)</div>', html)
    assert headings[0] == "Sport", "the digest opens with the section the reader reads most"
    assert "Science" in headings and "Picked for you" in headings
    assert not any(f"/article/{slug}" in text for slug in sport + science), "nothing they read is offered"
    assert "== SPORT ==" in text
    # Asking again in the same period sends nothing twice.
    assert client.post("/api/digests/send", headers=AUTH).json()["skipped"] == [user_id]
    time.sleep(0.3)
    assert len(smtp.mailbox.messages) == 2

    # Opening the mail loads the pixel; a click goes through the collector and lands on the story.
    [pixel] = re.findall(r'<img src="([^"]+)"', html)
    assert pixel.startswith(f"{served.url}/i?")
    assert httpx.get(pixel.replace("&amp;", "&")).headers["content-type"] == "image/gif"
    story_links = [link for link in html_links(digest) if "/r/tp2?" in link]
    assert story_links and all(link.startswith(served.url) for link in story_links)
    landed = httpx.get(story_links[0], follow_redirects=False)
    assert landed.status_code == 302 and landed.headers["location"].startswith(f"{SITE}/article/")
    assert "set-cookie" not in landed.headers, "a link in a mail never signs a browser in"
    clicked_slug = landed.headers["location"].rsplit("/", 1)[1]
    assert corpus.get(clicked_slug) is not None and corpus.get(clicked_slug).category == "sport"  # type: ignore[union-attr]

    signals = SignalsSandbox(api_url=served.url, sandbox_token=API_TOKEN)
    names = ["digests_received", "digests_opened", "email_clicks", "favourite_email_section"]
    engagement = signals.get_group_attributes("email_engagement", 1, names, "user_id", user_id)
    assert engagement["digests_received"] == 1 and engagement["digests_opened"] == 1
    assert engagement["email_clicks"] == 1 and engagement["favourite_email_section"] == "sport"

    # The way out: one POST, no sign-in, and nothing more is sent.
    out = httpx.post(one_click, content="List-Unsubscribe=One-Click")
    assert out.status_code == 200 and out.json()["unsubscribed"] is True
    ended = room.digests.subscription(user_id)
    assert ended is not None and ended.status == "unsubscribed"
    assert client.post("/api/digests/send", headers=AUTH).json()["sent"] == []
    consent_events = client.get("/micro/good", params={"limit": 200}, headers=AUTH).json()
    email_choices = [
        e["event_data"]["eventType"]
        for e in consent_events
        if e["event_data"] and "email_marketing" in (e["event_data"].get("consentScopes") or [])
    ]
    assert sorted(email_choices) == ["allow_selected", "withdrawn"]
    # Their device's own choice is untouched by the e-mail purpose.
    consent = room.privacy.consent_of(reader.domain_userid)
    assert consent is not None and consent.allows("behavioural")


def test_the_preview_and_send_routes_need_the_token_and_answer_json(served: Served) -> None:
    room, client = served.room, served.client
    user_id, _reader = reader_of(room, "bo@example.org", "Bo")
    assert client.get("/api/digests/preview", params={"user_id": user_id}).status_code == 403
    assert client.post("/api/digests/send").status_code == 403
    missing = client.get("/api/digests/preview", headers=AUTH)
    assert missing.status_code == 400 and "user_id" in missing.json()["error"]
    unknown = client.get("/api/digests/preview", params={"user_id": "nobody"}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
    preview = client.get("/api/digests/preview", params={"user_id": user_id}, headers=AUTH).json()
    # No consent: the most-read stories only; on this new site nobody has read anything, so the newest.
    assert "The newest stories in The Daily Current" in preview["html"] and "/article/" in preview["html"]
    assert "You have not allowed us to use your reading history" in preview["text"]
    assert "/r/tp2" not in preview["html"] and "<img" not in preview["html"], "a preview tracks nothing"
    bad = client.post("/api/digests/send", content="{not json", headers=AUTH)
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    wrong = client.post("/api/digests/send", json={"user_ids": "everyone"}, headers=AUTH)
    assert wrong.status_code == 400
    forged = httpx.post(f"{served.url}/api/email/unsubscribe", params={"token": "forged"})
    assert forged.status_code == 400 and "not valid" in forged.json()["error"]


def digests_on(room: Newsroom, clock: Clock, settings: DigestSettings | None = None) -> Digests:
    """The newsroom's digests on a clock the test moves, with their own store (a new one: what a restart finds)."""
    return Digests(
        SubscriptionStore(room.log.engine, clock),
        room.accounts,
        room.views,
        room.reads,
        room.tracker,
        room.digests._links,
        room.digests._sender,
        settings or room.digests.settings,
        clock,
    )


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_refused_digest_is_retried_with_back_off_and_never_sent_twice_even_after_a_restart(
    served: Served, tmp_path: Path
) -> None:
    room, smtp = served.room, served.smtp
    user_id, _reader = reader_of(room, "cy@example.org", "Cy")
    clock = Clock()

    def digests() -> Digests:  # the newsroom's, on a clock the test moves (and, called again, a "restarted" one)
        return digests_on(room, clock)

    service = digests()
    service.subscribe(user_id, "weekly")
    service.confirm(confirm_link(smtp.mailbox.wait_for(1)[0]))
    smtp.mailbox.refuse.append("451 4.3.0 Mailbox busy, try again later")
    report = service.send_now([user_id])
    assert user_id in report.failed and "451" in report.failed[user_id]
    [delivery] = service.store.deliveries(user_id)
    assert delivery.status == RETRY and delivery.next_attempt_at == pytest.approx(clock.now + 60)
    assert service.send_due().sent == [], "not before its time"
    clock.now += 61
    restarted = digests()  # what a restart finds in the database
    assert restarted.send_due().sent == [user_id]
    assert [d.status for d in restarted.store.deliveries(user_id)] == [SENT]
    assert restarted.send_now([user_id]).skipped == [user_id] and restarted.send_due().sent == []
    assert len(smtp.mailbox.wait_for(2)) == 2  # the confirmation and one digest, never two
    # A permanent refusal is not retried.
    smtp.mailbox.refuse.append("550 5.1.1 No such mailbox")
    clock.now += 8 * 86_400  # next week
    assert user_id in restarted.send_now([user_id]).failed
    assert sorted(d.status for d in restarted.store.deliveries(user_id)) == [FAILED, SENT]
    clock.now += 3600
    assert restarted.send_due().sent == []


def test_deleting_the_account_deletes_its_subscription_and_deliveries(served: Served) -> None:
    room, smtp = served.room, served.smtp
    user_id, reader = reader_of(room, "di@example.org", "Di")
    room.digests.subscribe(user_id, "daily")
    room.digests.confirm(confirm_link(smtp.mailbox.wait_for(1)[0]))
    assert room.digests.send_now([user_id]).sent == [user_id]
    deleted = room.privacy.forget_reader({reader.domain_userid}, user_id)
    assert deleted["email"] == 2  # the subscription and its one delivery
    assert room.digests.subscription(user_id) is None and room.subscriptions.deliveries(user_id) == []
    assert room.digests.send_now([user_id]).skipped == [user_id]


def test_the_newsletter_offers_briefing_is_a_weekly_mail_of_its_own_after_the_same_double_opt_in(
    served: Served, corpus: Corpus
) -> None:
    room, smtp = served.room, served.smtp
    user_id, _reader = reader_of(room, "ed@example.org", "Ed")
    pending = room.digests.add_briefing(user_id, "sport")  # what accepting the offer does for a signed-in reader
    assert (pending.status, pending.frequency, pending.briefings) == ("pending", "none", ("sport",))
    [confirmation] = smtp.mailbox.wait_for(1)
    assert "Sport briefing" in text_of(confirmation)
    room.digests.add_briefing(user_id, "science")  # still pending: no second confirmation mail
    time.sleep(0.3)
    assert len(smtp.mailbox.messages) == 1
    confirmed = room.digests.confirm(confirm_link(confirmation))
    assert confirmed.briefings == ("science", "sport")
    report = room.digests.send_now([user_id])
    assert report.sent == [user_id, user_id] and report.failed == {}
    briefings = smtp.mailbox.wait_for(3)[1:]
    subjects = sorted(str(m["Subject"]) for m in briefings)
    assert subjects[0].startswith("The Science briefing: ") and subjects[1].startswith("The Sport briefing: ")
    sport = next(m for m in briefings if "Sport briefing" in str(m["Subject"]))
    slugs = re.findall(r"/article/([a-z0-9-]+)", text_of(sport).replace("%2F", "/"))
    assert slugs and all(corpus.get(s).category == "sport" for s in slugs)  # type: ignore[union-attr]
    assert room.digests.send_now([user_id]).skipped == [f"{user_id}:science", f"{user_id}:sport"]
    with pytest.raises(DigestError, match="no 'gardening' section"):
        room.digests.add_briefing(user_id, "gardening")


def test_the_schedule_sends_each_kind_on_its_day_after_the_hour_and_its_thread_does_it_alone(
    served: Served,
) -> None:
    room, smtp = served.room, served.smtp
    clock = Clock()
    settings = dataclasses.replace(room.digests.settings, hour=7, weekday=0, briefing_weekday=4, timezone="UTC")
    service = digests_on(room, clock, settings)
    store = service.store
    daily, _ = reader_of(room, "fi@example.org", "Fi")
    weekly, _ = reader_of(room, "gu@example.org", "Gu")
    for user_id, frequency in ((daily, "daily"), (weekly, "weekly")):
        pending = store.choose(user_id, frequency, ["culture"] if user_id == weekly else None)
        store.confirm(user_id, pending.generation)

    def at(day: int, hour: int) -> None:  # December 2026: the 7th is a Monday, the 11th a Friday
        clock.now = dt.datetime(2026, 12, day, hour, 30, tzinfo=dt.UTC).timestamp()

    at(8, 6)
    assert service.send_due().sent == [], "not before the hour"
    at(8, 7)  # a Tuesday: the daily digest only
    assert service.send_due().sent == [daily]
    assert service.send_due().sent == [], "once a day"
    at(11, 9)  # Friday: the daily digest and the culture briefing
    assert sorted(service.send_due().sent) == sorted([daily, weekly])
    at(14, 8)  # Monday: the daily and the weekly digests
    assert sorted(service.send_due().sent) == sorted([daily, weekly])
    subjects = [str(m["Subject"]) for m in smtp.mailbox.wait_for(5)]
    assert sum(s.startswith("The Culture briefing") for s in subjects) == 1
    assert sum(s.startswith("This week in The Daily Current") for s in subjects) == 1

    at(15, 8)
    scheduler = DigestScheduler(service, interval=0.1)
    scheduler.start()  # its first run is at once
    try:
        wait(lambda: len(smtp.mailbox.messages) == 6)
    finally:
        scheduler.stop()
    assert store.deliveries(daily)[0].period == "2026-12-15"
