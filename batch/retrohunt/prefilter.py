"""The raw-byte prefilter: per rule, a necessary condition on a line's JSON text; one
Hyperscan database over each decompressed chunk keeps only the lines that could alert.

Exactness rests on one property: for every event a rule alerts on, the line it came from
satisfies the rule's condition here. How a value the matcher sees can be spelled in the raw
line decides what a condition may demand:

* a JSON string is the value with `\\` written `\\\\`, `/` written `/` or `\\/`, and any
  character possibly written `\\uXXXX`. A line holding a `\\uXXXX` escape is therefore always
  a candidate (the ESCAPE atom); other literal text is searched in both spellings, ASCII
  letters folded unless the rule is `cased` (as the matcher folds);
* a JSON number, array or object reaches the matcher as Polars renders it: `3333.0` as
  `3333`, `1e2` as `100`, `[1,2]` as `[1, 2]`. Fragments are split at the characters a
  rendering adds or moves (space, `,` `:` `[` `]` `{` `}` `"`), and a fragment or number
  that could be read out of a number matches too when the line holds a number whose
  rendering has digits its text lacks (an exponent, or more digits than a double keeps:
  the key-anchored `odd_number_atom`);
* negations, null and existence tests demand nothing; a value a source computes (a mapped
  value, a field filled from another event by the process join) demands nothing on lines
  that may receive it.

A rule left with no condition falls back to its event types (those its category admits on
each source): a literal event name, or an event id under the key it is read from in any
spelling that reads as it (`event_id_atoms`), with the channel of a Windows event type and
the word a source is recognised by (Sysmon's); with none of those either, every line is a
candidate.
Lines that do not look like one JSON object, or hold invalid UTF-8, are candidates too, so
bad lines are quarantined and counted whether the prefilter is on or off.
"""

from __future__ import annotations

import codecs
import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import hyperscan
import numpy as np
import pyarrow as pa

from retrohunt.archive import Chunk
from retrohunt.compiler.plan import (
    And,
    CidrMatch,
    CompiledRule,
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
    Wildcard,
)
from retrohunt.errors import PatternError
from retrohunt.hyperscan_cache import PatternDatabase, compile_database
from retrohunt.parse import LineBatch
from retrohunt.regex_literals import Every, Required, Text, required_literals
from retrohunt.sources.base import Source
from retrohunt.sources.paths import steps

MIN_FRAGMENT = 3
"""Literal fragments shorter than this (in bytes) demand nothing: too common to help."""

# Characters a fragment is split at (see module docstring): what Polars' rendering of a
# container adds or moves, control characters (only ever escaped in JSON) and U+FFFD
# (what invalid UTF-8 becomes; such lines are candidates anyway).
_SPLIT = frozenset(' ,:[]{}"\ufffd') | frozenset(chr(c) for c in range(0x20))
_SPLITTER = re.compile("[" + re.escape("".join(sorted(_SPLIT))) + "]")
_NUMBERISH = frozenset("0123456789.-")
_NOT_PLAIN = re.compile(rb"[^A-Za-z0-9]")  # bytes written as \xHH in an expression

# A \uXXXX escape: preceded by an even number of backslashes (an odd run escapes itself).
_ESCAPE = rb"(?:^|[^\\\n])(?:\\\\)*\\u[0-9a-fA-F]{4}"
# A JSON number's rendering may hold digits its text lacks. Polars renders an integer as
# written and a decimal as the shortest text that reads back as the same double: 3333.0 ->
# "3333" and 2.50 -> "2.5" keep to the digits of the text, but an exponent (3.333e3 ->
# "3333") or more digits than a double keeps (3332.9999999999999999 -> "3333") make new ones.
# `odd_number_atom` finds any number with a point or an exponent as the value of a given key.
# Anchored on the key, it costs next to nothing; a key-less "unquoted number with an
# exponent" pattern starts at every digit of every hash and costs Hyperscan as much as the
# rest of the database together.
# A value that is an array or object is rendered whole, numbers inside it too.
_NUMBER_VALUE = rb"[ \t\r]*:[ \t\r]*(?:[\[{]|-?[0-9]+[.eE])"
# A line that does not start with "{" / does not end with "}" (first and last line of a
# chunk are checked in Python).
_BAD_START = rb"\n[^{\n]"
_BAD_END = rb"[^}\n\r]\r?\n"
_EMPTY_LINE = rb"\n\n"  # a CR-only line is caught by _BAD_START and parsed as blank

