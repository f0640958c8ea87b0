"""Terminal rendering: summary and alert tables, progress bars, JSON documents."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from retrohunt.compiler import Plan
from retrohunt.evaluate import Evaluation
from retrohunt.explain import EVENT_TYPES, EVERY_LINE, JOIN_DROPS, JOIN_RAISES, Explanation
from retrohunt.scan import ArchiveResult, ProgressCallback, ScanResult
from retrohunt.scan import Progress as ScanProgress
from retrohunt.store import location_name


def _console(stderr: bool = False) -> Console:
    # Piped output gets a wide fixed width instead of rich's 80 columns, so alert tables
    # stay readable in logs; COLUMNS still wins when set.
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console


stdout = _console()
stderr = _console(stderr=True)
_WHAT_WIDTH = 140

_LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing one bar per archive on stderr (None when disabled)."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[events]:,} events, {task.fields[alerts]:,} alerts"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def update(event: ScanProgress) -> None:
            key = str(event.archive)
            if key not in tasks:
                tasks[key] = bars.add_task(
                    location_name(event.archive), total=event.total_bytes, events=0, alerts=0
                )
            bars.update(
                tasks[key], completed=event.bytes_read, events=event.events, alerts=event.alerts
            )

        yield update


def summary_table(result: ScanResult, engine: dict[str, Any] | None = None) -> Table:
    """Per-archive counts and alerts per rule; `engine` (the manifest's `prefilter`,
    `process_join` and `workers` parts) adds the share of lines parsed, the process join's
    figures and what worker processes did."""
    prefilter = (engine or {}).get("prefilter") or {}
    join = (engine or {}).get("process_join") or {}
    table = Table(title="Scan summary", title_justify="left")
    names = ["archive", "status", "events", "bad lines", "invalid UTF-8"]
    if prefilter:
        names.append("parsed")
    names += ["alerts", "MB/s"]
    for name in names:
        table.add_column(name, justify="left" if name in ("archive", "status") else "right")
    for archive in result.archives:
        rate = archive.decompressed_bytes / 1e6 / archive.seconds if archive.seconds else 0.0
        row = [
            escape(str(archive.path)),
            "[red]failed[/red]" if archive.error else "ok",
            f"{archive.events:,}",
            f"{archive.bad_lines:,}",
            f"{archive.invalid_utf8:,}",
        ]
        if prefilter:
            row.append(_pass_rate(archive.pass_rate, prefilter))
        row += [f"{archive.alerts.height:,}", f"{rate:,.1f}"]
        table.add_row(*row)
    workers = (engine or {}).get("workers") or {}
    captions = (_prefilter_caption(prefilter), _join_caption(join), _workers_caption(workers))
    caption = [text for text in captions if text]
    if caption:
        table.caption = "\n".join(caption)
        table.caption_justify = "left"
    return table


def _pass_rate(rate: float | None, prefilter: dict[str, Any]) -> str:
    if not prefilter.get("enabled"):
        return "all"
    return "-" if rate is None else f"{rate:.2%}"


def _prefilter_caption(prefilter: dict[str, Any]) -> str:
    if not prefilter:
        return ""
    if not prefilter.get("enabled"):
        return "prefilter: off (--no-prefilter), every line parsed"
    if prefilter.get("bypassed"):
        rate = prefilter.get("sampled_pass_rate") or 0.0
        return (
            f"prefilter: bypassed after {prefilter.get('sampled_lines', 0):,} lines "
            f"(it let {rate:.0%} of them by); every later line parsed"
        )
    fallbacks = sorted(
        r for r, mode in (prefilter.get("rules") or {}).items() if mode != "prefiltered"
    )
    text = (
        f"parsed: share of lines the prefilter ({prefilter.get('patterns', 0):,} patterns) let by"
    )
    if fallbacks:
        names = escape(", ".join(fallbacks))
        text += f"; without a text condition: {names} (`retrohunt rules explain`)"
    return text


def _workers_caption(workers: dict[str, Any]) -> str:
    if (workers.get("processes") or 1) <= 1:
        return ""
    return (
        f"workers: {workers['processes']} processes evaluated {workers.get('chunks', 0):,} chunks"
    )


def _join_caption(join: dict[str, Any]) -> str:
    if not join:
        return ""
    if not join.get("enabled"):
        if join.get("table_file"):
            # Only with sources that have no process join (say `--source sysmon`).
            where = escape(str(join["table_file"]))
            return f"process join: off (no source has one); {where} not updated"
        return "process join: off"
    text = (
        f"process join: {join.get('processes_added', 0):,} processes added, "
        f"{join.get('held_back_lines', 0):,} lines held back until every archive was read, "
        f"table {join.get('table_processes', 0):,} processes"
    )
    if join.get("table_file"):
        where = escape(str(join["table_file"]))
        text += f" (saved to {where}, horizon {join.get('horizon_days', 0):g} days)"
    return text


def rule_counts_table(plan: Plan, archives: Sequence[ArchiveResult]) -> Table:
    """Alerts and suppressed alerts per rule (every rule listed, zeros included)."""
    counts: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    for archive in archives:
        counts.update(archive.alerts_by_rule())
        suppressed.update(archive.suppressed_by_rule())
    table = Table(title="Alerts per rule", title_justify="left")
    table.add_column("rule")
    table.add_column("level")
    table.add_column("alerts", justify="right")
    table.add_column("suppressed", justify="right")
    for rule in plan.rules:
        style = _LEVEL_STYLE.get(rule.level, "")
        table.add_row(
            rule.name,
            f"[{style}]{rule.level}[/]" if style else rule.level,
            f"{counts[rule.name]:,}",
            f"{suppressed[rule.name]:,}",
        )
    return table


def evaluation_table(evaluation: Evaluation) -> Table:
    """Precision and recall per rule against a labels file."""
    table = Table(title=f"Against {evaluation.labels}", title_justify="left")
    for name in ("rule", "true pos.", "false pos.", "false neg.", "precision", "recall"):
        table.add_column(name, justify="left" if name == "rule" else "right")
    for score in (*evaluation.rules, evaluation.total):
        table.add_row(
            score.rule,
            f"{score.true_positives:,}",
            f"{score.false_positives:,}",
            f"{score.false_negatives:,}",
            _ratio(score.precision),
            _ratio(score.recall),
        )
    return table


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def newest_alerts(alerts: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Alerts newest first (events without a time last), at most `limit`."""
    return alerts.sort("event_time", descending=True, nulls_last=True).head(limit)


