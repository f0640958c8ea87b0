"""`retrohunt rules …`: inspect rule sets."""

from __future__ import annotations

from pathlib import Path

import typer

from retrohunt.cli.errors import EXIT_OK, EXIT_RULES
from retrohunt.cli.render import rules_table, stderr, stdout
from retrohunt.compiler import compile_rules

LIST_HELP = """List the loaded rules (name, level, category, tags, fields) and refused ones.

Exits 3 when a rule is refused, so a rule repository's CI can use it.
"""


def list_command(
    rules: list[Path] = typer.Option(
        [], "--rules", "-r", help="Rule file or folder (repeatable). Default: bundled pack."
    ),
) -> int:
    """List rules (see LIST_HELP)."""
    plan = compile_rules(rules or None)
    stdout.print(rules_table(plan))
    for refused in plan.refused:
        stderr.print(f"refused: {refused}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_RULES if plan.refused else EXIT_OK
