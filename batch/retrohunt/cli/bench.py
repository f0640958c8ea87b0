"""`retrohunt bench`: what a rule set costs and catches on a corpus, against baselines or
against another version of the rule set."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import typer
from rich.markup import escape
from rich.table import Table

from retrohunt.bench import BASELINES, BenchOptions, BenchReport, Comparison, bench, compare
from retrohunt.bench.html import render_html
from retrohunt.cli.options import PATTERNS, parse_patterns
from retrohunt.cli.render import stderr, stdout
from retrohunt.cli.sources import SOURCE_HELP, source_option
from retrohunt.sink import write_atomic
from retrohunt.sources import AUTO

HELP = """Benchmark a rule set on corpora before it goes to the SIEM.

Scans every --corpus with RULES (files or folders; default: the bundled pack) and reports,
for the rule set and per rule: events/s and MB/s (each rule also scanned alone, for sets
of up to 50 rules; --per-rule / --no-per-rule to choose), Hyperscan compile time with no
cached database and database size, the prefilter's pass rate, hits and suppressed hits,
and the rules that never saw any of their fields: a rule on a field the data lacks is no
error and is not skipped, it just cannot match (the field is null), so bench names it.
With labels (--labels, one per corpus, or CORPUS.labels.jsonl beside each corpus as
`corpus generate --labels` writes) it adds precision, recall and false positives per
rule, naming the commonest false-positive values (domain, address:port or image) to tune.

--baseline polars,duckdb,re runs the same rules on the same corpora in this run: Polars
regular expressions on every line (same alerts), DuckDB with pySigma's backend (pip
install 'retrohunt[bench]'), Python's re line by line on a sample (extrapolated); the
report shows how much faster retrohunt is.

--compare RULES_A RULES_B shows what changing a rule set does: alerts gained and lost,
with example events, and the throughput change.

Output: rich tables; --json for CI; --html FILE for a report with plots that opens in a
browser with no network access.
"""


def bench_command(
    rules: list[Path] = typer.Argument(
        None, metavar="RULES...", help="Rule files or folders (two with --compare)."
    ),
    corpora: list[Path] = typer.Option(
        ..., "--corpus", "-c", help="Corpus archive (repeatable).", show_default=False
    ),
    labels: list[Path] = typer.Option(
        [], "--labels", "-l", help="Labels file per corpus (repeatable, in --corpus order)."
    ),
    baseline: str = typer.Option(
        "", "--baseline", help=f"Comma-separated baselines to run: {', '.join(BASELINES)}."
    ),
    patterns: list[str] = PATTERNS,
    compare_sets: bool = typer.Option(
        False, "--compare", help="Compare two rule sets: RULES are RULES_A RULES_B."
    ),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Runs per measurement (median)."),
    per_rule: bool | None = typer.Option(
        None, "--per-rule/--no-per-rule", help="Scan once per rule (default: ≤ 50 rules)."
    ),
    html_path: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    source: str = typer.Option(AUTO, "--source", help=SOURCE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> int:
    """Benchmark rules (see HELP)."""
    forced = source_option(source)
    names = [name.strip() for name in baseline.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(unknown)}; known: {', '.join(BASELINES)}", param_hint="--baseline"
        )
    rules = rules or []
    if compare_sets and len(rules) != 2:
        raise typer.BadParameter("--compare takes exactly two rule sets: RULES_A RULES_B")
    if labels and len(labels) != len(corpora):
        raise typer.BadParameter("give one --labels per --corpus", param_hint="--labels")
    options = BenchOptions(
        corpora=tuple(corpora),
        labels=tuple(labels),
        baselines=tuple(names),
        repeat=repeat,
        per_rule=per_rule,
        patterns=parse_patterns(patterns),
        source=forced,
    )

    def say(message: str) -> None:
        if not as_json:
            stderr.print(f"[dim]{escape(message)}…[/dim]")

    comparison: Comparison | None = None
    if compare_sets:
        first = bench(replace(options, rules=(rules[0],)), say)
        second = bench(replace(options, rules=(rules[1],)), say)
        comparison = compare(first, second)
        report = second
    else:
        report = bench(replace(options, rules=tuple(rules)), say)
    if html_path is not None:
        document = render_html(report, comparison).encode("utf-8")

        def write(fh: BinaryIO) -> None:
            fh.write(document)

        write_atomic(html_path, write)
    if as_json:
        payload = comparison.as_dict() if comparison else report.as_dict()
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return 0
    if comparison is not None:
        stdout.print(comparison_table(comparison))
    stdout.print(runs_table(report))
    stdout.print(rules_table(report))
    if report.unseen:
        stdout.print(
            f"{len(report.unseen)} rule(s) never saw any of their fields (they cannot match "
            f"these corpora): {escape(', '.join(report.unseen))}",
            highlight=False,
        )
    if html_path is not None:
        stdout.print(f"HTML report: {html_path}", highlight=False)
    return 0


def runs_table(report: BenchReport) -> Table:
    """The rule set's throughput, compile cost and the baselines."""
    compile_ = report.compile
    table = Table(
        title=f"Rule set: {len(report.rules)} rules, {report.events:,} events, "
        f"{report.decompressed_bytes / 1e6:,.1f} MB",
        title_justify="left",
    )
    for name in ("engine", "seconds", "MB/s", "events/s", "alerts", "retrohunt faster by"):
        table.add_column(name, justify="left" if name == "engine" else "right")
    table.add_column("note")
    for run in report.runs:
        table.add_row(
            run.name,
            f"{run.seconds:.3f}" + ("*" if run.extrapolated else ""),
            f"{run.mb_per_second:,.1f}" if run.mb_per_second else "-",
            f"{run.events / run.seconds:,.0f}" if run.seconds else "-",
            f"{run.alerts:,}",
            f"{run.retrohunt_speedup:.2f}×" if run.retrohunt_speedup else "-",
            escape(run.error or run.note),
        )
    pass_rate = f"{report.pass_rate:.4%}" if report.pass_rate is not None else "-"
    table.caption = (
        f"Hyperscan compile (no cache) {compile_['hyperscan_seconds']:.3f} s, databases "
        f"{compile_['database_bytes'] / 1024:,.0f} KiB ({compile_['matcher_patterns']:,} "
        f"matcher + {compile_['prefilter_patterns']:,} prefilter patterns); prefilter pass "
        f"rate {pass_rate}; {len(report.unseen)} rule(s) never saw any of their fields"
        + ("; * extrapolated from a sample" if any(
            r.extrapolated for r in report.runs) else "")
    )  # fmt: skip
    table.caption_justify = "left"
    return table


