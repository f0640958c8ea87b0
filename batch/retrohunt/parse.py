"""Parse a chunk's lines into a DataFrame with an explicit schema; split off bad lines."""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
from polars.datatypes import DataTypeClass

from retrohunt.archive import Chunk
from retrohunt.compiler.plan import KEYWORD_FIELD
from retrohunt.key_presence import absent_keys
from retrohunt.sources.paths import nested_roots

LINE_COLUMN = "_rh_line"
OFFSET_COLUMN = "_rh_offset"


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a JSON object: where it is, why, and its bytes (for quarantine)."""

    line_number: int
    byte_offset: int
    reason: str
    raw: bytes


@dataclass(slots=True)
class ParsedChunk:
    """The events of one chunk (one row per non-blank good line) and what could not be read."""

    frame: pl.DataFrame  # schema columns + _rh_line (1-based) + _rh_offset
    lines: int  # non-blank lines seen
    bad: list[BadLine] = field(default_factory=list)
    invalid_utf8: int = 0  # lines whose invalid UTF-8 bytes were replaced (still parsed)
    # Keys (of any depth) no line had, so left out of the read: columns and struct fields
    # of these names are null on every row (`normalise` skips the natives they make null).
    absent: frozenset[str] = frozenset()


def parse_chunk(chunk: Chunk, schema: Mapping[str, pl.DataType]) -> ParsedChunk:
    """Parse every non-blank line of `chunk`, reading only the columns in `schema` (as text).

    Fast path: the whole chunk goes to Polars' NDJSON reader in one call (to
    `str.json_decode`, which reads the same rows faster, when the schema has many nested
    fields). Only when that fails (a bad line, invalid UTF-8) or the row count does not
    line up are lines handled separately, and even then bad lines are isolated by
    bisection, so a chunk with one bad line costs a few extra reader calls, not one per line.
    """
    starts, ends = _line_bounds(chunk.data, chunk.newlines())
    numbers = np.arange(len(starts), dtype=np.int64) + chunk.first_line
    return _parse(chunk.data, schema, starts, ends, numbers, starts + chunk.offset)


def parse_lines(lines: LineBatch, schema: Mapping[str, pl.DataType]) -> ParsedChunk:
    """Parse a batch of selected lines (the prefilter's candidates) like `parse_chunk`,
    with each line's own number and offset as its provenance."""
    if len(lines) == 0:  # b"" would read as one empty line
        none = np.zeros(0, dtype=np.int64)
        return _parse(b"", schema, none, none, none, none)
    starts, ends = lines.bounds()
    if len(starts) != len(lines.line_numbers):
        raise ValueError(f"{len(starts)} lines in the batch, {len(lines.line_numbers)} numbers")
    return _parse(lines.data, schema, starts, ends, lines.line_numbers, lines.offsets)


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Some lines of a stream joined by newlines, each with its 1-based line number and
    the offset of its first byte in the decompressed stream."""

    data: bytes
    line_numbers: np.ndarray  # int64, one per line of `data`
    offsets: np.ndarray  # int64
    # Start and end (without CR/LF) of each line in `data`, when the maker knew them: the
    # prefilter does, and finding them again costs a pass over the bytes.
    known_bounds: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, lines: list[bytes], line_numbers: list[int], offsets: list[int]) -> LineBatch:
        """A batch from separate lines (without their newlines)."""
        return cls(
            b"\n".join(lines),
            np.asarray(line_numbers, dtype=np.int64),
            np.asarray(offsets, dtype=np.int64),
        )

    @classmethod
    def whole(cls, chunk: Chunk) -> LineBatch:
        """Every line of a chunk, blank ones included (`parse_lines` skips them as
        `parse_chunk` does)."""
        starts, ends = _line_bounds(chunk.data, chunk.newlines())
        numbers = np.arange(len(starts), dtype=np.int64) + chunk.first_line
        return cls(chunk.data, numbers, starts + chunk.offset, (starts, ends))

    @classmethod
    def joined(
        cls,
        data: bytes,
        line_numbers: np.ndarray,
        offsets: np.ndarray,
        lengths: np.ndarray,
        trailing_cr: np.ndarray,
    ) -> LineBatch:
        """A batch from lines already joined by newlines whose lengths (and whether each
        ends with a CR, which is not part of the line) are known."""
        starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        ends = starts + lengths - trailing_cr.astype(np.int64)
        return cls(data, line_numbers, offsets, (starts, ends))

    @classmethod
    def concat(cls, batches: Sequence[LineBatch]) -> LineBatch:
        """The lines of several batches, in the order given."""
        kept = [b for b in batches if len(b)]
        if len(kept) == 1:
            return kept[0]
        known = [b.known_bounds for b in kept]
        bounds = None
        if kept and all(k is not None for k in known):
            shifts = np.cumsum([0, *(len(b.data) + 1 for b in kept[:-1])])
            pairs = [
                (k[0] + shift, k[1] + shift) for k, shift in zip(known, shifts, strict=True) if k
            ]
            bounds = (np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))
        return cls(
            b"\n".join(b.data for b in kept),
            np.concatenate([b.line_numbers for b in kept] or [np.zeros(0, dtype=np.int64)]),
            np.concatenate([b.offsets for b in kept] or [np.zeros(0, dtype=np.int64)]),
            bounds,
        )

    def __len__(self) -> int:
        return len(self.line_numbers)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (exclusive, without CR/LF) of every line in `data`."""
        if self.known_bounds is not None:
            return self.known_bounds
        return _line_bounds(self.data)

    def lines_at(self, offsets: Sequence[int]) -> list[bytes]:
        """The lines starting at these stream offsets (offsets sorted in the batch)."""
        starts, ends = self.bounds()
        index = np.searchsorted(self.offsets, np.asarray(offsets, dtype=np.int64))
        return [self.data[int(starts[i]) : int(ends[i])] for i in index.tolist()]

    def line_numbers_at(self, offsets: Sequence[int]) -> list[int]:
        """The line numbers of the lines starting at these stream offsets."""
        index = np.searchsorted(self.offsets, np.asarray(offsets, dtype=np.int64))
        return [int(n) for n in self.line_numbers[index]]


def _parse(
    data: bytes,
    schema: Mapping[str, pl.DataType],
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    offsets: np.ndarray,
) -> ParsedChunk:
    # Polars validates UTF-8 over the whole input, so invalid bytes anywhere also take the
    # line-by-line path, where they are replaced and counted.
    rows = np.flatnonzero(ends > starts)
    absent = _absent(data, schema)
    read = _without(schema, absent)
    frame = _read_rows(data, read, starts[rows], ends[rows])
    if frame is not None:
        # The reader hands out a column in dozens of pieces (one per block of input), and
        # every expression after it pays per piece: normalising a single source's 32 MB
        # batch took 2.6 times as long, and matching's row picks three times.
        frame = frame.rechunk()
        if absent:
            frame = _restored(frame, read, schema)
        frame = _with_text(frame, schema, data, starts, ends, rows)
        return ParsedChunk(
            _with_provenance(frame, numbers, offsets, rows), len(rows), absent=absent
        )
    return _parse_line_by_line(data, schema, starts, ends, numbers, offsets)


def _absent(data: bytes, schema: Mapping[str, pl.DataType]) -> frozenset[str]:
    """The keys of `schema`, at any depth, that no line of `data` can have. The reader's
    cost grows with every field it is asked for, nested ones included: SigmaHQ's Windows
    rules read some 200 fields under `Event.EventData`, where one kind of event has twenty."""
    names = sorted({name for name, _ in _fields(schema)})
    if len(names) < _KEYS_WORTH_LOOKING_FOR:
        return frozenset()
    return frozenset(absent_keys(data, names))


def _without(
    schema: Mapping[str, pl.DataType], absent: frozenset[str]
) -> Mapping[str, pl.DataType]:
    """`schema` without the keys in `absent`, at any depth."""
    if not absent:
        return schema
    return {name: _pruned(dtype, absent) for name, dtype in schema.items() if name not in absent}


def _pruned(dtype: pl.DataType | DataTypeClass, absent: frozenset[str]) -> pl.DataType:
    """`dtype` without the struct fields named in `absent` (a struct keeps at least its
    first field: an object is read as a struct whatever it holds)."""
    if isinstance(dtype, pl.List):
        return pl.List(_pruned(dtype.inner, absent))
    if not isinstance(dtype, pl.Struct):
        return dtype if isinstance(dtype, pl.DataType) else dtype()
    kept = [f for f in dtype.fields if f.name not in absent] or dtype.fields[:1]
    return pl.Struct({f.name: _pruned(f.dtype, absent) for f in kept})


def _restored(
    frame: pl.DataFrame, read: Mapping[str, pl.DataType], schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """`frame`, read with the pruned schema `read`, in the full `schema`."""
    if not read:  # no column to give the null literals their length
        return pl.DataFrame(schema=dict(schema)).clear(frame.height)
    return frame.select(_restoring(tuple(read.items()), tuple(schema.items())))


@functools.lru_cache(maxsize=64)
def _restoring(
    read: tuple[tuple[str, pl.DataType], ...], schema: tuple[tuple[str, pl.DataType], ...]
) -> list[pl.Expr]:
    """The columns of `schema` from a frame read with `read`: keys left out are nulls, and a
    struct cast to its full type gains its missing fields as nulls (Polars casts structs by
    field name)."""
    types = dict(read)
    return [
        _null(name, dtype)
        if name not in types
        else pl.col(name).cast(dtype)
        if types[name] != dtype
        else pl.col(name)
        for name, dtype in schema
    ]


@functools.lru_cache(maxsize=4096)
def _null(name: str, dtype: pl.DataType) -> pl.Expr:
    # Cached: six hundred null literals cost more to build than the select that uses them.
    return pl.lit(None, dtype=dtype).alias(name)


# Field names (of any depth) from which looking for the absent ones pays: the scan costs
# about 1.3 ms per MB with SigmaHQ's 650 Windows names, and leaving out a key read as text
# saves about 40 ns per line. Falcon's process lines are read with 16 keys, all there.
_KEYS_WORTH_LOOKING_FOR = 48


# A JSON string holding an escape (in valid JSON text, no backslash stands outside a
# string, so a match cannot start at a closing quote and run into the next string).
_ESCAPED_STRING = re.compile(r'"[^"\\]*\\.(?:[^"\\]|\\.)*"')


def event_text(line: bytes) -> str:
    """The text a Sigma keyword is searched in: the line as UTF-8, with the escapes of its
    JSON strings decoded (`\\\\` is one backslash, `\\u00e9` is é); keys, numbers and
    punctuation stay as written."""
    text = line.decode("utf-8", errors="replace")
    if "\\" not in text:
        return text
    return _ESCAPED_STRING.sub(_decoded, text)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _decoded(token: re.Match[str]) -> str:
    try:
        value = str(json.loads(token[0]))
    except ValueError:  # not a valid JSON string: left as written
        return token[0]
    # json.loads pairs surrogate escapes into one character; one left alone (`\ud800`) is
    # no character at all and cannot be UTF-8 text: it reads as U+FFFD, as bad bytes do.
    return '"' + _LONE_SURROGATE.sub("\ufffd", value) + '"'


# A `\u` escape of a character: four hex digits (either case) outside D800-DFFF, the
# surrogates, which json.loads pairs (or event_text turns into U+FFFD).
_CHARACTER_ESCAPE = r"\\u(?:[0-9A-Ca-cEFef][0-9A-Fa-f]{3}|[Dd][0-7][0-9A-Fa-f]{2})"
# The escapes of one character each but `\u`, and what JSON decodes them to.
_PAIR_ESCAPES = {
    "\\\\": "\\",
    '\\"': '"',
    "\\/": "/",
    "\\b": "\b",
    "\\f": "\f",
    "\\n": "\n",
    "\\r": "\r",
    "\\t": "\t",
}

# A line whose every backslash stands in a JSON string as one of _PAIR_ESCAPES or a
# _CHARACTER_ESCAPE, in strings free of control characters. In such a line the matches of
# _ESCAPED_STRING are exactly the strings holding an escape (a match cannot start at a
# closing quote: what follows up to the next opening quote holds no backslash), json.loads
# decodes each of them, and so event_text is the line with every escape replaced by its
# character, left to right: each backslash starts an escape, the next one comes after it.
# What may follow a backslash in _PAIR_ESCAPES, as a character class.
_PAIR_CLASS = "".join(re.escape(escape[1]) for escape in _PAIR_ESCAPES)
_SIMPLE_ESCAPES = (
    r'^[^"\\]*(?:"(?:[^"\\\x00-\x1f]|\\['
    + _PAIR_CLASS
    + "]|"
    + _CHARACTER_ESCAPE
    + r')*"[^"\\]*)*$'
)


def event_texts(lines: pl.Series) -> pl.Series:
    """`event_text` of every line of a Binary Series: in Polars for lines without escapes
    or with only `\\\\`, `\\"`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and `\\u` escapes of
    characters in well-formed strings, by `event_text` for the others (surrogate escapes,
    invalid UTF-8, a control character in a string, a backslash outside one...)."""
    try:
        text = lines.cast(pl.String)
    except pl.exceptions.PolarsError:  # invalid UTF-8: those lines are left to event_text
        text = pl.Series([_utf8(line) for line in lines.to_list()], dtype=pl.String)
    # Only lines with a backslash are looked at further (nulls, bad UTF-8, too).
    escaped = np.flatnonzero(text.str.contains("\\", literal=True).fill_null(value=True).to_numpy())
    if not len(escaped):
        return text
    some = text.gather(escaped)
    # The escapes to replace: the pairs, and the `\u` escapes of characters in the batch.
    # A `\u0041` found after a `\\` is no escape; replacing it too does no harm, as the
    # replacement is leftmost: in a line _SIMPLE_ESCAPES vouches for, every match starts at
    # a backslash that starts an escape, and no pattern is a prefix of another.
    found = (
        some.filter(some.str.contains("\\u", literal=True))
        .str.extract_all(_CHARACTER_ESCAPE)
        .explode()
        .drop_nulls()
        .unique()
        .to_list()
    )
    patterns = [*_PAIR_ESCAPES, *found]
    characters = [*_PAIR_ESCAPES.values(), *(chr(int(escape[2:], 16)) for escape in found)]
    decoded = pl.select(
        pl.when(some.str.contains(_SIMPLE_ESCAPES)).then(
            some.str.replace_many(patterns, characters, leftmost=True)
        )
    ).to_series()
    fast = text.scatter(escaped, decoded)
    slow = escaped[decoded.is_null().to_numpy()]
    if len(slow):
        fast.scatter(slow, [event_text(line) for line in lines.gather(slow).to_list()])
    return fast


def _utf8(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _with_text(
    frame: pl.DataFrame,
    schema: Mapping[str, pl.DataType],
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    rows: np.ndarray,
) -> pl.DataFrame:
    """Add the keyword text of each row's line when the rules search keywords."""
    if KEYWORD_FIELD not in schema:
        return frame
    if len(rows) >= _MANY:
        return frame.with_columns(
            event_texts(_lines(data, starts[rows], ends[rows])).alias(KEYWORD_FIELD)
        )
    texts = [
        event_text(data[s:e])
        for s, e in zip(starts[rows].tolist(), ends[rows].tolist(), strict=True)
    ]
    return frame.with_columns(pl.Series(KEYWORD_FIELD, texts, dtype=pl.String))


# Lines from which reading them in Polars pays for its fixed cost (some 5 ms with a wide
# schema, where the NDJSON reader takes 50 µs a line and json_decode 15).
_MANY = 128


def _line_bounds(data: bytes, newlines: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without CR/LF) of every line in `data` (`newlines`: the
    positions of its newlines, when known)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if not len(buf):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if newlines is None:
        newlines = np.flatnonzero(buf == 0x0A)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    if len(buf) and buf[-1] == 0x0A:  # the final newline opens no line
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 0x0D)
    return starts, ends - has_cr


def _lines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> pl.Series:
    """`data[starts[i]:ends[i]]` for every i as a Binary Series (spans in order, apart)."""
    # The lines and the gaps between them as one Arrow array over `data`, then every
    # other element: no Python object per line.
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2], bounds[1::2] = starts, ends
    if not len(bounds):
        return pl.Series(dtype=pl.Binary)
    if bounds[0] < 0 or bounds[-1] > len(data) or np.any(bounds[1:] < bounds[:-1]):
        raise ValueError("line bounds out of order or outside the data")
    spans = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(bounds) - 1, [None, pa.py_buffer(bounds), pa.py_buffer(data)]
    )
    return pl.Series(spans).gather_every(2)


