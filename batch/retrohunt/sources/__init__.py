"""Sources: recognise each event's telemetry source and normalise it onto the Sigma taxonomy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import polars as pl

from retrohunt.sources.base import Source
from retrohunt.sources.cloudtrail import CLOUDTRAIL
from retrohunt.sources.falcon import FALCON
from retrohunt.sources.paths import column, is_nested, schema_for
from retrohunt.sources.sysmon import SYSMON
from retrohunt.sources.taxonomy import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    HOST,
    PRODUCT,
    SERVICE,
    SOURCE,
    TAXONOMY,
)
from retrohunt.sources.timestamps import UTC_MICROS

SOURCES: dict[str, Source] = {source.name: source for source in (FALCON, SYSMON, CLOUDTRAIL)}


def select_sources(forced: str | None = None) -> list[Source]:
    """All sources, each recognising its own lines; or only `forced`, claiming every line.

    Raises:
        KeyError: `forced` is not a source name.
    """
    if forced is None:
        return list(SOURCES.values())
    return [replace(SOURCES[forced], recognise=(), recognise_pattern=None)]


def raw_schema(
    sources: Sequence[Source], rule_fields: Iterable[str], *, full: bool = False
) -> dict[str, pl.DataType]:
    """Native fields to read from each line, all as text.

    By default only what the rules' fields map from (reading fewer columns is most of what
    parsing costs); with `full`, every native field the sources map, for describing alerts.
    Rule fields outside the taxonomy are read under their own name (a rule may test a
    native field directly).
    """
    rule_fields = set(rule_fields)
    names: set[str] = set()
    for source in sources:
        names |= source.raw_columns(None if full else rule_fields)
    names |= {f for f in rule_fields if f not in TAXONOMY}
    schema = schema_for(names)
    for source in sources:
        if source.envelope:
            # The envelope's events have the same fields, one level down.
            inner = schema_for(
                source.raw_columns(None if full else rule_fields)
                | {f for f in rule_fields if f not in TAXONOMY}
            )
            schema[source.envelope] = pl.List(pl.Struct(inner))
    return schema


def normalise(
    frame: pl.LazyFrame, sources: Sequence[Source], fields: Iterable[str] | None = None
) -> pl.LazyFrame:
    """Add taxonomy columns (only `fields`, default all) and what matching needs: source,
    logsource category, product and service, and event type.

    A row belongs to the first source that recognises it, and only that source's mapping
    applies to it; rows no source recognises keep null engine columns, so no rule applies.
    """
    wanted = TAXONOMY if fields is None else [f for f in TAXONOMY if f in set(fields)]
    present = set(frame.collect_schema().names())
    # Rule fields outside the taxonomy that reach into nested JSON become plain columns.
    nested = [f for f in fields or () if f not in TAXONOMY and is_nested(f)]
    recognised = pl.coalesce([pl.when(s.detect()).then(pl.lit(s.name)) for s in sources])
    return frame.with_columns(recognised.alias(SOURCE)).with_columns(
        *(column(name).alias(name) for name in nested),
        *(
            _per_source(sources, partial(Source.field, name=name, present=present)).alias(name)
            for name in wanted
        ),
        _per_source(sources, Source.category).alias(CATEGORY),
        _per_source(sources, Source.product_value).alias(PRODUCT),
        _per_source(sources, Source.service_value).alias(SERVICE),
        _per_source(sources, Source.event_type_value).alias(EVENT_TYPE),
    )


def event_context(sources: Sequence[Source]) -> list[pl.Expr]:
    """Expressions for the event time and host of normalised rows.

    Kept out of `normalise` on purpose: parsing timestamps costs more than matching, and
    only rows that raise an alert need them.
    """
    return [
        _per_source(sources, Source.event_time).cast(UTC_MICROS).alias(EVENT_TIME),
        _per_source(sources, Source.host).alias(HOST),
    ]


def _per_source(sources: Sequence[Source], expr_of: Callable[[Source], pl.Expr]) -> pl.Expr:
    """`expr_of(source)` on the rows that source claimed (`_rh_source`), null elsewhere.

    A when/then chain on the recognised source, not a coalesce over sources: a value the
    claiming source lacks must stay null rather than fall through to another source's
    mapping of the same line.
    """
    first, *rest = sources
    chain: Any = pl.when(pl.col(SOURCE) == first.name).then(expr_of(first))
    for source in rest:
        chain = chain.when(pl.col(SOURCE) == source.name).then(expr_of(source))
    expr: pl.Expr = chain
    return expr


__all__ = ["SOURCES", "Source", "event_context", "normalise", "raw_schema", "select_sources"]
