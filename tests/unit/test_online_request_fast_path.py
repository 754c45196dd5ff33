"""The get-online-attributes fast path never changes an answer.

`_online_request` tries orjson and the hand-written `_plain_request` before the
SDK's pydantic models (`_model_request`). Its promise: a request the fast path
returns is exactly the models' request, and anything else (every error,
status and message) is what the stdlib + models path answered before. These
tests hold it to that on SDK-shaped documents and their near misses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snowplow_signals.attributes_client import AttributesClient

from media_demo.signals.http import signals_api as api
from media_demo.signals.http.signals_api import ApiError, OnlineRequest

Outcome = OnlineRequest | tuple[int, str, Any]


def outcome(parse: Callable[[Any], OnlineRequest], value: Any) -> Outcome:
    """The request, or the error as (status, message, detail); any other exception is the route's 500."""
    try:
        return parse(value)
    except ApiError as exc:
        return exc.status, exc.message, exc.detail
    except Exception as exc:
        return 500, "internal error", type(exc).__name__


def stdlib_path(body: bytes) -> OnlineRequest:
    """How bodies were read before the fast path."""
    return api._model_request(api._body_json(body))


# --- documents near the shapes the SDK sends -------------------------------------------------------------------


def either(*options: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of the options, each as likely (`st.one_of` flattens nested choices and weighs their branches)."""
    return st.sampled_from(options).flatmap(lambda option: option)


def with_one(values: list[Any], odd_one: Any, at: int) -> list[Any]:
    """`values` with `odd_one` among them."""
    at %= len(values) + 1
    return [*values[:at], odd_one, *values[at:]]


WORD = st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True)
SEEN_NAMES = ["reader_profile_v1:page_view_count", "reading_habits_v1:page_views"]
VALID_NAME = either(st.sampled_from(SEEN_NAMES), st.builds("{}_v{}:{}".format, WORD, st.integers(0, 12), WORD))
NEAR_MISS = either(
    st.sampled_from(
        [
            "reader_profile:page_view_count",  # no _v
            "reader_profile_v0x:page_view_count",
            "reader_profile_v1:page_view_cöunt",
            "reader profile_v1:page_view_count",
            "reader_profile_v١:page_view_count",  # an Arabic-Indic digit
            "reader_\u212a_v1:x",  # the Kelvin sign, which case-folds to "k"
            "_v1:x",
            "a_v1:",
            "a_v1:b:c",
        ]
    ),
    st.builds(
        lambda name, extra, at: "".join(with_one(list(name), extra, at)),
        VALID_NAME,
        st.sampled_from(["\n", " ", "é", "ß", "١", ":", "-", "\x00", "v"]),
        st.integers(0, 40),
    ),
    st.text(max_size=10),
)
TRAILING = st.builds("{}{}".format, VALID_NAME, st.sampled_from(["\n", " ", "\r\n", "\x00", "é"]))
WRONG_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
AT = st.integers(0, 4)
KEY_NAME = either(st.sampled_from(["domain_userid", "user_id", ""]), st.text(max_size=6))
IDS_OK = st.lists(st.text(max_size=6), max_size=4)
KEYS_OK = st.dictionaries(KEY_NAME, IDS_OK, min_size=1, max_size=5)
ATTRIBUTES_OK = st.lists(VALID_NAME, max_size=4)
SERVICE_OK = either(st.just("reader_service"), st.text(max_size=8))
FULL_NAMES_OK = st.sampled_from([True, False, None])


def keyed_ids(keys: int, ids: int) -> dict[str, list[str]]:
    """`ids` identifiers over `keys` attribute keys: around the limits of 100 keys and 1000 identifiers."""
    return {f"key_{k}": [f"id_{i}" for i in range(k, ids, keys)] for k in range(keys)}


SDK_REQUEST = either(
    st.fixed_dictionaries(
        {"service": SERVICE_OK, "attribute_keys": KEYS_OK}, optional={"full_attribute_names": FULL_NAMES_OK}
    ),
    st.fixed_dictionaries(
        {"attributes": ATTRIBUTES_OK, "attribute_keys": KEYS_OK}, optional={"full_attribute_names": FULL_NAMES_OK}
    ),
)
DROP = object()  # (a field a change removes)
CHANGES = {  # each moves an SDK request off its shape in one way
    "none": st.just({}),
    "service not a string": st.fixed_dictionaries({"service": WRONG_VALUE}),
    "service and attributes": st.fixed_dictionaries({"service": SERVICE_OK, "attributes": ATTRIBUTES_OK}),
    "neither service nor attributes": st.just({"service": DROP, "attributes": DROP}),
    "a name off the pattern": st.fixed_dictionaries(
        {"service": st.just(DROP), "attributes": st.builds(with_one, ATTRIBUTES_OK, NEAR_MISS, AT)}
    ),
    "a name with a trailing character": st.fixed_dictionaries(  # pydantic's `$` vs fullmatch
        {"service": st.just(DROP), "attributes": st.builds(with_one, ATTRIBUTES_OK, TRAILING, AT)}
    ),
    "attributes not a list of names": st.fixed_dictionaries(
        {
            "service": st.just(DROP),
            "attributes": either(VALID_NAME, WRONG_VALUE, st.builds(with_one, ATTRIBUTES_OK, WRONG_VALUE, AT)),
        }
    ),
    "attribute_keys not a map": st.fixed_dictionaries({"attribute_keys": either(WRONG_VALUE, st.just({}))}),
    "around 100 keys": st.fixed_dictionaries(
        {"attribute_keys": st.builds(keyed_ids, st.sampled_from([99, 100, 101, 102, 120]), st.sampled_from([0, 101]))}
    ),
    "around 1000 ids": st.fixed_dictionaries(
        {"attribute_keys": st.builds(keyed_ids, st.sampled_from([1, 7, 100]), st.integers(999, 1002))}
    ),
    "ids not a list": st.fixed_dictionaries(
        {"attribute_keys": st.builds(lambda keys, ids: keys | {"user_id": ids}, KEYS_OK, WRONG_VALUE)}
    ),
    "an id not a string": st.fixed_dictionaries(
        {
            "attribute_keys": st.builds(
                lambda keys, *odd: keys | {"user_id": with_one(*odd)},
                KEYS_OK,
                IDS_OK,
                either(st.integers(-(2**63), 2**63 - 1), WRONG_VALUE),
                AT,
            )
        }
    ),
    "legacy entities": st.fixed_dictionaries({"attribute_keys": st.just(DROP), "entities": KEYS_OK}),  # before SDK 0.4
    "entities beside attribute_keys": st.fixed_dictionaries({"entities": either(KEYS_OK, WRONG_VALUE)}),
    "full_attribute_names not a bool": st.fixed_dictionaries(
        {"full_attribute_names": st.sampled_from([0, 1, "true", "false", "yes", 0.0, 0.5, [], {}])}
    ),
    "unknown fields": st.dictionaries(
        st.sampled_from(["unknown", "Service", "attribute_key", "version"]), WRONG_VALUE, min_size=1
    ),
}


def changed(request: dict[str, Any], *changes: dict[str, Any]) -> dict[str, Any]:
    for change in changes:
        request = request | change
    return {field: value for field, value in request.items() if value is not DROP}


DOCUMENTS = {kind: st.builds(changed, SDK_REQUEST, change) for kind, change in CHANGES.items()} | {
    "two changes": st.builds(changed, SDK_REQUEST, either(*CHANGES.values()), either(*CHANGES.values())),
    "not an object": WRONG_VALUE,
}


@pytest.mark.parametrize("kind", DOCUMENTS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fast_path_answers_as_the_models_do(kind: str, data: st.DataObject) -> None:
    document = data.draw(DOCUMENTS[kind], label="document")
    expected = outcome(api._model_request, document)
    body = orjson.dumps(document)
    seen = set(api._matched_names)  # the name lists earlier examples matched
    for cached in (seen, set()):  # neither a cache of those nor an empty one may change an answer
        api._matched_names.clear()
        api._matched_names.update(cached)
        fast = api._plain_request(document)
        assert fast is None or fast == expected
        assert fast is not None or kind != "none"  # the SDK's own shapes do take the fast path
        assert outcome(api._online_request, body) == expected
    api._matched_names.update(seen)


# --- hand-written cases ----------------------------------------------------------------------------------------


class _Capture:
    """Stands in for the SDK's ApiClient: keeps the body the SDK would send, encoded as httpx encodes `json=`."""

    body = b""

    def make_request(self, method: str, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        assert (method, endpoint) == ("POST", "get-online-attributes")
        self.body = httpx.Request(method, "http://signals.test", json=data).content
        return {}


def sdk_body(call: Callable[[AttributesClient], object]) -> bytes:
    capture = _Capture()
    call(AttributesClient(capture))  # type: ignore[arg-type]
    return capture.body


def test_the_sdks_own_bodies_take_the_fast_path() -> None:
    service = sdk_body(lambda c: c.get_service_attributes("reader_service", "domain_userid", "d1"))
    group = sdk_body(lambda c: c.get_group_attributes("reader_profile", 1, ["page_view_count"], "domain_userid", "d1"))
    assert json.loads(service) == {
        "attribute_keys": {"domain_userid": ["d1"]},
        "full_attribute_names": False,
        "service": "reader_service",
    }
    assert json.loads(group) == {
        "attribute_keys": {"domain_userid": ["d1"]},
        "attributes": ["reader_profile_v1:page_view_count"],
        "full_attribute_names": False,
    }
    for body, expected in [
        (service, OnlineRequest("reader_service", (), {"domain_userid": ["d1"]}, False)),
        (group, OnlineRequest(None, ("reader_profile_v1:page_view_count",), {"domain_userid": ["d1"]}, False)),
    ]:
        assert api._plain_request(orjson.loads(body)) == expected
        assert api._online_request(body) == expected == stdlib_path(body)


NAME = "reader_profile_v1:page_view_count"
ONE_ID = {"domain_userid": ["d1"]}
KEYS_100, KEYS_101 = ({f"k{i}": ["a"] for i in range(n)} for n in (100, 101))
IDS_1000, IDS_1001 = ({"domain_userid": [str(i) for i in range(n)]} for n in (1000, 1001))
INVALID = (422, "invalid get-online-attributes request")


def service(keys: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"service": "reader_service", "attribute_keys": keys} | fields


def served(keys: dict[str, list[str]], full_names: bool = False) -> OnlineRequest:
    return OnlineRequest("reader_service", (), keys, full_names)


GROUP_REQUEST = OnlineRequest(None, (NAME,), ONE_ID, False)
CASES = {  # the document: does the fast path take it, and the answer
    "100 keys": (service(KEYS_100), True, served(KEYS_100)),
    "101 keys": (service(KEYS_101), False, INVALID),
    "1000 ids": (service(IDS_1000), True, served(IDS_1000)),
    "1001 ids": (service(IDS_1001), False, (422, "at most 1000 identifiers per request")),
    "an integer id": (service({"domain_userid": [7]}), False, INVALID),
    "full names null": (service(ONE_ID, full_attribute_names=None), True, served(ONE_ID)),
    "full names 1": (service(ONE_ID, full_attribute_names=1), False, served(ONE_ID, True)),  # pydantic's lax bool
    "full names 'false'": (service(ONE_ID, full_attribute_names="false"), False, served(ONE_ID)),
    "a group's attribute": ({"attributes": [NAME], "attribute_keys": ONE_ID}, True, GROUP_REQUEST),
    "a trailing newline": ({"attributes": [NAME + "\n"], "attribute_keys": ONE_ID}, False, INVALID),  # `$` vs fullmatch
    "legacy entities": ({"attributes": [NAME], "entities": ONE_ID}, False, GROUP_REQUEST),
}


@pytest.mark.parametrize(("document", "fast", "want"), CASES.values(), ids=CASES)
def test_limits_and_near_misses(document: dict[str, Any], fast: bool, want: OnlineRequest | tuple[int, str]) -> None:
    api._matched_names.clear()
    got = outcome(api._online_request, orjson.dumps(document))
    assert (api._plain_request(document) is not None) is fast
    assert got == outcome(api._model_request, document)
    assert (got if isinstance(got, OnlineRequest) else got[:2]) == want


SDK_LIKE = b'{"service":"reader_service","attribute_keys":{"domain_userid":["d1"]}%s}'
BODIES = {  # JSON orjson reads otherwise than the stdlib (or not at all)
    "a UTF-8 BOM": b"\xef\xbb\xbf" + SDK_LIKE % b"",
    "UTF-16": (SDK_LIKE % b"").decode().encode("utf-16"),
    "1e999 unread": SDK_LIKE % b',"x":1e999',  # the stdlib reads inf
    "1e999 full names": SDK_LIKE % b',"full_attribute_names":1e999',
    "2**70 unread": SDK_LIKE % b',"x":1180591620717411303424',  # orjson reads a float
    "2**70 id": SDK_LIKE.replace(b'"d1"', b"1180591620717411303424") % b"",
    "a lone surrogate": SDK_LIKE.replace(b'"d1"', b'"\\ud800"') % b"",
    "NaN": SDK_LIKE % b',"x":NaN',
    "a repeated key": SDK_LIKE % b',"service":"other"',
    "not JSON": b"{not json",
}
DEEP = SDK_LIKE % (b',"x":' + b"[" * 1010 + b"]" * 1010)


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES)
def test_bodies_orjson_reads_otherwise_answer_as_the_stdlib_did(body: bytes) -> None:
    assert outcome(api._online_request, body) == outcome(stdlib_path, body)


def test_nesting_too_deep_for_the_stdlib_is_a_422_not_a_500() -> None:
    """The one documented difference: orjson reads 1,023 levels, the stdlib's recursion gives up near 1,000.
    The fast path answers the SDK's shape with a deep unknown field; any other route refuses it cleanly."""
    assert outcome(api._online_request, DEEP) == OnlineRequest("reader_service", (), {"domain_userid": ["d1"]}, False)
    assert outcome(stdlib_path, DEEP)[:2] == (422, "the request body is nested too deeply")
    assert outcome(stdlib_path, b"[" * 100_000 + b"]" * 100_000)[:2] == (422, "the request body is nested too deeply")