def _read_rows(
    data: bytes, schema: Mapping[str, pl.DataType], starts: np.ndarray, ends: np.ndarray
) -> pl.DataFrame | None:
    """The lines `data[starts[i]:ends[i]]` (the non-blank lines of `data`), one row each,
    exactly as `pl.read_ndjson(data)` reads them; None when it fails or reads another
    number of rows (it skips a line of spaces)."""
    if len(starts) >= _MANY and _decodable(schema):
        lines = _lines(data, starts, ends)
        try:
            text = lines.cast(pl.String)
        except pl.exceptions.PolarsError:  # invalid UTF-8, which fails the reader too
            return None
        pattern = _nested_as_text(tuple(schema.items()))
        odd = text.str.contains(pattern).to_numpy() if pattern else np.zeros(len(text), bool)
        decoded = _decode(text.filter(~odd), schema)
        if decoded is not None:  # else a bad line, or an odd one missed: the reader decides
            if not odd.any():
                return decoded
            # The reader fails on the odd lines exactly when it fails on all of `data`.
            rest = _read(b"\n".join(lines.filter(odd).to_list()), schema)
            if rest is None or rest.height != odd.sum():
                return None
            if odd.all():
                return rest
            order = np.argsort(np.concatenate([np.flatnonzero(~odd), np.flatnonzero(odd)]))
            return pl.concat([decoded, rest], rechunk=True).gather(order)
    frame = _read(data, schema)
    return frame if frame is not None and frame.height == len(starts) else None


