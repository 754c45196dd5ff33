"""The offline replay, short: simulated readers through the real newsroom, the report, the off-policy check."""

from __future__ import annotations

import re
import time

import pytest

from media_demo.evaluation.replay import METRICS, main, replay
from media_demo.newsroom import Newsroom, get_index
from media_demo.recommend.strategies import StrategyInputs, build_strategy
from media_demo.settings import Settings
from media_demo.tracking import Reader, new_domain_userid, touch_session
from tests.integration.conftest import read

LAST_LINE = re.compile(
    r"^replay: popular=(\d+\.\d{4}) current=(\d+\.\d{4}) coread=(\d+\.\d{4}) ratio current/popular=(\d+\.\d{2})$"
)


def test_a_short_replay_reports_every_metric_and_the_off_policy_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--short"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    match = LAST_LINE.match(out[-1])
    assert match, out[-1]
    popular, current, coread, ratio = map(float, match.groups())
    assert popular < current < coread  # the targets' direction
    assert ratio == pytest.approx(current / popular, abs=0.01)
    text = "\n".join(out)
    for label in ("CTR@3", "reads/visit", "coverage", "novelty", "diversity", "IPS", "SNIPS", "truth on the logged"):
        assert label in text


def test_the_report_has_an_interval_per_strategy_and_metric_and_the_estimates_agree() -> None:
    report = replay([1, 2], readers=50, visits=2)
    assert set(report.metrics) == {"popular", "current", "coread"}
    for metrics in report.metrics.values():
        assert set(metrics) == set(METRICS)
        for estimate in metrics.values():
            assert estimate.low <= estimate.value <= estimate.high
    assert 0 < report.metrics["popular"]["coverage"].value <= report.metrics["current"]["coverage"].value <= 1
    assert report.panels_logged > 300
    assert report.ips.low < report.ips.high and report.snips.low < report.snips.high
    assert report.online is report.metrics["coread"]["ctr"]


def test_co_reads_come_back_after_a_restart_and_leave_with_a_deleted_reader(settings: Settings) -> None:
    room = Newsroom(settings, None, get_index())
    corpus = room.corpus
    a, b, c = list(corpus)[:3]
    readers = [Reader(new_domain_userid(), touch_session(None, time.time())) for _ in range(3)]
    for reader in readers:
        for article in (a, b):
            read(room, reader, article.slug)
    read(room, readers[0], c.slug)
    undecided = Reader(new_domain_userid(), touch_session(None, time.time()))
    read(room, undecided, a.slug, consent=False)  # no behavioural consent: no co-reads
    read(room, undecided, c.slug, consent=False)
    assert room.memory.coreads.count(a.slug, b.slug) == 3 and room.memory.coreads.count(a.slug, c.slug) == 1
    before = room.memory.coreads.dump()
    assert undecided.domain_userid not in before
    room.close()

    again = Newsroom(settings, None, get_index())
    try:
        assert again.memory.coreads.dump() == before
        again.privacy.forget_reader([readers[0].domain_userid])
        assert again.memory.coreads.count(a.slug, b.slug) == 2 and again.memory.coreads.count(a.slug, c.slug) == 0
        assert readers[0].domain_userid not in again.memory.coreads.dump()
        with again.memory.lock:
            inputs = StrategyInputs(again.corpus, again.index, again.memory.read_stats, again.memory.coreads, 0.0)
            profile = again.views.profile(readers[1].domain_userid)
            assert build_strategy("coread").rank(profile, inputs, 3)
    finally:
        again.close()
    third = Newsroom(settings, None, get_index())
    try:
        assert readers[0].domain_userid not in third.memory.coreads.dump()
        assert third.memory.coreads.count(a.slug, b.slug) == 2
    finally:
        third.close()
