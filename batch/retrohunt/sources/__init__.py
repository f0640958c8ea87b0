"""Sources: recognise each event's telemetry source and normalise it onto the Sigma taxonomy."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import polars as pl

from retrohunt.errors import UnknownSource
from retrohunt.sources.base import Source
from retrohunt.sources.cloudtrail import CLOUDTRAIL
from retrohunt.sources.falcon import FALCON
from retrohunt.sources.paths import column, is_nested, schema_for, steps
from retrohunt.sources.sysmon import SYSMON
from retrohunt.sources.taxonomy import (
    ADMITTED,
    CATEGORY,
    ENGINE_PREFIX,
    EVENT_TIME,
    EVENT_TYPE,
    HOST,
    PRODUCT,
    SERVICE,
    SOURCE,
    TAXONOMY,
)
from retrohunt.sources.timestamps import UTC_MICROS
from retrohunt.sources.winevt import WINEVT

# Order matters: a line belongs to the first source that recognises it.
SOURCES: dict[str, Source] = {
    source.name: source for source in (FALCON, SYSMON, WINEVT, CLOUDTRAIL)
}

AUTO = "auto"
"""The `--source` value meaning "recognise each line" (the default)."""


def select_sources(forced: str | None = None) -> list[Source]:
    """All sources, each recognising its own lines (`forced` None or "auto"); or only
    `forced`, claiming every line.

    Raises:
        UnknownSource: `forced` is neither a source name nor "auto".
    """
    if forced is None or forced == AUTO:
        return list(SOURCES.values())
    if forced not in SOURCES:
        raise UnknownSource(
            f"unknown source '{forced}': must be {AUTO} or one of {', '.join(SOURCES)}"
        )
    return [replace(SOURCES[forced], recognise=(), recognise_pattern=None)]


def raw_schema(
    sources: Sequence[Source], rule_fields: Iterable[str], *, full: bool = False
) -> dict[str, pl.DataType]:
    """Native fields to read from each line, all as text, in one nested schema.

    By default only what the rules' fields map from (reading fewer columns is most of what
    parsing costs); with `full`, every native field the sources map too, for describing
    alerts. A rule field a source does not map is read where that source keeps such fields
    (`Source.fallback`: the top level, Winlogbeat's event_data, Windows' EventData …).
    """
    rule_fields = set(rule_fields)

    def natives(source: Source) -> frozenset[str]:
        found = source.raw_columns(rule_fields)
        return found | source.raw_columns(None) if full else found

    schema = schema_for(frozenset().union(*(natives(s) for s in sources)))
    for source in sources:
        if source.envelope:
            # The envelope's events have the same fields, one level down.
            inner = schema_for(natives(source))
            schema[source.envelope] = pl.List(pl.Struct(inner))
    return schema


def normalise(
    frame: pl.DataFrame | pl.LazyFrame,
    sources: Sequence[Source],
    fields: Iterable[str] | None = None,
    *,
    absent: Collection[str] = (),
) -> pl.LazyFrame:
    """Add field columns (`fields`, default the taxonomy's) and what matching needs:
    source, logsource categories, product and service, and event type.

    A row belongs to the first source that recognises it, and only that source's mapping
    applies to it; rows no source recognises keep null engine columns, so no rule applies.
    Given a DataFrame rather than a LazyFrame, name/value lists (`Pairs`) no row holds are
    not searched. `absent`: JSON keys no line of the frame had (`ParsedChunk.absent`); the
    natives they leave null on every row are not read (with SigmaHQ's Windows rules, most
    of several hundred).
    """
    # The engine's own fields (a keyword's line text) are columns already.
    wanted = (
        list(TAXONOMY)
        if fields is None
        else sorted(f for f in set(fields) if not f.startswith(ENGINE_PREFIX))
    )
    # Nested columns are read through their dotted natives (a rule field named like a
    # nested root reads null rather than a struct).
    present = {
        name
        for name, dtype in frame.collect_schema().items()
        if not isinstance(dtype, pl.Struct | pl.List)
    }
    if absent:
        present -= {name for name in present if _unread(name, absent)}
    if isinstance(frame, pl.DataFrame):
        present -= _unheld_pairs(frame, sources, present)
    recognised, columns = _normalising(tuple(sources), tuple(wanted), frozenset(present))
    return frame.lazy().with_columns(recognised).with_columns(*columns)


def _unread(native: str, absent: Collection[str]) -> bool:
    """Is the native null on every row, given the keys no line had? A dotted native is read
    as its literal flattened key or through its path of keys (`sources.paths.column`)."""
    if native not in absent:
        return False
    return not is_nested(native) or any(key in absent for key, _ in steps(native))


def _unheld_pairs(
    frame: pl.DataFrame, sources: Sequence[Source], present: Collection[str]
) -> set[str]:
    """The natives of name/value lists that are null on every row of `frame`. Reading a
    field through such a list takes a regular expression per field, compiled for every
    call: a tenth of a second per batch with the hundreds of fields of SigmaHQ's Windows
    rules, to find nothing in the usual evtx_dump shape."""
    natives = {s.pairs.native for s in sources if s.pairs and s.pairs.native in present}
    if not natives or frame.height == 0:
        return set()
    roots = {steps(n)[0][0] for n in natives}
    if not roots <= set(frame.columns):
        return set()
    ordered = sorted(natives)
    held = frame.select(column(n).is_not_null().any().alias(n) for n in ordered).row(0)
    return {n for n, any_held in zip(ordered, held, strict=True) if not any_held}


# Expressions of `normalise` by (sources, fields, columns present): building them costs
# about 40 ms per batch with thousands of rule fields, and batches repeat the same ones.
# Sources are keyed by id; the value keeps them alive, so an id is not reused while cached.
_NORMALISING: dict[tuple[Any, ...], tuple[tuple[Source, ...], pl.Expr, list[pl.Expr]]] = {}


def _normalising(
    sources: tuple[Source, ...], wanted: tuple[str, ...], present: frozenset[str]
) -> tuple[pl.Expr, list[pl.Expr]]:
    key = (tuple(id(s) for s in sources), wanted, present)
    cached = _NORMALISING.get(key)
    if cached is not None:
        return cached[1], cached[2]
    recognised = pl.coalesce([pl.when(s.detect()).then(pl.lit(s.name)) for s in sources])
    columns = [
        *(
            _per_source(sources, partial(Source.field, name=name, present=present)).alias(name)
            for name in wanted
        ),
        _per_source(sources, Source.category).alias(CATEGORY),
        _per_source(sources, Source.categories_value).alias(ADMITTED),
        _per_source(sources, Source.product_value).alias(PRODUCT),
        _per_source(sources, Source.service_value).alias(SERVICE),
        _per_source(sources, Source.event_type_value).alias(EVENT_TYPE),
    ]
    if len(_NORMALISING) >= 32:
        _NORMALISING.pop(next(iter(_NORMALISING)))
    _NORMALISING[key] = (sources, recognised.alias(SOURCE), columns)
    return recognised.alias(SOURCE), columns


def event_context(sources: Sequence[Source]) -> list[pl.Expr]:
    """Expressions for the event time and host of normalised rows.

    Kept out of `normalise` on purpose: parsing timestamps costs more than matching, and
    only rows that raise an alert need them.
    """
    return [
        _per_source(sources, Source.event_time).cast(UTC_MICROS).alias(EVENT_TIME),
        _per_source(sources, Source.host).alias(HOST),
    ]


_NULL = pl.lit(None, dtype=pl.String)


def _per_source(sources: Sequence[Source], expr_of: Callable[[Source], pl.Expr]) -> pl.Expr:
    """`expr_of(source)` on the rows that source claimed (`_rh_source`), null elsewhere.

    A when/then chain on the recognised source, not a coalesce over sources: a value the
    claiming source lacks must stay null rather than fall through to another source's
    mapping of the same line. Sources with the same expression share one branch (a rule
    field read at the top level on Falcon and CloudTrail alike is computed once).
    """
    branches: list[tuple[list[str], pl.Expr]] = []
    for source in sources:
        expr = expr_of(source)
        if expr.meta.eq(_NULL):  # null anyway
            continue
        for names, known in branches:
            if known.meta.eq(expr):
                names.append(source.name)
                break
        else:
            branches.append(([source.name], expr))
    if not branches:
        return _NULL
    chain: Any = pl
    for names, expr in branches:
        claimed = pl.col(SOURCE) == names[0] if len(names) == 1 else pl.col(SOURCE).is_in(names)
        chain = chain.when(claimed).then(expr)
    result: pl.Expr = chain
    return result


__all__ = [
    "AUTO",
    "SOURCES",
    "Source",
    "event_context",
    "normalise",
    "raw_schema",
    "select_sources",
]