# Fields inside structs (of the schema read, after `_absent` left out the keys no line
# has) from which `str.json_decode` is faster than the NDJSON reader, which fills every
# schema field of every row while json_decode pays for the keys a line holds. SigmaHQ's
# Windows rules on Windows events read 78 such fields, some twenty per line: 22 % faster
# (one thread). Where every line holds them all, the reader is 13-15 % faster at 40 and 80.
_WIDE = 50


def _decodable(schema: Mapping[str, pl.DataType]) -> bool:
    """Is `schema` wide in nested fields, and made only of text, structs and lists of
    structs (no list of text: json_decode reads "x" there as ["x"], the reader fails)?"""
    fields = _fields(schema)
    return len(fields) - len(schema) >= _WIDE and all(
        dtype == pl.String
        or isinstance(dtype, pl.Struct)
        or (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct))
        for _, dtype in fields
    )


def _fields(schema: Mapping[str, pl.DataType]) -> list[tuple[str, pl.DataType | DataTypeClass]]:
    """Every field of `schema` with its type, the fields of structs (in lists or not)
    included."""
    found: list[tuple[str, pl.DataType | DataTypeClass]] = []
    stack: list[tuple[str, pl.DataType | DataTypeClass]] = list(schema.items())
    while stack:
        name, dtype = stack.pop()
        found.append((name, dtype))
        inner = dtype.inner if isinstance(dtype, pl.List) else dtype
        if isinstance(inner, pl.Struct):
            stack.extend((f.name, f.dtype) for f in inner.fields)
    return found


