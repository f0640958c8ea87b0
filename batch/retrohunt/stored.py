"""Query stored alert Parquet files: find them, filter them, newest first, and export them.

Alerts are read from every `*.parquet` file under a folder, whatever the layout: the flat
files `scan --out DIR` writes (`DIR/<archive>.<sha12>.alerts.parquet`) and the
Hive-partitioned ones `hunt --out DIR` writes (`DIR/alerts/date=…/rule=…/*.parquet`) alike.
Partition folders are not read as columns: the files hold every alert column themselves, so
the result has exactly the alert schema (`retrohunt.alerts.ALERT_SCHEMA`) either way.

Files written by older versions may lack newer columns (those read as null) or hold a column
under another type (cast, values that do not fit become null). Parquet files without a
`rule_name` column (a process table kept next to the alerts, say) are not alert files and
are skipped; so are temporary files (`*.tmp`) and anything under a name starting with `.`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, TypeAlias, get_args

import polars as pl

from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.errors import InputError
from retrohunt.sink import write_atomic
from retrohunt.sources.timestamps import UTC_MICROS

ExportFormat = Literal["parquet", "csv", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
"""What `export_alerts` writes: Parquet, CSV (list columns joined with `;`) or JSON Lines."""

DEFAULT_LIMIT = 500
LIST_SEPARATOR = ";"
"""Joins the items of the list columns (`tags`, `matched`) in a CSV cell."""

_IDENTITY_COLUMN = "rule_name"  # a Parquet file without it is not an alert file
_CSV_DATETIME = "%Y-%m-%dT%H:%M:%S%.6fZ"  # event_time is always UTC
_SCHEMA = pl.Schema(ALERT_SCHEMA)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")

_Files: TypeAlias = dict[Path, dict[str, pl.DataType]]  # alert file → its Parquet schema


@dataclass(frozen=True, slots=True)
class StoredAlerts:
    """What `query_alerts` found."""

    alerts: pl.DataFrame
    """The matching alerts, newest first, at most the limit; columns exactly ALERT_SCHEMA."""
    total: int
    """How many alerts match the filters, before the limit."""
    files: tuple[Path, ...]
    """The alert Parquet files read."""
    skipped: tuple[Path, ...] = ()
    """Parquet files under the folder that are not alert files (no `rule_name` column)."""


def query_alerts(
    alerts_dir: Path,
    *,
    rules: Sequence[str] = (),
    hosts: Sequence[str] = (),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> StoredAlerts:
    """Stored alerts under `alerts_dir` (a folder, or one Parquet file), newest first.

    Order: `event_time` descending (alerts without a time last), then archive, line
    number, record index and rule name, so equal times always come out the same way.

    Args:
        alerts_dir: folder searched recursively for `*.parquet` alert files.
        rules: keep alerts whose `rule_name` or `rule_id` is one of these (exact match).
        hosts: keep alerts whose `host` is one of these, ignoring case.
        since: keep alerts whose `event_time` is at or after this (naive means UTC).
        until: keep alerts whose `event_time` is before this (naive means UTC).
        limit: the most alerts returned; None or 0 returns every match.

    Raises:
        InputError: the folder is missing or holds no alert Parquet file, or a file cannot
            be read as Parquet (the message names the file).
        ValueError: `limit` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    files, skipped = _alert_files(alerts_dir)
    matching = _scan(files)
    conditions = _conditions(rules, hosts, since, until)
    if conditions:
        matching = matching.filter(*conditions)
    newest = matching.sort(
        ["event_time", "archive", "line_number", "record_index", "rule_name"],
        descending=[True, False, False, False, False],
        nulls_last=True,
        maintain_order=True,
    )
    if limit:
        newest = newest.head(limit)
    try:
        alerts, count = pl.collect_all([newest, matching.select(pl.len())])
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(files, exc) from exc
    return StoredAlerts(alerts, int(count.item()), tuple(files), tuple(skipped))


def scan_alerts(alerts_dir: Path) -> pl.LazyFrame:
    """Every stored alert under `alerts_dir` as one LazyFrame with exactly ALERT_SCHEMA, in
    no particular order; filters applied to it are pushed down to the Parquet reader.

    Raises:
        InputError: the folder is missing, holds no alert Parquet file, or a file's footer
            cannot be read. Damage inside a file surfaces only when the frame is collected,
            as a Polars error (`query_alerts` names the file).
    """
    return _scan(_alert_files(alerts_dir)[0])


def parse_time(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """A `--since`/`--until` value as an aware UTC datetime.

    Accepts a date (`YYYY-MM-DD`: its midnight, or with `end_of_day` the next midnight, so
    an exclusive upper bound keeps that whole day) or an ISO 8601 datetime (`2024-05-01T13:00`,
    `…Z`, `…+02:00`); a datetime without an offset is UTC.

    Raises:
        ValueError: the text is neither.
    """
    value = text.strip()
    if _DATE_ONLY.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date") from None
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        return start + dt.timedelta(days=1) if end_of_day else start
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO datetime (YYYY-MM-DDTHH:MM[:SS][Z])"
        ) from None
    return _as_utc(moment)


