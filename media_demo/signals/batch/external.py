"""`ExternalBatchAttributeGroup` sources: attributes synced from a table the customer already has.

Signals reads such a group's `batch_source` from a warehouse table. Here the only supported
`database` is `"files"`, and a source is a file under a sources folder:

    batch_source(database="files", schema=S, table=T)  ->  <sources_dir>/S/T.parquet  or  <sources_dir>/S/T.csv

Exactly one of the two must exist, so a stale export beside a fresh one is never read by mistake.

`read_external` reads the file with polars, converts each column to its field's type and keeps,
per key, the row with the newest `timestamp_field` (a tie goes to the later row in the file).
A malformed row (empty key, missing or unreadable timestamp, a value that does not convert) is
rejected with the file, the row as a person finds it (CSV: line number; Parquet: 1-based row)
and the field named, and never costs the good rows.

Conversions, from CSV text (Parquet columns already typed are cast where that is lossless):

- timestamps (`timestamp_field`, `timestamp`, `unix_timestamp`): ISO 8601 with or without a zone
  (none means UTC; a date alone is midnight UTC) or epoch seconds; `timestamp` and the timestamp
  column become float epoch seconds, `unix_timestamp` whole epoch seconds;
- `*_list`: a JSON array; `dict`: a JSON object, kept as its JSON text in the frame and decoded by
  `ExternalSync.attributes`; `bytes`: base64; `bool`: true/false, 1/0, yes/no, t/f, y/n;
- an empty or blank cell is a missing value (null), never a rejection, except for the key and the timestamp;
  a wholly blank line is skipped.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from snowplow_signals.models.attribute_group import ExternalBatchAttributeGroup
from snowplow_signals.models.model import BatchSource

SUPPORTED_DATABASES = ("files",)
FORMATS = (".parquet", ".csv")
_ROW = "__external_row__"  # the 0-based row index, beside the source's own columns
_BLANK = "__external_blank__"
_CONVERTED = "__external_value__:"  # prefix of a converted column, while the raw one is still needed
_FAILED = "__external_failed__:"  # prefix of a column that flags a value which did not convert
_SHOWN_VALUE = 60  # characters of a rejected value quoted in its message

_INNER = {
    "bytes_list": "bytes",
    "string_list": "string",
    "int32_list": "int32",
    "int64_list": "int64",
    "double_list": "double",
    "float_list": "float",
    "bool_list": "bool",
    "unix_timestamp_list": "unix_timestamp",
}
_NUMBERS: dict[str, pl.DataType] = {
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "double": pl.Float64(),
    "float": pl.Float32(),
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "t": True, "y": True}
_BOOLEANS |= {"false": False, "0": False, "no": False, "f": False, "n": False}
# ISO 8601 after `Z` became `+00:00` and a space between date and time became `T`.
_ZONED = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M%z")
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")


class ExternalSourceError(ValueError):
    """A source that cannot be synced at all (as opposed to a bad row, which is only rejected)."""


@dataclass(frozen=True)
class FileStat:
    """What a scheduler compares to know whether a source changed since it was last read."""

    path: Path
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> FileStat:
        """The file's current modification time and size."""
        stat = path.stat()
        return cls(path=path, mtime_ns=stat.st_mtime_ns, size=stat.st_size)

    @property
    def modified(self) -> float:
        """Modification time in epoch seconds: the freshness of the data, as its owner last wrote it."""
        return self.mtime_ns / 1e9


@dataclass(frozen=True)
class Rejection:
    """One value that kept its row out of the sync, said so its owner can find and fix it."""

    file: Path
    row: int  # CSV: the line in the file (the header is line 1); Parquet: the 1-based row
    unit: Literal["line", "row"]
    field: str
    reason: str
    value: str | None  # the value as read (shortened), None when it was empty

    def __str__(self) -> str:
        value = "" if self.value is None else f" ({self.value!r})"
        return f"{self.file} {self.unit} {self.row}, {self.field}: {self.reason}{value}"


@dataclass(frozen=True)
class ExternalSync:
    """One read of a source: the newest row per key, what was rejected, and the sync's freshness."""

    group: str
    version: int
    key: str  # the attribute key, and the name of the key column in `frame`
    timestamp_field: str  # the timestamp column in `frame`, float epoch seconds
    frame: pl.DataFrame  # one row per key: key, the fields converted, the timestamp
    fields: dict[str, str]  # field name -> its type, in the group's order
    source: FileStat  # taken before reading: a change during the read shows at the next check
    rows_read: int
    rows_rejected: int
    rejections: tuple[Rejection, ...]  # one per bad value; a row may have several
    seconds: float  # how long the read took
    synced_at: float  # epoch seconds

    @property
    def keys_kept(self) -> int:
        """Keys with a value after the sync."""
        return self.frame.height

    def attributes(self) -> dict[str, dict[str, Any]]:
        """`{key: {field: value}}` as Python values (a `dict` field decoded from its JSON text)."""
        objects = [name for name, type_ in self.fields.items() if type_ == "dict"]
        result: dict[str, dict[str, Any]] = {}
        for row in self.frame.select(self.key, *self.fields).iter_rows(named=True):
            key = row.pop(self.key)
            for name in objects:
                if row[name] is not None:
                    row[name] = json.loads(row[name])
            result[key] = row
        return result

    def timestamps(self) -> dict[str, float]:
        """`{key: timestamp}`: when each kept value was last updated at the source."""
        return dict(zip(self.frame[self.key].to_list(), self.frame[self.timestamp_field].to_list(), strict=True))


