"""The live sidebar: "Recommended for you" and "Trending now", both from real reads."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.services.reader_views import ENGINE_DOWN
from media_demo.state.cards import RecommendationCard, TrendingCard
from media_demo.state.reader import ReaderState

# Mounted with the panel, installed once per tab: when the recommendations panel is at least half on
# screen (and again each time it shows a new panel), press the hidden button that tells the server.
# An impression is what the reader could see, not what the server built.
PANEL_SEEN_ID = "recommendations-seen"
WATCH_PANEL_SCRIPT = """
(() => {
  if (window.__dcPanelWatch) return;
  window.__dcPanelWatch = true;
  let reported = "";
  let watched = null;
  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.panelId;
      if (entry.isIntersecting && id && id !== reported) {
        reported = id;
        document.getElementById("__PANEL_SEEN_ID__")?.click();
      }
    }
  }, { threshold: 0.5 });
  const follow = () => {
    const panel = document.querySelector("[data-testid=recommendations]");
    if (panel !== watched) {
      if (watched) seen.unobserve(watched);
      if (panel) seen.observe(panel);
      watched = panel;
    } else if (panel && panel.dataset.panelId !== reported) {
      seen.unobserve(panel);
      seen.observe(panel);
    }
  };
  new MutationObserver(follow).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-panel-id"],
  });
  follow();
})();
""".replace("__PANEL_SEEN_ID__", PANEL_SEEN_ID)


def _recommendation(item: RecommendationCard) -> rx.Component:
    return rx.el.li(
        rx.link(
            rx.el.img(src=item.cover, alt="", class_name="rec-thumb", loading="lazy"),
            rx.el.div(
                rx.el.span(item.reason, class_name=f"rec-reason rec-reason-{item.kind}"),
                rx.el.span(item.title, class_name="rec-title"),
                rx.el.span(item.category_label, class_name="rec-category"),
                class_name="rec-text",
            ),
            href=item.href,
            class_name="rec-link",
            on_click=ReaderState.recommendation_clicked(item.slug, ReaderState.panel_id),
        ),
        class_name="rec",
        custom_attrs={
            "data-testid": "recommendation",
            "data-slug": item.slug,
            "data-category": item.category,
            "data-kind": item.kind,
        },
    )


def _loading() -> rx.Component:
    return rx.el.ul(
        *[rx.el.li(class_name="rec-skeleton") for _ in range(3)],
        class_name="rec-list",
        aria_busy="true",
        aria_label="Loading recommendations",
    )


def _empty() -> rx.Component:
    return rx.el.div(
        rx.el.p("Nothing to recommend yet.", class_name="empty-title"),
        rx.cond(
            ReaderState.allows_behavioural,
            rx.el.p("Read a story or two and this panel will fill with picks chosen for you, as you read."),
        ),
        class_name="empty-state",
        custom_attrs={"data-testid": "recommendations-empty"},
    )


def _consent_note() -> rx.Component:
    """Why the panel ignores the reader's reading, when it is their consent that says so."""
    return rx.cond(
        ReaderState.consent_known & ~ReaderState.allows_behavioural,
        rx.el.p(
            rx.link(
                "Turn on personalisation",
                href=routes.PRIVACY,
                class_name="consent-note-link",
                custom_attrs={"data-testid": "consent-note-link"},
            ),
            " to get picks from your reading.",
            class_name="consent-note",
            custom_attrs={"data-testid": "consent-note"},
        ),
    )


def _engine_note() -> rx.Component:
    """Why the panel shows only the most-read stories while the engine service is away."""
    return rx.cond(
        ReaderState.engine_unavailable,
        rx.el.p(
            ENGINE_DOWN[0].upper() + ENGINE_DOWN[1:] + ".",
            class_name="consent-note",
            custom_attrs={"data-testid": "engine-note"},
        ),
    )


def recommendations_panel() -> rx.Component:
    """Recommendations for this reader; updates live as they read."""
    return rx.el.section(
        rx.el.h2("Recommended for you", class_name="panel-title"),
        rx.cond(
            ReaderState.recommendations_loaded,
            rx.cond(
                ReaderState.recommendations.length() > 0,
                rx.el.ul(rx.foreach(ReaderState.recommendations, _recommendation), class_name="rec-list"),
                _empty(),
            ),
            _loading(),
        ),
        _consent_note(),
        _engine_note(),
        # Pressed by the tab's panel watcher (WATCH_PANEL_SCRIPT) when this panel is on screen.
        rx.el.button(
            id=PANEL_SEEN_ID,
            on_click=ReaderState.panel_seen(ReaderState.panel_id),
            hidden=True,
            tab_index=-1,
            aria_hidden="true",
        ),
        class_name="panel recommendations",
        custom_attrs={"data-testid": "recommendations", "data-panel-id": ReaderState.panel_id},
        aria_live="polite",
        on_mount=rx.call_script(WATCH_PANEL_SCRIPT),  # runs in the browser: no round trip to the server
    )


def _trending_item(item: TrendingCard, position: rx.Var[int]) -> rx.Component:
    return rx.el.li(
        rx.el.span(position + 1, class_name="trend-rank"),
        rx.el.div(
            rx.link(item.title, href=item.href, class_name="trend-title"),
            rx.el.span(
                item.category_label,
                " · ",
                item.readers,
                rx.cond(item.readers == 1, " reader", " readers"),
                class_name="trend-meta",
            ),
        ),
        class_name="trend",
        custom_attrs={"data-testid": "trending-item", "data-slug": item.slug},
    )


def trending_panel() -> rx.Component:
    """The most-read stories across all readers (distinct readers, not page loads)."""
    return rx.el.section(
        rx.el.h2("Trending now", class_name="panel-title"),
        rx.cond(
            ReaderState.trending.length() > 0,
            rx.el.ol(rx.foreach(ReaderState.trending, _trending_item), class_name="trend-list"),
            rx.el.p("No stories read yet today. Be the first.", class_name="muted"),
        ),
        class_name="panel trending",
        custom_attrs={"data-testid": "trending"},
    )


def sidebar() -> rx.Component:
    return rx.el.aside(recommendations_panel(), trending_panel(), class_name="sidebar")
