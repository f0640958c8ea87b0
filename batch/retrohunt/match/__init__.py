"""The match stage: evaluate a compiled Plan over a normalised event frame."""

from __future__ import annotations

import polars as pl

from retrohunt.compiler.plan import Plan
from retrohunt.hyperscan_db import CompiledPatterns
from retrohunt.match.columns import pattern_hits
from retrohunt.match.conditions import condition_expr, hit_column, matched_expr

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
    """
    if frame.height == 0 or not plan.rules:
        return pl.DataFrame(schema=HITS_SCHEMA)
    missing = sorted(plan.fields() - set(frame.columns))
    hits = pattern_hits(frame, compiled)
    hit_patterns = frozenset(hits)
    lf = frame.lazy().with_columns(
        *(pl.lit(None, dtype=pl.String).alias(name) for name in missing),
        *(pl.Series(hit_column(pid), mask) for pid, mask in hits.items()),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW_COLUMN),
    )
    per_rule = []
    for index, rule in enumerate(plan.rules):
        applies = pl.col(CATEGORY_COLUMN) == rule.category
        per_rule.append(
            lf.filter(applies & condition_expr(rule.condition, hit_patterns)).select(
                pl.col(ROW_COLUMN),
                pl.lit(index, dtype=pl.UInt32).alias(RULE_COLUMN),
                matched_expr(rule.condition, plan.patterns, hit_patterns).alias("matched"),
            )
        )
    return pl.concat(per_rule).collect()


__all__ = ["CATEGORY_COLUMN", "HITS_SCHEMA", "ROW_COLUMN", "RULE_COLUMN", "match_frame"]
