"""The consent ledger, anonymisation, identity links and merged (stitched) attributes."""

from __future__ import annotations

import pytest

from media_demo.definitions import ARTICLE_SCHEMA, READER_GROUP, reader_profile_group
from media_demo.signals.engine.aggregations import make_aggregation
from media_demo.signals.engine.attribute_engine import AttributeEngine
from media_demo.signals.engine.consent import (
    BEHAVIOURAL,
    CONSENT_SCHEMA,
    CONTEXTUAL,
    EMAIL_MARKETING,
    NECESSARY,
    PROFILE,
    REQUIRE_CONSENT,
    ConsentLedger,
    anonymised,
    email_app_id,
    scopes_of,
)
from media_demo.signals.engine.events import CanonicalEvent
from media_demo.signals.engine.identity import IdentityLinks
from tests.factories import page_view, self_describing


def consent_event(
    reader: str, kind: str, scopes: list[str], at: float = 0.0, app: str = "daily-current"
) -> CanonicalEvent:
    data = {"eventType": kind, "consentScopes": scopes, "basisForProcessing": "consent"}
    return self_describing(CONSENT_SCHEMA, data, user=reader, timestamp=at, app_id=app)


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("allow_all", [], {NECESSARY, CONTEXTUAL, BEHAVIOURAL}),
        ("allow_selected", ["behavioural", "marketing"], {NECESSARY, BEHAVIOURAL}),  # unknown scopes are ignored
        ("implicit_consent", ["contextual"], {NECESSARY, CONTEXTUAL}),
        ("deny_all", ["behavioural"], {NECESSARY}),
        ("withdrawn", ["behavioural"], {NECESSARY}),
        ("expired", [], {NECESSARY}),
        ("pending", ["behavioural"], None),
        ("nonsense", ["behavioural"], None),
        # About scopes the ledger does not govern only (e-mail marketing): decides nothing, whatever the type.
        ("allow_selected", [EMAIL_MARKETING], None),
        ("allow_selected", [NECESSARY, EMAIL_MARKETING], None),  # `necessary` is always on: it says nothing
        ("allow_all", [EMAIL_MARKETING], None),
        ("withdrawn", [EMAIL_MARKETING], None),
        ("deny_all", [NECESSARY, EMAIL_MARKETING], None),
        ("expired", [EMAIL_MARKETING, "sms"], None),
        # ...while naming one governed scope beside it still decides, and `necessary` alone still denies.
        ("allow_selected", [BEHAVIOURAL, EMAIL_MARKETING], {NECESSARY, BEHAVIOURAL}),
        ("withdrawn", [NECESSARY], {NECESSARY}),
        ("deny_all", [NECESSARY], {NECESSARY}),
    ],
)
def test_each_enhanced_consent_event_type(kind: str, given: list[str], expected: set[str] | None) -> None:
    assert scopes_of(kind, given) == (None if expected is None else frozenset(expected))


def test_the_ledger_keeps_the_latest_choice_and_reports_changes() -> None:
    ledger = ConsentLedger(own_app_id="daily-current")
    assert ledger.get("r1") is None
    before, after = ledger.observe(consent_event("r1", "allow_all", [], at=10))
    assert before is None and after.allows(BEHAVIOURAL)
    assert ledger.observe(consent_event("r1", "deny_all", [], at=5)) is None  # older than the current choice
    assert ledger.observe(consent_event("r1", "pending", [], at=20)) is None  # decides nothing
    before, after = ledger.observe(consent_event("r1", "withdrawn", [], at=30))
    assert before.allows(BEHAVIOURAL) and not after.allows(BEHAVIOURAL) and after.event_type == "withdrawn"
    assert ledger.observe(page_view("r1")) is None

    restored = ConsentLedger(own_app_id="daily-current")
    restored.load(ledger.dump())
    assert restored.get("r1") == ledger.get("r1")
    restored.forget(["r1"])
    assert restored.get("r1") is None


def test_who_may_be_profiled() -> None:
    ledger = ConsentLedger({"partner": "require_consent"}, own_app_id="daily-current")
    assert ledger.may_profile(page_view("x", app_id="someone-else"))  # Signals profiles by default
    assert ledger.may_profile(page_view("x"))  # no app id: the default policy too
    assert not ledger.may_profile(page_view("x", app_id="partner"))
    assert not ledger.may_profile(page_view("x", app_id="daily-current"))
    assert ledger.may_profile(consent_event("x", "deny_all", []))  # recording a choice is always allowed
    ledger.observe(consent_event("x", "allow_selected", ["contextual"]))
    assert not ledger.may_profile(page_view("x", app_id="daily-current"))
    ledger.observe(consent_event("x", "allow_selected", ["behavioural"]))
    assert ledger.may_profile(page_view("x", app_id="daily-current"))
    assert not ledger.may_profile(page_view(None, app_id="daily-current"))  # no id, no consent
    # The newsroom's own app id cannot be configured out of consent.
    assert ConsentLedger({"daily-current": "profile"}, own_app_id="daily-current").policy("daily-current") == (
        "require_consent"
    )


