"""Sigma condition trees: what pattern hits alone decide, leaf expressions, labels, costs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from retrohunt.compiler.plan import (
    And,
    CidrMatch,
    Const,
    Exists,
    FieldEquals,
    IsNull,
    Node,
    Not,
    NumberCompare,
    NumberEquals,
    Or,
    RegexMatch,
    StringMatch,
    StringPattern,
)
from retrohunt.match import predicates


def can_hold(node: Node, hit_patterns: frozenset[int]) -> bool:
    """Could `node` be true on some row, knowing only which patterns hit no row? (False:
    certainly not; then the rule needs no evaluation.)"""
    return _truth(node, hit_patterns) is not False


def _truth(node: Node, hit_patterns: frozenset[int]) -> bool | None:
    """The node's value on every row when the pattern hits decide it, else None."""
    if isinstance(node, StringMatch):
        return False if node.pattern not in hit_patterns else None
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Not):
        inner = _truth(node.child, hit_patterns)
        return None if inner is None else not inner
    if isinstance(node, And):
        values = [_truth(c, hit_patterns) for c in node.children]
        if False in values:
            return False
        return True if all(v is True for v in values) else None
    if isinstance(node, Or):
        values = [_truth(c, hit_patterns) for c in node.children]
        if True in values:
            return True
        return False if all(v is False for v in values) else None
    return None


def leaf_expr(node: Node) -> pl.Expr:
    """A leaf that reads a field's value as a non-null boolean expression (string tests
    are read from the pattern hits instead: `masks.MaskEvaluator`). Every leaf is
    two-valued (a null field makes a number, CIDR or regex test false), so `not` means
    "the test failed", which is what Sigma and the reference evaluator mean."""
    if isinstance(node, RegexMatch):
        return predicates.regex_search(node.field, node.expression)
    if isinstance(node, FieldEquals):
        return predicates.field_compare(node.field, node.other, node.how)
    if isinstance(node, NumberEquals):
        return predicates.number_equals(node.field, node.number)
    if isinstance(node, NumberCompare):
        return predicates.number_compare(node.field, node.op, node.number)
    if isinstance(node, CidrMatch):
        return predicates.cidr_contains(node.field, node.network)
    if isinstance(node, IsNull):
        return predicates.is_null(node.field)
    if isinstance(node, Exists):
        return predicates.exists(node.field, node.expected)
    if isinstance(node, Const):
        return pl.lit(node.value)
    raise TypeError(f"not a condition node: {node!r}")


def typed_fields(conditions: Iterable[Node]) -> tuple[set[str], set[str]]:
    """Fields tested by number predicates, and by IPv4-capable CIDR predicates."""
    numbers: set[str] = set()
    addresses: set[str] = set()
    stack = list(conditions)
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, NumberEquals | NumberCompare):
            numbers.add(node.field)
        elif isinstance(node, CidrMatch):
            addresses.add(node.field)
    return numbers, addresses


def evaluation_cost(node: Node) -> int:
    """A rough rank of what evaluating `node` costs per row: pattern hits and null tests are
    column reads (0), numbers and field comparisons need text parsing (1), CIDR ranges
    address parsing and regular expressions a text search (2)."""
    if isinstance(node, And | Or):
        return max((evaluation_cost(c) for c in node.children), default=0)
    if isinstance(node, Not):
        return evaluation_cost(node.child)
    if isinstance(node, NumberEquals | NumberCompare | FieldEquals):
        return 1
    if isinstance(node, CidrMatch | RegexMatch):
        return 2
    return 0


def positive_leaves(node: Node, negated: bool = False) -> list[Node]:
    """Leaves that count as evidence when true: those under an even number of `not`s."""
    if isinstance(node, And | Or):
        return [leaf for c in node.children for leaf in positive_leaves(c, negated)]
    if isinstance(node, Not):
        return positive_leaves(node.child, not negated)
    if negated or isinstance(node, Const):
        return []
    return [node]


def leaf_label(node: Node, patterns: Sequence[StringPattern]) -> str:
    """How a leaf is shown in an alert's `matched` list."""
    if isinstance(node, StringMatch):
        pattern = patterns[node.pattern]
        return f"{pattern.field}: {pattern.display}"
    if isinstance(node, RegexMatch):
        return f"{node.field}|re: {node.expression}"
    if isinstance(node, FieldEquals):
        modifier = "" if node.how == "equals" else f"|{node.how}"
        return f"{node.field}|fieldref{modifier}: {node.other}"
    if isinstance(node, NumberEquals):
        return f"{node.field}: {node.number}"
    if isinstance(node, NumberCompare):
        return f"{node.field}|{node.op}: {node.number}"
    if isinstance(node, CidrMatch):
        return f"{node.field}|cidr: {node.network}"
    if isinstance(node, IsNull):
        return f"{node.field}: null"
    if isinstance(node, Exists):
        return f"{node.field}|exists: {str(node.expected).lower()}"
    raise TypeError(f"not a leaf: {node!r}")
