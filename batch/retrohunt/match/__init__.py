"""The match stage: evaluate a compiled Plan over a normalised event frame."""

from __future__ import annotations

import polars as pl

from retrohunt.compiler.plan import Plan
from retrohunt.hyperscan_db import CompiledPatterns
from retrohunt.match.columns import pattern_hits
from retrohunt.match.conditions import condition_expr, hit_column, matched_expr, typed_fields
from retrohunt.match.predicates import derived_columns

CATEGORY_COLUMN = "_rh_category"
ROW_COLUMN = "_rh_row"
RULE_COLUMN = "_rh_rule"

HITS_SCHEMA: dict[str, pl.DataType] = {
    ROW_COLUMN: pl.UInt32(),
    RULE_COLUMN: pl.UInt32(),
    "matched": pl.List(pl.String()),
}


def match_frame(frame: pl.DataFrame, plan: Plan, compiled: CompiledPatterns) -> pl.DataFrame:
    """Return one row per (event row, rule) that fires: `_rh_row`, `_rh_rule`, `matched`.

    `frame` holds normalised events with a `_rh_category` column; fields a rule reads that
    the frame lacks are treated as null. `_rh_rule` indexes `plan.rules`.

    One Hyperscan scan covers every string predicate of every rule over the whole frame;
    the typed predicates and conditions then run per log-source category, on that
    category's rows only, with each tested field parsed once.
    """
    if frame.height == 0 or not plan.rules:
        return pl.DataFrame(schema=HITS_SCHEMA)
    missing = sorted(plan.fields() - set(frame.columns))
    hits = pattern_hits(frame, compiled)
    hit_patterns = frozenset(hits)
    # Only what the conditions read travels on: filtering a wide frame copies every column.
    prepared = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW_COLUMN),
        pl.col(CATEGORY_COLUMN),
        *(pl.col(name) for name in sorted(plan.fields() - set(missing))),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in missing),
        *(pl.Series(hit_column(pid), mask) for pid, mask in hits.items()),
    )
    per_rule: list[pl.LazyFrame] = []
    by_category: dict[str, list[int]] = {}
    for index, rule in enumerate(plan.rules):
        by_category.setdefault(rule.category, []).append(index)
    for category, indices in by_category.items():
        rows = prepared.filter(pl.col(CATEGORY_COLUMN) == category)
        if rows.height == 0:
            continue
        rules = [plan.rules[i] for i in indices]
        numbers, addresses = typed_fields(rule.condition for rule in rules)
        lf = rows.lazy().with_columns(derived_columns(numbers, addresses))
        for index, rule in zip(indices, rules, strict=True):
            per_rule.append(
                lf.filter(condition_expr(rule.condition, hit_patterns)).select(
                    pl.col(ROW_COLUMN),
                    pl.lit(index, dtype=pl.UInt32).alias(RULE_COLUMN),
                    matched_expr(rule.condition, plan.patterns, hit_patterns).alias("matched"),
                )
            )
    if not per_rule:
        return pl.DataFrame(schema=HITS_SCHEMA)
    return pl.concat(per_rule).collect()


__all__ = ["CATEGORY_COLUMN", "HITS_SCHEMA", "ROW_COLUMN", "RULE_COLUMN", "match_frame"]
