"""A telemetry source as data: how to recognise its events and map them onto the taxonomy."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl

from retrohunt.sources.paths import column, is_nested
from retrohunt.sources.taxonomy import ENGINE_PREFIX, TAXONOMY
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
class FieldScope:
    """A field mapping for some of a source's events only: on rows whose `native` holds
    one of `values`, each field of `fields` reads its natives (first non-empty wins)
    instead of what the source maps it to otherwise (Windows Security events name the
    process image NewProcessName where Sysmon says Image)."""

    native: str
    values: frozenset[str]
    fields: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Pairs:
    """Values written as a list of name/value objects, as xmltodict writes an event's
    `<Data Name="Image">C:\\…</Data>` elements: `[{"@Name": "Image", "#text": "C:\\…"}, …]`
    (one object alone when there is one element) at `native`.

    A native `prefix + NAME` that is null reads the text of the first element named NAME
    that has one instead. The elements are found in the list's text as Polars renders it
    (`PAIR_FORMAT`): an element `{"@Name": "NAME", "#text": "VALUE"}` is followed by the
    next named element, or ends the text. VALUE reads with `\\"` as `"`; a newline or
    carriage return inside it reads as the two characters `\\n` / `\\r` Polars renders it
    with (a backslash followed by `n` is indistinguishable from it there). An element
    without text, or whose text is not a string, gives no value.
    """

    prefix: str
    native: str

    def name_of(self, native: str) -> str | None:
        """The element name a native reads as a fallback, or None."""
        if not native.startswith(self.prefix):
            return None
        name = native[len(self.prefix) :]
        return name if name and not is_nested(name) else None


PAIR_FORMAT = r'\{{"@Name": "{name}", "#text": "(.*?)"\}}(?:, \{{"@Name": "|\]{end}|{end})'
"""The regular expression of one element of `Pairs` (NAME escaped, `end`: end of text)."""

ELEMENT_TEXT = r'\{{.*"#text": "?([0-9]+)"?\}}{end}'
"""An XML element with attributes, rendered as an object (evtx_dump's
`{"#attributes": {"Qualifiers": 16384}, "#text": 7045}`, xmltodict's `{"@Qualifiers": "",
"#text": "1"}`): its number is the `#text` member that ends it (see `Source.element_text`)."""


def rust_regex_literal(text: str) -> str:
    """`text` as a literal inside a Rust `regex` expression."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):X}}}" for c in text)


def pair_regex(name: str, *, python: bool = False) -> str:
    """The expression finding the value of the element named `name` (group 1)."""
    if python:
        return "(?s)" + PAIR_FORMAT.format(name=re.escape(name), end="\\Z")
    return "(?s)" + PAIR_FORMAT.format(name=rust_regex_literal(name), end="\\z")


def element_text_regex(*, python: bool = False) -> str:
    """The expression reading an element's number (group 1); anchored at the start."""
    return "(?s)^" + ELEMENT_TEXT.format(end="\\Z" if python else "\\z")


class Natives(NamedTuple):
    """The natives a field reads, and how: `mapped` natives take the first non-empty value
    (empty strings count as missing); fallback natives the first that is not null."""

    names: tuple[str, ...]
    mapped: bool


