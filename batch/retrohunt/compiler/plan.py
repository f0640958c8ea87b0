"""The plain plan the rule compiler hands the engine: patterns, predicates, condition trees."""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

PatternId = int  # index into Plan.patterns

KEYWORD_FIELD = "_rh_text"
"""The field a Sigma keyword (a value without a field) is searched in: the event's line as
text, with the escapes of its JSON strings decoded (`retrohunt.parse.event_text`)."""


class Wildcard(enum.Enum):
    """A Sigma wildcard inside a string value."""

    ANY = "*"  # any run of characters, possibly empty
    ONE = "?"  # exactly one character


ValuePart = str | Wildcard
"""A string value is a sequence of literal text and wildcards, as pySigma parsed it."""


@dataclass(frozen=True, slots=True)
class StringPattern:
    """One string predicate: `field` equals `parts` (with wildcards), ASCII case-insensitive
    unless `cased`. Identical predicates of different rules share one pattern."""

    id: PatternId
    field: str
    parts: tuple[ValuePart, ...]
    cased: bool = False

    @property
    def display(self) -> str:
        """The value as a Sigma rule would write it (wildcards as * and ?)."""
        return "".join(p.value if isinstance(p, Wildcard) else _escape(p) for p in self.parts)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


# --- condition tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StringMatch:
    """True when the event's field value matches pattern `pattern` (null never matches)."""

    pattern: PatternId


@dataclass(frozen=True, slots=True)
class NumberEquals:
    """True when the field's value, read as a number, equals `number`."""

    field: str
    number: int | float


COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
"""Sigma's comparison modifiers as operators (on numbers, or on Polars expressions)."""


@dataclass(frozen=True, slots=True)
class NumberCompare:
    """True when the field's value, read as a number, compares to `number` by `op`: "lt",
    "lte", "gt" or "gte" (Sigma's modifiers; a value that is not a number never does)."""

    field: str
    op: str
    number: int | float


@dataclass(frozen=True, slots=True)
class RegexMatch:
    """True when the regular expression `regex` finds a match in the field's value (Sigma's
    `re`: a search, not anchored unless the expression says so). `flags` holds Sigma's
    `i`, `m` and `s` modifiers. Null never matches."""

    field: str
    regex: str
    flags: str = ""

    @property
    def expression(self) -> str:
        """The regex with its flags inline, as the matcher and `rules explain` show it."""
        return f"(?{self.flags}){self.regex}" if self.flags else self.regex


FIELD_COMPARISONS = ("equals", "startswith", "endswith", "contains")


@dataclass(frozen=True, slots=True)
class FieldEquals:
    """Sigma's `fieldref`: the field's value equals (or starts with, ends with, contains:
    `how`) the value of field `other` of the same event, ASCII letter case aside as for
    every Sigma string; false when either is null."""

    field: str
    other: str
    how: str = "equals"


@dataclass(frozen=True, slots=True)
class CidrMatch:
    """True when the field's value is an IP address inside `network` (IPv4 or IPv6 CIDR)."""

    field: str
    network: str


@dataclass(frozen=True, slots=True)
class IsNull:
    """True when the field is absent or null."""

    field: str


@dataclass(frozen=True, slots=True)
class Exists:
    """`field|exists: expected`: true when presence of the field equals `expected`."""

    field: str
    expected: bool


@dataclass(frozen=True, slots=True)
class Const:
    """A constant, left by `1 of x*` over no matching selection."""

    value: bool


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Leaf = (
    StringMatch
    | RegexMatch
    | FieldEquals
    | NumberEquals
    | NumberCompare
    | CidrMatch
    | IsNull
    | Exists
    | Const
)
Node = Leaf | And | Or | Not


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: its metadata and its condition over the plan's patterns."""

    rule_id: str
    name: str
    title: str
    level: str
    tags: tuple[str, ...]
    category: str | None
    path: Path
    condition: Node
    falsepositives: tuple[str, ...] = ()
    product: str | None = None
    service: str | None = None

    @property
    def logsource(self) -> tuple[str | None, str | None, str | None]:
        """(category, product, service); None means "any"."""
        return (self.category, self.product, self.service)

    def applies_to(
        self,
        categories: str | Collection[str] | None,
        product: str | None,
        service: str | None,
    ) -> bool:
        """Does the rule's logsource admit an event of these categories (every category
        admitting its event type: Sysmon's 13 is registry_set and registry_event), product
        and service?"""
        if isinstance(categories, str):
            categories = (categories,)
        if self.category is not None and self.category not in (categories or ()):
            return False
        return all(
            wanted is None or wanted == actual
            for wanted, actual in ((self.product, product), (self.service, service))
        )

    @property
    def logsource_text(self) -> str:
        """The logsource as `product/service/category`, "*" for any."""
        return "/".join(part or "*" for part in (self.product, self.service, self.category))


