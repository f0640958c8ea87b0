"""Envelope lines (CloudTrail's `{"Records": [...]}`) become one row per wrapped event."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from retrohunt.compiler.plan import KEYWORD_FIELD
from retrohunt.parse import LINE_COLUMN, OFFSET_COLUMN
from retrohunt.sources.base import Source
from retrohunt.sources.taxonomy import RECORD


def expand_envelopes(frame: pl.DataFrame, sources: Sequence[Source]) -> pl.DataFrame:
    """Replace each envelope row by its events; other rows pass through.

    Every row gets `_rh_record`: the event's 0-based index inside its line's envelope, null
    for lines that are one event each. Line number and offset stay those of the line, so
    (line, record) identifies an event.
    """
    frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(RECORD))
    for envelope in sorted({s.envelope for s in sources if s.envelope}):
        if envelope not in frame.columns:
            continue
        if frame.get_column(envelope).null_count() == frame.height:  # the usual case
            frame = frame.drop(envelope)
            continue
        wrapped = frame.filter(pl.col(envelope).list.len() > 0)
        if wrapped.height == 0:
            frame = frame.drop(envelope)
            continue
        plain = frame.filter(pl.col(envelope).list.len().fill_null(0) == 0).drop(envelope)
        inner = frame.schema[envelope]
        assert isinstance(inner, pl.List) and isinstance(inner.inner, pl.Struct)
        names = [f.name for f in inner.inner.fields]
        # A wrapped event is all there is: the envelope line's own other fields are not part
        # of it (only the line's provenance is, and its text for keyword searches).
        keep = {*names, LINE_COLUMN, OFFSET_COLUMN, RECORD, KEYWORD_FIELD}
        others = [c for c in plain.columns if c not in keep]
        events = (
            wrapped.with_columns(
                pl.int_ranges(pl.col(envelope).list.len(), dtype=pl.Int64).alias(RECORD)
            )
            .explode(envelope, RECORD)
            .with_columns(
                *(pl.col(envelope).struct.field(name).alias(name) for name in names),
                *(pl.lit(None, dtype=frame.schema[c]).alias(c) for c in others),
            )
            .drop(envelope)
        )
        frame = pl.concat([plain, events.select(plain.columns)], how="vertical")
    return frame
