"""`retrohunt scan`: scan archives with a rule set and show what was found."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from retrohunt.cli.errors import EXIT_ALERTS, EXIT_INPUT, EXIT_OK
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
from retrohunt.compiler import compile_rules
from retrohunt.scan import ScanOptions, ScanResult, scan
from retrohunt.sources import SOURCES

HELP = """Scan one or more archives with Sigma rules and write Parquet alerts.

ARCHIVE may be zstd (single- or multi-frame), gzip or plain NDJSON; the format is
detected from the content. Alerts go to OUT/<archive>.<sha>.alerts.parquet, bad lines to
OUT/<archive>.<sha>.quarantine.jsonl and the run's counts to OUT/manifest.json. Rules that
do not parse or use unsupported Sigma features are reported and skipped (--strict: fail).
"""


def scan_command(
    archives: list[Path] = typer.Argument(..., metavar="ARCHIVE...", help="Archives to scan."),
    rules: list[Path] = typer.Option(
        [], "--rules", "-r", help="Rule file or folder (repeatable). Default: bundled pack."
    ),
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
    source: str | None = typer.Option(
        None,
        "--source",
        help="Treat every event as this source instead of recognising each line "
        f"({', '.join(SOURCES)}).",
    ),
) -> int:
    """Scan archives (see HELP)."""
    if source is not None and source not in SOURCES:
        raise typer.BadParameter(f"must be one of {', '.join(SOURCES)}", param_hint="--source")
    if labels is not None and len(archives) != 1:
        raise typer.BadParameter("labels describe one archive; scan one", param_hint="--labels")
    plan = compile_rules(rules or None, strict=strict)
    for refused in plan.refused:
        stderr.print(f"warning: refused {refused}", markup=False, highlight=False, soft_wrap=True)
    options = ScanOptions(
        archives=tuple(archives),
        out=out,
        rules=tuple(rules),
        strict=strict,
        chunk_size=chunk_mb << 20,
        source=source,
        allowlists=tuple(allowlists),
        labels=labels,
    )
    show_progress = not (quiet or as_json) and sys.stderr.isatty()
    with progress_bar(show_progress) as progress:
        result = scan(options, progress=progress, plan=plan)
    for failed in result.failed:
        stderr.print(f"error: {failed.error}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        _print_json(result, limit)
    elif not quiet:
        stdout.print(summary_table(result))
        stdout.print(rule_counts_table(result))
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


def _print_json(result: ScanResult, limit: int) -> None:
    document = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    document["newest_alerts"] = newest_alerts(result.alerts, limit).to_dicts()
    sys.stdout.write(json.dumps(document, default=str, indent=2) + "\n")
