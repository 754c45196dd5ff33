"""The Reflex app: pages, the HTTP API and the lifespan hook. Thin by design."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import reflex as rx

from media_demo import routes
from media_demo.api import build_api
from media_demo.newsroom import get_newsroom, get_shipped_corpus
from media_demo.pages.account import account_page
from media_demo.pages.article import article_page
from media_demo.pages.category import category_page
from media_demo.pages.digest import digest_preview_page, email_confirm_page, email_unsubscribe_page
from media_demo.pages.experiments import experiments_page
from media_demo.pages.home import home_page
from media_demo.pages.inspector import inspector_page
from media_demo.pages.not_found import not_found_page
from media_demo.pages.privacy import privacy_page
from media_demo.pages.search import search_page
from media_demo.paper import PAPER_NAME, TAGLINE
from media_demo.settings import get_settings
from media_demo.state.account import AccountState
from media_demo.state.article import ArticleState
from media_demo.state.category import CategoryState
from media_demo.state.digest import DigestState
from media_demo.state.experiments import ExperimentsState
from media_demo.state.inspector import InspectorState
from media_demo.state.offer import deliver_interventions
from media_demo.state.privacy import PrivacyState
from media_demo.state.reader import ReaderState
from media_demo.state.search import SearchState
from media_demo.state.stories import deliver_stories
from media_demo.state.tabs import keep_tabs
from media_demo.story_pages import find_shell
from media_demo.websocket_privacy import without_websocket_cookies


@contextlib.asynccontextmanager
async def newsroom_lifespan() -> AsyncIterator[None]:
    """Open the newsroom (replaying the event log) at start; commit everything at stop."""
    get_newsroom()
    yield
    get_newsroom().close()


# The backend's public address, as the frontend was built with (covers drawn at publish time are served there).
API_URL = rx.config.get_config().api_url

app = rx.App(
    stylesheets=["/styles.css"],
    api_transformer=[
        # A UI worker of a cluster (remote mode) leaves the collector and the engine's API to the engine service.
        build_api(
            get_newsroom,
            page_shell=find_shell(get_settings()),
            public_api_url=API_URL,
            serves_engine=not get_settings().signals_api_url,
        ),
        without_websocket_cookies,
    ],
    # Reflex's "Cannot connect to server" toast sits bottom right by default: over the consent
    # banner's "Reject all" and "Accept all", so a reader who answered while the page's websocket
    # was (re)connecting clicked the toast and their choice was lost. Events clicked while
    # disconnected are queued and sent on connect; at the top, the toast hides nothing to click.
    toaster=rx.toast.provider(position="top-center"),
)
app.register_lifespan_task(newsroom_lifespan)
app.register_lifespan_task(keep_tabs)
app.register_lifespan_task(deliver_interventions, app=app)
app.register_lifespan_task(deliver_stories, app=app)

corpus = get_shipped_corpus()  # the sections and default front page the pages compile with
app.add_page(
    home_page(corpus),
    route=routes.HOME,
    title=f"{PAPER_NAME} — {TAGLINE.lower()}",
    on_load=ReaderState.visit("Home"),
)
app.add_page(
    category_page(corpus.categories),
    route=routes.CATEGORY_ROUTE,
    title=CategoryState.page_title,
    on_load=CategoryState.open,
)
app.add_page(
    article_page(corpus.categories),
    route=routes.ARTICLE_ROUTE,
    title=ArticleState.page_title,
    on_load=ArticleState.open,
)
app.add_page(
    search_page(corpus.categories),
    route=routes.SEARCH,
    title=SearchState.page_title,
    on_load=SearchState.open,
)
app.add_page(
    inspector_page(corpus),
    route=routes.INSPECTOR,
    title=f"Your data — {PAPER_NAME}",
    on_load=[ReaderState.visit("Your data"), InspectorState.open],
)
app.add_page(
    privacy_page(corpus),
    route=routes.PRIVACY,
    title=f"Your privacy choices — {PAPER_NAME}",
    on_load=[ReaderState.visit("Privacy"), PrivacyState.open],
)
app.add_page(
    account_page(corpus),
    route=routes.ACCOUNT,
    title=f"Account — {PAPER_NAME}",
    on_load=[ReaderState.visit("Account"), AccountState.open, DigestState.open],
)
app.add_page(
    digest_preview_page(corpus),
    route=routes.DIGEST_PREVIEW,
    title=f"Your digest — {PAPER_NAME}",
    on_load=[ReaderState.visit("Your digest"), DigestState.open_preview],
)
app.add_page(
    email_confirm_page(corpus),
    route=routes.EMAIL_CONFIRM,
    title=f"Confirm your digest — {PAPER_NAME}",
    on_load=[ReaderState.visit("Confirm your digest"), DigestState.open_link_page],
)
app.add_page(
    email_unsubscribe_page(corpus),
    route=routes.EMAIL_UNSUBSCRIBE,
    title=f"Unsubscribe — {PAPER_NAME}",
    on_load=[ReaderState.visit("Unsubscribe"), DigestState.open_link_page],
)
app.add_page(
    experiments_page(corpus),
    route=routes.EXPERIMENTS,
    title=f"Experiments — {PAPER_NAME}",
    on_load=[ReaderState.visit("Experiments"), ExperimentsState.open],
)
app.add_page(
    not_found_page(corpus.categories),
    route=routes.NOT_FOUND,
    title=f"Page not found — {PAPER_NAME}",
    on_load=ReaderState.visit("Page not found"),
)
