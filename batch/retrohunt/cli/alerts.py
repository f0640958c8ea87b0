"""`retrohunt alerts`: show stored alerts newest first, filtered, or export them."""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from retrohunt.cli.errors import EXIT_OK
from retrohunt.cli.render import _LEVEL_STYLE, stderr, stdout
from retrohunt.stored import (
    DEFAULT_LIMIT,
    EXPORT_FORMATS,
    ExportFormat,
    export_alerts,
    parse_time,
    query_alerts,
)

HELP = f"""Show the alerts stored under ALERTS_DIR, newest first, or export them.

Every *.parquet alert file under ALERTS_DIR is read, at any depth: the flat files of
`retrohunt scan --out` and the date=/rule= partitions of `retrohunt hunt --out` alike
(temporary files, names starting with '.' and Parquet files without alert columns are
skipped). Alerts are sorted by event time, newest first (alerts without one last).

--rule (rule name or id, exact) and --host (any case) are repeatable: an alert matches any
of the values given. --since and --until take a date (YYYY-MM-DD, UTC) or an ISO datetime
(UTC unless it has an offset); --until excludes its time, and a date alone takes in that
whole day.

Without --format the alerts are shown as a table (at most --limit, default
{DEFAULT_LIMIT}), and "N of M alerts shown" goes to stderr. --format csv|json|parquet
exports every matching alert (or at most --limit) with all alert columns: to --out FILE,
or csv and json to stdout. CSV joins the tags and matched lists with ';'; JSON is JSON
Lines, one alert object per line. --out alone picks the format from the file's suffix.

Exit codes: 0 done (alerts or not); 2 usage error; 4 ALERTS_DIR missing or without alert
files, or an alert file unreadable (named); 5 --out not writable.
"""

_FORMAT_BY_SUFFIX: dict[str, ExportFormat] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMMAND_WIDTH = 80  # characters of the command line shown in the table


def alerts_command(
    alerts_dir: Path = typer.Argument(
        ...,
        metavar="ALERTS_DIR",
        help="Folder of alert Parquet files (scan or hunt --out), or one such file.",
    ),
    rules: list[str] = typer.Option(
        [], "--rule", metavar="NAME", help="Only this rule, by name or id (repeatable)."
    ),
    hosts: list[str] = typer.Option(
        [], "--host", metavar="HOST", help="Only this host, any case (repeatable)."
    ),
    since: str | None = typer.Option(
        None, "--since", metavar="WHEN", help="Only alerts at or after: YYYY-MM-DD or ISO time."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="WHEN",
        help="Only alerts before: YYYY-MM-DD (that day included) or ISO time.",
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=0,
        help=f"Most alerts, newest first; 0: all. Default: {DEFAULT_LIMIT} in the table, "
        "all when exporting.",
    ),
    export_format: str | None = typer.Option(
        None,
        "--format",
        "-f",
        metavar="FORMAT",
        help=f"Export instead of showing a table: {' | '.join(EXPORT_FORMATS)}.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        metavar="FILE",
        help="Export to this file (stdout when omitted; parquet needs a file).",
    ),
) -> int:
    """Show or export stored alerts (see HELP)."""
    fmt = _export_format(export_format, out)
    start = _time(since, "--since", end_of_day=False)
    end = _time(until, "--until", end_of_day=True)
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(
            f"must be later than --since ({start:%Y-%m-%d %H:%M:%S} UTC)", param_hint="--until"
        )
    if limit is None:
        limit = DEFAULT_LIMIT if fmt is None else 0
    found = query_alerts(
        alerts_dir, rules=rules, hosts=hosts, since=start, until=end, limit=limit or None
    )
    shown = found.alerts.height
    if fmt is None:
        if shown:
            stdout.print(alerts_table(found.alerts))
        _footer(f"{shown:,} of {found.total:,} alerts shown")
    elif out is None:
        if _to_stdout(found.alerts, fmt):
            _footer(f"{shown:,} of {found.total:,} alerts exported as {fmt}")
    else:
        export_alerts(found.alerts, out, fmt)
        _footer(f"{shown:,} of {found.total:,} alerts exported as {fmt} to {out}")
    return EXIT_OK


def alerts_table(alerts: pl.DataFrame) -> Table:
    """Alerts as a table, one row each in the frame's order: when, which rule, where, and
    the evidence (command line truncated; remote address or domain)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("event_time", "rule_name", "level"):
        table.add_column(name, no_wrap=True)
    table.add_column("host", overflow="fold", max_width=16)
    table.add_column("image", overflow="fold", max_width=20)
    table.add_column("command_line", overflow="fold", ratio=1)
    table.add_column("remote", overflow="fold", max_width=22)
    table.add_column("context", no_wrap=True)
    table.add_column("archive:line", overflow="fold", max_width=22)
    for row in alerts.iter_rows(named=True):
        level = row["level"] or "-"
        table.add_row(
            _when(row["event_time"]),
            Text(row["rule_name"] or row["rule_id"] or "-"),
            Text(level, style=_LEVEL_STYLE.get(level, "")),
            Text(row["host"] or "-"),
            Text(row["image"] or "-"),
            Text(_truncate(row["command_line"] or "-", _COMMAND_WIDTH)),
            Text(_remote(row)),
            Text(row["process_context"] or "-"),
            Text(_where(row)),
        )
    return table


def _to_stdout(alerts: pl.DataFrame, fmt: ExportFormat) -> bool:
    """Export to stdout; False when the reader went away first (`… | head`), which is not
    an error: stdout then points at the null device so the exit flush cannot fail again."""
    try:
        export_alerts(alerts, sys.stdout, fmt)
        sys.stdout.flush()
    except OSError as exc:
        # Polars reports a closed pipe as a bare OSError (no errno), Python as BrokenPipeError.
        if not (isinstance(exc, BrokenPipeError) or f"(os error {errno.EPIPE})" in str(exc)):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


def _export_format(name: str | None, out: Path | None) -> ExportFormat | None:
    """The export format: --format, else --out's suffix; None shows the table."""
    if name is not None:
        for fmt in EXPORT_FORMATS:
            if name.lower() == fmt:
                if fmt == "parquet" and out is None:
                    raise typer.BadParameter(
                        "parquet is binary: give --out FILE", param_hint="--format"
                    )
                return fmt
        raise typer.BadParameter(
            f"must be one of {', '.join(EXPORT_FORMATS)}, not {name!r}", param_hint="--format"
        )
    if out is None:
        return None
    by_suffix = _FORMAT_BY_SUFFIX.get(out.suffix.lower())
    if by_suffix is None:
        raise typer.BadParameter(
            f"cannot tell the format from {out.name!r}: give --format {'|'.join(EXPORT_FORMATS)}",
            param_hint="--out",
        )
    return by_suffix


def _time(text: str | None, option: str, *, end_of_day: bool) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text, end_of_day=end_of_day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def _truncate(text: str, width: int) -> str:
    text = " ".join(text.split())  # newlines and tabs would break the row
    return text if len(text) <= width else text[: width - 1] + "…"


def _remote(row: dict[str, Any]) -> str:
    if row["remote_ip"]:
        ip = row["remote_ip"]
        host = f"[{ip}]" if ":" in ip else ip  # IPv6: brackets keep the port apart
        return f"{host}:{row['remote_port']}" if row["remote_port"] is not None else ip
    return row["domain"] or "-"


def _where(row: dict[str, Any]) -> str:
    archive = Path(row["archive"]).name if row["archive"] else "-"
    line = row["line_number"] if row["line_number"] is not None else "?"
    return f"{archive}:{line}"


def _footer(message: str) -> None:
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)
