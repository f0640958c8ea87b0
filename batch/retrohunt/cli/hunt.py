"""`retrohunt hunt`: the nightly retro-hunt over a tree of archives."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from retrohunt.cli.errors import EXIT_ALERTS, EXIT_INPUT, EXIT_OK
from retrohunt.cli.options import PATTERNS, parse_patterns
from retrohunt.cli.render import rule_counts_table, stderr, stdout
from retrohunt.cli.sources import SOURCE_HELP, source_option
from retrohunt.context import DEFAULT_HORIZON
from retrohunt.hunt import HuntOptions, HuntProgress, HuntProgressCallback, HuntResult, hunt
from retrohunt.sources import AUTO
from retrohunt.store import as_location

HELP = """Hunt every archive under ROOT that has not been hunted with these rules yet.

ROOT is a folder of archives at any depth (zstd, gzip or plain NDJSON, any mix) or an
fsspec URL (file://…, s3://… with s3fs installed). Archives are picked by name (*.zst,
*.gz, *.jsonl, *.ndjson, *.json, *.log; --glob to choose) and by date (--since/--until:
the date in the archive's path, such as …/2026-11-20/… or …20261120…, else its mtime).

OUT keeps a ledger (ledger.sqlite) of every archive hunted: a rerun skips what is done, a
changed rule set hunts everything again (--only-new: only archives never hunted), --force
redoes all, --retry-failed retries only archives that failed. A run killed at any moment
(kill -9 included) is finished by the next one, with the same alerts. A second hunt on the
same OUT is refused while one runs.

Alerts are written as OUT/alerts/date=YYYY-MM-DD/rule=RULE/<archive>.parquet, so
polars.scan_parquet('OUT/**/*.parquet') or DuckDB reads them all (alert ids are stable:
reruns never duplicate one); `retrohunt alerts OUT` shows them. Bad lines go to
OUT/quarantine/, allow-listed alerts to OUT/suppressed/, the run's counts to
OUT/manifest.json (and OUT/runs/). Processes are carried from night to night for the
process join in OUT/state/process-table.pq, bounded by --process-horizon.

Archives are read in parallel by --workers processes (default: one per core), or on a Dask
cluster with --scheduler; the output folder must then be reachable by the workers (they
write the quarantine files) and the archives too. A corrupt or truncated archive does not
stop the run: its alerts before the damage are kept, it is recorded as failed, and the run
exits with code 4.
"""


def hunt_command(
    root: str = typer.Argument(..., metavar="ROOT", help="Folder or fsspec URL of archives."),
    rules: list[Path] = typer.Option(
        [], "--rules", "-r", help="Rule file or folder (repeatable). Default: bundled pack."
    ),
    patterns: list[str] = PATTERNS,
    out: Path = typer.Option(Path("hunt"), "--out", "-o", help="Output folder."),
    since: dt.datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="Only archives of this day or later."
    ),
    until: dt.datetime | None = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Only archives of this day or earlier."
    ),
    glob: str | None = typer.Option(
        None,
        "--glob",
        help="Glob of archive paths below ROOT ('**' crosses folders), e.g. "
        "'falcon/**/*.jsonl.zst'. Default: names ending in an archive suffix.",
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Archives read at once (default: one per core)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address (tcp://host:8786): read archives on its workers.",
    ),
    force: bool = typer.Option(False, "--force", help="Hunt every archive again."),
    only_new: bool = typer.Option(
        False, "--only-new", help="After a rule change, hunt only archives never hunted."
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Hunt only the archives that failed before."
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail if any rule is refused."),
    allowlists: list[Path] = typer.Option(
        [], "--allowlist", "-a", help="Allow-list YAML (repeatable): matches are suppressed."
    ),
    source: str = typer.Option(AUTO, "--source", help=SOURCE_HELP),
    no_prefilter: bool = typer.Option(
        False, "--no-prefilter", help="Parse every line (same alerts, slower)."
    ),
    no_process_join: bool = typer.Option(
        False, "--no-process-join", help="Do not join network and DNS events to processes."
    ),
    process_horizon: float = typer.Option(
        DEFAULT_HORIZON.days,
        "--process-horizon",
        metavar="DAYS",
        min=0.001,
        help="Keep a process in the table this many days after its start.",
    ),
    chunk_mb: int = typer.Option(8, "--chunk-mb", min=1, help="Decompressed MB per chunk."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's manifest as JSON."),
    fail_on_alerts: bool = typer.Option(
        False, "--fail-on-alerts", help="Exit 10 when this run found at least one alert."
    ),
) -> int:
    """Hunt a tree of archives (see HELP)."""
    forced = source_option(source)
    if since and until and since > until:
        raise typer.BadParameter("--since is after --until", param_hint="--since")
    if force and (only_new or retry_failed):
        raise typer.BadParameter("--force redoes everything: drop --only-new/--retry-failed")
    if scheduler and workers:
        raise typer.BadParameter("--workers is for local processes; the cluster has its own")
    options = HuntOptions(
        root=as_location(root),
        out=out,
        rules=tuple(rules),
        patterns=parse_patterns(patterns),
        strict=strict,
        glob=glob,
        since=since.date() if since else None,
        until=until.date() if until else None,
        workers=workers,
        scheduler=scheduler,
        force=force,
        only_new=only_new,
        retry_failed=retry_failed,
        source=forced,
        prefilter=not no_prefilter,
        process_join=not no_process_join,
        process_horizon=dt.timedelta(days=process_horizon),
        chunk_size=chunk_mb << 20,
        allowlists=tuple(allowlists),
    )
    show_progress = not (quiet or as_json) and sys.stderr.isatty()
    with hunt_progress(show_progress) as progress:
        result = hunt(options, progress)
    for failed in result.failed:
        stderr.print(f"error: {failed.error}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(result.manifest_path.read_text(encoding="utf-8"))
    elif not quiet:
        stdout.print(hunt_summary_table(result))
        if result.results:
            stdout.print(rule_counts_table(result.plan, result.results))
        stdout.print(
            f"alerts this run: {result.alerts:,} → {options.out}/alerts/ "
            f"(manifest: {result.manifest_path})",
            highlight=False,
        )
    if result.failed:
        return EXIT_INPUT
    if fail_on_alerts and result.alerts:
        return EXIT_ALERTS
    return EXIT_OK


@contextmanager
def hunt_progress(enabled: bool) -> Iterator[HuntProgressCallback | None]:
    """One overall bar on stderr: archives read (and finished), bytes, alerts so far."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} archives"),
        TextColumn("{task.fields[megabytes]:,.0f} MB"),
        TextColumn("{task.fields[alerts]:,} alerts"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def update(event: HuntProgress) -> None:
            if event.phase not in tasks:
                label = "reading" if event.phase == "read" else "finishing"
                tasks[event.phase] = bars.add_task(
                    label, total=event.archives_total, megabytes=0.0, alerts=0
                )
            bars.update(
                tasks[event.phase],
                completed=event.archives_done,
                megabytes=event.bytes_done / 1e6,
                alerts=event.alerts,
            )

        yield update


def hunt_summary_table(result: HuntResult) -> Table:
    """Archives done, skipped and failed; events, alerts and throughput of the run."""
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    totals = manifest["totals"]
    table = Table(title=f"Hunt summary (run {result.run_id})", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    done = len(result.results) - len(result.failed)
    megabytes = totals["decompressed_bytes"] / 1e6
    rows = [
        ("archives found", f"{result.found:,}"),
        ("done", f"{done:,}"),
        ("skipped (done before)", f"{len(result.skipped):,}"),
        ("failed", f"[red]{len(result.failed):,}[/red]" if result.failed else "0"),
        ("events", f"{totals['events']:,}"),
        ("bad lines (quarantined)", f"{totals['bad_lines']:,}"),
        ("alerts", f"{result.alerts:,}"),
        ("suppressed", f"{totals['suppressed']:,}"),
        ("decompressed", f"{megabytes:,.1f} MB"),
        ("throughput", f"{megabytes / result.seconds:,.1f} MB/s" if result.seconds else "-"),
        ("workers", escape(result.workers)),
        ("seconds", f"{result.seconds:,.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if result.failed:
        table.caption = "\n".join(escape(f"failed: {r.error}") for r in result.failed)
        table.caption_justify = "left"
    return table
