"""The library's main verb: run a compiled rule set over archives and write alerts + manifest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from retrohunt.alerts import build_alerts, empty_alerts, with_alert_ids
from retrohunt.archive import DEFAULT_CHUNK_SIZE, ArchiveReader, Chunk, prefetch
from retrohunt.compiler import Plan, compile_rules, find_allowlists
from retrohunt.errors import InputError, RuleError
from retrohunt.evaluate import Evaluation, evaluate, load_labels
from retrohunt.hyperscan_db import CompiledPatterns, compile_patterns
from retrohunt.manifest import build_manifest
from retrohunt.match import ROW_COLUMN, match_frame
from retrohunt.parse import LINE_COLUMN, OFFSET_COLUMN, parse_chunk
from retrohunt.sink import QuarantineWriter, write_alerts, write_json, write_ndjson
from retrohunt.sources import Source, event_context, normalise, raw_schema, select_sources
from retrohunt.sources.records import expand_envelopes
from retrohunt.sources.taxonomy import RECORD, SOURCE
from retrohunt.suppress import AllowList, load_allowlists


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What `scan` does; the CLI builds one from its arguments."""

    archives: tuple[Path, ...]
    """Archives to scan: .jsonl.zst, .jsonl.gz or plain NDJSON, detected by content."""
    out: Path = Path("alerts")
    """Output folder for alert Parquet files, quarantine files and manifest.json."""
    rules: tuple[Path, ...] = ()
    """Rule files or folders; empty means the bundled T1204.003 pack."""
    strict: bool = False
    """Fail on the first refused rule instead of warning and going on without it."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Decompressed bytes per chunk: bounds memory per archive."""
    source: str | None = None
    """Treat every event as this source (a key of `SOURCES`); None: recognise each line."""
    allowlists: tuple[Path, ...] = ()
    """Allow-list files: matching alerts are suppressed (written apart and counted). The
    rule folders' own `allowlists/*.yml` always apply too."""
    labels: Path | None = None
    """Labels file (line → expected rules) to score the alerts against; one archive only."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every chunk (and once when an archive ends)."""

    archive: Path
    bytes_read: int
    total_bytes: int
    events: int
    alerts: int
    done: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class ArchiveResult:
    """What happened to one archive."""

    path: Path
    size: int = 0
    compression: str | None = None
    sha256: str | None = None
    decompressed_bytes: int = 0
    lines: int = 0  # non-blank lines
    events: int = 0  # lines that parsed as JSON objects
    unrecognised: int = 0  # events no source claimed
    bad_lines: int = 0  # quarantined
    invalid_utf8: int = 0  # scanned with invalid bytes replaced
    alerts: pl.DataFrame = field(default_factory=empty_alerts)
    suppressed: pl.DataFrame = field(default_factory=empty_alerts)
    alerts_path: Path | None = None
    suppressed_path: Path | None = None
    quarantine_path: Path | None = None
    error: str | None = None
    seconds: float = 0.0

    def alerts_by_rule(self) -> dict[str, int]:
        """Alert count per rule name (suppressed alerts not included)."""
        return _count_by_rule(self.alerts)

    def suppressed_by_rule(self) -> dict[str, int]:
        """Suppressed alert count per rule name."""
        return _count_by_rule(self.suppressed)


def _count_by_rule(alerts: pl.DataFrame) -> dict[str, int]:
    if alerts.height == 0:
        return {}
    counts = alerts.group_by("rule_name").len().sort("rule_name")
    return dict(zip(counts["rule_name"], counts["len"], strict=True))


@dataclass(slots=True)
class ScanResult:
    """The outcome of a scan: per-archive results, the plan used, where the manifest is."""

    plan: Plan
    archives: list[ArchiveResult]
    manifest_path: Path
    seconds: float
    evaluation: Evaluation | None = None

    @property
    def alerts(self) -> pl.DataFrame:
        """All alerts of all archives."""
        frames = [a.alerts for a in self.archives if a.alerts.height]
        return pl.concat(frames) if frames else empty_alerts()

    @property
    def failed(self) -> list[ArchiveResult]:
        """Archives that could not be read completely (alerts before the damage are kept)."""
        return [a for a in self.archives if a.error is not None]


def scan(
    options: ScanOptions, progress: ProgressCallback | None = None, plan: Plan | None = None
) -> ScanResult:
    """Scan every archive with the rule set, writing alerts, quarantine and manifest.json.

    Archives that are missing, unsupported or corrupt are recorded with their error (alerts
    found before damage are kept and written) and the others are still scanned.

    Raises:
        RuleError: the rules cannot be used at all (or, with `strict`, one is refused).
        OutputError: the output folder cannot be written.
    """
    started = time.perf_counter()
    if plan is None:
        plan = compile_rules(list(options.rules) or None, strict=options.strict)
    if not plan.rules:
        reasons = "; ".join(str(r) for r in plan.refused[:3])
        raise RuleError(f"no usable rule in the rule set ({reasons})")
    if options.labels is not None and len(options.archives) != 1:
        raise ValueError("a labels file describes one archive: scan one archive with it")
    labels = load_labels(options.labels) if options.labels is not None else None
    allowlist = load_allowlists(
        [*find_allowlists(list(options.rules) or None), *options.allowlists]
    )
    compiled = compile_patterns(plan.patterns)
    sources = select_sources(options.source)
    results = [
        _scan_one(path, options, plan, compiled, sources, allowlist, progress)
        for path in options.archives
    ]
    evaluation = None
    if labels is not None and options.labels is not None:
        names = [rule.name for rule in plan.rules]
        evaluation = evaluate(results[0].alerts, labels, names, options.labels)
    seconds = time.perf_counter() - started
    manifest = build_manifest(plan, results, seconds, evaluation)
    manifest_path = write_json(options.out / "manifest.json", manifest)
    return ScanResult(plan, results, manifest_path, seconds, evaluation)


