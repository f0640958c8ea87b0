"""A naive, obviously-correct evaluator of a Plan, one event at a time, for exactness tests.

No Hyperscan, no Polars, no prefilter: events are Python dicts decoded with the standard
`json` module, values are compared character by character. The fast path must produce
exactly the alerts this produces; `tests/test_exactness.py` checks it on random input.

Semantics pinned here (and documented in rules/README.md):

* string values match case-insensitively for ASCII letters only (A-Z ↔ a-z);
* `*` matches any run of characters, `?` exactly one character;
* a null or absent field matches no string, number or CIDR value;
* numbers match decimal text of the same value ("3333" and 3333 equal 3333);
* a CIDR matches dotted-quad IPv4 text (1-3 digits per octet, each ≤ 255) or IPv6 text;
* when a JSON object repeats a key, the first occurrence counts (as Polars reads it);
* a JSON number reads as its shortest round-trip decimal text without exponent and without
  a trailing ".0" (3333.0 and 3.333e3 read "3333", 1.5e-7 reads "0.00000015"), as Polars
  renders numbers into text columns; strings are read as they are ("3333.0" stays that);
* a field a source maps through `value_maps` takes the mapped text of its native value, and
  null for a value the map does not name (Falcon's ConnectionDirection "0" is Initiated
  "true", "1" is "false", anything else null);
* a regular expression (`re`) is searched for in the value with Python's `re` and Sigma's
  `i`, `m`, `s` flags (the fast path runs Rust's `regex` crate through Polars: the two agree
  on the syntax the tests draw; they differ on `$` before a final newline, which Rust does
  not match without `m`);
* `fieldref` compares two fields of the same event, ASCII letters folded; null never equals;
* a field reads what its source maps it to (`field_value`): mapped natives first non-empty,
  a field the source does not map its fallback natives first not null (a taxonomy field the
  source does not map is null), a scope's natives on the events it applies to;
* Windows event logs (`native_value`): an EventID object reads as the `#text` number that
  ends its rendering, and an xmltodict element list gives a null `Event.EventData.NAME` the
  text of the element NAME found in the list's rendering (see `sources.base.Pairs`);
* a rule's category admits every event type its source maps to it (an event may have
  several categories), and the event's service is the source's mapping of its channel;
* the process join (`reference_scan`): see `ProcessIndex`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import polars as pl

from retrohunt.compiler.plan import (
    COMPARISONS,
    KEYWORD_FIELD,
    And,
    CidrMatch,
    Const,
    Exists,
    FieldEquals,
    IsNull,
    Node,
    Not,
    NumberCompare,
    NumberEquals,
    Or,
    Plan,
    RegexMatch,
    StringMatch,
    StringPattern,
    Wildcard,
)
from retrohunt.parse import event_text
from retrohunt.sources import raw_schema
from retrohunt.sources.base import Source, element_text_regex, pair_regex
from retrohunt.sources.paths import is_nested, steps

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")

Event = Mapping[str, Any]


def decode_event(line: bytes) -> dict[str, Any] | None:
    """Decode one NDJSON line like the fast path does; None when it is not a JSON object."""
    text = line.decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        value = json.loads(text, object_pairs_hook=_first_key_wins, parse_constant=_no_constant)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json accepts NaN and Infinity; JSON does not


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def as_text(value: Any) -> str | None:
    """A JSON value as the text the fast path reads: strings as is, numbers in decimal
    (`number_text`), arrays and objects as Polars renders them (`_render`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _render(value)


def number_text(number: int | float) -> str:
    """A decoded JSON number as text: integers as they are, other numbers as the shortest
    decimal that reads back as the same double, with no exponent and no trailing ".0"."""
    if isinstance(number, int):
        return str(number)
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _render(value: Any) -> str:
    """A JSON value inside an array or object as Polars renders it into a text column:
    ", " and ": " between items, numbers as `number_text`, string values quoted with only
    `"`, newline and carriage return escaped (`\\"`, `\\n`, `\\r`; a backslash stays one
    backslash, other control characters stay raw), keys quoted with nothing escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, str):
        escaped = value.replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}": {_render(v)}' for k, v in value.items()) + "}"


def lookup(event: Event, name: str) -> Any:
    """A native field: dotted names walk nested objects (`[]`: a list's first element),
    then fall back to the literal key."""
    if not is_nested(name):
        return event.get(name)
    value: Any = event
    for key, is_list in steps(name):
        value = value.get(key) if isinstance(value, dict) else None
        if is_list:
            value = value[0] if isinstance(value, list) and value else None
    return value if value is not None else event.get(name)


def conforming(event: dict[str, Any], schema: Mapping[str, pl.DataType]) -> dict[str, Any]:
    """The event as the fast path reads it: when a nested value does not have the shape
    of the read schema (a string where an object is expected …), every nested top-level
    value of the line counts as absent (flat fields are still read)."""
    nested = [k for k, v in schema.items() if isinstance(v, pl.Struct | pl.List)]
    if all(_fits(event.get(key), schema[key]) for key in nested):
        return event
    return {key: (None if key in nested else value) for key, value in event.items()}


def events_of(event: dict[str, Any], sources: Iterable[Source]) -> list[dict[str, Any]]:
    """The events one decoded line holds: the items of a non-empty envelope list
    (CloudTrail Records), else the line itself."""
    return [item for _, item in indexed_events(event, sources)]


def indexed_events(
    event: dict[str, Any], sources: Iterable[Source]
) -> list[tuple[int | None, dict[str, Any]]]:
    """`events_of` with each event's index in its envelope (None for a line that is one
    event); a null item of an envelope list holds no event but keeps its index."""
    for envelope in sorted({s.envelope for s in sources if s.envelope}):
        wrapped = event.get(envelope)
        if isinstance(wrapped, list) and wrapped:
            return [(i, item) for i, item in enumerate(wrapped) if isinstance(item, dict)]
    return [(None, event)]


def _fits(value: Any, dtype: Any) -> bool:
    if value is None or not isinstance(dtype, pl.Struct | pl.List):
        return True
    if isinstance(dtype, pl.List):
        return isinstance(value, list) and all(_fits(v, dtype.inner) for v in value)
    return isinstance(value, dict) and all(_fits(value.get(f.name), f.dtype) for f in dtype.fields)


def native_value(event: Event, native: str, source: Source | None = None) -> str | None:
    """A native field as text. With `source`: a native it lists in `element_text` whose
    value is an object reads as the `#text` number ending it, and a null native under its
    `pairs` prefix reads the value of the element of that name in the pairs' list (both
    found in the text as Polars renders it, see `Source`)."""
    text = as_text(lookup(event, native))
    if source is None:
        return text
    if text is not None and native in source.element_text:
        found = re.match(element_text_regex(python=True), text)
        text = found.group(1) if found else text
    pairs = source.pairs
    name = pairs.name_of(native) if pairs is not None else None
    if text is None and pairs is not None and name is not None:
        listed = as_text(lookup(event, pairs.native))
        found = re.search(pair_regex(name, python=True), listed) if listed is not None else None
        text = found.group(1).replace('\\"', '"') if found else None
    return text


def first_value(
    event: Event, natives: Iterable[str], source: Source | None = None, *, mapped: bool = True
) -> str | None:
    """The first of these native fields that holds a value (non-empty if `mapped`, else
    not null), as text; read through `source` when given (`native_value`)."""
    for native in natives:
        text = native_value(event, native, source)
        if text is not None and (text != "" or not mapped):
            return text
    return None


def field_value(event: Event, source: Source, field: str) -> str | None:
    """A field of an event as the source maps it: the first scope whose native holds one
    of its values and that maps the field decides (first non-empty native wins); else the
    field's own natives (`Source.natives`: mapped ones first non-empty, fallback ones first
    not null; a taxonomy field the source does not map is null). A field with a value map
    takes the mapped text (null when the map does not name it)."""
    value: str | None
    for scope in source.scopes:
        if field in scope.fields and first_value(event, (scope.native,), source) in scope.values:
            value = first_value(event, scope.fields[field], source)
            break
    else:
        natives = source.natives(field)
        value = first_value(event, natives.names, source, mapped=natives.mapped)
    if field in source.value_maps and value is not None:
        return source.value_maps[field].get(value)
    return value


def event_type_of(event: Event, source: Source) -> str | None:
    """The event's type: its event type native, after `event_type_prefix` and ":"."""
    value = first_value(event, source.event_type, source)
    if not source.event_type_prefix or value is None:
        return value
    prefix = first_value(event, source.event_type_prefix, source)
    return None if prefix is None else f"{prefix}:{value}"


