"""Offline replay: simulated readers read through the real newsroom, once per strategy, seed after seed.

`python -m media_demo.evaluation.replay` (or `make replay`). For each seed, one population
(`media_demo.evaluation.simulation`) visits a fresh `Newsroom` on a scratch database per
strategy. Every read is tracked through `room.tracker` (the Snowplow tracker, the in-process
emitter, enrich, the attribute engine, the event log); the reader's profile is read back
through `room.views.profile`, and the strategy on trial shows its 3-slot panel through
`serve`. The reader clicks, reads on or leaves (the reader model).

Per strategy it reports, as the mean over seeds with a t-interval:

- CTR@3: clicks on the panel's 3 slots per panel shown;
- reads per visit;
- coverage: the share of the archive recommended at least once;
- novelty: mean self-information, -log2 p, of the recommended articles, p being the article's
  share of the reads so far (add-one smoothed);
- intra-list diversity: 1 - mean pairwise TF-IDF similarity of a panel's articles.

Then the off-policy check: a logging run (`current` with ε-exploration) logs every panel with
its propensities, and what the candidate (`coread`) would have shown in its place; IPS and
SNIPS estimate the candidate's CTR@3 from those logs (`offpolicy`), beside the simulator's
exact expected clicks of the candidate's panels on the same contexts and the candidate's own
online CTR@3. The last line sums up: `replay: popular=... current=... coread=... ratio current/popular=...`.

`--model NAME=VALUE` (repeatable) runs with a reader model other than the defaults, the one fixed before the
comparison, to see how the results depend on it; the report's header then names each changed parameter.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats as scipy_stats

from media_demo.articles import Article, Corpus
from media_demo.evaluation.offpolicy import Estimate, LoggedPanel, ips, snips
from media_demo.evaluation.simulation import Population, ReaderModel, SimulatedReader, parse_model_overrides
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.recommend import ArticleIndex
from media_demo.recommend.strategies import Strategy, StrategyInputs, build_strategy, serve
from media_demo.settings import Settings
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.tracking import Page, Reader
from media_demo.tracking.identity import ReaderSession

SLOTS = 3
SITE = "http://localhost:3000"
POLICY_URL = f"{SITE}/privacy"
BASELINE, CURRENT = "popular", "current"
METRICS = ("ctr", "reads_per_visit", "coverage", "novelty", "diversity")
LABELS = {
    "ctr": "CTR@3",
    "reads_per_visit": "reads/visit",
    "coverage": "coverage",
    "novelty": "novelty (bits)",
    "diversity": "diversity (ILD)",
}


@dataclass
class Run:
    """What one strategy's run with one seed measured (and, for a logging run, its logs)."""

    strategy: str
    seed: int
    panels: int = 0
    clicks: int = 0
    visits: int = 0
    reads: int = 0
    recommended: set[str] = field(default_factory=set)
    novelty: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    logged: list[LoggedPanel] = field(default_factory=list)
    truth: list[float] = field(default_factory=list)  # the candidate's expected clicks on each logged panel's context
    archive: int = 1

    def metric(self, name: str) -> float:
        """One of `METRICS`."""
        if name == "ctr":
            return self.clicks / self.panels if self.panels else 0.0
        if name == "reads_per_visit":
            return self.reads / self.visits if self.visits else 0.0
        if name == "coverage":
            return len(self.recommended) / self.archive
        values = self.novelty if name == "novelty" else self.diversity
        return statistics.fmean(values) if values else 0.0


def scratch_settings(folder: Path) -> Settings:
    """A throwaway newsroom's settings: its own database, tokens given, nothing remote."""
    return Settings(
        media_demo_db=folder / "replay.db",
        database_url=f"sqlite:///{folder / 'replay.db'}",  # never the configured DATABASE_URL
        signals_api_token="replay-token",
        cookie_secret="replay-secret",
        signals_api_url=None,
        snowplow_collector_url=None,
        checkpoint_interval_seconds=3600.0,
    )


