"""The Snowplow tracker protocol as data: each parameter, the atomic field it fills, its type and limit.

Trackers send every value as text; enrichment gives each field its canonical
type (numbers as numbers, booleans as booleans, timestamps as ISO 8601 UTC
text as in Snowplow's enriched JSON) and refuses what the canonical event
cannot hold: a value of the wrong shape, or beyond the atomic schema's limits
(`iglu:com.snowplowanalytics.snowplow/atomic/jsonschema/1-0-0` lengths, the
32-bit integers and the UUIDs Snowplow's enrich parses). Such a payload is a
bad event whose reason names the parameter and the field, as enrich reports
`atomic_field` errors.

One table (`PARAMETERS`) says all of it, so a parameter cannot be half-mapped:
the enrichment loop (`read_parameters`) and the tests both read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Kind(Enum):
    """How a parameter's text becomes its atomic value."""

    TEXT = "text"  # str, at most `max_length` characters
    UUID = "uuid"  # str, a canonical UUID (8-4-4-4-12 hex), stored lower-case
    PLATFORM = "platform"  # str, one of PLATFORMS
    IP = "ip"  # str, the first address of a list ("a, b"), as enrich keeps it
    INTEGER = "integer"  # int, 32-bit signed (enrich parses a Java Integer)
    DECIMAL = "decimal"  # float, finite (a JSON number)
    BOOLEAN = "boolean"  # bool, from "1" or "0" only
    DIMENSIONS = "dimensions"  # "WIDTHxHEIGHT" -> two ints
    TIMESTAMP = "timestamp"  # epoch milliseconds -> ISO 8601 UTC text
    EVENT = "event"  # the event type code: read by `enrich` itself
    JSON = "json"  # self-describing JSON, plain or base64url: read by `enrich` itself