def logsource_value(
    event: Event, source: Source, natives: tuple[str, ...], mapping: Mapping[str, str]
) -> str | None:
    """A product or service: the mapped value of the natives, else nothing."""
    text = first_value(event, natives, source)
    return mapping.get(text) if text is not None else None


def recognises(source: Source, event: Event) -> bool:
    """Does `source` claim this event?"""
    if not source.recognise:
        return True
    value = first_value(event, source.recognise, source)
    if value is None:
        return False
    return (
        source.recognise_pattern is None or re.search(source.recognise_pattern, value) is not None
    )


def wildcard_match(parts: tuple[str | Wildcard, ...], value: str, cased: bool) -> bool:
    """Does `value` equal the pattern `parts` (with * and ?) — by plain backtracking,
    remembering what was tried (a rule set of thousands of `*x*y*` values on long command
    lines is exponential without)."""
    if not cased:
        value = value.translate(_ASCII_FOLD)
        parts = tuple(p.translate(_ASCII_FOLD) if isinstance(p, str) else p for p in parts)

    @functools.cache
    def match(i: int, pos: int) -> bool:
        if i == len(parts):
            return pos == len(value)
        part = parts[i]
        if part is Wildcard.ANY:
            if i + 1 == len(parts):
                return True
            following = parts[i + 1]
            if isinstance(following, str):  # only where the next text starts can it go on
                found = value.find(following, pos)
                while found >= 0:
                    if match(i + 1, found):
                        return True
                    found = value.find(following, found + 1)
                return False
            return any(match(i + 1, k) for k in range(pos, len(value) + 1))
        if part is Wildcard.ONE:
            return pos < len(value) and match(i + 1, pos + 1)
        assert isinstance(part, str)
        return value.startswith(part, pos) and match(i + 1, pos + len(part))

    return match(0, 0)


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}