# --- conditions over atoms ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Truth:
    """A constant condition."""

    value: bool


ALWAYS = Truth(True)
NEVER = Truth(False)


@dataclass(frozen=True, slots=True)
class Has:
    """The line holds atom `atom`."""

    atom: int


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


Condition = Truth | Has | AllOf | AnyOf


def all_of(parts: Iterable[Condition]) -> Condition:
    """Conjunction, simplified (nested conjunctions flattened)."""
    kept: dict[Condition, None] = {}  # ordered and deduplicated in one (a list is quadratic)
    for part in parts:
        if part == NEVER:
            return NEVER
        for item in part.parts if isinstance(part, AllOf) else (part,):
            if item != ALWAYS:
                kept[item] = None
    if not kept:
        return ALWAYS
    return next(iter(kept)) if len(kept) == 1 else AllOf(tuple(kept))


def any_of(parts: Iterable[Condition]) -> Condition:
    """Disjunction, simplified (nested disjunctions flattened)."""
    kept: dict[Condition, None] = {}
    for part in parts:
        if part == ALWAYS:
            return ALWAYS
        for item in part.parts if isinstance(part, AnyOf) else (part,):
            if item != NEVER:
                kept[item] = None
    if not kept:
        return NEVER
    return next(iter(kept)) if len(kept) == 1 else AnyOf(tuple(kept))


def atoms_of(condition: Condition) -> set[int]:
    """Every atom a condition mentions."""
    if isinstance(condition, Has):
        return {condition.atom}
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(atoms_of(part) for part in condition.parts))
    return set()


# --- atoms ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Atom:
    """One Hyperscan expression over raw line bytes."""

    expression: bytes
    caseless: bool
    display: str


@functools.lru_cache(maxsize=1 << 16)  # thousands of rules share fragments
def literal_atom(text: str, *, cased: bool) -> Atom:
    """A value fragment in every spelling a JSON string may give it, `\\uXXXX` aside.

    The optional backslash of a leading `/` or `\\`, or of a trailing `\\`, is left out:
    every spelling of the fragment holds the one without it, so the same lines match. A
    list of paths (`/xmrig`, `\\xmrig.exe`) then compiles as plain literals, which
    Hyperscan compiles far faster when there are tens of thousands of them.
    """
    raw = text.encode("utf-8")
    head = tail = b""
    if raw[:1] in (b"/", b"\\"):
        head, raw = b"\\x%02x" % raw[0], raw[1:]
    if raw[-1:] == b"\\":
        tail, raw = b"\\x5c", raw[:-1]
    return Atom(head + _NOT_PLAIN.sub(_spelling, raw) + tail, not cased, text)


def _spelling(match: re.Match[bytes]) -> bytes:
    byte = match[0]
    if byte == b"\\":
        # A JSON string holds it as two backslashes; a string inside an array or object
        # reaches the matcher as Polars renders the container, where the escape of a quote,
        # newline or CR (one backslash in the raw text) is a backslash too.
        return rb"\\\\?"
    if byte == b"/":
        return rb"\\?/"
    return b"\\x%02x" % byte[0]


def number_atom(number: int) -> Atom:
    """A non-negative integer as a whole JSON number or string (leading zeros allowed, as
    the matcher reads "03333" as 3333; `3333.0` renders as 3333, hence no end on '.')."""
    return Atom(b"[^0-9\\n]0*%d[^0-9\\n]" % number, False, str(number))


def octet_atom(first_octet: int) -> Atom:
    """An IPv4 address starting with this octet (leading zeros allowed)."""
    return Atom(b"[^0-9\\n]0*%d\\." % first_octet, False, f"{first_octet}.*")


