"""The publishing API over real HTTP: create, replace, withdraw and read stories; the newsroom follows and remembers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from media_demo.api import build_api
from media_demo.newsroom import Newsroom
from media_demo.recommend.search import search
from media_demo.settings import Settings
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.factories import SMALL_CORPUS, articles_folder, story_fields
from tests.integration.conftest import API_TOKEN, AUTH, read, serve

SLUG = "harrowgate-fog-bell-rings-again"
SHIPPED = SMALL_CORPUS[3]  # a culture story, like the test story


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    """A newsroom of a few shipped stories on its own database (publishing must not touch the shared corpus)."""
    return Settings(
        media_demo_db=tmp_path / "events.db",
        articles_dir=articles_folder(tmp_path / "articles"),
        flush_interval_seconds=0.01,
        signals_api_token=API_TOKEN,
    )


@pytest.fixture
def served(small_settings: Settings) -> Iterator[tuple[Newsroom, httpx.Client]]:
    room = Newsroom(small_settings)
    try:
        with serve(build_api(lambda: room)) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield room, client
    finally:
        room.close()


def new_reader() -> Reader:
    return Reader(new_domain_userid(), touch_session(None, time.time()))


def test_writes_need_the_token(served: tuple[Newsroom, httpx.Client]) -> None:
    room, client = served
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
        assert client.post("/api/articles", json=story_fields(), headers=headers).status_code == 401
        assert client.put(f"/api/articles/{SLUG}", json=story_fields(), headers=headers).status_code == 401
        response = client.delete(f"/api/articles/{SHIPPED}", headers=headers)
        assert response.status_code == 401 and response.json()["status"] == 401
    assert SLUG not in room.corpus and SHIPPED in room.corpus


def test_post_publishes_a_story_everyone_can_read(served: tuple[Newsroom, httpx.Client]) -> None:
    room, client = served
    response = client.post("/api/articles", json=story_fields(breaking=True), headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/api/articles/{SLUG}"
    created = response.json()
    assert created["status"] == "created" and created["article"]["breaking"] is True
    story = client.get(response.headers["location"])
    assert story.status_code == 200 and story.headers["etag"]
    document = story.json()
    assert document == created["article"]
    assert document["updated"].endswith("Z") and document["url"] == f"/article/{SLUG}"
    assert document["cover"] == f"/api/covers/{SLUG}.svg"
    assert document["body"].startswith("Volunteers at the Harrowgate lighthouse")
    assert client.get(response.headers["location"], headers={"If-None-Match": story.headers["etag"]}).status_code == 304
    listing = client.get("/api/articles", params={"limit": 2, "category": "culture"}).json()
    assert [a["slug"] for a in listing["articles"]] == [SLUG, SHIPPED]  # newest first
    assert "body" not in listing["articles"][0]
    assert listing["sections"] == ["culture", "health", "science", "sport", "technology"]
    # The newsroom follows: the corpus, both indexes.
    assert SLUG in room.corpus and SLUG in room.index and SLUG in room.passages
    assert SLUG in {s for s, _ in room.index.similar(SHIPPED, k=len(SMALL_CORPUS))}


def test_the_drawn_cover_is_served_with_caching_headers(served: tuple[Newsroom, httpx.Client]) -> None:
    _room, client = served
    client.post("/api/articles", json=story_fields(), headers=AUTH).raise_for_status()
    cover = client.get(f"/api/covers/{SLUG}.svg")
    assert cover.status_code == 200 and cover.headers["content-type"].startswith("image/svg+xml")
    assert cover.text.startswith("<svg") and "max-age" in cover.headers["cache-control"]
    assert client.get(f"/api/covers/{SLUG}.svg", headers={"If-None-Match": cover.headers["etag"]}).status_code == 304
    shipped = client.get(f"/api/covers/{SHIPPED}.svg")
    assert shipped.status_code == 404 and f"/covers/{SHIPPED}.svg" in shipped.json()["error"]


def test_post_refuses_a_taken_slug_naming_it(served: tuple[Newsroom, httpx.Client]) -> None:
    _room, client = served
    response = client.post("/api/articles", json=story_fields(slug=SHIPPED), headers=AUTH)
    assert response.status_code == 409
    assert "field 'slug'" in response.json()["error"] and f"PUT /api/articles/{SHIPPED}" in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'"a story"', 400, "must be a JSON object"),
        (b"null", 400, "must be a JSON object"),
        (b"{}", 422, "missing field 'title'"),
        (b'{"slug": 5, "title": [], "excerpt": {}, "category": 1, "author": true, "published": 2026,'
         b' "reading_minutes": -1, "tags": [1], "body": 7}', 422, "field 'title' must be a non-empty string"),
        (b'{"slug": "x", "title": "t", "excerpt": "e", "category": "weather", "author": "a",'
         b' "published": "2026-02-30", "reading_minutes": 1, "tags": ["t"], "body": "short"}', 422,
         "field 'published' must be an ISO date"),
    ],
)  # fmt: skip
def test_bad_requests_are_json_4xx_never_500(
    served: tuple[Newsroom, httpx.Client], content: bytes, status: int, says: str
) -> None:
    _room, client = served
    for response in (
        client.post("/api/articles", content=content, headers={**AUTH, "Content-Type": "application/json"}),
        client.put("/api/articles/x", content=content, headers={**AUTH, "Content-Type": "application/json"}),
    ):
        assert response.status_code in (status, 422), response.text
        error = response.json()
        assert error["status"] == response.status_code
        if response.status_code == status:
            assert says in error["error"]


def test_every_field_problem_is_listed_by_name(served: tuple[Newsroom, httpx.Client]) -> None:
    _room, client = served
    fields = story_fields(category="weather", reading_minutes=0, tags=[], body="Too short.", sponsor="ACME")
    response = client.post("/api/articles", json=fields, headers=AUTH)
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert problems == [
        "request body: field 'reading_minutes' must be a positive whole number",
        "request body: field 'tags' must be a non-empty list of strings",
        "request body: body has 2 words, at least 150 are needed",
        "request body: unknown field 'sponsor'",
        "request body: field 'category' must be one of the newsroom's sections "
        "(culture, health, science, sport, technology), got 'weather'",
    ]
    assert response.json()["error"].startswith("the story has 5 problems: ")


def test_a_too_large_body_is_refused(served: tuple[Newsroom, httpx.Client]) -> None:
    _room, client = served
    response = client.post("/api/articles", json=story_fields(body="word " * 300_000), headers=AUTH)
    assert response.status_code == 413


def test_put_creates_updates_and_leaves_an_identical_story_alone(served: tuple[Newsroom, httpx.Client]) -> None:
    room, client = served
    fields = story_fields()
    del fields["slug"]
    first = client.put(f"/api/articles/{SLUG}", json=fields, headers=AUTH)
    assert first.status_code == 201 and first.json()["status"] == "created"
    assert first.headers["location"] == f"/api/articles/{SLUG}"
    second = client.put(f"/api/articles/{SLUG}", json={**fields, "title": "The fog bell is back"}, headers=AUTH)
    assert second.status_code == 200 and second.json()["status"] == "updated"
    same = client.put(f"/api/articles/{SLUG}", json={**fields, "title": "The fog bell is back"}, headers=AUTH)
    assert same.status_code == 200 and same.json()["status"] == "unchanged"
    assert same.json()["article"]["updated"] == second.json()["article"]["updated"]
    story = room.corpus.get(SLUG)
    assert story is not None and story.title == "The fog bell is back"
    mismatch = client.put("/api/articles/another-slug", json=story_fields(), headers=AUTH)
    assert mismatch.status_code == 422 and "field 'slug'" in mismatch.json()["error"]


def test_delete_withdraws_everywhere_and_reading_it_says_gone(served: tuple[Newsroom, httpx.Client]) -> None:
    room, client = served
    client.post("/api/articles", json=story_fields(), headers=AUTH).raise_for_status()
    response = client.delete(f"/api/articles/{SLUG}", headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    gone = client.get(f"/api/articles/{SLUG}")
    assert gone.status_code == 410 and "no longer available" in gone.json()["error"]
    assert client.delete(f"/api/articles/{SLUG}", headers=AUTH).status_code == 204  # again: still gone
    assert client.delete("/api/articles/never-published", headers=AUTH).status_code == 404
    assert client.get("/api/articles/never-published").status_code == 404
    assert client.get(f"/api/covers/{SLUG}.svg").status_code == 404
    assert SLUG not in {a["slug"] for a in client.get("/api/articles", params={"limit": 100}).json()["articles"]}
    assert SLUG not in room.index and SLUG not in room.passages


def test_a_withdrawn_story_is_never_recommended(served: tuple[Newsroom, httpx.Client]) -> None:
    room, client = served
    client.post("/api/articles", json=story_fields(), headers=AUTH).raise_for_status()
    # Many readers read it (the most read story), and one reads it last (its neighbours come from it).
    for _ in range(4):
        read(room, new_reader(), SLUG)
    last = new_reader()
    read(room, last, SHIPPED)
    read(room, last, SLUG)
    room.log.flush()
    profile = room.views.profile(last.domain_userid)
    assert profile.last_read == SLUG
    other = new_reader()
    read(room, other, SMALL_CORPUS[0])
    # Before: with room for every unread story, it is among the picks (so the check below can fail).
    assert SLUG in {r.article.slug for r in room.views.picks(room.views.profile(other.domain_userid), 10)}
    assert client.delete(f"/api/articles/{SLUG}", headers=AUTH).status_code == 204
    for reader in (last, other, new_reader()):
        picks = room.views.picks(room.views.profile(reader.domain_userid), 10)
        assert picks and SLUG not in {r.article.slug for r in picks}
    for slug in SMALL_CORPUS:
        assert SLUG not in {s for s, _ in room.index.similar(slug, k=len(SMALL_CORPUS))}
    answer = client.get(
        "/api/recommended-articles", params={"domain_userid": last.domain_userid, "count": 4}, headers=AUTH
    )
    assert answer.status_code == 200 and SLUG not in {r["slug"] for r in answer.json()["recommendations"]}


def test_a_restarted_newsroom_keeps_api_stories_and_withdrawals(small_settings: Settings) -> None:
    first = Newsroom(small_settings)
    try:
        with serve(build_api(lambda: first)) as url, httpx.Client(base_url=url) as client:
            client.post("/api/articles", json=story_fields(), headers=AUTH).raise_for_status()
            assert client.delete(f"/api/articles/{SHIPPED}", headers=AUTH).status_code == 204
            published = client.get(f"/api/articles/{SLUG}").json()
    finally:
        first.close()
    second = Newsroom(small_settings)
    try:
        assert SLUG in second.corpus and SHIPPED not in second.corpus
        assert SLUG in second.index and SLUG in second.passages and SHIPPED not in second.index
        with serve(build_api(lambda: second)) as url, httpx.Client(base_url=url) as client:
            assert client.get(f"/api/articles/{SLUG}").json() == published  # `updated` included
            assert client.get(f"/api/articles/{SHIPPED}").status_code == 410
            assert client.get(f"/api/covers/{SLUG}.svg").status_code == 200
    finally:
        second.close()


def test_bad_query_parameters_are_named(served: tuple[Newsroom, httpx.Client]) -> None:
    _room, client = served
    for limit in ("0", "101", "ten", "-1"):
        response = client.get("/api/articles", params={"limit": limit})
        assert response.status_code == 400 and "'limit'" in response.json()["error"]
    response = client.get("/api/articles", params={"category": "weather"})
    assert response.status_code == 400 and "'category'" in response.json()["error"]
    response = client.post("/api/articles", params={"source": "elsewhere"}, json=story_fields(), headers=AUTH)
    assert response.status_code == 400 and "'source'" in response.json()["error"]


def test_the_recency_window_setting_bounds_the_section_pick(tmp_path: Path, small_settings: Settings) -> None:
    """`RECENCY_WINDOW`: "More in <Section>" looks only at the section's newest stories."""
    picks = {}
    for window in (100, 1):
        settings = small_settings.model_copy(
            update={"recency_window": window, "media_demo_db": tmp_path / f"events-{window}.db"}
        )
        room = Newsroom(settings)
        try:
            older = story_fields(slug="fog-bell-first-rings", published="2026-11-01")
            newer = story_fields(
                slug="village-choir-sings-again",
                title="The village choir sings again",
                published="2026-11-30",
                tags=["music"],
                body="The choir of the village hall met again this autumn after a long pause. " * 12,
            )
            with serve(build_api(lambda room=room: room)) as url, httpx.Client(base_url=url) as client:
                for fields in (story_fields(), older, newer):
                    client.post("/api/articles", json=fields, headers=AUTH).raise_for_status()
            reader = new_reader()
            read(room, reader, SLUG)
            room.log.flush()
            first = room.views.picks(room.views.profile(reader.domain_userid), 3)[0]
            picks[window] = (first.article.slug, first.kind)
        finally:
            room.close()
    assert picks[100] == ("fog-bell-first-rings", "category")  # the near copy, though older
    assert picks[1] == ("village-choir-sings-again", "category")  # only the newest culture story is looked at
    with pytest.raises(ValueError, match="recency_window"):
        Settings(recency_window=0)


def test_a_published_storys_new_words_are_searchable_and_cited_once_the_refits_ran(
    served: tuple[Newsroom, httpx.Client],
) -> None:
    """Words no story had before ("escapement") count after the background refits, a moment after the publish."""
    room, client = served
    assert search("escapement clockwork", room.corpus, room.index).hits == []
    client.post("/api/articles", json=story_fields(), headers=AUTH).raise_for_status()
    assert SLUG in room.index and SLUG in room.passages  # followed at once
    assert room.index_follower.refit.wait_idle(10) and room.passage_follower.refit.wait_idle(10)
    assert room.index.unseen_since_fit == 0
    assert [hit.article.slug for hit in search("escapement clockwork", room.corpus, room.index).hits] == [SLUG]
    assert room.passages.stories("clockwork fog bell escapement", k=1)[0][0] == SLUG
