"""What a scan does with each rule, without scanning: how the raw-byte prefilter narrows
the lines a rule sees, and whether the process join can change what the rule finds.

`retrohunt rules explain` renders this; it is built from the same functions `scan` uses
(the prefilter of `retrohunt.prefilter`, the join predicates of `retrohunt.context`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrohunt.compiler import Plan
from retrohunt.compiler.plan import CompiledRule
from retrohunt.context import (
    context_markers,
    join_sources,
    needs_context,
    rule_wants_context,
)
from retrohunt.prefilter import AllOf, AnyOf, Atom, Condition, Has, Truth, build_prefilter
from retrohunt.sources import Source, select_sources

PREFILTERED = "prefiltered"
EVENT_TYPES = "event types"
EVERY_LINE = "every line"
"""Prefilter modes (as the manifest records them): the rule has a necessary condition on
the raw text; it falls back to the lines naming one of its event types; every line."""

JOIN_RAISES = "can raise"
JOIN_DROPS = "can only drop"
JOIN_NONE = "no"
"""What the process join can do to a rule's alerts: fill a field the rule needs to hold (so
an event may alert only once joined); fill only fields the rule tests under a negation,
like a "not a browser" filter (so joined events can only stop alerting); nothing (the rule
reads no joined field, or sees no event the join enriches)."""


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    """One rule as a scan treats it."""

    name: str
    level: str
    logsource: str
    mode: str  # PREFILTERED, EVENT_TYPES or EVERY_LINE
    atoms: tuple[str, ...]  # the raw-text atoms its prefilter condition mentions
    condition: str  # that condition: atoms joined by "|" (any) and "&" (all)
    join: str  # JOIN_RAISES, JOIN_DROPS or JOIN_NONE
    joined_fields: tuple[str, ...]  # the joined fields it reads (on events the join enriches)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every rule of a plan, and the prefilter as a whole."""

    rules: tuple[RuleExplanation, ...]
    patterns: int  # Hyperscan patterns in the prefilter database
    every_line: bool  # some rule makes every line a candidate
    process_join: bool  # the join runs: some source has one and some rule sees its events
    sources: tuple[str, ...]


def explain(plan: Plan, source: str | None = None, *, process_join: bool = True) -> Explanation:
    """Explain how `scan` runs `plan`: over every source, each recognising its own lines
    (`source` None or "auto", as `scan --source auto`), or only `source`.

    Raises:
        UnknownSource: `source` is neither a source name nor "auto".
        PatternError: Hyperscan refused the prefilter (a bug).
    """
    sources = select_sources(source)
    joins = process_join and bool(join_sources(sources)) and needs_context(plan, sources)
    prefilter = build_prefilter(
        plan, sources, context_markers=context_markers(sources) if joins else ()
    )
    modes = {f.rule: f for f in prefilter.rules}
    rules = []
    for rule in plan.rules:
        found = modes[rule.name]
        fields = _joined_fields(rule, plan, sources) if joins else ()
        rules.append(
            RuleExplanation(
                name=rule.name,
                level=rule.level,
                logsource=rule.logsource_text,
                mode=found.mode,
                atoms=found.atoms,
                condition=condition_text(found.condition, prefilter.atoms),
                join=_join_effect(rule, plan, fields),
                joined_fields=fields,
            )
        )
    return Explanation(
        rules=tuple(rules),
        patterns=prefilter.pattern_count,
        every_line=prefilter.every_line,
        process_join=joins,
        sources=tuple(s.name for s in sources),
    )


def condition_text(condition: Condition, atoms: Sequence[Atom]) -> str:
    """A prefilter condition as text: atoms (display form) joined by "|" and "&"."""
    if isinstance(condition, Truth):
        return "every line" if condition.value else "no line"
    if isinstance(condition, Has):
        return atoms[condition.atom].display
    joiner = " & " if isinstance(condition, AllOf) else " | "
    parts = []
    for part in condition.parts:
        text = condition_text(part, atoms)
        parts.append(f"({text})" if isinstance(part, AllOf | AnyOf) else text)
    return joiner.join(parts)


def _joined_fields(rule: CompiledRule, plan: Plan, sources: Sequence[Source]) -> tuple[str, ...]:
    """The fields the rule reads that the join fills, on the events of its category."""
    reads = plan.rule_fields(rule)
    found: set[str] = set()
    for source in sources:
        join = source.process_join
        if join is None:
            continue
        if rule.category is None or rule.category in join.categories:
            found |= reads & set(join.fields)
    return tuple(sorted(found))


def _join_effect(rule: CompiledRule, plan: Plan, fields: Sequence[str]) -> str:
    if not fields:
        return JOIN_NONE
    return JOIN_RAISES if rule_wants_context(rule, plan, fields) else JOIN_DROPS
