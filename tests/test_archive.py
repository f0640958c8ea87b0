"""ArchiveReader: compression by content, exact line-aligned chunks, provenance, damage."""

from __future__ import annotations

import bz2
import hashlib
import lzma
import random
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import zstandard

from conftest import ARCHIVE_KINDS, ArchiveKind, compress, make_archive, ndjson
from retrohunt.archive import (
    ArchiveReader,
    Chunk,
    detect_compression,
    iter_chunks,
    read_ahead,
)
from retrohunt.errors import ArchiveNotFound, CorruptArchive, UnsupportedFormat

KIB = 1024
BOM = b"\xef\xbb\xbf"
EXPECTED_COMPRESSION = {
    "zstd": "zstd",
    "zstd-multiframe": "zstd",
    "gzip": "gzip",
    "gzip-multimember": "gzip",
    "none": "none",
}


def varied_lines(count: int, seed: int = 7) -> list[bytes]:
    """JSON lines of varied length, random (poorly compressible) content and some UTF-8."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        pad = rng.randbytes(rng.randint(0, 120)).hex()
        lines.append(f'{{"n":{i},"CommandLine":"é {pad}"}}'.encode())
    return lines


def read_all(path: Path, chunk_size: int) -> list[Chunk]:
    return list(ArchiveReader(path, chunk_size))


def line_table(data: bytes, first_offset: int = 0) -> dict[int, tuple[int, bytes]]:
    """1-based line number -> (byte offset, line bytes without b"\\n") of a stream."""
    table: dict[int, tuple[int, bytes]] = {}
    offset = first_offset
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        table[number] = (offset, line)
        offset += len(line) + 1
    return table


def lines_from_chunks(chunks: list[Chunk]) -> dict[int, tuple[int, bytes]]:
    """Recompute every line's number and offset from the chunks alone."""
    table: dict[int, tuple[int, bytes]] = {}
    for chunk in chunks:
        position = 0
        for index, line in enumerate(chunk.data.split(b"\n")[:-1]):
            table[chunk.first_line + index] = (chunk.offset + position, line)
            position += len(line) + 1
    return table


def assert_provenance_consistent(chunks: list[Chunk], stream: bytes) -> None:
    """Each chunk's offset/first_line agree with the decompressed stream's bytes."""
    offset = 0
    for chunk in chunks:
        assert chunk.offset == offset
        assert chunk.first_line == 1 + stream[:offset].count(b"\n")
        assert stream[offset : offset + len(chunk.data)] == chunk.data
        offset += len(chunk.data)
    assert offset == len(stream)


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_every_compression_round_trips_exact_bytes_and_provenance(
    tmp_path: Path, kind: ArchiveKind
) -> None:
    # ~1.5 MB decompressed: several reads of the file, whatever the compression.
    lines = varied_lines(10_000)
    data = ndjson(lines)
    path = make_archive(tmp_path, lines, kind)

    reader = ArchiveReader(path, chunk_size=64 * KIB)
    chunks = list(reader)

    assert reader.compression == EXPECTED_COMPRESSION[kind]
    assert len(chunks) > 1
    assert b"".join(c.data for c in chunks) == data
    assert_provenance_consistent(chunks, data)
    assert lines_from_chunks(chunks) == line_table(data)
    assert reader.bytes_read == reader.size == path.stat().st_size


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_last_line_without_newline_is_kept(tmp_path: Path, kind: ArchiveKind) -> None:
    data = b'{"n":1}\n{"n":2}\n{"n":3,"last":"no newline"}'
    path = tmp_path / "tail.bin"
    path.write_bytes(compress(data, kind))

    chunks = list(iter_chunks(path))

    assert b"".join(c.data for c in chunks) == data
    assert chunks[-1].data.endswith(b'{"n":3,"last":"no newline"}')
    assert chunks[-1].first_line + chunks[-1].data.count(b"\n") == 3


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_sha256_is_the_digest_of_the_file_bytes(tmp_path: Path, kind: ArchiveKind) -> None:
    path = make_archive(tmp_path, varied_lines(300), kind)
    reader = ArchiveReader(path)

    for _ in reader:
        pass

    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_multiframe_zstd_with_one_frame_per_line_fragment(tmp_path: Path) -> None:
    lines = varied_lines(50)
    data = ndjson(lines)
    path = make_archive(tmp_path, lines, "zstd-multiframe", parts=len(data) // 7)

    chunks = read_all(path, chunk_size=KIB)

    assert b"".join(c.data for c in chunks) == data
    assert_provenance_consistent(chunks, data)


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_empty_archive_gives_no_chunks(tmp_path: Path, kind: ArchiveKind) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(compress(b"", kind))
    reader = ArchiveReader(path)

    assert list(reader) == []
    assert reader.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_gzip_zero_padding_after_last_member_is_accepted(tmp_path: Path) -> None:
    data = ndjson(varied_lines(20))
    path = tmp_path / "padded.jsonl.gz"
    path.write_bytes(compress(data, "gzip") + b"\x00" * 512)

    assert b"".join(c.data for c in iter_chunks(path)) == data


# --- detection by content -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("zstd", "events.jsonl.gz"),
        ("zstd", "events.jsonl"),
        ("zstd-multiframe", "events.csv"),
        ("gzip", "events.jsonl.zst"),
        ("gzip-multimember", "events"),
        ("none", "events.jsonl.zst"),
        ("none", "events.gz"),
    ],
)
def test_compression_is_detected_by_magic_bytes_not_name(
    tmp_path: Path, kind: ArchiveKind, name: str
) -> None:
    lines = varied_lines(40)
    path = make_archive(tmp_path, lines, kind, name=name)

    assert detect_compression(path) == EXPECTED_COMPRESSION[kind]
    assert b"".join(c.data for c in iter_chunks(path)) == ndjson(lines)


