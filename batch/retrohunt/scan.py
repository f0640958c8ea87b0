"""The library's main verb: run a compiled rule set over archives and write alerts + manifest."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from retrohunt.alerts import empty_alerts, with_alert_ids
from retrohunt.archive import DEFAULT_CHUNK_SIZE, ArchiveReader, read_ahead
from retrohunt.compiler import PatternList, Plan, compile_rules, find_allowlists, rule_roots
from retrohunt.context import DEFAULT_HORIZON, ProcessTable
from retrohunt.engine import BYPASS_PASS_RATE, Engine, Output, PendingLines
from retrohunt.errors import InputError, RuleError
from retrohunt.evaluate import Evaluation, evaluate, load_labels
from retrohunt.manifest import build_manifest
from retrohunt.sink import QuarantineWriter, write_alerts, write_json, write_ndjson
from retrohunt.store import Location, location_name
from retrohunt.suppress import AllowList, load_allowlists


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What `scan` does; the CLI builds one from its arguments."""

    archives: tuple[Path, ...]
    """Archives to scan: .jsonl.zst, .jsonl.gz or plain NDJSON, detected by content."""
    out: Path = Path("alerts")
    """Output folder for alert Parquet files, quarantine files and manifest.json."""
    rules: tuple[Path, ...] = ()
    """Rule files or folders; empty (and no `patterns`) means the bundled T1204.003 pack."""
    patterns: tuple[PatternList, ...] = ()
    """Pattern lists, one rule each (`--patterns FIELD=FILE`)."""
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
    prefilter: bool = True
    """Run the raw-byte prefilter, so only lines that could alert are parsed. Off, every
    line is parsed and evaluated: the alerts are the same, only slower."""
    prefilter_bypass_rate: float | None = BYPASS_PASS_RATE
    """Skip the prefilter for the rest of the run when it passed at least this share of the
    first 2,000 lines (it then costs more than it saves); None: never skip it."""
    process_join: bool = True
    """Give network and DNS events their process's image, command line, parent, user and
    container from the process event (Falcon: ContextProcessId = TargetProcessId)."""
    process_table: Path | None = None
    """A persistent process table (Parquet): processes of earlier runs resolve events of
    this one, and this run's processes are added to it (what `hunt` keeps in its output)."""
    process_horizon: dt.timedelta = DEFAULT_HORIZON
    """How long a process stays in the persistent table after it started."""
    regex_baseline: bool = False
    """Match with Polars regular expressions instead of Hyperscan (the bench's baseline)."""
    workers: int = 1
    """Processes evaluating chunks that are read whole (the prefilter off or bypassed, and
    no process join): matching is bound to one core per process."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every chunk (and once when an archive ends)."""

    archive: Location
    bytes_read: int
    total_bytes: int
    events: int
    alerts: int
    done: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class ArchiveResult:
    """What happened to one archive."""

    path: Location
    size: int = 0
    compression: str | None = None
    sha256: str | None = None
    decompressed_bytes: int = 0
    lines: int = 0  # non-blank lines
    candidate_lines: int = 0  # lines the prefilter passed on to be parsed
    events: int = 0  # lines that are JSON objects (with the prefilter: all but bad lines)
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
    frames: list[pl.DataFrame] = field(default_factory=list)  # alerts found so far
    pending: PendingLines | None = None  # lines waiting for the process table's last word

    @property
    def pass_rate(self) -> float | None:
        """Share of lines the prefilter passed on (None before any line)."""
        return self.candidate_lines / self.lines if self.lines else None

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
    engine: Engine | None = None

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
    found before damage are kept and written) and the others are still scanned. Alert files
    are written once every archive has been read: an event whose process appears only in a
    later archive is resolved by the process join before its alert is written.

    Raises:
        RuleError: the rules cannot be used at all (or, with `strict`, one is refused).
        OutputError: the output folder cannot be written.
        InputError: the persistent process table cannot be read.
    """
    started = time.perf_counter()
    if plan is None:
        plan = compile_rules(
            list(options.rules) or None, strict=options.strict, patterns=options.patterns
        )
    if not plan.rules:
        reasons = "; ".join(str(r) for r in plan.refused[:3])
        raise RuleError(f"no usable rule in the rule set ({reasons})")
    if options.labels is not None and len(options.archives) != 1:
        raise ValueError("a labels file describes one archive: scan one archive with it")
    labels = load_labels(options.labels) if options.labels is not None else None
    allowlist = load_allowlists(
        [*find_allowlists(rule_roots(options.rules, options.patterns)), *options.allowlists]
    )
    # Processes beyond what the table holds in memory are spilled next to the alerts.
    table = (
        ProcessTable.load(options.process_table, options.process_horizon, options.out)
        if options.process_table is not None
        else ProcessTable(options.process_horizon, options.out)
    )
    try:
        engine = Engine(
            plan,
            options.source,
            prefilter=options.prefilter,
            process_join=options.process_join,
            table=table,
            persist_table=options.process_table is not None,
            regex_baseline=options.regex_baseline,
            bypass_pass_rate=options.prefilter_bypass_rate,
            workers=options.workers,
        )
        try:
            results = [_scan_one(path, options, engine, progress) for path in options.archives]
        finally:
            engine.close()
        for result in results:
            _finish(result, options, engine, allowlist)
        if options.process_table is not None and engine.joins:
            table.save(options.process_table)
        engine_counts = engine.describe(options.process_table, options.process_horizon)
    finally:
        table.close()
    evaluation = None
    if labels is not None and options.labels is not None:
        names = [rule.name for rule in plan.rules]
        evaluation = evaluate(results[0].alerts, labels, names, options.labels)
    seconds = time.perf_counter() - started
    manifest = build_manifest(plan, results, seconds, evaluation, engine_counts)
    manifest_path = write_json(options.out / "manifest.json", manifest)
    return ScanResult(plan, results, manifest_path, seconds, evaluation, engine)


def _scan_one(
    path: Path, options: ScanOptions, engine: Engine, progress: ProgressCallback | None
) -> ArchiveResult:
    quarantine = QuarantineWriter(options.out / f"{path.name}.quarantine.jsonl", str(path))
    return read_archive(path, engine, options.chunk_size, quarantine, progress)


def read_archive(
    location: Location,
    engine: Engine,
    chunk_size: int,
    quarantine: QuarantineWriter,
    progress: ProgressCallback | None = None,
) -> ArchiveResult:
    """Run one archive through `engine`: bad lines go to `quarantine` (renamed after the
    archive's digest), alerts found so far and lines held for the process join to the
    result. A missing, unsupported or damaged archive is recorded as the result's error."""
    started = time.perf_counter()
    result = ArchiveResult(location)
    try:
        reader = ArchiveReader(location, chunk_size)
    except InputError as exc:
        result.error = str(exc)
        return result
    result.size, result.compression = reader.size, reader.compression
    alerts = 0
    run = engine.start(str(location))

    def take(output: Output) -> None:
        nonlocal alerts
        quarantine.add(output.bad)
        result.frames.extend(output.alerts)
        alerts += sum(frame.height for frame in output.alerts)

    try:
        try:
            # A reader thread decompresses the next chunks while this one is matched.
            for chunk in read_ahead(reader, depth=2):
                result.decompressed_bytes += len(chunk.data)
                take(run.feed(chunk))
                if progress:
                    progress(Progress(location, reader.bytes_read, reader.size, run.events, alerts))
        except InputError as exc:
            result.error = str(exc)
        take(run.close())  # lines held for a batch count even when the archive broke off
    finally:
        name = location_name(location)
        quarantine_path = quarantine.close(rename_to=f"{name}.{reader.sha256[:12]}")
    result.lines, result.candidate_lines = run.lines, run.candidate_lines
    result.events, result.bad_lines = run.events, run.bad_lines
    result.unrecognised, result.invalid_utf8 = run.unrecognised, run.invalid_utf8
    result.pending = run.pending
    result.sha256 = reader.sha256
    result.quarantine_path = quarantine_path
    result.seconds = time.perf_counter() - started
    if progress:
        progress(Progress(location, reader.bytes_read, reader.size, run.events, alerts, True))
    return result


def _finish(
    result: ArchiveResult, options: ScanOptions, engine: Engine, allowlist: AllowList
) -> None:
    """Settle the archive's alerts and write them next to its quarantine."""
    if not settle_alerts(result, engine, allowlist):
        return
    started = time.perf_counter()
    assert result.sha256 is not None
    stem = f"{location_name(result.path)}.{result.sha256[:12]}"
    result.alerts_path = write_alerts(options.out / f"{stem}.alerts.parquet", result.alerts)
    if result.suppressed.height:
        # JSON Lines, not Parquet: `scan_parquet(out/**/*.parquet)` must read alerts only.
        result.suppressed_path = write_ndjson(
            options.out / f"{stem}.suppressed.jsonl", result.suppressed
        )
    result.seconds += time.perf_counter() - started


def settle_alerts(result: ArchiveResult, engine: Engine, allowlist: AllowList) -> bool:
    """Resolve the archive's held lines with `engine`'s process table, then give the alerts
    their ids and split off the allow-listed ones (`result.alerts` / `result.suppressed`).
    False when the archive was never opened (nothing to settle)."""
    if result.sha256 is None:
        return False
    started = time.perf_counter()
    if result.pending is not None and len(result.pending):
        late = engine.resolve(result.pending, str(result.path))
        if late.height:
            result.frames.append(late)
    result.pending = None
    found = pl.concat(result.frames) if result.frames else empty_alerts()
    result.frames = []
    found = with_alert_ids(found, result.sha256).sort("line_number", "rule_name")
    result.alerts, result.suppressed = allowlist.apply(found)
    result.seconds += time.perf_counter() - started
    return True
