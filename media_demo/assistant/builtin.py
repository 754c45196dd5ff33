"""The built-in generator: answers composed only of sentences taken from the stories, plus fixed framing.

It needs no model and is always available, so it is also the fallback when a model fails.
Two kinds of sentence make up an answer:

- a fact: a sentence (or the title, or the excerpt's first sentence) copied from one story,
  carrying that story's slug: whatever it says, the story said first;
- framing: a fixed template (slug None) that says what the answer is, or states the reader's
  own attributes; it never carries anything from the archive.

The question is only ever classified and used as a retrieval query; nothing in it is
repeated back, so text such as "ignore previous instructions" changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np

from media_demo.articles import Article, Corpus, section_label
from media_demo.assistant.answer import Answer, AskRequest, Intent, Pick, ReaderFacts, Sentence, Source
from media_demo.assistant.intents import classify
from media_demo.assistant.passages import PassageIndex, split_sentences

NAME = "built-in"
INTEREST_BOOST = 1.15  # how much a section the reader reads most lifts a relevant passage
MIN_SENTENCE_WORDS = 6  # shorter sentences ("Then it stopped.") say little on their own
NEWS_LIMIT = 5  # stories listed for "what's new"
RELATIVE_CUTOFF = 0.4  # a story joins an answer if its score is at least this share of the best one's
YOUR_DATA = "You can see, change or delete all of this under “Your data”."
NO_HISTORY = "I'm not using your reading history: you haven't allowed it, or “Use my reading history” is off."


class BuiltInGenerator:
    """Answers from retrieved passages only; deterministic for the same request."""

    name = NAME

    def __init__(self, corpus: Corpus, index: PassageIndex, max_stories: int = 3) -> None:
        if not isinstance(corpus, Corpus) or len(corpus) == 0:
            raise ValueError("corpus: a non-empty Corpus is needed")
        if not isinstance(index, PassageIndex):
            raise ValueError(f"index: expected a PassageIndex, got {type(index).__name__}")
        stray = [slug for slug in index.slugs if slug not in corpus]
        if stray:
            raise ValueError(
                f"index: story {stray[0]!r} is not in the corpus (build it with PassageIndex.for_corpus(corpus))"
            )
        if isinstance(max_stories, bool) or not isinstance(max_stories, int) or max_stories < 1:
            raise ValueError(f"max_stories: must be a whole number >= 1, got {max_stories!r}")
        self.corpus = corpus
        self.index = index
        self.max_stories = max_stories

    @classmethod
    def for_corpus(cls, corpus: Corpus) -> BuiltInGenerator:
        """A generator over `corpus`, with its passage index built."""
        return cls(corpus, PassageIndex.for_corpus(corpus))

    # --- the protocol ---------------------------------------------------------------------------------------------

    def generate(self, request: AskRequest) -> Iterator[str | Answer]:
        """The answer's sentences one by one (joined by spaces they are its text), then the `Answer`."""
        answer = self.answer(request)
        for i, sentence in enumerate(answer.sentences):
            yield sentence.text if i == 0 else f" {sentence.text}"
        yield answer

    def answer(self, request: AskRequest) -> Answer:
        """The whole answer at once."""
        # A story just published may not be indexed yet (nor one just withdrawn be gone): both must know it.
        page = request.page_slug if request.page_slug in self.corpus and request.page_slug in self.index else None
        intent, topic = classify(request.question, on_article=page is not None)
        if intent is Intent.WHATS_NEW:
            sentences = self._whats_new(request.reader)
        elif intent is Intent.CATCH_UP:
            sentences = self._catch_up(topic, request.reader)
        elif intent is Intent.SUMMARISE:
            sentences = self._summarise(page)
        elif intent is Intent.NEXT_READ:
            sentences = self._next_read(request.picks, request.reader)
        elif intent is Intent.WHY_RECOMMENDED:
            sentences = self._why_recommended(request.picks, request.reader)
        elif intent is Intent.ABOUT_ME:
            sentences = self._about_me(request.reader)
        else:
            sentences = self._open(topic, request.reader)
        return Answer(intent, tuple(sentences), self._sources(sentences), NAME)

    # --- one method per intent ------------------------------------------------------------------------------------

    def _whats_new(self, reader: ReaderFacts | None) -> list[Sentence]:
        if reader is None:
            latest = self.corpus.latest(NEWS_LIMIT)
            return [Sentence(NO_HISTORY), Sentence("Here are the latest stories overall."), *self._leads(latest)]
        read = set(reader.read)
        sections = [s for s in reader.sections if self.corpus.in_category(s)]
        pool = [a for a in self.corpus if (not sections or a.category in sections) and a.slug not in read]
        where = "in the sections you read most" if sections else "across the paper"
        if reader.previous_visit is not None:
            since = reader.previous_visit.date()
            fresh = [a for a in pool if a.published >= since][:NEWS_LIMIT]
            if fresh:
                return [Sentence(f"Since your last visit, these stories have appeared {where}."), *self._leads(fresh)]
            framing = f"Nothing new has appeared {where} since your last visit; these are the latest you haven't read."
        else:
            framing = f"This looks like your first visit, so here are the latest stories {where}."
        latest = pool[:3]
        if not latest:
            return [Sentence(f"You've read everything {where}."), self._suggest_sections()]
        return [Sentence(framing), *self._leads(latest)]

    def _catch_up(self, topic: str, reader: ReaderFacts | None) -> list[Sentence]:
        ranked = self._relevant_stories(topic, reader, limit=self.max_stories + 1)
        if not ranked:
            return self._nothing()
        articles = sorted((self._article(slug) for slug in ranked), key=lambda a: (a.published, a.slug))
        sentences = [Sentence("Here is how it has unfolded in our stories, oldest first.")]
        for article in articles:  # each paragraph opens with its story's headline, so the reader knows whose words
            sentences.append(Sentence(f"{article.title}:", article.slug))
            sentences.extend(self._evidence(topic, article, count=2))
        return sentences

    def _summarise(self, page: str | None) -> list[Sentence]:
        if page is None:
            return [
                Sentence("Open a story and ask again: I summarise the story you are reading."),
                self._suggest_sections(),
            ]
        article = self._article(page)
        return [Sentence("In short:"), *(Sentence(text, page) for text in self._central_sentences(article))]

    def _next_read(self, picks: Sequence[Pick], reader: ReaderFacts | None) -> list[Sentence]:
        listed = self._picks(picks)
        if not listed:
            return [Sentence("I have no picks for you right now."), self._suggest_sections()]
        framing = [] if reader is not None else [Sentence(NO_HISTORY)]
        return [*framing, Sentence("Here is what I'd read next, each with the reason it was picked."), *listed]

    def _why_recommended(self, picks: Sequence[Pick], reader: ReaderFacts | None) -> list[Sentence]:
        if reader is None:
            sentences = [
                Sentence(NO_HISTORY),
                Sentence("So your picks are the most-read stories and ones that suit the page you're on."),
            ]
        else:
            sentences = [Sentence(f"Your picks come from your reading here: {_count(reader.reads, 'article view')}.")]
            if reader.sections:
                sentences.append(Sentence(f"You read most in {_sections(reader.sections)}, so those come first."))
            if reader.segment_label:
                sentences.append(Sentence(_segment(reader)))
        listed = self._picks(picks)
        if listed:
            sentences += [Sentence("Each pick shows its own reason:"), *listed]
        return [*sentences, Sentence(YOUR_DATA)]

    def _about_me(self, reader: ReaderFacts | None) -> list[Sentence]:
        if reader is None:
            return [
                Sentence(NO_HISTORY),
                Sentence("So I don't know which stories you read or what you asked before, and I don't use them."),
                Sentence(YOUR_DATA),
            ]
        sentences = [Sentence(f"You have {_count(reader.reads, 'article view')} here.")]
        if reader.sections:
            sentences.append(Sentence(f"The sections you read most are {_sections(reader.sections)}."))
        if reader.previous_visit is not None:
            sentences.append(Sentence(f"Your previous visit started on {_date(reader.previous_visit.date())}."))
        if reader.segment_label:
            sentences.append(Sentence(_segment(reader)))
        if reader.asked_about:
            asked = ", ".join(f"“{_clip(topic)}”" for topic in reader.asked_about[-3:])
            sentences.append(Sentence(f"Recently you asked me about {asked}."))
        return [*sentences, Sentence(YOUR_DATA)]

    def _open(self, query: str, reader: ReaderFacts | None) -> list[Sentence]:
        ranked = self._relevant_stories(query, reader, limit=self.max_stories)
        if not ranked:
            return self._nothing()
        sentences = [Sentence("Here is what our stories say.")]
        for i, slug in enumerate(ranked):
            sentences.extend(self._evidence(query, self._article(slug), count=2 if i == 0 else 1))
        return sentences

    # --- retrieval and extraction ---------------------------------------------------------------------------------

    def _relevant_stories(self, query: str, reader: ReaderFacts | None, limit: int) -> list[str]:
        """The stories that answer `query`, best first: those close enough to the best one."""
        boost = {section: INTEREST_BOOST for section in reader.sections[:2]} if reader is not None else None
        corpus = self.corpus
        ranked = [(slug, score) for slug, score in self.index.stories(query, k=limit, boost=boost) if slug in corpus]
        if not ranked:
            return []
        best = ranked[0][1]
        return [slug for slug, score in ranked if score >= RELATIVE_CUTOFF * best]

    def _evidence(self, query: str, article: Article, count: int) -> list[Sentence]:
        """Up to `count` sentences of the story's passage best matching `query`, in the story's order."""
        hits = self.index.search(query, k=1, within={article.slug})
        passages = [hit.passage for hit in hits] or self.index.of(article.slug)[:1]
        chosen = self._best_sentences(query, passages[0].text, count)
        if not chosen:  # the story matched on its title or tags alone: its opening says what it is
            chosen = self._best_sentences("", self.index.of(article.slug)[0].text, count)
        return [Sentence(text, article.slug) for text in chosen]

    def _best_sentences(self, query: str, text: str, count: int) -> list[str]:
        """The `count` sentences of `text` nearest `query` (the first ones when `query` is empty), in order."""
        sentences = [s for s in split_sentences(text) if len(s.split()) >= MIN_SENTENCE_WORDS] or split_sentences(text)
        if not query:
            return sentences[:count]
        scores = self.index.similarities(query, sentences)
        order = [i for i in np.argsort(-scores, kind="stable")[:count] if scores[i] > 0.0]
        return [sentences[i] for i in sorted(order)]

    def _central_sentences(self, article: Article) -> list[str]:
        """The story's 3 or 4 most central sentences (nearest the whole story under TF-IDF), in order.

        The opening sentence gets a small lift: a news story puts its point first.
        """
        sentences = [
            s
            for passage in self.index.of(article.slug)
            for s in split_sentences(passage.text)
            if len(s.split()) >= MIN_SENTENCE_WORDS
        ]
        if not sentences:
            return [article.excerpt]
        count = 4 if len(sentences) >= 20 else 3
        scores = self.index.similarities(" ".join(sentences), sentences)
        scores[0] += 0.1
        chosen = np.argsort(-scores, kind="stable")[:count]
        return [sentences[i] for i in sorted(chosen)]

    def _leads(self, articles: Sequence[Article]) -> list[Sentence]:
        """Each story in one sentence: the first of its excerpt."""
        return [Sentence(split_sentences(a.excerpt)[0], a.slug) for a in articles]

    def _picks(self, picks: Sequence[Pick]) -> list[Sentence]:
        """Each pick the corpus knows: its title (cited) and the recommender's reason for it (framing)."""
        sentences: list[Sentence] = []
        for pick in picks:
            article = self.corpus.get(pick.slug)
            if article is not None:
                sentences += [Sentence(f"{article.title}.", article.slug), Sentence(f"({_clip(pick.reason, 120)})")]
        return sentences

    # --- framing --------------------------------------------------------------------------------------------------

    def _nothing(self) -> list[Sentence]:
        return [Sentence("I found nothing in our archive that answers that."), self._suggest_sections()]

    def _suggest_sections(self) -> Sentence:
        return Sentence(f"You could browse our sections: {_sections(self.corpus.categories)}.")

    def _article(self, slug: str) -> Article:
        article = self.corpus.get(slug)
        if article is None:  # chosen stories are checked against the corpus (`_relevant_stories`, `answer`)
            raise KeyError(f"unknown story {slug!r}")
        return article

    def _sources(self, sentences: Sequence[Sentence]) -> tuple[Source, ...]:
        """The cited stories, in order of first citation."""
        seen: dict[str, Source] = {}
        for sentence in sentences:
            if sentence.slug is not None and sentence.slug not in seen:
                seen[sentence.slug] = Source(sentence.slug, self._article(sentence.slug).title)
        return tuple(seen.values())


def _sections(categories: Sequence[str]) -> str:
    labels = [section_label(c) for c in categories]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _segment(reader: ReaderFacts) -> str:
    description = f": {reader.segment_description.rstrip('.')}" if reader.segment_description else ""
    return f"Your reading puts you in the “{_clip(reader.segment_label)}” group{description}."


def _clip(text: str, limit: int = 60) -> str:
    """Reader-supplied or system text, on one line and cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