def test_zstd_skippable_frame_first_is_detected_and_skipped(tmp_path: Path) -> None:
    data = ndjson(varied_lines(10))
    skippable = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"meta"
    path = tmp_path / "skippable.jsonl.zst"
    path.write_bytes(skippable + compress(data, "zstd"))

    assert detect_compression(path) == "zstd"
    assert b"".join(c.data for c in iter_chunks(path)) == data


def test_plain_ndjson_starting_with_blank_lines_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "spaced.jsonl"
    path.write_bytes(b"\n  \r\n\t{" + b'"n":1}\n')

    assert detect_compression(path) == "none"


# --- chunking -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_chunks_are_line_aligned_and_bounded_by_chunk_size_plus_longest_line(
    tmp_path: Path, kind: ArchiveKind
) -> None:
    lines = varied_lines(3_000)
    longest = max(len(line) + 1 for line in lines)
    path = make_archive(tmp_path, lines, kind)

    chunks = read_all(path, chunk_size=KIB)

    assert all(c.data.endswith(b"\n") for c in chunks)
    sizes = [len(c.data) for c in chunks]
    assert max(sizes) <= KIB + longest, (
        f"{kind}: largest chunk {max(sizes)} B with chunk_size {KIB} and longest line "
        f"{longest} B ({len(chunks)} chunks)"
    )


