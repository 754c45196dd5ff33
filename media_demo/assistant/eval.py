"""How well the built-in assistant answers readers' questions, beside a naive baseline.

Run it with `python -m media_demo.assistant.eval` (or `make eval`).

The questions live in `tests/assistant_eval.toml`, each with the stories that answer it
(none for a question the archive cannot answer). Four numbers matter:

- source hit@3: one of the expected stories is among the answer's first three sources;
- supported: every sentence citing a story occurs in that story (after whitespace and Markdown are normalised);
- nothing relevant: a question with no answer in the archive gets an answer citing nothing;
- latency p50 / p95 of a whole answer.

The baseline ranks stories by how many of the question's words their titles share, the
first thing anyone would try. `--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media_demo.articles import Article, Corpus, load_corpus
from media_demo.assistant.answer import Answer, AskRequest, Generator, Sentence
from media_demo.assistant.builtin import BuiltInGenerator
from media_demo.assistant.passages import strip_markdown, terms
from media_demo.settings import ARTICLES_DIR, PROJECT_ROOT

QUESTIONS = PROJECT_ROOT / "tests" / "assistant_eval.toml"
TARGET_HIT_AT_3 = 0.9
TARGET_SUPPORTED = 1.0
TARGET_NOTHING = 0.8  # one in six no-answer questions shares a word or two with a story (see the misses)
TARGET_P95_MS = 300.0
_TRAILING_PUNCTUATION = " .!?:;,"


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """A question, the page it is asked on (if any), and the stories that answer it (none: nothing should)."""

    text: str
    expect: tuple[str, ...]
    page: str | None = None

    @property
    def answerable(self) -> bool:
        """Whether some story answers it."""
        return bool(self.expect)


@dataclass(frozen=True, slots=True)
class Report:
    """The evaluation's numbers, for the built-in generator and the baseline."""

    questions: int
    answerable: int
    hit_at_3: float
    supported: float
    nothing_accuracy: float
    p50_ms: float
    p95_ms: float
    baseline_hit_at_3: float
    baseline_nothing_accuracy: float
    baseline_p50_ms: float
    baseline_p95_ms: float
    misses: tuple[str, ...]  # the questions the built-in answer got wrong, for whoever tunes retrieval

    def failures(self) -> list[str]:
        """The targets missed, each as a line."""
        checks = [
            ("source hit@3", self.hit_at_3, TARGET_HIT_AT_3, True),
            ("supported answers", self.supported, TARGET_SUPPORTED, True),
            ("nothing-relevant accuracy", self.nothing_accuracy, TARGET_NOTHING, True),
            ("latency p95 (ms)", self.p95_ms, TARGET_P95_MS, False),
        ]
        return [
            f"{name}: {value:.3g} (target {'>=' if high else '<'} {target:g})"
            for name, value, target, high in checks
            if (value < target if high else value >= target)
        ]


def load_questions(path: Path = QUESTIONS, corpus: Corpus | None = None) -> list[EvalQuestion]:
    """The questions of a TOML file; every expected story and page must be in `corpus`, when given."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    rows = data.get("question")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path.name}: no [[question]] tables")
    questions = []
    for n, row in enumerate(rows, start=1):
        text, expect, page = row.get("text"), row.get("expect"), row.get("page")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path.name}: question {n}: field 'text' must be a non-empty string")
        if not isinstance(expect, list) or not all(isinstance(s, str) for s in expect):
            raise ValueError(f"{path.name}: question {n}: field 'expect' must be a list of slugs")
        if page is not None and not isinstance(page, str):
            raise ValueError(f"{path.name}: question {n}: field 'page' must be a slug")
        if corpus is not None:
            unknown = [s for s in [*expect, *([page] if page else [])] if s not in corpus]
            if unknown:
                raise ValueError(f"{path.name}: question {n}: unknown story {unknown[0]!r}")
        questions.append(EvalQuestion(text.strip(), tuple(expect), page))
    return questions


def _normal(text: str) -> str:
    return " ".join(strip_markdown(text).replace("\u2019", "'").split())


def story_text(article: Article) -> str:
    """Everything a story says, normalised: title, excerpt and body."""
    return _normal(f"{article.title}\n\n{article.excerpt}\n\n{article.body}")


def unsupported(answer: Answer, corpus: Corpus) -> list[Sentence]:
    """The sentences of `answer` that cite a story which does not contain them (or no such story)."""
    bad = []
    for sentence in answer.sentences:
        if sentence.slug is None:
            continue
        article = corpus.get(sentence.slug)
        span = _normal(sentence.text).strip(_TRAILING_PUNCTUATION)
        if article is None or not span or span not in story_text(article):
            bad.append(sentence)
    return bad


class TitleOverlapBaseline:
    """Stories ranked by how many of the question's words their title shares (ties: newest first)."""

    def __init__(self, corpus: Corpus) -> None:
        if len(corpus) == 0:
            raise ValueError("corpus: at least one story is needed")
        self._titles = [(a.slug, set(terms(a.title))) for a in corpus]

    def rank(self, question: str, k: int = 3) -> list[str]:
        """Up to `k` slugs whose titles share a word with the question, most shared first."""
        words = set(terms(question))
        scored = [(len(words & title), i, slug) for i, (slug, title) in enumerate(self._titles)]
        return [slug for overlap, _i, slug in sorted(scored, key=lambda t: (-t[0], t[1])) if overlap > 0][:k]