def _scan_one(
    path: Path,
    options: ScanOptions,
    plan: Plan,
    compiled: CompiledPatterns,
    sources: list[Source],
    allowlist: AllowList,
    progress: ProgressCallback | None,
) -> ArchiveResult:
    started = time.perf_counter()
    result = ArchiveResult(path)
    try:
        reader = ArchiveReader(path, options.chunk_size)
    except InputError as exc:
        result.error = str(exc)
        return result
    result.size, result.compression = reader.size, reader.compression
    match_schema = raw_schema(sources, plan.fields())
    full_schema = raw_schema(sources, plan.fields(), full=True)
    frames: list[pl.DataFrame] = []
    alerts = 0
    quarantine = QuarantineWriter(options.out / f"{path.name}.quarantine.jsonl", str(path))
    try:
        # A reader thread decompresses the next chunks while this one is matched:
        # python-zstandard and zlib release the GIL while they work.
        for chunk in prefetch(reader, depth=2):
            result.decompressed_bytes += len(chunk.data)
            parsed = parse_chunk(chunk, match_schema)
            result.lines += parsed.lines
            result.events += parsed.frame.height
            result.invalid_utf8 += parsed.invalid_utf8
            result.bad_lines += len(parsed.bad)
            quarantine.add(parsed.bad)
            expanded = expand_envelopes(parsed.frame, sources)
            events = normalise(expanded.lazy(), sources, plan.fields()).collect()
            result.unrecognised += events.get_column(SOURCE).null_count()
            hits = match_frame(events, plan, compiled)
            if hits.height:
                frames.append(
                    describe_hits(chunk, events, hits, plan, sources, full_schema, str(path))
                )
                alerts += hits.height
            if progress:
                progress(Progress(path, reader.bytes_read, reader.size, result.events, alerts))
    except InputError as exc:
        result.error = str(exc)
    finally:
        quarantine_path = quarantine.close(rename_to=f"{path.name}.{reader.sha256[:12]}")
    result.sha256 = reader.sha256
    result.quarantine_path = quarantine_path
    found = pl.concat(frames) if frames else empty_alerts()
    found = with_alert_ids(found, reader.sha256).sort("line_number", "rule_name")
    result.alerts, result.suppressed = allowlist.apply(found)
    stem = f"{path.name}.{reader.sha256[:12]}"
    result.alerts_path = write_alerts(options.out / f"{stem}.alerts.parquet", result.alerts)
    if result.suppressed.height:
        # JSON Lines, not Parquet: `scan_parquet(out/**/*.parquet)` must read alerts only.
        result.suppressed_path = write_ndjson(
            options.out / f"{stem}.suppressed.jsonl", result.suppressed
        )
    result.seconds = time.perf_counter() - started
    if progress:
        progress(Progress(path, reader.bytes_read, reader.size, result.events, alerts, True))
    return result


def describe_hits(
    chunk: Chunk,
    events: pl.DataFrame,
    hits: pl.DataFrame,
    plan: Plan,
    sources: list[Source],
    full_schema: dict[str, pl.DataType],
    archive: str,
) -> pl.DataFrame:
    """Alert rows for one chunk's hits.

    Matching reads only the fields rules test; the alerting lines (few) are read again here
    with every field an alert shows, and only they get timestamps parsed. An event inside
    an envelope line (CloudTrail Records) is found again by (line, record index).
    """
    key = [LINE_COLUMN, RECORD]
    hit_keys = (
        events.select(*key, OFFSET_COLUMN)
        .with_row_index(ROW_COLUMN)
        .join(hits.select(ROW_COLUMN).unique(), on=ROW_COLUMN, how="semi")
        .with_columns(pl.col(RECORD).fill_null(-1))
    )
    provenance = hit_keys.select(LINE_COLUMN, OFFSET_COLUMN).unique().sort(LINE_COLUMN)
    lines = []
    for offset in provenance.get_column(OFFSET_COLUMN).to_list():
        start = offset - chunk.offset
        end = chunk.data.find(b"\n", start)
        lines.append(chunk.data[start : end if end >= 0 else len(chunk.data)])
    reread = parse_chunk(Chunk(b"\n".join(lines), 1, 0), full_schema).frame
    if reread.height != len(lines):
        raise RuntimeError("an alerting line did not parse a second time")
    reread = reread.drop(LINE_COLUMN, OFFSET_COLUMN).hstack(provenance)
    expanded = expand_envelopes(reread, sources).with_columns(pl.col(RECORD).fill_null(-1))
    described = normalise(expanded.lazy(), sources).collect().with_row_index("_rh_new")
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