@functools.lru_cache(maxsize=4096)
def _compiled_regex(regex: str, flags: str) -> re.Pattern[str]:
    combined = 0
    for letter in flags:
        combined |= _REGEX_FLAGS[letter]
    return re.compile(regex, combined)


def regex_search(regex: str, flags: str, value: str) -> bool:
    """Does the regular expression find a match anywhere in `value`?"""
    return _compiled_regex(regex, flags).search(value) is not None


def fields_compare(value: str | None, other: str | None, how: str) -> bool:
    """`fieldref`: `value` equals / starts with / ends with / contains `other`, ASCII
    letters folded; false when either is null."""
    if value is None or other is None:
        return False
    value, other = value.translate(_ASCII_FOLD), other.translate(_ASCII_FOLD)
    if how == "equals":
        return value == other
    if how == "startswith":
        return value.startswith(other)
    if how == "endswith":
        return value.endswith(other)
    return other in value


def number_equals(value: str | None, number: int | float) -> bool:
    """Decimal text equal to `number` (integers for integer numbers)."""
    if value is None:
        return False
    if isinstance(number, int):
        if not _INTEGER.fullmatch(value):
            return False
        parsed = int(value)
        return -(2**63) <= parsed < 2**63 and parsed == number
    return bool(_DECIMAL.fullmatch(value)) and float(value) == number


