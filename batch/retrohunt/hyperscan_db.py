"""Compile the plan's string patterns into one Hyperscan database and scan tagged buffers.

Layout of the buffers this database scans (built by `retrohunt.match.columns`): every field
value of every row becomes one *segment*::

    0xFF <value as UTF-8> 0xFE <field tag: 4 lowercase hex digits>

0xFE and 0xFF never occur in UTF-8, and every value was decoded to valid UTF-8 before it got
here, so the separators cannot be forged by data. Each pattern is compiled with its field's
tag at its end and, when the Sigma value has no leading `*`, 0xFF at its start. Nothing in a
pattern's body can match 0xFE or 0xFF, hence:

* a match never spans two values and never lands in another field's values (exact anchoring
  for startswith/endswith/equals without start-of-match tracking);
* every match of one pattern inside one value ends at the same offset (the end of the tag),
  and Hyperscan reports an end offset once per pattern, so a value costs one callback per
  matching pattern however often the text repeats in it (the binding takes the GIL back for
  every callback, so this is what keeps the cost per hit row instead of per occurrence).

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
from retrohunt.hyperscan_cache import compile_database

SEGMENT_START = 0xFF
VALUE_END = 0xFE
TAG_WIDTH = 4

# One UTF-8 encoded character (Sigma's `?`). Bytes 0xF8-0xFF never start a character, so the
# class cannot swallow a separator.
_ONE_CHAR = (
    rb"(?:[\x00-\x7f]|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})"
)
_ANY_RUN = rb"[^\xfe\xff]*"
_NOT_PLAIN = re.compile(rb"[^A-Za-z0-9]")  # bytes written as \xHH in an expression


def _hex_escape(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match[0][0]


def field_tag(index: int) -> bytes:
    """The tag that closes every segment of the field numbered `index`."""
    return f"{index:0{TAG_WIDTH}x}".encode()


def pattern_expression(parts: Sequence[ValuePart], tag: bytes) -> bytes:
    """The Hyperscan expression for one Sigma string value in one field (see module doc)."""
    out = bytearray()
    if not parts or parts[0] is not Wildcard.ANY:
        out += rb"\xff"
    for part in parts:
        if part is Wildcard.ANY:
            out += _ANY_RUN
        elif part is Wildcard.ONE:
            out += _ONE_CHAR
        else:
            assert isinstance(part, str)
            out += _NOT_PLAIN.sub(_hex_escape, part.encode("utf-8"))
    out += rb"\xfe" + tag
    return bytes(out)


@dataclass(slots=True)
class CompiledPatterns:
    """A compiled database plus the field tags its patterns were compiled with."""

    database: hyperscan.Database | None  # None when the plan has no string pattern
    field_tags: dict[str, bytes]
    pattern_count: int
    size_bytes: int

    def scan(self, buffer: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Scan a tagged buffer; return (pattern ids, match end offsets) as int64 arrays."""
        if self.database is None or not buffer:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        ids: list[int] = []
        ends: list[int] = []
        add_id, add_end = ids.append, ends.append

        def on_match(pattern_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add_id(pattern_id)
            add_end(end)

        self.database.scan(buffer, match_event_handler=on_match)
        return np.asarray(ids, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def compile_patterns(patterns: Sequence[StringPattern]) -> CompiledPatterns:
    """Compile every pattern into one block-mode database.

    Raises:
        PatternError: Hyperscan refused a pattern (the message names field and value).
    """
    tags, expressions, flags = pattern_expressions(patterns)
    if not patterns:
        return CompiledPatterns(None, tags, 0, 0)
    try:
        database = compile_database(expressions, [p.id for p in patterns], flags)
    except hyperscan.error as exc:
        raise PatternError(_culprit(patterns, expressions, flags, exc)) from exc
    size = len(hyperscan.dumpb(database))
    return CompiledPatterns(database, tags, len(patterns), size)


def refused_patterns(patterns: Sequence[StringPattern]) -> dict[int, str]:
    """The patterns Hyperscan cannot compile (by id), each with Hyperscan's reason; empty
    when the set compiles. The set is compiled once (and cached for the engine); patterns
    are compiled one by one only when it fails."""
    try:
        compile_patterns(patterns)
        return {}
    except PatternError:
        pass
    _, expressions, flags = pattern_expressions(patterns)
    refused: dict[int, str] = {}
    for pattern, expression, flag in zip(patterns, expressions, flags, strict=True):
        try:
            hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(
                expressions=[expression], ids=[0], elements=1, flags=[flag]
            )
        except hyperscan.error as exc:
            refused[pattern.id] = str(exc)
    return refused


def pattern_expressions(
    patterns: Sequence[StringPattern],
) -> tuple[dict[str, bytes], list[bytes], list[int]]:
    """Field tags, expressions and flags, as the matcher's database is compiled (so that
    patterns compiled one by one behave as they do in the set)."""
    fields = sorted({p.field for p in patterns})
    tags = {name: field_tag(i) for i, name in enumerate(fields)}
    expressions = [pattern_expression(p.parts, tags[p.field]) for p in patterns]
    # CASELESS: Sigma matches case-insensitively by default; Hyperscan folds ASCII letters
    # only, which is the documented semantics (the reference evaluator folds the same way).
    flags = [0 if p.cased else hyperscan.HS_FLAG_CASELESS for p in patterns]
    return tags, expressions, flags


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
