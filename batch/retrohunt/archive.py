"""Open an archive, detect its compression by magic bytes, and stream line-aligned chunks."""

from __future__ import annotations

import hashlib
import itertools
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, TypeVar

import numpy as np
import zstandard

from retrohunt.errors import CorruptArchive, UnsupportedFormat
from retrohunt.store import Location, file_size, open_binary

Compression = Literal["zstd", "gzip", "none"]
T = TypeVar("T")

DEFAULT_CHUNK_SIZE = 8 << 20
"""Decompressed bytes per chunk. A chunk exceeds it only by a line longer than a chunk."""

# Compressed bytes handed to the decoder at a time. Small on purpose: zstd's decompressobj has
# no output limit, so the input slice is what bounds one step's output.
_READ_SIZE = 64 << 10
# Output limit of one zlib step (zlib, unlike zstd, can bound its output).
_ZLIB_MAX_OUT = 4 << 20

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
# Formats we recognise only to name them in the error message.
_OTHER_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x04\x22\x4d\x18": "lz4",
    b"PAR1": "parquet",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"ElfFile\x00": "evtx",
}


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole lines from the decompressed stream.

    `data` ends with b"\\n" except, possibly, for the archive's last chunk. `first_line` is the
    1-based number of its first line and `offset` the position of `data[0]` in the decompressed
    stream, so each line's provenance can be computed without keeping earlier chunks.
    """

    data: bytes
    first_line: int
    offset: int
    newline_positions: np.ndarray | None = None  # where b"\n" is (int64), once asked for

    @classmethod
    def consecutive(cls, chunks: Sequence[Chunk]) -> Chunk:
        """One chunk holding `chunks`, which follow each other in a stream.

        Raises:
            ValueError: a chunk does not start where the one before it ends (at a newline).
        """
        if not chunks:
            raise ValueError("no chunk to join")
        for before, after in itertools.pairwise(chunks):
            if after.offset != before.offset + len(before.data) or not before.data.endswith(b"\n"):
                raise ValueError("chunks that do not follow each other cannot be joined")
        if len(chunks) == 1:
            return chunks[0]
        known = [c.newline_positions for c in chunks if c.newline_positions is not None]
        newlines = None
        if len(known) == len(chunks):
            shifts = itertools.accumulate((len(c.data) for c in chunks[:-1]), initial=0)
            newlines = np.concatenate([p + shift for p, shift in zip(known, shifts, strict=True)])
        first = chunks[0]
        return cls(b"".join(c.data for c in chunks), first.first_line, first.offset, newlines)

    def newlines(self) -> np.ndarray:
        """Positions of every newline byte in `data` (int64, ascending), found on first use
        by the thread that wants them (`numbered` finds them on the matching thread)."""
        if self.newline_positions is None:
            positions = np.flatnonzero(np.frombuffer(self.data, dtype=np.uint8) == 0x0A)
            object.__setattr__(self, "newline_positions", positions)
            return positions
        return self.newline_positions

    def physical_lines(self) -> int:
        """Lines in `data`, blank ones included (a last line without newline counts)."""
        return len(self.newlines()) + (1 if self.data and not self.data.endswith(b"\n") else 0)

    def split(self, lines: int) -> tuple[Chunk, Chunk]:
        """The chunk's first `lines` lines, and the rest (empty when there is no more)."""
        newlines = self.newlines()
        if lines >= len(newlines):
            end = self.offset + len(self.data)
            return self, Chunk(b"", self.first_line + self.physical_lines(), end, newlines[:0])
        cut = int(newlines[lines - 1]) + 1 if lines > 0 else 0
        head = Chunk(self.data[:cut], self.first_line, self.offset, newlines[:lines])
        tail = Chunk(
            self.data[cut:], self.first_line + lines, self.offset + cut, newlines[lines:] - cut
        )
        return head, tail

    def line_at(self, offset: int) -> bytes:
        """The line starting at stream offset `offset`, without its newline (or CR)."""
        start = offset - self.offset
        end = self.data.find(b"\n", start)
        line = self.data[start : end if end >= 0 else len(self.data)]
        return line[:-1] if line.endswith(b"\r") else line

    def lines_at(self, offsets: Sequence[int]) -> list[bytes]:
        """The lines starting at these stream offsets."""
        return [self.line_at(offset) for offset in offsets]

    def line_numbers_at(self, offsets: Sequence[int]) -> list[int]:
        """Alias of `line_numbers` (the `LineSource` protocol of the engine)."""
        return self.line_numbers(offsets)

    def line_numbers(self, offsets: Sequence[int]) -> list[int]:
        """The 1-based line numbers of the lines starting at these stream offsets.

        Counts newlines up to the last offset asked for, so the cost is paid only for the
        few lines that need a number (alerts, bad lines), not for every line.
        """
        order = sorted(set(offsets))
        numbers: dict[int, int] = {}
        line, position = self.first_line, 0
        for offset in order:
            start = offset - self.offset
            line += self.data.count(b"\n", position, start)
            position = start
            numbers[offset] = line
        return [numbers[offset] for offset in offsets]