def number_compare(value: str | None, op: str, number: int | float) -> bool:
    """Decimal text that compares to `number` by `op` (lt, lte, gt, gte)."""
    if value is None or not _DECIMAL.fullmatch(value):
        return False
    return bool(COMPARISONS[op](float(value), number))


def ip_in(value: str | None, network: str) -> bool:
    """Is `value` an IP address inside `network`?"""
    if value is None:
        return False
    net = ipaddress.ip_network(network, strict=False)
    if isinstance(net, ipaddress.IPv4Network):
        octets = value.split(".")
        if len(octets) != 4 or not all(
            1 <= len(o) <= 3 and all("0" <= c <= "9" for c in o) for o in octets
        ):
            return False
        numbers = [int(o) for o in octets]
        if any(n > 255 for n in numbers):
            return False
        address = (numbers[0] << 24) | (numbers[1] << 16) | (numbers[2] << 8) | numbers[3]
        return int(net.network_address) <= address <= int(net.broadcast_address)
    if ":" not in value:
        return False
    try:
        return ipaddress.IPv6Address(value) in net
    except ValueError:
        return False


def evaluate(
    node: Node, get: Callable[[str], str | None], patterns: tuple[StringPattern, ...]
) -> bool:
    """Evaluate a condition tree on one event, `get` giving field values."""
    if isinstance(node, And):
        return all(evaluate(c, get, patterns) for c in node.children)
    if isinstance(node, Or):
        return any(evaluate(c, get, patterns) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, get, patterns)
    if isinstance(node, StringMatch):
        pattern = patterns[node.pattern]
        value = get(pattern.field)
        return value is not None and wildcard_match(pattern.parts, value, pattern.cased)
    if isinstance(node, RegexMatch):
        value = get(node.field)
        return value is not None and regex_search(node.regex, node.flags, value)
    if isinstance(node, FieldEquals):
        return fields_compare(get(node.field), get(node.other), node.how)
    if isinstance(node, NumberEquals):
        return number_equals(get(node.field), node.number)
    if isinstance(node, NumberCompare):
        return number_compare(get(node.field), node.op, node.number)
    if isinstance(node, CidrMatch):
        return ip_in(get(node.field), node.network)
    if isinstance(node, IsNull):
        return get(node.field) is None
    if isinstance(node, Exists):
        return (get(node.field) is not None) == node.expected
    if isinstance(node, Const):
        return node.value
    raise TypeError(f"not a condition node: {node!r}")


# --- events, sources and the process join ---------------------------------------------------


EVENT, JOINED, UNKNOWN = "event", "joined", "unknown"


class ReferenceAlert(NamedTuple):
    """One alert: which archive (0-based, in the order scanned), which line (1-based), which
    event of an envelope line (None for a line that is one event), which rule, and where the
    event's process fields came from ("event", "joined" or "unknown")."""

    archive: int
    line: int
    record: int | None
    rule: str
    process_context: str


@dataclass(slots=True)
class SourcedEvent:
    """One event of a line with the source that claimed it (None: no source did)."""

    event: dict[str, Any]
    record: int | None
    source: Source | None
    event_type: str | None
    category: str | None  # the category alerts show (the process join goes by it)
    categories: tuple[str, ...]  # every category admitting its event type


Place = tuple[int, int]
"""Where a line is in a scan: (archive number, 1-based line number); lines standing for a
persistent process table are archive -1, before everything scanned."""


