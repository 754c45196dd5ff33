"""Train the subscription propensity model: `python -m media_demo.features.train` (or `make train`).

On the app's event log when it holds at least `--min-per-class` readers who accepted
the subscription offer and as many who did not; otherwise (and it says so) on a
simulated history (`synthetic.simulated_history`, `--readers` readers, `--seed`).
Prints the held-out evaluation and the version, and saves the model in
`--models-dir` (default `data/models`), where `propensity.load_latest` finds it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from sqlalchemy import text

from media_demo.articles import load_corpus
from media_demo.features.frames import stories_frame
from media_demo.features.propensity import (
    MIN_PER_CLASS,
    PropensityModel,
    format_metrics,
    save_model,
    train_propensity,
    training_frame,
)
from media_demo.features.synthetic import simulated_history
from media_demo.settings import DATA_DIR, Settings
from media_demo.signals.batch.events import SCHEMA, frame_of
from media_demo.signals.storage.database import is_sqlite, open_database

DEFAULT_MODELS = DATA_DIR / "models"
DEFAULT_READERS = 1500
DEFAULT_SEED = 7


def _log_rows(url: str, batch: int = 50_000) -> Iterator[tuple[int, bytes | str]]:
    """(seq, canonical JSON) of the log's good events, read in chunks (nothing when it has no events table)."""
    engine = open_database(url)
    try:
        last = 0
        while True:
            with engine.connect() as connection:
                query = text("SELECT seq, body FROM events WHERE seq > :last ORDER BY seq LIMIT :batch")
                rows = connection.execute(query, {"last": last, "batch": batch}).all()
            if not rows:
                return
            yield from ((int(seq), body) for seq, body in rows)
            last = int(rows[-1][0])
    finally:
        engine.dispose()


def app_events(settings: Settings) -> pl.DataFrame:
    """The app's event log as the export's frame (empty when there is no log yet)."""
    url = settings.database_url
    if is_sqlite(url) and not Path(url.removeprefix("sqlite:///")).exists():
        return pl.DataFrame(schema=SCHEMA)
    try:
        return frame_of(_log_rows(url))
    except Exception as exc:  # no table yet, an unreachable server: train on the simulation
        print(f"the app's event log could not be read ({type(exc).__name__}: {exc})")
        return pl.DataFrame(schema=SCHEMA)


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate, print and save (see the module's docstring); 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--readers", type=int, default=DEFAULT_READERS, help="simulated readers, when simulating")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the simulation's and the split's seed")
    parser.add_argument("--min-per-class", type=int, default=MIN_PER_CLASS)
    parser.add_argument("--simulate", action="store_true", help="train on the simulation even if the log would do")
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = Settings()
    corpus = load_corpus(settings.articles_dir)
    stories = stories_frame(corpus)
    frame: pl.DataFrame | None = None
    if not args.simulate:
        events = app_events(settings)
        frame = training_frame(events.lazy(), stories) if events.height else None
        positives = int(frame["label"].sum()) if frame is not None else 0
        negatives = (frame.height - positives) if frame is not None else 0
        if positives >= args.min_per_class and negatives >= args.min_per_class:
            source = f"the app's event log ({events.height} events)"
        else:
            print(
                f"the app's event log has too few labelled readers ({positives} accepted the subscription offer, "
                f"{negatives} did not; {args.min_per_class} of each needed): training on a simulated history"
            )
            frame = None
    if frame is None:
        history = simulated_history(corpus, readers=args.readers, seed=args.seed)
        source = (
            f"a simulated history: seed {history.seed}, {history.readers} readers ({history.identified} with "
            f"behavioural consent, {history.subscribers} subscribed), {history.events.height} events"
        )
        frame = training_frame(history.events.lazy(), stories)
    print(f"training on {source}")
    model: PropensityModel = train_propensity(frame, seed=args.seed, min_per_class=args.min_per_class, source=source)
    rows = model.metadata["rows"]
    print(f"rows: {rows['total']} ({rows['positives']} positive, {rows['negatives']} negative)")
    print(format_metrics(model.metadata["metrics"]))
    path = save_model(model, args.models_dir)
    print(f"version: {model.version}")
    print(f"saved: {path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
