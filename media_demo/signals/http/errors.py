"""The one shape of every JSON error the app answers: `{"error": <message>, "status": <code>}`.

Used by every route: the collector, the Signals-compatible API, the interventions
stream and the app's own API (`media_demo.api`). Structured detail (e.g. the SDK
models' validation errors) goes under `"detail"`, and only when there is some.
Never HTML, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

BAD_TOKEN = "missing or wrong bearer token"


def json_error(
    status: int, message: str, *, detail: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer: `{"error": message, "status": status}`, plus `"detail"` when `detail` is given."""
    body: dict[str, Any] = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def unauthorised(message: str = BAD_TOKEN, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """401 for a request without the right bearer token, saying which scheme to use."""
    return json_error(401, message, headers={**(headers or {}), "WWW-Authenticate": "Bearer"})


async def http_exception(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (no such route: 404, a method the route does not take: 405) as JSON too."""
    assert isinstance(exc, HTTPException)
    return json_error(exc.status_code, str(exc.detail), headers=exc.headers)