def _diversity(panel: Sequence[Article], index: ArticleIndex) -> float | None:
    pairs = list(itertools.combinations([a.slug for a in panel], 2))
    if not pairs:
        return None
    return 1.0 - statistics.fmean(index.similarity(a, b) for a, b in pairs)


def simulate(
    strategy: Strategy,
    population: Population,
    seed: int,
    visits: int,
    corpus: Corpus,
    index: ArticleIndex,
    exploration: float = 0.0,
    candidate: Strategy | None = None,
) -> Run:
    """One strategy's run: every reader of `population` visits `visits` times, through a fresh newsroom."""
    run = Run(strategy.name if not exploration else f"{strategy.name}+ε{exploration:g}", seed, archive=len(corpus))
    behaviour = random.Random(f"behaviour-{seed}")  # the same stream for every strategy
    policy = random.Random(f"policy-{seed}")
    sessions = random.Random(f"sessions-{seed}")
    tally: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="replay-") as folder:
        room = Newsroom(scratch_settings(Path(folder)), corpus, index)
        try:
            home = Page(url=f"{SITE}/", title="The Daily Current")
            read_so_far: dict[str, set[str]] = {r.domain_userid: set() for r in population.readers}
            for visit in range(1, visits + 1):
                order = list(population.readers)
                behaviour.shuffle(order)
                for sim in order:
                    session = ReaderSession(
                        str(uuid.UUID(int=sessions.getrandbits(128), version=4)), visit, time.time()
                    )
                    reader = Reader(sim.domain_userid, session)
                    if visit == 1:
                        room.tracker.consent(reader, home, {BEHAVIOURAL, CONTEXTUAL}, POLICY_URL)
                    _visit(
                        room,
                        run,
                        sim,
                        reader,
                        population,
                        strategy,
                        exploration,
                        candidate,
                        read_so_far,
                        tally,
                        behaviour,
                        policy,
                    )
        finally:
            room.close()
    return run


def _visit(
    room: Newsroom,
    run: Run,
    sim: SimulatedReader,
    reader: Reader,
    population: Population,
    strategy: Strategy,
    exploration: float,
    candidate: Strategy | None,
    read_so_far: dict[str, set[str]],
    tally: Counter[str],
    behaviour: random.Random,
    policy: random.Random,
) -> None:
    """One visit: a story found on the front page, then the panel's clicks, other stories, or leaving."""
    model = population.model
    read = read_so_far[sim.domain_userid]
    first = population.choose(sim, read, behaviour)
    if first is None:
        return
    run.visits += 1
    queue = [first]
    reads = 0
    while queue and reads < model.max_reads:
        article = queue.pop(0)
        if article.slug in read:
            continue
        page = Page(url=f"{SITE}/article/{article.slug}", title=article.title)
        room.tracker.page_view(reader, page)
        room.tracker.article_view(reader, page, article)
        read.add(article.slug)
        tally[article.slug] += 1
        reads += 1
        run.reads += 1
        profile = room.views.profile(sim.domain_userid)
        if profile.last_read != article.slug:
            raise RuntimeError(f"the engine did not see {sim.domain_userid} read {article.slug}")
        with room.memory.lock:  # stats and co-reads are live views
            inputs = StrategyInputs(
                room.corpus, room.index, room.memory.read_stats, room.memory.coreads, population.now
            )
            shown = serve(strategy, profile, inputs, SLOTS, exploration, policy)
            target = candidate.rank(profile, inputs, SLOTS) if candidate is not None else None
        panel = [s.recommendation.article for s in shown]
        clicked = population.clicks(sim, panel, behaviour)
        run.panels += 1
        run.clicks += sum(clicked)
        run.recommended.update(a.slug for a in panel)
        total = sum(tally.values())
        run.novelty += [-math.log2((tally[a.slug] + 1) / (total + len(room.corpus))) for a in panel]
        if (ild := _diversity(panel, room.index)) is not None:
            run.diversity.append(ild)
        if target is not None:
            run.logged.append(
                LoggedPanel(
                    tuple(a.slug for a in panel),
                    tuple(s.propensity for s in shown),
                    tuple(clicked),
                    tuple(r.article.slug for r in target),
                )
            )
            run.truth.append(population.expected_clicks(sim, [r.article for r in target]))
        queue += [a for a, c in zip(panel, clicked, strict=True) if c and a.slug not in read]
        if not queue:
            if behaviour.random() < model.leave_without_click:
                break
            found = population.choose(sim, read, behaviour)
            if found is not None:
                queue.append(found)
        elif behaviour.random() < model.fatigue:
            break