@dataclass(slots=True)
class ProcessIndex:
    """The process join's table, built in a first pass over every line of every archive.

    A process event is an event (after envelope expansion) that a source with a process
    join claims and whose event type is one of the join's `process_types`; its key is the
    text of its `process_key` natives (first non-empty value, like every field), and it is
    skipped when a part of the key is null or empty. Each sighting records its place in the
    scan and the values of the join's `fields` (taxonomy fields as the rules would see them
    on the process event, nulls included).

    An event is joined when its source has a process join, its category is one of the
    join's categories, and both parts of its `context_key` hold a value. Of the sightings of
    that key (a process id can be reused), it takes the last one at or before its own
    place, else the first one after it; sightings of a persistent table come before
    everything scanned. Each joined field the event lacks (null) is taken from that
    sighting. Its process context is "joined" when a sighting was found, else "unknown"
    when its own Image is null, else "event"; events of other categories or sources say
    "event". With the join off there are no sightings (so join-category events without an
    Image say "unknown").
    """

    sightings: dict[tuple[str, str, str], list[tuple[Place, dict[str, str | None]]]] = field(
        default_factory=dict
    )

    def learn(self, sourced: SourcedEvent, place: Place) -> None:
        """Remember `sourced` if it is a process event (call in stream order)."""
        source = sourced.source
        if source is None or source.process_join is None:
            return
        join = source.process_join
        if sourced.event_type not in join.process_types:
            return
        key = join_key(sourced.event, join.process_key)
        if key is None:
            return
        values = {f: field_value(sourced.event, source, f) for f in join.fields}
        self.sightings.setdefault((source.name, *key), []).append((place, values))

    def find(
        self, source: Source, key: tuple[str, str], place: Place
    ) -> dict[str, str | None] | None:
        """The sighting an event at `place` joins (see the class doc), None if none."""
        seen = self.sightings.get((source.name, *key), [])
        before = [values for where, values in seen if where <= place]
        if before:
            return before[-1]
        after = [values for where, values in seen if where > place]
        return after[0] if after else None

    def context(
        self, sourced: SourcedEvent, place: Place
    ) -> tuple[Callable[[str], str | None], str]:
        """The event's field getter (joined fields filled) and its process context."""
        source = sourced.source
        assert source is not None
        event = sourced.event

        def own(name: str) -> str | None:
            return field_value(event, source, name)

        join = source.process_join
        if join is None or sourced.category not in join.categories:
            return own, EVENT
        key = join_key(event, join.context_key)
        found = self.find(source, key, place) if key is not None else None
        if found is None:
            return own, (UNKNOWN if own("Image") is None else EVENT)
        process = found

        def joined(name: str) -> str | None:
            value = own(name)
            if value is None and name in join.fields:
                return process.get(name)
            return value

        return joined, JOINED


def join_key(event: Event, natives: tuple[str, str]) -> tuple[str, str] | None:
    """The text of a join key's two natives; None when one is null or empty."""
    host, pid = (first_value(event, (native,)) for native in natives)
    return (host, pid) if host is not None and pid is not None else None


def sourced_events(
    line: bytes, sources: Sequence[Source], schema: Mapping[str, pl.DataType]
) -> list[SourcedEvent]:
    """The events of one line (none when it is not a JSON object), each with its source,
    event type and categories."""
    decoded = decode_event(line.rstrip(b"\r"))
    if decoded is None:
        return []
    out: list[SourcedEvent] = []
    text = event_text(line.rstrip(b"\r")) if KEYWORD_FIELD in schema else None
    for record, event in indexed_events(conforming(decoded, schema), sources):
        if text is not None:  # what a field-less keyword is searched in: the whole line
            event = {**event, KEYWORD_FIELD: text}
        source = next((s for s in sources if recognises(s, event)), None)
        event_type = event_type_of(event, source) if source is not None else None
        category: str | None = None
        categories: tuple[str, ...] = ()
        if source is not None and event_type is not None:
            category = source.categories.get(event_type)
            categories = _event_categories(source).get(event_type, ())
        out.append(SourcedEvent(event, record, source, event_type, category, categories))
    return out


