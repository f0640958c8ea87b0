"""One chunk through the pipeline: prefilter, parse, normalise, process join, match, and
alert rows for the hits. `scan` (and every other entry point) drives an `Engine`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from retrohunt.alerts import build_alerts, empty_alerts
from retrohunt.archive import Chunk
from retrohunt.compiler import Plan
from retrohunt.context import (
    ProcessTable,
    context_markers,
    join_columns,
    join_sources,
    needs_context,
    process_rows,
    rule_wants_context,
)
from retrohunt.hyperscan_db import compile_patterns
from retrohunt.match import ROW_COLUMN, match_frame
from retrohunt.parse import OFFSET_COLUMN, BadLine, LineBatch, ParsedChunk, parse_chunk, parse_lines
from retrohunt.prefilter import build_prefilter
from retrohunt.sources import Source, event_context, normalise, raw_schema, select_sources
from retrohunt.sources.base import JOINED_FIELDS
from retrohunt.sources.records import expand_envelopes
from retrohunt.sources.taxonomy import RECORD, SOURCE

if TYPE_CHECKING:
    from retrohunt.scan import ScanOptions


class LineSource(Protocol):
    """Where alerting lines are read again from: a chunk, or lines held back."""

    def line_at(self, offset: int) -> bytes: ...

    def line_numbers(self, offsets: Sequence[int]) -> list[int]: ...


@dataclass(slots=True)
class ChunkOutcome:
    """What one chunk gave: counts, bad lines and alert rows (alert ids not yet set)."""

    lines: int
    candidate_lines: int
    events: int
    unrecognised: int
    invalid_utf8: int
    bad: list[BadLine]
    alerts: pl.DataFrame


class PendingLines:
    """Lines held back until the process table has seen every archive of the scan: events
    whose process was not known yet and whose alert depends on it."""

    def __init__(self) -> None:
        self._lines: dict[int, tuple[int, bytes]] = {}  # offset -> (line number, bytes)

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, offset: int, number: int, line: bytes) -> None:
        """Hold a line back."""
        self._lines[offset] = (number, line)

    def batch(self) -> LineBatch:
        """The held lines, in stream order."""
        offsets = sorted(self._lines)
        return LineBatch.of(
            [self._lines[o][1] for o in offsets], [self._lines[o][0] for o in offsets], offsets
        )

    def line_at(self, offset: int) -> bytes:
        """The held line starting at `offset`."""
        return self._lines[offset][1]

    def line_numbers(self, offsets: Sequence[int]) -> list[int]:
        """Line numbers of held lines."""
        return [self._lines[o][0] for o in offsets]


@dataclass(slots=True)
class StageTimes:
    """Seconds spent per stage (for the manifest and the benchmark)."""

    prefilter: float = 0.0
    parse: float = 0.0
    join: float = 0.0
    match: float = 0.0
    describe: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Rounded, for JSON."""
        return {name: round(getattr(self, name), 3) for name in self.__slots__}