def test_highly_compressible_zstd_respects_chunk_size(tmp_path: Path) -> None:
    """A few KB of zstd can hold many MB of repeated lines: chunks must still be bounded."""
    line = b'{"event_simpleName":"ProcessRollup2","CommandLine":"/bin/sh -c true"}\n'
    data = line * (4_000_000 // len(line))
    path = tmp_path / "repeated.jsonl.zst"
    path.write_bytes(compress(data, "zstd"))
    chunk_size = 256 * KIB

    chunks = read_all(path, chunk_size)

    assert b"".join(c.data for c in chunks) == data
    assert max(len(c.data) for c in chunks) <= chunk_size + len(line)


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_five_megabyte_line_survives_whole(tmp_path: Path, kind: ArchiveKind) -> None:
    big = b'{"CommandLine":"' + b"A" * (5 << 20) + b'"}'
    lines = [b'{"n":1}', big, b'{"n":3}']
    path = make_archive(tmp_path, lines, kind)

    chunks = read_all(path, chunk_size=KIB)

    table = lines_from_chunks(chunks)
    assert table[2] == (8, big)
    assert table[3] == (8 + len(big) + 1, b'{"n":3}')
    assert sum(big in c.data for c in chunks) == 1


@pytest.mark.parametrize("kind", ["zstd", "gzip-multimember", "none"])
def test_crlf_is_kept_for_the_parser(tmp_path: Path, kind: ArchiveKind) -> None:
    lines = [line + b"\r\n" for line in varied_lines(200)]
    data = ndjson(lines)
    path = make_archive(tmp_path, lines, kind)

    chunks = read_all(path, chunk_size=KIB)

    assert b"".join(c.data for c in chunks) == data
    assert all(c.data.endswith(b"\r\n") for c in chunks)


@pytest.mark.parametrize("kind", ARCHIVE_KINDS)
def test_utf8_bom_is_dropped_and_offsets_count_it(tmp_path: Path, kind: ArchiveKind) -> None:
    lines = varied_lines(100)
    data = ndjson(lines)
    path = tmp_path / "bom.jsonl"
    path.write_bytes(compress(BOM + data, kind))

    chunks = read_all(path, chunk_size=KIB)

    assert chunks[0].offset == 3
    assert chunks[0].first_line == 1
    assert chunks[0].data.startswith(b'{"n":0,')
    assert b"".join(c.data for c in chunks) == data
    assert lines_from_chunks(chunks) == line_table(data, first_offset=3)


def test_bom_split_across_zstd_frames_is_still_dropped(tmp_path: Path) -> None:
    data = ndjson(varied_lines(5))
    stream = BOM + data
    cctx = zstandard.ZstdCompressor()
    path = tmp_path / "split-bom.jsonl.zst"
    path.write_bytes(
        cctx.compress(stream[:1]) + cctx.compress(stream[1:2]) + cctx.compress(stream[2:])
    )

    chunks = list(iter_chunks(path))

    assert b"".join(c.data for c in chunks) == data
    assert chunks[0].offset == 3


# --- unsupported and missing --------------------------------------------------------------


def _parquet_bytes(tmp_path: Path) -> bytes:
    target = tmp_path / "frame.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(target)
    return target.read_bytes()


def _zip_bytes(tmp_path: Path) -> bytes:
    target = tmp_path / "events.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("events.jsonl", '{"n":1}\n')
    return target.read_bytes()


@pytest.mark.parametrize(
    ("kind", "make", "named"),
    [
        ("bzip2", lambda _: bz2.compress(b'{"n":1}\n'), "bzip2"),
        ("xz", lambda _: lzma.compress(b'{"n":1}\n'), "xz"),
        ("zip", _zip_bytes, "zip"),
        ("parquet", _parquet_bytes, "parquet"),
        ("lz4", lambda _: b"\x04\x22\x4d\x18" + b"\x00" * 16, "lz4"),
        ("binary", lambda _: bytes(range(256)) * 4, "binary data"),
        ("csv", lambda _: b"aid,timestamp,CommandLine\nabc,1700000000123,xmrig\n", "not NDJSON"),
        ("json-array", lambda _: b'[{"n":1},{"n":2}]\n', "not NDJSON"),
    ],
)
def test_unsupported_format_names_what_was_detected(
    tmp_path: Path, kind: str, make: Callable[[Path], bytes], named: str
) -> None:
    path = tmp_path / "events.jsonl.zst"  # the name promises zstd; the content decides
    path.write_bytes(make(tmp_path))

    with pytest.raises(UnsupportedFormat) as raised:
        ArchiveReader(path)

    message = str(raised.value)
    assert str(path) in message
    assert named in message
    with pytest.raises(UnsupportedFormat):
        detect_compression(path)


def test_missing_path_raises_archive_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl.zst"

    with pytest.raises(ArchiveNotFound, match="no such file") as raised:
        ArchiveReader(missing)
    assert str(missing) in str(raised.value)
    with pytest.raises(ArchiveNotFound):
        list(iter_chunks(missing))


def test_directory_raises_archive_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArchiveNotFound, match="not a regular file") as raised:
        ArchiveReader(tmp_path)
    assert str(tmp_path) in str(raised.value)


