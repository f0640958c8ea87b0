"""`retrohunt rules …`: inspect rule sets."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import typer

from retrohunt.cli.errors import EXIT_OK, EXIT_RULES
from retrohunt.cli.options import PATTERNS, parse_patterns
from retrohunt.cli.render import explain_table, rules_table, stderr, stdout
from retrohunt.cli.sources import source_option
from retrohunt.compiler import Plan, compile_rules
from retrohunt.sources import AUTO, SOURCES

LIST_HELP = """List the loaded rules (name, level, category, tags, fields) and refused ones.

Exits 3 when a rule is refused, so a rule repository's CI can use it.
"""

EXPLAIN_HELP = """Explain how `scan` runs each rule, without scanning anything.

Per rule: its prefilter mode — "prefiltered" (only lines holding the listed atoms of raw
text can reach it), "event types" (no useful text to demand: it falls back to the lines
naming one of its event types) or "every line" (every line is parsed for it) — the atoms
it relies on, and what the process join can do to its result: "can raise" (it tests a
field the join fills, so a joined event may alert), "can only drop" (it tests a joined
field only under a negation, like a "not a browser" filter) or "no". Also the number of
Hyperscan patterns in the prefilter. --source as in `scan`: auto (the default) explains
a scan that recognises each line, so over every source; a source name, one that treats
every event as that source. --json prints the same as JSON.

Exits 3 when a rule is refused, like `rules list`.
"""

_RULES_HELP = "Rule file or folder (repeatable). Default: bundled pack."


def list_command(
    rules: list[Path] = typer.Option([], "--rules", "-r", help=_RULES_HELP),
    patterns: list[str] = PATTERNS,
) -> int:
    """List rules (see LIST_HELP)."""
    plan = compile_rules(rules or None, patterns=parse_patterns(patterns))
    stdout.print(rules_table(plan))
    return _report_refused(plan)


def explain_command(
    rules: list[Path] = typer.Option([], "--rules", "-r", help=_RULES_HELP),
    patterns: list[str] = PATTERNS,
    source: str = typer.Option(
        AUTO,
        "--source",
        help=f"Explain a scan with this `--source`: {AUTO} (the default) recognises each "
        "line, so the rules run over every source; a source name "
        f"({', '.join(SOURCES)}) treats every event as that source.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> int:
    """Explain rules (see EXPLAIN_HELP)."""
    from retrohunt.explain import explain

    forced = source_option(source)
    plan = compile_rules(rules or None, patterns=parse_patterns(patterns))
    explanation = explain(plan, forced)
    if as_json:
        document = dataclasses.asdict(explanation)
        document["refused_rules"] = [str(refused) for refused in plan.refused]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.print(explain_table(explanation))
    return _report_refused(plan)


def _report_refused(plan: Plan) -> int:
    for refused in plan.refused:
        stderr.print(f"refused: {refused}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_RULES if plan.refused else EXIT_OK
