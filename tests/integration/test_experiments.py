"""Experiments end to end in one process: a reader's panel by variant, its exposure, impression and
click as tracked events, and the report through `GET /api/experiments` with the API token."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from snowplow_signals import InterventionCriterion, LinkAttributeKey, RuleIntervention, SignalsSandbox

from media_demo.api import build_api
from media_demo.articles import Corpus
from media_demo.experiments.assignment import assign
from media_demo.experiments.outcomes import UnitOutcome
from media_demo.newsroom import Newsroom, RemoteNewsroom, get_index
from media_demo.personalise import ReaderContext
from media_demo.services.experiments import EngineOutcomes
from media_demo.services.reader_views import ReaderView
from media_demo.settings import Settings
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.factories import coread_experiment
from tests.integration.conftest import API_TOKEN, AUTH, grant, read, running
from tests.loop_watch import run_apart

HOME = Page(url="http://localhost:3000/", title="Home")
NOON = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
DESKTOP = ReaderContext(at=NOON, local_hour=12, device="Computer")


def room_with(tmp_path: Path, corpus: Corpus, device: str = "any") -> Newsroom:
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "panel.toml").write_text(coread_experiment("panel-test", device), encoding="utf-8")
    settings = Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN, experiments_dir=folder)
    return Newsroom(settings, corpus, get_index())


@pytest.fixture
def room(tmp_path: Path, corpus: Corpus) -> Iterator[Newsroom]:
    newsroom = room_with(tmp_path, corpus)
    yield newsroom
    newsroom.close()


def reader_with_history(room: Newsroom, user_id: str | None = None, domain_userid: str | None = None) -> Reader:
    reader = Reader(domain_userid or new_domain_userid(), touch_session(None, time.time()), user_id=user_id)
    grant(room, reader)
    read(room, reader, room.corpus.articles[0].slug)
    return reader


def view_of(room: Newsroom, reader: Reader) -> ReaderView:
    return room.views.reader_view(reader.domain_userid, DESKTOP, reader.session.index, user_id=reader.user_id)


def report(room: Newsroom, name: str = "panel-test") -> dict:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_api(lambda: room))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(f"/api/experiments/{name}", headers=AUTH)

    response = run_apart(get())
    assert response.status_code == 200, response.text
    return response.json()


def test_a_readers_panel_follows_their_variant_and_logs_what_it_showed(room: Newsroom) -> None:
    experiment = room.experiments.get("panel-test")
    assert experiment is not None
    reader = reader_with_history(room)
    view = view_of(room, reader)
    expected = assign(experiment, reader.domain_userid)
    assert expected is not None and view.decision is not None
    assert view.decision.assignment.variant == expected.variant
    assert view.panel is not None and view.panel.experiment == "panel-test"
    assert view.panel.variant == expected.variant
    assert view.panel.strategy == ("current" if expected.variant == "control" else "coread")
    for _ in range(3):  # the same reader, the same variant, every time
        assert view_of(room, reader).decision.assignment.variant == expected.variant  # type: ignore[union-attr]
    panel = view.shown_panel()
    assert panel is not None and [p for _, p, _ in panel.items] == list(range(1, len(panel.items) + 1))
    assert all(0 < propensity <= 1 for _, _, propensity in panel.items)
    if expected.variant == "control":
        assert {propensity for *_, propensity in panel.items} == {1.0}  # no exploration in the control

    room.views.panel_seen(reader, HOME, panel)
    assert room.views.panel_clicked(reader, HOME, panel, panel.items[0][0])
    assert not room.views.panel_clicked(reader, HOME, panel, "a-story-it-never-showed")
    read(room, reader, panel.items[0][0])
    room.views.panel_seen(reader, HOME, view_of(room, reader).shown_panel())  # type: ignore[arg-type]

    document = report(room)
    rows = {v["name"]: v for v in document["variants"]}
    mine = rows[expected.variant]
    assert (mine["readers"], mine["impressions"], mine["clicks"]) == (1, 2, 1)
    assert mine["visits_with_click"] == 1 and mine["recirculation"]["value"] == 2.0  # two stories read in that visit
    other = rows["coread" if expected.variant == "control" else "control"]
    assert (other["readers"], other["impressions"], other["clicks"]) == (0, 0, 0)
    assert document["readers"] == 1 and document["excluded_readers"] == 0
    assert document["verdict"].startswith("Not enough data yet: 0 of the 10")
    assert document["status"] == "running"


def test_readers_without_history_or_consent_are_not_exposed(room: Newsroom) -> None:
    newcomer = Reader(new_domain_userid(), touch_session(None, time.time()))
    grant(room, newcomer)
    assert view_of(room, newcomer).decision is None  # no history: the cold start decides, not the experiment
    refuser = Reader(new_domain_userid(), touch_session(None, time.time()))
    grant(room, refuser, frozenset())
    read(room, refuser, room.corpus.articles[0].slug, consent=False)
    assert view_of(room, refuser).decision is None


def test_a_signed_in_reader_keeps_one_variant_on_every_device(room: Newsroom) -> None:
    user = "reader-7@example.org"
    laptop, phone = reader_with_history(room, user), reader_with_history(room, user)
    variants = {view_of(room, r).decision.assignment.variant for r in (laptop, phone)}  # type: ignore[union-attr]
    experiment = room.experiments.get("panel-test")
    assert experiment is not None
    assert variants == {assign(experiment, user).variant}  # type: ignore[union-attr]
    for device in (laptop, phone):
        panel = view_of(room, device).shown_panel()
        assert panel is not None and panel.unit_kind == "user_id"
        room.views.panel_seen(device, HOME, panel)
    document = report(room)
    assert document["readers"] == 1  # one account, two devices: one unit


def test_the_audience_decides_who_enters(tmp_path: Path, corpus: Corpus) -> None:
    room = room_with(tmp_path, corpus, device="Mobile")
    try:
        reader = reader_with_history(room)
        assert view_of(room, reader).decision is None  # a computer: not in a phones-only experiment
        phone = room.views.reader_view(reader.domain_userid, ReaderContext(at=NOON, local_hour=12, device="Mobile"), 1)
        assert phone.decision is not None
    finally:
        room.close()


def test_the_api_needs_the_token_and_names_unknown_experiments(room: Newsroom) -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=build_api(lambda: room))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            anonymous = await client.get("/api/experiments")
            assert anonymous.status_code == 403 and "API token" in anonymous.json()["error"]
            wrong = await client.get("/api/experiments/panel-test", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403
            unknown = await client.get("/api/experiments/nope", headers=AUTH)
            assert unknown.status_code == 404 and "panel-test" in unknown.json()["error"]
            listing = await client.get("/api/experiments", headers=AUTH)
            assert listing.status_code == 200
            assert [e["name"] for e in listing.json()["experiments"]] == ["panel-test"]

    run_apart(scenario())


def test_an_intervention_written_with_the_sdk_targets_one_variant(tmp_path: Path, corpus: Corpus) -> None:
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "panel.toml").write_text(coread_experiment("panel-test"), encoding="utf-8")
    settings = Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN, experiments_dir=folder)
    nudge = RuleIntervention(
        name="coread_survey",
        owner="newsroom@dailycurrent.example",
        description="Ask readers of the co-read variant what they think of their picks.",
        criteria=InterventionCriterion(attribute="experiment_panel_test_v1:variant", operator="=", value="coread"),
        target_attribute_keys=[LinkAttributeKey(name="domain_userid")],
    )
    with running(settings, corpus) as (room, url):
        SignalsSandbox(api_url=url, sandbox_token=API_TOKEN).publish([nudge])  # over HTTP, as a team would
        experiment = room.experiments.get("panel-test")
        assert experiment is not None
        for variant in ("control", "coread", "coread", "control"):
            domain_userid = next(
                d
                for d in iter(new_domain_userid, None)
                if assign(experiment, d).variant == variant  # type: ignore[union-attr]
            )
            reader = reader_with_history(room, domain_userid=domain_userid)
            assert not room.views.reader_interventions(domain_userid)  # reading alone sets no variant
            view = view_of(room, reader)
            assert view.decision is not None and view.decision.assignment.variant == variant
            panel = view.shown_panel()
            assert panel is not None
            room.views.panel_seen(reader, HOME, panel)  # the exposure sets the variant attribute
            names = {f.name for f in room.views.reader_interventions(domain_userid)}
            assert ("coread_survey" in names) == (variant == "coread"), (variant, names)


def test_signing_in_after_an_exposure_keeps_the_variant(room: Newsroom) -> None:
    experiment = room.experiments.get("panel-test")
    assert experiment is not None

    # A browser and an account that the hash would put in different variants.
    def placed(unit: str, variant: str) -> bool:
        assignment = assign(experiment, unit)
        return assignment is not None and assignment.variant == variant

    device = next(d for d in iter(new_domain_userid, None) if placed(d, "control"))
    account = next(u for u in (f"u{i}@example.org" for i in range(1000)) if placed(u, "coread"))
    anonymous = reader_with_history(room, domain_userid=device)
    panel = view_of(room, anonymous).shown_panel()
    assert panel is not None and panel.log.variant == "control"
    room.views.panel_seen(anonymous, HOME, panel)
    signed_in = Reader(device, anonymous.session, user_id=account)
    read(room, signed_in, room.corpus.articles[1].slug)  # the event that links the device to the account
    view = view_of(room, signed_in)
    assert view.decision is not None and view.decision.assignment.variant == "control"
    room.views.panel_seen(signed_in, HOME, view.shown_panel())  # type: ignore[arg-type]
    laptop = reader_with_history(room, account)  # another device of the account: the account's variant
    assert view_of(room, laptop).decision.assignment.variant == "control"  # type: ignore[union-attr]
    document = report(room)
    assert document["readers"] == 1 and document["excluded_readers"] == 0


def test_a_seen_panel_is_logged_without_waiting_for_a_commit(room: Newsroom) -> None:
    """Nothing on the page waits for an impression: its events join the next group commit instead of forcing one."""
    reader = reader_with_history(room)
    panel = view_of(room, reader).shown_panel()
    assert panel is not None
    done = threading.Event()
    with room.log._commit_mutex:  # the writer cannot commit meanwhile (internal: a commit held off on purpose)
        seen = threading.Thread(target=lambda: (room.views.panel_seen(reader, HOME, panel), done.set()))
        seen.start()
        assert done.wait(5.0), "panel_seen waited for the group commit"
    seen.join(5.0)
    room.log.flush()
    logged = {event.atomic["event_name"] for event in room.log.reader_events(reader.domain_userid, 20)}
    assert {"recommendation_impression", "experiment_exposure"} <= logged


def test_a_report_holds_the_engine_for_a_few_readers_at_a_time(room: Newsroom, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers' pages need the memory lock too: an experiment's walk holds it for one chunk of readers at a
    time, and reads what one long hold would (an account's devices still merged across chunks)."""
    experiment = room.experiments.get("panel-test")
    assert experiment is not None
    readers = [reader_with_history(room) for _ in range(5)]
    readers += [reader_with_history(room, "reader@example.org") for _ in range(2)]  # one account, two devices
    for reader in readers:
        panel = view_of(room, reader).shown_panel()
        assert panel is not None
        room.views.panel_seen(reader, HOME, panel)
        assert room.views.panel_clicked(reader, HOME, panel, panel.items[0][0])
    now = time.time()
    whole = EngineOutcomes(room.memory, chunk=1_000_000)
    expected_units, expected_visits = whole.units(experiment, now), whole.visits(experiment)
    assert len(expected_units) == 6 and len(expected_visits) == 7

    reads_per_hold: list[int] = []
    depth = 0
    inner_lock, get_attributes = room.memory.lock, room.memory.engine.get_attributes

    class CountingLock:
        def __enter__(self) -> None:
            nonlocal depth
            inner_lock.acquire()
            depth += 1
            if depth == 1:
                reads_per_hold.append(0)

        def __exit__(self, *exc: object) -> None:
            nonlocal depth
            depth -= 1
            inner_lock.release()

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        reads_per_hold[-1] += 1
        return get_attributes(*args, **kwargs)

    monkeypatch.setattr(room.memory, "lock", CountingLock())
    monkeypatch.setattr(room.memory.engine, "get_attributes", counted)
    chunked = EngineOutcomes(room.memory, chunk=2)
    units, visits = chunked.units(experiment, now), chunked.visits(experiment)
    assert max(reads_per_hold) == 2 and sum(reads_per_hold) == 7 + 7

    def without_time(outcomes: list[UnitOutcome]) -> list[tuple[Any, ...]]:
        return sorted((o.unit, o.variant, o.variants_seen, o.exposures, o.impressions, o.clicks) for o in outcomes)

    assert without_time(units) == without_time(expected_units)
    assert [o.first_exposed_at for o in units] == pytest.approx([o.first_exposed_at for o in expected_units], abs=1)
    assert sorted(visits, key=repr) == sorted(expected_visits, key=repr)