@functools.lru_cache(maxsize=16)
def _nested_as_text(schema: tuple[tuple[str, pl.DataType], ...]) -> str | None:
    """A regex for a line that may hold an object or a list under a key the schema reads as
    text (where `_decode` fails); keys that are also nested in the schema are left out, as
    they would take most lines: a line missed costs time, not exactness."""
    fields = _fields(dict(schema))
    text = {name for name, dtype in fields if dtype == pl.String}
    nested = {name for name, dtype in fields if dtype != pl.String}
    keys = "|".join(
        pl.escape_regex(json.dumps(k, ensure_ascii=False)) for k in sorted(text - nested)
    )
    return rf"(?:{keys})[ \t\r]*:[ \t\r]*[\[{{]" if keys else None


def _decode(text: pl.Series, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
    """Lines read by `str.json_decode`, which reads a line as the NDJSON reader does except
    that it fails on an object or list where the schema has text (the reader writes it as
    text) and reads `null` as a row of nulls (the reader fails); None when it fails or
    reads a `null`."""
    try:
        rows = text.str.json_decode(dtype=pl.Struct(dict(schema)))
    except pl.exceptions.PolarsError:
        return None
    if len(rows) != len(text) or rows.null_count():
        return None
    return rows.struct.unnest()


def _read(data: bytes, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
    try:
        return pl.read_ndjson(io.BytesIO(data), schema=dict(schema))
    except pl.exceptions.PolarsError:
        return None


def _with_provenance(
    frame: pl.DataFrame, numbers: np.ndarray, offsets: np.ndarray, rows: np.ndarray
) -> pl.DataFrame:
    return frame.with_columns(
        pl.Series(LINE_COLUMN, numbers[rows], dtype=pl.Int64),
        pl.Series(OFFSET_COLUMN, offsets[rows], dtype=pl.Int64),
    )


def _parse_line_by_line(
    data: bytes,
    schema: Mapping[str, pl.DataType],
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    offsets: np.ndarray,
) -> ParsedChunk:
    texts: list[bytes] = []
    rows: list[int] = []
    invalid_utf8 = 0
    for index, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        line = data[start:end]
        if not line.strip():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            # Replace, never drop: one bad byte must not hide an event from the rules.
            line = line.decode("utf-8", errors="replace").encode("utf-8")
            invalid_utf8 += 1
        texts.append(line)
        rows.append(index)
    frames: list[pl.DataFrame] = []
    good: list[int] = []
    bad: list[tuple[int, str]] = []
    _bisect(texts, list(range(len(texts))), schema, frames, good, bad)
    bad_lines = [
        BadLine(
            line_number=int(numbers[rows[i]]),
            byte_offset=int(offsets[rows[i]]),
            reason=reason,
            raw=data[int(starts[rows[i]]) : int(ends[rows[i]])],
        )
        for i, reason in bad
    ]
    frame = pl.concat(frames, rechunk=True) if frames else pl.DataFrame(schema=dict(schema))
    good_rows = np.asarray([rows[i] for i in good], dtype=np.int64)
    frame = _with_text(frame, schema, data, starts, ends, good_rows)
    return ParsedChunk(
        _with_provenance(frame, numbers, offsets, good_rows),
        len(texts),
        sorted(bad_lines, key=lambda b: b.line_number),
        invalid_utf8,
    )


def _bisect(
    texts: list[bytes],
    indices: list[int],
    schema: Mapping[str, pl.DataType],
    frames: list[pl.DataFrame],
    good: list[int],
    bad: list[tuple[int, str]],
) -> None:
    """Parse `indices` of `texts`; recurse into halves until each bad line stands alone."""
    if not indices:
        return
    try:
        frame = pl.read_ndjson(
            io.BytesIO(b"\n".join(texts[i] for i in indices)), schema=dict(schema)
        )
        if frame.height == len(indices):
            frames.append(frame)
            good.extend(indices)
            return
        error = f"{frame.height} rows for {len(indices)} lines"
    except pl.exceptions.PolarsError as exc:
        error = str(exc).splitlines()[0]
    if len(indices) == 1:
        fallback = _without_nested(texts[indices[0]], schema)
        if fallback is not None:
            frames.append(fallback)
            good.append(indices[0])
        else:
            bad.append((indices[0], _reason(error)))
        return
    middle = len(indices) // 2
    _bisect(texts, indices[:middle], schema, frames, good, bad)
    _bisect(texts, indices[middle:], schema, frames, good, bad)


def _without_nested(text: bytes, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
    """Read a line whose nested fields do not have the expected shape (say `winlog` is a
    string): the nested columns become null, everything else is read. None if the line is
    bad JSON anyway."""
    nested = nested_roots(dict(schema))
    if not nested:
        return None
    flat = {name: (pl.String() if name in nested else dtype) for name, dtype in schema.items()}
    frame = _read(text, flat)
    if frame is None or frame.height != 1:
        return None
    return frame.with_columns(pl.lit(None, dtype=schema[name]).alias(name) for name in nested)


def _reason(error: str) -> str:
    if "expected to contain JSON object" in error:
        return "not a JSON object"
    return f"invalid JSON ({error.removeprefix('error parsing line: ')})"