@dataclass(frozen=True, slots=True)
class Source:
    """One telemetry source, described as data.

    Every "native" entry is a tuple of the source's own field names, first non-empty wins
    (empty strings count as missing: some sources write "" for "no value").

    - `recognise`: a row belongs to this source when these natives hold a value (matching
      `recognise_pattern`, a regular expression, when given);
    - `event_type`: the native event type, prefixed by the value of `event_type_prefix`
      and ":" when that is given (Windows event ids are unique only within a channel:
      `Security:4688`); `categories` maps an event type to its Sigma logsource category as
      alerts show it, `category_types` says which event types each category admits when
      some event type belongs to several (Sysmon's 13 is registry_set and registry_event);
      see `types_of`. Other event types are read, but only rules without a category see them;
    - `product_field` / `products` / `product`: the Sigma logsource product of a row (a
      mapped value of the native field, else the default `product`); `service_field` /
      `services` / `service` likewise for the service;
    - `fields`: field → natives (taxonomy fields, and others the source names itself);
    - `fallback`: prefixes under which a field the source does not map is read, when it
      is not a taxonomy field (a taxonomy field the source does not map is null) and has
      no dot in its name (dotted names, and the engine's own `_rh_` fields, are read as
      they are): "" is the line's top level,
      so `TargetFilename` reads the key TargetFilename; Windows event logs add
      `Event.EventData.`;
    - `scopes`: field mappings for some events only (`FieldScope`), the first that applies
      wins;
    - `pairs`: name/value lists that natives under a prefix also read from (`Pairs`);
    - `element_text`: natives that may hold an XML element with attributes rendered as an
      object; such a value reads as its `#text` number (`ELEMENT_TEXT`);
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
    category_types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    event_type_prefix: tuple[str, ...] = ()
    product: str | None = None
    product_field: tuple[str, ...] = ()
    products: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None
    service_field: tuple[str, ...] = ()
    services: Mapping[str, str] = field(default_factory=dict)
    fallback: tuple[str, ...] = ("",)
    scopes: tuple[FieldScope, ...] = ()
    pairs: Pairs | None = None
    element_text: frozenset[str] = frozenset()
    envelope: str | None = None  # a top-level list key wrapping many events in one line
    value_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    process_join: ProcessJoin | None = None

    # --- logsource as data ------------------------------------------------------------------

    def types_of(self, category: str) -> tuple[str, ...]:
        """The event types a rule of `category` admits on this source."""
        shown = [t for t, c in self.categories.items() if c == category]
        extra = [t for t in self.category_types.get(category, ()) if t not in shown]
        return (*shown, *extra)

    def event_categories(self) -> dict[str, tuple[str, ...]]:
        """Event type → every category admitting it (sorted)."""
        found: dict[str, set[str]] = {}
        for event_type, category in self.categories.items():
            found.setdefault(event_type, set()).add(category)
        for category, types in self.category_types.items():
            for event_type in types:
                found.setdefault(event_type, set()).add(category)
        return {event_type: tuple(sorted(cats)) for event_type, cats in found.items()}

    def natives(self, name: str) -> Natives:
        """What field `name` reads when no scope applies (see the class doc)."""
        if name in self.fields:
            return Natives(self.fields[name], True)
        if name in TAXONOMY:
            return Natives((), True)
        if is_nested(name) or name.startswith(ENGINE_PREFIX):
            return Natives((name,), False)
        return Natives(tuple(prefix + name for prefix in self.fallback), False)

    def raw_columns(self, fields: Iterable[str] | None = None) -> frozenset[str]:
        """Native fields needed for `fields` (None: every field the source maps, event time
        and host included), plus what recognising the source and its logsource take."""
        names = {
            *self.recognise,
            *self.event_type,
            *self.event_type_prefix,
            *self.product_field,
            *self.service_field,
        }
        wanted: Iterable[str]
        if fields is None:
            names |= {*self.time_fields, *self.host_fields}
            wanted = {*self.fields, *(f for scope in self.scopes for f in scope.fields)}
        else:
            wanted = fields
        for name in wanted:
            names.update(self.natives(name).names)
            for scope in self.scopes:
                if name in scope.fields:
                    names.update((scope.native, *scope.fields[name]))
        if self.pairs is not None and any(self.pairs.name_of(n) for n in names):
            names.add(self.pairs.native)
        return frozenset(names)

    # --- Polars expressions -------------------------------------------------------------------

    def read(self, native: str, present: Collection[str] | None = None) -> pl.Expr:
        """One native field as text (see `element_text` and `pairs`); null when `present`
        (the frame's columns) says it was not read."""
        if present is not None and native not in present:
            return pl.lit(None, dtype=pl.String)
        value = column(native)
        if native in self.element_text:
            value = pl.coalesce(value.str.extract(element_text_regex(), 1), value)
        pairs = self.pairs
        name = pairs.name_of(native) if pairs is not None else None
        if pairs is not None and name is not None and (present is None or pairs.native in present):
            pair = column(pairs.native).str.extract(pair_regex(name), 1)
            value = pl.coalesce(value, pair.str.replace_all('\\"', '"', literal=True))
        return value

    def first_of(
        self, names: Iterable[str], present: Collection[str] | None = None, *, mapped: bool = True
    ) -> pl.Expr:
        """The first of these natives holding a value: non-empty if `mapped`, else not
        null; null when none does."""
        columns = [self.read(n, present) for n in names]
        if not columns:
            return pl.lit(None, dtype=pl.String)
        if mapped:
            columns = [pl.when(c != "").then(c) for c in columns]
        return columns[0] if len(columns) == 1 else pl.coalesce(columns)

    def detect(self) -> pl.Expr:
        """True on the rows that are events of this source."""
        if not self.recognise:  # forced with --source: every event is this source's
            return pl.lit(True)
        value = self.first_of(self.recognise)
        if self.recognise_pattern is None:
            return value.is_not_null()
        return value.str.contains(self.recognise_pattern).fill_null(False)

    def category(self) -> pl.Expr:
        """The Sigma logsource category of each row as alerts show it (null for unmapped
        event types)."""
        return self.event_type_value().replace_strict(
            dict(self.categories), default=None, return_dtype=pl.String
        )

    def categories_value(self) -> pl.Expr:
        """Every Sigma logsource category admitting each row (null for unmapped types)."""
        mapping = {t: list(cats) for t, cats in self.event_categories().items()}
        return self.event_type_value().replace_strict(
            mapping, default=None, return_dtype=pl.List(pl.String)
        )

    def product_value(self) -> pl.Expr:
        """The Sigma logsource product of each row."""
        return self._mapped(self.product_field, self.products, self.product)

    def service_value(self) -> pl.Expr:
        """The Sigma logsource service of each row."""
        return self._mapped(self.service_field, self.services, self.service)

    def _mapped(
        self, natives: tuple[str, ...], mapping: Mapping[str, str], default: str | None
    ) -> pl.Expr:
        fixed = pl.lit(default, dtype=pl.String)
        if not natives:
            return fixed
        mapped = self.first_of(natives).replace_strict(
            dict(mapping), default=None, return_dtype=pl.String
        )
        return pl.coalesce(mapped, fixed)

    def event_type_value(self) -> pl.Expr:
        """The event type of each row."""
        value = self.first_of(self.event_type)
        if not self.event_type_prefix:
            return value
        return pl.concat_str(self.first_of(self.event_type_prefix), pl.lit(":"), value)

    def field(self, name: str, present: Collection[str] | None = None) -> pl.Expr:
        """The field `name` on this source's rows (null where it has none).

        `present`: the frame's columns, when not all native fields were read.
        """
        natives = self.natives(name)
        value = self.first_of(natives.names, present, mapped=natives.mapped)
        for scope in reversed(self.scopes):
            if name in scope.fields:
                applies = self.first_of((scope.native,), present).is_in(list(scope.values))
                value = (
                    pl.when(applies)
                    .then(self.first_of(scope.fields[name], present))
                    .otherwise(value)
                )
        if name in self.value_maps:
            return value.replace_strict(
                dict(self.value_maps[name]), default=None, return_dtype=pl.String
            )
        return value

    def event_time(self) -> pl.Expr:
        """The event's time as Datetime(µs, UTC)."""
        return pl.coalesce([parse_event_time(self.read(name)) for name in self.time_fields])

    def host(self) -> pl.Expr:
        """The best identity of the host: its name, else its agent id."""
        return self.first_of(self.host_fields)


def first_of(names: tuple[str, ...]) -> pl.Expr:
    """The first of these native fields that holds a non-empty value (dotted names reach
    into nested JSON, see `sources.paths`)."""
    columns = [pl.when(column(n) != "").then(column(n)) for n in names]
    return columns[0] if len(columns) == 1 else pl.coalesce(columns)
