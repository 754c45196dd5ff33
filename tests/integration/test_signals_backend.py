"""The newsroom is the HTTP floor's `SignalsBackend`: every member the routes use is there."""

from __future__ import annotations

import inspect

from media_demo.newsroom import Newsroom
from media_demo.signals.http.backend import SignalsBackend


def protocol_members() -> set[str]:
    return {name for name in vars(SignalsBackend) if not name.startswith("_")}


def test_a_newsroom_is_a_signals_backend(newsroom: Newsroom) -> None:
    assert protocol_members() >= {"collect", "read_attributes", "publish", "backfill", "log", "bus"}
    assert isinstance(newsroom, SignalsBackend)
    for name in protocol_members():
        declared = getattr(SignalsBackend, name)
        if inspect.isfunction(declared):  # methods take the same parameters, by the same names
            implemented = getattr(Newsroom, name)
            assert list(inspect.signature(implemented).parameters) == list(inspect.signature(declared).parameters)


def test_read_attributes_reads_rows_in_order_with_defaults(newsroom: Newsroom) -> None:
    group = next(g for g in newsroom.evaluated_groups() if g.name == "reader_profile")
    rows = newsroom.read_attributes(group.name, group.version or 1, ["a", "b"], ["page_view_count"])
    assert rows == [{"page_view_count": 0}, {"page_view_count": 0}]
    assert newsroom.read_attributes(
        group.name, group.version or 1, ["someone"], ["page_view_count"], stitched=True
    ) == [{"page_view_count": 0}]