def _percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.array(seconds) * 1000.0, q)) if seconds else 0.0


def _answer(generator: Generator, request: AskRequest) -> Answer:
    """Consume the generator's stream and return its final answer."""
    final = None
    for item in generator.generate(request):
        if isinstance(item, Answer):
            final = item
    if final is None:
        raise RuntimeError(f"{generator.name}: the stream ended without an Answer")
    return final


def evaluate(corpus: Corpus, questions: Sequence[EvalQuestion], generator: Generator | None = None) -> Report:
    """Ask every question of the generator (the built-in one by default) and of the baseline."""
    if not questions:
        raise ValueError("questions: at least one is needed")
    generator = generator or BuiltInGenerator.for_corpus(corpus)
    baseline = TitleOverlapBaseline(corpus)
    hits = supported = nothing = baseline_hits = baseline_nothing = 0
    latencies: list[float] = []
    baseline_latencies: list[float] = []
    misses = []
    for question in questions:
        request = AskRequest(question.text, page_slug=question.page)
        _answer(generator, request)  # warm: the first call pays for imports and caches, not the reader
        start = time.perf_counter()
        answer = _answer(generator, request)
        latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        # The baseline knows the page too: on a story, it answers with that story.
        ranked = [question.page] if question.page else baseline.rank(question.text)
        baseline_latencies.append(time.perf_counter() - start)
        supported += not unsupported(answer, corpus)
        if question.answerable:
            hit = bool(set(answer.cited[:3]) & set(question.expect))
            hits += hit
            baseline_hits += bool(set(ranked[:3]) & set(question.expect))
        else:
            hit = not answer.cited
            nothing += hit
            baseline_nothing += not ranked
        if not hit:
            misses.append(f"{question.text!r} cited {list(answer.cited)}, expected {list(question.expect)}")
    answerable = sum(q.answerable for q in questions)
    unanswerable = len(questions) - answerable
    return Report(
        questions=len(questions),
        answerable=answerable,
        hit_at_3=hits / answerable if answerable else 1.0,
        supported=supported / len(questions),
        nothing_accuracy=nothing / unanswerable if unanswerable else 1.0,
        p50_ms=_percentile_ms(latencies, 50),
        p95_ms=_percentile_ms(latencies, 95),
        baseline_hit_at_3=baseline_hits / answerable if answerable else 1.0,
        baseline_nothing_accuracy=baseline_nothing / unanswerable if unanswerable else 1.0,
        baseline_p50_ms=_percentile_ms(baseline_latencies, 50),
        baseline_p95_ms=_percentile_ms(baseline_latencies, 95),
        misses=tuple(misses),
    )


def format_report(report: Report) -> str:
    """The numbers as a table: metric, built-in, baseline, target."""
    rows = [
        ("source hit@3", f"{report.hit_at_3:.3f}", f"{report.baseline_hit_at_3:.3f}", f">= {TARGET_HIT_AT_3}"),
        ("answers with no unsupported sentence", f"{report.supported:.3f}", "n/a", f">= {TARGET_SUPPORTED}"),
        (
            "nothing-relevant accuracy",
            f"{report.nothing_accuracy:.3f}",
            f"{report.baseline_nothing_accuracy:.3f}",
            f">= {TARGET_NOTHING}",
        ),
        ("latency p50 (ms)", f"{report.p50_ms:.2f}", f"{report.baseline_p50_ms:.3f}", ""),
        ("latency p95 (ms)", f"{report.p95_ms:.2f}", f"{report.baseline_p95_ms:.3f}", f"< {TARGET_P95_MS:g}"),
    ]
    header = ("metric", "built-in", "baseline (title words)", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    lines = [
        f"Ask the Current: {report.questions} questions ({report.answerable} answerable, "
        f"{report.questions - report.answerable} with no answer in the archive)",
        line(header),
        line(["-" * w for w in widths]),
        *(line(row) for row in rows),
    ]
    if report.misses:
        lines += ["", "missed:", *(f"  {miss}" for miss in report.misses)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print its table; with --check, exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m media_demo.assistant.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="the TOML file of questions")
    parser.add_argument("--articles", type=Path, default=ARTICLES_DIR, help="the folder of Markdown stories")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.articles)
    report = evaluate(corpus, load_questions(args.questions, corpus))
    print(format_report(report))
    failures = report.failures()
    if failures:
        print("\ntargets missed:\n  " + "\n  ".join(failures))
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
