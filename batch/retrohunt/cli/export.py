"""`retrohunt rules export`: translate rules into SIEM queries with pySigma's backends."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from retrohunt.cli.errors import EXIT_OK, EXIT_RULES
from retrohunt.cli.render import stderr
from retrohunt.export import TARGETS, BackendMissing, export_rules, render_text, write_export

HELP = """Translate rules into queries for another SIEM with pySigma's backends:
--to logscale (CrowdStrike LogScale, Falcon field names through the CrowdStrike backend's
Falcon pipeline), qradar (IBM QRadar AQL), splunk (Splunk SPL) or sigma (the rules as
normalised Sigma YAML).

Each rule is "ok", "rewritten" — the backend cannot express it as written, so an
equivalent form is emitted and a note says which (OR'ed CIDR ranges become one LogScale
cidr() filter per field, or a regular expression over the address under an OR) — or
"unsupported", with the reason. No rule is left out silently.

Without --out the queries go to stdout, each under a comment header (name, status, note,
rule file). With --out DIR each exported rule is written to DIR/<rule name>.<ext> (cql,
aql, spl, yml) and DIR/index.json lists every rule with its file, status and note.

Exits 3 when a rule could not be exported at all. The backends come with the optional
extra "export" of the retrohunt package.
"""


def export_command(
    rules: list[Path] = typer.Argument(
        None,
        metavar="RULES...",
        help="Rule files or folders (recursive). Default: the bundled pack.",
    ),
    to: str = typer.Option(..., "--to", help=f"Target: {', '.join(TARGETS)}."),
    out: Path | None = typer.Option(
        None,
        "--out",
        file_okay=False,
        help="Write one file per rule and index.json into this folder instead of stdout.",
    ),
) -> int:
    """Export rules (see HELP)."""
    if to not in TARGETS:
        raise typer.BadParameter(f"must be one of {', '.join(TARGETS)}", param_hint="--to")
    try:
        export = export_rules(rules or None, to)
    except BackendMissing as missing:
        raise typer.BadParameter(str(missing), param_hint="--to") from None
    if out is None:
        sys.stdout.write(render_text(export))
    else:
        written = write_export(export, out)
        _say(f"wrote {len(written) - 1} queries and {written[-1].name} to {out}")
    for rule in export.rules:
        if rule.status != "ok":
            _say(f"{rule.status}: {rule.name} ({rule.path}): {rule.note}")
    counts = export.counts()
    _say(
        f"{export.target.language}: {counts['ok']} ok, {counts['rewritten']} rewritten, "
        f"{counts['unsupported']} unsupported ({export.backend})"
    )
    return EXIT_RULES if export.unsupported else EXIT_OK


def _say(message: str) -> None:
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)
