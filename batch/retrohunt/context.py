"""The process join: a table of processes (agent, process id → image, command line, parent,
user, container, start time) that fills those fields on network and DNS events lacking them.

Falcon network and DNS events name their process only by ContextProcessId; the process
event with that TargetProcessId on the same agent says which image it was. The table is
fed from process lines as chunks stream by (`add`); events are enriched from it (`enrich`)
and say where their process fields came from (`process_context`: "event", "joined" or
"unknown"). A persistent table (`load` / `save`) carries processes from one run to the
next, bounded by a horizon on their start time. Beyond `SPILL_ROWS` sightings, a table
keeps the older ones in Parquet segments on disk, so its memory does not grow with the
archives scanned.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retrohunt.compiler.plan import (
    And,
    CidrMatch,
    CompiledRule,
    Exists,
    FieldEquals,
    IsNull,
    Node,
    Not,
    NumberCompare,
    NumberEquals,
    Or,
    Plan,
    RegexMatch,
    StringMatch,
)
from retrohunt.errors import InputError, OutputError
from retrohunt.parse import OFFSET_COLUMN
from retrohunt.sink import write_atomic
from retrohunt.sources.base import JOINED_FIELDS, ProcessJoin, Source, first_of
from retrohunt.sources.taxonomy import CATEGORY, EVENT_TIME, EVENT_TYPE, PROCESS_CONTEXT, SOURCE
from retrohunt.sources.timestamps import UTC_MICROS

DEFAULT_HORIZON = dt.timedelta(days=7)
"""How long a process stays in a persistent table after it started."""
SPILL_ROWS = 1 << 18
"""Sightings a table holds in memory before it writes them to a segment on disk: the
processes of some 1.2 GB of Falcon events (about 13 MB of memory for the generated corpus,
75 MB if every command line differs). Beyond it memory stays bounded however many archives
a scan reads; each lookup then also reads the host and process id columns of the segments
(lookups come a few times per GB of events)."""

EVENT, JOINED, UNKNOWN = "event", "joined", "unknown"

_HOST, _PID, _SEQ, _FOUND = "_rh_join_host", "_rh_join_pid", "_rh_join_seq", "_rh_join_found"
_POS, _ROW = "_rh_join_pos", "_rh_join_row"
TABLE_SCHEMA: dict[str, pl.DataType] = {
    _HOST: pl.String(),
    _PID: pl.String(),
    **{name: pl.String() for name in JOINED_FIELDS},
    EVENT_TIME: UTC_MICROS,
    _SEQ: pl.Int64(),
}
"""Columns of the process table's Parquet file (and of `compacted`)."""
_LIVE_SCHEMA: dict[str, pl.DataType] = {**TABLE_SCHEMA, _POS: pl.Int64()}
_CATEGORICAL = (_HOST, *JOINED_FIELDS)
_OLDEST = pl.CompatLevel.oldest()
_SPILL_SCHEMA = pl.DataFrame(schema=_LIVE_SCHEMA).to_arrow(compat_level=_OLDEST).schema

ARCHIVE_SHIFT = 44
"""A stream position is archive ordinal << ARCHIVE_SHIFT | byte offset (16 TiB each)."""


def stream_position(ordinal: int) -> pl.Expr:
    """Where a row's line is in the scan: its archive's ordinal, then its byte offset."""
    return (pl.lit(ordinal << ARCHIVE_SHIFT, dtype=pl.Int64) + pl.col(OFFSET_COLUMN)).alias(_POS)


def joined_column(name: str) -> str:
    """Name of the column holding the joined value of field `name`."""
    return f"_rh_joined:{name}"


