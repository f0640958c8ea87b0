"""Options several commands share: pattern lists."""

from __future__ import annotations

import typer

from retrohunt.compiler import PatternList, parse_pattern_specs

PATTERNS_HELP = (
    "Pattern list as one rule (repeatable): [CATEGORY:]FIELD[|MODIFIER...]=FILE, e.g. "
    "'QueryName|endswith=pools.txt' — one value a line, '#' comments, Sigma wildcards. "
    "Without --rules, only the lists' rules run."
)


PATTERNS: list[str] = typer.Option([], "--patterns", "-p", metavar="SPEC", help=PATTERNS_HELP)
"""The `--patterns` option, as a Typer default: `patterns: list[str] = PATTERNS`."""


def parse_patterns(specs: list[str]) -> tuple[PatternList, ...]:
    """`--patterns` arguments as pattern lists; a malformed one is a usage error."""
    try:
        return parse_pattern_specs(specs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--patterns") from None