def table_file(sources_dir: Path, database: str | None, schema: str | None, table: str, what: str) -> Path:
    """The one file standing for warehouse table `database.schema.table` (`what` names it in errors): only
    database `files`, read as `<sources_dir>/<schema>/<table>.parquet` or `.csv`, never both."""
    if database not in SUPPORTED_DATABASES:
        supported = ", ".join(repr(d) for d in SUPPORTED_DATABASES)
        raise ExternalSourceError(
            f"{what}: database {database!r} is not supported; "
            f"supported: {supported} (a file <sources_dir>/<schema>/<table>.parquet or .csv)"
        )
    if not schema:
        raise ExternalSourceError(f"{what}: give the schema (the folder under the sources folder)")
    root = Path(sources_dir).resolve()
    stem = root / schema / table
    if not stem.resolve().is_relative_to(root):  # (the SDK's name patterns allow no separators; be sure anyway)
        raise ExternalSourceError(f"{what}: {schema}.{table} is outside the sources folder")
    found = [stem.with_suffix(suffix) for suffix in FORMATS if stem.with_suffix(suffix).is_file()]
    # (Named relative to the sources folder: these messages reach API clients, who need not see server paths.)
    if not found:
        raise ExternalSourceError(f"{what}: no file {schema}/{table}.parquet or .csv in the sources folder")
    if len(found) > 1:
        raise ExternalSourceError(
            f"{what}: both {schema}/{table}.parquet and .csv are in the sources folder; keep only one of them"
        )
    return found[0]


def locate_source(source: BatchSource, sources_dir: Path) -> Path:
    """The one file that holds `source`; an error when the database is not supported or the file is not unique."""
    return table_file(sources_dir, source.database, source.schema_, source.table, f"batch source {source.name!r}")


def source_changed(previous: FileStat | None, path: Path) -> bool:
    """Whether `path` may hold other data than when `previous` was taken (a vanished file counts as changed)."""
    if previous is None or Path(path) != previous.path:
        return True
    try:
        current = FileStat.of(Path(path))
    except OSError:
        return True
    return (current.mtime_ns, current.size) != (previous.mtime_ns, previous.size)


def read_external_if_changed(
    group: ExternalBatchAttributeGroup, sources_dir: Path, previous: ExternalSync | None
) -> ExternalSync | None:
    """A fresh sync, or None when the source file is the one `previous` read (for a scheduler's tick)."""
    path = locate_source(group.batch_source, sources_dir)
    if previous is not None and not source_changed(previous.source, path):
        return None
    return read_external(group, sources_dir)


