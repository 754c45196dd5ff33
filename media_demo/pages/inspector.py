"""Your data: everything the newsroom knows about the reader of this browser, updated as they read."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.articles import Corpus
from media_demo.components.inspector import attributes_panel, events_panel, identity, interventions_panel, segment_panel
from media_demo.components.layout import page_frame, page_header
from media_demo.paper import PAPER_NAME
from media_demo.state.inspector import InspectorState
from media_demo.state.reader import ReaderState


def inspector_page(corpus: Corpus) -> rx.Component:
    return page_frame(
        corpus.categories,
        rx.el.div(
            page_header(
                "Your data",
                "What we know about you",
                f"Everything {PAPER_NAME} has recorded about the reader of this browser, as its attribute "
                "engine sees it, updated as you read in any tab. Only this browser can open it: it is "
                "keyed by your reader cookie, never by a link.",
                identity(),
                class_name="insp-header",
            ),
            rx.cond(
                ReaderState.consent_known & ~ReaderState.allows_behavioural,
                rx.el.p(
                    "Behavioural data is off: what you read is kept without your id and builds no profile. ",
                    rx.link("Change it on Privacy", href=routes.PRIVACY, class_name="consent-note-link"),
                    class_name="insp-consent-note",
                    custom_attrs={"data-testid": "inspector-consent-note"},
                ),
            ),
            rx.cond(
                InspectorState.loaded,
                rx.el.div(
                    rx.el.div(segment_panel(), interventions_panel(), class_name="insp-row"),
                    attributes_panel(),
                    events_panel(),
                    class_name="insp-body",
                ),
                rx.el.p("Loading your data…", class_name="muted"),
            ),
            class_name="inspector",
            custom_attrs={"data-testid": "inspector"},
        ),
    )
