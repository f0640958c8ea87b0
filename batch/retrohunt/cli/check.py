"""`retrohunt rules check`: validate a rule set, for the CI of a rule repository."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from retrohunt.check import ERROR, INFO, WARNING, CheckReport, Finding, check_rules
from retrohunt.cli.errors import EXIT_OK, EXIT_RULES
from retrohunt.cli.render import stderr, stdout

HELP = """Check rules before they run: parse with pySigma, compile to Hyperscan, report per rule.

Errors: a file that is not YAML, a rule that does not parse or uses a construct retrohunt
refuses (named), a pattern or regular expression Hyperscan rejects (with its message).
Warnings: patterns that run poorly (a wildcard match whose longest literal has 1-2 bytes,
a value matching every value, a regex with a huge bounded repeat or a trailing .*, a
pattern whose compile time or database size is an outlier of the set), redundant values (a
value of an OR group another value of the same field already matches, e.g. contains xmrig
and contains xmrig-notls), and rules without a prefilter (see `rules explain`). Info: the
set's pattern count, Hyperscan compile time and database size.

Exits 0 without errors (warnings allowed), 3 with any error, or with any warning under
--strict. --json prints the findings as JSON for CI.
"""

_SEVERITY_STYLE = {ERROR: "bold red", WARNING: "yellow", INFO: "cyan"}


def check_command(
    rules: list[Path] | None = typer.Argument(
        None,
        metavar="RULES",
        help="Rule files or folders. Default: the bundled pack.",
        show_default=False,
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 3) on warnings too."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> int:
    """Check rules (see HELP)."""
    report = check_rules(rules or None)
    failed = report.failed(strict=strict)
    if as_json:
        document = {"failed": failed, "strict": strict, **report.to_dict()}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.print(check_table(report))
    if failed:
        because = "warnings under --strict" if strict and not report.errors else "errors"
        stderr.print(
            f"rules check failed ({because}): {_count(report.errors, 'error')}, "
            f"{_count(report.warnings, 'warning')}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return EXIT_RULES if failed else EXIT_OK


def check_table(report: CheckReport) -> Table:
    """Findings about rules as rows, most severe first; those about the set as caption."""
    table = Table(
        title=f"Rule check: {_count(report.files, 'file')}, "
        f"{_count(report.rules, 'rule')} compiled, {report.refused} refused; "
        f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}",
        title_justify="left",
    )
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=1)
    table.add_column("file", overflow="fold")
    about_set: list[Finding] = []
    for finding in report.findings:
        if finding.file is None:
            about_set.append(finding)
            continue
        style = _SEVERITY_STYLE[finding.severity]
        value = finding.value or finding.construct or ""
        if finding.field and finding.value is not None:
            value = f"{finding.field}: {finding.value}"
        table.add_row(
            f"[{style}]{finding.severity}[/]",
            escape(finding.rule or "-"),
            finding.kind,
            escape(value) or "-",
            escape(finding.reason),
            escape(str(finding.file)),
        )
    caption = [f"{finding.severity}: {finding.reason}" for finding in about_set]
    if not any(finding.file is not None for finding in report.findings):
        caption.insert(0, "No findings about any rule.")
    table.caption = escape("\n".join(caption))
    table.caption_justify = "left"
    return table


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
