"""Batch attributes keep the privacy rules: no profile without consent, and deletion or withdrawal takes the
batch rows, the log's Parquet export and (for external tables) any later sync of the reader's key."""

from __future__ import annotations

import time

import pytest

from media_demo.definitions import READING_HISTORY_GROUP
from media_demo.newsroom import Newsroom
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import POLICY_URL, read

pytestmark = pytest.mark.each_database
HOME = Page(url="http://localhost:3000/", title="Home")
HISTORY = f"{READING_HISTORY_GROUP}_v1"


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()))


def history(room: Newsroom, reader: Reader) -> dict:
    return room.read_attributes(READING_HISTORY_GROUP, 1, [reader.domain_userid], ["stories_read", "sections_read"])[0]


def run_batch(room: Newsroom) -> None:
    room.log.flush()
    (run,) = room.batch.run(only=[HISTORY])
    assert "error" not in run.detail, run.detail


def test_a_reader_without_behavioural_consent_gets_no_batch_profile(newsroom: Newsroom) -> None:
    consenting, undecided = new_reader(), new_reader()
    slug = newsroom.corpus.articles[0].slug
    read(newsroom, consenting, slug)
    read(newsroom, undecided, slug, consent=False)
    run_batch(newsroom)
    section = newsroom.corpus.articles[0].category
    assert history(newsroom, consenting) == {"stories_read": 1, "sections_read": {section: 1}}
    assert history(newsroom, undecided) == {"stories_read": 0, "sections_read": {}}
    assert newsroom.batch.values.entities(HISTORY) == 1


def test_deleting_a_reader_takes_their_batch_rows_and_the_export(newsroom: Newsroom) -> None:
    kept, deleted = new_reader(), new_reader()
    for reader in (kept, deleted):
        read(newsroom, reader, newsroom.corpus.articles[1].slug)
    run_batch(newsroom)
    assert newsroom.batch.export.parts()
    summary = newsroom.privacy.forget_reader([deleted.domain_userid])
    assert summary["batch_rows"] >= 1
    assert history(newsroom, deleted)["stories_read"] == 0
    assert history(newsroom, kept)["stories_read"] == 1
    assert newsroom.batch.export.parts() == []  # the Parquet export held their events: it goes
    assert newsroom.batch.values.is_tombstoned(deleted.domain_userid)
    run_batch(newsroom)  # exported afresh from the log, which no longer has them
    assert history(newsroom, deleted)["stories_read"] == 0
    assert history(newsroom, kept)["stories_read"] == 1
    exported = newsroom.batch.export.scan().select("domain_userid").collect().get_column("domain_userid").to_list()
    assert deleted.domain_userid not in exported and kept.domain_userid in exported


def test_withdrawing_consent_drops_the_batch_profile(newsroom: Newsroom) -> None:
    reader = new_reader()
    read(newsroom, reader, newsroom.corpus.articles[2].slug)
    run_batch(newsroom)
    assert history(newsroom, reader)["stories_read"] == 1
    newsroom.privacy.choose(reader, HOME, set(), POLICY_URL)
    assert history(newsroom, reader)["stories_read"] == 0
    run_batch(newsroom)
    assert history(newsroom, reader)["stories_read"] == 0