def odd_number_atom(key: str) -> Atom:
    """A JSON number with a point or an exponent, an array or an object as the value of
    `key`: its rendering may hold digits its text lacks."""
    body = literal_atom(key, cased=True).expression
    return Atom(b'"' + body + b'"' + _NUMBER_VALUE, False, f'"{key}": a non-integer number')


def event_type_atom(name: str) -> Atom:
    """A source's event type as a whole JSON string value (exact case, like the mapping)."""
    body = literal_atom(name, cased=True).expression
    return Atom(b'"' + body + b'"', False, f'"{name}"')


# ASCII letters with a case variant outside ASCII (Unicode simple case folding): LONG S and
# the KELVIN SIGN, in UTF-8. A caseless regular expression matches them; Hyperscan's
# caseless flag does not.
_FOLDED = {"s": "\u017f", "k": "\u212a"}


def word_atom(word: str) -> Atom:
    """An ASCII word in any case, as a Unicode-aware `(?i)` regular expression finds it
    (`ſ` is an `s`, the Kelvin sign a `k`), in a JSON string."""
    parts = []
    for char in word:
        other = _FOLDED.get(char.lower())
        body = literal_atom(char, cased=False).expression
        if other:
            body = b"(?:%s|%s)" % (body, b"".join(b"\\x%02x" % b for b in other.encode()))
        parts.append(body)
    return Atom(b"".join(parts), True, f"{word} (any case)")


_WS = rb"[ \t\r]*"


def event_id_atoms(key: str, number: str) -> tuple[Atom, ...]:
    """`key` holding the event id `number` (ASCII digits) in any spelling that reads as it:
    the number or the string (`"EventID":1`, `"EventID": "1"`), a number written with a
    point or an exponent (`1.0`, `10e-1`: Polars renders it "1"), or an object whose
    `#text` member is the number (evtx_dump `{"#attributes": {…}, "#text": 1}`, xmltodict
    `{"@Qualifiers": "", "#text": "1"}`, also inside a string, quotes escaped), as
    `Source.element_text` reads it. Atoms over-approximate: the `#text` may be another's."""
    name = b'"' + literal_atom(key, cased=True).expression + b'"' + _WS + b":" + _WS
    digits = number.encode("ascii")
    text = rb'#text\\?"' + _WS + b":" + _WS
    return (
        Atom(name + b'"?' + digits + b"[^0-9]", False, f'"{key}": {number}'),
        Atom(name + rb"-?[0-9]+[.eE]", False, f'"{key}": a non-integer number'),
        Atom(
            name + rb'"?\{[^\n]*' + text + rb'(?:(?:\\?")?' + digits + rb"[^0-9]|-?[0-9]+[.eE])",
            False,
            f'"{key}": {{… "#text": {number}}}',
        ),
    )


ESCAPE = Atom(_ESCAPE, False, "a \\uXXXX escape")
BAD_START = Atom(_BAD_START, False, "a line not starting with '{'")
BAD_END = Atom(_BAD_END, False, "a line not ending with '}'")
EMPTY_LINE = Atom(_EMPTY_LINE, False, "an empty line")


def fragments(parts: Sequence[str | Wildcard]) -> list[str]:
    """The literal runs of a value (split at wildcards and at `_SPLIT` characters)."""
    found: list[str] = []
    current: list[str] = []
    for part in parts:
        if isinstance(part, Wildcard):
            found.extend(_SPLITTER.split("".join(current)))
            current = []
        else:
            current.append(part)
    found.extend(_SPLITTER.split("".join(current)))
    return [f for f in found if len(f.encode("utf-8")) >= MIN_FRAGMENT]


# --- the derivation -------------------------------------------------------------------------


@dataclass(slots=True)
class _Atoms:
    """Interns atoms so rules sharing a fragment share one Hyperscan pattern."""

    atoms: list[Atom] = field(default_factory=list)
    index: dict[Atom, int] = field(default_factory=dict)

    def has(self, atom: Atom) -> Has:
        if atom not in self.index:
            self.index[atom] = len(self.atoms)
            self.atoms.append(atom)
        return Has(self.index[atom])


