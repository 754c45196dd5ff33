"""Stories published, changed or withdrawn while tabs are open: each open page shows the change without a reload.

The corpus tells its listeners in the publishing thread; this lifespan task takes each change
onto the event loop and pushes it to the tabs it concerns: the front pages (their "Latest",
and the lead when a story breaks), the section front of the story's section, the story's own
page, and, for a withdrawn story, every panel that listed it.
"""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from media_demo import routes
from media_demo.articles import CorpusChange
from media_demo.newsroom import get_newsroom
from media_demo.state.article import ArticleState
from media_demo.state.category import CategoryState
from media_demo.state.clients import OPEN_TABS
from media_demo.state.home import HomeState
from media_demo.state.reader import ReaderState
from media_demo.state.tabs import connected_tokens

logger = logging.getLogger(__name__)


async def push_change(app: rx.App, change: CorpusChange) -> int:
    """Show `change` in every connected tab it concerns; returns how many tabs were told."""
    connected = connected_tokens(app)
    article = change.article
    told = 0
    for token in OPEN_TABS.showing(routes.HOME):
        if token in connected:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=HomeState)) as root:
                (await root.get_state(HomeState)).stories_changed()
            told += 1
    sections = {article.category} | ({change.previous.category} if change.previous is not None else set())
    for section in sections:
        for token in OPEN_TABS.showing(routes.category_url(section)):
            if token in connected:
                async with app.modify_state(rx.BaseStateToken(ident=token, cls=CategoryState)) as root:
                    await (await root.get_state(CategoryState)).reload()
                told += 1
    for token in OPEN_TABS.showing(routes.article_url(article.slug)):
        if token in connected:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=ArticleState)) as root:
                await (await root.get_state(ArticleState)).reload()
            told += 1
    if change.kind == "unpublished":
        for token in connected:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=ReaderState)) as root:
                (await root.get_state(ReaderState)).story_withdrawn(article.slug)
                (await root.get_state(ArticleState)).story_withdrawn(article.slug)
    return told


async def deliver_stories(app: rx.App) -> None:
    """Lifespan task: push every change of the live corpus to the open tabs it concerns, as it happens."""
    loop = asyncio.get_running_loop()
    changes: asyncio.Queue[CorpusChange] = asyncio.Queue()
    get_newsroom().corpus.subscribe(lambda change: loop.call_soon_threadsafe(changes.put_nowait, change))
    while True:
        change = await changes.get()
        try:
            await push_change(app, change)
        except Exception:  # one broken tab must not stop the others from hearing of the next story
            logger.exception("could not push the change of story %s", change.article.slug)