# --- damage -------------------------------------------------------------------------------


def _zstd_reference(cut: bytes) -> bytes:
    """What zstd itself can recover from a truncated single frame."""
    return zstandard.ZstdDecompressor().decompressobj().decompress(cut)


def _gzip_reference(cut: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(cut)


def _read_until_damage(
    path: Path, chunk_size: int, *, ahead: bool = False
) -> tuple[bytes, list[Chunk], CorruptArchive]:
    chunks: list[Chunk] = []
    reader = ArchiveReader(path, chunk_size)
    with pytest.raises(CorruptArchive) as raised:
        for chunk in read_ahead(reader) if ahead else reader:
            chunks.append(chunk)
    return b"".join(c.data for c in chunks), chunks, raised.value


@pytest.mark.parametrize("ahead", [False, True], ids=["here", "read-ahead"])
@pytest.mark.parametrize("kind", ["zstd", "gzip"])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_truncated_archive_yields_what_is_readable_then_raises(
    tmp_path: Path, kind: ArchiveKind, fraction: float, ahead: bool
) -> None:
    data = ndjson(varied_lines(3_000))
    full = compress(data, kind)
    # Cut between just after the magic bytes and one byte before the end.
    cut_at = max(4, min(len(full) - 1, int(len(full) * fraction)))
    cut = full[:cut_at]
    path = tmp_path / f"cut.jsonl.{'zst' if kind == 'zstd' else 'gz'}"
    path.write_bytes(cut)

    got, chunks, error = _read_until_damage(path, chunk_size=4 * KIB, ahead=ahead)

    expected = _zstd_reference(cut) if kind == "zstd" else _gzip_reference(cut)
    assert data.startswith(got)
    assert got == expected
    assert_provenance_consistent(chunks, got)
    assert error.lines == got.count(b"\n")
    assert error.offset == len(got)
    assert error.path == str(path)
    assert "truncated" in error.reason
    assert str(path) in str(error)
    assert f"read {error.lines} lines" in str(error)


@pytest.mark.parametrize("kind", ["zstd-multiframe", "gzip-multimember"])
def test_truncated_multipart_archive_keeps_every_complete_part(
    tmp_path: Path, kind: ArchiveKind
) -> None:
    data = ndjson(varied_lines(600))
    pieces = [data[:40_000], data[40_000:80_000], data[80_000:]]
    if kind == "zstd-multiframe":
        parts = [zstandard.ZstdCompressor().compress(p) for p in pieces]
    else:
        parts = [compress(p, "gzip") for p in pieces]
    # Complete first two parts, and the third cut in its middle.
    path = tmp_path / "cut-multi.bin"
    path.write_bytes(parts[0] + parts[1] + parts[2][: len(parts[2]) // 2])

    got, _, error = _read_until_damage(path, chunk_size=KIB)

    assert got.startswith(pieces[0] + pieces[1])
    assert data.startswith(got)
    assert error.offset == len(got)
    assert error.lines == got.count(b"\n")
    assert "truncated" in str(error)


@pytest.mark.parametrize("ahead", [False, True], ids=["here", "read-ahead"])
def test_truncated_archive_with_bom_counts_the_bom_in_the_offset(
    tmp_path: Path, ahead: bool
) -> None:
    data = ndjson(varied_lines(2_000))
    full = compress(BOM + data, "gzip")
    path = tmp_path / "cut-bom.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])

    got, chunks, error = _read_until_damage(path, chunk_size=KIB, ahead=ahead)

    assert data.startswith(got)
    assert chunks[0].offset == 3
    assert error.offset == 3 + len(got)
    assert error.lines == got.count(b"\n")


@pytest.mark.parametrize("garbage", [b"garbage after the frame\n", b"\x00" * 64, b"{}"])
def test_garbage_after_a_valid_zstd_frame_is_corrupt(tmp_path: Path, garbage: bytes) -> None:
    data = ndjson(varied_lines(100))
    path = tmp_path / "garbage.jsonl.zst"
    path.write_bytes(compress(data, "zstd") + garbage)

    got, _, error = _read_until_damage(path, chunk_size=KIB)

    assert got == data
    assert error.lines == data.count(b"\n")
    assert error.offset == len(data)
    assert str(path) in str(error)


def test_garbage_after_a_valid_gzip_member_is_corrupt(tmp_path: Path) -> None:
    data = ndjson(varied_lines(100))
    path = tmp_path / "garbage.jsonl.gz"
    path.write_bytes(compress(data, "gzip") + b"not gzip at all")

    got, _, error = _read_until_damage(path, chunk_size=KIB)

    assert got == data
    assert "corrupt gzip" in error.reason


def test_corrupted_zstd_block_is_corrupt_not_silently_short(tmp_path: Path) -> None:
    data = ndjson(varied_lines(2_000))
    full = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(data))
    middle = len(full) // 2
    full[middle : middle + 32] = bytes(32)
    path = tmp_path / "flipped.jsonl.zst"
    path.write_bytes(bytes(full))

    got, _, error = _read_until_damage(path, chunk_size=KIB)

    assert len(got) < len(data)
    assert error.offset == len(got)


def test_a_chunk_splits_into_its_first_lines_and_the_rest() -> None:
    chunk = Chunk(b"a\nbb\n\nccc\nd", first_line=10, offset=100)
    head, tail = chunk.split(2)
    assert (head.data, head.first_line, head.offset, head.physical_lines()) == (
        b"a\nbb\n",
        10,
        100,
        2,
    )
    assert (tail.data, tail.first_line, tail.offset, tail.physical_lines()) == (
        b"\nccc\nd",
        12,
        105,
        3,
    )
    assert tail.newlines().tolist() == [0, 4]
    assert tail.line_at(106) == b"ccc"
    whole, rest = chunk.split(10)
    assert whole is chunk and rest.data == b"" and rest.physical_lines() == 0


def test_consecutive_chunks_join_into_the_chunk_a_larger_size_reads(tmp_path: Path) -> None:
    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 50)}"}}'.encode() for i in range(2_000)]
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    small = list(iter_chunks(path, chunk_size=4096))

    joined = Chunk.consecutive(small[1:4])

    (whole,) = iter_chunks(path, chunk_size=1 << 30)
    start = small[1].offset
    assert joined.data == whole.data[start : start + len(joined.data)]
    assert (joined.first_line, joined.offset) == (small[1].first_line, start)
    assert joined.physical_lines() == sum(c.physical_lines() for c in small[1:4])
    # The newlines the parts knew are the joined chunk's, found again or not.
    found_again = Chunk(joined.data, joined.first_line, joined.offset).newlines()
    assert joined.newline_positions is not None
    assert joined.newline_positions.tolist() == found_again.tolist()
    with pytest.raises(ValueError, match="do not follow"):
        Chunk.consecutive([small[0], small[2]])


def test_chunks_read_ahead_are_the_chunks_read_here(tmp_path: Path) -> None:
    data = ndjson(varied_lines(3_000)) + b'{"last": "line without a newline"}'
    path = tmp_path / "ahead.jsonl.zst"
    path.write_bytes(compress(data, "zstd"))
    here = list(ArchiveReader(path, 4 * KIB))
    ahead = list(read_ahead(ArchiveReader(path, 4 * KIB)))
    assert len(here) > 10
    assert [(c.data, c.first_line, c.offset) for c in ahead] == [
        (c.data, c.first_line, c.offset) for c in here
    ]
    assert [c.physical_lines() for c in ahead] == [c.physical_lines() for c in here]
    assert_provenance_consistent(ahead, data)
