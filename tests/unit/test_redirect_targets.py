"""Where the collector's click redirect (`GET /r/tp2`) may send a reader: the site's own origins, nothing else."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_demo.signals.http.collector import redirect_problem, web_origin

ALLOWED = ("https://site.example", "http://localhost:8000/")
# What a browser goes to for each allowed origin: (scheme, host, port).
ALLOWED_PLACES = {("https", "site.example", 443), ("http", "localhost", 8000)}
# Starts of addresses near the allowed ones, for the property tests to finish with anything.
PREFIXES = [
    "https://site.example",
    "HTTPS://Site.Example",
    "https://site.example:",
    "https://site.example@",
    "https://user@site.example",
    "https://site.example.",
    "https://[",
    "http://localhost:8000",
    "http://localhost",
    "https:",
    "https:/",
    "//",
    "/",
    "",
]


@pytest.mark.parametrize(
    "target",
    [
        "https://site.example",
        "https://site.example/",
        "https://site.example/article/harbour-wall?utm_source=digest#comments",
        "https://SITE.example/Article",  # host names are case-insensitive
        "https://site.example:443/",  # the default port is the same origin
        "http://localhost:8000/api/email/unsubscribe?token=abc%20def",
        "https://site.example/a?next=https://evil.example",  # another address in the query is just text
    ],
)
def test_the_sites_own_addresses_are_allowed(target: str) -> None:
    assert redirect_problem([target], ALLOWED) is None


@pytest.mark.parametrize(
    ("targets", "reason"),
    [
        ([], "'u' (the address to redirect to) is missing"),
        ([""], "'u' (the address to redirect to) is missing"),
        (["https://site.example/a", "https://evil.example/"], "'u' is given 2 times"),
        (["//evil.example/"], "must be an absolute http or https address"),
        (["/article/x"], "must be an absolute http or https address"),
        (["javascript:alert(document.cookie)"], "must be an absolute http or https address"),
        (["data:text/html,<script>alert(1)</script>"], "must be an absolute http or https address"),
        (["ftp://site.example/"], "must be an absolute http or https address"),
        (["https:///evil.example"], "must be an absolute http or https address"),
        (["https://site.example.evil.example/"], "leads to https://site.example.evil.example, which is not this site"),
        (["https://evil.example/"], "leads to https://evil.example, which is not this site"),
        (["http://site.example/"], "leads to http://site.example, which is not this site"),  # another scheme
        (["https://site.example:8443/"], "leads to https://site.example:8443, which is not this site"),
        (["http://localhost:3000/"], "leads to http://localhost:3000, which is not this site"),
        (["https://site.example@evil.example/"], "must not carry a user name or password"),
        (["https://user:pw@site.example/"], "must not carry a user name or password"),
        (["https://site.example\\@evil.example/"], "contains a backslash"),
        (["https:\\\\evil.example"], "contains a backslash"),
        (["https://site.example/\r\nSet-Cookie: a=b"], "contains a control character (0x0d)"),
        (["https://site.example/\x00"], "contains a control character (0x00)"),
        (["https://site.example/\tx"], "contains a control character (0x09)"),
        (["https://site.example/a b"], "contains white space"),
        (["https://site.example/caf\u00e9"], "contains a character outside ASCII"),
        (["https://site.example:99999/"], "has no valid host and port"),
        (["https://[site.example]/"], "is not a valid address"),
        (["https://site.example/" + "a" * 8200], "is longer than 8192 characters"),
    ],
)
def test_every_other_target_is_refused_with_its_reason(targets: list[str], reason: str) -> None:
    problem = redirect_problem(targets, ALLOWED)
    assert problem is not None and reason in problem, problem
    assert "query parameter 'u'" in problem


def test_without_allowed_origins_nothing_is_redirected() -> None:
    problem = redirect_problem(["https://site.example/"], ())
    assert problem is not None and "allowed: none configured" in problem


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Site.Example:443/a?b#c", "https://site.example"),
        ("http://site.example:80", "http://site.example"),
        ("http://localhost:8000/x", "http://localhost:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("//site.example/", None),
        ("mailto:ada@example.org", None),
        ("https://site.example:port/", None),
    ],
)
def test_web_origin(url: str, origin: str | None) -> None:
    assert web_origin(url) == origin


@given(prefix=st.sampled_from(PREFIXES), rest=st.text(max_size=30))
def test_any_target_gets_an_answer_and_an_accepted_one_goes_to_an_allowed_place(prefix: str, rest: str) -> None:
    """Read the accepted address the way a browser does: the authority runs to the first `/`, `?` or `#`."""
    target = prefix + rest
    problem = redirect_problem([target], ALLOWED)  # never raises: a request cannot make the collector fail
    if problem is not None:
        assert problem.startswith("query parameter 'u' ")
        return
    scheme, separator, after = target.partition("://")
    assert separator, target
    authority = re.split(r"[/?#]", after, maxsplit=1)[0].lower()
    assert "@" not in authority and "\\" not in target
    host, _, port = authority.partition(":")
    default = {"http": 80, "https": 443}[scheme.lower()]
    assert (scheme.lower(), host, int(port) if port else default) in ALLOWED_PLACES, target