@dataclass(frozen=True, slots=True)
class RuleFilter:
    """What the prefilter demands of a line for one rule, and how it got there."""

    rule: str
    condition: Condition
    mode: str  # "prefiltered", "event types" or "every line"
    atoms: tuple[str, ...]  # display forms of the atoms the condition mentions


class _Deriver:
    def __init__(self, plan: Plan, sources: Sequence[Source], atoms: _Atoms) -> None:
        self.plan = plan
        self.atoms = atoms
        self.computed = {f for s in sources for f in s.value_maps}
        joins = [s for s in sources if s.process_join is not None]
        self.joined = {f for s in joins if s.process_join for f in s.process_join.fields}
        self.join_event_types = [
            event_type
            for s in joins
            if s.process_join
            for event_type, category in s.categories.items()
            if category in s.process_join.categories
        ]
        self.join_categories = {
            c for s in joins if s.process_join for c in s.process_join.categories
        }
        self.rule_joined = True
        self.sources = sources

    def rule(self, rule: CompiledRule) -> Condition:
        # Joined values reach only events of the join's categories.
        self.rule_joined = rule.category is None or rule.category in self.join_categories
        return self.node(rule.condition)

    def node(self, node: Node) -> Condition:
        if isinstance(node, And):
            return all_of(self.node(child) for child in node.children)
        if isinstance(node, Or):
            return any_of(self.node(child) for child in node.children)
        if isinstance(node, Not | IsNull | Exists):
            return ALWAYS  # a negation, or a test of presence, demands no text
        if isinstance(node, Const):
            return ALWAYS if node.value else NEVER
        if isinstance(node, StringMatch):
            pattern = self.plan.patterns[node.pattern]
            demand = self._string(pattern.field, pattern.parts, pattern.cased)
            return self._field(pattern.field, demand)
        if isinstance(node, NumberEquals):
            return self._field(node.field, self._number(node.field, node.number))
        if isinstance(node, CidrMatch):
            return self._field(node.field, self._cidr(node.network))
        if isinstance(node, RegexMatch):
            needed = required_literals(node.regex, node.flags)
            return self._field(node.field, self._regex(node.field, needed, "i" not in node.flags))
        if isinstance(node, NumberCompare | FieldEquals):
            # A range of numbers, or a comparison of two fields, demands no text.
            return ALWAYS
        raise TypeError(f"unknown condition node {node!r}")

    def _field(self, name: str, demand: Condition) -> Condition:
        if name in self.computed:
            return ALWAYS
        if name in self.joined and self.rule_joined:
            # Interned only when used: these atoms match a large share of all lines.
            join_events = any_of(self.atoms.has(event_type_atom(t)) for t in self.join_event_types)
            return any_of((demand, join_events))
        return demand

    def _string(self, field: str, parts: Sequence[str | Wildcard], cased: bool) -> Condition:
        demands: list[Condition] = []
        for fragment in fragments(parts):
            has = self.atoms.has(literal_atom(fragment, cased=cased))
            numberish = set(fragment) <= _NUMBERISH
            demands.append(any_of((has, self._odd(field))) if numberish else has)
        return all_of(demands)

    def _regex(self, field: str, needed: Required, cased: bool) -> Condition:
        """A regex's literal demands (`regex_literals`) as a condition over atoms."""
        if isinstance(needed, Text):
            return self._string(field, (needed.value,), cased)
        parts = (self._regex(field, part, cased) for part in needed.parts)
        return all_of(parts) if isinstance(needed, Every) else any_of(parts)

    def _number(self, field: str, number: int | float) -> Condition:
        if isinstance(number, int) and number >= 0:
            return any_of((self.atoms.has(number_atom(number)), self._odd(field)))
        return ALWAYS

    def _odd(self, field: str) -> Condition:
        """The field holds a number whose rendering may have digits its text lacks (under
        any key a source reads the field from: mapped, fallback or scoped natives; values
        of name/value pairs are strings only)."""
        keys: set[str] = set()
        for source in self.sources:
            natives = [*source.natives(field).names]
            natives += [n for scope in source.scopes for n in scope.fields.get(field, ())]
            for native in natives:
                keys.add(native)  # a flat key may hold dots itself
                keys.add(steps(native)[-1][0])
        return any_of(self.atoms.has(odd_number_atom(key)) for key in sorted(keys) if key)

    def _cidr(self, network: str) -> Condition:
        net = ipaddress.ip_network(network, strict=False)
        if isinstance(net, ipaddress.IPv4Network) and net.prefixlen >= 8:
            return self.atoms.has(octet_atom(int(net.network_address) >> 24))
        return ALWAYS

    def event_types(self, rule: CompiledRule) -> Condition:
        """The rule's fallback: one of the event types its category admits on some source
        (`Source.types_of`) appears in the line."""
        if rule.category is None:
            return ALWAYS
        demands: list[Condition] = []
        for source in self.sources:
            for name in source.types_of(rule.category):
                demand = self._event_type(source, name)
                if demand == ALWAYS:
                    return ALWAYS
                demands.append(demand)
        return any_of(demands)

    def _event_type(self, source: Source, name: str) -> Condition:
        """A line whose event (of `source`) has the event type `name`: its text as a whole
        string; an id of digits under one of the event type's keys (`event_id_atoms`); with
        `event_type_prefix`, the prefix (a channel) as a whole string as well; with a
        `recognise_pattern` that is one word of any case (Sysmon's), that word."""
        demands: list[Condition] = []
        recognised = re.fullmatch(r"\(\?i\)([A-Za-z0-9]{3,})", source.recognise_pattern or "")
        if source.recognise and recognised:
            # The source claims only lines whose recognising value holds this word.
            demands.append(self.atoms.has(word_atom(recognised[1])))
        if source.event_type_prefix:
            prefix, colon, name = name.rpartition(":")
            if not colon or not prefix:
                return ALWAYS
            demands.append(self.atoms.has(event_type_atom(prefix)))
        if name.isascii() and name.isdigit():
            keys = {k for n in source.event_type for k in (n, steps(n)[-1][0]) if k}
            atoms = [a for key in sorted(keys) for a in event_id_atoms(key, name)]
            demands.append(any_of(self.atoms.has(a) for a in atoms))
        elif len(name) >= MIN_FRAGMENT and not set(name) & _SPLIT:
            demands.append(self.atoms.has(event_type_atom(name)))
        else:
            return ALWAYS  # no useful text
        return all_of(demands)


