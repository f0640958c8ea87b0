"""The match stage: evaluate a compiled Plan over a normalised event frame."""

from __future__ import annotations

import polars as pl

from retrohunt.compiler.plan import And, Plan
from retrohunt.hyperscan_db import CompiledPatterns
from retrohunt.match.columns import pattern_hits
from retrohunt.match.conditions import (
    can_hold,
    condition_expr,
    evaluation_cost,
    hit_column,
    matched_expr,
    typed_fields,
)
from retrohunt.match.predicates import derived_columns
from retrohunt.match.regex_baseline import regex_hits
from retrohunt.sources.taxonomy import ADMITTED, CATEGORY, PRODUCT, SERVICE, SOURCE

CATEGORY_COLUMN = CATEGORY
PRODUCT_COLUMN = PRODUCT
SERVICE_COLUMN = SERVICE
SOURCE_COLUMN = SOURCE
LOGSOURCE_COLUMNS = (ADMITTED, PRODUCT, SERVICE)
ROW_COLUMN = "_rh_row"
RULE_COLUMN = "_rh_rule"

HITS_SCHEMA: dict[str, pl.DataType] = {
    ROW_COLUMN: pl.UInt32(),
    RULE_COLUMN: pl.UInt32(),
    "matched": pl.List(pl.String()),
}


def match_frame(
    frame: pl.DataFrame, plan: Plan, compiled: CompiledPatterns, *, regex_baseline: bool = False
) -> pl.DataFrame:
    """Return one row per (event row, rule) that fires: `_rh_row`, `_rh_rule`, `matched`.

    `frame` holds normalised events (`sources.normalise`: source, logsource categories,
    product and service columns); fields a rule reads that the frame lacks are treated as
    null. `_rh_rule` indexes `plan.rules`.

    One Hyperscan scan covers every string predicate of every rule over the whole frame;
    the typed predicates and conditions then run per logsource, on the rows it admits.
    `regex_baseline`: Polars regular expressions instead of Hyperscan (see `regex_baseline`).
    """
    if frame.height == 0 or not plan.rules:
        return pl.DataFrame(schema=HITS_SCHEMA)
    missing = sorted(plan.fields() - set(frame.columns))
    hits = regex_hits(frame, plan.patterns) if regex_baseline else pattern_hits(frame, compiled)
    hit_patterns = frozenset(hits)
    # Only what the conditions read travels on: filtering a wide frame copies every column.
    prepared = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW_COLUMN),
        pl.col(SOURCE_COLUMN, *LOGSOURCE_COLUMNS),
        *(pl.col(name) for name in sorted(plan.fields() - set(missing))),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in missing),
        *(pl.Series(hit_column(pid), mask) for pid, mask in hits.items()),
    )
    found: list[pl.DataFrame] = []
    by_logsource: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for index, rule in enumerate(plan.rules):
        by_logsource.setdefault(rule.logsource, []).append(index)
    for logsource, indices in by_logsource.items():
        # A rule that cannot hold on any row of the batch, its string tests being what they
        # are, costs no Polars work: with thousands of rules, most are in that case.
        live = [i for i in indices if can_hold(plan.rules[i].condition, hit_patterns)]
        if not live:
            continue
        rows = prepared.filter(_admits(logsource))
        for index in live:
            if rows.height:
                found.append(_match_rule(rows, index, plan, hit_patterns))
    if not found:
        return pl.DataFrame(schema=HITS_SCHEMA)
    return pl.concat(found)


def _admits(logsource: tuple[str | None, str | None, str | None]) -> pl.Expr:
    """Rows whose categories, product and service the logsource admits (None: any).

    A category admits every event type a source maps to it (`Source.types_of`): the row's
    `_rh_categories` lists them all, so Sysmon's event 13 is admitted by registry_set and
    registry_event rules alike. An unrecognised row has no source and never matches,
    whatever the logsource.
    """
    category, product, service = logsource
    tests = [pl.col(SOURCE_COLUMN).is_not_null()]
    if category is not None:
        tests.append(pl.col(ADMITTED).list.contains(category).fill_null(False))
    for wanted, column in ((product, PRODUCT), (service, SERVICE)):
        if wanted is not None:
            tests.append((pl.col(column) == wanted).fill_null(False))
    return pl.all_horizontal(tests)


def _match_rule(
    rows: pl.DataFrame, index: int, plan: Plan, hit_patterns: frozenset[int]
) -> pl.DataFrame:
    """Evaluate one rule on its category's rows.

    The conjuncts of a top-level `and` are applied one at a time, cheapest first, each on
    the rows the previous ones kept: a pool-port test runs before the CIDR test, so the
    costly address parsing only sees connections to pool ports. Same result as evaluating
    the whole condition at once (`and` commutes); fewer rows through the slow parts.
    """
    rule = plan.rules[index]
    condition = rule.condition
    conjuncts = condition.children if isinstance(condition, And) else (condition,)
    survivors = rows
    for conjunct in sorted(conjuncts, key=evaluation_cost):
        if survivors.height == 0:
            break
        numbers, addresses = typed_fields([conjunct])
        survivors = (
            survivors.lazy()
            .with_columns(derived_columns(numbers, addresses))
            .filter(condition_expr(conjunct, hit_patterns))
            .collect()
        )
    numbers, addresses = typed_fields([condition])
    return (
        survivors.lazy()
        .with_columns(derived_columns(numbers, addresses))
        .select(
            pl.col(ROW_COLUMN),
            pl.lit(index, dtype=pl.UInt32).alias(RULE_COLUMN),
            matched_expr(condition, plan.patterns, hit_patterns).alias("matched"),
        )
        .collect()
    )


__all__ = ["CATEGORY_COLUMN", "HITS_SCHEMA", "ROW_COLUMN", "RULE_COLUMN", "match_frame"]