class ProcessTable:
    """Processes seen so far, each sighting with its place in the scan (see module doc).

    A process id can be reused on one agent. An event joins the last sighting of its key at
    or before its own place in the scan, else the first one after it: which process that is
    does not depend on how lines were batched, so the prefilter on and off agree. Sightings
    loaded from a file come before everything scanned.
    """

    def __init__(
        self,
        horizon: dt.timedelta = DEFAULT_HORIZON,
        spill_dir: Path | None = None,
        spill_rows: int | None = None,
    ) -> None:
        """`spill_dir`: where segments go (in a folder of their own, removed by `close` or
        when the table is collected; None: the system's temporary folder); `spill_rows`:
        sightings held in memory at most (None: `SPILL_ROWS`)."""
        self.horizon = horizon
        self.spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self._spill_parent = spill_dir
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self._segments: list[Path] = []
        self._spilled_rows = 0
        self._frames: list[pl.DataFrame] = []
        self._held_rows = 0
        self._fresh_categories()
        self._next_seq = 0
        self.added = 0  # process events added in this run

    def _fresh_categories(self) -> None:
        # Text read from JSON is views into buffers shared by the values of the batch read:
        # kept as it came, the table held as much memory as the process lines' raw text
        # (140 MB per GB of Falcon events). Hosts, images, users and containers repeat, and
        # so do many command lines: they are kept as categoricals of the table's own, which
        # hold no such view (a command line costs its text once, plus about 40 bytes per
        # distinct value and 4 per row, against 16 per row plus its text every time).
        # Process ids do not repeat and are short (a categorical of 842,000 of them takes
        # 105 MB, text 27 MB): they are copied out of the batch's buffers instead. The
        # categories live as long as the frames in memory: a spill starts new ones, so
        # the text of spilled rows is freed with them.
        self._text = pl.Categorical(pl.Categories.random())
        self._stored = {
            name: self._text if name in _CATEGORICAL else dtype
            for name, dtype in _LIVE_SCHEMA.items()
        }

    def __len__(self) -> int:
        return self._spilled_rows + self._held_rows

    @property
    def segments(self) -> int:
        """Segments spilled to disk so far."""
        return len(self._segments)

    def close(self) -> None:
        """Remove the spilled segments (the table is empty afterwards)."""
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None
        self._segments, self._spilled_rows = [], 0
        self._frames, self._held_rows = [], 0
        self._fresh_categories()

    def add(
        self, processes: pl.DataFrame, join_sources: Sequence[Source], ordinal: int = 0
    ) -> None:
        """Add the process events among normalised rows (other rows are ignored), read from
        the archive numbered `ordinal` in the scan."""
        self._append(_process_rows(processes, join_sources, ordinal))

    def sightings(self, ordinal: int = 0) -> pl.DataFrame:
        """The sightings added from the archive numbered `ordinal`, with their byte offset
        in it (`_rh_join_pos`): what a hunt worker hands back to be merged elsewhere."""
        start = ordinal << ARCHIVE_SHIFT
        return (
            self._everything()
            .filter(pl.col(_POS).is_between(start, start + (1 << ARCHIVE_SHIFT) - 1))
            .with_columns(pl.col(_POS) - start)
            .sort(_SEQ)
            .collect()
        )

    def _everything(self) -> pl.LazyFrame:
        """Every sighting, spilled or held, as `_LIVE_SCHEMA` (in no particular order)."""
        parts = [frame.lazy().cast(_LIVE_SCHEMA) for frame in self._frames]  # type: ignore[arg-type]
        if self._segments:
            parts.append(pl.scan_parquet(self._segments))
        if not parts:
            return pl.LazyFrame(schema=_LIVE_SCHEMA)
        return pl.concat(parts)

    def add_sightings(self, sightings: pl.DataFrame, ordinal: int) -> None:
        """Merge what `sightings` gave for an archive, as the archive numbered `ordinal`."""
        if dict(sightings.schema) != _LIVE_SCHEMA:
            raise ValueError(f"not process sightings (columns {sightings.columns})")
        self._append(sightings.with_columns(pl.col(_POS) + (ordinal << ARCHIVE_SHIFT)))

    def _append(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        rows = rows.with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64) + self._next_seq).alias(_SEQ)
        )
        self._next_seq += rows.height
        self.added += rows.height
        self._hold(rows)

    def _hold(self, rows: pl.DataFrame) -> None:
        """Keep sightings (`_LIVE_SCHEMA` columns, in any text type) in memory, spilling
        what is held to a segment once more than `spill_rows` are."""
        rows = rows.select(pl.col(name).cast(dtype) for name, dtype in self._stored.items())
        rows = rows.with_columns(_copied(rows.get_column(_PID)))
        self._frames.append(rows)
        self._held_rows += rows.height
        if self._held_rows > self.spill_rows:
            self._spill_held()
        elif len(self._frames) > 64:
            self._frames = [pl.concat(self._frames)]

    def _spill_held(self) -> None:
        """Write the sightings held in memory to a new segment and forget them.

        Raises:
            OutputError: the segment cannot be written (folder not writable, disk full).
        """
        try:
            if self._spill is None:
                if self._spill_parent is not None:
                    self._spill_parent.mkdir(parents=True, exist_ok=True)
                self._spill = tempfile.TemporaryDirectory(
                    prefix=".retrohunt-processes-",
                    dir=self._spill_parent,
                    ignore_cleanup_errors=True,
                )
            path = Path(self._spill.name) / f"segment-{len(self._segments):06d}.parquet"
            # Frame by frame, a row group each: the categoricals turn back into text one
            # frame at a time, not the whole table at once.
            with pq.ParquetWriter(path, _SPILL_SCHEMA, compression="lz4") as writer:
                for frame in self._frames:
                    writer.write_table(frame.cast(_LIVE_SCHEMA).to_arrow(compat_level=_OLDEST))  # type: ignore[arg-type]
        except (OSError, pl.exceptions.PolarsError, pa.ArrowException) as exc:
            where = self._spill.name if self._spill else self._spill_parent or "temporary folder"
            raise OutputError(f"{where}: cannot spill the process table: {exc}") from exc
        self._segments.append(path)
        self._spilled_rows += self._held_rows
        self._frames, self._held_rows = [], 0
        self._fresh_categories()

    def lookup(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Every sighting of each (`_rh_join_host`, `_rh_join_pid`) of `keys`, in scan order."""
        if not len(self) or keys.height == 0:
            return pl.DataFrame(schema=_LIVE_SCHEMA)
        wanted = keys.select(pl.col(_HOST).cast(pl.String), pl.col(_PID)).unique()
        held = wanted.with_columns(pl.col(_HOST).cast(self._text))
        found = [
            frame.join(held, on=[_HOST, _PID], how="semi").cast(_LIVE_SCHEMA)  # type: ignore[arg-type]
            for frame in self._frames
        ]
        if self._segments:
            # A filter the Parquet reader applies as it decodes (rows whose host and process
            # id are both wanted, not necessarily together), so only those rows are ever
            # held; the semi-join then keeps the wanted pairs.
            near = pl.col(_PID).is_in(wanted.get_column(_PID).unique().implode()) & pl.col(
                _HOST
            ).is_in(wanted.get_column(_HOST).unique().implode())
            spilled = pl.scan_parquet(self._segments).filter(near).collect()
            found.append(spilled.join(wanted, on=[_HOST, _PID], how="semi"))
        return pl.concat(found).sort(_POS, _SEQ)

    def enrich(
        self, events: pl.DataFrame, sources: Sequence[Source], ordinal: int = 0
    ) -> pl.DataFrame:
        """Fill the joined fields of events that lack them and add `process_context`.

        Rows of a join category of a source with a process join look their process up (the
        sighting the class doc describes; `ordinal` numbers the events' archive in the
        scan): "joined" when found (the event's own values win over the table's), else
        "unknown" when the event has no image of its own; every other row says "event".
        """
        if events.height == 0 or SOURCE not in events.columns:
            return events.with_columns(pl.lit(None, dtype=pl.String).alias(PROCESS_CONTEXT))
        keyed = events.with_columns(_context_key(sources, set(events.columns)))
        joinable = pl.col(_HOST).is_not_null() & pl.col(_PID).is_not_null()
        position = (
            stream_position(ordinal)
            if OFFSET_COLUMN in events.columns
            else pl.lit(ordinal << ARCHIVE_SHIFT, dtype=pl.Int64).alias(_POS)
        )
        keys = (
            keyed.with_row_index(_ROW)
            .filter(joinable)
            .select(_ROW, _HOST, _PID, position)
            .sort(_POS)
        )
        # The joined values are lined up with the events on a frame of row numbers alone,
        # then set beside them: joining the events themselves would copy every column (some
        # six hundred with SigmaHQ's Windows rules) to add seven.
        rows = keyed.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW))
        if keys.height:
            table = self._nearest(keys).with_columns(pl.col(_ROW).cast(pl.UInt32))
            aligned = rows.join(table, on=_ROW, how="left", maintain_order="left").drop(_ROW)
        else:
            aligned = rows.with_columns(
                *(pl.lit(None, dtype=pl.String).alias(joined_column(f)) for f in JOINED_FIELDS),
                pl.lit(None, dtype=pl.Boolean).alias(_FOUND),
            ).drop(_ROW)
        merged = keyed.hstack(aligned.get_columns())
        found = pl.col(_FOUND).fill_null(False)
        fills = [
            pl.coalesce(pl.col(f), pl.col(joined_column(f))).alias(f)
            if f in merged.columns
            else pl.col(joined_column(f)).alias(f)
            for f in JOINED_FIELDS
        ]
        in_join = _in_join_category(sources)
        image = pl.col("Image") if "Image" in merged.columns else pl.lit(None, dtype=pl.String)
        context = (
            pl.when(in_join & found)
            .then(pl.lit(JOINED))
            .when(in_join & image.is_null())
            .then(pl.lit(UNKNOWN))
            .otherwise(pl.lit(EVENT))
        )
        return (
            merged.with_columns(context.alias(PROCESS_CONTEXT))
            .with_columns(fills)
            .drop(_FOUND, *(joined_column(f) for f in JOINED_FIELDS))
        )

    def _nearest(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Per key row (`_rh_join_row`), the joined fields of its sighting and `_FOUND`."""
        joined = [joined_column(f) for f in JOINED_FIELDS]
        sightings = (
            self.lookup(keys)
            .select(_HOST, _PID, _POS, *(pl.col(f).alias(joined_column(f)) for f in JOINED_FIELDS))
            .with_columns(pl.lit(True).alias(_FOUND))
        )

        def nearest(strategy: Literal["backward", "forward"]) -> pl.DataFrame:
            return keys.join_asof(
                sightings, on=_POS, by=[_HOST, _PID], strategy=strategy, check_sortedness=False
            )

        before, after = nearest("backward"), nearest("forward")
        had_before = pl.col(_FOUND).fill_null(False)
        return before.select(
            _ROW,
            *(
                pl.when(had_before).then(pl.col(c)).otherwise(after.get_column(c)).alias(c)
                for c in joined
            ),
            (had_before | after.get_column(_FOUND).fill_null(False)).alias(_FOUND),
        )

    @staticmethod
    def unresolved(events: pl.DataFrame) -> pl.Series:
        """Rows an enrichment found no process for although they name one (with an image of
        their own or not: their other fields may still come from it): a process seen later
        in the scan may still resolve them."""
        named = pl.col(_HOST).is_not_null() & pl.col(_PID).is_not_null()
        return events.select(
            ((pl.col(PROCESS_CONTEXT) != JOINED) & named).fill_null(False)
        ).to_series()

    # --- persistence ------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Path,
        horizon: dt.timedelta = DEFAULT_HORIZON,
        spill_dir: Path | None = None,
        spill_rows: int | None = None,
    ) -> ProcessTable:
        """A table saved by `save` (an empty one when `path` does not exist yet; the spill
        arguments as for the constructor: a table larger than `spill_rows` is spilled as
        soon as it is read).

        Raises:
            InputError: the file is not a process table.
        """
        table = cls(horizon, spill_dir, spill_rows)
        if not path.exists():
            return table
        try:
            frame = pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{path}: not a readable process table ({exc})") from exc
        if dict(frame.schema) != TABLE_SCHEMA:
            raise InputError(f"{path}: not a process table (columns {frame.columns})")
        if frame.height:
            # Sightings of earlier runs come before everything this run scans.
            table._hold(
                frame.sort(_SEQ).with_columns(
                    (pl.int_range(pl.len(), dtype=pl.Int64) - pl.len()).alias(_POS)
                )
            )
            table._next_seq = int(frame[_SEQ].max()) + 1  # type: ignore[arg-type]
        return table

    def save(self, path: Path) -> Path:
        """Write the table (latest entry per process, within the horizon) atomically."""
        frame = self.compacted()
        return write_atomic(path, lambda fh: frame.write_parquet(fh, compression="zstd"))

    def compacted(self) -> pl.DataFrame:
        """One row per process, those started within `horizon` of the newest start."""
        if not len(self):
            return pl.DataFrame(schema=TABLE_SCHEMA)
        frame = (
            self._everything()
            .drop(_POS)  # a place in this scan means nothing to the next
            .sort(_SEQ)
            .unique([_HOST, _PID], keep="last", maintain_order=True)
            .collect()
        )
        newest = frame[EVENT_TIME].max()
        if newest is not None:
            cutoff = newest - self.horizon  # type: ignore[operator]
            # A start time nobody could parse is kept for one horizon from now on.
            frame = frame.with_columns(pl.col(EVENT_TIME).fill_null(newest)).filter(
                pl.col(EVENT_TIME) >= cutoff
            )
        return frame.cast(TABLE_SCHEMA)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class JoinColumns:
    """The native columns the join reads: on process events and on the joined events."""

    process: frozenset[str]
    context: frozenset[str]


