"""Sigma condition trees evaluated over numpy row masks, Polars only for the typed leaves.

A string test is a pattern-hit mask already (one Hyperscan scan covers every pattern), so
`and`, `or` and `not` over them are numpy operations costing microseconds: with thousands
of rules, a Polars query per rule cost more than everything else the match stage does. A
leaf that needs the values (number, CIDR, regex, field reference) is computed by Polars
only on the rows still undecided when the evaluation reaches it, cheapest tests first, and
each such leaf once per batch however many rules share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from retrohunt.compiler.plan import (
    COMPARISONS,
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
    PatternId,
    RegexMatch,
    StringMatch,
    StringPattern,
)
from retrohunt.match.conditions import (
    evaluation_cost,
    leaf_expr,
    leaf_label,
    positive_leaves,
    typed_fields,
)
from retrohunt.match.predicates import decimal_column, derived_columns, integer_column

Mask = npt.NDArray[np.bool_]  # one bool per row of the frame
ValueLeaf = NumberEquals | NumberCompare | RegexMatch | FieldEquals | CidrMatch | IsNull | Exists
"""The leaves that read a field's value (a string test reads its pattern's hits)."""


class MaskEvaluator:
    """Evaluates conditions over the rows of one frame, given the pattern-hit masks."""

    def __init__(
        self,
        frame: pl.DataFrame,
        hits: dict[PatternId, Mask],
        patterns: Sequence[StringPattern],
    ) -> None:
        self.frame = frame
        self.hits = hits
        self.patterns = patterns
        self.none: Mask = np.zeros(frame.height, dtype=bool)
        # leaf -> (rows computed so far, values on those rows)
        self._leaves: dict[ValueLeaf, tuple[Mask, Mask]] = {}
        self._order: dict[int, tuple[Node, ...]] = {}  # id(node) -> children, cheapest first
        self._nulls: dict[str, Mask] = {}
        # field -> derived number column -> (row holds a number, the number or 0)
        self._numbers: dict[str, dict[str, tuple[Mask, np.ndarray]]] = {}

    def truth(self, node: Node, rows: Mask) -> Mask:
        """Where `node` holds, among `rows` (false outside them). Masks are never changed
        in place once made, so results may be shared."""
        if isinstance(node, StringMatch):
            hit = self.hits.get(node.pattern)
            return self.none if hit is None else hit & rows
        if isinstance(node, And):
            return self._all(node, rows)
        if isinstance(node, Or):
            return self._any(node, rows)
        if isinstance(node, Not):
            return rows & ~self.truth(node.child, rows)
        if isinstance(node, Const):
            return rows if node.value else self.none
        if isinstance(node, ValueLeaf):
            return self._leaf(node, rows)
        raise TypeError(f"not a condition node: {node!r}")

    def labels(self, node: Node, rows: Mask) -> pl.Series:
        """For each row of `rows` (in order), the labels of the positive leaves of `node`
        that hold on it, deduplicated, in rule order: what an alert's `matched` shows."""
        indices = np.flatnonzero(rows)
        columns: dict[str, Mask] = {}
        for leaf in positive_leaves(node):
            label = leaf_label(leaf, self.patterns)
            if label not in columns:
                columns[label] = self.truth(leaf, rows)[indices]
        if not columns:
            return pl.Series("matched", [[]] * len(indices), dtype=pl.List(pl.String))
        names = np.asarray(list(columns), dtype=object)
        held = np.column_stack(list(columns.values()))  # a row per alerting row
        matched = [names[row].tolist() for row in held]
        return pl.Series("matched", matched, dtype=pl.List(pl.String))

    # --- combinators --------------------------------------------------------------------------

    def _children(self, node: And | Or) -> tuple[Node, ...]:
        found = self._order.get(id(node))
        if found is None:
            found = self._order[id(node)] = tuple(sorted(node.children, key=evaluation_cost))
        return found

    def _all(self, node: And, rows: Mask) -> Mask:
        # Each conjunct only sees the rows every earlier (cheaper) one kept.
        kept = rows
        for child in self._children(node):
            kept = self.truth(child, kept)
            if not kept.any():
                return self.none
        return kept

    def _any(self, node: Or, rows: Mask) -> Mask:
        # Each alternative only sees the rows no earlier (cheaper) one made true.
        found = self.none
        open_rows = rows
        for child in self._children(node):
            if isinstance(child, StringMatch):
                hit = self.hits.get(child.pattern)
                if hit is None:
                    continue  # a blocklist has thousands of alternatives, most never hit
                held = hit & open_rows
            else:
                held = self.truth(child, open_rows)
            if held.any():
                found = found | held
                open_rows = open_rows & ~held
                if not open_rows.any():
                    break
        return found

    # --- leaves that read values ----------------------------------------------------------------

    def _leaf(self, leaf: ValueLeaf, rows: Mask) -> Mask:
        if isinstance(leaf, IsNull):
            return rows & self._null(leaf.field)
        if isinstance(leaf, Exists):
            return rows & (~self._null(leaf.field) if leaf.expected else self._null(leaf.field))
        if isinstance(leaf, NumberEquals | NumberCompare):
            return rows & self._number_test(leaf)
        done, values = self._leaves.get(leaf, (self.none, self.none))
        wanted = rows & ~done
        if wanted.any():
            values = values | self._compute(leaf, wanted)
            done = done | wanted
            self._leaves[leaf] = (done, values)
        return values & rows

    def _null(self, field: str) -> Mask:
        found = self._nulls.get(field)
        if found is None:
            found = self._nulls[field] = self.frame.get_column(field).is_null().to_numpy()
        return found

    def _number_test(self, leaf: NumberEquals | NumberCompare) -> Mask:
        """A number leaf over every row, from the field read as numbers once per batch
        (`predicates.derived_columns`): a numpy comparison instead of a Polars query."""
        found = self._numbers.get(leaf.field)
        if found is None:
            derived = self.frame.select(derived_columns({leaf.field}, set()))
            found = self._numbers[leaf.field] = {
                column.name: (column.is_not_null().to_numpy(), column.fill_null(0).to_numpy())
                for column in derived.get_columns()
            }
        integer = isinstance(leaf, NumberEquals) and isinstance(leaf.number, int)
        name = integer_column(leaf.field) if integer else decimal_column(leaf.field)
        valid, values = found[name]
        if isinstance(leaf, NumberEquals):
            held: Mask = valid & (values == leaf.number)
            return held
        compared: Mask = valid & COMPARISONS[leaf.op](values, leaf.number)
        return compared

    def _compute(self, leaf: ValueLeaf, wanted: Mask) -> Mask:
        """The leaf's value on the `wanted` rows (false elsewhere), by one Polars query over
        just those rows and the columns the leaf reads."""
        columns = {leaf.field}
        if isinstance(leaf, FieldEquals):
            columns.add(leaf.other)
        indices = np.flatnonzero(wanted)
        subset = self.frame.select(sorted(columns))[indices]
        numbers, addresses = typed_fields([leaf])
        if numbers or addresses:
            subset = subset.with_columns(derived_columns(numbers, addresses))
        result = subset.select(leaf_expr(leaf)).to_series().to_numpy()
        out = np.zeros(self.frame.height, dtype=bool)
        out[indices] = result
        return out
