"""Compile the plan's string patterns into Hyperscan databases (one per field, shared by
every rule) and scan segment buffers.

Layout of the buffers these databases scan (built by `retrohunt.match.columns`, one buffer
per field): every non-null value becomes one *segment*::

    0xFF <value as UTF-8> 0xFE

0xFE and 0xFF never occur in UTF-8, and every value was decoded to valid UTF-8 before it got
here, so the separators cannot be forged by data. A match is mapped to its segment by its
end offset, so a pattern needs only the anchors its Sigma value has: 0xFF for a value
without a leading `*`, 0xFE for one without a trailing `*`. `*foo*` is the bare literal
`foo`, which Hyperscan finds with its literal matchers alone. Nothing in a pattern's body
can match 0xFE or 0xFF, hence:

* a match never spans two values (exact anchoring for startswith/endswith/equals without
  start-of-match tracking);
* an anchored pattern ends at the same offset however often it matches inside one value,
  and Hyperscan reports an end offset once per pattern, so such a value costs one callback
  per matching pattern (the binding takes the GIL back for every callback). A `contains`
  literal is reported once per occurrence: the price of scanning it as a plain literal.

`tests/test_exactness.py` pins this against the pure-Python reference evaluator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import hyperscan
import numpy as np

from retrohunt.compiler.plan import StringPattern, ValuePart, Wildcard
from retrohunt.errors import PatternError
from retrohunt.hyperscan_cache import PatternDatabase, compile_database

SEGMENT_START = 0xFF
VALUE_END = 0xFE

# One UTF-8 encoded character (Sigma's `?`). Bytes 0xF8-0xFF never start a character, so the
# class cannot swallow a separator.
_ONE_CHAR = (
    rb"(?:[\x00-\x7f]|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})"
)
_ANY_RUN = rb"[^\xfe\xff]*"
_SHORT = 3  # bytes: an open-ended literal shorter than this is closed at the value's end
_NOT_PLAIN = re.compile(rb"[^A-Za-z0-9]")  # bytes written as \xHH in an expression


def _hex_escape(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match[0][0]


def pattern_expression(parts: Sequence[ValuePart]) -> bytes:
    """The Hyperscan expression for one Sigma string value (see module doc)."""
    body = list(parts)
    opened = bool(body) and body[0] is Wildcard.ANY
    closed = bool(body) and body[-1] is Wildcard.ANY
    while body and body[0] is Wildcard.ANY:
        body.pop(0)
    while body and body[-1] is Wildcard.ANY:
        body.pop()
    if not body:  # the empty value, or `*`: any value at all (one callback per value)
        return rb"\xff" if opened else rb"\xff\xfe"
    out = bytearray() if opened else bytearray(rb"\xff")
    for part in body:
        if part is Wildcard.ANY:
            out += _ANY_RUN
        elif part is Wildcard.ONE:
            out += _ONE_CHAR
        else:
            assert isinstance(part, str)
            out += _NOT_PLAIN.sub(_hex_escape, part.encode("utf-8"))
    if not closed:
        out += rb"\xfe"
    elif _repeats(body, opened):
        out += _ANY_RUN + rb"\xfe"  # reported once per value, not once per occurrence
    return bytes(out)


def _repeats(body: Sequence[ValuePart], opened: bool) -> bool:
    """Would an open-ended pattern be reported many times in one value? A wildcard inside
    lets every later occurrence of what follows it end another match, and an unanchored
    short literal (a `\\`, a digit) recurs in most paths and command lines."""
    literal = [p for p in body if isinstance(p, str)]
    if len(literal) != len(body):
        return True
    return opened and len("".join(literal).encode("utf-8")) < _SHORT


@dataclass(slots=True)
class CompiledPatterns:
    """The compiled databases, one per field."""

    databases: dict[str, PatternDatabase]  # empty when the plan has no string pattern
    pattern_count: int
    size_bytes: int

    def scan(self, field: str, buffer: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Scan a segment buffer of `field`'s values; return (pattern ids, match end
        offsets) as int64 arrays."""
        database = self.databases.get(field)
        if database is None or not buffer:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        ids: list[int] = []
        ends: list[int] = []
        add_id, add_end = ids.append, ends.append

        def on_match(pattern_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add_id(pattern_id)
            add_end(end)

        database.scan(buffer, match_event_handler=on_match)
        return np.asarray(ids, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def compile_patterns(patterns: Sequence[StringPattern]) -> CompiledPatterns:
    """Compile the patterns into block-mode databases, one per field: every rule's patterns
    for a field share one database, so each value is scanned once for all of them.

    Why not one database for every field: Hyperscan's cost per byte grows with the patterns
    a database holds, and most of a field's bytes can only ever match that field's patterns.
    With SigmaHQ's Windows rules (26,000 patterns, 180 fields) the scan of the same values
    took 2.5 times as long in one database, and the keyword text (whole lines, searched by
    130 patterns) 37 times as long.

    Raises:
        PatternError: Hyperscan refused a pattern (the message names field and value).
    """
    expressions, flags = pattern_expressions(patterns)
    by_field: dict[str, list[int]] = {}
    for index, pattern in enumerate(patterns):
        by_field.setdefault(pattern.field, []).append(index)
    databases: dict[str, PatternDatabase] = {}
    size = 0
    for name, indices in sorted(by_field.items()):
        chosen = [patterns[i] for i in indices]
        exprs, fl = [expressions[i] for i in indices], [flags[i] for i in indices]
        try:
            database = compile_database(exprs, [p.id for p in chosen], fl)
        except hyperscan.error as exc:
            raise PatternError(_culprit(chosen, exprs, fl, exc)) from exc
        databases[name] = database
        size += database.size
    return CompiledPatterns(databases, len(patterns), size)


def refused_patterns(patterns: Sequence[StringPattern]) -> dict[int, str]:
    """The patterns Hyperscan cannot compile (by id), each with Hyperscan's reason; empty
    when the set compiles. The set is compiled once (and cached for the engine); patterns
    are compiled one by one only when it fails."""
    try:
        compile_patterns(patterns)
        return {}
    except PatternError:
        pass
    expressions, flags = pattern_expressions(patterns)
    refused: dict[int, str] = {}
    for pattern, expression, flag in zip(patterns, expressions, flags, strict=True):
        try:
            hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(
                expressions=[expression], ids=[0], elements=1, flags=[flag]
            )
        except hyperscan.error as exc:
            refused[pattern.id] = str(exc)
    return refused


def pattern_expressions(patterns: Sequence[StringPattern]) -> tuple[list[bytes], list[int]]:
    """Expressions and flags, as the matcher's databases are compiled (so that patterns
    compiled one by one behave as they do in the set)."""
    expressions = [pattern_expression(p.parts) for p in patterns]
    # CASELESS: Sigma matches case-insensitively by default; Hyperscan folds ASCII letters
    # only, which is the documented semantics (the reference evaluator folds the same way).
    flags = [0 if p.cased else hyperscan.HS_FLAG_CASELESS for p in patterns]
    return expressions, flags


def _culprit(
    patterns: Sequence[StringPattern],
    expressions: list[bytes],
    flags: list[int],
    exc: Exception,
) -> str:
    """Find which pattern Hyperscan refused (error path only: compiles them one by one)."""
    for pattern, expression, flag in zip(patterns, expressions, flags, strict=True):
        try:
            hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(
                expressions=[expression], ids=[0], elements=1, flags=[flag]
            )
        except hyperscan.error as single:
            return f"Hyperscan refused {pattern.field}='{pattern.display}': {single}"
    return f"Hyperscan refused the pattern set: {exc}"