def rules_table(report: BenchReport) -> Table:
    """Per rule: prefilter mode, patterns, hits, own throughput, precision and recall."""
    table = Table(title="Per rule", title_justify="left")
    names = ["rule", "prefilter", "patterns", "fields seen", "hits", "suppressed", "MB/s alone"]
    if report.labelled:
        names += ["precision", "recall", "FP", "top false-positive values"]
    for name in names:
        table.add_column(name, justify="left" if name in ("rule", "prefilter") else "right")
    for rule in [*report.rules, report.total]:
        row = [
            escape(rule.name),
            rule.mode,
            f"{rule.patterns:,}",
            _seen(rule.fields_seen),
            f"{rule.hits:,}",
            f"{rule.suppressed:,}",
            f"{rule.mb_per_second:,.1f}" if rule.mb_per_second else "-",
        ]
        if report.labelled:
            row += [
                f"{rule.precision:.3f}" if rule.precision is not None else "-",
                f"{rule.recall:.3f}" if rule.recall is not None else "-",
                f"{rule.false_positives or 0:,}",
                escape("; ".join(f"{v} ×{n}" for v, n in rule.top_false_positives)),
            ]
        table.add_row(*row)
    return table


def _seen(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "[bold]no[/bold]")


def comparison_table(comparison: Comparison) -> Table:
    """Alerts gained and lost by rule set B, with examples, and the throughput change."""
    ratio = comparison.speed_ratio
    table = Table(
        title=f"B against A: +{comparison.gained_count:,} / -{comparison.lost_count:,} alerts"
        + (f", throughput {ratio:.2f}×" if ratio else ""),
        title_justify="left",
    )
    for name in ("change", "rule", "archive:line", "what"):
        table.add_column(name)
    for label, examples in (("gained", comparison.gained), ("lost", comparison.lost)):
        for example in examples:
            what = example.get("image") or example.get("domain") or example.get("remote_ip")
            table.add_row(
                label,
                escape(str(example["rule_name"])),
                escape(f"{example['archive']}:{example['line_number']}"),
                escape(str(what or "")),
            )
    return table