# --- the report -------------------------------------------------------------------------------------------------


def interval(values: Sequence[float], level: float = 0.95) -> Estimate:
    """The mean of `values` with its t-interval (as wide as the mean itself is uncertain: one value, none)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, float("-inf"), float("inf"), level)
    half = (
        float(scipy_stats.t.ppf(0.5 + level / 2, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return Estimate(mean, mean - half, mean + half, level)


@dataclass(frozen=True)
class Report:
    """The replay's results: per strategy and metric an estimate over seeds, and the off-policy check."""

    metrics: dict[str, dict[str, Estimate]]  # strategy -> metric -> estimate
    candidate: str
    logging: str
    exploration: float
    logging_ctr: Estimate
    ips: Estimate
    snips: Estimate
    truth: float  # the candidate's expected clicks per panel on the logged contexts
    online: Estimate  # the candidate's own online CTR@3
    panels_logged: int
    seconds: float
    model: ReaderModel = field(default_factory=ReaderModel)

    @property
    def ratio(self) -> float:
        """The CTR@3 of current over popular's."""
        base = self.metrics[BASELINE]["ctr"].value
        return self.metrics[CURRENT]["ctr"].value / base if base else float("inf")

    def last_line(self) -> str:
        """`replay: popular=<ctr> current=<ctr> <candidate>=<ctr> ratio current/popular=<x>`."""
        ctr = {name: m["ctr"].value for name, m in self.metrics.items()}
        return (
            f"replay: {BASELINE}={ctr[BASELINE]:.4f} {CURRENT}={ctr[CURRENT]:.4f} "
            f"{self.candidate}={ctr[self.candidate]:.4f} ratio {CURRENT}/{BASELINE}={self.ratio:.2f}"
        )

    def lines(self) -> list[str]:
        """The report as printed, the summary line last."""
        names = list(self.metrics)
        width = max(len(n) for n in names) + 2
        out = ["", model_line(self.model), "", "## Strategies (mean over seeds, [95% t-interval])", ""]
        out.append("strategy".ljust(width) + "".join(LABELS[m].ljust(28) for m in METRICS))
        for name in names:
            out.append(name.ljust(width) + "".join(str(self.metrics[name][m]).ljust(28) for m in METRICS))
        agree = self.ips.contains(self.online.value) and self.snips.contains(self.online.value)
        out += [
            "",
            f"## Off-policy: {self.candidate}'s CTR@3 from {self.panels_logged:,} panels logged by "
            f"{self.logging} with ε = {self.exploration:g} (item-position estimators, [95% interval])",
            "",
            f"{'logging policy, its own CTR@3':<34}{self.logging_ctr}",
            f"{'IPS':<34}{self.ips}",
            f"{'SNIPS':<34}{self.snips}",
            f"{'truth on the logged contexts':<34}{self.truth:.4f}  (the simulator's expectation)",
            f"{self.candidate + ' online (its own runs)':<34}{self.online}",
            f"online CTR@3 within the IPS and SNIPS intervals: {'yes' if agree else 'NO'}",
            "",
            f"({self.seconds:.0f} s)",
            self.last_line(),
        ]
        return out


