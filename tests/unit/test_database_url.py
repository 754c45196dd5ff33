"""DATABASE_URL: SQLite or PostgreSQL only, the MEDIA_DEMO_DB file when unset, secrets kept in the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from media_demo.settings import Settings


def test_unset_it_is_the_sqlite_file_of_media_demo_db(tmp_path: Path) -> None:
    settings = Settings(media_demo_db=tmp_path / "events.db")
    assert settings.database_url == f"sqlite:///{tmp_path / 'events.db'}"
    assert settings.cookie_secret_path == tmp_path / "cookie_secret"
    assert settings.signals_token_path == tmp_path / "signals_token"


def test_a_copy_given_another_file_uses_it_unless_the_url_was_set(tmp_path: Path) -> None:
    derived = Settings(media_demo_db=tmp_path / "a.db").model_copy(update={"media_demo_db": tmp_path / "b.db"})
    assert derived.database_url == f"sqlite:///{tmp_path / 'b.db'}"
    given = Settings(media_demo_db=tmp_path / "a.db", database_url="postgresql+psycopg://h/db")
    assert given.model_copy(update={"media_demo_db": tmp_path / "b.db"}).database_url == "postgresql+psycopg://h/db"


def test_it_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://news:secret@db.example:5433/news")
    settings = Settings(media_demo_db=tmp_path / "events.db")
    assert settings.database_url == "postgresql+psycopg://news:secret@db.example:5433/news"
    # The secrets stay in the data folder, not beside a database that is not a file.
    assert settings.cookie_secret_path == tmp_path / "cookie_secret"


def test_postgresql_means_psycopg_the_driver_shipped() -> None:
    assert Settings(database_url="postgresql://h/db").database_url == "postgresql+psycopg://h/db"


def test_a_sqlite_url_keeps_its_secrets_beside_its_file(tmp_path: Path) -> None:
    settings = Settings(media_demo_db=tmp_path / "unused.db", database_url=f"sqlite:///{tmp_path}/other/x.db")
    assert settings.signals_token_path == tmp_path / "other" / "signals_token"


@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql+psycopg2://h/db", "sqlite://", "not a url"])
def test_other_urls_are_refused_naming_the_variable(url: str) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings(database_url=url)