def _fields(node: Node, patterns: tuple[StringPattern, ...]) -> list[str]:
    if isinstance(node, And | Or):
        return [f for child in node.children for f in _fields(child, patterns)]
    if isinstance(node, Not):
        return _fields(node.child, patterns)
    if isinstance(node, StringMatch):
        return [patterns[node.pattern].field]
    if isinstance(node, RegexMatch | NumberEquals | NumberCompare | CidrMatch | IsNull | Exists):
        return [node.field]
    if isinstance(node, FieldEquals):
        return [node.field, node.other]
    return []


@dataclass(frozen=True, slots=True)
class RefusedRule:
    """A rule that could not be compiled, with where and why."""

    path: Path
    rule: str | None
    construct: str | None
    message: str

    def __str__(self) -> str:
        where = [str(self.path)]
        if self.rule:
            where.append(f"rule '{self.rule}'")
        if self.construct:
            where.append(f"construct '{self.construct}'")
        return f"{self.message} ({', '.join(where)})"


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the engine needs: compiled rules, the shared pattern table, refusals."""

    rules: tuple[CompiledRule, ...]
    patterns: tuple[StringPattern, ...]
    refused: tuple[RefusedRule, ...]
    digest: str  # sha256 over retrohunt's plan format version and the rule files' bytes
    # What is derived from the plan once and asked for often (every field any rule reads:
    # with thousands of rules, walking every condition tree costs about 50 ms).
    _memo: dict[str, Any] = dataclass_field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: str, make: Callable[[Plan], Any]) -> Any:
        """`make(self)`, computed once per plan (the plan is immutable)."""
        if key not in self._memo:
            self._memo[key] = make(self)
        return self._memo[key]

    def fields(self) -> frozenset[str]:
        """Every field any rule reads."""
        found: frozenset[str] = self.memo(
            "fields", lambda plan: frozenset(f for r in plan.rules for f in plan.rule_fields(r))
        )
        return found

    def rule_fields(self, rule: CompiledRule) -> frozenset[str]:
        """The fields one rule reads."""
        return frozenset(_fields(rule.condition, self.patterns))


def subset_plan(plan: Plan, indices: Sequence[int]) -> Plan:
    """A plan of the rules at `indices` and only the patterns they use (renumbered), so
    the Hyperscan databases and the prefilter are built for those rules alone."""
    if list(indices) == list(range(len(plan.rules))):
        return plan
    renumbered: dict[int, int] = {}
    patterns: list[StringPattern] = []

    def visit(node: Node) -> Node:
        if isinstance(node, StringMatch):
            if node.pattern not in renumbered:
                renumbered[node.pattern] = len(patterns)
                patterns.append(replace(plan.patterns[node.pattern], id=len(patterns)))
            return StringMatch(renumbered[node.pattern])
        if isinstance(node, And):
            return And(tuple(visit(child) for child in node.children))
        if isinstance(node, Or):
            return Or(tuple(visit(child) for child in node.children))
        if isinstance(node, Not):
            return Not(visit(node.child))
        return node

    rules = tuple(replace(plan.rules[i], condition=visit(plan.rules[i].condition)) for i in indices)
    return Plan(rules, tuple(patterns), plan.refused, plan.digest)


def rule_patterns(rule: CompiledRule) -> frozenset[PatternId]:
    """The string patterns a rule's condition uses."""
    found: set[PatternId] = set()

    def visit(node: Node) -> None:
        if isinstance(node, StringMatch):
            found.add(node.pattern)
        elif isinstance(node, And | Or):
            for child in node.children:
                visit(child)
        elif isinstance(node, Not):
            visit(node.child)

    visit(rule.condition)
    return frozenset(found)
