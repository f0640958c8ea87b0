"""A Polars-native entry point: the alerts of one archive as a `polars.LazyFrame`.

`scan_archive` registers a Polars IO source. Nothing is read until the frame is collected;
then the archive streams through the same `Engine` as `retrohunt scan` and alert batches
are handed to Polars as they are found, so memory stays bounded by the chunk size and the
engine's flush size, not by the archive. What the query asks for is pushed into the reader:

- projection: only the columns asked for leave the source, and alert ids (a hash per row)
  and the archive digest (a hash of the whole file) are computed only when asked for;
- predicate: every batch is filtered before it is handed out; the parts of the predicate
  that read rule metadata only (`rule_id`, `rule_name`, `rule_title`, `level`, `tags`,
  `category`, `archive`) are evaluated once on a one-row-per-rule frame, and only the rules
  that can pass are compiled and run;
- row limit: reading stops once enough rows were handed out (`head`, `limit`).

Rows are the alerts `scan` writes for the archive: the same schema (`ALERT_SCHEMA`), the
same alert ids, the rule folders' allow-lists applied. They come in the order they are
found (sorted by line and rule within a batch); alerts of lines the process join held back
come last, so sort when the order matters.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import warnings
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from retrohunt.alerts import ALERT_SCHEMA, with_alert_ids
from retrohunt.archive import DEFAULT_CHUNK_SIZE, ArchiveReader, read_ahead
from retrohunt.compiler import Plan, compile_rules, find_allowlists, subset_plan
from retrohunt.engine import Engine
from retrohunt.errors import InputError, RuleError
from retrohunt.sources import AUTO, select_sources
from retrohunt.suppress import AllowList, load_allowlists

RuleSet = Plan | str | Path | Sequence[str | Path] | None
"""What `scan_archive` takes as rules: None (the bundled pack), rule files or folders, or
an already compiled `Plan`."""

RULE_COLUMNS: tuple[str, ...] = (
    "rule_id",
    "rule_name",
    "rule_title",
    "level",
    "tags",
    "category",
    "archive",
)
"""Alert columns known before any event is read (from the rule, or the archive's path): a
predicate over them alone selects the rules to run. `category` is the event's logsource
category, which equals the rule's whenever the rule names one; a rule without one is
always kept when the predicate reads `category`."""

_DIGEST_COLUMNS = frozenset({"alert_id", "archive_sha256"})
_AND_OPS = frozenset({"And", "LogicalAnd"})


def scan_archive(
    path: str | Path,
    rules: RuleSet = None,
    *,
    source: str | None = None,
    prefilter: bool = True,
    process_join: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    allowlists: Sequence[str | Path] = (),
) -> pl.LazyFrame:
    """The alerts of one archive as a lazy Polars frame (a Polars IO source).

    Compose any Polars query on it; `collect` (or a streaming sink) runs the rules over the
    archive. Projection, filters and row limits are pushed into the reader (see the module
    docstring): `scan_archive(p).filter(pl.col("rule_name") == "MinerProcessExecution")`
    compiles and runs that one rule.

    The rows equal what `scan` writes to `<archive>.<sha>.alerts.parquet`: same columns
    (`ALERT_SCHEMA`), same alert ids, and the same suppression: the `allowlists/*.yml` of
    the rule folders used (of the bundled pack when `rules` is None; none when `rules` is a
    `Plan`, which does not say where its rules came from) plus the `allowlists` files
    given. Suppressed alerts are left out; `scan` writes them apart.

    Args:
        path: a .jsonl.zst, .jsonl.gz or plain NDJSON archive (detected by content).
        rules: None for the bundled pack, a rule file or folder, a list of them, or a
            compiled `Plan` (`compile_rules`).
        source: treat every event as this source (a key of `sources.SOURCES`); None or "auto"
            (`AUTO`, as `scan --source auto`): recognise each line.
        prefilter: run the raw-byte prefilter (off: same alerts, slower).
        process_join: give network and DNS events their process's fields.
        chunk_size: decompressed bytes per chunk.
        allowlists: more allow-list files, as `scan --allowlist`.

    Raises:
        RuleError: the rules cannot be used (missing, no rule compiles), or an allow-list
            is invalid: at call time. A pattern Hyperscan refuses (`PatternError`) is
            found only when the rules are compiled for a query, at collect time.
        UnknownSource: `source` is neither a source name nor "auto" (a ValueError).
        ValueError: a chunk size below one byte.

    Collecting raises the `InputError` that `scan` records for the archive, with the same
    message: `ArchiveNotFound`, `UnsupportedFormat`, or `CorruptArchive` (after the alerts
    found before the damage were handed out).
    """
    archive = Path(path)
    if source == AUTO:
        source = None
    if source is not None:
        select_sources(source)  # UnknownSource (a ValueError) at call time
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least one byte")
    plan, rule_paths = _compile(rules)
    if not plan.rules:
        reasons = "; ".join(str(r) for r in plan.refused[:3])
        raise RuleError(f"no usable rule in the rule set ({reasons})")
    folders = find_allowlists(rule_paths) if rule_paths is not None else []
    allowlist = load_allowlists([*folders, *(Path(p) for p in allowlists)])
    reader = AlertSource(archive, plan, allowlist, source, prefilter, process_join, chunk_size)
    return _register(reader, f"{archive} ({len(plan.rules)} rules)")


def _compile(rules: RuleSet) -> tuple[Plan, list[Path] | None]:
    """The plan, and the rule paths whose folders' allow-lists apply (None: unknown)."""
    if isinstance(rules, Plan):
        return rules, None
    if rules is None:
        return compile_rules(None), []
    paths = [Path(rules)] if isinstance(rules, str | Path) else [Path(p) for p in rules]
    if not paths:
        return compile_rules(None), []
    return compile_rules(paths), paths


def _register(reader: AlertSource, detail: str) -> pl.LazyFrame:
    # `explain_name`/`explain_detail` are newer than the oldest Polars retrohunt supports.
    accepted = inspect.signature(register_io_source).parameters
    extra: dict[str, Any] = {}
    if "explain_name" in accepted:
        extra["explain_name"] = "retrohunt"
    if "explain_detail" in accepted:
        extra["explain_detail"] = detail
    return register_io_source(reader, schema=dict(ALERT_SCHEMA), **extra)


@dataclass(frozen=True, slots=True)
class AlertSource:
    """The IO source behind `scan_archive`: Polars calls it once per collect, with the
    pushed-down projection, predicate, row limit and batch size hint."""

    path: Path
    plan: Plan
    allowlist: AllowList
    source: str | None
    prefilter: bool
    process_join: bool
    chunk_size: int

    def engine(self, predicate: pl.Expr | None) -> Engine | None:
        """An engine over the rules that can pass `predicate` (None: no rule can)."""
        keep = select_rules(self.plan, predicate, str(self.path))
        if not keep:
            return None
        return Engine(
            subset_plan(self.plan, keep),
            self.source,
            prefilter=self.prefilter,
            process_join=self.process_join,
        )

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        """Alert batches of the archive, projected, filtered and limited as asked."""
        # Opened first, so a missing or unsupported archive fails whatever the query.
        reader = ArchiveReader(self.path, self.chunk_size)
        if n_rows is not None and n_rows <= 0:
            return
        engine = self.engine(predicate)
        if engine is None:
            return
        needed = set(with_columns if with_columns is not None else ALERT_SCHEMA)
        if predicate is not None:
            needed |= set(predicate.meta.root_names())
        digest = file_sha256(self.path) if needed & _DIGEST_COLUMNS else None
        out = _Output(self.allowlist, digest, "alert_id" in needed, predicate, with_columns)
        out.remaining = n_rows
        out.batch_size = batch_size
        archive = str(self.path)
        run = engine.start(archive)
        if n_rows is not None:
            run.flush_bytes = run.whole_flush_bytes = 1  # match chunk by chunk: stop sooner
        damage: InputError | None = None
        chunks = read_ahead(reader, depth=2)
        try:
            try:
                for chunk in chunks:
                    yield from out.take(run.feed(chunk).alerts)
                    if out.done:
                        return
            except InputError as exc:  # a corrupt stream, after its last good chunk
                damage = exc
            yield from out.take(run.close().alerts)
            if len(run.pending) and not out.done:
                yield from out.take([engine.resolve(run.pending, archive)])
        finally:
            if isinstance(chunks, Generator):
                chunks.close()  # stops the reader thread when Polars stops early
        if damage is not None:
            raise damage
        if digest is not None and reader.sha256 != digest:
            raise InputError(f"{self.path}: the file changed while it was read")


class _Output:
    """Raw alert frames of the engine → the batches Polars asked for."""

    def __init__(
        self,
        allowlist: AllowList,
        digest: str | None,
        ids: bool,
        predicate: pl.Expr | None,
        columns: list[str] | None,
    ) -> None:
        self.allowlist = allowlist
        self.digest = digest
        self.ids = ids
        self.predicate = predicate
        self.columns = columns
        self.remaining: int | None = None
        self.batch_size: int | None = None

    @property
    def done(self) -> bool:
        """The row limit is reached."""
        return self.remaining is not None and self.remaining <= 0

    def take(self, frames: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """Id, suppress, filter, sort, project and limit alert frames; yield the batches."""
        frames = [frame for frame in frames if frame.height]
        if not frames or self.done:
            return
        found = pl.concat(frames)
        if self.digest is not None:
            if self.ids:
                found = with_alert_ids(found, self.digest)
            else:
                found = found.with_columns(pl.lit(self.digest).alias("archive_sha256"))
        found, _suppressed = self.allowlist.apply(found)
        if self.predicate is not None:
            found = found.filter(self.predicate)
        found = found.sort("line_number", "rule_name", maintain_order=True)
        if self.columns is not None:
            found = found.select(self.columns)
        if self.remaining is not None:
            found = found.head(self.remaining)
            self.remaining -= found.height
        if found.height == 0:
            return
        yield from found.iter_slices(self.batch_size or found.height)


# --- rule selection ---------------------------------------------------------------------------


def select_rules(plan: Plan, predicate: pl.Expr | None, archive: str) -> list[int]:
    """Indices of the plan's rules whose alerts can pass `predicate`.

    Only the conjuncts of the predicate (the operands of a top-level `&` or
    `all_horizontal`) that read rule columns alone (`RULE_COLUMNS`) decide, each
    evaluated on a one-row-per-rule frame; the rest of the predicate is left to the batches.
    A conjunct Polars cannot evaluate there keeps every rule. Polars pushes only
    elementwise predicates into a source, so a rule's row decides as its alerts would.
    """
    everything = list(range(len(plan.rules)))
    if predicate is None:
        return everything
    usable = [c for c in conjuncts(predicate) if set(c.meta.root_names()) <= set(RULE_COLUMNS)]
    if not usable:
        return everything
    frame = rule_frame(plan, archive)
    keep = pl.Series("keep", [True] * frame.height, dtype=pl.Boolean)
    for conjunct in usable:
        try:
            result = frame.select(conjunct.alias("keep")).to_series()
        except Exception:  # not evaluable without events: leave it to the batches
            continue
        if result.dtype != pl.Boolean or result.len() not in (1, frame.height):
            continue
        if result.len() == 1 and frame.height != 1:
            result = pl.Series("keep", [result[0]] * frame.height, dtype=pl.Boolean)
        result = result.fill_null(False)
        if "category" in conjunct.meta.root_names():
            result = result | frame.get_column("category").is_null()
        keep = keep & result
    return keep.arg_true().to_list()


def conjuncts(predicate: pl.Expr) -> list[pl.Expr]:
    """The operands of a top-level `&` (or `all_horizontal`), recursively; a predicate
    that is not a conjunction (or whose structure cannot be read) is its own one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:
        return [predicate]
    if not isinstance(tree, dict):
        return [predicate]
    binary = tree.get("BinaryExpr")
    function = tree.get("Function")
    is_and = (isinstance(binary, dict) and binary.get("op") in _AND_OPS) or (
        isinstance(function, dict) and function.get("function") == {"Boolean": "AllHorizontal"}
    )
    if not is_and:
        return [predicate]
    return [part for child in predicate.meta.pop() for part in conjuncts(child)]


def rule_frame(plan: Plan, archive: str) -> pl.DataFrame:
    """One row per rule with the alert columns a rule fixes (`RULE_COLUMNS`)."""
    rules = plan.rules
    return pl.DataFrame(
        {
            "rule_id": [r.rule_id for r in rules],
            "rule_name": [r.name for r in rules],
            "rule_title": [r.title for r in rules],
            "level": [r.level for r in rules],
            "tags": [list(r.tags) for r in rules],
            "category": [r.category for r in rules],
            "archive": [archive] * len(rules),
        },
        schema={name: ALERT_SCHEMA[name] for name in RULE_COLUMNS},
    )


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes: what `ArchiveReader.sha256` gives after a full read,
    known before the first batch so alert ids can be set as alerts are found."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
