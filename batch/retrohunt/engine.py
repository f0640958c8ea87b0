"""One chunk through the pipeline: prefilter, parse, normalise, process join, match, and
alert rows for the hits. `scan` (and every other entry point) drives an `Engine`."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from retrohunt.alerts import build_alerts, empty_alerts
from retrohunt.archive import Chunk
from retrohunt.compiler import Plan
from retrohunt.context import (
    ARCHIVE_SHIFT,
    JoinMarks,
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
from retrohunt.sources.paths import nested_roots
from retrohunt.sources.records import expand_envelopes
from retrohunt.sources.taxonomy import EVENT_TIME, RECORD, SOURCE
from retrohunt.sources.timestamps import UTC_MICROS

if TYPE_CHECKING:
    from retrohunt.parallel import ChunkPool, PooledChunks

FLUSH_BYTES = 8 << 20
"""Held candidate lines that make an archive run parse and match them."""
WHOLE_FLUSH_BYTES = 32 << 20
"""Held whole chunks (prefilter off or bypassed) that make an archive run parse and match
them. Polars costs some 0.2 s per call with SigmaHQ's thousands of rule fields, whatever
the rows: four 8 MB chunks of Windows events at once take two thirds of the time of one
at a time. (Candidates flush sooner: held over a long archive, they would be parsed all
at once at its end, 100 MB more at the peak on 4 GB of Falcon events.)"""
CONTEXT_FLUSH_BYTES = 16 << 20
"""Held process lines (for the process join) that make an archive run learn them. A batch
being learned costs a few times its bytes in Polars: at 32 MB the peak RSS of a 1 GB Falcon
scan was 398-409 MiB, at 16 MB 348-352, in the same time (1.93-1.97 s against 1.95-2.03);
at 8 MB the scan is 5 % slower."""
BYPASS_SAMPLE_LINES = 2_000
"""Lines the prefilter sorts before the engine judges whether it is worth running."""
BYPASS_PASS_RATE = 0.5
"""A pass rate at or above which the prefilter is bypassed for the rest of the run."""


class LineSource(Protocol):
    """Where alerting lines are read again from: a chunk, a batch of lines, held lines."""

    def lines_at(self, offsets: Sequence[int]) -> list[bytes]: ...

    def line_numbers_at(self, offsets: Sequence[int]) -> list[int]: ...


@dataclass(slots=True)
class Output:
    """What a step of an archive run gave: bad lines to quarantine and alert rows (alert
    ids not yet set)."""

    bad: list[BadLine] = field(default_factory=list)
    alerts: list[pl.DataFrame] = field(default_factory=list)

    def extend(self, other: Output) -> Output:
        """This output followed by `other`'s."""
        self.bad.extend(other.bad)
        self.alerts.extend(other.alerts)
        return self


class PendingLines:
    """Lines held back until the process table has seen every archive of the scan: events
    whose process was not known yet and whose alert depends on it."""

    def __init__(self, ordinal: int = 0) -> None:
        self.ordinal = ordinal  # the archive's number in the scan (see ProcessTable)
        self._lines: dict[int, tuple[int, bytes]] = {}  # offset -> (line number, bytes)
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def held_bytes(self) -> int:
        """Bytes of the lines held."""
        return self._bytes

    def add(self, offset: int, number: int, line: bytes) -> None:
        """Hold a line back."""
        if offset not in self._lines:
            self._bytes += len(line)
        self._lines[offset] = (number, line)

    def to_frame(self) -> pl.DataFrame:
        """The held lines as a frame (offset, line number, bytes), to keep on disk."""
        offsets = sorted(self._lines)
        return pl.DataFrame(
            {
                "offset": offsets,
                "line_number": [self._lines[o][0] for o in offsets],
                "line": [self._lines[o][1] for o in offsets],
            },
            schema={"offset": pl.Int64, "line_number": pl.Int64, "line": pl.Binary},
        )

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, ordinal: int) -> PendingLines:
        """Lines kept by `to_frame`, now held for the archive numbered `ordinal`."""
        pending = cls(ordinal)
        for offset, number, line in frame.select("offset", "line_number", "line").iter_rows():
            pending.add(offset, number, line)
        return pending

    def batch(self) -> LineBatch:
        """The held lines, in stream order."""
        offsets = sorted(self._lines)
        return LineBatch.of(
            [self._lines[o][1] for o in offsets], [self._lines[o][0] for o in offsets], offsets
        )


