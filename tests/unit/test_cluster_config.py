"""`make cluster` refuses a configuration that would lose data or tabs, naming every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_demo.cluster import ClusterConfigError, backend_command, cluster_config, engine_env, worker_env
from media_demo.settings import Settings

POSTGRES = "postgresql+psycopg://news@127.0.0.1:5544/news"
REDIS = "redis://127.0.0.1:6380"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(media_demo_db=tmp_path / "media_demo.db", signals_api_token="cluster-token")


def test_a_cluster_needs_postgresql_and_redis(settings: Settings) -> None:
    with pytest.raises(ClusterConfigError) as refused:
        cluster_config({}, settings)
    message = str(refused.value)
    assert "DATABASE_URL must point at PostgreSQL" in message and "REFLEX_REDIS_URL must point at Redis" in message
    with pytest.raises(ClusterConfigError, match="DATABASE_URL must point at PostgreSQL"):
        cluster_config({"DATABASE_URL": "sqlite:///data/media_demo.db", "REFLEX_REDIS_URL": REDIS}, settings)
    with pytest.raises(ClusterConfigError, match="WORKERS must be a whole number"):
        cluster_config({"DATABASE_URL": POSTGRES, "REFLEX_REDIS_URL": REDIS, "WORKERS": "0"}, settings)
    with pytest.raises(ClusterConfigError, match="SIGNALS_API_URL is for the workers"):
        env = {"DATABASE_URL": POSTGRES, "REFLEX_REDIS_URL": REDIS, "SIGNALS_API_URL": "http://elsewhere"}
        cluster_config(env, settings)


def test_the_workers_read_the_engine_and_the_engine_is_never_remote(settings: Settings) -> None:
    config = cluster_config({"DATABASE_URL": POSTGRES, "REFLEX_REDIS_URL": REDIS, "ENGINE_PORT": "8200"}, settings)
    assert (config.workers, config.engine_url, config.backend_port, config.frontend_port) == (
        3,
        "http://127.0.0.1:8200",
        8000,
        3000,
    )
    base = {"PATH": "/usr/bin", "SNOWPLOW_COLLECTOR_URL": "http://collector.example"}
    workers = worker_env(config, base)
    assert workers["SIGNALS_API_URL"] == "http://127.0.0.1:8200" and workers["SIGNALS_API_TOKEN"] == "cluster-token"
    assert (workers["REFLEX_REDIS_URL"], workers["DATABASE_URL"], workers["REFLEX_ENV_MODE"]) == (
        REDIS,
        POSTGRES,
        "prod",
    )
    # Tab states are held by a worker across one page view's events (opportunistic locks), unless told otherwise.
    assert (workers["REFLEX_OPLOCK_ENABLED"], workers["REFLEX_OPLOCK_HOLD_TIME"]) == ("true", "1s")
    assert worker_env(config, base | {"REFLEX_OPLOCK_ENABLED": "false"})["REFLEX_OPLOCK_ENABLED"] == "false"
    command = backend_command(config, "/venv/bin/python")
    assert command[0] == "/venv/bin/granian" and command[-1] == "media_demo.media_demo:app"
    assert "--respawn-failed-workers" in command and command[command.index("--workers") + 1] == "3"
    engine = engine_env(config, base | {"SIGNALS_API_URL": "http://leftover"})
    assert "SIGNALS_API_URL" not in engine and "SNOWPLOW_COLLECTOR_URL" not in engine
    assert engine["DATABASE_URL"] == POSTGRES and engine["SIGNALS_API_TOKEN"] == "cluster-token"