def _copied(text: pl.Series) -> pl.Series:
    """`text` in buffers of its own (an Arrow round trip: large_string is one copy)."""
    copy = pl.from_arrow(text.to_arrow(compat_level=pl.CompatLevel.oldest()))
    assert isinstance(copy, pl.Series)  # an Array gives a Series
    return copy.alias(text.name)


def join_columns(sources: Sequence[Source]) -> JoinColumns:
    """Natives to read for the join, over the sources that have one."""
    process: set[str] = set()
    context: set[str] = set()
    for source in sources:
        join = source.process_join
        if join is None:
            continue
        process |= {*join.process_key, *source.raw_columns(join.fields)}
        process |= {*source.time_fields}
        context |= {*join.context_key}
    return JoinColumns(frozenset(process), frozenset(context))


def join_sources(sources: Sequence[Source]) -> list[Source]:
    """The sources with a process join."""
    return [s for s in sources if s.process_join is not None]


@dataclass(frozen=True)
class JoinMarks:
    """What every line a join source can claim holds: one of the keys it is recognised by
    (the last key of each native), as written or with some letter written as a `\\u`
    escape (the only escape that can spell a letter of a key)."""

    keys: tuple[bytes, ...]
    escapes: frozenset[bytes]  # the four hex digits of each key letter's escape, lower case

    @classmethod
    def of(cls, sources: Sequence[Source]) -> JoinMarks | None:
        """The marks of the sources' join sources; None: a join source claims every line
        (forced with --source)."""
        joining = join_sources(sources)
        if any(not source.recognise for source in joining):
            return None
        keys = sorted({n.rsplit(".", 1)[-1] for s in joining for n in s.recognise})
        escapes = frozenset(f"{ord(c):04x}".encode() for key in keys for c in key)
        return cls(tuple(k.encode() for k in keys), escapes)

    def found_in(self, data: bytes) -> bool:
        """Could a line of `data` be an event of a join source?"""
        if any(key in data for key in self.keys):
            return True
        # Non-ASCII text is often written as escapes (python-evtx writes all of it so), and
        # some writers escape letters: only an escape of a key's letter in a key counts.
        at = data.find(b"\\u")
        while at >= 0:
            if data[at + 2 : at + 6].lower() in self.escapes and _in_key(data, at + 6):
                return True
            at = data.find(b"\\u", at + 2)
        return False