def detect_compression(path: Location) -> Compression:
    """Return the compression of `path`, judged by its first bytes, not its name.

    Raises:
        ArchiveNotFound: the path is missing or not a regular file.
        UnsupportedFormat: the bytes are another container or not JSON text.
    """
    head = _read_head(path)
    if head.startswith(_ZSTD_MAGIC) or (
        len(head) >= 4 and 0x184D2A50 <= int.from_bytes(head[:4], "little") <= 0x184D2A5F
    ):
        return "zstd"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            raise UnsupportedFormat(f"{path}: {name} file; retrohunt reads zstd, gzip or NDJSON")
    text = head.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n")
    if not text or text.startswith(b"{"):
        return "none"
    kind = "binary data" if b"\x00" in head else "text that is not NDJSON (no '{' at its start)"
    raise UnsupportedFormat(f"{path}: {kind}; retrohunt reads zstd, gzip or NDJSON")


class ArchiveReader:
    """Streams one archive as line-aligned chunks, hashing the file bytes as they are read.

    `bytes_read` (file bytes consumed so far) drives progress; `sha256` is the digest of the
    file once iteration has finished, and identifies the archive by content.
    """

    def __init__(self, path: Location, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.compression = detect_compression(path)
        self.size = file_size(path)
        self.bytes_read = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file bytes read so far (all of them after iteration)."""
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[Chunk]:
        """Yield chunks of about `chunk_size` decompressed bytes, each ending at a newline.

        A line longer than `chunk_size` is kept whole, so a chunk can exceed the size by the
        longest line. A UTF-8 byte-order mark at the start of the stream is dropped (its
        three bytes still count in the offsets).

        Raises:
            CorruptArchive: after the last good chunk, when the stream is truncated or
                corrupt; the partial line before the damage was handed out as a last chunk.
        """
        return numbered(self.spans(), self.path)

    def spans(self) -> Iterator[tuple[bytes, int]]:
        """The chunks' bytes and stream offsets, not numbered yet (`numbered` does it).

        Decompressing and cutting is what a reader thread does (`read_ahead`); numbering
        the lines takes a pass over the bytes to find the newlines, which the thread that
        matches the chunk makes anyway, for the prefilter: finding them there costs
        nothing more, and the reader thread, the busier one when the prefilter leaves
        little to parse, is spared a tenth of its work.

        Raises:
            StreamDamaged: after the last good span (the partial line before the damage).
        """
        offset = 0
        # Decompressed pieces not handed out yet: a chunk is cut from them with one copy
        # (a growing bytearray would copy every byte three times).
        pieces: list[bytes] = []
        held = 0
        searched = 0  # pieces known to hold no newline past the chunk size (a long line)
        at_start = True
        try:
            with open_binary(self.path) as raw:
                for piece in _decompress(_Hashing(raw, self), self.compression):
                    if at_start:
                        head = b"".join((*pieces, piece))
                        if len(head) < len(_UTF8_BOM) and _UTF8_BOM.startswith(head):
                            pieces, held = [head], len(head)
                            continue
                        at_start = False
                        if head.startswith(_UTF8_BOM):
                            head = head[len(_UTF8_BOM) :]
                            offset = len(_UTF8_BOM)
                        pieces, held, piece = [], 0, head
                    if not piece:
                        continue
                    pieces.append(piece)
                    held += len(piece)
                    # One decompressed piece can hold many chunks' worth (zstd has no
                    # output limit per step), so cut as many chunks as are held.
                    while held >= self.chunk_size:
                        cut = _last_newline(pieces, self.chunk_size)
                        if cut is None:  # a line longer than a chunk: it goes out whole
                            cut = _first_newline(pieces, self.chunk_size, searched)
                            if cut is None:
                                searched = len(pieces)
                                break
                        searched = 0
                        data, pieces = _split(pieces, *cut)
                        held -= len(data)
                        yield data, offset
                        offset += len(data)
        except StreamDamaged as damage:
            rest = b"".join(pieces)
            if rest:
                yield rest, offset
            damage.offset = offset + len(rest)
            raise
        rest = b"".join(pieces)
        if at_start and rest.startswith(_UTF8_BOM):  # a stream of a BOM alone
            rest, offset = rest[len(_UTF8_BOM) :], len(_UTF8_BOM)
        if rest:
            yield rest, offset


def numbered(spans: Iterable[tuple[bytes, int]], path: Location) -> Iterator[Chunk]:
    """Chunks of `ArchiveReader.spans`, their lines numbered (the newlines found on the way
    are kept in the chunk).

    Raises:
        CorruptArchive: after the last chunk, when the spans ended at damage in `path`.
    """
    line = 1
    try:
        for data, offset in spans:
            chunk = Chunk(data, line, offset)
            line += len(chunk.newlines())
            yield chunk
    except StreamDamaged as damage:
        raise CorruptArchive(path, damage.reason, lines=line - 1, offset=damage.offset) from (
            damage.__cause__
        )


def read_ahead(reader: ArchiveReader, depth: int = 2) -> Iterator[Chunk]:
    """`reader`'s chunks, decompressed and cut on a background thread up to `depth` ahead
    (python-zstandard and zlib release the GIL while they work), numbered on this one."""
    return numbered(prefetch(reader.spans(), depth), reader.path)


def _last_newline(pieces: list[bytes], limit: int) -> tuple[int, int] | None:
    """(piece, position) of the last newline among the first `limit` bytes of `pieces`."""
    position = 0
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if position + len(piece) >= limit:
            last = index
            break
        position += len(piece)
    end = limit - position
    for index in range(last, -1, -1):
        found = pieces[index].rfind(b"\n", 0, end)
        if found >= 0:
            return index, found
        end = len(pieces[index - 1]) if index else 0
    return None


def _first_newline(pieces: list[bytes], limit: int, skip: int) -> tuple[int, int] | None:
    """(piece, position) of the first newline at or after byte `limit`, not looking into the
    first `skip` pieces (already searched)."""
    position = 0
    for index, piece in enumerate(pieces):
        start = max(limit - position, 0)
        position += len(piece)
        if index < skip or start >= len(piece):
            continue
        found = piece.find(b"\n", start)
        if found >= 0:
            return index, found
    return None


def _split(pieces: list[bytes], index: int, position: int) -> tuple[bytes, list[bytes]]:
    """The bytes up to and including `pieces[index][position]`, and the pieces after."""
    head = pieces[index]
    data = b"".join((*pieces[:index], head[: position + 1]))
    tail = head[position + 1 :]
    return data, ([tail] if tail else []) + pieces[index + 1 :]


def iter_chunks(path: Location, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Chunk]:
    """Stream `path` as line-aligned chunks (see `ArchiveReader`)."""
    return iter(ArchiveReader(path, chunk_size))


class _Hashing:
    """A file wrapper that feeds every byte read to the reader's digest and position."""

    def __init__(self, raw: BinaryIO, reader: ArchiveReader) -> None:
        self._raw = raw
        self._reader = reader

    def read(self, size: int) -> bytes:
        data = self._raw.read(size)
        self._reader._digest.update(data)
        self._reader.bytes_read += len(data)
        return data


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Produce `items` on a background thread, at most `depth` ahead of the consumer.

    Memory stays bounded (depth + 2 items alive). An exception raised by the producer is
    re-raised to the consumer after the items produced before it; if the consumer stops
    early, the producer is told to stop and its thread ends.
    """
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((False, item)):
                    return
            put((True, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((True, exc))

    thread = threading.Thread(target=produce, name="retrohunt-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            finished, value = slots.get()
            if finished:
                if isinstance(value, BaseException):
                    raise value
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


class StreamDamaged(Exception):
    """The compressed stream broke off (internal: `numbered` turns it into CorruptArchive,
    which says how many lines were read)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = 0  # decompressed bytes handed out before the damage


def _read_head(path: Location) -> bytes:
    with open_binary(path) as fh:
        return fh.read(4096)


def _decompress(fh: _Hashing | BinaryIO, compression: Compression) -> Iterator[bytes]:
    try:
        if compression == "zstd":
            yield from _zstd_pieces(fh)
        elif compression == "gzip":
            yield from _gzip_pieces(fh)
        else:
            while piece := fh.read(1 << 20):
                yield piece
    except zstandard.ZstdError as exc:
        raise StreamDamaged(f"corrupt zstd data ({exc})") from exc
    except zlib.error as exc:
        raise StreamDamaged(f"corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise StreamDamaged(f"read error ({exc})") from exc


def _zstd_pieces(fh: _Hashing | BinaryIO) -> Iterator[bytes]:
    # decompressobj, not stream_reader: stream_reader reports a truncated frame as a clean
    # end of stream, and decompressobj's `eof` is the only way to tell the two apart.
    dctx = zstandard.ZstdDecompressor()
    frame = dctx.decompressobj()
    inside_frame = False
    while data := fh.read(_READ_SIZE):
        while data:
            out = frame.decompress(data)
            if out:
                yield out
            if frame.eof:
                data = frame.unused_data
                frame = dctx.decompressobj()
                inside_frame = False
            else:
                data = b""
                inside_frame = True
    if inside_frame:
        raise StreamDamaged("zstd stream ends inside a frame (truncated)")


def _gzip_pieces(fh: _Hashing | BinaryIO) -> Iterator[bytes]:
    member = zlib.decompressobj(wbits=31)
    inside_member = False
    while data := fh.read(_READ_SIZE):
        while data:
            if not inside_member and not data.strip(b"\x00"):
                data = b""  # zero padding after the last member, as some writers leave
                break
            out = member.decompress(data, _ZLIB_MAX_OUT)
            inside_member = True
            if out:
                yield out
            if member.eof:
                data = member.unused_data
                member = zlib.decompressobj(wbits=31)
                inside_member = False
            else:
                data = member.unconsumed_tail
    if inside_member:
        raise StreamDamaged("gzip stream ends inside a member (truncated)")
