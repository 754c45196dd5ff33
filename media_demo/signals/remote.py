"""Remote mode: attributes read from a Signals API through the official SDK client.

With `SIGNALS_API_URL` set, the app asks that deployment (a Snowplow
Signals sandbox, or another process of this app) for a reader's attributes
instead of its embedded engine. The answer has the engine's shape, defaults
included, so the recommendation strategy cannot tell the two apart. A remote
failure never reaches a page: it is logged and the reader gets an empty
profile (the cold start), so the page still renders.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from snowplow_signals import SignalsSandbox, StreamAttributeGroup

from media_demo.signals.engine.plans import default_value

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0
# Calls still running after their caller gave up (the SDK's own timeout is 30 s) are bounded by this.
MAX_IN_FLIGHT = 8


class RemoteUnavailableError(RuntimeError):
    """The Signals API could not be asked: too many earlier calls are still hanging."""


class RemoteAttributes:
    """`AttributeEngine.get_attributes` over HTTP: one `get_group_attributes` call per read."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        groups: Iterable[StreamAttributeGroup],
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not token or not token.strip():
            raise ValueError("SIGNALS_API_URL is set but SIGNALS_API_TOKEN is not: remote mode needs the API's token")
        self.api_url = api_url
        self.timeout = timeout
        self.client = SignalsSandbox(api_url=api_url, sandbox_token=token.strip())
        # The local definitions give the attribute names to ask for and the defaults for missing values.
        self._groups = {(g.name, g.version or 1): g for g in groups}
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
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
        try:
            values = self._call(
                lambda: self.client.get_group_attributes(group, version, [a.name for a in chosen], key, entity)
            )
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

    def _call(self, request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `request` with `self.timeout`: the SDK hard-codes 30 s, too long for a page to wait.

        The request runs in a daemon thread, so one that hangs after its caller gave up never holds
        up the process's exit; `MAX_IN_FLIGHT` bounds how many can hang at once.
        """
        if not self._slots.acquire(blocking=False):
            raise RemoteUnavailableError(f"{MAX_IN_FLIGHT} earlier requests are still waiting for an answer")
        answer: Future[dict[str, Any]] = Future()

        def run() -> None:
            try:
                answer.set_result(request())
            except BaseException as exc:  # handed to the caller, who decides
                answer.set_exception(exc)
            finally:
                self._slots.release()

        threading.Thread(target=run, name="signals-remote", daemon=True).start()
        return answer.result(timeout=self.timeout)

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