def _in_key(data: bytes, start: int) -> bool:
    """Could the JSON string going on at `start` be a key: is the quote that closes it
    followed by a colon? A quote after an odd run of backslashes is escaped and closes
    nothing; a string left open at the end of its line errs towards "a key"."""
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    quote = data.find(b'"', start, end)
    while quote >= 0:
        before = quote
        while before > start and data[before - 1] == 0x5C:  # a backslash
            before -= 1
        if (quote - before) % 2 == 0:
            after = data[quote + 1 : quote + 65].lstrip(b" \t\r")
            return not after or after.startswith(b":")
        quote = data.find(b'"', quote + 1, end)
    return True


def context_markers(sources: Sequence[Source]) -> list[str]:
    """Event types of process lines (what the prefilter sorts out as context lines)."""
    return [t for s in sources if s.process_join for t in s.process_join.process_types]


def needs_context(plan: Plan, sources: Sequence[Source]) -> bool:
    """Does any rule see events the join enriches (so the join is worth doing)?"""
    categories = {c for s in sources if s.process_join for c in s.process_join.categories}
    return any(rule.category is None or rule.category in categories for rule in plan.rules)


def rule_wants_context(rule: CompiledRule, plan: Plan, fields: Sequence[str]) -> bool:
    """Could filling a joined field turn this rule from false to true on an event?

    A test that holds on a value (string, number, CIDR, `exists: true`) under an even
    number of negations, or a null test under an odd number, can; a rule whose joined
    fields appear only the other way round (like a "not a browser" filter) alerts at least
    as often without the context, so its events need the table only once they alert.
    """
    wanted = set(fields)

    def visit(node: Node, negated: bool) -> bool:
        if isinstance(node, And | Or):
            return any(visit(child, negated) for child in node.children)
        if isinstance(node, Not):
            return visit(node.child, not negated)
        if isinstance(node, StringMatch):
            return plan.patterns[node.pattern].field in wanted and not negated
        if isinstance(node, RegexMatch | NumberEquals | NumberCompare | CidrMatch):
            return node.field in wanted and not negated
        if isinstance(node, FieldEquals):
            return bool({node.field, node.other} & wanted) and not negated
        if isinstance(node, Exists):
            return node.field in wanted and (node.expected != negated)
        if isinstance(node, IsNull):
            return node.field in wanted and negated
        return False

    return visit(rule.condition, False)


