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
  the ODD_NUMBER atom);
* negations, null and existence tests demand nothing; a value a source computes (a mapped
  value, a field filled from another event by the process join) demands nothing on lines
  that may receive it.

A rule left with no condition falls back to its event types (the source's literal event
names of the rule's category); with none of those either, every line is a candidate.
Lines that do not look like one JSON object, or hold invalid UTF-8, are candidates too, so
bad lines are quarantined and counted whether the prefilter is on or off.
"""

from __future__ import annotations

import codecs
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import hyperscan
import numpy as np

from retrohunt.archive import Chunk
from retrohunt.compiler.plan import (
    And,
    CidrMatch,
    CompiledRule,
    Const,
    Exists,
    IsNull,
    Node,
    Not,
    NumberEquals,
    Or,
    Plan,
    StringMatch,
    Wildcard,
)
from retrohunt.errors import PatternError
from retrohunt.parse import LineBatch
from retrohunt.sources.base import Source

MIN_FRAGMENT = 3
"""Literal fragments shorter than this (in bytes) demand nothing: too common to help."""

# Characters a fragment is split at (see module docstring): what Polars' rendering of a
# container adds or moves, control characters (only ever escaped in JSON) and U+FFFD
# (what invalid UTF-8 becomes; such lines are candidates anyway).
_SPLIT = frozenset(' ,:[]{}"\ufffd') | frozenset(chr(c) for c in range(0x20))
_NUMBERISH = frozenset("0123456789.-")
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# A \uXXXX escape: preceded by an even number of backslashes (an odd run escapes itself).
_ESCAPE = rb"(?:^|[^\\\n])(?:\\\\)*\\u[0-9a-fA-F]{4}"
# A JSON number whose rendering may hold digits its text lacks.
_ODD_NUMBER = (
    rb"[:,\[][ \t\r]*-?(?:[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+"
    rb"|[0-9]{8,}\.[0-9]+|[0-9]+\.[0-9]{8,})[,}\] \t\r]"
)
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
    kept: list[Condition] = []
    for part in parts:
        if part == NEVER:
            return NEVER
        for item in part.parts if isinstance(part, AllOf) else (part,):
            if item != ALWAYS and item not in kept:
                kept.append(item)
    if not kept:
        return ALWAYS
    return kept[0] if len(kept) == 1 else AllOf(tuple(kept))


def any_of(parts: Iterable[Condition]) -> Condition:
    """Disjunction, simplified (nested disjunctions flattened)."""
    kept: list[Condition] = []
    for part in parts:
        if part == ALWAYS:
            return ALWAYS
        for item in part.parts if isinstance(part, AnyOf) else (part,):
            if item != NEVER and item not in kept:
                kept.append(item)
    if not kept:
        return NEVER
    return kept[0] if len(kept) == 1 else AnyOf(tuple(kept))


def holds(condition: Condition, hits: set[int] | frozenset[int]) -> bool:
    """Does a line whose atoms are `hits` satisfy `condition`?"""
    if isinstance(condition, Has):
        return condition.atom in hits
    if isinstance(condition, Truth):
        return condition.value
    if isinstance(condition, AllOf):
        return all(holds(part, hits) for part in condition.parts)
    return any(holds(part, hits) for part in condition.parts)


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


def literal_atom(text: str, *, cased: bool) -> Atom:
    """A value fragment in every spelling a JSON string may give it, `\\uXXXX` aside."""
    out = bytearray()
    for char in text:
        if char == "\\":
            out += rb"\\\\"  # the raw text holds two backslashes
        elif char == "/":
            out += rb"\\?/"
        else:
            for byte in char.encode("utf-8"):
                out += bytes((byte,)) if byte in _PLAIN else b"\\x%02x" % byte
    return Atom(bytes(out), not cased, text)


def number_atom(number: int) -> Atom:
    """A non-negative integer as a whole JSON number or string (leading zeros allowed, as
    the matcher reads "03333" as 3333; `3333.0` renders as 3333, hence no end on '.')."""
    return Atom(b"[^0-9\\n]0*%d[^0-9\\n]" % number, False, str(number))


def octet_atom(first_octet: int) -> Atom:
    """An IPv4 address starting with this octet (leading zeros allowed)."""
    return Atom(b"[^0-9\\n]0*%d\\." % first_octet, False, f"{first_octet}.*")


def event_type_atom(name: str) -> Atom:
    """A source's event type as a whole JSON string value (exact case, like the mapping)."""
    body = literal_atom(name, cased=True).expression
    return Atom(b'"' + body + b'"', False, f'"{name}"')


ESCAPE = Atom(_ESCAPE, False, "a \\uXXXX escape")
ODD_NUMBER = Atom(_ODD_NUMBER, False, "a number with an exponent or 16+ digits")
BAD_START = Atom(_BAD_START, False, "a line not starting with '{'")
BAD_END = Atom(_BAD_END, False, "a line not ending with '}'")
EMPTY_LINE = Atom(_EMPTY_LINE, False, "an empty line")


def fragments(parts: Sequence[str | Wildcard]) -> list[str]:
    """The literal runs of a value (split at wildcards and at `_SPLIT` characters)."""
    found: list[str] = []
    current: list[str] = []
    for part in parts:
        if isinstance(part, Wildcard):
            found.append("".join(current))
            current = []
            continue
        for char in part:
            if char in _SPLIT:
                found.append("".join(current))
                current = []
            else:
                current.append(char)
    found.append("".join(current))
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
        self.odd = atoms.has(ODD_NUMBER)

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
            return self._field(pattern.field, self._string(pattern.parts, pattern.cased))
        if isinstance(node, NumberEquals):
            return self._field(node.field, self._number(node.number))
        if isinstance(node, CidrMatch):
            return self._field(node.field, self._cidr(node.network))
        raise TypeError(f"unknown condition node {node!r}")

    def _field(self, name: str, demand: Condition) -> Condition:
        if name in self.computed:
            return ALWAYS
        if name in self.joined and self.rule_joined:
            # Interned only when used: these atoms match a large share of all lines.
            join_events = any_of(self.atoms.has(event_type_atom(t)) for t in self.join_event_types)
            return any_of((demand, join_events))
        return demand

    def _string(self, parts: Sequence[str | Wildcard], cased: bool) -> Condition:
        demands: list[Condition] = []
        for fragment in fragments(parts):
            has = self.atoms.has(literal_atom(fragment, cased=cased))
            demands.append(any_of((has, self.odd)) if set(fragment) <= _NUMBERISH else has)
        return all_of(demands)

    def _number(self, number: int | float) -> Condition:
        if isinstance(number, int) and number >= 0:
            return any_of((self.atoms.has(number_atom(number)), self.odd))
        return ALWAYS

    def _cidr(self, network: str) -> Condition:
        net = ipaddress.ip_network(network, strict=False)
        if isinstance(net, ipaddress.IPv4Network) and net.prefixlen >= 8:
            return self.atoms.has(octet_atom(int(net.network_address) >> 24))
        return ALWAYS

    def event_types(self, rule: CompiledRule) -> Condition:
        """The rule's fallback: one of its category's event types appears in the line."""
        if rule.category is None:
            return ALWAYS
        demands: list[Condition] = []
        for source in self.sources:
            names = [t for t, c in source.categories.items() if c == rule.category]
            for name in names:
                if len(name) < MIN_FRAGMENT or set(name) & _SPLIT:
                    return ALWAYS  # e.g. Sysmon's EventID 1: no useful text
                demands.append(self.atoms.has(event_type_atom(name)))
        return any_of(demands)


# --- the compiled prefilter -----------------------------------------------------------------


@dataclass(slots=True)
class ChunkCandidates:
    """One chunk's lines as the prefilter sorted them."""

    candidates: LineBatch  # lines that could alert (line numbers -1: counted on demand)
    context: LineBatch  # lines holding a process-context marker (for the process join)
    empty_lines: int  # lines with no byte at all (never candidates)


@dataclass(slots=True)
class Prefilter:
    """The compiled prefilter of a plan."""

    rules: tuple[RuleFilter, ...]
    atoms: tuple[Atom, ...]
    database: hyperscan.Database
    every_line: bool  # some rule demands nothing: every line is a candidate
    sufficient: frozenset[int]  # atoms that alone make a line a candidate
    conditions: tuple[Condition, ...]  # the other rules' conditions, checked per line
    context_atoms: frozenset[int]  # process-start markers (empty: no join wanted)
    _always: frozenset[int] = frozenset()  # escapes and odd line shapes: always candidates
    _bad_end: int = 0
    _empty: int = 0

    @property
    def pattern_count(self) -> int:
        """Hyperscan patterns in the database."""
        return len(self.atoms)

    def scan(self, chunk: Chunk) -> ChunkCandidates:
        """Find the chunk's candidate lines (and process-context lines)."""
        data = chunk.data
        ids: list[int] = []
        ends: list[int] = []
        add_id, add_end = ids.append, ends.append

        def on_match(atom: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add_id(atom)
            add_end(end)

        if data:
            self.database.scan(data, match_event_handler=on_match)
        positions = np.asarray(ends, dtype=np.int64) - 1
        atoms = np.asarray(ids, dtype=np.int64)
        # A "line ends badly" match ends after the newline: its line is the one before.
        positions[atoms == self._bad_end] -= 1
        empty = int(np.count_nonzero(atoms == self._empty))
        if data[:1] == b"\n":
            empty += 1
        keep = atoms != self._empty
        return self._sort(chunk, positions[keep], atoms[keep], empty)

    def _sort(
        self, chunk: Chunk, positions: np.ndarray, atoms: np.ndarray, empty: int
    ) -> ChunkCandidates:
        data = chunk.data
        order = np.argsort(positions, kind="stable")
        lines: dict[int, tuple[int, set[int]]] = {}  # start -> (end, atoms)
        line_start, line_end = -1, -1
        hits: set[int] = set()
        for position, atom in zip(positions[order].tolist(), atoms[order].tolist(), strict=True):
            if position >= line_end or position < line_start:
                line_start = data.rfind(b"\n", 0, position + 1) + 1
                line_end = data.find(b"\n", position)
                if line_end < 0:
                    line_end = len(data)
                hits = set()
                lines[line_start] = (line_end, hits)
            hits.add(atom)
        for start, end in _odd_lines(data):
            lines.setdefault(start, (end, set()))[1].add(-1)
        candidates: list[int] = []
        context: list[int] = []
        for start, (_end, found) in lines.items():
            if -1 in found or found & self._always:
                candidates.append(start)
                context.append(start)
                continue
            if self.context_atoms and found & self.context_atoms:
                context.append(start)
            if (
                self.every_line
                or found & self.sufficient
                or any(holds(c, found) for c in self.conditions)
            ):
                candidates.append(start)
        if self.every_line:
            candidates = _all_line_starts(data)
        return ChunkCandidates(
            _batch(chunk, sorted(candidates), lines),
            _batch(chunk, sorted(context), lines),
            empty,
        )


def _odd_lines(data: bytes) -> list[tuple[int, int]]:
    """Lines the Hyperscan shape atoms cannot see (the chunk's first and last line when they
    do not look like a JSON object) and lines holding invalid UTF-8."""
    found: list[tuple[int, int]] = []
    if not data:
        return found
    first_end = data.find(b"\n")
    first_end = len(data) if first_end < 0 else first_end
    if first_end > 0 and data[:1] != b"{":
        found.append((0, first_end))
    body = data[:-1] if data.endswith(b"\n") else data
    last_start = body.rfind(b"\n") + 1
    if body[last_start:] and not body.rstrip(b"\r").endswith(b"}"):
        found.append((last_start, len(body)))
    if not data.isascii():
        for position in _invalid_utf8_positions(data):
            start = data.rfind(b"\n", 0, position) + 1
            end = data.find(b"\n", position)
            found.append((start, len(data) if end < 0 else end))
    return found


def _invalid_utf8_positions(data: bytes) -> list[int]:
    positions: list[int] = []

    def record(error: UnicodeError) -> tuple[str, int]:
        assert isinstance(error, UnicodeDecodeError)
        positions.append(error.start)
        return ("\ufffd", error.end)

    codecs.register_error("retrohunt-record", record)
    data.decode("utf-8", errors="retrohunt-record")
    return positions


def _all_line_starts(data: bytes) -> list[int]:
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(buf == 0x0A) + 1))
    return [s for s in starts.tolist() if s < len(data) and data[s : s + 1] not in (b"\n", b"")]


def _batch(chunk: Chunk, starts: list[int], known: dict[int, tuple[int, set[int]]]) -> LineBatch:
    data = chunk.data
    lines: list[bytes] = []
    for start in starts:
        entry = known.get(start)
        if entry is not None:
            end = entry[0]
        else:
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
        lines.append(data[start:end])
    return LineBatch.of(lines, [-1] * len(starts), [chunk.offset + s for s in starts])


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
        _always=frozenset(atoms.index[a] for a in (ESCAPE, BAD_START, BAD_END)),
        _bad_end=atoms.index[BAD_END],
        _empty=atoms.index[EMPTY_LINE],
    )


def _compile(atoms: Sequence[Atom]) -> hyperscan.Database:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    flags = [hyperscan.HS_FLAG_CASELESS if a.caseless else 0 for a in atoms]
    try:
        database.compile(
            expressions=[a.expression for a in atoms],
            ids=list(range(len(atoms))),
            elements=len(atoms),
            flags=flags,
        )
    except hyperscan.error as exc:
        raise PatternError(f"Hyperscan refused the prefilter: {exc}") from exc
    return database
