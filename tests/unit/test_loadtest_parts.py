"""The load generator's pure parts: the frontend contract, a tab's bookkeeping, the schedule, the report's numbers.

The whole generator runs against a real backend in `tests/integration/test_loadtest.py`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from media_demo.state.reader import is_tracked_script, mark_tracked_script
from tests.benchmarks.loadtest import (
    LevelResult,
    Options,
    _quantile,
    floor_site,
    notes,
    page_patterns,
    parse,
    read_site,
    round_ratios,
    schedule,
    table,
    top_frames,
)
from tests.benchmarks.reflex_socket import FrontendContract, ReflexTab, _callback_event, _js_constants

ROOT = "reflex___state____state"
READER = f"{ROOT}.media_demo___state___reader____reader_state"
CONTRACT = FrontendContract(
    reflex_version="0.10.1",
    event_path="/_event",
    state_name=ROOT,
    state_schema="abc",
    initial_state_hashes=["h1", "h2"],
    cookies={f"{READER}.domain_userid_rx_state_": "dc_duid", f"{READER}.session_rx_state_": "dc_session"},
    hydrate_event=f"{ROOT}.hydrate_and_load",
    update_vars_event=f"{ROOT}.reflex___state____update_vars_internal_state.update_vars_internal",
    on_load_event=f"{ROOT}.reflex___state____on_load_internal_state.on_load_internal",
    payload_vars="vars",
    payload_hashes="hashes",
    auth_event="event",
    auth_state_schema="state_schema",
    hydrated_var="is_hydrated_rx_state_",
)


def test_the_compiled_callback_of_call_script_names_its_event_and_argument() -> None:
    callback = f'(_result) => {{addEvents([ReflexEvent("{READER}.client_context", {{values:_result}})])}}'
    assert _callback_event(callback) == (f"{READER}.client_context", "values")
    assert _callback_event('(_x) => addEvents([ReflexEvent("s.h", ({ ["value"] : _x }), ({  }))])') == ("s.h", "value")
    assert _callback_event(None) is None
    assert _callback_event("console.log(1)") is None


def test_context_js_constants_are_read_as_json() -> None:
    text = 'export const stateSchema = "abc"\nexport const initialStateHashes = ["a", "b"]\nexport const f = () => {}\n'
    assert _js_constants(text) == {"stateSchema": "abc", "initialStateHashes": ["a", "b"]}


def test_the_contract_survives_json() -> None:
    assert FrontendContract.from_json(CONTRACT.to_json()) == CONTRACT


def test_a_tab_keeps_cookies_from_hydrated_deltas_only_as_the_frontend_does() -> None:
    tab = ReflexTab("http://127.0.0.1:1", CONTRACT)
    snapshot = {ROOT: {"is_hydrated_rx_state_": False}, READER: {"domain_userid_rx_state_": "reset"}}
    tab._on_event("event", {"delta": snapshot})
    assert tab.cookies == {}
    tab._on_event("event", {"delta": {READER: {"domain_userid_rx_state_": "d1", "session_rx_state_": "s1"}}})
    assert tab.cookies == {"dc_duid": "d1", "dc_session": "s1"}
    assert tab._client_storage_vars() == {
        f"{READER}.domain_userid_rx_state_": "d1",
        f"{READER}.session_rx_state_": "s1",
    }
    assert tab.state[READER]["domain_userid_rx_state_"] == "d1"


def test_a_tab_counts_frontend_events_it_cannot_run() -> None:
    tab = ReflexTab("http://127.0.0.1:1", CONTRACT)
    tab._on_event("event", {"events": [{"name": "_call_function", "payload": {"function": "alert('x')"}}]})
    tab._on_event("state_mismatch", {"backend": "other"})
    assert tab.counters.unexpected_events == {"_call_function": 1, "socket:state_mismatch": 1}


def test_a_tab_answers_the_pages_tracked_view_check_as_the_browser_does() -> None:
    """The page marks each tracked view; a reconnect finds the mark, a navigation or a page load does not."""
    tab = ReflexTab("http://127.0.0.1:1", CONTRACT, patterns=page_patterns())
    sent: list[dict] = []
    tab._emit = sent.append  # type: ignore[method-assign]
    view = uuid.uuid4().hex
    callback = f'(_result) => {{addEvents([ReflexEvent("{READER}.same_url_visit", {{tracked:_result}})])}}'

    def check() -> bool:
        probe = {"name": "_call_script", "payload": {"javascript_code": is_tracked_script(view), "callback": callback}}
        tab._on_event("event", {"events": [probe]})
        return sent.pop()["payload"]["tracked"]

    tab._on_event(
        "event", {"events": [{"name": "_call_script", "payload": {"javascript_code": mark_tracked_script(view)}}]}
    )
    assert check() is True  # the same document, on the same history entry: a reconnect
    tab.history_entry += 1
    assert check() is False  # navigated since
    tab._on_event(
        "event", {"events": [{"name": "_call_script", "payload": {"javascript_code": mark_tracked_script(view)}}]}
    )
    tab.window = {}
    assert check() is False  # reloaded
    assert tab.counters.unexpected_events == {} and tab.counters.scripts_answered == 5


def test_levels_ramp_up_one_after_the_other_and_their_windows_follow_the_warm_up() -> None:
    options = Options(levels=(2, 5), duration=10, warmup=3, ramp_rate=1)
    levels, starts = schedule(options, start=100.0)
    assert starts == [100.0, 101.0, 115.0, 116.0, 117.0]  # 2 readers, then 3 more once the first window ends
    windows = [(level.readers, level.window["start"], level.window["end"]) for level in levels]
    assert windows == [(2, 105.0, 115.0), (5, 121.0, 131.0)]  # after each ramp and its warm-up


def test_quantiles_are_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert (_quantile(samples, 0.5), _quantile(samples, 0.95), _quantile(samples, 0.99)) == (50.0, 95.0, 99.0)
    assert _quantile([], 0.5) is None


def test_a_profile_summary_names_the_hottest_frames(tmp_path: Path) -> None:
    frames = [
        {"name": "run", "file": "/x/asyncio/events.py", "line": 1},
        {"name": "visit", "file": "/app/media_demo/newsroom.py", "line": 2},
        {"name": "trending", "file": "/app/media_demo/recommend/popularity.py", "line": 3},
    ]
    profile = {"type": "sampled", "unit": "seconds", "samples": [[0, 1, 2], [0, 1, 2], [0, 1]], "weights": [1, 1, 1]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"shared": {"frames": frames}, "profiles": [profile]}))
    lines = top_frames(path)
    assert lines[0] == "self, of 3.0 seconds holding the GIL:"
    assert "66.7%  trending (recommend/popularity.py:3)" in lines[1]
    assert not any("run (" in line for line in lines[lines.index("total (the frame and what it calls):") :])


def _level(scenario: str, readers: int, cpu_ms: float | None, round_: int) -> LevelResult:
    return LevelResult(
        scenario, readers, 30.0, 3000, 100.0, 10.0, 20.0, 30.0, 0, {}, cpu_ms, 80.0, 300.0, 0.0, 300.0, 0.0, 0, [],
        None, 0, 4.0, 2.0, 20.0, 2.0, round=round_,
    )  # fmt: skip


def test_rounds_pair_each_history_window_with_the_fresh_one_of_its_own_round() -> None:
    results = [
        _level("fresh", 175, 8.0, 1), _level("history", 175, 8.8, 1),
        _level("fresh", 175, 6.0, 2), _level("history", 175, 9.0, 2),
        _level("fresh", 175, 10.0, 3), _level("history", 175, 9.0, 3),
        _level("fresh", 300, 7.0, 3), _level("history", 300, None, 3),  # no CPU measured: no ratio
    ]  # fmt: skip
    ratios = round_ratios(results)
    assert ratios == pytest.approx({(1, 175): 1.1, (2, 175): 1.5, (3, 175): 0.9})
    lines = notes(results, [], Options(rounds=3))
    assert "CPU per page event with the history / fresh at 175 readers (round 2): 1.50x" in lines
    assert "history / fresh at 175 readers over 3 rounds: median 1.10x (range 0.90-1.50x)" in lines
    assert "fresh #2" in table(results)


def test_a_single_run_reports_its_ratio_without_rounds() -> None:
    results = [_level("fresh", 50, 8.0, 0), _level("history", 50, 9.6, 0)]
    lines = notes(results, [], Options())
    assert "CPU per page event with the history / fresh at 50 readers: 1.20x" in lines
    assert not [line for line in lines if "rounds" in line]
    assert "#" not in table(results)


def test_the_newspaper_is_reported_against_the_floor_of_its_own_round() -> None:
    results = [
        _level("floor", 175, 3.0, 1), _level("fresh", 175, 7.5, 1), _level("history", 175, 8.25, 1),
        _level("floor", 175, 4.0, 2), _level("fresh", 175, 8.0, 2),
    ]  # fmt: skip
    assert round_ratios(results, "fresh", "floor") == pytest.approx({(1, 175): 2.5, (2, 175): 2.0})
    assert round_ratios(results) == pytest.approx({(1, 175): 1.1})  # history / fresh, untouched by the floor
    lines = notes(results, [], Options(rounds=2, floor=True))
    assert (
        "CPU per page event of the newspaper (fresh) / of Reflex alone (floor) at 175 readers (round 1): 2.50x" in lines
    )
    assert "fresh / floor at 175 readers over 2 rounds: median 2.25x (range 2.00-2.50x)" in lines
    assert parse(["--floor"]).floor and not parse([]).floor


def test_the_floor_answers_the_newspapers_readers_under_its_own_state_names() -> None:
    site = read_site()
    root = "reflex___state____state"
    contract = FrontendContract("0", "/_event", root, None, [], {}, "h", "u", "o", "vars", "hashes", "event",
        "state_schema", "is_hydrated_rx_state_",
        states={"ReaderState": f"{root}.floor___reader_state", "PrivacyState": f"{root}.floor___privacy_state"},
    )  # fmt: skip
    floor = floor_site(site, contract)
    assert floor.reader_state == f"{root}.floor___reader_state"
    assert floor.consent_event == f"{root}.floor___privacy_state.accept_all"
    assert floor.panel_seen_event == f"{root}.floor___reader_state.panel_seen"
    # Pages, scripts and var names stay the newspaper's: the floor spells them as the newspaper does.
    assert (floor.stories, floor.sections, floor.scripts, floor.patterns) == (
        site.stories,
        site.sections,
        site.scripts,
        site.patterns,
    )
    assert (floor.consent_var, floor.recommendations_var, floor.panel_var) == (
        site.consent_var,
        site.recommendations_var,
        site.panel_var,
    )


def test_rounds_are_counted_and_not_profiled(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(["--rounds", "3"]).rounds == 3
    for wrong in (["--rounds", "0"], ["--rounds", "2", "--profile"]):
        with pytest.raises(SystemExit):
            parse(wrong)
    assert "--profile with --rounds" in capsys.readouterr().err
