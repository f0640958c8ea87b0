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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import hyperscan

from retrohunt.errors import OutputError
from retrohunt.sink import write_atomic

CACHE_ENV = "RETROHUNT_CACHE_DIR"
_FORMAT = b"retrohunt-hs-cache-1"


def cache_dir() -> Path | None:
    """Where compiled databases are kept (None: caching is off)."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "retrohunt"


def cache_key(expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]) -> str:
    """The content key of a database: library version, mode and every pattern."""
    digest = hashlib.sha256(_FORMAT)
    digest.update(str(getattr(hyperscan, "__version__", "?")).encode())
    digest.update(b"\0block\0")
    for expression, pattern_id, flag in zip(expressions, ids, flags, strict=True):
        digest.update(b"%d\0%d\0%d\0" % (pattern_id, flag, len(expression)))
        digest.update(expression)
    return digest.hexdigest()


def compile_database(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]
) -> hyperscan.Database:
    """A block-mode database of these patterns, from the cache when it holds one.

    Raises:
        hyperscan.error: Hyperscan refused a pattern (never cached).
    """
    folder = cache_dir()
    path = folder / f"{cache_key(expressions, ids, flags)}.hsdb" if folder else None
    if path is not None:
        cached = _load(path)
        if cached is not None:
            return cached
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=list(expressions), ids=list(ids), elements=len(expressions), flags=list(flags)
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
