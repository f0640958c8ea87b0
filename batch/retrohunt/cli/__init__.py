"""The `retrohunt` command line: parse arguments, call the library, render, exit with a code."""

from __future__ import annotations

import sys

import typer

from retrohunt.cli import alerts, bench, corpus, hunt, rules, scan, sources
from retrohunt.cli import check as check_cli
from retrohunt.cli import export as export_cli
from retrohunt.cli.errors import DEBUG, EXIT_CODES_HELP, handle_errors

app = typer.Typer(
    name="retrohunt",
    help=(
        "Retro-hunt Sigma rules over compressed security telemetry (Falcon, Sysmon and "
        "CloudTrail NDJSON as zstd, gzip or plain text). Alerts land in Parquet.\n\n"
        + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal errors."),
) -> None:
    DEBUG["enabled"] = debug


def _reflow(text: str) -> str:
    """Join the lines of each paragraph: the help renderer keeps hard line breaks."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


app.command("scan", help=_reflow(scan.HELP), epilog=EXIT_CODES_HELP)(
    handle_errors(scan.scan_command)
)
app.command("alerts", help=_reflow(alerts.HELP))(handle_errors(alerts.alerts_command))
app.command("bench", help=_reflow(bench.HELP), epilog=EXIT_CODES_HELP)(
    handle_errors(bench.bench_command)
)
app.command("hunt", help=_reflow(hunt.HELP), epilog=EXIT_CODES_HELP)(
    handle_errors(hunt.hunt_command)
)
corpus_app = typer.Typer(help="Generate labelled corpora.", no_args_is_help=True)
corpus_app.command("generate", help=_reflow(corpus.HELP))(handle_errors(corpus.generate_command))
app.add_typer(corpus_app, name="corpus")
rules_app = typer.Typer(help="Inspect rule sets.", no_args_is_help=True)
rules_app.command("list", help=_reflow(rules.LIST_HELP))(handle_errors(rules.list_command))
rules_app.command("explain", help=_reflow(rules.EXPLAIN_HELP))(handle_errors(rules.explain_command))
rules_app.command("export", help=_reflow(export_cli.HELP))(handle_errors(export_cli.export_command))
rules_app.command("check", help=_reflow(check_cli.HELP))(handle_errors(check_cli.check_command))
app.add_typer(rules_app, name="rules")
app.command("sources", help=_reflow(sources.HELP))(handle_errors(sources.sources_command))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: sys.argv) and return its exit code."""
    try:
        app(args=argv, prog_name="retrohunt")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
