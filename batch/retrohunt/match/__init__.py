"""The match stage: evaluate a compiled Plan over a normalised event frame."""

from __future__ import annotations

import numpy as np
import polars as pl

from retrohunt.compiler.plan import Plan, rule_patterns
from retrohunt.hyperscan_db import CompiledPatterns
from retrohunt.match.columns import pattern_hits
from retrohunt.match.conditions import can_hold
from retrohunt.match.masks import MaskEvaluator
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
    the conditions then run over row masks (`masks.MaskEvaluator`), each rule on the rows
    its logsource admits. `regex_baseline`: Polars regular expressions instead of
    Hyperscan (see `regex_baseline`).
    """
    if frame.height == 0 or not plan.rules:
        return pl.DataFrame(schema=HITS_SCHEMA)
    hits = regex_hits(frame, plan.patterns) if regex_baseline else pattern_hits(frame, compiled)
    hit_patterns = frozenset(hits)
    # A rule that cannot hold on any row of the batch, its string tests being what they
    # are, costs no work at all: with thousands of rules, most are in that case.
    by_logsource: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    unhit: tuple[tuple[frozenset[int], bool], ...] = plan.memo("unhit", _holds_without_hits)
    for index, (rule, (patterns, holds)) in enumerate(zip(plan.rules, unhit, strict=True)):
        live = can_hold(rule.condition, hit_patterns) if patterns & hit_patterns else holds
        if live:
            by_logsource.setdefault(rule.logsource, []).append(index)
    if not by_logsource:
        return pl.DataFrame(schema=HITS_SCHEMA)
    missing = sorted(plan.fields() - set(frame.columns))
    prepared = frame.select(
        *(pl.col(name) for name in sorted(plan.fields() - set(missing))),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in missing),
    )
    admitted = frame.select(
        _admits(logsource).alias(str(i)) for i, logsource in enumerate(by_logsource)
    )
    evaluator = MaskEvaluator(prepared, hits, plan.patterns)
    found: list[pl.DataFrame] = []
    for rows, indices in zip(admitted.get_columns(), by_logsource.values(), strict=True):
        mask = rows.to_numpy()
        if not mask.any():
            continue
        for index in indices:
            condition = plan.rules[index].condition
            fired = evaluator.truth(condition, mask)
            if fired.any():
                found.append(
                    pl.DataFrame(
                        [
                            pl.Series(ROW_COLUMN, np.flatnonzero(fired), dtype=pl.UInt32),
                            pl.Series(RULE_COLUMN, [index] * int(fired.sum()), dtype=pl.UInt32),
                            evaluator.labels(condition, fired),
                        ]
                    )
                )
    if not found:
        return pl.DataFrame(schema=HITS_SCHEMA)
    return pl.concat(found)


def _holds_without_hits(plan: Plan) -> tuple[tuple[frozenset[int], bool], ...]:
    """Per rule: its string patterns, and whether it could hold when none of them hits
    (most rules, most batches: a set intersection then decides instead of a tree walk)."""
    return tuple(
        (rule_patterns(rule), can_hold(rule.condition, frozenset())) for rule in plan.rules
    )


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


__all__ = ["CATEGORY_COLUMN", "HITS_SCHEMA", "ROW_COLUMN", "RULE_COLUMN", "match_frame"]
