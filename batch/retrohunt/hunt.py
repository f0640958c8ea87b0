"""`hunt`: the nightly retro-hunt over a tree of archives — incremental, resumable, parallel.

A run has two phases, each step of which is recorded in the ledger (`ledger.py`):

1. **Read.** Every archive to hunt is read by a worker (in this process, a local process
   pool, or a Dask cluster) with an engine of its own. The coordinator keeps what it gave
   in the archive's state folder: alerts so far, lines whose alert depends on a process
   the archive did not show, and the processes it saw. Status `scanned`.
2. **Finish.** Processes of every archive with state (in location order) join the
   persistent process table, the held lines are resolved against it, and each archive's
   alerts are written as Parquet files partitioned by event date and rule. Status `done`
   (or `failed`, when the archive broke off). Then the process table is saved and the
   state folders removed.

A run killed anywhere resumes from the ledger: archives read are not read again, and the
alerts written are those one uninterrupted run writes, in the same files (alert files are
named after the archive, so a rewrite replaces them; files a rewrite no longer produces
are removed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from retrohunt.alerts import empty_alerts
from retrohunt.compiler import PatternList, Plan, compile_rules, find_allowlists, rule_roots
from retrohunt.context import DEFAULT_HORIZON, ProcessTable
from retrohunt.engine import Engine, PendingLines
from retrohunt.environ import environment
from retrohunt.errors import RetrohuntError, RuleError
from retrohunt.hunt_task import HuntOutcome, HuntTask, run_task
from retrohunt.ledger import (
    DONE,
    FAILED,
    LEDGER_NAME,
    SCANNED,
    ArchiveEntry,
    ArchiveStanding,
    HuntLock,
    Ledger,
)
from retrohunt.manifest import build_manifest
from retrohunt.scan import ArchiveResult, settle_alerts
from retrohunt.sink import write_alerts, write_atomic, write_json, write_ndjson
from retrohunt.store import Location, StoredArchive, find_archives, location_name
from retrohunt.suppress import AllowList, load_allowlists

ALERTS_DIR = "alerts"  # alerts/date=YYYY-MM-DD/rule=<rule name>/<archive>.<digest>.parquet
STATE_DIR = "state"  # per-archive state between the phases, and the process table
QUARANTINE_DIR = "quarantine"
SUPPRESSED_DIR = "suppressed"
RUNS_DIR = "runs"
PROCESS_TABLE = "process-table.pq"  # not *.parquet: `out/**/*.parquet` reads alerts only


RESOLVE_BYTES = 32 << 20
"""Held lines resolved in one pass when archives are finished (bounds that step's memory)."""


class ClusterError(RetrohuntError):
    """The Dask scheduler cannot be reached or used."""


@dataclass(frozen=True, slots=True)
class HuntOptions:
    """What `hunt` does; the CLI builds one from its arguments."""

    root: Location
    """Folder (or fsspec URL) holding the archives, at any depth."""
    out: Path = Path("hunt")
    """Output folder: alerts, ledger, state, quarantine, manifests."""
    rules: tuple[Path, ...] = ()
    """Rule files or folders; empty (and no `patterns`) means the bundled T1204.003 pack."""
    patterns: tuple[PatternList, ...] = ()
    """Pattern lists, one rule each (`--patterns FIELD=FILE`)."""
    strict: bool = False
    """Fail on the first refused rule instead of going on without it."""
    glob: str | None = None
    """Glob of archive paths below the root; None: names ending in an archive suffix."""
    since: dt.date | None = None
    """Only archives of this day or later (date in the path, else the file's mtime)."""
    until: dt.date | None = None
    """Only archives of this day or earlier."""
    workers: int | None = None
    """Archives read at once on this machine (processes); None: one per core."""
    scheduler: str | None = None
    """Address of a Dask scheduler (tcp://host:8786): read the archives on its workers."""
    force: bool = False
    """Hunt every archive again, whatever the ledger says."""
    only_new: bool = False
    """After a rule change, keep to archives never hunted instead of hunting all again."""
    retry_failed: bool = False
    """Only hunt the archives that failed last time."""
    source: str | None = None
    prefilter: bool = True
    process_join: bool = True
    process_horizon: dt.timedelta = DEFAULT_HORIZON
    chunk_size: int = 8 << 20
    allowlists: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class HuntProgress:
    """Reported after each archive is read, and as each is finished."""

    phase: str  # "read" or "finish"
    archives_done: int
    archives_total: int
    bytes_done: int  # archive (compressed) bytes
    bytes_total: int
    alerts: int
    archive: str | None = None


HuntProgressCallback = Callable[[HuntProgress], None]


@dataclass(slots=True)
class HuntResult:
    """What a hunt did."""

    plan: Plan
    run_id: int
    found: int  # archives under the root (after --glob / --since / --until)
    skipped: list[str]  # done before with the same rules, or failed (see --retry-failed)
    results: list[ArchiveResult]  # archives finished by this run
    manifest_path: Path
    seconds: float
    read: int = 0  # archives read by this run (the others finished were read before)
    workers: str = ""

    @property
    def failed(self) -> list[ArchiveResult]:
        """Archives that could not be read completely (alerts before the damage kept)."""
        return [r for r in self.results if r.error is not None]

    @property
    def alerts(self) -> int:
        """Alerts written by this run."""
        return sum(r.alerts.height for r in self.results)

    def alerts_by_rule(self) -> dict[str, int]:
        """Alerts written by this run, per rule."""
        counts: Counter[str] = Counter()
        for result in self.results:
            counts.update(result.alerts_by_rule())
        return dict(sorted(counts.items()))


def hunt(options: HuntOptions, progress: HuntProgressCallback | None = None) -> HuntResult:
    """Hunt every archive under `options.root` the ledger does not have as done.

    Raises:
        RuleError: the rules cannot be used at all (or, with `strict`, one is refused).
        ArchiveNotFound: the root is not a folder.
        HuntLocked: another hunt is running on the output folder.
        ClusterError: the Dask scheduler cannot be reached.
        OutputError: the output folder cannot be written.
    """
    started = time.perf_counter()
    plan = compile_rules(
        list(options.rules) or None, strict=options.strict, patterns=options.patterns
    )
    if not plan.rules:
        reasons = "; ".join(str(r) for r in plan.refused[:3])
        raise RuleError(f"no usable rule in the rule set ({reasons})")
    allowlist = load_allowlists(
        [*find_allowlists(rule_roots(options.rules, options.patterns)), *options.allowlists]
    )
    out = options.out
    with HuntLock(out):
        ledger = Ledger(out / LEDGER_NAME)
        run_id = ledger.start_run(plan.digest)
        try:
            archives = find_archives(
                options.root, options.glob, options.since, options.until, exclude=out
            )
            to_read, skipped = _select(archives, ledger.standing(), plan.digest, options)
            workers = _describe_workers(options, len(to_read))
            stage_seconds: Counter[str] = Counter()
            began = time.perf_counter()
            unopened = _read_all(to_read, plan, options, ledger, run_id, stage_seconds, progress)
            read_seconds = time.perf_counter() - began
            results, engine = _finish_all(plan, options, ledger, allowlist, progress)
            finish_seconds = time.perf_counter() - began - read_seconds
            results += unopened
            seconds = time.perf_counter() - started
            engine_part = engine.describe(out / STATE_DIR / PROCESS_TABLE, options.process_horizon)
            engine.table.close()  # its segments spilled under the state folder
            engine_part["stage_seconds"] = {k: round(v, 3) for k, v in stage_seconds.items()}
            manifest = build_manifest(plan, results, seconds, None, engine_part)
            manifest["hunt"] = {
                "run_id": run_id,
                "root": str(options.root),
                "archives_found": len(archives),
                "archives_read": len(to_read),
                "archives_finished": len(results),
                "archives_skipped": len(skipped),
                "failed": [{"archive": str(r.path), "error": r.error} for r in results if r.error],
                "workers": workers,
                "phase_seconds": {
                    "read": round(read_seconds, 3),
                    "finish": round(finish_seconds, 3),
                },
                "ledger": str(out / LEDGER_NAME),
            }
            write_json(out / RUNS_DIR / f"run-{run_id:06d}.json", manifest)
            manifest_path = write_json(out / "manifest.json", manifest)
            failed = any(r.error for r in results)
            ledger.finish_run(run_id, "failed" if failed else "done", manifest["totals"])
        except Exception as error:
            ledger.finish_run(run_id, "error", {"error": f"{type(error).__name__}: {error}"})
            raise
        finally:
            ledger.close()
    return HuntResult(
        plan, run_id, len(archives), skipped, results, manifest_path, seconds, len(to_read), workers
    )


# --- which archives -------------------------------------------------------------------------


def _select(
    archives: Sequence[StoredArchive],
    standing: dict[str, ArchiveStanding],
    digest: str,
    options: HuntOptions,
) -> tuple[list[StoredArchive], list[str]]:
    """Archives to read, and those skipped (done, or failed without --retry-failed)."""
    to_read: list[StoredArchive] = []
    skipped: list[str] = []
    for archive in archives:
        decision = _decide(archive, standing.get(archive.key), digest, options)
        if decision == "read":
            to_read.append(archive)
        elif decision == "skip":
            skipped.append(archive.key)
    return to_read, skipped


def _decide(
    archive: StoredArchive, entry: ArchiveStanding | None, digest: str, options: HuntOptions
) -> str:
    """Whether to read the archive, skip it, or resume it (read by a stopped run: only its
    finish is left)."""
    if options.force or entry is None or not entry.same_archive(archive.size, archive.mtime):
        return "read"
    if entry.status == SCANNED:
        return "resume" if entry.rules_digest == digest and entry.has_state else "read"
    if options.retry_failed:
        return "read" if entry.status == FAILED else "skip"
    if entry.rules_digest != digest and not options.only_new:
        return "read"
    return "skip"


# --- phase 1: read --------------------------------------------------------------------------


def _read_all(
    archives: Sequence[StoredArchive],
    plan: Plan,
    options: HuntOptions,
    ledger: Ledger,
    run_id: int,
    stage_seconds: Counter[str],
    progress: HuntProgressCallback | None,
) -> list[ArchiveResult]:
    """Read the archives; the results of those that could not even be opened (the others
    are finished from their state)."""
    out = options.out
    base = HuntTask(
        location=Path(),
        plan=plan,
        quarantine_dir=out / QUARANTINE_DIR,
        source=options.source,
        prefilter=options.prefilter,
        process_join=options.process_join,
        chunk_size=options.chunk_size,
        horizon=options.process_horizon,
    )
    by_key = {a.key: a for a in archives}
    tasks = [replace(base, location=a.location) for a in archives]
    total = sum(a.size for a in archives)
    done_bytes = alerts = 0
    unopened: list[ArchiveResult] = []
    for done, (task, outcome) in enumerate(_run(tasks, options), start=1):
        archive = by_key[str(task.location)]
        previous = ledger.entry(archive.key)
        if isinstance(outcome, str):  # the worker itself failed (a bug, or it died)
            result = ArchiveResult(archive.location, size=archive.size, error=outcome)
            outcome = HuntOutcome(result, pl.DataFrame(), {})
        entry = _keep_state(archive, outcome, plan.digest, run_id, previous, out)
        ledger.save(entry)
        if entry.state is None:
            unopened.append(outcome.result)
        stage_seconds.update(outcome.stage_seconds)
        done_bytes += archive.size
        alerts += sum(frame.height for frame in outcome.result.frames)
        if progress:
            progress(HuntProgress("read", done, len(tasks), done_bytes, total, alerts, archive.key))
    return unopened


def _run(
    tasks: list[HuntTask], options: HuntOptions
) -> Iterator[tuple[HuntTask, HuntOutcome | str]]:
    """Each task with its outcome (or the error that stopped its worker), as they finish."""
    if not tasks:
        return
    if options.scheduler:
        yield from _run_on_cluster(tasks, options.scheduler)
        return
    workers = min(options.workers or os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        for task in tasks:
            yield task, _run_here(task)
        return
    yield from _run_in_pool(tasks, workers)


def _run_here(task: HuntTask) -> HuntOutcome | str:
    try:
        return run_task(task)
    except RetrohuntError as error:  # e.g. the quarantine cannot be written
        return str(error)
    except Exception as error:  # a bug must not stop the night: the archive is failed
        return f"internal error: {type(error).__name__}: {error}"


def _run_in_pool(
    tasks: list[HuntTask], workers: int
) -> Iterator[tuple[HuntTask, HuntOutcome | str]]:
    # Each worker is a process with its own reader thread and Polars pool: share the cores
    # out instead of letting every worker's Polars start one thread per core.
    threads = max(1, (os.cpu_count() or 1) // workers)
    with environment(POLARS_MAX_THREADS=str(threads)):
        # spawn, not fork: forking a process that runs Polars' thread pool can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_run_here, task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    yield task, future.result()
                except BrokenProcessPool:
                    yield task, "internal error: the worker process died (out of memory?)"


def _run_on_cluster(
    tasks: list[HuntTask], address: str
) -> Iterator[tuple[HuntTask, HuntOutcome | str]]:
    try:
        from distributed import Client
        from distributed import as_completed as cluster_completed
    except ImportError as exc:
        raise ClusterError(
            "--scheduler needs dask.distributed: pip install 'retrohunt[cluster]'"
        ) from exc
    try:
        client = Client(address, timeout="30s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        futures = {
            client.submit(_run_here, task, pure=False, key=f"retrohunt-{i}-{_key(task)}"): task
            for i, task in enumerate(tasks)
        }
        for future in cluster_completed(futures):  # type: ignore[no-untyped-call]
            task = futures[future]
            try:
                yield task, future.result()
            except Exception as error:  # the worker was lost, or the task could not run
                yield task, f"internal error on the cluster: {type(error).__name__}: {error}"


def _describe_workers(options: HuntOptions, archives: int) -> str:
    if options.scheduler:
        return f"dask {options.scheduler}"
    workers = min(options.workers or os.cpu_count() or 1, max(archives, 1))
    return "this process" if workers <= 1 else f"{workers} local processes"


def _key(task: HuntTask) -> str:
    return hashlib.sha1(str(task.location).encode()).hexdigest()[:16]


# --- the state between the phases -----------------------------------------------------------

_COUNTS = (
    "size",
    "compression",
    "sha256",
    "decompressed_bytes",
    "lines",
    "candidate_lines",
    "events",
    "unrecognised",
    "bad_lines",
    "invalid_utf8",
    "seconds",
)


def _keep_state(
    archive: StoredArchive,
    outcome: HuntOutcome,
    digest: str,
    run_id: int,
    previous: ArchiveEntry | None,
    out: Path,
) -> ArchiveEntry:
    """Write what reading the archive gave to its state folder; its ledger entry."""
    result = outcome.result
    counts: dict[str, Any] = {name: getattr(result, name) for name in _COUNTS}
    counts["quarantine_path"] = str(result.quarantine_path) if result.quarantine_path else None
    entry = ArchiveEntry(
        location=archive.key,
        size=archive.size,
        mtime=archive.mtime,
        sha256=result.sha256,
        archive_date=archive.date,
        rules_digest=digest,
        status=SCANNED,
        error=result.error,
        counts=counts,
        files=previous.files if previous else [],
        writing=previous.writing if previous else [],
        run_id=run_id,
    )
    if result.sha256 is None:
        # Never opened (missing, unsupported): nothing to finish. Earlier alerts stay.
        entry.status = FAILED
        return entry
    state = Path(STATE_DIR) / _key_of(archive.key)
    folder = out / state
    frames = [f for f in result.frames if f.height]
    alerts = pl.concat(frames) if frames else empty_alerts()
    pending = result.pending.to_frame() if result.pending else PendingLines().to_frame()
    for name, frame in (
        ("alerts", alerts),
        ("pending", pending),
        ("processes", outcome.sightings),
    ):
        write_atomic(folder / f"{name}.arrow", frame.write_ipc)
    entry.state = state.as_posix()
    return entry


def _key_of(location: str) -> str:
    return hashlib.sha1(location.encode()).hexdigest()[:16]


# --- phase 2: finish ------------------------------------------------------------------------


def _finish_all(
    plan: Plan,
    options: HuntOptions,
    ledger: Ledger,
    allowlist: AllowList,
    progress: HuntProgressCallback | None,
) -> tuple[list[ArchiveResult], Engine]:
    """Resolve the held lines of every archive read, write alerts, save the process table."""
    out = options.out
    table_path = out / STATE_DIR / PROCESS_TABLE
    table = ProcessTable.load(table_path, options.process_horizon, out / STATE_DIR)
    with_state = ledger.with_state()
    if not with_state:
        return [], Engine(plan, options.source, options.prefilter, options.process_join)
    # Every archive read (and not yet merged) numbers in one stream, in location order, so
    # which process an event joins does not depend on which run read which archive.
    for ordinal, entry in enumerate(with_state):
        assert entry.state is not None
        sightings = _read_state(out / entry.state / "processes.arrow")
        if sightings.height:
            table.add_sightings(sightings, ordinal)
    engine = Engine(
        plan,
        options.source,
        prefilter=options.prefilter,
        process_join=options.process_join,
        table=table,
        persist_table=True,
    )
    results: list[ArchiveResult] = []
    total = sum(1 for e in with_state if e.status == SCANNED)
    alerts = 0
    group: list[tuple[ArchiveEntry, ArchiveResult]] = []
    held_bytes = 0

    def finish_group() -> None:
        nonlocal alerts, held_bytes
        _settle_group(group, engine, allowlist)
        for entry, result in group:
            _write_one(entry, result, ledger, out)
            results.append(result)
            alerts += result.alerts.height
            if progress:
                progress(HuntProgress("finish", len(results), total, 0, 0, alerts, entry.location))
        group.clear()
        held_bytes = 0

    for ordinal, entry in enumerate(with_state):
        if entry.status != SCANNED:
            continue  # finished already by a run stopped before it merged the processes
        result = _load_state(entry, ordinal, out)
        group.append((entry, result))
        held_bytes += result.pending.held_bytes if result.pending else 0
        if held_bytes >= RESOLVE_BYTES:
            finish_group()
    finish_group()
    if engine.joins and with_state:
        table.save(table_path)
    for entry in with_state:
        assert entry.state is not None
        shutil.rmtree(out / entry.state, ignore_errors=True)
        current = ledger.entry(entry.location)
        if current is not None:
            current.state = None
            ledger.save(current)
    return results, engine


def _load_state(entry: ArchiveEntry, ordinal: int, out: Path) -> ArchiveResult:
    """A read archive's result as its state folder keeps it (alerts found, held lines)."""
    assert entry.state is not None
    result = _result_of(entry)
    state = out / entry.state
    result.frames = [_read_state(state / "alerts.arrow")]
    result.pending = PendingLines.from_frame(_read_state(state / "pending.arrow"), ordinal)
    return result


def _settle_group(
    group: Sequence[tuple[ArchiveEntry, ArchiveResult]], engine: Engine, allowlist: AllowList
) -> None:
    """Resolve the held lines of several archives in one pass, then settle each."""
    held = [(r.pending, str(r.path)) for _, r in group if r.pending is not None and len(r.pending)]
    late = iter(engine.resolve_all(held))
    for _, result in group:
        if result.pending is not None and len(result.pending):
            frame = next(late)
            if frame.height:
                result.frames.append(frame)
        result.pending = None
        settle_alerts(result, engine, allowlist)


def _write_one(entry: ArchiveEntry, result: ArchiveResult, ledger: Ledger, out: Path) -> None:
    """Write one archive's settled alerts and mark it done (or failed)."""
    assert result.sha256 is not None
    stem = f"{location_name(result.path)}.{result.sha256[:12]}.{_key_of(entry.location)[:8]}"
    files = _alert_files(result.alerts, entry.archive_date, stem)
    suppressed = Path(SUPPRESSED_DIR) / f"{stem}.suppressed.jsonl"
    planned = [*files, *([suppressed.as_posix()] if result.suppressed.height else [])]
    entry.writing = sorted(set(entry.writing) | set(planned))
    ledger.save(entry)  # a run stopped while writing knows what it may have left
    for relative, frame in files.items():
        write_alerts(out / relative, frame)
    if result.suppressed.height:
        result.suppressed_path = write_ndjson(out / suppressed, result.suppressed)
    for stale in (set(entry.files) | set(entry.writing)) - set(planned):
        (out / stale).unlink(missing_ok=True)
    entry.files, entry.writing = planned, []
    entry.status = FAILED if result.error else DONE
    entry.counts["alerts"] = result.alerts.height
    entry.counts["suppressed"] = result.suppressed.height
    ledger.save(entry)
    result.alerts_path = out / ALERTS_DIR if files else None


def _alert_files(alerts: pl.DataFrame, archive_date: dt.date, stem: str) -> dict[str, pl.DataFrame]:
    """The archive's alerts split by event date (UTC; the archive's date when the event has
    none) and rule: relative path → rows."""
    if alerts.height == 0:
        return {}
    day = (
        pl.col("event_time")
        .dt.convert_time_zone("UTC")
        .dt.date()
        .fill_null(archive_date)
        .alias("_rh_day")
    )
    keyed = alerts.with_columns(day)
    files: dict[str, pl.DataFrame] = {}
    for (date, rule), frame in keyed.group_by("_rh_day", "rule_name", maintain_order=True):
        relative = (
            Path(ALERTS_DIR) / f"date={date}" / f"rule={_safe(str(rule))}" / f"{stem}.parquet"
        )
        files[relative.as_posix()] = frame.drop("_rh_day")
    return files


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _result_of(entry: ArchiveEntry) -> ArchiveResult:
    result = ArchiveResult(entry.location, error=entry.error)
    for name in _COUNTS:
        if name in entry.counts:
            setattr(result, name, entry.counts[name])
    quarantine = entry.counts.get("quarantine_path")
    result.quarantine_path = Path(quarantine) if quarantine else None
    return result


def _read_state(path: Path) -> pl.DataFrame:
    return pl.read_ipc(path)


__all__ = [
    "ClusterError",
    "HuntOptions",
    "HuntProgress",
    "HuntResult",
    "hunt",
]
