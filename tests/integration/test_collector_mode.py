"""With SNOWPLOW_COLLECTOR_URL set, the tracker sends real HTTP to that collector."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.settings import Settings
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.integration.conftest import serve


def test_events_go_to_the_configured_collector_instead_of_the_engine(tmp_path: Path) -> None:
    received: list[dict] = []

    async def tp2(request: Request) -> Response:
        received.extend(json.loads(await request.body())["data"])
        return Response(status_code=200)

    collector = Starlette(routes=[Route("/com.snowplowanalytics.snowplow/tp2", tp2, methods=["POST"])])
    with serve(collector) as url:
        settings = Settings(media_demo_db=tmp_path / "events.db", snowplow_collector_url=url)
        newsroom = Newsroom(settings, get_corpus(), get_index())
        try:
            reader = Reader(new_domain_userid(), touch_session(None, time.time()))
            article = newsroom.corpus.articles[0]
            page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
            newsroom.tracker.page_view(reader, page)
            newsroom.tracker.article_view(reader, page, article)
            newsroom.tracker.flush()
            deadline = time.monotonic() + 10
            while len(received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            newsroom.close()

    assert [e["e"] for e in received] == ["pv", "ue"]
    assert {e["duid"] for e in received} == {reader.domain_userid}
    assert {e["sid"] for e in received} == {reader.session.session_id}
    inner = json.loads(base64.urlsafe_b64decode(received[1]["ue_px"] + "==="))["data"]
    assert inner["data"]["slug"] == article.slug
    assert newsroom.log.counts() == {"good": 0, "bad": 0}  # nothing went to the embedded engine
