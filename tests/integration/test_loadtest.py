"""The load generator end to end, briefly: a production backend on a small history, ten simulated readers.

`make loadtest` measures; this only checks that what it measures is real: every reader's tab
hydrated over Reflex's websocket, page events were sent and settled without an error, the
backend's CPU and memory were read, and the backend started on the pre-loaded history holds it; and, for
`--cluster`, that a cluster's readers go through its UI workers to its engine and that it is stopped after.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.benchmarks import loadtest
from tests.servers import postgres_bin

pytestmark = pytest.mark.loadtest


def test_ten_readers_on_a_small_history(tmp_path: Path) -> None:
    report = loadtest.main(
        [
            *("--levels", "10", "--duration", "4", "--warmup", "1.5", "--ramp-rate", "20"),
            *("--history", "2000", "--history-readers", "100", "--history-only"),
            *("--think", "0.5,1", "--timeout", "10", "--no-pin", "--out", str(tmp_path)),
        ]
    )

    (scenario,) = report["scenarios"]
    assert scenario["readers_started"] == 10
    assert scenario["hydrated"] == 10, scenario["run_errors"]
    assert scenario["returning_readers"] == 5
    assert scenario["run_errors"] == {}
    assert scenario["unexpected_events"] == {}
    assert scenario["landing_ms"]["count"] == 10

    (level,) = report["levels"]
    assert level["pages"] >= 10
    assert level["errors"] == 0, level["error_kinds"]
    assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] < 10_000
    assert level["events_per_s"] > 0
    assert level["cpu_ms_per_event"] > 0
    assert level["rss_mib"] > 50
    assert level["pss_mib"] > 50
    assert level["updates_per_page"] >= 3  # router data, is_hydrated false, the reader's panel, is_hydrated true
    assert level["generator_cpu_percent"] >= 0

    check = scenario["history_check"]
    assert check["readers_checked"] > 0
    assert check["holding_their_history"] == check["readers_checked"]
    assert check["backend_page_views"] >= check["history_page_views"] > 0

    assert (tmp_path / "latest.md").read_text().count("| history |") == 1
    assert Path(scenario["log"]).exists()
    assert not list(Path(scenario["folder"]).glob("media_demo.db*"))  # the scratch database is gone


def test_the_floor_runs_the_same_readers_on_reflex_alone_beside_the_newspaper(tmp_path: Path) -> None:
    """`--floor`: the floor app answers the newspaper's readers page for page (same events, scripts, updates)."""
    report = loadtest.main(
        [
            *("--floor", "--levels", "8", "--duration", "4", "--warmup", "1.5", "--ramp-rate", "20"),
            *("--think", "0.5,1", "--timeout", "10", "--no-pin", "--batch-runs", "0", "--out", str(tmp_path)),
        ]
    )

    floor, fresh = report["scenarios"]
    assert (floor["scenario"], fresh["scenario"]) == ("floor", "fresh")
    assert floor["folder"] != fresh["folder"]
    for scenario in (floor, fresh):
        assert scenario["hydrated"] == 8, scenario["run_errors"]
        assert scenario["run_errors"] == {}
        assert scenario["unexpected_events"] == {}  # the floor's scripts are the ones the readers answer
        assert scenario["consent_ms"]["count"] > 0  # its "Accept all" is found and answered
    floor_level, fresh_level = report["levels"]
    for level in (floor_level, fresh_level):
        assert level["pages"] >= 8
        assert level["errors"] == 0, level["error_kinds"]
        assert level["cpu_ms_per_event"] > 0
    # A page of the floor is a page of the newspaper's shape: the same updates (router data, is_hydrated, the
    # page's content, the view's script, is_hydrated, the panel's answer), about as many per page event.
    assert floor_level["updates_per_page"] == pytest.approx(fresh_level["updates_per_page"], abs=0.5)
    text = (tmp_path / "latest.md").read_text()
    assert text.count("| floor |") == 1 and text.count("| fresh |") == 1
    assert "of the newspaper (fresh) / of Reflex alone (floor) at 8 readers" in text


def test_the_collector_load_counts_every_acknowledged_event_back(tmp_path: Path) -> None:
    report = loadtest.main(
        [
            "--collector",
            *("--targets", "engine", "--rates", "40", "--duration", "2", "--warmup", "0.5"),
            *("--timeout", "10", "--no-pin", "--out", str(tmp_path)),
        ]
    )

    (result,) = report["results"]
    assert result["target"] == "engine"
    assert result["sent"] == 80
    assert result["errors"] == 0, result["error_kinds"]
    assert result["acknowledged"] == 100  # the warm-up's 20 too
    assert result["counted_back"] == 100
    assert result["lost"] == 0
    assert result["bad_events"] == 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] < 10_000
    assert result["achieved_per_s"] > 20
    assert result["cpu_us_per_request"] > 0
    assert len(list(tmp_path.glob("collector-*.md"))) == 1
    assert not list((tmp_path / "runs").glob("*/media_demo.db*"))  # the scratch database is gone


def test_the_cluster_mode_measures_the_engine_and_the_workers_and_stops_them(tmp_path: Path) -> None:
    """`--cluster` with 1 UI worker (the quickest to start), briefly: every reader hydrated and paged without an
    error through the cluster, its CPU split between the engine and the worker, none of its processes left after."""
    if postgres_bin() is None or shutil.which("redis-server") is None:
        message = "the cluster mode needs PostgreSQL and redis-server (apt-get install postgresql redis-server)"
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    report = loadtest.main(
        [
            *("--cluster", "--workers", "1", "--no-baseline"),
            *("--levels", "4", "--duration", "4", "--warmup", "1.5", "--ramp-rate", "20"),
            *("--think", "0.5,1", "--timeout", "10", "--no-pin", "--out", str(tmp_path)),
        ]
    )

    (scenario,) = report["scenarios"]
    assert scenario["workers"] == 1
    assert scenario["readers_started"] == 4
    assert scenario["hydrated"] == 4, scenario["run_errors"]
    assert scenario["run_errors"] == {}
    assert scenario["unexpected_events"] == {}

    (level,) = report["levels"]
    assert level["scenario"] == "cluster 1w"
    assert level["pages"] >= 1  # (a loaded machine makes a cluster slow: see make loadtest ARGS=--cluster)
    assert level["errors"] == 0, level["error_kinds"]
    assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"] < 10_000
    assert level["engine_cpu_ms_per_event"] > 0  # the page events reached the engine service
    assert level["workers_cpu_ms_per_event"] > 0
    assert level["services_cpu_ms_per_event"] >= 0
    total = level["engine_cpu_ms_per_event"] + level["workers_cpu_ms_per_event"]
    assert total == pytest.approx(level["cpu_ms_per_event"])
    assert level["pss_mib"] > 100  # the engine and a UI worker

    (configuration,) = report["configurations"]
    assert configuration["workers"] == 1
    assert (tmp_path / f"cluster-{report['started']}.md").read_text().count("| cluster 1w |") == 2

    assert len(scenario["pids"]) >= 3  # the engine, granian and its worker
    assert [pid for pid in scenario["pids"] if Path(f"/proc/{pid}").exists()] == []