def _context_key(sources: Sequence[Source], present: set[str]) -> list[pl.Expr]:
    """Agent and process id each event points to (null outside join categories, and when
    the key's columns were not read)."""
    host: pl.Expr = pl.lit(None, dtype=pl.String)
    pid: pl.Expr = pl.lit(None, dtype=pl.String)
    for source in sources:
        join = source.process_join
        if join is None or not set(join.context_key) <= present:
            continue
        claimed = (pl.col(SOURCE) == source.name) & pl.col(CATEGORY).is_in(join.categories)
        host = pl.when(claimed).then(first_of((join.context_key[0],))).otherwise(host)
        pid = pl.when(claimed).then(first_of((join.context_key[1],))).otherwise(pid)
    return [host.alias(_HOST), pid.alias(_PID)]


def _in_join_category(sources: Sequence[Source]) -> pl.Expr:
    return _claimed(sources, CATEGORY, lambda join: join.categories)


def process_rows(sources: Sequence[Source]) -> pl.Expr:
    """True on normalised rows that are process events of a source with a process join."""
    return _claimed(sources, EVENT_TYPE, lambda join: join.process_types)


def _claimed(
    sources: Sequence[Source], column: str, values: Callable[[ProcessJoin], Sequence[str]]
) -> pl.Expr:
    """True on rows of a source with a process join whose `column` is in `values(join)`."""
    expr = pl.lit(False)
    for source in sources:
        if source.process_join is not None:
            expr = expr | (
                (pl.col(SOURCE) == source.name) & pl.col(column).is_in(values(source.process_join))
            ).fill_null(False)
    return expr


def _process_rows(rows: pl.DataFrame, sources: Sequence[Source], ordinal: int) -> pl.DataFrame:
    """Process events among normalised rows, keyed like the events pointing to them."""
    parts = []
    for source in sources:
        join = source.process_join
        if join is None or SOURCE not in rows.columns:
            continue
        mine = rows.filter(
            (pl.col(SOURCE) == source.name) & pl.col(EVENT_TYPE).is_in(join.process_types)
        ).select(
            first_of((join.process_key[0],)).alias(_HOST),
            first_of((join.process_key[1],)).alias(_PID),
            *(
                (pl.col(f) if f in rows.columns else pl.lit(None, dtype=pl.String)).alias(f)
                for f in JOINED_FIELDS
            ),
            pl.col(EVENT_TIME) if EVENT_TIME in rows.columns else pl.lit(None, UTC_MICROS),
            stream_position(ordinal)
            if OFFSET_COLUMN in rows.columns
            else pl.lit(ordinal << ARCHIVE_SHIFT, dtype=pl.Int64).alias(_POS),
        )
        parts.append(mine.filter(pl.col(_HOST).is_not_null() & pl.col(_PID).is_not_null()))
    return pl.concat(parts) if parts else pl.DataFrame()