_CATEGORIES: dict[int, tuple[Source, dict[str, tuple[str, ...]]]] = {}


def _event_categories(source: Source) -> dict[str, tuple[str, ...]]:
    """`source.event_categories()`, computed once per source object."""
    cached = _CATEGORIES.get(id(source))
    if cached is None or cached[0] is not source:
        cached = _CATEGORIES[id(source)] = (source, source.event_categories())
    return cached[1]


def read_schema(
    plan: Plan, sources: Sequence[Source], *, process_join: bool = True
) -> dict[str, pl.DataType]:
    """The schema the fast path reads candidate lines with: the rules' fields, plus the
    join's keys and Image when the join runs. Only nested shapes matter (see `conforming`)."""
    fields = set(plan.fields())
    if process_join and _join_runs(plan, sources):
        for source in sources:
            if source.process_join is not None:
                fields |= {*source.process_join.context_key, "Image"}
    return raw_schema(sources, fields)


def _join_runs(plan: Plan, sources: Sequence[Source]) -> bool:
    categories = {c for s in sources if s.process_join for c in s.process_join.categories}
    return bool(categories) and any(
        rule.category is None or rule.category in categories for rule in plan.rules
    )


def reference_scan(
    archives: Sequence[Sequence[bytes]],
    plan: Plan,
    sources: Iterable[Source],
    *,
    process_join: bool = True,
    known_processes: Sequence[bytes] = (),
) -> set[ReferenceAlert]:
    """Every alert the plan raises on the archives of one scan (each a sequence of lines).

    Two passes: the first collects the process events of `known_processes` (lines standing
    for a persistent process table, all before the scan; the horizon that bounds a real
    table is not modelled) and of every archive, with their places; the second evaluates
    every event with its joined fields (see `ProcessIndex`).
    """
    sources = list(sources)
    schema = read_schema(plan, sources, process_join=process_join)
    index = ProcessIndex()
    if process_join:
        for line_number, line in enumerate(known_processes, start=1):
            for sourced in sourced_events(line, sources, schema):
                index.learn(sourced, (-1, line_number))
        for number, lines in enumerate(archives):
            for line_number, line in enumerate(lines, start=1):
                for sourced in sourced_events(line, sources, schema):
                    index.learn(sourced, (number, line_number))
    alerts: set[ReferenceAlert] = set()
    for number, lines in enumerate(archives):
        for line_number, line in enumerate(lines, start=1):
            for sourced in sourced_events(line, sources, schema):
                place = (number, line_number)
                for rule, context in _alerts_of_event(sourced, plan, index, place):
                    alerts.add(ReferenceAlert(number, line_number, sourced.record, rule, context))
    return alerts


def reference_alerts(
    lines: Iterable[bytes], plan: Plan, sources: Iterable[Source], *, process_join: bool = True
) -> set[tuple[int, str]]:
    """(1-based line number, rule name) of every alert the plan raises on `lines`, scanned
    as one archive (the process join sees these lines only)."""
    found = reference_scan([list(lines)], plan, sources, process_join=process_join)
    return {(alert.line, alert.rule) for alert in found}


def _alerts_of_event(
    sourced: SourcedEvent, plan: Plan, index: ProcessIndex, place: Place
) -> list[tuple[str, str]]:
    source = sourced.source
    if source is None:
        return []
    event = sourced.event
    product = logsource_value(event, source, source.product_field, source.products)
    product = product or source.product
    service = logsource_value(event, source, source.service_field, source.services)
    service = service or source.service
    field_of, context = index.context(sourced, place)
    values: dict[str, str | None] = {}

    def get(name: str) -> str | None:  # thousands of rules read the same few fields
        if name not in values:
            values[name] = field_of(name)
        return values[name]

    return [
        (rule.name, context)
        for rule in plan.rules
        if rule.applies_to(sourced.categories, product, service)
        and evaluate(rule.condition, get, plan.patterns)
    ]
