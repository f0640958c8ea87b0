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
* when a JSON object repeats a key, the first occurrence counts (as Polars reads it).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from retrohunt.compiler.plan import (
    And,
    CidrMatch,
    Const,
    Exists,
    IsNull,
    Node,
    Not,
    NumberEquals,
    Or,
    Plan,
    StringMatch,
    StringPattern,
    Wildcard,
)
from retrohunt.sources import raw_schema
from retrohunt.sources.base import Source
from retrohunt.sources.paths import is_nested, steps
from retrohunt.sources.taxonomy import TAXONOMY

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
        value = json.loads(text, object_pairs_hook=_first_key_wins)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def as_text(value: Any) -> str | None:
    """A JSON value as the text the fast path reads: strings as is, others as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


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
    for envelope in sorted({s.envelope for s in sources if s.envelope}):
        wrapped = event.get(envelope)
        if isinstance(wrapped, list) and wrapped:
            return [item for item in wrapped if isinstance(item, dict)]
    return [event]


def _fits(value: Any, dtype: Any) -> bool:
    if value is None or not isinstance(dtype, pl.Struct | pl.List):
        return True
    if isinstance(dtype, pl.List):
        return isinstance(value, list) and all(_fits(v, dtype.inner) for v in value)
    return isinstance(value, dict) and all(_fits(value.get(f.name), f.dtype) for f in dtype.fields)


def first_value(event: Event, natives: Iterable[str]) -> str | None:
    """The first of these native fields that holds a non-empty value, as text."""
    for native in natives:
        text = as_text(lookup(event, native))
        if text is not None and text != "":
            return text
    return None


def field_value(event: Event, source: Source, field: str) -> str | None:
    """The taxonomy (or native) field of an event: first non-empty native field wins."""
    if field in TAXONOMY:  # a taxonomy field the source does not map is null
        return first_value(event, source.fields.get(field, ()))
    return as_text(lookup(event, field))


def recognises(source: Source, event: Event) -> bool:
    """Does `source` claim this event?"""
    if not source.recognise:
        return True
    value = first_value(event, source.recognise)
    if value is None:
        return False
    return (
        source.recognise_pattern is None or re.search(source.recognise_pattern, value) is not None
    )


def wildcard_match(parts: tuple[str | Wildcard, ...], value: str, cased: bool) -> bool:
    """Does `value` equal the pattern `parts` (with * and ?) — by plain backtracking."""
    if not cased:
        value = value.translate(_ASCII_FOLD)
        parts = tuple(p.translate(_ASCII_FOLD) if isinstance(p, str) else p for p in parts)

    def match(i: int, pos: int) -> bool:
        if i == len(parts):
            return pos == len(value)
        part = parts[i]
        if part is Wildcard.ANY:
            return any(match(i + 1, k) for k in range(pos, len(value) + 1))
        if part is Wildcard.ONE:
            return pos < len(value) and match(i + 1, pos + 1)
        assert isinstance(part, str)
        return value.startswith(part, pos) and match(i + 1, pos + len(part))

    return match(0, 0)


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
    if isinstance(node, NumberEquals):
        return number_equals(get(node.field), node.number)
    if isinstance(node, CidrMatch):
        return ip_in(get(node.field), node.network)
    if isinstance(node, IsNull):
        return get(node.field) is None
    if isinstance(node, Exists):
        return (get(node.field) is not None) == node.expected
    if isinstance(node, Const):
        return node.value
    raise TypeError(f"not a condition node: {node!r}")


def reference_alerts(
    lines: Iterable[bytes], plan: Plan, sources: Iterable[Source]
) -> set[tuple[int, str]]:
    """(1-based line number, rule name) of every alert the plan raises on `lines`."""
    sources = list(sources)
    schema = raw_schema(sources, plan.fields())
    alerts: set[tuple[int, str]] = set()
    for number, line in enumerate(lines, start=1):
        decoded = decode_event(line.rstrip(b"\r"))
        if decoded is None:
            continue
        for event in events_of(conforming(decoded, schema), sources):
            alerts |= _alerts_of_event(number, event, plan, sources)
    return alerts


def _alerts_of_event(
    number: int, event: dict[str, Any], plan: Plan, sources: list[Source]
) -> set[tuple[int, str]]:
    source = next((s for s in sources if recognises(s, event)), None)
    if source is None:
        return set()
    event_type = first_value(event, source.event_type)
    category = source.categories.get(event_type) if event_type is not None else None
    product_text = first_value(event, source.product_field)
    product = source.products.get(product_text) if product_text is not None else None
    product = product or source.product

    def get(field: str) -> str | None:
        return field_value(event, source, field)

    return {
        (number, rule.name)
        for rule in plan.rules
        if rule.applies_to(category, product, source.service)
        and evaluate(rule.condition, get, plan.patterns)
    }
