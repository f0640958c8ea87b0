"""A telemetry source as data: how to recognise its events and map them onto the taxonomy."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from retrohunt.sources.timestamps import parse_event_time


@dataclass(frozen=True, slots=True)
class Source:
    """One telemetry source, described as data.

    `fields` maps a taxonomy field to the native fields that can hold it, first non-null
    wins; `categories` maps the native event type to a Sigma logsource category (events of
    other types are read but no rule applies to them).
    """

    name: str
    description: str
    marker: str  # a native field present on every event of this source and no other
    event_type: str  # native field naming the event type
    categories: Mapping[str, str]
    fields: Mapping[str, tuple[str, ...]]
    time_fields: tuple[str, ...]
    host_fields: tuple[str, ...]

    def raw_columns(self, fields: Iterable[str] | None = None) -> frozenset[str]:
        """Native fields needed for the taxonomy `fields` (None: everything, event time and
        host included), plus what recognising the source and its event type takes."""
        names = {self.marker, self.event_type}
        if fields is None:
            names |= {*self.time_fields, *self.host_fields}
            wanted: Iterable[str] = self.fields
        else:
            wanted = fields
        for name in wanted:
            names.update(self.fields.get(name, ()))
        return frozenset(names)

    def detect(self) -> pl.Expr:
        """True on the rows that are events of this source."""
        return pl.col(self.marker).is_not_null()

    def category(self) -> pl.Expr:
        """The Sigma logsource category of each row (null for unmapped event types)."""
        return pl.col(self.event_type).replace_strict(
            dict(self.categories), default=None, return_dtype=pl.String
        )

    def field(self, name: str, present: Collection[str] | None = None) -> pl.Expr:
        """The taxonomy field `name` on this source's rows (null where it has none).

        `present`: the frame's columns, when not all native fields were read.
        """
        native = tuple(n for n in self.fields.get(name, ()) if present is None or n in present)
        return _first_of(native) if native else pl.lit(None, dtype=pl.String)

    def event_type_value(self) -> pl.Expr:
        """The native event type of each row."""
        return pl.col(self.event_type)

    def event_time(self) -> pl.Expr:
        """The event's time as Datetime(µs, UTC)."""
        return pl.coalesce([parse_event_time(pl.col(name)) for name in self.time_fields])

    def host(self) -> pl.Expr:
        """The best identity of the host: its name, else its agent id."""
        return _first_of(self.host_fields)


def _first_of(names: tuple[str, ...]) -> pl.Expr:
    # Empty strings count as missing: FDR writes "" for fields it has no value for.
    columns = [pl.when(pl.col(n) != "").then(pl.col(n)) for n in names]
    return columns[0] if len(columns) == 1 else pl.coalesce(columns)