def test_an_email_marketing_choice_leaves_the_devices_profiling_consent_alone() -> None:
    ledger = ConsentLedger(own_app_id="daily-current")
    ledger.observe(consent_event("r1", "allow_all", [], at=10))
    for at, kind in enumerate(("allow_selected", "withdrawn", "deny_all", "allow_all"), start=20):
        assert ledger.observe(consent_event("r1", kind, [NECESSARY, EMAIL_MARKETING], at=at)) is None
    choice = ledger.get("r1")
    assert choice is not None and choice.allows(BEHAVIOURAL) and choice.at == 10
    assert ledger.may_profile(page_view("r1", app_id="daily-current"))
    assert ledger.take_changed() == {"r1"}  # the first choice only
    # A reader who never chose keeps no choice either.
    assert ledger.observe(consent_event("r2", "allow_selected", [EMAIL_MARKETING])) is None
    assert ledger.get("r2") is None


def test_the_email_app_is_profiled_by_default() -> None:
    """Mails go only to readers who confirmed them; their events carry a user_id and no device to ask."""
    assert email_app_id("daily-current") == "daily-current-email"
    ledger = ConsentLedger(own_app_id="daily-current")
    assert ledger.policy("daily-current-email") == PROFILE
    opened = page_view(None, app_id="daily-current-email", user_id="ada")
    assert ledger.may_profile(opened)
    assert not ledger.may_profile(page_view(None, app_id="daily-current", user_id="ada"))
    # Settings may still say otherwise, and another site's e-mail app is not ours to decide.
    strict = ConsentLedger({"daily-current-email": REQUIRE_CONSENT}, own_app_id="daily-current")
    assert not strict.may_profile(opened)
    assert ConsentLedger({"partner-email": REQUIRE_CONSENT}, "daily-current").policy("partner-email") == (
        REQUIRE_CONSENT
    )


def test_anonymised_events_keep_the_content_and_lose_every_identifier() -> None:
    event = self_describing(
        ARTICLE_SCHEMA,
        {"slug": "a", "category": "sport"},
        user="r1",
        domain_sessionid="s1",
        user_id="u1",
        user_ipaddress="10.0.0.1",
        network_userid="n1",
        useragent="Mozilla/5.0",
        user_fingerprint="4048966212",
        mac_address="12:34:56:78:9A:BC",
        domain_sessionidx=7,
        page_urlpath="/article/a",
    )
    event.entities = [
        {"schema": "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2", "data": {"userId": "r1"}},
        {"schema": "iglu:com.example/page/jsonschema/1-0-0", "data": {"kind": "news"}},
    ]
    clean = anonymised(event)
    text = clean.to_json().decode()
    for identifier in ("r1", "s1", "u1", "10.0.0.1", "n1", "Mozilla", "4048966212", "12:34:56:78:9A:BC"):
        assert identifier not in text
    assert "domain_sessionidx" not in clean.atomic
    assert clean.event_data == event.event_data and clean.atomic["page_urlpath"] == "/article/a"
    assert clean.event_id == event.event_id and clean.timestamp == event.timestamp
    assert [e["data"] for e in clean.entities] == [{"kind": "news"}]
    assert event.atomic["domain_userid"] == "r1"  # the original is untouched


def test_identity_links() -> None:
    links = IdentityLinks()
    assert not links.observe(page_view("laptop"))  # anonymous: no link
    assert links.observe(page_view("laptop", user_id="ada"))
    assert not links.observe(page_view("laptop", user_id="ada"))  # known already
    assert links.observe(page_view("phone", user_id="ada"))
    assert links.devices("ada") == ["laptop", "phone"] and links.user_of("phone") == "ada"
    restored = IdentityLinks()
    restored.load(links.dump())
    assert restored.devices("ada") == ["laptop", "phone"]
    restored.forget(domain_userids=["laptop"])
    assert restored.devices("ada") == ["phone"] and restored.user_of("laptop") is None
    restored.forget(user_ids=["ada"])
    assert restored.devices("ada") == [] and restored.user_of("phone") is None and restored.dump() == {}


def test_merged_attributes_count_each_event_once() -> None:
    engine = AttributeEngine([reader_profile_group(["sport", "science"])])
    for device, slug, category, at in [
        ("laptop", "a", "sport", 1.0),
        ("phone", "b", "science", 2.0),
        ("laptop", "c", "sport", 3.0),
        ("phone", "a", "sport", 4.0),
    ]:
        engine.ingest(self_describing(ARTICLE_SCHEMA, {"slug": slug, "category": category}, user=device, timestamp=at))
    merged = engine.merged_attributes(READER_GROUP, ["laptop", "phone", "laptop"])
    assert merged["article_read_count"] == 4
    assert merged["articles_read"] == ["b", "c", "a"]  # by when each was last read, on any device
    assert merged["article_last_read"] == "a"
    assert merged["sport_read_count"] == 3 and merged["most_read_category"] == "sport"
    assert engine.merged_attributes(READER_GROUP, ["laptop"]) == engine.get_attributes(READER_GROUP, "laptop")
    assert engine.merged_attributes(READER_GROUP, [])["article_read_count"] == 0


def test_windows_merge_bucket_by_bucket() -> None:
    window = make_aggregation("counter", period_seconds=60)
    a = b = None
    for at in (0.0, 30.0, 59.0):
        a = window.update(a, None, at)
    for at in (30.5, 90.0):
        b = window.update(b, None, at)
    merged = window.merge(a, b)
    together = None
    for at in (0.0, 30.0, 30.5, 59.0, 90.0):
        together = window.update(together, None, at)
    for now in (89.0, 95.0, 140.0, 200.0):
        assert window.result(merged, now) == window.result(together, now)
    assert [window.result(merged, now) for now in (89.0, 95.0, 200.0)] == [
        4,
        2,
        None,
    ]  # an empty window has no value; the attribute default (0) applies
    assert window.merge(None, b) == b and window.merge(None, None) is None
