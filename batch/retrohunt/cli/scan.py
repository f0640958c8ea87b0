"""`retrohunt scan`: scan archives with a rule set and show what was found."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import typer

from retrohunt.cli.errors import EXIT_ALERTS, EXIT_INPUT, EXIT_OK
from retrohunt.cli.options import PATTERNS, parse_patterns
from retrohunt.cli.render import (
    alerts_table,
    evaluation_table,
    newest_alerts,
    progress_bar,
    rule_counts_table,
    stderr,
    stdout,
    summary_table,
)
from retrohunt.cli.sources import SOURCE_HELP, source_option
from retrohunt.compiler import compile_rules
from retrohunt.context import DEFAULT_HORIZON
from retrohunt.scan import ScanOptions, ScanResult, scan
from retrohunt.sources import AUTO

HELP = """Scan one or more archives with Sigma rules and write Parquet alerts.

ARCHIVE may be zstd (single- or multi-frame), gzip or plain NDJSON; the format is
detected from the content. Alerts go to OUT/<archive>.<sha>.alerts.parquet, bad lines to
OUT/<archive>.<sha>.quarantine.jsonl and the run's counts to OUT/manifest.json. Rules that
do not parse or use unsupported Sigma features are reported and skipped (--strict: fail).

Only lines the raw-byte prefilter passes on are parsed (`retrohunt rules explain` shows
what it demands per rule). Falcon network and DNS events get their process's image,
command line, parent, user and container from its process event (the process join, over
every archive of the run); --process-table carries processes from one run to the next.
"""


def scan_command(
    archives: list[Path] = typer.Argument(..., metavar="ARCHIVE...", help="Archives to scan."),
    rules: list[Path] = typer.Option(
        [], "--rules", "-r", help="Rule file or folder (repeatable). Default: bundled pack."
    ),
    patterns: list[str] = PATTERNS,
    out: Path = typer.Option(Path("alerts"), "--out", "-o", help="Output folder."),
    strict: bool = typer.Option(False, "--strict", help="Fail if any rule is refused."),
    limit: int = typer.Option(500, "--limit", min=0, help="Most alerts to show, newest first."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the manifest and newest alerts as JSON on stdout."
    ),
    fail_on_alerts: bool = typer.Option(
        False, "--fail-on-alerts", help="Exit 10 when there is at least one alert."
    ),
    chunk_mb: int = typer.Option(8, "--chunk-mb", min=1, help="Decompressed MB per chunk."),
    allowlists: list[Path] = typer.Option(
        [],
        "--allowlist",
        "-a",
        help="Allow-list YAML (repeatable): matching alerts are suppressed, written to "
        "*.suppressed.jsonl and counted.",
    ),
    labels: Path | None = typer.Option(
        None,
        "--labels",
        help="Labels file (JSON Lines: line → expected rules) to report precision and recall "
        "against; one archive only.",
    ),
    source: str = typer.Option(AUTO, "--source", help=SOURCE_HELP),
    no_prefilter: bool = typer.Option(
        False,
        "--no-prefilter",
        help="Parse and evaluate every line instead of only those the raw-byte prefilter "
        "passes on. The alerts are identical; the scan is only slower.",
    ),
    no_process_join: bool = typer.Option(
        False,
        "--no-process-join",
        help="Do not give Falcon network and DNS events their process's image, command "
        "line, parent, user and container: those stay null, process_context 'unknown'.",
    ),
    process_table: Path | None = typer.Option(
        None,
        "--process-table",
        help="Persistent process table (Parquet): loaded before the scan (created when "
        "missing) and saved after it, so processes seen in earlier runs resolve this "
        "run's network and DNS events.",
    ),
    process_horizon: float | None = typer.Option(
        None,
        "--process-horizon",
        metavar="DAYS",
        help="Drop a process from the --process-table file once it started more than DAYS "
        f"before the newest process start in it (default {DEFAULT_HORIZON.days}).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        help="Processes that evaluate chunks read whole (with --no-prefilter, or once the "
        "prefilter is bypassed; with the process join, only chunks without a Falcon event): "
        "matching uses one core per process.",
    ),
) -> int:
    """Scan archives (see HELP)."""
    forced = source_option(source)
    if labels is not None and len(archives) != 1:
        raise typer.BadParameter("labels describe one archive; scan one", param_hint="--labels")
    horizon = _horizon(process_horizon, process_table, no_process_join)
    pattern_lists = parse_patterns(patterns)
    plan = compile_rules(rules or None, strict=strict, patterns=pattern_lists)
    for refused in plan.refused:
        stderr.print(f"warning: refused {refused}", markup=False, highlight=False, soft_wrap=True)
    options = ScanOptions(
        archives=tuple(archives),
        out=out,
        rules=tuple(rules),
        patterns=pattern_lists,
        strict=strict,
        chunk_size=chunk_mb << 20,
        source=forced,
        allowlists=tuple(allowlists),
        labels=labels,
        prefilter=not no_prefilter,
        process_join=not no_process_join,
        process_table=process_table,
        process_horizon=horizon,
        workers=workers,
    )
    show_progress = not (quiet or as_json) and sys.stderr.isatty()
    with progress_bar(show_progress) as progress:
        result = scan(options, progress=progress, plan=plan)
    for failed in result.failed:
        stderr.print(f"error: {failed.error}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        _print_json(result, limit)
    elif not quiet:
        stdout.print(summary_table(result, _read_manifest(result)))
        stdout.print(rule_counts_table(result.plan, result.archives))
        if result.evaluation is not None:
            stdout.print(evaluation_table(result.evaluation))
        if result.alerts.height and limit:
            stdout.print(alerts_table(result.alerts, limit))
        stdout.print(
            f"alerts: {result.alerts.height:,} → {options.out}/ (manifest: {result.manifest_path})",
            highlight=False,
        )
    if result.failed:
        return EXIT_INPUT
    if fail_on_alerts and result.alerts.height:
        return EXIT_ALERTS
    return EXIT_OK


def _horizon(days: float | None, table: Path | None, no_join: bool) -> dt.timedelta:
    """The process table's horizon, checked against the other join options."""
    if table is not None and no_join:
        raise typer.BadParameter(
            "the process table is fed by the process join: drop --no-process-join",
            param_hint="--process-table",
        )
    if days is None:
        return DEFAULT_HORIZON
    if table is None:
        raise typer.BadParameter(
            "the horizon bounds the --process-table file: give one", param_hint="--process-horizon"
        )
    if not days > 0:  # also NaN
        raise typer.BadParameter(
            f"must be more than 0 days, not {days:g}", param_hint="--process-horizon"
        )
    try:
        return dt.timedelta(days=days)
    except OverflowError:
        raise typer.BadParameter(
            f"{days:g} days is too long", param_hint="--process-horizon"
        ) from None


def _read_manifest(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    return document


def _print_json(result: ScanResult, limit: int) -> None:
    document = _read_manifest(result)
    document["newest_alerts"] = newest_alerts(result.alerts, limit).to_dicts()
    sys.stdout.write(json.dumps(document, default=str, indent=2) + "\n")