def alerts_table(alerts: pl.DataFrame, limit: int) -> Table:
    """The newest alerts as a table: when, what, where, and the evidence."""
    shown = newest_alerts(alerts, limit)
    title = f"Newest alerts ({shown.height} of {alerts.height})"
    table = Table(title=title, title_justify="left", show_lines=False)
    for name in ("event_time", "rule", "level", "host"):
        table.add_column(name, no_wrap=True)
    table.add_column("what", overflow="fold", ratio=1)
    table.add_column("where", no_wrap=True)
    for row in shown.iter_rows(named=True):
        when = row["event_time"].strftime("%Y-%m-%d %H:%M:%S") if row["event_time"] else "-"
        what = _what(row)
        style = _LEVEL_STYLE.get(row["level"], "")
        table.add_row(
            when,
            row["rule_name"],
            f"[{style}]{row['level']}[/]" if style else row["level"],
            row["host"] or "-",
            what,
            f"{Path(row['archive']).name}:{row['line_number']}",
        )
    return table


def _what(row: dict[str, Any]) -> str:
    text = _describe(row)
    return text if len(text) <= _WHAT_WIDTH else text[: _WHAT_WIDTH - 1] + "…"


def _describe(row: dict[str, Any]) -> str:
    if row["domain"]:
        return f"DNS {row['domain']}" + (f" by {row['image']}" if row["image"] else "")
    if row["remote_ip"]:
        port = row["remote_port"] if row["remote_port"] is not None else "?"
        by = row["image"] or "unknown process"
        return f"{by} → {row['remote_ip']}:{port}"
    return row["command_line"] or row["image"] or ", ".join(row["matched"])


def rules_table(plan: Plan) -> Table:
    """Loaded rules and what they test."""
    table = Table(
        title=f"Rules ({len(plan.rules)} loaded, {len(plan.refused)} refused)", title_justify="left"
    )
    for name in ("name", "level", "logsource", "tags", "fields", "file"):
        table.add_column(name, overflow="fold")
    for rule in plan.rules:
        table.add_row(
            rule.name,
            rule.level,
            rule.logsource_text,
            ", ".join(rule.tags),
            ", ".join(sorted(plan.rule_fields(rule))),
            str(rule.path.name),
        )
    return table


_MODE_TEXT = {EVENT_TYPES: "falls back to its event types", EVERY_LINE: "every line"}
_JOIN_STYLE = {JOIN_RAISES: "yellow", JOIN_DROPS: "cyan"}


def explain_table(explanation: Explanation) -> Table:
    """Per rule: prefilter mode, the atoms it relies on, what the process join can do."""
    join = "on" if explanation.process_join else "off (no source with a join, or no rule for it)"
    table = Table(
        title=f"Prefilter: {explanation.patterns:,} Hyperscan patterns over "
        f"{', '.join(explanation.sources)}; process join {join}",
        title_justify="left",
    )
    table.add_column("rule", no_wrap=True)
    table.add_column("level")
    table.add_column("prefilter")
    table.add_column("raw text a line must hold (| any, & all)", overflow="fold", ratio=1)
    table.add_column("process join can change result")
    for rule in explanation.rules:
        mode = _MODE_TEXT.get(rule.mode, rule.mode)
        if rule.mode != "prefiltered":
            mode = f"[yellow]{mode}[/]"
        style = _JOIN_STYLE.get(rule.join, "")
        effect = rule.join
        if rule.joined_fields:
            effect += f" ({', '.join(rule.joined_fields)})"
        table.add_row(
            rule.name,
            rule.level,
            mode,
            escape(rule.condition) if rule.atoms else "-",
            f"[{style}]{escape(effect)}[/]" if style else escape(effect),
        )
    if explanation.every_line:
        table.caption = "A rule with no condition makes every line a candidate."
        table.caption_justify = "left"
    return table
