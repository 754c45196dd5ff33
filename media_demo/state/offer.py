"""Interventions pushed into the open page: the offer card's state and the delivery task."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import reflex as rx

from media_demo.articles import section_label
from media_demo.definitions import ASSISTANT_OFFER, AUDIENCE_CHANGED, TOPIC_NEWSLETTER
from media_demo.mail.store import Subscription
from media_demo.newsroom import Newsroom, get_newsroom
from media_demo.offers import Offer, catch_up_for, offer_for
from media_demo.services.digests import DigestError
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.state.assistant import AssistantState
from media_demo.state.cards import assign_changed
from media_demo.state.clients import OPEN_TABS
from media_demo.state.reader import ReaderState
from media_demo.state.tabs import connected_tokens
from media_demo.tracking import Page, Reader

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class OfferLinkCard:
    title: str = ""
    href: str = ""


class OfferState(rx.State):
    """The intervention card currently shown to this tab, if any."""

    visible: bool = False
    accepted: bool = False
    name: str = ""
    intervention_id: str = ""
    kicker: str = ""
    title: str = ""
    body: str = ""
    cta: str = ""
    thanks: str = ""
    links: list[OfferLinkCard] = []
    account_link: bool = False  # the thanks ask an anonymous reader to sign in first
    _section: str = ""

    async def _track(self, action: str) -> None:
        reader_state = await self.get_state(ReaderState)
        if not reader_state.domain_userid:
            return
        page = Page(url=str(self.router.url) or "/", title=self.kicker)
        name, intervention_id = self.name, self.intervention_id
        track = get_newsroom().tracker.intervention_interaction  # in process: applied under the lock, off the loop
        await reader_state._as_reader(lambda reader: track(reader, page, name, action, intervention_id))

    async def show(self, offer: Offer) -> None:
        """Put `offer` on screen and record the impression (it counts towards the cap)."""
        self.visible, self.accepted = True, False
        self.name, self.intervention_id = offer.name, offer.intervention_id
        self.kicker, self.title, self.body = offer.kicker, offer.title, offer.body
        self.cta, self.thanks = offer.cta, offer.thanks
        self.links = [OfferLinkCard(link.title, link.href) for link in offer.links]
        self._section, self.account_link = offer.section, False
        await self._track("impression")

    @rx.event
    async def accept(self):
        """The reader clicked the offer's button; a briefing offer subscribes a signed-in reader for real."""
        await self._track("click")
        if self.name == TOPIC_NEWSLETTER and self._section:
            await self._subscribe_to_briefing(self._section)
        self.accepted = True

    async def _subscribe_to_briefing(self, section: str) -> None:
        """The briefing needs an address: a signed-in reader's (double opt-in), else an invitation to sign in."""
        reader_state = await self.get_state(ReaderState)
        digests = get_newsroom().digests
        label = section_label(section)

        def subscribe(reader: Reader) -> Subscription | None:
            return digests.add_briefing(reader.user_id, section) if reader.user_id else None

        try:
            _reader, subscription = await reader_state._as_reader(subscribe)
        except DigestError as exc:
            self.thanks = str(exc)
            return
        if subscription is None:
            self.thanks = f"Sign in or create a free account to get the {label} briefing: it needs your e-mail address."
            self.account_link = True
        elif subscription.status == "confirmed":
            self.thanks = f"Thanks — you're on the {label} list. The next briefing comes on Friday."
        else:
            self.thanks = f"Almost there: confirm from the e-mail we just sent you, and the {label} briefing starts."

    @rx.event
    async def dismiss(self):
        """The reader closed the offer: it will not come back."""
        await self._track("dismiss")
        self.visible = False

    @rx.event
    def close(self):
        """Close the thank-you note."""
        self.visible = False


async def _push_offer(app: rx.App, fired: FiredIntervention, room: Newsroom) -> None:
    offer = await asyncio.to_thread(offer_for, fired, room.views)  # it may read the reader's attributes remotely
    if offer is None:
        return
    connected = connected_tokens(app)
    for token in OPEN_TABS.tokens(fired.target_id):
        if token not in connected:  # closed since: nothing to push to (prune drops it)
            continue
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=OfferState)) as state:
            await (await state.get_state(OfferState)).show(offer)


async def _push_catch_up(app: rx.App, fired: FiredIntervention, room: Newsroom) -> None:
    offer = await asyncio.to_thread(catch_up_for, fired, room.views)
    if offer is None:
        return
    connected = connected_tokens(app)
    for token in OPEN_TABS.tokens(fired.target_id):
        if token not in connected:
            continue
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=AssistantState)) as state:
            await (await state.get_state(AssistantState)).offer_catch_up(
                offer.text, offer.question, offer.intervention_id
            )
        return  # one tab is enough: the reader answers it once


async def _push_audience(app: rx.App, fired: FiredIntervention) -> None:
    readers = int(fired.attributes.get("readers_now") or 0)
    connected = connected_tokens(app)
    for token in OPEN_TABS.showing(fired.target_id):
        if token not in connected:
            continue
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=ReaderState)) as state:
            # Unchanged (the reader's own visit already showed it): nothing to send to that tab.
            assign_changed(await state.get_state(ReaderState), others_here=max(0, readers - 1))


async def deliver_interventions(app: rx.App) -> None:
    """Lifespan task: push every fired intervention into the open tabs it concerns, as it fires."""
    room = get_newsroom()
    queue = room.bus.subscribe(None, size=1000)
    try:
        while True:
            fired = await queue.get()
            try:
                if fired.name == AUDIENCE_CHANGED and fired.target_name == "page_urlpath":
                    await _push_audience(app, fired)
                elif fired.name == ASSISTANT_OFFER and fired.target_name == "domain_userid":
                    await _push_catch_up(app, fired, room)
                elif fired.target_name == "domain_userid":
                    await _push_offer(app, fired, room)
            except Exception:  # one broken tab must not stop delivery to the others
                logger.exception("could not push intervention %s", fired.name)
    finally:
        room.bus.unsubscribe(queue)