def export_alerts(
    alerts: pl.DataFrame, destination: Path | IO[str] | IO[bytes], format: ExportFormat
) -> None:
    """Write alerts as Parquet, CSV or JSON to a file (atomically) or an open stream.

    CSV has a header row; `tags` and `matched` are joined with `;` and `event_time` is
    written as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. JSON is JSON Lines (one alert object per line,
    lists as arrays, null as null), so exports of any size stream and concatenate.
    Parquet needs a path or a binary stream.

    Raises:
        OutputError: the file cannot be written.
        ValueError: an unknown format, or Parquet asked of a text stream.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, not {format!r}")
    if isinstance(destination, Path):
        write_atomic(destination, lambda fh: _write(alerts, fh, format))
        return
    if format == "parquet" and not _is_binary(destination):
        raise ValueError("Parquet is binary: give a file or a binary stream")
    _write(alerts, destination, format)


def _write(alerts: pl.DataFrame, target: IO[str] | IO[bytes], format: ExportFormat) -> None:
    if format == "parquet":
        alerts.write_parquet(target, compression="zstd")  # type: ignore[arg-type]
    elif format == "csv":
        flat = alerts.with_columns(
            pl.col(name).list.join(LIST_SEPARATOR)
            for name, dtype in alerts.schema.items()
            if isinstance(dtype, pl.List)
        )
        flat.write_csv(target, datetime_format=_CSV_DATETIME)
    else:
        alerts.write_ndjson(target)


def _is_binary(stream: IO[str] | IO[bytes]) -> bool:
    mode = getattr(stream, "mode", "")
    return "b" in mode or not hasattr(stream, "encoding")


def _alert_files(alerts_dir: Path) -> tuple[_Files, list[Path]]:
    """The alert Parquet files under `alerts_dir` (sorted, with their schemas) and the other
    Parquet files."""
    if alerts_dir.is_file():
        candidates = [alerts_dir]
    elif alerts_dir.is_dir():
        candidates = sorted(
            path
            for path in alerts_dir.rglob("*.parquet")
            if path.is_file() and not _hidden(path.relative_to(alerts_dir).parts)
        )
    else:
        raise InputError(f"{alerts_dir}: no such folder")
    files: _Files = {}
    skipped: list[Path] = []
    for path in candidates:
        schema = _file_schema(path)
        if _IDENTITY_COLUMN in schema:
            files[path] = schema
        else:
            skipped.append(path)
    if not files:
        what = "is not an alert file" if alerts_dir.is_file() else "holds no alert files"
        raise InputError(f"{alerts_dir}: {what} (Parquet files with the alert columns)")
    return files, skipped


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def _file_schema(path: Path) -> dict[str, pl.DataType]:
    try:
        return pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {_first_line(exc)}") from exc


def _scan(files: _Files) -> pl.LazyFrame:
    """One LazyFrame over `files` with exactly ALERT_SCHEMA: files whose columns all have
    the alert types are read in one scan (missing columns as null, extra ones ignored); the
    others one by one, cast."""
    fitting: list[Path] = []
    frames: list[pl.LazyFrame] = []
    for path, schema in files.items():
        if all(dtype == ALERT_SCHEMA[name] for name, dtype in schema.items() if name in _SCHEMA):
            fitting.append(path)
        else:
            frames.append(_cast_scan(path, schema))
    if fitting:
        frames.insert(
            0,
            pl.scan_parquet(
                fitting,
                schema=_SCHEMA,
                missing_columns="insert",
                extra_columns="ignore",
                hive_partitioning=False,
                glob=False,
            ),
        )
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


def _cast_scan(path: Path, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """A file from another version whose column types differ: cast each to the alert type."""
    return pl.scan_parquet(path, hive_partitioning=False, glob=False).select(
        pl.col(name).cast(dtype, strict=False)
        if name in schema
        else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in ALERT_SCHEMA.items()
    )


def _conditions(
    rules: Sequence[str],
    hosts: Sequence[str],
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[pl.Expr]:
    conditions: list[pl.Expr] = []
    if rules:
        names = list(rules)
        conditions.append(pl.col("rule_name").is_in(names) | pl.col("rule_id").is_in(names))
    if hosts:
        lowered = [host.lower() for host in hosts]
        conditions.append(pl.col("host").str.to_lowercase().is_in(lowered))
    if since is not None:
        conditions.append(pl.col("event_time") >= pl.lit(_as_utc(since), dtype=UTC_MICROS))
    if until is not None:
        conditions.append(pl.col("event_time") < pl.lit(_as_utc(until), dtype=UTC_MICROS))
    return conditions


def _as_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _unreadable(files: _Files, error: Exception) -> InputError:
    """The query failed: find the file that cannot be read, to name it."""
    for path, schema in files.items():
        try:
            _scan({path: schema}).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            return InputError(f"{path}: not a readable Parquet file: {_first_line(exc)}")
    return InputError(f"alert files cannot be read: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
