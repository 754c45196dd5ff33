"""Resolving the bearer token of the Signals-compatible API."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from media_demo.settings import Settings
from media_demo.signals.http import auth
from media_demo.signals.http.auth import resolve_api_token


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNALS_API_TOKEN", raising=False)
    monkeypatch.delenv("SIGNALS_TOKEN_FILE", raising=False)


def settings_in(folder: Path, **overrides: object) -> Settings:
    return Settings(media_demo_db=folder / "events.db", **overrides)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_configured_token_wins_and_nothing_is_written(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, signals_api_token="  from-the-environment  ")
    assert resolve_api_token(settings) == "from-the-environment"
    assert not settings.signals_token_path.exists()


def test_the_environment_variable_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALS_API_TOKEN", "env-token")
    assert resolve_api_token(settings_in(tmp_path)) == "env-token"


def test_an_empty_configured_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SIGNALS_API_TOKEN"):
        resolve_api_token(settings_in(tmp_path, signals_api_token=" "))


def test_first_start_generates_a_private_token_and_logs_it_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_in(tmp_path / "data")
    with caplog.at_level(logging.INFO, logger="media_demo.signals.http.auth"):
        token = resolve_api_token(settings)
        again = resolve_api_token(settings)
    assert token == again
    assert len(token) >= 40
    path = tmp_path / "data" / "signals_token"
    assert settings.signals_token_path == path
    assert path.read_text().strip() == token
    assert mode(path) == 0o600
    assert [r.getMessage().count(token) for r in caplog.records] == [1]  # printed once, at generation
    assert [p.name for p in path.parent.iterdir()] == ["signals_token"]  # no scratch file left behind


def test_each_new_data_folder_gets_its_own_token(tmp_path: Path) -> None:
    assert resolve_api_token(settings_in(tmp_path / "a")) != resolve_api_token(settings_in(tmp_path / "b"))


def test_an_explicit_token_file_is_used_and_a_loose_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "token"
    path.parent.mkdir()
    path.write_text("kept-token\n")
    path.chmod(0o644)
    assert resolve_api_token(settings_in(tmp_path, signals_token_file=path)) == "kept-token"
    assert mode(path) == 0o600


def test_a_token_file_created_concurrently_is_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another process writes the file between our read and our write, we use its token, not ours."""
    settings = settings_in(tmp_path)
    path = settings.signals_token_path

    def other_process_wins(_path: Path) -> str | None:
        path.write_text("their-token\n")
        path.chmod(0o600)
        return None  # as our read saw it: no file yet

    calls = iter([other_process_wins, auth._read_token])
    monkeypatch.setattr(auth, "_read_token", lambda p: next(calls)(p))
    assert resolve_api_token(settings) == "their-token"


def test_an_empty_token_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    settings.signals_token_path.write_text("")
    with pytest.raises(RuntimeError, match="holds no token"):
        resolve_api_token(settings)
