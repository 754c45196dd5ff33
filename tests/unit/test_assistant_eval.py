"""The evaluation's own checks: a made-up sentence is caught, a bad question file names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_demo.articles import load_corpus
from media_demo.assistant.answer import Answer, Intent, Sentence
from media_demo.assistant.eval import TitleOverlapBaseline, evaluate, format_report, load_questions, unsupported
from media_demo.settings import ARTICLES_DIR

SLUG = "amateur-astronomers-track-breaking-comet"


def test_unsupported_catches_invented_and_misattributed_sentences() -> None:
    corpus = load_corpus(ARTICLES_DIR)
    real = Sentence("Professional observatories confirmed the fragmentation within days.", SLUG)
    invented = Sentence("The comet will hit Earth next year.", SLUG)
    elsewhere = Sentence(
        "Professional observatories confirmed the fragmentation within days.", "wendlow-ridge-ultra-storm"
    )
    answer = Answer(Intent.OPEN, (Sentence("Framing."), real, invented, elsewhere), (), "test")
    assert unsupported(answer, corpus) == [invented, elsewhere]


def test_the_baseline_ranks_by_title_words() -> None:
    corpus = load_corpus(ARTICLES_DIR)
    assert TitleOverlapBaseline(corpus).rank("comet breaking apart")[0] == SLUG
    assert TitleOverlapBaseline(corpus).rank("zzyzx") == []


def test_a_bad_question_file_names_question_and_field(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text('[[question]]\ntext = "Fine"\nexpect = []\n\n[[question]]\ntext = ""\nexpect = []\n')
    with pytest.raises(ValueError, match="question 2: field 'text'"):
        load_questions(path)
    path.write_text('[[question]]\ntext = "Fine"\nexpect = ["no-such-story"]\n')
    with pytest.raises(ValueError, match="question 1: unknown story 'no-such-story'"):
        load_questions(path, load_corpus(ARTICLES_DIR))


def test_the_report_prints_each_metric_beside_the_baseline() -> None:
    corpus = load_corpus(ARTICLES_DIR)
    report = evaluate(corpus, load_questions(corpus=corpus)[:5])
    table = format_report(report)
    for metric in ("source hit@3", "unsupported", "nothing-relevant", "p50", "p95", "baseline"):
        assert metric in table