@dataclass
class Engine:
    """A compiled rule set, its prefilter and process table, ready to run chunks."""

    plan: Plan
    source: str | None = None
    prefilter: bool = True
    process_join: bool = True
    table: ProcessTable = field(default_factory=ProcessTable)
    times: StageTimes = field(default_factory=StageTimes)
    deferred: int = 0  # events held back for the process table's last word
    sources: list[Source] = field(init=False)
    joins: bool = field(init=False)

    def __post_init__(self) -> None:
        self.sources = select_sources(self.source)
        self.compiled = compile_patterns(self.plan.patterns)
        self.joins = (
            self.process_join
            and bool(join_sources(self.sources))
            and needs_context(self.plan, self.sources)
        )
        markers = context_markers(self.sources) if self.joins else []
        self.filter = build_prefilter(self.plan, self.sources, context_markers=markers)
        natives = join_columns(self.sources)
        self.fields = set(self.plan.fields())
        if self.joins:
            self.fields |= natives.context | {"Image"}
        self.match_schema = raw_schema(self.sources, self.fields)
        self.full_schema = raw_schema(self.sources, self.fields | natives.context, full=True)
        when_where = {n for s in self.sources for n in (*s.time_fields, *s.host_fields)}
        self.context_schema = raw_schema(
            self.sources, {*JOINED_FIELDS, *natives.process, *when_where}
        )
        self.defer_all = any(
            rule_wants_context(rule, self.plan, JOINED_FIELDS) for rule in self.plan.rules
        )
        # Alerts say where process fields came from even when the join is off.
        self.describe_table = self.table if self.joins else ProcessTable()

    def run_chunk(self, chunk: Chunk, archive: str, pending: PendingLines) -> ChunkOutcome:
        """Run one chunk: learn its processes, evaluate its candidate lines, describe hits.

        Events whose process is not known yet, and whose alert depends on it, are held back
        in `pending` (see `resolve`).
        """
        started = time.perf_counter()
        found = self.filter.scan(chunk) if (self.prefilter or self.joins) else None
        self.times.prefilter += time.perf_counter() - started
        if self.joins and found is not None:
            self._learn(found.context)
        started = time.perf_counter()
        parsed: ParsedChunk
        if self.prefilter and found is not None:
            parsed = parse_lines(found.candidates, self.match_schema)
            blank = len(found.candidates) - parsed.lines
            lines = chunk.physical_lines() - found.empty_lines - blank
            events_count = lines - len(parsed.bad)
            bad = _numbered(chunk, parsed.bad)
        else:
            parsed = parse_chunk(chunk, self.match_schema)
            lines = parsed.lines
            events_count = parsed.frame.height
            bad = parsed.bad
        expanded = expand_envelopes(parsed.frame, self.sources)
        events = normalise(expanded.lazy(), self.sources, self.fields).collect()
        self.times.parse += time.perf_counter() - started
        unrecognised = events.get_column(SOURCE).null_count() if events.height else 0
        events, hits = self._match(events)
        if self.joins and events.height:
            hits = self._hold_back(chunk, events, hits, pending)
        alerts = self._describe(chunk, events, hits, archive)
        return ChunkOutcome(
            lines, parsed.lines, events_count, unrecognised, parsed.invalid_utf8, bad, alerts
        )

    def resolve(self, pending: PendingLines, archive: str) -> pl.DataFrame:
        """Alerts of held-back lines, now that the process table has seen everything."""
        batch = pending.batch()
        self.deferred += len(batch)
        parsed = parse_lines(batch, self.match_schema)
        expanded = expand_envelopes(parsed.frame, self.sources)
        events = normalise(expanded.lazy(), self.sources, self.fields).collect()
        events, hits = self._match(events)
        return self._describe(pending, events, hits, archive)

    def describe(self, options: ScanOptions) -> dict[str, Any]:
        """The engine's part of the manifest: prefilter and process join."""
        return {
            "prefilter": {
                "enabled": self.prefilter,
                "patterns": self.filter.pattern_count,
                "every_line": self.filter.every_line,
                "rules": {f.rule: f.mode for f in self.filter.rules},
            },
            "process_join": {
                "enabled": self.joins,
                "processes_added": self.table.added,
                "table_processes": len(self.table) if self.joins else 0,
                "table_file": str(options.process_table) if options.process_table else None,
                "horizon_days": options.process_horizon.total_seconds() / 86400,
                "held_back_lines": self.deferred,
            },
            "stage_seconds": self.times.as_dict(),
        }

    # --- stages -----------------------------------------------------------------------------

    def _learn(self, context: LineBatch) -> None:
        if not len(context):
            return
        started = time.perf_counter()
        parsed = parse_lines(context, self.context_schema)
        rows = (
            normalise(parsed.frame.lazy(), self.sources, JOINED_FIELDS)
            .filter(process_rows(self.sources))
            .with_columns(event_context(self.sources))
            .collect()
        )
        self.table.add(rows, self.sources)
        self.times.join += time.perf_counter() - started

    def _match(self, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The events (enriched by the process join when it is on) and their hits."""
        if self.joins:
            started = time.perf_counter()
            events = self.table.enrich(events, self.sources)
            self.times.join += time.perf_counter() - started
        started = time.perf_counter()
        hits = match_frame(events, self.plan, self.compiled)
        self.times.match += time.perf_counter() - started
        return events, hits

    def _hold_back(
        self, chunk: Chunk, events: pl.DataFrame, hits: pl.DataFrame, pending: PendingLines
    ) -> pl.DataFrame:
        unresolved = ProcessTable.unresolved(events)
        if not unresolved.any():
            return hits
        rows = unresolved.arg_true()
        if not self.defer_all:
            rows = rows.filter(rows.is_in(hits.get_column(ROW_COLUMN).implode()))
        if rows.len() == 0:
            return hits
        offsets = events.get_column(OFFSET_COLUMN).gather(rows).unique().sort().to_list()
        numbers = chunk.line_numbers(offsets)
        for offset, number in zip(offsets, numbers, strict=True):
            pending.add(offset, number, chunk.line_at(offset))
        held = (
            events.select(OFFSET_COLUMN)
            .with_row_index(ROW_COLUMN)
            .filter(pl.col(OFFSET_COLUMN).is_in(offsets))
            .get_column(ROW_COLUMN)
        )
        return hits.filter(~pl.col(ROW_COLUMN).is_in(held.implode()))

    def _describe(
        self, lines: LineSource, events: pl.DataFrame, hits: pl.DataFrame, archive: str
    ) -> pl.DataFrame:
        if hits.height == 0:
            return empty_alerts()
        started = time.perf_counter()
        alerts = describe_hits(
            lines, events, hits, self.plan, self.sources, self.full_schema, archive,
            self.describe_table,
        )  # fmt: skip
        self.times.describe += time.perf_counter() - started
        return alerts


def _numbered(chunk: Chunk, bad: list[BadLine]) -> list[BadLine]:
    """Bad lines of a candidate batch get their line numbers (counted only for them)."""
    if not bad:
        return bad
    numbers = chunk.line_numbers([b.byte_offset for b in bad])
    return [
        BadLine(number, b.byte_offset, b.reason, b.raw)
        for b, number in zip(bad, numbers, strict=True)
    ]


def describe_hits(
    lines: LineSource,
    events: pl.DataFrame,
    hits: pl.DataFrame,
    plan: Plan,
    sources: Sequence[Source],
    full_schema: dict[str, pl.DataType],
    archive: str,
    table: ProcessTable,
) -> pl.DataFrame:
    """Alert rows for hits.

    Matching reads only the fields rules test; the alerting lines (few) are read again here
    with every field an alert shows (process fields joined again from the same table), and
    only they get timestamps parsed. An event inside an envelope line (CloudTrail Records)
    is found again by (line offset, record index).
    """
    key = [OFFSET_COLUMN, RECORD]
    hit_keys = (
        events.select(*key)
        .with_row_index(ROW_COLUMN)
        .join(hits.select(ROW_COLUMN).unique(), on=ROW_COLUMN, how="semi")
        .with_columns(pl.col(RECORD).fill_null(-1))
    )
    offsets = hit_keys.get_column(OFFSET_COLUMN).unique().sort().to_list()
    batch = LineBatch.of([lines.line_at(o) for o in offsets], lines.line_numbers(offsets), offsets)
    reread = parse_lines(batch, full_schema).frame
    if reread.height != len(offsets):
        raise RuntimeError("an alerting line did not parse a second time")
    expanded = expand_envelopes(reread, sources).with_columns(pl.col(RECORD).fill_null(-1))
    described = table.enrich(normalise(expanded.lazy(), sources).collect(), sources)
    described = described.with_row_index("_rh_new")
    renumbered = (
        hits.join(hit_keys.select(ROW_COLUMN, *key), on=ROW_COLUMN)
        .join(described.select("_rh_new", *key), on=key)
        .select(pl.col("_rh_new").alias(ROW_COLUMN), pl.exclude(ROW_COLUMN, "_rh_new", *key))
    )
    described = described.drop("_rh_new").with_columns(
        pl.when(pl.col(RECORD) >= 0).then(pl.col(RECORD)).alias(RECORD)
    )
    return build_alerts(
        described, renumbered, plan, archive=archive, context=event_context(sources)
    )
