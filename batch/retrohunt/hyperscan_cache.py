"""Compile Hyperscan databases once: serialized databases cached on disk by content.

Compiling is the one cost that grows with the rule set rather than the data (tens of
milliseconds for the bundled pack, seconds for tens of thousands of patterns), and every
scan, hunt worker and benchmark repetition compiles the same two databases (matcher and
prefilter) again. The cache key is a SHA-256 over the Hyperscan version, the mode and every
(expression, id, flags) triple, so any change to a rule, to how rules are translated or to
the library gives a new key; stale entries are never read, only left behind.

Where: `$RETROHUNT_CACHE_DIR`, else `$XDG_CACHE_HOME/retrohunt`, else
`~/.cache/retrohunt`. `RETROHUNT_CACHE_DIR=off` turns the cache off. A cache that cannot be
read or written (read-only home, a file from another CPU generation that Hyperscan refuses)
is skipped silently: the database is compiled as if there were no cache.

A pattern set with many pure literals is compiled as two databases, its literals through
Hyperscan's literal API (see `LITERAL_SPLIT`), each cached on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import hyperscan

from retrohunt.errors import OutputError
from retrohunt.sink import write_atomic

CACHE_ENV = "RETROHUNT_CACHE_DIR"
_FORMAT = b"retrohunt-hs-cache-1"

MatchHandler = Callable[[int, int, int, int, object], bool | None]
"""Hyperscan's match callback: (pattern id, start, end, flags, context)."""

LITERAL_SPLIT = 30_000
"""Literal patterns in one set at or above which they are compiled apart, with Hyperscan's
literal API. Compiled as expressions, a set's compile time grows much faster than its size
past some 25,000 patterns (mining-pool domains: 0.55 s for 25,000, 1.4 s for 30,000, 4.8 s
for 50,000); the literal API compiles the 50,000 in 1.5 s and scans as fast (below the
threshold it is no faster). The price is a second database (the set's other expressions)
scanned over the same bytes."""

_LITERAL_FLAGS = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
"""Flags the literal API takes that our compiles use; other flags keep an expression one."""
# An expression that is a literal as retrohunt writes values into expressions: letters,
# digits and `/` as themselves, any other byte as \xHH.
_LITERAL = re.compile(rb"(?:[A-Za-z0-9/]|\\x[0-9a-fA-F]{2})+")
_HEX_BYTE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def literal_bytes(expression: bytes) -> bytes | None:
    """The bytes an expression matches when it is such a literal, else None."""
    if not _LITERAL.fullmatch(expression):
        return None
    return _HEX_BYTE.sub(lambda byte: bytes((int(byte[1], 16),)), expression)


class PatternDatabase:
    """A pattern set compiled into one Hyperscan database, or two (its many literals and
    the rest, see `LITERAL_SPLIT`), scanned as one: a match of any is reported with its id."""

    def __init__(self, parts: Sequence[hyperscan.Database]) -> None:
        self.parts = tuple(parts)

    def scan(self, data: bytes, match_event_handler: MatchHandler) -> None:
        """Report every match in `data`, database after database (not in offset order)."""
        for part in self.parts:
            part.scan(data, match_event_handler=match_event_handler)

    @property
    def size(self) -> int:
        """Bytes of the serialized databases."""
        return sum(len(hyperscan.dumpb(part)) for part in self.parts)


def cache_dir() -> Path | None:
    """Where compiled databases are kept (None: caching is off)."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "retrohunt"


def cache_key(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int], *, literal: bool = False
) -> str:
    """The content key of a database: library version, mode and every pattern."""
    digest = hashlib.sha256(_FORMAT)
    digest.update(str(getattr(hyperscan, "__version__", "?")).encode())
    digest.update(b"\0literal\0" if literal else b"\0block\0")
    for expression, pattern_id, flag in zip(expressions, ids, flags, strict=True):
        digest.update(b"%d\0%d\0%d\0" % (pattern_id, flag, len(expression)))
        digest.update(expression)
    return digest.hexdigest()


def compile_database(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]
) -> PatternDatabase:
    """The patterns as block-mode databases (see `PatternDatabase`), each from the cache
    when it holds one.

    Raises:
        hyperscan.error: Hyperscan refused a pattern (never cached).
    """
    literals: dict[int, bytes] = {}
    for index, (expression, flag) in enumerate(zip(expressions, flags, strict=True)):
        text = None if flag & ~_LITERAL_FLAGS else literal_bytes(expression)
        if text is not None:
            literals[index] = text
    if len(literals) < LITERAL_SPLIT:
        return PatternDatabase([_compiled(expressions, ids, flags, literal=False)])
    rest = [i for i in range(len(expressions)) if i not in literals]

    def part(indices: list[int], texts: list[bytes], *, literal: bool) -> hyperscan.Database:
        picked_ids, picked_flags = [ids[i] for i in indices], [flags[i] for i in indices]
        return _compiled(texts, picked_ids, picked_flags, literal=literal)

    parts = [part(list(literals), list(literals.values()), literal=True)]
    if rest:
        parts.append(part(rest, [expressions[i] for i in rest], literal=False))
    return PatternDatabase(parts)


def _compiled(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int], *, literal: bool
) -> hyperscan.Database:
    """One database: expressions, or (`literal`) literal byte strings as they are."""
    folder = cache_dir()
    key = cache_key(expressions, ids, flags, literal=literal)
    path = folder / f"{key}.hsdb" if folder else None
    if path is not None:
        cached = _load(path)
        if cached is not None:
            return cached
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=list(expressions),
        ids=list(ids),
        elements=len(expressions),
        flags=list(flags),
        literal=literal,
    )
    if path is not None:
        _store(path, database)
    return database


def _load(path: Path) -> hyperscan.Database | None:
    try:
        database = hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
        # A deserialized database comes without scratch space; scans fail without it.
        database.scratch = hyperscan.Scratch(database)
    except (OSError, hyperscan.error, TypeError, ValueError):
        return None
    return database


def _store(path: Path, database: hyperscan.Database) -> None:
    serialized = hyperscan.dumpb(database)

    def write(out: BinaryIO) -> None:
        out.write(serialized)

    with contextlib.suppress(OutputError):  # a cache that cannot be written is no cache
        write_atomic(path, write)
