"""Privacy: consent choices, withdrawal, deletion and who hears of it."""

from __future__ import annotations

import time

import pytest

from media_demo.newsroom import Newsroom
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import POLICY_URL, read

pytestmark = pytest.mark.each_database
HOME = Page(url="http://localhost:3000/", title="Home")


def new_reader(user_id: str | None = None, duid: str | None = None) -> Reader:
    return Reader(duid or new_domain_userid(), touch_session(None, time.time()), user_id=user_id)


def test_a_choice_is_recorded_committed_and_returned(newsroom: Newsroom) -> None:
    reader = new_reader()
    assert newsroom.privacy.consent_of(reader.domain_userid) is None
    consent = newsroom.privacy.choose(reader, HOME, {CONTEXTUAL}, POLICY_URL)
    assert consent is not None and consent.allows(CONTEXTUAL) and not consent.allows(BEHAVIOURAL)
    assert newsroom.log.counts()["good"] == 1  # already committed when `choose` returned


def test_choosing_nothing_after_allowing_profiling_withdraws_and_drops_the_profile(newsroom: Newsroom) -> None:
    reader = new_reader()
    read(newsroom, reader, newsroom.corpus.articles[0].slug)
    assert newsroom.views.attributes(reader.domain_userid)["article_read_count"] == 1
    consent = newsroom.privacy.choose(reader, HOME, set(), POLICY_URL)
    assert consent is not None and consent.event_type == "withdrawn"
    assert newsroom.views.attributes(reader.domain_userid)["article_read_count"] == 0
    assert {e.atomic["event_name"] for e in newsroom.log.reader_events(reader.domain_userid)} == {"consent_preferences"}


def test_a_new_id_carries_the_previous_ids_choice(newsroom: Newsroom) -> None:
    before, after = new_reader(), new_reader()
    newsroom.privacy.choose(before, HOME, {CONTEXTUAL}, POLICY_URL)
    newsroom.privacy.carry_consent(before.domain_userid, after, HOME, POLICY_URL)
    carried = newsroom.privacy.consent_of(after.domain_userid)
    assert carried is not None and set(carried.scopes) == set(newsroom.privacy.consent_of(before.domain_userid).scopes)
    nobody = new_reader()
    newsroom.privacy.carry_consent(new_domain_userid(), nobody, HOME, POLICY_URL)  # no choice to carry
    assert newsroom.privacy.consent_of(nobody.domain_userid) is None


def test_forgetting_a_signed_in_reader_takes_every_device_and_tells_the_listeners(newsroom: Newsroom) -> None:
    laptop, phone = new_reader("ada@example.org"), new_reader("ada@example.org")
    for reader in (laptop, phone):
        read(newsroom, reader, newsroom.corpus.articles[1].slug)
    assert newsroom.privacy.linked_devices("ada@example.org") == [laptop.domain_userid, phone.domain_userid]
    summary = newsroom.privacy.summary(phone.domain_userid, "ada@example.org")
    assert (summary.articles_read, summary.linked_devices) == (2, 2)  # the story once on each device
    heard = []
    unsubscribe = newsroom.privacy.on_forget(lambda devices, users: heard.append((devices, users)))

    deleted = newsroom.privacy.forget_reader(user_id="ada@example.org")
    unsubscribe()

    assert deleted["devices"] == 2 and deleted["events"] >= 6 and deleted["profiles"] >= 2
    assert heard == [(frozenset({laptop.domain_userid, phone.domain_userid}), frozenset({"ada@example.org"}))]
    assert newsroom.privacy.linked_devices("ada@example.org") == []
    assert newsroom.privacy.consent_of(laptop.domain_userid) is None
    assert newsroom.privacy.summary(laptop.domain_userid, None).articles_read == 0