@dataclass(slots=True)
class StageTimes:
    """Seconds spent per stage (for the manifest and the benchmark)."""

    prefilter: float = 0.0
    parse: float = 0.0  # reading candidate lines or chunks, expanding envelopes, normalising
    join: float = 0.0  # learning process lines (on a helper thread: it overlaps the others)
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
    archives_started: int = 0
    # The table outlives the scan (a process table file): every process is learned even
    # when no rule needs the join, and start times are parsed for the horizon. Parsing
    # timestamps is four fifths of the cost of reading a process line's fields, so a scan
    # whose table lives only in memory skips it.
    persist_table: bool = False
    # Match with Polars regular expressions instead of Hyperscan: the bench's baseline.
    regex_baseline: bool = False
    # The prefilter pays off only when it drops most lines. With a rule set of thousands
    # of rules (SigmaHQ's), some rule's text is on every line: the prefilter then passes
    # everything and costs more than parsing. After `BYPASS_SAMPLE_LINES` lines at a pass
    # rate of at least `bypass_pass_rate` it is skipped for the rest of the run (the alerts
    # are the same by construction: it is only ever a shortcut). None: never bypassed.
    bypass_pass_rate: float | None = BYPASS_PASS_RATE
    # Processes that evaluate chunks read whole (bypassed or no prefilter, no process
    # join), started when the first such chunk comes (`parallel.ChunkPool`); 1: this one.
    workers: int = 1
    _pool: ChunkPool | None = field(init=False, default=None, repr=False)
    _learner: ThreadPoolExecutor | None = field(init=False, default=None, repr=False)
    pooled_chunks: int = field(init=False, default=0)  # chunks the workers evaluated
    bypassed: bool = field(init=False, default=False)
    sampled_lines: int = field(init=False, default=0)
    sampled_candidates: int = field(init=False, default=0)
    sources: list[Source] = field(init=False)
    joins: bool = field(init=False)

    def __post_init__(self) -> None:
        self.sources = select_sources(self.source)
        self.compiled = compile_patterns(self.plan.patterns)
        self.joins = (
            self.process_join
            and bool(join_sources(self.sources))
            and (self.persist_table or needs_context(self.plan, self.sources))
        )
        # Chunks without any of these bytes hold no event of a join source: worker
        # processes (which run without the join) may evaluate them.
        self.join_marks = JoinMarks.of(self.sources) if self.joins else None
        markers = context_markers(self.sources) if self.joins else []
        self.filter = build_prefilter(self.plan, self.sources, context_markers=markers)
        natives = join_columns(self.sources)
        self.fields = set(self.plan.fields())
        if self.joins:
            self.fields |= natives.context | {"Image"}
        self.match_schema = raw_schema(self.sources, self.fields)
        self.full_schema = raw_schema(self.sources, self.fields | natives.context, full=True)
        # Process lines are read with the sources up to the last one with a process join
        # (a line an earlier source claims is not that source's process): for Falcon, first
        # in order, a flat schema of fifteen columns, a third of the cost of every source's.
        joining = [i for i, s in enumerate(self.sources) if s.process_join is not None]
        self.context_sources = self.sources[: joining[-1] + 1] if joining else []
        context_fields = {*JOINED_FIELDS, *natives.process}
        context_fields |= {
            n for s in self.context_sources for n in (*s.time_fields, *s.host_fields)
        }
        self.context_schema = raw_schema(self.context_sources, context_fields)
        # An envelope line's events are its records, never the line itself: a process
        # line is learned only if it is no envelope. Only the list's length is read here;
        # the rare line that has one is read again with the nested columns matching reads
        # (`_envelope_lines`).
        self.envelopes = sorted({s.envelope for s in self.sources if s.envelope})
        for envelope in self.envelopes:
            self.context_schema[envelope] = pl.List(pl.Struct({"_rh_unread": pl.String()}))
        self.nested_schema = {n: self.match_schema[n] for n in nested_roots(self.match_schema)}
        for envelope in self.envelopes:
            self.nested_schema.setdefault(envelope, self.context_schema[envelope])
        self.defer_all = any(
            rule_wants_context(rule, self.plan, JOINED_FIELDS) for rule in self.plan.rules
        )
        # Alerts say where process fields came from even when the join is off.
        self.describe_table = self.table if self.joins else ProcessTable()

    def restart(self, table: ProcessTable) -> None:
        """Forget what was run so far and go on with `table`: a hunt worker keeps one engine
        (whose compiled databases cost more than reading a small archive) for many archives."""
        self.table = table
        self.times = StageTimes()
        self.deferred = self.archives_started = 0
        self.bypassed = False
        self.sampled_lines = self.sampled_candidates = self.pooled_chunks = 0
        self.describe_table = table if self.joins else ProcessTable()

    def chunk_pool(self) -> ChunkPool | None:
        """The worker processes for chunks read whole (None: `workers` is 1). With the
        process join on, only chunks `independent` of it may go there."""
        if self.workers <= 1 or (self.joins and self.join_marks is None):
            return None
        if self._pool is None:
            from retrohunt.parallel import ChunkPool  # it builds engines: imported late

            self._pool = ChunkPool(self, self.workers)
        return self._pool

    def independent(self, chunk: Chunk) -> bool:
        """Can the chunk be evaluated without the process join (no line of it can be an
        event of a join source, so the table neither learns from it nor enriches it)?"""
        if not self.joins:
            return True
        return self.join_marks is not None and not self.join_marks.found_in(chunk.data)

    def close(self) -> None:
        """Stop the worker processes and the learning thread, if any were started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._learner is not None:
            self._learner.shutdown()
            self._learner = None

    def learn_later(self, batches: Sequence[LineBatch], ordinal: int) -> Future[None]:
        """`_learn` of these batches' lines on the engine's learning thread. Joining them
        and reading them is work that runs without the GIL (bytes.join of megabytes,
        Polars): meanwhile the caller's thread goes on scanning chunks (on Falcon, a line
        in seven is a process line). One thread, so batches are learned in the order
        given."""
        if self._learner is None:
            self._learner = ThreadPoolExecutor(1, thread_name_prefix="retrohunt-learn")
        return self._learner.submit(lambda: self._learn(LineBatch.concat(batches), ordinal))

    def start(self, archive: str) -> ArchiveRun:
        """Begin running one archive's chunks through the engine (archives in scan order)."""
        self.archives_started += 1
        return ArchiveRun(self, archive, self.archives_started - 1)

    def resolve(self, pending: PendingLines, archive: str) -> pl.DataFrame:
        """Alerts of held-back lines, now that the process table has seen everything."""
        batch = pending.batch()
        self.deferred += len(batch)
        events = self._events(parse_lines(batch, self.match_schema))
        events, hits = self._match(events, pending.ordinal)
        return self._describe(batch, events, hits, archive, pending.ordinal)

    def resolve_all(self, held: Sequence[tuple[PendingLines, str]]) -> list[pl.DataFrame]:
        """`resolve` for several archives' held lines in one pass, so Polars' cost per call
        is paid once, not once per archive: the alerts of each, in the order given.

        The lines are numbered by stream position (archive ordinal, then offset) for the
        pass, which is what the process join orders sightings by anyway.
        """
        span = 1 << ARCHIVE_SHIFT
        batches, names = [], {}
        for pending, archive in sorted(held, key=lambda item: item[0].ordinal):
            batch = pending.batch()
            shifted = batch.offsets + (pending.ordinal << ARCHIVE_SHIFT)
            batches.append(LineBatch(batch.data, batch.line_numbers, shifted, batch.known_bounds))
            names[pending.ordinal] = archive
        lines = LineBatch.concat(batches)
        self.deferred += len(lines)
        found: dict[int, pl.DataFrame] = {}
        if len(lines):
            events = self._events(parse_lines(lines, self.match_schema))
            events, hits = self._match(events, 0)
            alerts = self._describe(lines, events, hits, "", 0)
            ordinal = (pl.col("byte_offset") // span).alias("_rh_ordinal")
            alerts = alerts.with_columns(ordinal, pl.col("byte_offset") % span)
            for (number,), frame in alerts.group_by("_rh_ordinal"):
                key = int(number)
                found[key] = frame.drop("_rh_ordinal").with_columns(
                    pl.lit(names[key], dtype=pl.String).alias("archive")
                )
        return [found.get(pending.ordinal, empty_alerts()) for pending, _ in held]

    def describe(
        self, table_file: Path | None = None, horizon: dt.timedelta | None = None
    ) -> dict[str, Any]:
        """The engine's part of the manifest: prefilter and process join."""
        horizon = horizon if horizon is not None else self.table.horizon
        return {
            "prefilter": {
                "enabled": self.prefilter,
                "bypassed": self.bypassed,
                "sampled_lines": self.sampled_lines,
                "sampled_pass_rate": (
                    round(self.sampled_candidates / self.sampled_lines, 6)
                    if self.sampled_lines
                    else None
                ),
                "patterns": self.filter.pattern_count,
                "every_line": self.filter.every_line,
                "rules": {f.rule: f.mode for f in self.filter.rules},
            },
            "process_join": {
                "enabled": self.joins,
                "processes_added": self.table.added,
                "table_processes": len(self.table) if self.joins else 0,
                "table_file": str(table_file) if table_file else None,
                "horizon_days": horizon.total_seconds() / 86400,
                "held_back_lines": self.deferred,
            },
            "workers": {"processes": self.workers, "chunks": self.pooled_chunks},
            "stage_seconds": self.times.as_dict(),
        }

    def sample_wanted(self) -> int:
        """Lines the prefilter must still sort before the bypass is decided (0: decided,
        or never bypassed)."""
        if not self.prefilter or self.bypassed or self.bypass_pass_rate is None:
            return 0
        return max(0, BYPASS_SAMPLE_LINES - self.sampled_lines)

    def sample(self, lines: int, candidates: int) -> None:
        """Count lines the prefilter sorted; bypass it once the sample says it is useless."""
        threshold = self.bypass_pass_rate
        if threshold is None or not self.sample_wanted():
            return
        self.sampled_lines += lines
        self.sampled_candidates += candidates
        if self.sampled_lines >= BYPASS_SAMPLE_LINES:
            self.bypassed = self.sampled_candidates / self.sampled_lines >= threshold

    # --- stages -----------------------------------------------------------------------------

    def _events(self, parsed: ParsedChunk) -> pl.DataFrame:
        """Normalised events of parsed lines (envelopes expanded)."""
        started = time.perf_counter()
        expanded = expand_envelopes(parsed.frame, self.sources)
        events = normalise(expanded, self.sources, self.fields, absent=parsed.absent).collect()
        self.times.parse += time.perf_counter() - started
        return events

    def _learn(self, context: LineBatch, ordinal: int) -> None:
        if not len(context):
            return
        started = time.perf_counter()
        parsed = parse_lines(context, self.context_schema)
        if self.envelopes:
            envelopes = self._envelope_lines(context, parsed.frame)
            parsed.frame = parsed.frame.filter(~pl.col(OFFSET_COLUMN).is_in(envelopes.implode()))
        sources = self.context_sources
        start_time = (
            event_context(sources)[0]
            if self.persist_table
            else pl.lit(None, dtype=UTC_MICROS).alias(EVENT_TIME)
        )
        rows = (
            normalise(parsed.frame.lazy(), sources, JOINED_FIELDS)
            .filter(process_rows(sources))
            .with_columns(start_time)
            .collect()
        )
        self.table.add(rows, sources, ordinal)
        self.times.join += time.perf_counter() - started

    def _envelope_lines(self, lines: LineBatch, frame: pl.DataFrame) -> pl.Series:
        """Offsets of the lines whose events are their envelope's records. Whether a line
        holding a non-empty envelope list is one depends on how its nested values fit the
        schema matching reads them with (a wrong-shaped nested value nulls every nested
        column of its line, the envelope too, and the line is one event then), so those
        lines are read again with that schema's nested columns."""
        holding = pl.any_horizontal(pl.col(e).list.len().fill_null(0) > 0 for e in self.envelopes)
        offsets = frame.filter(holding).get_column(OFFSET_COLUMN)
        if offsets.is_empty():
            return offsets
        wanted = offsets.to_list()
        batch = LineBatch.of(lines.lines_at(wanted), lines.line_numbers_at(wanted), wanted)
        again = parse_lines(batch, self.nested_schema).frame
        kept = pl.any_horizontal(pl.col(e).list.len().fill_null(0) > 0 for e in self.envelopes)
        return again.filter(kept).get_column(OFFSET_COLUMN)

    def _match(self, events: pl.DataFrame, ordinal: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The events (enriched by the process join when it is on) and their hits."""
        if self.joins:
            started = time.perf_counter()
            events = self.table.enrich(events, self.sources, ordinal)
            self.times.join += time.perf_counter() - started
        started = time.perf_counter()
        hits = match_frame(events, self.plan, self.compiled, regex_baseline=self.regex_baseline)
        self.times.match += time.perf_counter() - started
        return events, hits

    def _hold_back(
        self, lines: LineSource, events: pl.DataFrame, hits: pl.DataFrame, pending: PendingLines
    ) -> pl.DataFrame:
        """Move the lines of unresolved events that need their process to `pending`; the
        hits left are final."""
        unresolved = ProcessTable.unresolved(events)
        if not unresolved.any():
            return hits
        rows = unresolved.arg_true()
        if not self.defer_all:
            rows = rows.filter(rows.is_in(hits.get_column(ROW_COLUMN).implode()))
        if rows.len() == 0:
            return hits
        offsets = events.get_column(OFFSET_COLUMN).gather(rows).unique().sort().to_list()
        numbers = lines.line_numbers_at(offsets)
        for offset, number, line in zip(offsets, numbers, lines.lines_at(offsets), strict=True):
            pending.add(offset, number, line)
        held = (
            events.select(OFFSET_COLUMN)
            .with_row_index(ROW_COLUMN)
            .filter(pl.col(OFFSET_COLUMN).is_in(offsets))
            .get_column(ROW_COLUMN)
        )
        return hits.filter(~pl.col(ROW_COLUMN).is_in(held.implode()))

    def _describe(
        self,
        lines: LineSource,
        events: pl.DataFrame,
        hits: pl.DataFrame,
        archive: str,
        ordinal: int,
    ) -> pl.DataFrame:
        if hits.height == 0:
            return empty_alerts()
        started = time.perf_counter()
        alerts = describe_hits(
            lines, events, hits, self.plan, self.sources, self.full_schema, archive,
            self.describe_table,
            ordinal,
            self.match_schema,
        )  # fmt: skip
        self.times.describe += time.perf_counter() - started
        return alerts


class ArchiveRun:
    """One archive going through an `Engine`: its counts, and the lines waiting to be parsed.

    With the prefilter on, a chunk gives few candidate lines; they gather here until
    `flush_bytes` of them are held or the archive ends, and are then parsed and matched
    together. Polars' fixed cost per call (planning a query of a few hundred expressions) is
    paid once per batch instead of once per chunk. The process lines the join learns from
    gather too, and are learned whenever `CONTEXT_FLUSH_BYTES` of them are held (on the
    engine's learning thread, while chunks go on being scanned), without evaluating the
    candidates: a flush learns every process line held before it matches, so the
    candidates see the same table either way, and on Falcon (a process line in seven)
    evaluating at every learning step cost a fifth of the scan. Memory stays bounded by
    those two sizes and one batch being learned (what a batch costs in Polars is a few times
    its bytes). Without the prefilter (or once it is bypassed) whole chunks gather
    the same way, up to `WHOLE_FLUSH_BYTES`.
    """

    def __init__(self, engine: Engine, archive: str, ordinal: int = 0) -> None:
        self.engine = engine
        self.archive = archive
        self.ordinal = ordinal
        self.pending = PendingLines(ordinal)
        self.flush_bytes = FLUSH_BYTES
        self.whole_flush_bytes = WHOLE_FLUSH_BYTES
        self.lines = self.candidate_lines = 0
        self.unrecognised = self.invalid_utf8 = self.bad_lines = 0
        self._candidates: list[LineBatch] = []
        self._context: list[LineBatch] = []
        self._context_bytes = 0
        self._candidate_bytes = 0
        self._learning: Future[None] | None = None
        self._pooled: PooledChunks | None = None

    def feed(self, chunk: Chunk) -> Output:
        """Take one chunk; returns what the lines processed so far gave."""
        wanted = self.engine.sample_wanted()
        if 0 < wanted < chunk.physical_lines():
            # Only the sample goes through the prefilter before the bypass is decided: with
            # a rule set that makes it useless, it is also at its slowest.
            head, tail = chunk.split(wanted)
            return self._feed(head).extend(self._feed(tail))
        return self._feed(chunk)

    def _feed(self, chunk: Chunk) -> Output:
        engine = self.engine
        filtering = engine.prefilter and not engine.bypassed
        if not filtering and engine.independent(chunk):
            pool = engine.chunk_pool()
            if pool is not None:
                if self._pooled is None:
                    self._pooled = pool.runner(self)
                return self._pooled.submit(chunk)
            return self._hold_whole(chunk)
        started = time.perf_counter()
        found = engine.filter.scan(chunk, context_only=not filtering)
        engine.times.prefilter += time.perf_counter() - started
        if engine.joins and len(found.context):
            self._context.append(found.context)
            self._context_bytes += len(found.context.data)
        if not filtering:
            return self._hold_whole(chunk)
        lines = chunk.physical_lines() - found.empty_lines
        self.lines += lines
        engine.sample(lines, len(found.candidates))
        if len(found.candidates):
            self._candidates.append(found.candidates)
            self._candidate_bytes += len(found.candidates.data)
        # From the next chunk on after a bypass, every line is parsed: flush what is held.
        if engine.bypassed or self._candidate_bytes >= self.flush_bytes:
            return self.flush()
        if self._context_bytes >= CONTEXT_FLUSH_BYTES:
            self._learn_held(wait=False)
        return Output()

    def _hold_whole(self, chunk: Chunk) -> Output:
        """Hold every line of a chunk for the next flush (prefilter off or bypassed)."""
        batch = LineBatch.whole(chunk)
        self.lines += len(batch)  # a flush takes the blank ones off again
        self._candidates.append(batch)
        self._candidate_bytes += len(batch.data)
        if self._candidate_bytes >= self.whole_flush_bytes:
            return self.flush()
        return Output()

    def _learn_held(self, *, wait: bool = True) -> None:
        """Add the held process lines to the process table; `wait=False`: on the engine's
        learning thread, while this one goes on (the table is only read after a `wait`)."""
        held, self._context = self._context, []
        self._context_bytes = 0
        if self._learning is not None:
            learning, self._learning = self._learning, None
            learning.result()  # in order, and its error (if any) raised here
        if not held:
            return
        if wait:
            self.engine._learn(LineBatch.concat(held), self.ordinal)
        else:
            self._learning = self.engine.learn_later(held, self.ordinal)

    def flush(self) -> Output:
        """Parse and match every line held so far."""
        engine = self.engine
        self._learn_held()
        batch, self._candidates = LineBatch.concat(self._candidates), []
        self._candidate_bytes = 0
        if not len(batch):
            return Output()
        started = time.perf_counter()
        parsed = parse_lines(batch, engine.match_schema)
        engine.times.parse += time.perf_counter() - started
        self.candidate_lines += parsed.lines
        self.lines -= len(batch) - parsed.lines  # blank (whitespace-only) lines
        return self._evaluate(batch, parsed)

    def close(self) -> Output:
        """The archive has no more chunks: flush what is held (and wait for the chunks in
        worker processes)."""
        output = self._pooled.drain() if self._pooled is not None else Output()
        return output.extend(self.flush())

    @property
    def events(self) -> int:
        """Events read so far: non-blank lines that are JSON objects (an envelope line of
        many records counts once). Lines held for a flush count already."""
        return self.lines - self.bad_lines

    def evaluate_chunk(self, chunk: Chunk) -> Output:
        """Parse and evaluate every line of a chunk (no prefilter)."""
        self._learn_held()
        started = time.perf_counter()
        parsed = parse_chunk(chunk, self.engine.match_schema)
        self.engine.times.parse += time.perf_counter() - started
        self.lines += parsed.lines
        self.candidate_lines += parsed.lines
        return self._evaluate(chunk, parsed)

    def _evaluate(self, lines: LineSource, parsed: ParsedChunk) -> Output:
        engine = self.engine
        self.invalid_utf8 += parsed.invalid_utf8
        self.bad_lines += len(parsed.bad)
        events = engine._events(parsed)
        if events.height:
            self.unrecognised += events.get_column(SOURCE).null_count()
        events, hits = engine._match(events, self.ordinal)
        if engine.joins and events.height:
            hits = engine._hold_back(lines, events, hits, self.pending)
        alerts = engine._describe(lines, events, hits, self.archive, self.ordinal)
        return Output(parsed.bad, [alerts] if alerts.height else [])


def describe_hits(
    lines: LineSource,
    events: pl.DataFrame,
    hits: pl.DataFrame,
    plan: Plan,
    sources: Sequence[Source],
    full_schema: dict[str, pl.DataType],
    archive: str,
    table: ProcessTable,
    ordinal: int = 0,
    match_schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Alert rows for hits.

    Matching reads only the fields rules test; the alerting lines (few) are read again here
    with every field an alert shows (process fields joined again from the same table), and
    only they get timestamps parsed. An event inside an envelope line (CloudTrail Records)
    is found again by (line offset, record index). `match_schema`: what the events were
    read with, the fallback for a line the full schema reads differently.
    """
    match_schema = full_schema if match_schema is None else match_schema
    key = [OFFSET_COLUMN, RECORD]
    hit_keys = (
        events.select(*key)
        .with_row_index(ROW_COLUMN)
        .join(hits.select(ROW_COLUMN).unique(), on=ROW_COLUMN, how="semi")
        .with_columns(pl.col(RECORD).fill_null(-1))
    )
    offsets = hit_keys.get_column(OFFSET_COLUMN).unique().sort().to_list()

    def read_again(offsets: list[int], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        batch = LineBatch.of(lines.lines_at(offsets), lines.line_numbers_at(offsets), offsets)
        reread = parse_lines(batch, schema)
        if reread.frame.height != len(offsets):
            raise RuntimeError("an alerting line did not parse a second time")
        expanded = expand_envelopes(reread.frame, sources).with_columns(
            pl.col(RECORD).fill_null(-1)
        )
        events = normalise(expanded, sources, absent=reread.absent).collect()
        return table.enrich(events, sources, ordinal)

    described = read_again(offsets, full_schema)
    lost = hit_keys.join(described.select(key), on=key, how="anti")
    if lost.height:
        # A nested value that fits the matching schema but not the full one (a string
        # where the full schema reads an object) nulls every nested column of its line on
        # the second read, Records too: those lines are described as matching read them.
        again = lost.get_column(OFFSET_COLUMN).unique().sort().to_list()
        described = pl.concat(
            [
                described.filter(~pl.col(OFFSET_COLUMN).is_in(again)),
                read_again(again, match_schema),
            ],
            how="diagonal_relaxed",
        )
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
