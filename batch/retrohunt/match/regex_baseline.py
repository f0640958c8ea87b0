"""The string predicates evaluated with Polars regular expressions instead of Hyperscan:
one `str.contains` per pattern. What a Polars-only engine does; `bench` measures it
against the Hyperscan matcher, and the two must agree."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import polars as pl

from retrohunt.compiler.plan import PatternId, StringPattern, Wildcard


def pattern_regex(pattern: StringPattern) -> str:
    """The pattern as an anchored regular expression (Rust `regex` syntax, which Polars
    uses). Case folding is Unicode-aware there, ASCII-only in Hyperscan: the two differ only
    on non-ASCII letters."""
    body = "".join(
        ".*" if part is Wildcard.ANY else "." if part is Wildcard.ONE else re.escape(str(part))
        for part in pattern.parts
    )
    flags = "(?s)" if pattern.cased else "(?si)"
    return f"{flags}^{body}$"


def regex_hits(
    frame: pl.DataFrame, patterns: Sequence[StringPattern]
) -> dict[PatternId, np.ndarray]:
    """For every pattern that matched a row, a boolean mask over the rows (null never
    matches; a field the frame lacks matches nothing)."""
    present = [p for p in patterns if p.field in frame.columns]
    if frame.height == 0 or not present:
        return {}
    masks = frame.select(
        pl.col(p.field)
        .cast(pl.String)
        .str.contains(pattern_regex(p))
        .fill_null(False)
        .alias(str(i))
        for i, p in enumerate(present)
    )
    hits: dict[PatternId, np.ndarray] = {}
    for pattern, column in zip(present, masks.get_columns(), strict=True):
        mask = column.to_numpy()
        if mask.any():
            hits[pattern.id] = mask
    return hits
