"""`make cluster`: the newsroom as several processes on one machine, started, watched and stopped together.

- the attribute engine service (`media_demo.engine_service`, port `ENGINE_PORT`, 8100): the only
  process that writes events; it owns the collector, the Signals API and the engine's feed;
- the Reflex backend with `WORKERS` granian workers (port 8000), each a UI worker in remote mode
  (`RemoteNewsroom`): tab states shared through Redis (`REFLEX_REDIS_URL`), readers' data through
  the engine's API, stories and accounts in PostgreSQL (`DATABASE_URL`). Started with granian's own
  command rather than `reflex run --env prod --backend-only`, which runs the same server but without
  `--respawn-failed-workers`: there, one worker killed takes the whole backend down;
- the production frontend (port 3000), built on start.

It refuses to start without PostgreSQL and Redis, saying which is missing: a cluster on SQLite or
on per-process tab states would lose data or tabs. The engine starts first and is healthy before
any worker starts, so the workers find the database ready. An engine that dies is started again
(meanwhile the pages show the most-read stories and say why; a kill -9 loses no acknowledged
event); if the backend or the frontend exits, the others are stopped. Ctrl-C or SIGTERM stops
the workers first, then the engine (which commits everything).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from media_demo.settings import PROJECT_ROOT, Settings
from media_demo.signals.http.auth import resolve_api_token

DEFAULT_WORKERS = 3
ENGINE_START_SECONDS = 300.0  # a long event log takes a while to replay
STOP_SECONDS = 30.0
OPLOCK_HOLD = "1s"  # REFLEX_OPLOCK_HOLD_TIME: longer than one page view's events, far shorter than think time
MAX_ENGINE_RESTARTS = 5  # within RESTART_WINDOW seconds: an engine that cannot stay up stops the cluster
RESTART_WINDOW = 60.0


class ClusterConfigError(ValueError):
    """The environment cannot run a cluster; the message says what to set."""


@dataclass(frozen=True)
class ClusterConfig:
    """What `make cluster` runs with, checked before anything starts."""

    database_url: str
    redis_url: str
    workers: int
    engine_port: int
    backend_port: int
    frontend_port: int
    token: str
    backend_host: str = "0.0.0.0"  # every interface: readers' browsers reach the workers, as with `make run`

    @property
    def engine_url(self) -> str:
        """Where the workers reach the engine (loopback: it is never exposed by the cluster)."""
        return f"http://127.0.0.1:{self.engine_port}"


def cluster_config(env: Mapping[str, str], settings: Settings) -> ClusterConfig:
    """The cluster's configuration from `env`, or `ClusterConfigError` naming every problem at once."""
    problems = []
    database_url = env.get("DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        problems.append(
            "DATABASE_URL must point at PostgreSQL (e.g. postgresql+psycopg://user@localhost/media_demo): "
            "several processes share the database, which SQLite cannot serve"
        )
    redis_url = env.get("REFLEX_REDIS_URL", "")
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            "REFLEX_REDIS_URL must point at Redis (e.g. redis://localhost:6379): "
            "the workers share the tabs' states there"
        )
    numbers = {}
    for name, default in (
        ("WORKERS", DEFAULT_WORKERS),
        ("ENGINE_PORT", 8100),
        ("BACKEND_PORT", 8000),
        ("FRONTEND_PORT", 3000),
    ):
        raw = env.get(name, str(default))
        if not raw.isdigit() or int(raw) < 1:
            problems.append(f"{name} must be a whole number of 1 or more, got {raw!r}")
        else:
            numbers[name] = int(raw)
    if env.get("SIGNALS_API_URL"):
        problems.append("SIGNALS_API_URL is for the workers: the cluster sets it to its own engine; unset it")
    if problems:
        raise ClusterConfigError("make cluster cannot start:\n  - " + "\n  - ".join(problems))
    return ClusterConfig(
        database_url,
        redis_url,
        numbers["WORKERS"],
        numbers["ENGINE_PORT"],
        numbers["BACKEND_PORT"],
        numbers["FRONTEND_PORT"],
        resolve_api_token(settings),  # the engine's token, shared with the workers
        env.get("BACKEND_HOST", "0.0.0.0"),
    )


def engine_env(config: ClusterConfig, base: Mapping[str, str]) -> dict[str, str]:
    """The engine service's environment: the database, the token, and no remote mode."""
    env = {k: v for k, v in base.items() if k not in ("SIGNALS_API_URL", "SNOWPLOW_COLLECTOR_URL")}
    return env | {"DATABASE_URL": config.database_url, "SIGNALS_API_TOKEN": config.token}


def engine_command(config: ClusterConfig, python: str) -> list[str]:
    """The engine service on `ENGINE_PORT` (its own default host: loopback)."""
    return [python, "-m", "media_demo.engine_service", "--port", str(config.engine_port)]


