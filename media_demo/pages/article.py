"""An article: headline, standfirst, cover, body, and TF-IDF "More like this"."""

from __future__ import annotations

import reflex as rx

from media_demo.articles import Article, Corpus
from media_demo.articles.cover_urls import cover_url
from media_demo.components.layout import page_frame
from media_demo.components.sidebar import sidebar
from media_demo.components.story_card import story_card, story_kicker, story_meta
from media_demo.recommend import ArticleIndex
from media_demo.state.cards import StoryCard
from media_demo.state.reader import ReaderState

MORE_LIKE_THIS = 3


def reading_now() -> rx.Component:
    """Other real readers on this story right now; nothing at all when there are none."""
    return rx.cond(
        ReaderState.others_here > 0,
        rx.el.p(
            rx.el.span(class_name="live-dot"),
            ReaderState.others_here,
            rx.cond(ReaderState.others_here == 1, " other reader", " other readers"),
            " on this story now",
            class_name="reading-now",
            custom_attrs={"data-testid": "reading-now"},
        ),
    )


def article_page(corpus: Corpus, index: ArticleIndex, article: Article) -> rx.Component:
    similar = [corpus.get(slug) for slug, _ in index.similar(article.slug, MORE_LIKE_THIS)]
    card = StoryCard.of(article)
    return page_frame(
        corpus.categories,
        rx.el.div(
            rx.el.div(
                rx.el.article(
                    story_kicker(card),
                    rx.el.h1(article.title, class_name="headline"),
                    rx.el.p(article.excerpt, class_name="standfirst"),
                    story_meta(card),
                    reading_now(),
                    rx.el.figure(
                        rx.el.img(src=cover_url(article.slug), alt="", class_name="article-cover"),
                        class_name="article-figure",
                    ),
                    rx.el.div(rx.markdown(article.body), class_name="article-body"),
                    rx.el.ul(*[rx.el.li(tag, class_name="tag") for tag in article.tags], class_name="tags"),
                    class_name="story",
                    custom_attrs={"data-testid": "article", "data-slug": article.slug},
                ),
                rx.el.section(
                    rx.el.h2("More like this", class_name="section-title"),
                    rx.el.div(*[story_card(StoryCard.of(a)) for a in similar if a is not None], class_name="card-grid"),
                    class_name="more-like-this",
                ),
                class_name="main-column",
            ),
            sidebar(),
            class_name="with-sidebar",
        ),
        active=article.category,
    )
