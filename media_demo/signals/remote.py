"""Remote mode: attributes read from a Signals API, in the official SDK's request and response models.

With `SIGNALS_API_URL` set, the app asks that deployment (a Snowplow
Signals sandbox, or this app's engine service) for a reader's attributes
instead of its embedded engine. The answer has the engine's shape, defaults
included, so the recommendation strategy cannot tell the two apart. A remote
failure never reaches a page: it is logged and the reader gets an empty
profile (the cold start), so the page still renders.

The request is the SDK's `GetAttributeGroupAttributesRequest` and the answer is
read as its `GetAttributesResponse`, posted to the same `get-online-attributes`
endpoint with the same sandbox bearer token; only the transport is ours. The
SDK's `ApiClient` sends each call with module-level `httpx.request`, which builds
a new client (connection pool, TLS context) per call: about 50 ms of CPU, more
than the rest of a page view together, and it waits up to 30 s. Here one pooled
client per process keeps its connections alive, and the timeout is the page's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import httpx
from snowplow_signals import StreamAttributeGroup
from snowplow_signals.models import GetAttributeGroupAttributesRequest, GetAttributesResponse

from media_demo.signals.engine.plans import default_value

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0
MAX_CONNECTIONS = 32  # concurrent reads of one process (its threads); more wait for a free connection
ENDPOINT = "/api/v1/get-online-attributes"


class RemoteAttributes:
    """`AttributeEngine.get_attributes` over HTTP: one `get-online-attributes` request per read."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        groups: Iterable[StreamAttributeGroup],
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not token or not token.strip():
            raise ValueError("SIGNALS_API_URL is set but SIGNALS_API_TOKEN is not: remote mode needs the API's token")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {token.strip()}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )
        # The local definitions give the attribute names to ask for and the defaults for missing values.
        self._groups = {(g.name, g.version or 1): g for g in groups}
        self._failing = False

    def get(
        self,
        group: str,
        version: int,
        entity: str,
        attributes: Iterable[str] | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """One entity's attributes of `group` (all, or those named), with defaults where the API has no value.

        `key` names the entity's kind when it is not the group's own key: `user_id` reads a device-keyed
        group stitched over the devices that user signed in on, as Signals does.
        Never raises for a remote failure: it logs a warning and answers the defaults (an empty profile).
        """
        definition = self._groups[(group, version)]  # a KeyError here is a programming error, not a remote one
        wanted = set(attributes) if attributes is not None else None
        chosen = [a for a in definition.attributes if wanted is None or a.name in wanted]
        key = key or definition.attribute_key.name or "domain_userid"
        request = GetAttributeGroupAttributesRequest.model_validate(
            {"attributes": [f"{group}_v{version}:{a.name}" for a in chosen], "attribute_keys": {key: [entity]}}
        )
        try:
            values = self._post(request)
        except Exception as exc:  # any failure of the remote (HTTP, status, body, timeout) must not break a page
            self._report_failure(group, version, exc)
            values = {}
        else:
            self._report_recovery()
        return {a.name: _or_default(values.get(a.name), a) for a in chosen}

    @property
    def failing(self) -> bool:
        """Whether the last read failed (its answer was the defaults), until one succeeds again."""
        return self._failing

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _post(self, request: GetAttributeGroupAttributesRequest) -> dict[str, Any]:
        """The first value of each attribute the API answered, by name (a 4xx or 5xx raises)."""
        answer = self._http.post(ENDPOINT, json=request.model_dump(mode="json", exclude_none=True))
        answer.raise_for_status()
        response = GetAttributesResponse.model_validate({"data": answer.json()})
        return {name: values[0] if values else None for name, values in response.data.items()}

    def _report_failure(self, group: str, version: int, exc: Exception) -> None:
        """A warning on the first failure, then debug lines until it recovers: a down API must not flood the log."""
        reason = str(exc) or type(exc).__name__
        if self._failing:
            logger.debug("Signals API %s still failing: %s", self.api_url, reason)
            return
        self._failing = True
        logger.warning(
            "Signals API %s: reading %s v%s failed (%s); serving empty profiles until it answers again",
            self.api_url,
            group,
            version,
            reason,
        )

    def _report_recovery(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("Signals API %s answers again", self.api_url)


def _or_default(value: Any, attribute: Any) -> Any:
    """The engine's default where the API has no value (Signals answers null for an unseen entity)."""
    return default_value(attribute) if value is None else value