def replay(
    seeds: Sequence[int],
    readers: int,
    visits: int,
    strategies: Sequence[str] = (BASELINE, CURRENT, "coread"),
    candidate: str = "coread",
    logging: str = CURRENT,
    exploration: float = 0.3,
    model: ReaderModel | None = None,
    progress: bool = False,
) -> Report:
    """Run every strategy and the logging policy for each seed; returns the report."""
    if BASELINE not in strategies or CURRENT not in strategies or candidate not in strategies:
        raise ValueError(f"strategies: must include {BASELINE}, {CURRENT} and the candidate {candidate!r}")
    if not 0.0 < exploration <= 1.0:
        raise ValueError(f"exploration: the logging policy must explore (0 < ε <= 1), got {exploration}")
    started = time.perf_counter()
    corpus, index = get_corpus(), get_index()
    built = {name: build_strategy(name) for name in strategies}
    runs: dict[str, list[Run]] = {name: [] for name in strategies}
    logs: list[Run] = []
    for seed in seeds:
        population = Population(corpus, readers, seed, model)
        for name, strategy in built.items():
            runs[name].append(simulate(strategy, population, seed, visits, corpus, index))
            if progress:
                print(f"seed {seed} {name}: CTR@3 {runs[name][-1].metric('ctr'):.4f}", file=sys.stderr)
        logs.append(
            simulate(build_strategy(logging), population, seed, visits, corpus, index, exploration, built[candidate])
        )
    metrics = {name: {m: interval([r.metric(m) for r in rs]) for m in METRICS} for name, rs in runs.items()}
    logged = [panel for run in logs for panel in run.logged]
    truth = [value for run in logs for value in run.truth]
    return Report(
        metrics=metrics,
        candidate=candidate,
        logging=logging,
        exploration=exploration,
        logging_ctr=interval([run.metric("ctr") for run in logs]),
        ips=ips(logged, SLOTS),
        snips=snips(logged, SLOTS),
        truth=statistics.fmean(truth),
        online=metrics[candidate]["ctr"],
        panels_logged=len(logged),
        seconds=time.perf_counter() - started,
        model=model or ReaderModel(),
    )


def model_line(model: ReaderModel) -> str:
    """The reader model a report was measured with: the defaults, or each parameter changed beside its default."""
    changed = model.changed()
    if not changed:
        return "reader model: the defaults (fixed before the comparison)"
    default = ReaderModel()
    parts = [f"{name}={value:g} (default {getattr(default, name):g})" for name, value in changed.items()]
    return "reader model: NOT the defaults: " + ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: run the replay and print its report, the summary line last."""
    parser = argparse.ArgumentParser(prog="python -m media_demo.evaluation.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds (populations), 1, 2, ... (default 5)")
    parser.add_argument("--readers", type=int, default=600, help="simulated readers per seed (default 600)")
    parser.add_argument("--visits", type=int, default=3, help="visits per reader (default 3)")
    parser.add_argument("--exploration", type=float, default=0.3, help="the logging policy's ε (default 0.3)")
    parser.add_argument("--short", action="store_true", help="a quick run: 2 seeds, 60 readers, 2 visits")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a reader model parameter for this run (repeatable), e.g. quality_sigma=0.25; "
        "the defaults are the model fixed before the comparison",
    )
    args = parser.parse_args(argv)
    try:
        model = parse_model_overrides(args.model)
    except ValueError as exc:
        parser.error(f"--model {exc}")
    if args.short:
        args.seeds, args.readers, args.visits = 2, 60, 2
    if args.seeds < 2:
        parser.error("--seeds: at least 2, for an interval over seeds")
    if args.readers < 1 or args.visits < 1:
        parser.error("--readers and --visits: at least 1")
    print(f"replay: {args.seeds} seeds x {args.readers} readers x {args.visits} visits", file=sys.stderr)
    print(model_line(model), file=sys.stderr)
    report = replay(
        range(1, args.seeds + 1), args.readers, args.visits, exploration=args.exploration, model=model, progress=True
    )
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
