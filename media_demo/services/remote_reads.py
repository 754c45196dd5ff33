"""`EngineReads` from an engine service over HTTP: what a UI worker of a cluster reads.

Readers' attributes come through the Signals API in the official SDK's models (`RemoteAttributes`),
exactly as from Snowplow Signals. The rest comes from the engine's own routes
(`media_demo.reads_api`): consent, devices, the inspector's events, and everyone's
reading, which every page shows and which changes with every read: it is kept here
as a snapshot, revalidated at most every `POPULARITY_TTL` seconds with its ETag (an
unchanged snapshot costs a 304), so a page view costs no transfer of it.

When the engine cannot be reached, a read raises `EngineUnavailableError`, except
where there is something honest to show meanwhile: attributes read as an empty
profile (the SDK client's own rule), everyone's reading as the last snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, cast

import httpx
import orjson
from snowplow_signals import StreamAttributeGroup

from media_demo.experiments.definitions import Experiment
from media_demo.experiments.outcomes import UnitOutcome, VisitOutcome
from media_demo.recommend.popularity import PopularitySnapshot
from media_demo.services.engine_reads import EngineUnavailableError, Everyone, GroupValues
from media_demo.signals.engine.consent import Consent
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.interventions import FiredIntervention
from media_demo.signals.remote import RemoteAttributes
from media_demo.signals.storage.event_log import BadEventRow
from media_demo.signals.storage.registry import group_model

logger = logging.getLogger(__name__)

PREFIX = "/api/engine"
TIMEOUT_SECONDS = 2.0
POPULARITY_TTL = 1.0  # how stale "Trending now" and the most-read picks may be, at most
COREADS_TTL = 5.0
COREADS_KEPT = 2_000


class EngineClient:
    """JSON over HTTP to the engine's `/api/engine/` routes, with one pooled connection set per process."""

    def __init__(self, base_url: str, token: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None, etag: str | None = None) -> httpx.Response:
        """GET `PREFIX + path`; a 2xx or 304 answer, else `EngineUnavailableError` (any 5xx, any failure)."""
        headers = {"If-None-Match": etag} if etag else None
        try:
            answer = self._http.get(PREFIX + path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"engine {self.base_url}: {exc or type(exc).__name__}") from exc
        if answer.status_code >= 500:
            raise EngineUnavailableError(f"engine {self.base_url}: {path} answered {answer.status_code}")
        if answer.status_code >= 400:  # our request was wrong: a bug here, not an outage
            raise ValueError(f"engine {self.base_url}: {path} answered {answer.status_code}: {answer.text[:200]}")
        return answer

    def stream(self, path: str, timeout: httpx.Timeout) -> AbstractContextManager[httpx.Response]:
        """A streamed GET of `path` (the engine's feed), with its own timeouts."""
        return self._http.stream("GET", path, timeout=timeout)

    def event_counts(self) -> dict[str, int]:
        """The engine's good and bad events (its health check)."""
        try:
            answer = self._http.get("/api/health")
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"engine {self.base_url}: {exc or type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise EngineUnavailableError(f"engine {self.base_url}: /api/health answered {answer.status_code}")
        return {str(k): int(v) for k, v in orjson.loads(answer.content)["events"].items()}

    def delete_readers(self, domain_userids: set[str], user_id: str | None) -> dict[str, int]:
        """`DELETE /api/v1/readers`: the engine deletes the reader; returns what it deleted, by kind."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("domain_userid", d) for d in sorted(domain_userids)
        ]
        if user_id:
            params.append(("user_id", user_id))
        try:
            answer = self._http.delete("/api/v1/readers", params=params, timeout=60.0)  # a scrub takes a while
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"engine {self.base_url}: {exc or type(exc).__name__}") from exc
        if answer.status_code >= 500:
            raise EngineUnavailableError(f"engine {self.base_url}: deleting a reader answered {answer.status_code}")
        if answer.status_code >= 400:
            raise ValueError(f"engine {self.base_url}: deleting a reader answered {answer.status_code}: {answer.text}")
        return {str(k): int(v) for k, v in orjson.loads(answer.content)["deleted"].items()}

    def forward(self, path: str, query: str, headers: Mapping[str, str]) -> httpx.Response:
        """A GET of the engine's own `path` (the collector's `/i` or `/r/tp2`) with this query string, its
        answer as it is (a redirect is not followed); `EngineUnavailableError` when the engine cannot answer."""
        try:
            return self._http.get(f"{path}?{query}" if query else path, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(f"engine {self.base_url}: {exc or type(exc).__name__}") from exc

    def json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON body of a GET."""
        return orjson.loads(self.get(path, params).content)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