def backend_command(config: ClusterConfig, python: str) -> list[str]:
    """Granian serving the Reflex app's ASGI factory (`media_demo.media_demo:app`, as `reflex run` does), with
    `WORKERS` workers and a dead one started again."""
    return [
        str(Path(python).parent / "granian"),
        *("--interface", "asgi", "--factory", "--workers", str(config.workers)),
        *("--respawn-failed-workers", "--respawn-interval", "1"),
        *("--host", config.backend_host, "--port", str(config.backend_port)),
        "media_demo.media_demo:app",
    ]


def worker_env(config: ClusterConfig, base: Mapping[str, str]) -> dict[str, str]:
    """A UI worker's environment: remote mode on the engine, Redis for the tab states, Reflex in production
    mode without compiling the frontend (the frontend process builds it)."""
    # Opportunistic locking: a worker keeps a tab's state and its Redis lock for a moment after an event, so
    # the few events of one page view (the visit, the panel seen, ...) cost one read and one write of the state
    # instead of one each (about 20 % of a worker's CPU per page view in `make loadtest ARGS=--cluster`). Another
    # worker that needs the tab breaks the lease at once; the hold is short so a killed worker strands little.
    oplock = {"REFLEX_OPLOCK_ENABLED": "true", "REFLEX_OPLOCK_HOLD_TIME": OPLOCK_HOLD}
    return (
        oplock
        | dict(base)
        | {
            "REFLEX_ENV_MODE": "prod",
            "__REFLEX_SKIP_COMPILE": "true",
            "DATABASE_URL": config.database_url,
            "REFLEX_REDIS_URL": config.redis_url,
            "SIGNALS_API_URL": config.engine_url,
            "SIGNALS_API_TOKEN": config.token,
            "REFLEX_API_URL": base.get("REFLEX_API_URL", f"http://localhost:{config.backend_port}"),
        }
    )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    print(f"cluster: stopping the {name}", flush=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(config: ClusterConfig, env: Mapping[str, str], python: str = sys.executable) -> int:
    """Start the engine, wait until it answers, start the workers and the frontend; return when one exits."""
    reflex = str(Path(python).parent / "reflex")

    def start_engine() -> subprocess.Popen[bytes]:
        return subprocess.Popen(engine_command(config, python), cwd=PROJECT_ROOT, env=engine_env(config, env))

    engine = start_engine()
    processes: list[tuple[str, subprocess.Popen[bytes]]] = [("engine", engine)]
    restarts: list[float] = []
    stopping = False

    def stop_all(_signum: int = 0, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    try:
        deadline = time.monotonic() + ENGINE_START_SECONDS
        while not _healthy(config.engine_url):
            if engine.poll() is not None or stopping:
                print("cluster: the engine did not start", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"cluster: the engine did not answer within {ENGINE_START_SECONDS:.0f} s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"cluster: engine ready on {config.engine_url}", flush=True)
        workers = worker_env(config, env)
        backend = backend_command(config, python)
        frontend = [reflex, "run", "--env", "prod", "--frontend-only", "--frontend-port", str(config.frontend_port)]
        processes.append(("backend", subprocess.Popen(backend, cwd=PROJECT_ROOT, env=workers)))
        # (`reflex run` sets its own mode, and compiles: none of the backend's process settings)
        builder = {k: v for k, v in workers.items() if k not in ("REFLEX_ENV_MODE", "__REFLEX_SKIP_COMPILE")}
        processes.append(("frontend", subprocess.Popen(frontend, cwd=PROJECT_ROOT, env=builder)))
        while not stopping:
            if processes[0][1].poll() is not None:
                now = time.monotonic()
                restarts = [at for at in restarts if now - at < RESTART_WINDOW] + [now]
                if len(restarts) > MAX_ENGINE_RESTARTS:
                    print(f"cluster: the engine exited {len(restarts)} times in a minute; stopping", file=sys.stderr)
                    return 1
                print(f"cluster: the engine exited ({processes[0][1].returncode}); starting it again", file=sys.stderr)
                processes[0] = ("engine", start_engine())
            for name, process in processes[1:]:
                if process.poll() is not None:
                    print(f"cluster: the {name} exited ({process.returncode}); stopping the others", file=sys.stderr)
                    return process.returncode or 1
            time.sleep(0.5)
        return 0
    finally:
        for name, process in reversed(processes):  # the workers first, the engine (which commits) last
            _stop(process, name)


def main() -> None:
    """`python -m media_demo.cluster`: the environment is the configuration (see the module's docstring)."""
    try:
        config = cluster_config(os.environ, Settings())
    except ClusterConfigError as exc:
        sys.exit(str(exc))
    sys.exit(run(config, os.environ))


if __name__ == "__main__":
    main()
