"""A telemetry source as data: how to recognise its events and map them onto the taxonomy."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from retrohunt.sources.paths import column
from retrohunt.sources.timestamps import parse_event_time

JOINED_FIELDS = ("Image", "CommandLine", "ParentImage", "User", "ContainerId")
"""The taxonomy fields a process join fills on the events that lack them."""


@dataclass(frozen=True, slots=True)
class ProcessJoin:
    """How a source's network and DNS events find the process that made them.

    A process event (`process_types`) names its process by `process_key` (on Falcon: the
    agent id and TargetProcessId); events of `categories` point to it by `context_key`
    (agent id and ContextProcessId). `fields` come from the process event when the event
    lacks them.
    """

    process_types: tuple[str, ...]
    process_key: tuple[str, str]
    context_key: tuple[str, str]
    categories: tuple[str, ...]
    fields: tuple[str, ...] = JOINED_FIELDS


@dataclass(frozen=True, slots=True)
class Source:
    """One telemetry source, described as data.

    Every "native" entry is a tuple of the source's own field names, first non-empty wins
    (empty strings count as missing: some sources write "" for "no value").

    - `recognise`: a row belongs to this source when these natives hold a value (matching
      `recognise_pattern`, a regular expression, when given);
    - `event_type`: the native event type; `categories` maps it to a Sigma logsource
      category (other event types are read, but only rules without a category see them);
    - `product_field` / `products` / `product`: the Sigma logsource product of a row (a
      mapped value of the native field, else the default `product`); `service` likewise;
    - `fields`: taxonomy field → natives;
    - `time_fields`, `host_fields`: what the alert's event time and host come from;
    - `envelope`: a top-level key whose list holds many events in one line (CloudTrail's
      `{"Records": [...]}`); each becomes a row of its own (`sources.records`);
    - `value_maps`: taxonomy fields whose native values are translated (Falcon's
      ConnectionDirection "1" is Sigma's Initiated "false"); unmapped values become null;
    - `process_join`: how network and DNS events get their process's context.
    """

    name: str
    description: str
    recognise: tuple[str, ...]
    event_type: tuple[str, ...]
    categories: Mapping[str, str]
    fields: Mapping[str, tuple[str, ...]]
    time_fields: tuple[str, ...]
    host_fields: tuple[str, ...]
    recognise_pattern: str | None = None
    product: str | None = None
    product_field: tuple[str, ...] = ()
    products: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None
    envelope: str | None = None  # a top-level list key wrapping many events in one line
    value_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    process_join: ProcessJoin | None = None

    def raw_columns(self, fields: Iterable[str] | None = None) -> frozenset[str]:
        """Native fields needed for the taxonomy `fields` (None: everything, event time and
        host included), plus what recognising the source and its event type takes."""
        names = {*self.recognise, *self.event_type, *self.product_field}
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
        if not self.recognise:  # forced with --source: every event is this source's
            return pl.lit(True)
        value = first_of(self.recognise)
        if self.recognise_pattern is None:
            return value.is_not_null()
        return value.str.contains(self.recognise_pattern).fill_null(False)

    def category(self) -> pl.Expr:
        """The Sigma logsource category of each row (null for unmapped event types)."""
        return self.event_type_value().replace_strict(
            dict(self.categories), default=None, return_dtype=pl.String
        )

    def product_value(self) -> pl.Expr:
        """The Sigma logsource product of each row."""
        default = pl.lit(self.product, dtype=pl.String)
        if not self.product_field:
            return default
        mapped = first_of(self.product_field).replace_strict(
            dict(self.products), default=None, return_dtype=pl.String
        )
        return pl.coalesce(mapped, default)

    def service_value(self) -> pl.Expr:
        """The Sigma logsource service of each row."""
        return pl.lit(self.service, dtype=pl.String)

    def event_type_value(self) -> pl.Expr:
        """The native event type of each row."""
        return first_of(self.event_type)

    def field(self, name: str, present: Collection[str] | None = None) -> pl.Expr:
        """The taxonomy field `name` on this source's rows (null where it has none).

        `present`: the frame's columns, when not all native fields were read.
        """
        native = tuple(n for n in self.fields.get(name, ()) if present is None or n in present)
        if not native:
            return pl.lit(None, dtype=pl.String)
        value = first_of(native)
        if name in self.value_maps:
            return value.replace_strict(
                dict(self.value_maps[name]), default=None, return_dtype=pl.String
            )
        return value

    def event_time(self) -> pl.Expr:
        """The event's time as Datetime(µs, UTC)."""
        return pl.coalesce([parse_event_time(column(name)) for name in self.time_fields])

    def host(self) -> pl.Expr:
        """The best identity of the host: its name, else its agent id."""
        return first_of(self.host_fields)


def first_of(names: tuple[str, ...]) -> pl.Expr:
    """The first of these native fields that holds a non-empty value (dotted names reach
    into nested JSON, see `sources.paths`)."""
    columns = [pl.when(column(n) != "").then(column(n)) for n in names]
    return columns[0] if len(columns) == 1 else pl.coalesce(columns)