# The Python type each kind gives its atomic field(s).
PYTHON_TYPES: dict[Kind, type] = {
    Kind.TEXT: str,
    Kind.UUID: str,
    Kind.PLATFORM: str,
    Kind.IP: str,
    Kind.INTEGER: int,
    Kind.DECIMAL: float,
    Kind.BOOLEAN: bool,
    Kind.DIMENSIONS: int,
    Kind.TIMESTAMP: str,
    Kind.EVENT: str,
    Kind.JSON: dict,  # the event's data; `co`/`cx` give a list of entities
}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Epoch milliseconds a device timestamp may take: 1970 up to the end of year 9999 (datetime's range).
MAX_EPOCH_MILLIS = 253_402_300_799_999
# The limit for a documented parameter whose field is not in the atomic schema (`mac`).
MAX_FIELD_CHARS = 8192
PLATFORMS = frozenset({"web", "mob", "pc", "srv", "app", "tv", "cnsl", "iot", "headset"})


@dataclass(frozen=True, slots=True)
class Parameter:
    """One tracker-protocol parameter.

    `yields_to` marks a legacy or lower-priority spelling: when the other parameter
    is sent too, its value wins (`tnuid` over `nuid`, `se_ca` over `ev_ca`), whatever
    their order in the payload.
    """

    name: str
    fields: tuple[str, ...]
    kind: Kind
    max_length: int | None = None
    yields_to: str | None = None


def _text(name: str, field: str, limit: int, yields_to: str | None = None) -> Parameter:
    return Parameter(name, (field,), Kind.TEXT, limit, yields_to)


def _typed(name: str, kind: Kind, *fields: str, yields_to: str | None = None) -> Parameter:
    return Parameter(name, fields, kind, yields_to=yields_to)


# Every parameter of the tracker protocol that the browser, Node, Python, iOS and Android
# trackers send, and the legacy ones enrich still reads. Lengths are the atomic schema's
# (page_url / page_referrer: 10,000, enrich's default, wider than the schema's 4,096).
PARAMETERS: tuple[Parameter, ...] = (
    # Event
    _typed("e", Kind.EVENT, "event"),
    _typed("eid", Kind.UUID, "event_id"),
    _typed("tid", Kind.INTEGER, "txn_id"),  # deprecated, still parsed
    _typed("ue_pr", Kind.JSON, "unstruct_event"),
    _typed("ue_px", Kind.JSON, "unstruct_event"),
    _typed("co", Kind.JSON, "contexts"),
    _typed("cx", Kind.JSON, "contexts"),
    # Application and tracker
    _text("aid", "app_id", 255),
    _typed("p", Kind.PLATFORM, "platform"),
    _text("tna", "name_tracker", 128),
    _text("tv", "v_tracker", 100),
    _text("cv", "v_collector", 100),
    # Time
    _typed("dtm", Kind.TIMESTAMP, "dvce_created_tstamp"),
    _typed("stm", Kind.TIMESTAMP, "dvce_sent_tstamp"),
    _typed("ttm", Kind.TIMESTAMP, "true_tstamp"),
    _text("tz", "os_timezone", 255),
    # User and session
    _text("uid", "user_id", 255),
    _text("duid", "domain_userid", 128),
    _text("nuid", "network_userid", 128, yields_to="tnuid"),
    _text("tnuid", "network_userid", 128),
    _typed("sid", Kind.UUID, "domain_sessionid"),
    _typed("vid", Kind.INTEGER, "domain_sessionidx"),
    Parameter("ip", ("user_ipaddress",), Kind.IP, 128),
    _text("fp", "user_fingerprint", 128),
    _text("mac", "mac_address", MAX_FIELD_CHARS),  # IoT; not in the atomic schema, enrich drops it
    # Page and document
    _text("url", "page_url", 10_000),
    _text("page", "page_title", 2000),
    _text("refr", "page_referrer", 10_000),
    _text("cs", "doc_charset", 128),
    _typed("ds", Kind.DIMENSIONS, "doc_width", "doc_height"),
    # Browser and device
    _text("ua", "useragent", 1000),
    _text("lang", "br_lang", 255),
    _text("cd", "br_colordepth", 12),  # text in the canonical model, though trackers send a number
    _typed("cookie", Kind.BOOLEAN, "br_cookies"),
    _typed("res", Kind.DIMENSIONS, "dvce_screenwidth", "dvce_screenheight"),
    _typed("vp", Kind.DIMENSIONS, "br_viewwidth", "br_viewheight"),
    _typed("f_pdf", Kind.BOOLEAN, "br_features_pdf"),
    _typed("f_fla", Kind.BOOLEAN, "br_features_flash"),
    _typed("f_java", Kind.BOOLEAN, "br_features_java"),
    _typed("f_dir", Kind.BOOLEAN, "br_features_director"),
    _typed("f_qt", Kind.BOOLEAN, "br_features_quicktime"),
    _typed("f_realp", Kind.BOOLEAN, "br_features_realplayer"),
    _typed("f_wma", Kind.BOOLEAN, "br_features_windowsmedia"),
    _typed("f_gears", Kind.BOOLEAN, "br_features_gears"),
    _typed("f_ag", Kind.BOOLEAN, "br_features_silverlight"),
    # Page pings: scroll offsets over the ping period
    _typed("pp_mix", Kind.INTEGER, "pp_xoffset_min"),
    _typed("pp_max", Kind.INTEGER, "pp_xoffset_max"),
    _typed("pp_miy", Kind.INTEGER, "pp_yoffset_min"),
    _typed("pp_may", Kind.INTEGER, "pp_yoffset_max"),
    # Structured events (and their legacy `ev_*` spellings)
    _text("se_ca", "se_category", 1000),
    _text("se_ac", "se_action", 1000),
    _text("se_la", "se_label", 4096),
    _text("se_pr", "se_property", 1000),
    _typed("se_va", Kind.DECIMAL, "se_value"),
    _text("ev_ca", "se_category", 1000, yields_to="se_ca"),
    _text("ev_ac", "se_action", 1000, yields_to="se_ac"),
    _text("ev_la", "se_label", 4096, yields_to="se_la"),
    _text("ev_pr", "se_property", 1000, yields_to="se_pr"),
    _typed("ev_va", Kind.DECIMAL, "se_value", yields_to="se_va"),
    # Legacy ecommerce: transactions
    _text("tr_id", "tr_orderid", 255),
    _text("tr_af", "tr_affiliation", 255),
    _typed("tr_tt", Kind.DECIMAL, "tr_total"),
    _typed("tr_tx", Kind.DECIMAL, "tr_tax"),
    _typed("tr_sh", Kind.DECIMAL, "tr_shipping"),
    _text("tr_ci", "tr_city", 255),
    _text("tr_st", "tr_state", 255),
    _text("tr_co", "tr_country", 255),
    _text("tr_cu", "tr_currency", 3),
    # Legacy ecommerce: transaction items (`ti_na` is an old misspelling of `ti_nm`)
    _text("ti_id", "ti_orderid", 255),
    _text("ti_sk", "ti_sku", 255),
    _text("ti_nm", "ti_name", 255),
    _text("ti_na", "ti_name", 255, yields_to="ti_nm"),
    _text("ti_ca", "ti_category", 255),
    _typed("ti_pr", Kind.DECIMAL, "ti_price"),
    _typed("ti_qu", Kind.INTEGER, "ti_quantity"),
    _text("ti_cu", "ti_currency", 3),
)
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
# Documented once, never mapped by Snowplow's enrich either: accepted and ignored.
IGNORED = frozenset({"evn", "ctype", "ad_ba", "ad_ca", "ad_ad", "ad_uid"})

# Atomic fields that enrichment derives from a parameter, with their schema limits: (limit, source).
DERIVED_LIMITS: dict[str, tuple[int, str]] = {
    "page_urlscheme": (16, "url"),
    "page_urlhost": (255, "url"),
    "page_urlpath": (3000, "url"),
    "page_urlquery": (6000, "url"),
    "page_urlfragment": (3000, "url"),
    "refr_urlscheme": (16, "refr"),
    "refr_urlhost": (255, "refr"),
    "refr_urlpath": (6000, "refr"),
    "refr_urlquery": (6000, "refr"),
    "refr_urlfragment": (3000, "refr"),
    "refr_medium": (25, "refr"),
    "refr_source": (50, "refr"),
    "refr_term": (255, "refr"),
    "mkt_medium": (255, "url"),
    "mkt_source": (255, "url"),
    "mkt_term": (255, "url"),
    "mkt_content": (500, "url"),
    "mkt_campaign": (255, "url"),
    "mkt_clickid": (1000, "url"),  # enrich's default; the schema says 128
    "mkt_network": (64, "url"),
    "br_family": (50, "ua"),
    "br_version": (50, "ua"),
    "os_family": (50, "ua"),
    "dvce_type": (50, "ua"),
}

_INTEGER = re.compile(r"[+-]?[0-9]+")
# What Java's BigDecimal reads (enrich's parser): digits with an optional point and exponent.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIMENSIONS = re.compile(r"([0-9]+)x([0-9]+)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_IP_SEPARATORS = re.compile(r"[,| ]")


class ShapeError(ValueError):
    """A value the field's type cannot hold; the message says why, without the field's name."""


class _Absent:
    """What a converter returns for a value that stands for no value ("null" numbers)."""


ABSENT = _Absent()


def _show(value: Any) -> str:
    """A value for a reason, shortened: reasons are read by people and stored."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _digits(text: str) -> int:
    """Whole-number text as an int, never a huge one: past 19 significant digits, +-10**19 (out of every range)."""
    significant = text.lstrip("+-").lstrip("0")
    if len(significant) > 19:
        return -(10**19) if text.startswith("-") else 10**19
    return int(text)


def integer(text: str) -> int | _Absent:
    """A 32-bit integer; "null" is absent (the legacy JavaScript tracker sends it)."""
    if len(text) < 10 and text.isdigit() and text.isascii():
        return int(text)  # the common case: a small non-negative number
    if _INTEGER.fullmatch(text) is None:
        if text.lower() == "null":
            return ABSENT
        raise ShapeError("must be an integer")
    number = _digits(text)
    if not INT_MIN <= number <= INT_MAX:
        raise ShapeError(f"is out of range for a 32-bit integer ({INT_MIN} to {INT_MAX})")
    return number


def decimal(text: str) -> float | _Absent:
    """A finite double; "null" is absent, as for `integer`."""
    if _DECIMAL.fullmatch(text) is None:
        if text.lower() == "null":
            return ABSENT
        raise ShapeError("must be a decimal number")
    number = float(text)
    if not math.isfinite(number):
        raise ShapeError("is out of range for a double")
    return number


def boolean(text: str) -> bool:
    """A tracker flag: "1" or "0", nothing else."""
    if text == "1":
        return True
    if text == "0":
        return False
    raise ShapeError("must be 1 or 0")


def dimensions(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` (screen, viewport, document) as two 32-bit integers, for two atomic fields."""
    width, _, height = text.partition("x")
    if len(width) < 10 and len(height) < 10 and width.isdigit() and height.isdigit() and text.isascii():
        return int(width), int(height)  # the common case
    match = _DIMENSIONS.fullmatch(text)
    if match is None:
        raise ShapeError("must be WIDTHxHEIGHT in whole pixels")
    pixels = _digits(match[1]), _digits(match[2])
    if max(pixels) > INT_MAX:
        raise ShapeError(f"is out of range for 32-bit integers (up to {INT_MAX})")
    return pixels


def canonical_uuid(text: str) -> str:
    """A UUID, lower-cased so that one id has one spelling in the log and the engine."""
    if _UUID.fullmatch(text) is None:
        raise ShapeError("must be a UUID")
    return text.lower()


def platform(text: str) -> str:
    """One of the tracker protocol's platform codes (`PLATFORMS`)."""
    if text not in PLATFORMS:
        raise ShapeError(f"must be one of {', '.join(sorted(PLATFORMS))}")
    return text


def epoch_millis(text: str) -> int:
    """Epoch milliseconds, within 1970 to 9999."""
    if len(text) <= 15 and text.isdigit() and text.isascii():
        millis = int(text)  # the common case
    elif _INTEGER.fullmatch(text) is None:
        raise ShapeError("must be epoch milliseconds")
    else:
        millis = _digits(text)
    if not 0 <= millis <= MAX_EPOCH_MILLIS:
        raise ShapeError("is out of range (epoch milliseconds from 1970 up to year 9999)")
    return millis


def first_ip(text: str) -> str:
    """The first address of a forwarded list (`a, b` or `a|b`), as enrich keeps it."""
    return _IP_SEPARATORS.split(text, maxsplit=1)[0] if ("," in text or "|" in text or " " in text) else text


Converter = Callable[[str], Any]
CONVERTERS: dict[Kind, Converter | None] = {
    Kind.TEXT: None,
    Kind.IP: first_ip,
    Kind.UUID: canonical_uuid,
    Kind.PLATFORM: platform,
    Kind.INTEGER: integer,
    Kind.DECIMAL: decimal,
    Kind.BOOLEAN: boolean,
    Kind.DIMENSIONS: dimensions,
    Kind.TIMESTAMP: epoch_millis,
}
# Where a converted value goes: one atomic field, two (dimensions), or the caller's `times`.
_ONE, _PAIR, _TIME = 0, 1, 2
# Rules the enrichment loop reads: parameter -> (converter, target, field, second field, limit, yields_to).
# EVENT and JSON parameters are left to `enrich`, which needs them whole.
_RULES: dict[str, tuple[Converter | None, int, str, str, int, str | None]] = {
    p.name: (
        CONVERTERS[p.kind],
        _PAIR if p.kind is Kind.DIMENSIONS else _TIME if p.kind is Kind.TIMESTAMP else _ONE,
        p.fields[0],
        p.fields[-1],
        p.max_length or 0,
        p.yields_to,
    )
    for p in PARAMETERS
    if p.kind not in (Kind.EVENT, Kind.JSON)
}


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # an in-process caller's number: the text a tracker would have sent
    raise ShapeError(f"must be text, got a {type(value).__name__}")


def read_parameters(
    payload: Mapping[str, Any], atomic: MutableMapping[str, Any], times: MutableMapping[str, int]
) -> list[str] | None:
    """Copy each protocol parameter of `payload` into `atomic` as its canonical type.

    Timestamps go to `times` as epoch milliseconds (by atomic field name), for the
    caller to derive `derived_tstamp` from. Returns the reasons of every value
    refused, or None when all were good. Empty values count as absent, and so
    does "null" for a number (a legacy JavaScript tracker bug that enrich forgives).
    """
    errors: list[str] | None = None
    for name, value in payload.items():
        rule = _RULES.get(name)
        if rule is None:
            continue
        convert, target, field, second, limit, yields_to = rule
        if convert is None and yields_to is None and value.__class__ is str and len(value) <= limit:
            if value:
                atomic[field] = value  # the common case: text within its limit
            continue
        if value is None or value == "" or (yields_to is not None and payload.get(yields_to) not in (None, "")):
            continue
        try:
            text = value if value.__class__ is str else _as_text(value)
            result: Any = text if convert is None else convert(text)  # a converter's str, int, pair...
            if result is ABSENT:
                continue
            if limit and len(result) > limit:  # text, and the IP address kept
                raise ShapeError(f"is longer than {limit} characters ({len(result)})")
            if target == _ONE:
                atomic[field] = result
            elif target == _PAIR:
                atomic[field], atomic[second] = result
            else:
                times[field] = result
        except ShapeError as problem:
            fields = field if target != _PAIR else f"{field}, {second}"
            shown = "" if str(problem).startswith("is longer") else f", got {_show(value)}"
            errors = errors if errors is not None else []
            errors.append(f"field '{name}' ({fields}) {problem}{shown}")
    return errors


def derived_checks(*names: str) -> tuple[tuple[str, int, str], ...]:
    """(field, limit, source) of derived fields, shortest limit first, for `derived_problems`."""
    return tuple(sorted(((n, *DERIVED_LIMITS[n]) for n in names), key=lambda check: check[1]))


def derived_problems(atomic: Mapping[str, Any], checks: tuple[tuple[str, int, str], ...], longest: int) -> list[str]:
    """Reasons for derived fields longer than the atomic schema allows.

    `longest` bounds the fields' lengths (their source's length): a field whose limit
    is at least that cannot be over it, so a typical URL checks one or two fields.
    """
    problems = []
    for name, limit, source in checks:
        if limit >= longest:
            break
        value = atomic.get(name)
        if value.__class__ is str and len(value) > limit:
            problems.append(f"atomic field {name} (from '{source}') is longer than {limit} characters ({len(value)})")
    return problems