def test_a_ui_worker_reports_what_the_engine_service_holds(tmp_path: Path, corpus: Corpus) -> None:
    """In a cluster the dashboard runs in a UI worker with no engine: it reads every unit's outcome from the
    engine service over HTTP and builds the same report the engine's own process would."""
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "panel.toml").write_text(coread_experiment("panel-test"), encoding="utf-8")
    settings = Settings(media_demo_db=tmp_path / "events.db", signals_api_token=API_TOKEN, experiments_dir=folder)
    with running(settings, corpus) as (room, url):
        for i, reader in enumerate([reader_with_history(room) for _ in range(5)]):
            panel = view_of(room, reader).shown_panel()
            assert panel is not None
            room.views.panel_seen(reader, HOME, panel)
            if i % 2 == 0:
                assert room.views.panel_clicked(reader, HOME, panel, panel.items[0][0])
        room.log.flush()
        worker_settings = Settings(
            media_demo_db=tmp_path / "worker" / "events.db",
            signals_api_url=url,
            signals_api_token=API_TOKEN,
            experiments_dir=folder,
        )
        worker = RemoteNewsroom(worker_settings, corpus, get_index())
        try:
            experiment = worker.experiments.get("panel-test")
            assert experiment is not None
            remote = worker.experiments.report(experiment)
        finally:
            worker.close()
        local = room.experiments.report(room.experiments.get("panel-test"))  # type: ignore[arg-type]
    counts = [(v.name, v.readers, v.impressions, v.clicks, v.visits_with_click) for v in remote.variants]
    assert counts == [(v.name, v.readers, v.impressions, v.clicks, v.visits_with_click) for v in local.variants]
    assert sum(v.readers for v in remote.variants) == 5 and sum(v.clicks for v in remote.variants) == 3
    assert [(p.day, p.variant, p.readers) for p in remote.series] == [
        (p.day, p.variant, p.readers) for p in local.series
    ]
