"""Every tracker-protocol parameter: the atomic field it becomes, its canonical type, its limits.

The expectations below are written from Snowplow's documentation (tracker
protocol, canonical event model, the atomic schema 1-0-0 and enrich's
defaults), not read from `media_demo.signals.ingest.protocol`: the tests then check
that the table there says the same, parameter by parameter.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from snowplow_signals import AtomicProperty
from snowplow_tracker import PagePing, StructuredEvent, Subject, Tracker

from media_demo.definitions import ARTICLE_SCHEMA
from media_demo.signals.engine.events import BadEvent, CanonicalEvent
from media_demo.signals.ingest.enrich import InvalidPayloadError, enrich, enrich_or_bad
from media_demo.signals.ingest.iglu import SchemaRegistry
from media_demo.signals.ingest.protocol import BY_NAME, DERIVED_LIMITS, IGNORED, PYTHON_TYPES, Kind
from media_demo.tracking import InProcessEmitter

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_TIME = 1_800_000_000.0
EID = "0b9e1f7a-3c2d-4e5f-8a9b-7c6d5e4f3a21"
DUID = "6d1c2f0e-8a43-4b5e-9f2d-1c0b7a6e5d41"
BASE = {"e": "pv", "eid": EID, "duid": DUID}
ARTICLE = {"slug": "comet-tail", "title": "Comet tail", "category": "science"}
ARTICLE_EVENT = {
    "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
    "data": {"schema": ARTICLE_SCHEMA, "data": ARTICLE},
}
CONTEXTS = {
    "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
    "data": [{"schema": ARTICLE_SCHEMA, "data": ARTICLE}],
}
# Fields a canonical event has that are not atomic columns: where `ue_*` and `co`/`cx` go.
EVENT_DATA, ENTITIES = "<event_data>", "<entities>"


def b64(document: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode().rstrip("=")


def iso(millis: int) -> str:
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# parameter -> (text a tracker sends, what it becomes, the Python type of each field, limit in characters).
# Limits: the atomic schema's maxLength, except page_url / page_referrer (10,000: enrich's default and the
# canonical event docs) and mac_address, which is not in the atomic schema (the generic 8,192 cap).
ROWS: dict[str, tuple[str, dict[str, Any], type, int | None]] = {
    "e": ("se", {"event": "struct", "event_vendor": "com.google.analytics", "event_name": "event"}, str, None),
    "eid": (EID.upper(), {"event_id": EID}, str, None),
    "tid": ("352583", {"txn_id": 352583}, int, None),
    "ue_pr": (orjson.dumps(ARTICLE_EVENT).decode(), {EVENT_DATA: ARTICLE, "event": "unstruct"}, dict, None),
    "ue_px": (b64(ARTICLE_EVENT), {EVENT_DATA: ARTICLE, "event_name": "article_detail"}, dict, None),
    "co": (orjson.dumps(CONTEXTS).decode(), {ENTITIES: [{"schema": ARTICLE_SCHEMA, "data": ARTICLE}]}, list, None),
    "cx": (b64(CONTEXTS), {ENTITIES: [{"schema": ARTICLE_SCHEMA, "data": ARTICLE}]}, list, None),
    "aid": ("daily-current", {"app_id": "daily-current"}, str, 255),
    "p": ("mob", {"platform": "mob"}, str, None),
    "tna": ("sp1", {"name_tracker": "sp1"}, str, 128),
    "tv": ("js-4.1.0", {"v_tracker": "js-4.1.0"}, str, 100),
    "cv": ("ssc-3.2.0", {"v_collector": "ssc-3.2.0"}, str, 100),
    "dtm": ("1361553733313", {"dvce_created_tstamp": iso(1361553733313)}, str, None),
    "stm": ("1361553733371", {"dvce_sent_tstamp": iso(1361553733371)}, str, None),
    "ttm": ("1361553733000", {"true_tstamp": iso(1361553733000)}, str, None),
    "tz": ("Europe/London", {"os_timezone": "Europe/London"}, str, 255),
    "uid": ("jon.doe@example.com", {"user_id": "jon.doe@example.com"}, str, 255),
    "duid": ("aeb1691c5a0ee5a6", {"domain_userid": "aeb1691c5a0ee5a6"}, str, 128),
    "nuid": (
        "ecdff4d0-9175-40ac-a8bb-325c49733607",
        {"network_userid": "ecdff4d0-9175-40ac-a8bb-325c49733607"},
        str,
        128,
    ),
    "tnuid": ("tn-1", {"network_userid": "tn-1"}, str, 128),
    "sid": (
        "9C65E7F3-8E8E-470D-B243-910B5B300DA0",
        {"domain_sessionid": "9c65e7f3-8e8e-470d-b243-910b5b300da0"},
        str,
        None,
    ),
    "vid": ("3", {"domain_sessionidx": 3}, int, None),
    "ip": ("203.0.113.9, 10.0.0.1", {"user_ipaddress": "203.0.113.9"}, str, 128),
    "fp": ("4048966212", {"user_fingerprint": "4048966212"}, str, 128),
    "mac": ("12:34:56:78:9A:BC", {"mac_address": "12:34:56:78:9A:BC"}, str, 8192),
    "url": ("https://dailycurrent.example/a?b=c", {"page_url": "https://dailycurrent.example/a?b=c"}, str, 10_000),
    "page": ("Tarot cards", {"page_title": "Tarot cards"}, str, 2000),
    "refr": ("https://example.org/", {"page_referrer": "https://example.org/"}, str, 10_000),
    "cs": ("UTF-8", {"doc_charset": "UTF-8"}, str, 128),
    "ds": ("1090x1152", {"doc_width": 1090, "doc_height": 1152}, int, None),
    "ua": ("Mozilla/5.0 (X11; Linux x86_64)", {"useragent": "Mozilla/5.0 (X11; Linux x86_64)"}, str, 1000),
    "lang": ("en-GB", {"br_lang": "en-GB"}, str, 255),
    "cd": ("24", {"br_colordepth": "24"}, str, 12),
    "cookie": ("1", {"br_cookies": True}, bool, None),
    "res": ("1920x1080", {"dvce_screenwidth": 1920, "dvce_screenheight": 1080}, int, None),
    "vp": ("1105x390", {"br_viewwidth": 1105, "br_viewheight": 390}, int, None),
    "f_pdf": ("1", {"br_features_pdf": True}, bool, None),
    "f_fla": ("0", {"br_features_flash": False}, bool, None),
    "f_java": ("1", {"br_features_java": True}, bool, None),
    "f_dir": ("0", {"br_features_director": False}, bool, None),
    "f_qt": ("1", {"br_features_quicktime": True}, bool, None),
    "f_realp": ("0", {"br_features_realplayer": False}, bool, None),
    "f_wma": ("1", {"br_features_windowsmedia": True}, bool, None),
    "f_gears": ("0", {"br_features_gears": False}, bool, None),
    "f_ag": ("1", {"br_features_silverlight": True}, bool, None),
    "pp_mix": ("0", {"pp_xoffset_min": 0}, int, None),
    "pp_max": ("7", {"pp_xoffset_max": 7}, int, None),
    "pp_miy": ("-12", {"pp_yoffset_min": -12}, int, None),
    "pp_may": ("746", {"pp_yoffset_max": 746}, int, None),
    "se_ca": ("ecomm", {"se_category": "ecomm"}, str, 1000),
    "se_ac": ("add-to-basket", {"se_action": "add-to-basket"}, str, 1000),
    "se_la": ("pbz00123", {"se_label": "pbz00123"}, str, 4096),
    "se_pr": ("HD", {"se_property": "HD"}, str, 1000),
    "se_va": ("3", {"se_value": 3.0}, float, None),
    "ev_ca": ("ecomm", {"se_category": "ecomm"}, str, 1000),
    "ev_ac": ("add-to-basket", {"se_action": "add-to-basket"}, str, 1000),
    "ev_la": ("pbz00123", {"se_label": "pbz00123"}, str, 4096),
    "ev_pr": ("HD", {"se_property": "HD"}, str, 1000),
    "ev_va": ("9.99", {"se_value": 9.99}, float, None),
    "tr_id": ("12345", {"tr_orderid": "12345"}, str, 255),
    "tr_af": ("westernWear", {"tr_affiliation": "westernWear"}, str, 255),
    "tr_tt": ("19.99", {"tr_total": 19.99}, float, None),
    "tr_tx": ("4.99", {"tr_tax": 4.99}, float, None),
    "tr_sh": ("2.99", {"tr_shipping": 2.99}, float, None),
    "tr_ci": ("London", {"tr_city": "London"}, str, 255),
    "tr_st": ("Denver", {"tr_state": "Denver"}, str, 255),
    "tr_co": ("United Kingdom", {"tr_country": "United Kingdom"}, str, 255),
    "tr_cu": ("GBP", {"tr_currency": "GBP"}, str, 3),
    "ti_id": ("12345", {"ti_orderid": "12345"}, str, 255),
    "ti_sk": ("pbz0025", {"ti_sku": "pbz0025"}, str, 255),
    "ti_nm": ("black-tarot", {"ti_name": "black-tarot"}, str, 255),
    "ti_na": ("black-tarot", {"ti_name": "black-tarot"}, str, 255),
    "ti_ca": ("tarot", {"ti_category": "tarot"}, str, 255),
    "ti_pr": ("7.99", {"ti_price": 7.99}, float, None),
    "ti_qu": ("2", {"ti_quantity": 2}, int, None),
    "ti_cu": ("EUR", {"ti_currency": "EUR"}, str, 3),
}
# What each event type needs besides the parameter under test.
NEEDS = {"ue_pr": {"e": "ue"}, "ue_px": {"e": "ue"}}


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_folder(ROOT / "data" / "schemas")


def enriched(registry: SchemaRegistry, **params: Any) -> CanonicalEvent:
    return enrich({**BASE, **params}, registry, collector_time=COLLECTOR_TIME)


def reason(registry: SchemaRegistry, **params: Any) -> str:
    with pytest.raises(InvalidPayloadError) as caught:
        enriched(registry, **params)
    return str(caught.value)


def outcome(event: CanonicalEvent) -> dict[str, Any]:
    return {**event.atomic, EVENT_DATA: event.event_data, ENTITIES: event.entities}


# ------------------------------------------------------------ the table itself


def test_every_parameter_of_the_table_is_listed_here_and_no_other() -> None:
    assert set(ROWS) == set(BY_NAME)
    assert not IGNORED & set(BY_NAME)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_the_table_maps_the_parameter_as_documented(name: str) -> None:
    _text, becomes, python_type, limit = ROWS[name]
    parameter = BY_NAME[name]
    atomic = [f for f in becomes if f not in (EVENT_DATA, ENTITIES)]
    if parameter.kind is Kind.JSON:  # the event's data (an object) or its entities (a list)
        assert parameter.fields == (("unstruct_event",) if name.startswith("ue_") else ("contexts",))
    else:
        assert PYTHON_TYPES[parameter.kind] is python_type
        if parameter.kind is not Kind.EVENT:
            assert parameter.fields == tuple(atomic)
    assert parameter.max_length == limit


def test_every_mapped_field_is_a_canonical_atomic_field() -> None:
    """Names as Snowplow spells them (the Signals SDK's list); `mac_address` is the protocol's IoT extra."""
    canonical = set(get_args(AtomicProperty.model_fields["name"].annotation))
    mapped = {field for parameter in BY_NAME.values() for field in parameter.fields}
    assert mapped - canonical == {"mac_address"}
    assert set(DERIVED_LIMITS) <= canonical


# ------------------------------------------------------- each parameter, typed


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_parameter_becomes_its_field_with_its_type(registry: SchemaRegistry, name: str) -> None:
    text, becomes, python_type, _limit = ROWS[name]
    got = outcome(enriched(registry, **{**NEEDS.get(name, {}), name: text}))
    for field, value in becomes.items():
        assert got[field] == value, field
        if field not in ("event", "event_vendor", "event_name"):
            assert type(got[field]) is python_type, (field, got[field])


@pytest.mark.parametrize("name", sorted(n for n, row in ROWS.items() if row[1] and row[2] is str and row[3]))
def test_text_of_exactly_the_limit_is_kept_and_one_more_is_a_bad_event(registry: SchemaRegistry, name: str) -> None:
    _text, becomes, _type, limit = ROWS[name]
    assert limit is not None
    (field,) = becomes
    exact = longest_valid(name, limit)
    assert len(exact) == limit
    assert enriched(registry, **{name: exact}).atomic[field] == exact
    problem = reason(registry, **{name: exact + "a"})
    assert f"field '{name}' ({field}) is longer than {limit} characters ({limit + 1})" in problem
    assert "a" * 200 not in problem  # the reason does not repeat the whole value


def longest_valid(name: str, limit: int) -> str:
    """A value of exactly `limit` characters whose derived fields are within theirs too."""
    if name == "url":  # path <= 3,000, query <= 6,000, fragment <= 3,000
        start = "https://dailycurrent.example/" + "p" * 2900 + "?" + "q" * 5900 + "#"
        return start + "f" * (limit - len(start))
    if name == "refr":  # path and query <= 6,000 each
        start = "https://example.org/" + "p" * 4000 + "?"
        return start + "q" * (limit - len(start))
    if name == "ip":
        return "2" * limit
    return "x" * limit


WRONG_SHAPES: dict[Kind, tuple[list[str], str]] = {
    Kind.INTEGER: (["1.5", "abc", "1e3", " 3", "3 ", "\u0663", "0x10", "1_000"], "must be an integer"),
    Kind.DECIMAL: (
        ["abc", "NaN", "Infinity", "-inf", "1_000", "0x10", "1,5", " 2", "2.5.1", "e5"],
        "must be a decimal",
    ),
    Kind.BOOLEAN: (["true", "false", "2", "yes", " 1", "01"], "must be 1 or 0"),
    Kind.DIMENSIONS: (
        ["1920", "1920x", "x1080", "1920X1080", "1920x1080x2", "-1x5", "1.5x2", "1920 x 1080"],
        "must be WIDTHxHEIGHT in whole pixels",
    ),
    Kind.UUID: (
        ["not-a-uuid", EID.replace("-", ""), "{" + EID + "}", "urn:uuid:" + EID, EID + "0"],
        "must be a UUID",
    ),
    Kind.PLATFORM: (["desktop", "WEB", "ios", "web "], "must be one of app, cnsl, headset, iot, mob, pc, srv, tv, web"),
    Kind.TIMESTAMP: (["yesterday", "1.5e12", "1361553733313.5", "2013-02-22T17:22:13Z"], "must be epoch milliseconds"),
}
OUT_OF_RANGE: dict[Kind, tuple[list[str], str]] = {
    Kind.INTEGER: (["2147483648", "-2147483649", "9" * 40], "is out of range for a 32-bit integer"),
    Kind.DECIMAL: (["1e400", "-1e400"], "is out of range for a double"),
    Kind.DIMENSIONS: (["2147483648x1", "1x2147483648", "9" * 30 + "x1"], "is out of range for 32-bit integers"),
    Kind.TIMESTAMP: (["-1", str(10**16), "9" * 30], "is out of range (epoch milliseconds from 1970 up to year 9999)"),
}
SHAPE_CASES = [
    (name, value, problem)
    for cases in (WRONG_SHAPES, OUT_OF_RANGE)
    for kind, (values, problem) in cases.items()
    for name, parameter in sorted(BY_NAME.items())
    if parameter.kind is kind
    for value in values
]


@pytest.mark.parametrize(("name", "value", "problem"), SHAPE_CASES)
def test_a_value_of_the_wrong_shape_or_range_is_a_bad_event_naming_parameter_and_field(
    registry: SchemaRegistry, name: str, value: str, problem: str
) -> None:
    fields = ", ".join(f for f in ROWS[name][1] if f not in ("event_vendor", "event_name"))
    result = enrich_or_bad({**BASE, name: value}, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert f"field '{name}' ({fields}) {problem}" in result.reason
    assert orjson.loads(result.payload)[name] == value  # the bad event keeps what was sent


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("vid", "2147483647", "domain_sessionidx", 2147483647),
        ("pp_mix", "-2147483648", "pp_xoffset_min", -2147483648),
        ("vid", "+5", "domain_sessionidx", 5),
        ("vid", "007", "domain_sessionidx", 7),
        ("se_va", "1e5", "se_value", 100000.0),
        ("se_va", ".5", "se_value", 0.5),
        ("se_va", "-0.25", "se_value", -0.25),
        ("se_va", "1.", "se_value", 1.0),
        ("se_va", "1E-7", "se_value", 1e-7),
        ("se_va", "1e+21", "se_value", 1e21),  # JavaScript's Number.toString of a large value
        ("se_va", "0.30000000000000004", "se_value", 0.30000000000000004),
        ("res", "0x0", "dvce_screenwidth", 0),
        ("dtm", "0", "dvce_created_tstamp", "1970-01-01T00:00:00.000Z"),
        ("dtm", "253402300799999", "dvce_created_tstamp", "9999-12-31T23:59:59.999Z"),
        ("p", "headset", "platform", "headset"),
        ("ip", "2001:db8::1", "user_ipaddress", "2001:db8::1"),
        ("ip", "203.0.113.9|10.0.0.1", "user_ipaddress", "203.0.113.9"),
    ],
)
def test_values_at_the_edges_are_accepted(
    registry: SchemaRegistry, name: str, value: str, field: str, expected: Any
) -> None:
    got = enriched(registry, **{name: value}).atomic[field]
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize("name", sorted(n for n, p in BY_NAME.items() if p.kind in (Kind.INTEGER, Kind.DECIMAL)))
@pytest.mark.parametrize("value", ["null", "NULL", ""])
def test_null_numbers_and_empty_values_are_absent(registry: SchemaRegistry, name: str, value: str) -> None:
    """The JavaScript tracker once sent "null" for a missing number; enrich reads it as no value."""
    event = enriched(registry, **{name: value})
    assert not set(BY_NAME[name].fields) & set(event.atomic)


@pytest.mark.parametrize("value", [{"a": 1}, ["x"], True])
def test_a_value_that_is_not_text_is_a_bad_event(registry: SchemaRegistry, value: Any) -> None:
    assert f"field 'page' (page_title) must be text, got a {type(value).__name__}" in reason(registry, page=value)


def test_numbers_from_an_in_process_caller_are_read_as_their_text(registry: SchemaRegistry) -> None:
    atomic = enriched(registry, vid=4, se_va=2.5, tr_tt=10, page=7).atomic
    assert (atomic["domain_sessionidx"], atomic["se_value"], atomic["tr_total"], atomic["page_title"]) == (
        4,
        2.5,
        10.0,
        "7",
    )
    assert type(atomic["tr_total"]) is float


def test_every_refused_value_is_in_the_reason(registry: SchemaRegistry) -> None:
    problem = reason(registry, vid="x", se_va="y", duid="d" * 129, res="big")
    assert problem.split("; ") == [
        "field 'duid' (domain_userid) is longer than 128 characters (129)",
        "field 'vid' (domain_sessionidx) must be an integer, got 'x'",
        "field 'se_va' (se_value) must be a decimal number, got 'y'",
        "field 'res' (dvce_screenwidth, dvce_screenheight) must be WIDTHxHEIGHT in whole pixels, got 'big'",
    ]


def test_a_500_character_domain_userid_is_a_bad_event(registry: SchemaRegistry) -> None:
    result = enrich_or_bad({**BASE, "duid": "d" * 500}, registry, collector_time=COLLECTOR_TIME)
    assert isinstance(result, BadEvent)
    assert result.reason == "field 'duid' (domain_userid) is longer than 128 characters (500)"


# ----------------------------------------------- precedence and legacy spellings


@pytest.mark.parametrize(
    ("weaker", "stronger", "field"),
    [
        ("nuid", "tnuid", "network_userid"),
        ("ev_ca", "se_ca", "se_category"),
        ("ev_ac", "se_ac", "se_action"),
        ("ev_la", "se_la", "se_label"),
        ("ev_pr", "se_pr", "se_property"),
        ("ev_va", "se_va", "se_value"),
        ("ti_na", "ti_nm", "ti_name"),
    ],
)
def test_the_stronger_spelling_wins_whatever_the_order(
    registry: SchemaRegistry, weaker: str, stronger: str, field: str
) -> None:
    assert BY_NAME[weaker].yields_to == stronger
    for ordered in ({weaker: "1", stronger: "2"}, {stronger: "2", weaker: "1"}):
        assert enriched(registry, **ordered).atomic[field] in ("2", 2.0)
    assert enriched(registry, **{weaker: "1", stronger: ""}).atomic[field] in ("1", 1.0)


def test_a_refused_weaker_spelling_is_ignored_when_the_stronger_one_is_sent(registry: SchemaRegistry) -> None:
    assert enriched(registry, ev_va="oops", se_va="2").atomic["se_value"] == 2.0


def test_legacy_ev_event_is_a_structured_event(registry: SchemaRegistry) -> None:
    atomic = enriched(registry, e="ev", ev_ca="video", ev_ac="play", ev_va="12.5").atomic
    assert (atomic["event"], atomic["event_name"], atomic["se_category"], atomic["se_value"]) == (
        "struct",
        "event",
        "video",
        12.5,
    )


def test_ignored_parameters_leave_no_trace(registry: SchemaRegistry) -> None:
    plain = enriched(registry).atomic
    assert enriched(registry, **dict.fromkeys(IGNORED, "x")).atomic.keys() == plain.keys()


# ---------------------------------------------- fields derived from a parameter


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"url": "https://d.example/?" + "q" * 6001}, "atomic field page_urlquery (from 'url') is longer than 6000"),
        ({"url": "https://d.example/" + "p" * 3000}, "atomic field page_urlpath (from 'url') is longer than 3000"),
        ({"url": "https://d.example/#" + "f" * 3001}, "atomic field page_urlfragment (from 'url') is longer than 3000"),
        ({"url": "https://" + "h" * 256 + ".example/"}, "atomic field page_urlhost (from 'url') is longer than 255"),
        ({"url": "s" * 17 + "://d.example/"}, "atomic field page_urlscheme (from 'url') is longer than 16"),
        (
            {"url": "https://d.example/?utm_campaign=" + "c" * 256},
            "atomic field mkt_campaign (from 'url') is longer than 255",
        ),
        (
            {"url": "https://d.example/?utm_content=" + "c" * 501},
            "atomic field mkt_content (from 'url') is longer than 500",
        ),
        (
            {"url": "https://d.example/?gclid=" + "g" * 1001},
            "atomic field mkt_clickid (from 'url') is longer than 1000",
        ),
        (
            {"refr": "https://www.google.com/search?q=" + "t" * 256},
            "atomic field refr_term (from 'refr') is longer than 255",
        ),
        ({"refr": "https://r.example/" + "p" * 6000}, "atomic field refr_urlpath (from 'refr') is longer than 6000"),
        (
            {"ua": "Mozilla/5.0 (compatible; " + "A" * 60 + "bot/1.0)"},
            "atomic field br_family (from 'ua') is longer than 50",
        ),
    ],
)
def test_a_derived_field_beyond_its_length_is_a_bad_event(
    registry: SchemaRegistry, params: dict[str, str], problem: str
) -> None:
    assert problem in reason(registry, **params)


def test_derived_fields_at_their_limits_are_kept(registry: SchemaRegistry) -> None:
    url = "https://d.example/" + "p" * 2999 + "?utm_campaign=" + "c" * 255
    atomic = enriched(registry, url=url, refr="https://www.google.com/search?q=" + "t" * 255).atomic
    assert len(atomic["page_urlpath"]) == 3000
    assert len(atomic["mkt_campaign"]) == 255
    assert len(atomic["refr_term"]) == 255


# ------------------------------------------------- from the real Python tracker


@pytest.mark.filterwarnings("ignore:track_ecommerce_transaction:DeprecationWarning")
def test_the_python_trackers_subject_and_events_arrive_typed(registry: SchemaRegistry) -> None:
    subject = (
        Subject()
        .set_platform("mob")
        .set_domain_user_id(DUID)
        .set_domain_session_index(7)
        .set_screen_resolution(1170, 2532)
        .set_viewport(390, 844)
        .set_color_depth(32)
        .set_timezone("Europe/Paris")
        .set_lang("fr-FR")
        .set_ip_address("198.51.100.7")
        .set_network_user_id("ecdff4d0-9175-40ac-a8bb-325c49733607")
    )
    sink: list[dict[str, str]] = []
    tracker = Tracker(namespace="t", emitters=InProcessEmitter(sink.append), app_id="daily-current", subject=subject)
    tracker.track(StructuredEvent(category="video", action="play", label="trailer", property_="hd", value=2.5))
    tracker.track(PagePing(page_url="https://d.example/", min_x=0, max_x=10, min_y=-4, max_y=900))
    tracker.track_ecommerce_transaction(
        order_id="o-1",
        total_value=19.99,
        tax_value=4,
        shipping=0.5,
        currency="GBP",
        items=[{"sku": "s-1", "price": 7.99, "quantity": 2, "name": "Tarot"}],
    )
    struct, ping, transaction, item = (enrich(p, registry, COLLECTOR_TIME).atomic for p in sink)
    expected = {
        "platform": "mob",
        "domain_sessionidx": 7,
        "dvce_screenwidth": 1170,
        "dvce_screenheight": 2532,
        "br_viewwidth": 390,
        "br_viewheight": 844,
        "br_colordepth": "32",
        "os_timezone": "Europe/Paris",
        "br_lang": "fr-FR",
        "user_ipaddress": "198.51.100.7",
        "network_userid": "ecdff4d0-9175-40ac-a8bb-325c49733607",
    }
    for atomic in (struct, ping, transaction, item):
        assert {k: atomic[k] for k in expected} == expected
        assert [type(atomic[k]) for k in expected] == [type(v) for v in expected.values()]
    assert (struct["se_category"], struct["se_label"], struct["se_property"], struct["se_value"]) == (
        "video",
        "trailer",
        "hd",
        2.5,
    )
    offsets = ("pp_xoffset_min", "pp_xoffset_max", "pp_yoffset_min", "pp_yoffset_max")
    assert [ping[k] for k in offsets] == [0, 10, -4, 900]
    assert (transaction["tr_total"], transaction["tr_tax"], transaction["tr_shipping"]) == (19.99, 4.0, 0.5)
    assert type(transaction["tr_tax"]) is float
    assert (item["ti_sku"], item["ti_price"], item["ti_quantity"], item["ti_currency"]) == ("s-1", 7.99, 2, "GBP")
    assert type(item["ti_quantity"]) is int


def test_typed_fields_survive_the_json_round_trip(registry: SchemaRegistry) -> None:
    params = {name: row[0] for name, row in ROWS.items() if name not in ("e", "ue_pr", "ue_px", "co", "ev_va")}
    event = enrich({**params, **NEEDS["ue_px"], "ue_px": ROWS["ue_px"][0], "cx": ROWS["cx"][0]}, registry)
    back = CanonicalEvent.from_json(event.to_json())
    assert back == event
    assert {k: type(v) for k, v in back.atomic.items()} == {k: type(v) for k, v in event.atomic.items()}
