"""The output contract: the alert schema, stable alert ids, and alert rows from rule hits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl

from retrohunt.compiler.plan import Plan
from retrohunt.match import ROW_COLUMN, RULE_COLUMN
from retrohunt.parse import LINE_COLUMN, OFFSET_COLUMN
from retrohunt.sources.taxonomy import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    HOST,
    PROCESS_CONTEXT,
    RECORD,
    SOURCE,
)
from retrohunt.sources.timestamps import UTC_MICROS

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "rule_id": pl.String(),
    "rule_name": pl.String(),
    "rule_title": pl.String(),
    "level": pl.String(),
    "tags": pl.List(pl.String()),
    "event_time": UTC_MICROS,
    "source": pl.String(),
    "event_type": pl.String(),
    "host": pl.String(),
    "user": pl.String(),
    "image": pl.String(),
    "command_line": pl.String(),
    "parent_image": pl.String(),
    "remote_ip": pl.String(),
    "remote_port": pl.Int32(),
    "domain": pl.String(),
    "archive": pl.String(),
    "line_number": pl.Int64(),
    "byte_offset": pl.Int64(),
    "matched": pl.List(pl.String()),
    # Beyond the contract: what an analyst needs to trace the alert back.
    "category": pl.String(),
    "archive_sha256": pl.String(),
    "record_index": pl.Int64(),  # the event's index inside an envelope line (CloudTrail)
    "container_id": pl.String(),
    "process_context": pl.String(),  # event / joined / unknown: where image etc. came from
    "cloud_region": pl.String(),
    "cloud_account": pl.String(),
}
"""Alert columns in order; the first 21 are the output contract other tools read."""

_FROM_EVENT: dict[str, pl.Expr] = {
    "event_time": pl.col(EVENT_TIME),
    "source": pl.col(SOURCE),
    "event_type": pl.col(EVENT_TYPE),
    "host": pl.col(HOST),
    "user": pl.col("User"),
    "image": pl.col("Image"),
    "command_line": pl.col("CommandLine"),
    "parent_image": pl.col("ParentImage"),
    "remote_ip": pl.col("DestinationIp"),
    "remote_port": pl.col("DestinationPort").str.strip_chars().cast(pl.Int32, strict=False),
    "domain": pl.col("QueryName"),
    "line_number": pl.col(LINE_COLUMN),
    "byte_offset": pl.col(OFFSET_COLUMN),
    "category": pl.col(CATEGORY),
    "record_index": pl.col(RECORD),
    "container_id": pl.col("ContainerId"),
    "process_context": pl.col(PROCESS_CONTEXT),
    "cloud_region": pl.col("CloudRegion"),
    "cloud_account": pl.col("CloudAccount"),
}


def empty_alerts() -> pl.DataFrame:
    """An alert frame with no rows and the full schema."""
    return _EMPTY.clear()  # building it from the schema costs 100× more, per call


_EMPTY = pl.DataFrame(schema=ALERT_SCHEMA)


def build_alerts(
    events: pl.DataFrame,
    hits: pl.DataFrame,
    plan: Plan,
    *,
    archive: str,
    context: Sequence[pl.Expr] = (),
) -> pl.DataFrame:
    """Join rule hits to their events and rules: one alert row per (event, rule).

    `events` is a normalised frame (with line provenance); `hits` comes from `match_frame`
    over the same frame; `context` computes event time and host on the alerting rows only
    (see `sources.event_context`). `alert_id` stays null until `with_alert_ids` is given
    the archive's digest, which is known only once the whole archive has been read.
    """
    if hits.height == 0:
        return empty_alerts()
    rules: pl.DataFrame = plan.memo("alerts.rules", _rule_columns)
    picked = (
        events.with_row_index(ROW_COLUMN)
        .filter(pl.col(ROW_COLUMN).is_in(hits[ROW_COLUMN].unique().implode()))
        .with_columns(context)
        .select(pl.col(ROW_COLUMN), *(expr.alias(name) for name, expr in _FROM_EVENT.items()))
    )
    joined = hits.join(picked, on=ROW_COLUMN, how="left").join(rules, on=RULE_COLUMN, how="left")
    joined = joined.with_columns(
        pl.lit(archive).alias("archive"),
        pl.lit(None, dtype=pl.String).alias("archive_sha256"),
        pl.lit(None, dtype=pl.String).alias("alert_id"),
    )
    return joined.select(pl.col(name).cast(dtype) for name, dtype in ALERT_SCHEMA.items())


def _rule_columns(plan: Plan) -> pl.DataFrame:
    """The rule columns of alerts, one row per rule (built once per plan: with thousands of
    rules, building it took 50 ms)."""
    return pl.DataFrame(
        {
            RULE_COLUMN: pl.Series(range(len(plan.rules)), dtype=pl.UInt32),
            "rule_id": [r.rule_id for r in plan.rules],
            "rule_name": [r.name for r in plan.rules],
            "rule_title": [r.title for r in plan.rules],
            "level": [r.level for r in plan.rules],
            "tags": pl.Series([list(r.tags) for r in plan.rules], dtype=pl.List(pl.String)),
        }
    )


def with_alert_ids(alerts: pl.DataFrame, archive_sha256: str) -> pl.DataFrame:
    """Fill `alert_id` and `archive_sha256`: ids are stable, since the same archive content,
    line and rule give the same id whatever the archive's path or the run."""
    ids = [
        alert_id(archive_sha256, line, rule, record)
        for line, rule, record in zip(
            alerts["line_number"], alerts["rule_id"], alerts["record_index"], strict=True
        )
    ]
    return alerts.with_columns(
        pl.Series("alert_id", ids, dtype=pl.String),
        pl.lit(archive_sha256, dtype=pl.String).alias("archive_sha256"),
    )


def alert_id(
    archive_sha256: str, line_number: int, rule_id: str, record_index: int | None = None
) -> str:
    """Stable id of an alert: a hash of archive content digest, line number (and record
    index inside an envelope line) and rule id."""
    key = f"{archive_sha256}\x1f{line_number}\x1f{rule_id}"
    if record_index is not None:
        key += f"\x1f{record_index}"
    key_bytes = key.encode()
    return hashlib.sha256(key_bytes).hexdigest()[:32]
