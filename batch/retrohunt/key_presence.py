"""Which of a schema's keys, at any depth, can some line of a batch of JSON text have?

Polars' JSON readers cost time for every field of the schema on every row, whether the
line has the key or not, nested fields included. The schemas are wide: every rule field is
read at the top level (Falcon, CloudTrail), under Windows' `Event.EventData`, and as a
flattened `a.b` key, so with SigmaHQ's Windows rules over six hundred top-level keys and
two hundred under `Event.EventData` are read where a Windows event has one top-level key
(`Event`) and some twenty event fields. Keys that no line can have are left out of the
read and added back as nulls (`parse`).

The test is a necessary condition on the raw bytes, checked by one Hyperscan scan: a key
`K` written plainly is the text `"K"`. A key can also be written with escapes
(`"Ev\\u0065nt"`); when any key-like string holds a backslash, every key counts as possibly
present. A string value that is `K` or ends in a quote and `K` (`"a\\"K"`), or bytes
that only look like a key on a line that is not valid JSON, make a key count as present:
reading it is then wasted, never wrong. Not demanding the colon after a key makes the scan
three times as fast.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import hyperscan

# A quoted string holding an escape, then a colon: a key written with an escape.
_ESCAPED_KEY = rb'"(?:[^"\\]|\\.)*\\.(?:[^"\\]|\\.)*"[ \t\r\n]*:'

_local = threading.local()  # scratch space is per thread (the learning thread parses too)


def absent_keys(data: bytes, names: Sequence[str]) -> list[str]:
    """The `names` that no line of `data` can have as a key (see the module doc)."""
    if not names or not data:
        return list(names)
    keys = tuple(names)
    database = _database(keys)
    scratches: dict[tuple[str, ...], tuple[hyperscan.Database, hyperscan.Scratch]]
    scratches = _local.__dict__.setdefault("scratches", {})
    if len(scratches) > 32:  # as many as _database keeps: engines come and go in a process
        scratches.clear()
    held = scratches.get(keys)
    if held is None or held[0] is not database:
        held = scratches[keys] = (database, hyperscan.Scratch(database))
    escaped = len(keys)
    present: set[int] = set()

    def on_match(pattern: int, *_: object) -> bool:
        present.add(pattern)
        return pattern == escaped  # an escaped key: every key may be there, stop

    try:
        database.scan(data, match_event_handler=on_match, scratch=held[1])
    except hyperscan.ScanTerminated:
        return []
    return [name for index, name in enumerate(keys) if index not in present]


@functools.lru_cache(maxsize=32)
def _database(keys: tuple[str, ...]) -> hyperscan.Database:
    expressions = [b'"' + _literal(name) + b'"' for name in keys]
    expressions.append(_ESCAPED_KEY)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=[hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_SINGLEMATCH] * len(expressions),
    )
    return database


def _literal(name: str) -> bytes:
    """`name`'s UTF-8 bytes as a Hyperscan expression matching exactly them."""
    return b"".join(
        bytes([byte]) if chr(byte).isalnum() and byte < 0x80 else b"\\x%02x" % byte
        for byte in name.encode("utf-8")
    )
