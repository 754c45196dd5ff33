"""What each intervention says to the reader: the words and links of the offer cards.

Plain Python: given a fired intervention and the reader views, build the card.
The copy is ours; every number in it comes from the reader's attributes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from media_demo import routes
from media_demo.articles import section_label
from media_demo.definitions import ASSISTANT_OFFER, SUBSCRIPTION_OFFER, TOPIC_NEWSLETTER, WELCOME_BACK
from media_demo.services.reader_views import ReaderViews
from media_demo.signals.engine.interventions import FiredIntervention

MISSED_STORIES = 3


@dataclass(frozen=True)
class OfferLink:
    title: str
    href: str


@dataclass(frozen=True)
class Offer:
    """One card pushed into the open page."""

    name: str
    intervention_id: str
    kicker: str
    title: str
    body: str
    cta: str
    thanks: str
    links: list[OfferLink] = field(default_factory=list)
    section: str = ""  # the section a briefing offer is for


def _topic(fired: FiredIntervention) -> str | None:
    """The category whose session read count crossed the threshold."""
    counts = {
        name.removesuffix("_reads"): int(value)
        for name, value in fired.attributes.items()
        if name.endswith("_reads") and value.isdigit()
    }
    return max(counts, key=counts.__getitem__) if counts else None


@dataclass(frozen=True)
class CatchUpOffer:
    """The assistant's offer to catch the reader up: what it says, and the question its button asks."""

    intervention_id: str
    text: str
    question: str


def catch_up_for(fired: FiredIntervention, views: ReaderViews) -> CatchUpOffer | None:
    """The assistant's catch-up offer after a run of one section's stories (blocking: reads the reader's attributes).

    The topic is what the reader's recent stories of that section share: their commonest tag
    when two or more carry it, else the section itself. Every number is the reader's own.
    """
    if fired.name != ASSISTANT_OFFER or (section := _topic(fired)) is None:
        return None
    reads = int(fired.attributes.get(f"{section}_reads", "2") or 2)
    read = list(views.attributes(fired.target_id)["articles_read"])
    recent = [a for slug in reversed(read) if (a := views.corpus.get(slug)) is not None and a.category == section]
    recent = recent[:reads]
    tags = Counter(tag for article in recent for tag in set(article.tags))
    tag, shared = tags.most_common(1)[0] if tags else ("", 0)
    label = section_label(section)
    tag = tag.replace("-", " ")
    if shared >= 2:
        text = f"You've read {shared} stories about {tag} in this visit. Want a catch-up on everything we have on it?"
        return CatchUpOffer(fired.intervention_id, text, f"Catch me up on {tag}")
    text = f"You've read {reads} {label.lower()} stories in this visit. Want a catch-up on the rest of {label}?"
    return CatchUpOffer(fired.intervention_id, text, f"Catch me up on {label.lower()}")


def offer_for(fired: FiredIntervention, views: ReaderViews) -> Offer | None:
    """The card for a fired intervention, or None for interventions the page does not show.

    Blocking for a welcome back (it reads the reader's attributes, from the Signals API in remote mode)."""
    if fired.name == TOPIC_NEWSLETTER:
        topic = _topic(fired)
        if topic is None:
            return None
        label = section_label(topic)
        reads = fired.attributes.get(f"{topic}_reads", "3")
        return Offer(
            name=fired.name,
            intervention_id=fired.intervention_id,
            kicker=f"The {label} briefing",
            title=f"{reads} {label.lower()} stories in this visit",
            body=f"Get the week's best {label.lower()} reporting in one e-mail every Friday. "
            "Free, and one click to leave.",
            cta=f"Send me the {label} briefing",
            thanks=f"Thanks — you're on the {label} list.",  # what the page says depends on the account: see OfferState
            section=topic,
        )
    if fired.name == SUBSCRIPTION_OFFER:
        read = fired.attributes.get("article_read_count", "8")
        return Offer(
            name=fired.name,
            intervention_id=fired.intervention_id,
            kicker="For our regular readers",
            title=f"{read} stories and counting",
            body="Readers like you keep The Daily Current independent. Subscribe for €4 a month and get every story, "
            "the archive and no adverts.",
            cta="See subscription options",
            thanks="Thank you! (This demo takes no payments.)",
        )
    if fired.name == WELCOME_BACK:
        read = set(views.attributes(fired.target_id)["articles_read"])
        missed = [a for a in views.corpus.articles if a.slug not in read][:MISSED_STORIES]
        return Offer(
            name=fired.name,
            intervention_id=fired.intervention_id,
            kicker="Welcome back",
            title="Here is what you missed",
            body="The newest stories since you were last here:",
            cta="Thanks",
            thanks="Enjoy your reading.",
            links=[OfferLink(a.title, routes.article_url(a.slug)) for a in missed],
        )
    return None