def read_external(
    group: ExternalBatchAttributeGroup, sources_dir: Path, *, now: Callable[[], float] = time.time
) -> ExternalSync:
    """Read `group`'s source: the newest valid row per key, and every rejected value with where it is."""
    started = time.perf_counter()
    source = group.batch_source
    path = locate_source(source, sources_dir)
    stat = FileStat.of(path)
    key = str(group.attribute_key.name)
    timestamp = source.timestamp_field
    fields = {str(f.name): str(f.type) for f in group.fields}
    _check_names(group.name, key, timestamp, [str(f.name) for f in group.fields])
    is_csv = path.suffix == ".csv"
    try:
        scan = pl.scan_csv(path, infer_schema=False) if is_csv else pl.scan_parquet(path)
        schema = scan.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ExternalSourceError(f"{path}: cannot be read: {error}") from error
    needed = {key: "attribute key", timestamp: "timestamp_field"} | {name: "field" for name in fields}
    missing = [f"{column!r} ({role})" for column, role in needed.items() if column not in schema]
    if missing:
        raise ExternalSourceError(f"{path}: no column {', '.join(missing)}; it has {', '.join(schema.names())}")

    conversions: list[pl.Expr] = [
        *_key(key, schema[key]),
        *_required_moment(timestamp, schema[timestamp]),
        *(expr for name, type_ in fields.items() for expr in _field(name, schema[name], type_)),
    ]
    try:
        table = (
            scan.with_row_index(_ROW)
            .with_columns(pl.all_horizontal(pl.exclude(_ROW).is_null()).alias(_BLANK))
            .select(_ROW, _BLANK, *needed)
            .filter(~pl.col(_BLANK))
            .with_columns(conversions)
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ExternalSourceError(f"{path}: cannot be read: {error}") from error

    flags = [_FAILED + column for column in needed]
    bad = table.filter(pl.any_horizontal(flags))
    good = table.filter(~pl.any_horizontal(flags))
    rejections = _rejections(bad, path, is_csv, needed, fields)
    frame = (
        good.sort([_CONVERTED + timestamp, _ROW])
        .unique(subset=[_CONVERTED + key], keep="last", maintain_order=True)
        .select(pl.col(_CONVERTED + column).alias(column) for column in (key, *fields, timestamp))
        .sort(key)
    )
    return ExternalSync(
        group=group.name,
        version=int(group.version or 1),
        key=key,
        timestamp_field=timestamp,
        frame=frame,
        fields=fields,
        source=stat,
        rows_read=table.height,
        rows_rejected=bad.height,
        rejections=tuple(rejections),
        seconds=time.perf_counter() - started,
        synced_at=now(),
    )


def _check_names(group: str, key: str, timestamp: str, fields: list[str]) -> None:
    """Each column plays one part: a field named like the key or the timestamp would be two values in one."""
    names = [key, timestamp, *fields]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ExternalSourceError(
            f"attribute group {group!r}: column {', '.join(map(repr, repeated))} named more than once "
            "among the attribute key, the timestamp_field and the fields"
        )


def _key(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    raw = pl.col(name)
    text = (raw if dtype == pl.String else raw.cast(pl.String, strict=False)).str.strip_chars()
    converted = pl.when(text != "").then(text)
    return [converted.alias(_CONVERTED + name), converted.is_null().alias(_FAILED + name)]


def _required_moment(name: str, dtype: pl.DataType) -> list[pl.Expr]:
    converted = _moment(pl.col(name), dtype)
    return [converted.alias(_CONVERTED + name), converted.is_null().alias(_FAILED + name)]


def _field(name: str, dtype: pl.DataType, type_: str) -> list[pl.Expr]:
    raw = pl.col(name)
    if type_ in _INNER:
        items, converted = _list(raw, dtype, _INNER[type_])
        lost = items.list.drop_nulls().list.len() != converted.list.drop_nulls().list.len()
        failed = raw.is_not_null() & (converted.is_null() | lost.fill_null(False))
    else:
        converted = _scalar(raw, dtype, type_)
        failed = _present(raw, dtype) & converted.is_null()
    return [converted.alias(_CONVERTED + name), failed.alias(_FAILED + name)]


def _present(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Whether there is a value to convert: not null, and for text not blank."""
    if dtype == pl.String:
        return raw.str.strip_chars().fill_null("") != ""
    return raw.is_not_null()


def _scalar(raw: pl.Expr, dtype: pl.DataType, type_: str) -> pl.Expr:
    """`raw` (of `dtype`) as `type_`, null where it does not convert (strict=False casts, never an exception)."""
    if type_ == "string":
        if dtype == pl.String:
            return raw
        return raw.struct.json_encode() if isinstance(dtype, pl.Struct) else raw.cast(pl.String, strict=False)
    if type_ == "dict":
        if dtype == pl.String:
            return raw.map_elements(_json_object_text, return_dtype=pl.String, skip_nulls=True)
        return raw.struct.json_encode() if isinstance(dtype, pl.Struct) else pl.lit(None, pl.String)
    if type_ in ("timestamp", "unix_timestamp"):
        seconds = _moment(raw, dtype)
        return seconds if type_ == "timestamp" else seconds.floor().cast(pl.Int64, strict=False)
    if type_ == "bytes":
        if dtype == pl.Binary:
            return raw
        text = raw if dtype == pl.String else raw.cast(pl.String, strict=False)
        return text.str.strip_chars().str.decode("base64", strict=False)
    if type_ == "bool":
        if dtype == pl.Boolean:
            return raw
        if dtype.is_numeric():
            return pl.when(raw == 1).then(True).when(raw == 0).then(False)
        text = raw if dtype == pl.String else raw.cast(pl.String, strict=False)
        words = text.str.strip_chars().str.to_lowercase()
        return words.replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
    if type_ in _NUMBERS:
        target = _NUMBERS[type_]
        if dtype.is_float() and target.is_integer():  # 2.0 is an integer, 2.5 is not (a cast would truncate it)
            return pl.when(raw.is_finite() & (raw == raw.floor())).then(raw.cast(target, strict=False))
        if dtype.is_numeric() or dtype == pl.Boolean:
            return raw.cast(target, strict=False)
        text = raw if dtype == pl.String else raw.cast(pl.String, strict=False)
        return text.str.strip_chars().cast(target, strict=False)
    raise ExternalSourceError(f"field type {type_!r} is not supported")


def _list(raw: pl.Expr, dtype: pl.DataType, inner: str) -> tuple[pl.Expr, pl.Expr]:
    """The items before conversion and the converted list: comparing their non-null counts finds a lost item."""
    if isinstance(dtype, pl.List):
        inner_dtype = dtype.inner
        items, item_dtype = raw, inner_dtype() if isinstance(inner_dtype, type) else inner_dtype
    elif dtype == pl.String:
        # polars' json_decode fails the whole column on one bad text, so each text is checked on its own;
        # items come back as strings, then convert as CSV cells do.
        items = raw.map_elements(_json_array_text, return_dtype=pl.String, skip_nulls=True).str.json_decode(
            pl.List(pl.String)
        )
        item_dtype = pl.String()
    else:
        return pl.lit(None, pl.List(pl.String)), pl.lit(None, pl.List(pl.String))
    return items, items.list.eval(_scalar(pl.element(), item_dtype, inner))


def _moment(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Float epoch seconds from ISO 8601 text (no zone = UTC), epoch seconds, or a date/datetime column."""
    if isinstance(dtype, pl.Datetime):
        moment = raw.dt.replace_time_zone("UTC") if dtype.time_zone is None else raw
        seconds = moment.dt.epoch("us").cast(pl.Float64) / 1e6
    elif dtype == pl.Date:
        seconds = raw.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    elif dtype.is_numeric():
        seconds = raw.cast(pl.Float64, strict=False)
    else:
        text = (raw if dtype == pl.String else raw.cast(pl.String, strict=False)).str.strip_chars()
        iso = text.str.replace(r"[Zz]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ t]", "${1}T")
        parsed = pl.coalesce(
            *(iso.str.strptime(pl.Datetime("us", "UTC"), f, strict=False) for f in _ZONED),
            *(iso.str.strptime(pl.Datetime("us"), f, strict=False).dt.replace_time_zone("UTC") for f in _NAIVE),
            iso.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        )
        epoch = text.cast(pl.Float64, strict=False)
        seconds = pl.when(epoch.is_not_null()).then(epoch).otherwise(parsed.dt.epoch("us").cast(pl.Float64) / 1e6)
    return pl.when(seconds.is_finite()).then(seconds)


def _json_array_text(text: str) -> str | None:
    """A JSON array as an array of strings (scalars re-encoded), or None when `text` is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    return json.dumps([item if item is None or isinstance(item, str) else json.dumps(item) for item in value])


def _json_object_text(text: str) -> str | None:
    """A JSON object, re-encoded compactly, or None when `text` is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else None


def _rejections(
    bad: pl.DataFrame, path: Path, is_csv: bool, columns: dict[str, str], fields: dict[str, str]
) -> list[Rejection]:
    """One `Rejection` per value that failed, in file order (Python here: only the bad rows get this far)."""
    if bad.is_empty():
        return []
    indexes = bad[_ROW].to_list()
    rows = _csv_lines(path, indexes) if is_csv else {index: index + 1 for index in indexes}
    result: list[Rejection] = []
    for record in bad.sort(_ROW).iter_rows(named=True):
        for column, role in columns.items():
            if not record[_FAILED + column]:
                continue
            value = record[column]
            shown = None if value is None else str(value)[:_SHOWN_VALUE]
            if shown is not None and not shown.strip():
                shown = None
            result.append(
                Rejection(
                    file=path,
                    row=rows[record[_ROW]],
                    unit="line" if is_csv else "row",
                    field=column,
                    reason=_reason(role, fields.get(column), shown is None),
                    value=shown,
                )
            )
    return result


def _reason(role: str, type_: str | None, empty: bool) -> str:
    if role == "attribute key":
        return "the attribute key is empty"
    if role == "timestamp_field":
        return "the timestamp is empty" if empty else "not a timestamp (ISO 8601 or epoch seconds)"
    if type_ == "dict":
        return "not a JSON object"
    if type_ is not None and type_ in _INNER:
        return f"not a JSON array of {_INNER[type_]} values"
    return f"not a {type_} value"


def _csv_lines(path: Path, indexes: Iterable[int]) -> dict[int, int]:
    """The line on which each wanted record starts (records spanning lines make the index alone wrong)."""
    wanted = set(indexes)
    lines: dict[int, int] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for index, _record in enumerate(reader):
            if index in wanted:
                lines[index] = start
                if len(lines) == len(wanted):
                    break
            start = reader.line_num + 1
    # A record csv cannot see (it disagrees with polars on a malformed file): the line if each record were one.
    return {index: lines.get(index, index + 2) for index in wanted}
