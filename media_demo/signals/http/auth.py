"""The bearer token of the Signals-compatible API (`/api/v1/`).

`SignalsSandbox(api_url=..., sandbox_token=...)` sends `Authorization: Bearer
<sandbox_token>` on every call; this module decides what that token is. An
explicit `SIGNALS_API_TOKEN` wins; otherwise a random token is generated once,
kept in a 0600 file beside the database and logged once, so a fresh checkout
is protected without any configuration.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from starlette.requests import Request

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32


class SecretSettings(Protocol):
    """Where the secrets come from: the configured values, and the files kept for them (the app's `Settings`)."""

    @property
    def signals_api_token(self) -> str | None:
        """The API token set in the environment, if any."""
        ...

    @property
    def signals_token_path(self) -> Path:
        """Where the generated API token is kept when none is set."""
        ...

    @property
    def cookie_secret(self) -> str | None:
        """The secret that signs reader ids, set in the environment, if any."""
        ...

    @property
    def cookie_secret_path(self) -> Path:
        """Where the generated cookie secret is kept when none is set."""
        ...


def resolve_api_token(settings: SecretSettings) -> str:
    """The API token: the configured one, else the stored one, else a new one (stored and logged once)."""
    return resolve_secret(settings.signals_api_token, settings.signals_token_path, "SIGNALS_API_TOKEN", announce=True)


def resolve_cookie_secret(settings: SecretSettings) -> str:
    """The key that signs reader cookies: configured, else stored beside the database, else new (never logged)."""
    return resolve_secret(settings.cookie_secret, settings.cookie_secret_path, "COOKIE_SECRET", announce=False)


def resolve_secret(configured: str | None, path: Path, variable: str, announce: bool) -> str:
    """A secret from the environment, else from its 0600 file, else newly generated into that file."""
    if configured is not None:
        given = configured.strip()
        if not given:
            raise ValueError(f"{variable} is set but empty; unset it to have one generated")
        return given
    found = _read_token(path)
    if found is not None:
        return found
    token = secrets.token_urlsafe(TOKEN_BYTES)
    if _create_token_file(path, token):
        if announce:
            logger.warning(
                "Signals API: generated a bearer token for /api/v1/ (shown once, kept in %s): %s",
                path,
                token,
            )
        return token
    # Another process created the file first: everyone must share its token.
    stored = _read_token(path)
    if stored is None:
        raise RuntimeError(f"Signals API: token file {path} exists but holds no token")
    return stored


def _read_token(path: Path) -> str | None:
    """The token in `path`, tightening its permissions to 0600 if others could read it."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("Signals API: token file %s was readable by others (mode %o); setting 0600", path, mode)
        path.chmod(0o600)
    return text or None


def _create_token_file(path: Path, token: str) -> bool:
    """Write `token` to `path` atomically (never a half-written file); False if `path` already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        try:
            os.link(scratch, path)  # atomic, and fails instead of replacing a token someone already uses
        except FileExistsError:
            return False
        return True
    finally:
        scratch.unlink(missing_ok=True)


def authorised(request: Request, token: str) -> bool:
    """Is there an `Authorization: Bearer <token>` header with the right token (constant-time compare)?"""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return secrets.compare_digest(given.strip().encode(), token.encode())