# --- the compiled prefilter -----------------------------------------------------------------


@dataclass(slots=True)
class ChunkCandidates:
    """One chunk's lines as the prefilter sorted them."""

    candidates: LineBatch  # lines that could alert
    context: LineBatch  # lines holding a process-context marker (for the process join)
    empty_lines: int  # lines with no byte at all (never candidates)


@dataclass(slots=True)
class Prefilter:
    """The compiled prefilter of a plan."""

    rules: tuple[RuleFilter, ...]
    atoms: tuple[Atom, ...]
    database: PatternDatabase
    every_line: bool  # some rule demands nothing: every line is a candidate
    sufficient: frozenset[int]  # atoms that alone make a line a candidate
    conditions: tuple[Condition, ...]  # the other rules' conditions, checked per line
    context_atoms: frozenset[int]  # process-start markers (empty: no join wanted)
    # Only the markers and the odd-line atoms: what a scan whose prefilter is bypassed
    # still needs for the process join (None: no join wanted).
    context_database: PatternDatabase | None = None
    _always: frozenset[int] = frozenset()  # escapes and odd line shapes: always candidates
    _bad_end: int = 0
    _empty: int = 0
    _ids: dict[frozenset[int], np.ndarray] = field(default_factory=dict)
    _any_ids: dict[int, np.ndarray] = field(default_factory=dict)  # id(AnyOf) -> its Has atoms

    @property
    def pattern_count(self) -> int:
        """Hyperscan patterns in the database."""
        return len(self.atoms)

    def scan(self, chunk: Chunk, *, context_only: bool = False) -> ChunkCandidates:
        """Find the chunk's candidate lines (and process-context lines). `context_only`:
        only the context lines, with the small database of their markers (candidates are
        left empty: the caller parses every line).

        Hyperscan reports (atom, end) pairs; everything after is vectorised over the
        matches with the chunk's newline positions (found by the reader thread): the line
        of each match, then per rule condition the set of lines that satisfy it.
        """
        data = chunk.data
        ids: list[int] = []
        ends: list[int] = []
        add_id, add_end = ids.append, ends.append

        def on_match(atom: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add_id(atom)
            add_end(end)

        if data:
            # Hyperscan 5.4 can miss a match that ends exactly at the end of the buffer
            # (tests/unit/test_columns.py); a chunk that does not end with a newline (the
            # archive's last line) is scanned with one, which matches no rule's text.
            scanned = data if data.endswith(b"\n") else data + b"\n"
            database = self.context_database if context_only else self.database
            assert database is not None, "no process-context markers to scan for"
            database.scan(scanned, match_event_handler=on_match)
        positions = np.asarray(ends, dtype=np.int64) - 1
        atoms = np.asarray(ids, dtype=np.int64)
        # A "line ends badly" match ends after the newline: its line is the one before.
        positions[atoms == self._bad_end] -= 1
        is_empty = atoms == self._empty
        empty = int(np.count_nonzero(is_empty)) + (1 if data[:1] == b"\n" else 0)
        positions, atoms = positions[~is_empty], atoms[~is_empty]
        newlines = chunk.newlines()
        lines = np.searchsorted(newlines, positions)  # each match's line (index in chunk)
        odd = np.union1d(
            _odd_lines(data, newlines), lines[np.isin(atoms, self._array(self._always))]
        )
        if context_only:
            candidates = lines[:0]
        elif self.every_line:
            candidates = _nonblank_lines(data, newlines)
        else:
            found = [odd, lines[np.isin(atoms, self._array(self.sufficient))]]
            hits = _Hits(lines, atoms)
            found.extend(self._lines_where(c, hits) for c in self.conditions)
            candidates = np.unique(np.concatenate(found))
        context = odd
        if self.context_atoms:
            markers = lines[np.isin(atoms, self._array(self.context_atoms))]
            context = np.union1d(odd, markers)
        return ChunkCandidates(
            _batch(chunk, newlines, candidates), _batch(chunk, newlines, context), empty
        )

    def _array(self, atoms: frozenset[int]) -> np.ndarray:
        found = self._ids.get(atoms)
        if found is None:
            found = self._ids[atoms] = np.asarray(sorted(atoms), dtype=np.int64)
        return found

    def _lines_where(self, condition: Condition, hits: _Hits) -> np.ndarray:
        """The lines (indices, sorted, unique) whose atoms satisfy `condition`."""
        if isinstance(condition, Has):
            return hits.lines_of(condition.atom)
        if isinstance(condition, Truth):
            return hits.every_line if condition.value else hits.none
        if isinstance(condition, AnyOf):
            simple = self._any_ids.get(id(condition))
            if simple is None:  # once per condition: a blocklist rule has 50,000 parts
                has = sorted({p.atom for p in condition.parts if isinstance(p, Has)})
                simple = self._any_ids[id(condition)] = np.asarray(has, dtype=np.int64)
            found = [hits.lines_of_any(simple)] if len(simple) else []
            found.extend(
                self._lines_where(p, hits) for p in condition.parts if not isinstance(p, Has)
            )
            return np.unique(np.concatenate(found)) if found else hits.none
        result: np.ndarray | None = None
        for part in condition.parts:
            where = self._lines_where(part, hits)
            result = where if result is None else np.intersect1d(result, where)
            if not len(result):
                break
        return hits.none if result is None else result


class _Hits:
    """One chunk's matches indexed by atom: the sorted, unique lines each atom hit. Built
    once per chunk, so a rule's condition costs in proportion to its own atoms' hits, not
    to every match of the chunk (with thousands of rules, that is the difference)."""

    def __init__(self, lines: np.ndarray, atoms: np.ndarray) -> None:
        order = np.argsort(atoms, kind="stable")
        self._atoms = atoms[order]
        self._lines = lines[order]
        self.keys, starts = np.unique(self._atoms, return_index=True)
        ends = [*starts[1:].tolist(), len(order)] if len(starts) else []
        self._bounds = dict(
            zip(self.keys.tolist(), zip(starts.tolist(), ends, strict=True), strict=True)
        )
        self._unique: dict[int, np.ndarray] = {}
        self.every_line = np.unique(lines)
        self.none = lines[:0]

    def lines_of(self, atom: int) -> np.ndarray:
        found = self._unique.get(atom)
        if found is None:
            bounds = self._bounds.get(atom)
            found = np.unique(self._lines[bounds[0] : bounds[1]]) if bounds else self.none
            self._unique[atom] = found
        return found

    def lines_of_any(self, atoms: np.ndarray) -> np.ndarray:
        common = np.intersect1d(atoms, self.keys, assume_unique=True)
        if not len(common):
            return self.none
        return np.unique(np.concatenate([self.lines_of(int(a)) for a in common]))


def _line_bounds(
    data: bytes, newlines: np.ndarray, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, before the newline) of the lines with these indices."""
    padded = np.concatenate(([-1], newlines, [len(data)])).astype(np.int64)
    return padded[indices] + 1, padded[indices + 1]


def _line_count(data: bytes, newlines: np.ndarray) -> int:
    return len(newlines) + (1 if data and not data.endswith(b"\n") else 0)


def _nonblank_lines(data: bytes, newlines: np.ndarray) -> np.ndarray:
    indices = np.arange(_line_count(data, newlines), dtype=np.int64)
    starts, ends = _line_bounds(data, newlines, indices)
    return indices[ends > starts]


def _odd_lines(data: bytes, newlines: np.ndarray) -> np.ndarray:
    """Lines the Hyperscan shape atoms cannot see (the chunk's first and last line when they
    do not look like a JSON object) and lines holding invalid UTF-8 (indices)."""
    found: list[int] = []
    count = _line_count(data, newlines)
    if not count:
        return np.zeros(0, dtype=np.int64)
    first_end = int(newlines[0]) if len(newlines) else len(data)
    if first_end > 0 and data[:1] != b"{":
        found.append(0)
    last = count - 1
    (last_start,), (last_end,) = _line_bounds(data, newlines, np.asarray([last]))
    line = data[last_start:last_end]
    if line and not line.rstrip(b"\r").endswith(b"}"):
        found.append(last)
    if not _valid_utf8(data):
        positions = np.asarray(_invalid_utf8_positions(data), dtype=np.int64)
        found.extend(np.searchsorted(newlines, positions).tolist())
    return np.unique(np.asarray(found, dtype=np.int64))


def _valid_utf8(data: bytes) -> bool:
    """Is `data` valid UTF-8? Arrow validates a one-value string array made over the bytes
    without copying them: an order of magnitude faster than decoding into a str, and twice
    as fast as a Polars cast (which copies the chunk first)."""
    if data.isascii():
        return True
    offsets = pa.py_buffer(np.asarray([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _invalid_utf8_positions(data: bytes) -> list[int]:
    positions: list[int] = []

    def record(error: UnicodeError) -> tuple[str, int]:
        assert isinstance(error, UnicodeDecodeError)
        positions.append(error.start)
        return ("\ufffd", error.end)

    codecs.register_error("retrohunt-record", record)
    data.decode("utf-8", errors="retrohunt-record")
    return positions


def _batch(chunk: Chunk, newlines: np.ndarray, indices: np.ndarray) -> LineBatch:
    """The lines with these indices (sorted) as a batch with their numbers and offsets."""
    data = chunk.data
    starts, ends = _line_bounds(data, newlines, indices)
    lengths = ends - starts
    last = np.frombuffer(data, dtype=np.uint8)[np.maximum(ends - 1, 0)] if len(data) else lengths
    trailing_cr = (lengths > 0) & (last == 0x0D)
    return LineBatch.joined(
        _joined(data, newlines, indices),
        indices + chunk.first_line,
        starts + chunk.offset,
        lengths,
        trailing_cr,
    )


def _joined(data: bytes, newlines: np.ndarray, indices: np.ndarray) -> bytes:
    """The lines with these indices (sorted) joined by newlines. Arrow's `take` over the
    chunk's lines (each with its newline) copies them in one call without the GIL: a
    Python slice per line cost four times as much, on the scanning thread, where Falcon's
    process lines (one in seven, for the process join) made it a tenth of the scan."""
    if not len(indices):
        return b""
    every = np.minimum(np.concatenate(([0], newlines + 1, [len(data)])), len(data))
    if every[-2] == len(data):  # the data ends with a newline: no line after it
        every = every[:-1]
    spans = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(every) - 1, [None, pa.py_buffer(every), pa.py_buffer(data)]
    )
    taken = spans.take(pa.array(indices, type=pa.int64()))
    bounds = np.frombuffer(taken.buffers()[1], dtype=np.int64)[: len(taken) + 1]
    first, end = int(bounds[0]), int(bounds[-1])
    if data[int(every[indices[-1] + 1]) - 1] == 0x0A:  # spans are never empty
        end -= 1  # the last line's newline
    joined: bytes = taken.buffers()[2].slice(first, end - first).to_pybytes()
    return joined


def build_prefilter(
    plan: Plan, sources: Sequence[Source], *, context_markers: Sequence[str] = ()
) -> Prefilter:
    """Derive each rule's condition and compile every atom into one Hyperscan database.

    `context_markers`: event types whose lines the process join reads (they are sorted out
    as context lines, whether or not they are candidates).

    Raises:
        PatternError: Hyperscan refused the atoms (a bug: atoms are built, not written).
    """
    atoms = _Atoms()
    for special in (ESCAPE, BAD_START, BAD_END, EMPTY_LINE):
        atoms.has(special)
    deriver = _Deriver(plan, sources, atoms)
    rule_filters: list[RuleFilter] = []
    for rule in plan.rules:
        condition = deriver.rule(rule)
        mode = "prefiltered"
        if condition == ALWAYS:
            condition = deriver.event_types(rule)
            mode = "event types" if condition != ALWAYS else "every line"
        shown = tuple(atoms.atoms[a].display for a in sorted(atoms_of(condition)))
        rule_filters.append(RuleFilter(rule.name, condition, mode, shown))
    context = frozenset(atoms.has(event_type_atom(m)).atom for m in context_markers)
    always = [atoms.index[a] for a in (ESCAPE, BAD_START, BAD_END, EMPTY_LINE)]
    context_ids = [*always, *sorted(context)]
    sufficient = {f.condition.atom for f in rule_filters if isinstance(f.condition, Has)}
    for f in rule_filters:
        if isinstance(f.condition, AnyOf) and all(isinstance(p, Has) for p in f.condition.parts):
            sufficient |= atoms_of(f.condition)
    conditions = tuple(
        f.condition for f in rule_filters if not (atoms_of(f.condition) <= sufficient)
    )
    return Prefilter(
        rules=tuple(rule_filters),
        atoms=tuple(atoms.atoms),
        database=_compile(atoms.atoms),
        every_line=any(f.condition == ALWAYS for f in rule_filters),
        sufficient=frozenset(sufficient),
        conditions=tuple(c for c in conditions if c != NEVER),
        context_atoms=context,
        context_database=(
            _compile([atoms.atoms[i] for i in context_ids], context_ids) if context else None
        ),
        _always=frozenset(atoms.index[a] for a in (ESCAPE, BAD_START, BAD_END)),
        _bad_end=atoms.index[BAD_END],
        _empty=atoms.index[EMPTY_LINE],
    )


def _compile(atoms: Sequence[Atom], ids: Sequence[int] | None = None) -> PatternDatabase:
    flags = [hyperscan.HS_FLAG_CASELESS if a.caseless else 0 for a in atoms]
    ids = list(range(len(atoms))) if ids is None else list(ids)
    try:
        return compile_database([a.expression for a in atoms], ids, flags)
    except hyperscan.error as exc:
        raise PatternError(f"Hyperscan refused the prefilter: {exc}") from exc