class RemoteCoReads:
    """`AlsoRead` from the engine, each story's answer kept `COREADS_TTL` seconds."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client
        self._kept: dict[tuple[str, int | None], tuple[float, list[tuple[str, float]]]] = {}
        self._lock = threading.Lock()

    def also_read(self, slug: str, limit: int | None = None) -> list[tuple[str, float]]:
        """Stories read by those who read `slug`, best first (none while the engine cannot be reached)."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get((slug, limit))
        if kept is not None and now - kept[0] < COREADS_TTL:
            return kept[1]
        try:
            doc = self._client.json(f"/coreads/{slug}", {"limit": min(limit or 200, 200)})
        except EngineUnavailableError:
            return kept[1] if kept is not None else []
        found = [(str(other), float(score)) for other, score in doc["also_read"]]
        with self._lock:
            if len(self._kept) >= COREADS_KEPT:
                self._kept.clear()
            self._kept[(slug, limit)] = (now, found)
        return found


class RemoteReads:
    """`EngineReads` over HTTP from the engine service at `base_url`."""

    def __init__(self, base_url: str, token: str, groups: Sequence[StreamAttributeGroup]) -> None:
        self.client = EngineClient(base_url, token)
        self.attributes = RemoteAttributes(base_url, token, groups)
        self._coreads = RemoteCoReads(self.client)
        self._popularity = PopularitySnapshot()
        self._popularity_etag: str | None = None
        self._popularity_checked = float("-inf")
        self._popularity_lock = threading.Lock()

    @property
    def failing(self) -> bool:
        """Whether the engine's last answer to an attribute read was a failure."""
        return self.attributes.failing

    def reader_attributes(
        self,
        group: str,
        version: int,
        domain_userid: str,
        user_id: str | None = None,
        names: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Through the Signals API; a signed-in reader by `user_id`, which Signals stitches over their devices."""
        if user_id:
            return self.attributes.get(group, version, user_id, names, key="user_id")
        return self.attributes.get(group, version, domain_userid, names)

    def entity_attributes(
        self, group: str, version: int, entity: str, names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Through the Signals API, keyed as the group is."""
        return self.attributes.get(group, version, entity, names)

    def devices(self, user_id: str) -> list[str]:
        """From the engine's identity links."""
        return [str(d) for d in self.client.json(f"/users/{user_id}/devices")["devices"]]

    def consent_of(self, domain_userid: str) -> Consent | None:
        """From the engine's consent ledger."""
        doc = self.client.json(f"/readers/{domain_userid}/consent")["consent"]
        if doc is None:
            return None
        return Consent(frozenset(doc["scopes"]), str(doc["event_type"]), float(doc["at"]))

    @contextmanager
    def everyone(self) -> Iterator[Everyone]:
        """The latest popularity snapshot (revalidated when older than `POPULARITY_TTL`) and co-reads."""
        yield Everyone(self._fresh_popularity(), self._coreads)

    def _fresh_popularity(self) -> PopularitySnapshot:
        with self._popularity_lock:  # one revalidation at a time; the others use the snapshot in hand
            if time.monotonic() - self._popularity_checked < POPULARITY_TTL:
                return self._popularity
            try:
                answer = self.client.get("/popularity", etag=self._popularity_etag)
                if answer.status_code != 304:
                    self._popularity = PopularitySnapshot.from_json(orjson.loads(answer.content))
                    self._popularity_etag = answer.headers.get("etag")
            except EngineUnavailableError as exc:
                logger.debug("engine popularity unavailable, keeping the last snapshot: %s", exc)
            self._popularity_checked = time.monotonic()
            return self._popularity

    def has_state(self, group: str, version: int, entity: str) -> bool:
        """From the engine."""
        return bool(self.client.json(f"/state/{group}/{version}/{entity}")["has_state"])

    def reader_groups(self, ids: Mapping[str, str]) -> list[GroupValues]:
        """Every evaluated group keyed by one of `ids`, with its attributes and freshness, from the engine."""
        reader = ids.get("domain_userid", "")
        others = {k: v for k, v in ids.items() if k != "domain_userid" and v}
        doc = self.client.json(f"/readers/{reader}/groups", others)
        return [
            (
                cast(StreamAttributeGroup, group_model(g["group"]).model_validate(g["group"])),
                dict(g["attributes"]),
                g.get("computed_at"),
            )
            for g in doc["groups"]
        ]

    def recent_interventions(self, domain_userid: str) -> list[FiredIntervention]:
        """From the engine's recent deliveries."""
        doc = self.client.json(f"/readers/{domain_userid}/interventions")
        return [fired_intervention(item) for item in doc["interventions"]]

    def settle(self) -> None:
        """Nothing to wait for: the collector acknowledged each event once it was applied and committed."""

    def reader_events(self, domain_userid: str, limit: int) -> list[CanonicalEvent]:
        """From the engine's event log."""
        doc = orjson.loads(self.client.get(f"/readers/{domain_userid}/events", {"limit": limit}).content)
        return [CanonicalEvent.from_json(orjson.dumps(event)) for event in doc["events"]]

    def reader_bad_events(self, domain_userid: str, limit: int) -> list[BadEventRow]:
        """From the engine's bad events."""
        doc = self.client.json(f"/readers/{domain_userid}/bad-events", {"limit": limit})
        return [
            BadEventRow(
                received_at=datetime.fromisoformat(row["received_at"]), reason=row["reason"], payload=row["payload"]
            )
            for row in doc["bad_events"]
        ]

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()
        self.attributes.close()


class RemoteEraser:
    """Deletion by the engine service, which holds the reader's events and profiles."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client

    def forget_reader(self, domain_userids: set[str], user_id: str | None) -> tuple[dict[str, int], set[str]]:
        """The engine deletes them (and the devices linked to the account); those it found besides these
        reach this worker through the engine's feed, as a `forgotten` notice."""
        return self._client.delete_readers(domain_userids, user_id), set(domain_userids)


def fired_intervention(doc: Mapping[str, Any]) -> FiredIntervention:
    """A fired intervention as the engine sends it (`reads_api.intervention_json`)."""
    target = doc["target_attribute_key"]
    return FiredIntervention(
        intervention_id=str(doc["intervention_id"]),
        name=str(doc["name"]),
        version=int(doc["version"]),
        attributes={str(k): str(v) for k, v in doc["attributes"].items()},
        target_name=str(target["name"]),
        target_id=str(target["id"]),
        fired_at=float(doc["fired_at"]),
    )


class RemoteOutcomes:
    """`Outcomes` of an experiment from the engine, which holds its attributes (one request per report:
    the units' answer is kept for the visits' asked right after it)."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client
        self._last: tuple[str, float, dict[str, Any]] | None = None

    def _outcomes(self, experiment: Experiment) -> dict[str, Any]:
        last = self._last
        if last is not None and last[0] == experiment.name and time.monotonic() - last[1] < 1.0:
            return last[2]
        doc: dict[str, Any] = self._client.json(f"/experiments/{experiment.name}/outcomes")
        self._last = (experiment.name, time.monotonic(), doc)
        return doc

    def units(self, experiment: Experiment, now: float) -> list[UnitOutcome]:
        """Every exposed unit's metrics, as the engine computed them."""
        units = self._outcomes(experiment)["units"]
        return [UnitOutcome(**{**unit, "variants_seen": tuple(unit["variants_seen"])}) for unit in units]

    def visits(self, experiment: Experiment) -> list[VisitOutcome]:
        """Every visit with a click on the experiment's panel."""
        return [VisitOutcome(**visit) for visit in self._outcomes(experiment)["visits"]]
