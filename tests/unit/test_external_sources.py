"""`ExternalBatchAttributeGroup` sources read from files: conversion, newest-wins, rejections, freshness."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from snowplow_signals import AttributeKey, BatchSource, ExternalBatchAttributeGroup, Field

from media_demo.definitions import crm_subscription_group
from media_demo.signals.batch.external import (
    ExternalSourceError,
    FileStat,
    locate_source,
    read_external,
    read_external_if_changed,
    source_changed,
)

ROOT = Path(__file__).resolve().parents[2]
NOON = 1714564800.0  # 2024-05-01T12:00:00Z


def group(fields: dict[str, str], *, database: str = "files", key: str = "user_id") -> ExternalBatchAttributeGroup:
    return ExternalBatchAttributeGroup(
        name="subs",
        version=2,
        attribute_key=AttributeKey(name=key),
        owner="tests@example.com",
        fields=[Field(name=name, type=type_) for name, type_ in fields.items()],  # type: ignore[arg-type]
        batch_source=BatchSource(
            name="src", database=database, schema="crm", table="subs", timestamp_field="updated_at"
        ),
    )


def write_csv(sources: Path, text: str) -> Path:
    path = sources / "crm" / "subs.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_parquet(sources: Path, frame: pl.DataFrame) -> Path:
    path = sources / "crm" / "subs.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


ALL_TYPES = {
    "name": "string",
    "visits": "int32",
    "bytes_read": "int64",
    "price": "double",
    "ratio": "float",
    "active": "bool",
    "started": "timestamp",
    "seen": "unix_timestamp",
    "tags": "string_list",
    "counts": "int64_list",
    "extra": "dict",
    "blob": "bytes",
}


def test_csv_values_are_converted_to_their_field_types(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "user_id,name,visits,bytes_read,price,ratio,active,started,seen,tags,counts,extra,blob,updated_at\n"
        'u1,Ada,12, 9000000000 ,9.99,0.5,Yes,2024-05-01T14:00:00+02:00,1714564800.9,"[""a"", ""b,c""]",'
        '"[1, 2]","{""x"": [1, {""y"": true}]}",aGVsbG8=,2024-05-01T12:00:00Z\n',
    )
    sync = read_external(group(ALL_TYPES), tmp_path)
    assert sync.rejections == ()
    assert sync.attributes() == {
        "u1": {
            "name": "Ada",
            "visits": 12,
            "bytes_read": 9_000_000_000,
            "price": 9.99,
            "ratio": 0.5,
            "active": True,
            "started": NOON,
            "seen": 1714564800,
            "tags": ["a", "b,c"],
            "counts": [1, 2],
            "extra": {"x": [1, {"y": True}]},
            "blob": b"hello",
        }
    }
    assert sync.timestamps() == {"u1": NOON}
    assert dict(sync.frame.schema) == {
        "user_id": pl.String,
        "name": pl.String,
        "visits": pl.Int32,
        "bytes_read": pl.Int64,
        "price": pl.Float64,
        "ratio": pl.Float32,
        "active": pl.Boolean,
        "started": pl.Float64,
        "seen": pl.Int64,
        "tags": pl.List(pl.String),
        "counts": pl.List(pl.Int64),
        "extra": pl.String,
        "blob": pl.Binary,
        "updated_at": pl.Float64,
    }


def test_parquet_typed_columns_are_converted(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "user_id": [7],
            "name": ["Ada"],
            "visits": [12.0],  # a float that is a whole number is a fine int32
            "bytes_read": [9_000_000_000],
            "price": [10],
            "ratio": [0.5],
            "active": [1],
            "started": [dt.datetime(2024, 5, 1, 12)],  # naive: UTC
            "seen": [dt.datetime(2024, 5, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))],
            "tags": [["a", "b"]],
            "counts": [[1.0, 2.0]],
            "extra": [{"x": 1}],
            "blob": [b"hi"],
            "updated_at": [dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)],
        }
    )
    write_parquet(tmp_path, frame)
    sync = read_external(group(ALL_TYPES), tmp_path)
    assert sync.rejections == ()
    assert sync.attributes() == {
        "7": {
            "name": "Ada",
            "visits": 12,
            "bytes_read": 9_000_000_000,
            "price": 10.0,
            "ratio": 0.5,
            "active": True,
            "started": NOON,
            "seen": int(NOON),
            "tags": ["a", "b"],
            "counts": [1, 2],
            "extra": {"x": 1},
            "blob": b"hi",
        }
    }
    assert sync.timestamps() == {"7": NOON}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-05-01T12:00:00Z", NOON),
        ("2024-05-01T12:00:00", NOON),  # no zone: UTC
        ("2024-05-01 12:00:00", NOON),
        ("2024-05-01T13:30:00+01:30", NOON),
        ("2024-05-01T12:00:00.250Z", NOON + 0.25),
        ("2024-05-01T12:00Z", NOON),
        ("2024-05-01", NOON - 12 * 3600),
        ("1714564800", NOON),
        ("1714564800.5", NOON + 0.5),
    ],
)
def test_timestamps_in_iso_8601_or_epoch_seconds(tmp_path: Path, text: str, seconds: float) -> None:
    write_csv(tmp_path, f"user_id,plan,updated_at\nu1,free,{text}\n")
    sync = read_external(group({"plan": "string"}), tmp_path)
    assert sync.timestamps() == {"u1": seconds}


def test_newest_timestamp_wins_and_a_tie_goes_to_the_later_row(tmp_path: Path) -> None:
    write_csv(
        tmp_path,
        "user_id,plan,updated_at\n"
        "u1,premium,2024-05-02T00:00:00Z\n"  # newer, though first in the file
        "u2,free,2024-05-01T00:00:00Z\n"
        "u1,digital,2024-05-01T00:00:00Z\n"
        "u2,digital,2024-05-01T00:00:00Z\n"  # same time as the row above: the later one wins
        "u3,free,1714521600\n",
    )
    sync = read_external(group({"plan": "string"}), tmp_path)
    assert sync.attributes() == {"u1": {"plan": "premium"}, "u2": {"plan": "digital"}, "u3": {"plan": "free"}}
    assert sync.timestamps() == {"u1": 1714608000.0, "u2": 1714521600.0, "u3": 1714521600.0}
    assert (sync.rows_read, sync.rows_rejected, sync.keys_kept) == (5, 0, 3)
    assert sync.frame["user_id"].to_list() == ["u1", "u2", "u3"]


def test_newest_wins_in_parquet_too(tmp_path: Path) -> None:
    write_parquet(
        tmp_path,
        pl.DataFrame(
            {
                "user_id": ["a", "a", "b", "b"],
                "plan": ["new", "old", "first", "second"],
                "updated_at": [20.0, 10.0, 5.0, 5.0],
            }
        ),
    )
    sync = read_external(group({"plan": "string"}), tmp_path)
    assert sync.attributes() == {"a": {"plan": "new"}, "b": {"plan": "second"}}


def test_malformed_rows_are_rejected_with_file_line_and_field_and_good_rows_kept(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "user_id,price,visits,tags,updated_at\n"
        "u1,9.99,3,[],2024-05-01T00:00:00Z\n"  # line 2
        "u2,9.99,3,[],yesterday\n"  # line 3: bad timestamp
        " ,9.99,3,[],2024-05-01T00:00:00Z\n"  # line 4: blank key
        'u3,"9,99",3.5,[],2024-05-01T00:00:00Z\n'  # line 5: two bad values, one row
        'u4,1,1,"[1, ""x""]",2024-05-01T00:00:00Z\n'  # line 6: a list item that is not an int
        'u5,1,1,"{""a"": 1}",2024-05-01T00:00:00Z\n'  # line 7: not an array
        'u6,1,1,"[""multi\nline""]",2024-05-01T00:00:00Z\n'  # lines 8-9: a value spanning two lines
        "u7,,,,2024-05-01T00:00:00Z\n"  # line 10: empty values are missing, not wrong
        "u1,oops,3,[],2024-06-01T00:00:00Z\n"  # line 11: a newer row of u1 that is bad: the old one stays
        "u8,2,2,[],not a date\n",  # line 12
    )
    sync = read_external(group({"price": "double", "visits": "int32", "tags": "int64_list"}), tmp_path)
    found = [(r.row, r.field, r.reason, r.value) for r in sync.rejections]
    assert found == [
        (3, "updated_at", "not a timestamp (ISO 8601 or epoch seconds)", "yesterday"),
        (4, "user_id", "the attribute key is empty", None),
        (5, "price", "not a double value", "9,99"),
        (5, "visits", "not a int32 value", "3.5"),
        (6, "tags", "not a JSON array of int64 values", '[1, "x"]'),
        (7, "tags", "not a JSON array of int64 values", '{"a": 1}'),
        (8, "tags", "not a JSON array of int64 values", '["multi\nline"]'),
        (11, "price", "not a double value", "oops"),
        (12, "updated_at", "not a timestamp (ISO 8601 or epoch seconds)", "not a date"),
    ]
    assert str(sync.rejections[2]) == f"{path} line 5, price: not a double value ('9,99')"
    assert all(r.file == path and r.unit == "line" for r in sync.rejections)
    assert (sync.rows_read, sync.rows_rejected, sync.keys_kept) == (10, 8, 2)
    assert sync.attributes() == {
        "u1": {"price": 9.99, "visits": 3, "tags": []},
        "u7": {"price": None, "visits": None, "tags": None},
    }
    assert sync.timestamps()["u1"] == 1714521600.0


def test_parquet_rejections_name_the_one_based_row(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path,
        pl.DataFrame(
            {
                "user_id": ["a", None, "c", "d"],
                "visits": [1.0, 2.0, 2.5, 4.0],
                "updated_at": ["2024-05-01", "2024-05-01", "2024-05-01", None],
            }
        ),
    )
    sync = read_external(group({"visits": "int64"}), tmp_path)
    assert [(r.row, r.unit, r.field) for r in sync.rejections] == [
        (2, "row", "user_id"),
        (3, "row", "visits"),
        (4, "row", "updated_at"),
    ]
    assert sync.rejections[2].reason == "the timestamp is empty"
    assert str(sync.rejections[0]).startswith(f"{path} row 2, user_id:")
    assert sync.attributes() == {"a": {"visits": 1}}


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    write_csv(tmp_path, "user_id,plan,updated_at\n\nu1,free,1\n,,\n\n")
    sync = read_external(group({"plan": "string"}), tmp_path)
    assert (sync.rows_read, sync.rows_rejected, sync.attributes()) == (1, 0, {"u1": {"plan": "free"}})


def test_a_missing_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "user_id,updated_at\nu1,1\n")
    with pytest.raises(ExternalSourceError) as raised:
        read_external(group({"plan": "string"}), tmp_path)
    assert str(path) in str(raised.value)
    assert "'plan' (field)" in str(raised.value)
    with pytest.raises(ExternalSourceError, match=r"'domain_userid' \(attribute key\)"):
        read_external(group({"plan": "string"}, key="domain_userid"), tmp_path)


def test_only_the_files_database_is_supported(tmp_path: Path) -> None:
    write_csv(tmp_path, "user_id,plan,updated_at\nu1,free,1\n")
    with pytest.raises(ExternalSourceError) as raised:
        read_external(group({"plan": "string"}, database="snowflake_db"), tmp_path)
    assert "database 'snowflake_db' is not supported" in str(raised.value)
    assert "supported: 'files'" in str(raised.value)


def test_a_source_needs_exactly_one_file(tmp_path: Path) -> None:
    source = group({"plan": "string"}).batch_source
    with pytest.raises(ExternalSourceError, match=r"no file crm/subs\.parquet or \.csv in the sources folder"):
        locate_source(source, tmp_path)
    csv_path = write_csv(tmp_path, "user_id,plan,updated_at\nu1,free,1\n")
    assert locate_source(source, tmp_path) == csv_path
    write_parquet(tmp_path, pl.DataFrame({"user_id": ["u1"], "plan": ["x"], "updated_at": [1]}))
    with pytest.raises(ExternalSourceError, match=r"both crm/subs\.parquet and \.csv are in the sources folder"):
        read_external(group({"plan": "string"}), tmp_path)


def test_a_field_may_not_reuse_the_key_or_timestamp_column(tmp_path: Path) -> None:
    write_csv(tmp_path, "user_id,updated_at\nu1,1\n")
    with pytest.raises(ExternalSourceError, match="'updated_at' named more than once"):
        read_external(group({"updated_at": "timestamp"}), tmp_path)


def test_freshness_is_recorded_and_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "user_id,plan,updated_at\nu1,free,1\n")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    subs = group({"plan": "string"})
    sync = read_external(subs, tmp_path, now=lambda: 1234.5)
    assert sync.source == FileStat(path=path, mtime_ns=1_700_000_000_000_000_000, size=path.stat().st_size)
    assert sync.source.modified == 1_700_000_000.0
    assert (sync.synced_at, sync.group, sync.version, sync.key) == (1234.5, "subs", 2, "user_id")
    assert 0 <= sync.seconds < 10

    assert source_changed(None, path)
    assert not source_changed(sync.source, path)
    assert read_external_if_changed(subs, tmp_path, sync) is None

    path.write_text("user_id,plan,updated_at\nu1,premium,2\n")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))  # same time, other size
    assert source_changed(sync.source, path)
    os.utime(path, ns=(1_700_000_001_000_000_000, 1_700_000_001_000_000_000))
    fresh = read_external_if_changed(subs, tmp_path, sync)
    assert fresh is not None and fresh.attributes() == {"u1": {"plan": "premium"}}
    assert not source_changed(fresh.source, path)

    path.unlink()
    assert source_changed(fresh.source, path)


def test_the_shipped_crm_export_loads_with_its_three_rejections() -> None:
    sync = read_external(crm_subscription_group(), ROOT / "data" / "sources")
    path = ROOT / "data" / "sources" / "crm" / "subscriptions.csv"
    assert sync.source.path == path
    assert [(r.row, r.field, r.value) for r in sync.rejections] == [
        (32, "monthly_price", "9,99"),
        (40, "updated_at", "2025-04-31T10:00:00Z"),
        (47, "user_id", None),
    ]
    assert (sync.rows_read, sync.rows_rejected, sync.keys_kept) == (60, 3, 50)
    subscriptions: dict[str, dict[str, Any]] = sync.attributes()
    # The newer row comes first in the file: newest wins, not last.
    assert subscriptions["8b533d82-cbdd-42bd-a504-7f28d08a70fd"]["status"] == "cancelled"
    assert subscriptions["d4e1959f-d43d-404f-bb29-6913da5eb447"] == {
        "plan": "digital",
        "status": "active",
        "started_at": dt.datetime(2025, 1, 13, tzinfo=dt.UTC).timestamp(),
        "monthly_price": 9.99,
    }
    # Its newer update has an impossible date: rejected, so the older row stands.
    assert subscriptions["66c1260d-b86d-4564-b4af-23a10ad0d4c6"]["status"] == "cancelled"
    assert "bdb2df6b-63af-48f4-940d-fa2d27a0ae35" not in subscriptions  # only its bad row exists
    assert sync.timestamps()["e509969a-0226-4769-b37c-f5b775600796"] == (
        dt.datetime(2025, 2, 15, 16, 41, tzinfo=dt.UTC).timestamp()
    )
    assert {s["plan"] for s in subscriptions.values()} == {"free", "digital", "premium"}
