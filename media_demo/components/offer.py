"""The intervention card: slides in at the corner when the server pushes an offer."""

from __future__ import annotations

import reflex as rx

from media_demo import routes
from media_demo.state.offer import OfferLinkCard, OfferState


def _link(link: OfferLinkCard) -> rx.Component:
    return rx.el.li(rx.link(link.title, href=link.href, class_name="offer-link"))


def offer_card() -> rx.Component:
    return rx.cond(
        OfferState.visible,
        rx.el.aside(
            rx.el.button("×", on_click=OfferState.dismiss, class_name="offer-close", aria_label="Dismiss"),
            rx.el.p(OfferState.kicker, class_name="offer-kicker"),
            rx.el.h2(OfferState.title, class_name="offer-title"),
            rx.cond(
                OfferState.accepted,
                rx.el.div(
                    rx.el.p(
                        OfferState.thanks, class_name="offer-body", custom_attrs={"data-testid": "intervention-thanks"}
                    ),
                    rx.cond(
                        OfferState.account_link,
                        rx.link("Sign in or create an account", href=routes.ACCOUNT, class_name="offer-cta"),
                    ),
                    rx.el.button("Close", on_click=OfferState.close, class_name="offer-secondary"),
                ),
                rx.el.div(
                    rx.el.p(OfferState.body, class_name="offer-body"),
                    rx.cond(
                        OfferState.links.length() > 0,
                        rx.el.ul(rx.foreach(OfferState.links, _link), class_name="offer-links"),
                    ),
                    rx.el.div(
                        rx.el.button(
                            OfferState.cta,
                            on_click=OfferState.accept,
                            class_name="offer-cta",
                            custom_attrs={"data-testid": "intervention-accept"},
                        ),
                        rx.el.button(
                            "No thanks",
                            on_click=OfferState.dismiss,
                            class_name="offer-secondary",
                            custom_attrs={"data-testid": "intervention-dismiss"},
                        ),
                        class_name="offer-actions",
                    ),
                ),
            ),
            class_name="offer",
            role="dialog",
            aria_live="polite",
            custom_attrs={"data-testid": "intervention", "data-name": OfferState.name},
        ),
    )
