"""parse_chunk: every good line becomes a row with exact provenance; bad lines are isolated."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import falcon_network, falcon_process, jsonl
from retrohunt.archive import Chunk
from retrohunt.parse import LINE_COLUMN, OFFSET_COLUMN, ParsedChunk, parse_chunk

SCHEMA: dict[str, pl.DataType] = {
    "event_simpleName": pl.String(),
    "CommandLine": pl.String(),
    "RemotePort": pl.String(),
}


def parse(data: bytes, first_line: int = 1, offset: int = 0) -> ParsedChunk:
    return parse_chunk(Chunk(data, first_line, offset), SCHEMA)


def rows(parsed: ParsedChunk, column: str = "CommandLine") -> list[tuple[int, int, str | None]]:
    """(line number, byte offset, value) of every parsed row, in frame order."""
    frame = parsed.frame
    return list(
        zip(
            frame[LINE_COLUMN].to_list(),
            frame[OFFSET_COLUMN].to_list(),
            frame[column].to_list(),
            strict=True,
        )
    )


def test_frame_has_schema_columns_plus_provenance() -> None:
    parsed = parse(b'{"CommandLine":"a","Other":"ignored"}\n')

    assert parsed.frame.columns == [*SCHEMA, LINE_COLUMN, OFFSET_COLUMN]
    assert parsed.frame[LINE_COLUMN].dtype == pl.Int64
    assert parsed.frame[OFFSET_COLUMN].dtype == pl.Int64


def test_provenance_is_relative_to_the_chunk_start() -> None:
    data = b'{"CommandLine":"a"}\n{"CommandLine":"bb"}\n'

    parsed = parse(data, first_line=101, offset=5_000)

    assert rows(parsed) == [(101, 5_000, "a"), (102, 5_020, "bb")]
    assert parsed.lines == 2
    assert parsed.bad == []


def test_blank_and_whitespace_lines_are_skipped_but_numbered() -> None:
    data = b'{"CommandLine":"one"}\n\n   \n\t \n{"CommandLine":"five"}\n\n'

    parsed = parse(data, first_line=10, offset=1_000)

    assert rows(parsed) == [
        (10, 1_000, "one"),
        (14, 1_000 + data.index(b'{"CommandLine":"five'), "five"),
    ]
    assert parsed.lines == 2
    assert parsed.bad == []


def test_blank_lines_around_a_bad_line_keep_numbers_right() -> None:
    data = b'\n{"CommandLine":"two"}\n  \n{oops\n\n{"CommandLine":"six"}\n'

    parsed = parse(data, first_line=1, offset=0)

    assert rows(parsed) == [
        (2, data.index(b'{"CommandLine":"two'), "two"),
        (6, data.index(b'{"CommandLine":"six'), "six"),
    ]
    (bad,) = parsed.bad
    assert (bad.line_number, bad.byte_offset, bad.raw) == (4, data.index(b"{oops"), b"{oops")
    assert parsed.lines == 3


def test_crlf_lines_parse_with_offsets_of_line_starts() -> None:
    data = b'{"CommandLine":"a"}\r\n\r\n{"CommandLine":"b"}\r\n{broken\r\n'

    parsed = parse(data, offset=3)

    assert rows(parsed) == [(1, 3, "a"), (3, 3 + 23, "b")]
    (bad,) = parsed.bad
    assert bad.line_number == 4
    assert bad.byte_offset == 3 + data.index(b"{broken")
    assert bad.raw == b"{broken"  # without the CR


def test_last_line_without_newline_is_parsed() -> None:
    parsed = parse(b'{"CommandLine":"a"}\n{"CommandLine":"end"}', first_line=7)

    assert rows(parsed) == [(7, 0, "a"), (8, 20, "end")]


def test_invalid_json_line_is_reported_and_the_others_parsed() -> None:
    good = jsonl([falcon_process(command_line="first"), falcon_process(command_line="third")])
    broken = b'{"event_simpleName":"ProcessRollup2","CommandLine":"unterminated}'
    data = good[0] + b"\n" + broken + b"\n" + good[1] + b"\n"

    parsed = parse(data, first_line=41, offset=9_000)

    assert [value for _, _, value in rows(parsed)] == ["first", "third"]
    assert [line for line, _, _ in rows(parsed)] == [41, 43]
    (bad,) = parsed.bad
    assert bad.line_number == 42
    assert bad.byte_offset == 9_000 + len(good[0]) + 1
    assert bad.raw == broken
    assert bad.reason.startswith("invalid JSON")
    assert parsed.lines == 3


@pytest.mark.parametrize(
    "line",
    [b"[1,2,3]", b"[]", b'[{"CommandLine":"x"}]', b"3333", b"-1.5", b"null", b'"text"', b"true"],
)
def test_json_that_is_not_an_object_is_reported_as_such(line: bytes) -> None:
    data = b'{"CommandLine":"before"}\n' + line + b'\n{"CommandLine":"after"}\n'

    parsed = parse(data)

    assert [value for _, _, value in rows(parsed)] == ["before", "after"]
    (bad,) = parsed.bad
    assert (bad.line_number, bad.byte_offset, bad.raw) == (2, 25, line)
    assert bad.reason == "not a JSON object"


@pytest.mark.parametrize(
    "line",
    [
        b"{bad",
        b'{"CommandLine":"a"} trailing',
        b'{"CommandLine":"a"}{"CommandLine":"b"}',
        b'{"CommandLine":"a",}',
        b"{'CommandLine':'single quotes'}",
        b'{"CommandLine":"a"',
    ],
)
def test_malformed_json_reason_starts_with_invalid_json(line: bytes) -> None:
    parsed = parse(b'{"CommandLine":"ok"}\n' + line + b"\n")

    assert rows(parsed) == [(1, 0, "ok")]
    (bad,) = parsed.bad
    assert bad.raw == line
    assert bad.reason.startswith("invalid JSON")


def test_invalid_utf8_line_is_parsed_with_replacement_and_counted() -> None:
    data = (
        b'{"CommandLine":"ok"}\n'
        b'{"event_simpleName":"ProcessRollup2","CommandLine":"xmrig \xff\xfe -o pool.x"}\n'
        b'{"CommandLine":"caf\xc3\xa9"}\n'
    )

    parsed = parse(data)

    assert rows(parsed) == [
        (1, 0, "ok"),
        (2, 21, "xmrig \ufffd\ufffd -o pool.x"),
        (3, data.index(b'{"CommandLine":"caf'), "café"),
    ]
    assert parsed.invalid_utf8 == 1
    assert parsed.bad == []


def test_truncated_multibyte_sequence_counts_as_invalid_utf8() -> None:
    parsed = parse(b'{"CommandLine":"caf\xc3"}\n{"CommandLine":"b"}\n')

    assert [value for _, _, value in rows(parsed)] == ["caf\ufffd", "b"]
    assert parsed.invalid_utf8 == 1


def test_json_escapes_are_decoded() -> None:
    data = (
        rb'{"CommandLine":"C:\\Windows\\x.exe http:\/\/pool.x \u0078mrig \"q\" '
        rb'\u00e9 \ud83d\ude00"}'
    )

    parsed = parse(data + b"\n")

    assert rows(parsed) == [(1, 0, 'C:\\Windows\\x.exe http://pool.x xmrig "q" é 😀')]


def test_numbers_are_read_as_text() -> None:
    lines = jsonl(
        [
            falcon_network("198.51.100.7", 3333),  # "3333", as Falcon writes it
            {**falcon_network("198.51.100.7", 0), "RemotePort": 3333},
            {**falcon_network("198.51.100.7", 0), "RemotePort": 14444},
        ]
    )

    parsed = parse(b"\n".join(lines) + b"\n")

    assert parsed.frame["RemotePort"].dtype == pl.String
    assert parsed.frame["RemotePort"].to_list() == ["3333", "3333", "14444"]


def test_missing_fields_are_null() -> None:
    parsed = parse(b'{"event_simpleName":"DnsRequest"}\n{}\n')

    assert parsed.frame["CommandLine"].to_list() == [None, None]
    assert parsed.frame["event_simpleName"].to_list() == ["DnsRequest", None]
    assert parsed.lines == 2


def test_chunk_of_only_blank_lines_gives_an_empty_frame() -> None:
    parsed = parse(b"\n\n  \n")

    assert parsed.frame.height == 0
    assert parsed.lines == 0
    assert parsed.bad == []


def test_many_bad_lines_in_a_big_chunk_are_all_found_exactly() -> None:
    total, bad_every = 5_000, 100
    lines: list[bytes] = []
    expected_bad: dict[int, bytes] = {}
    for number in range(1, total + 1):
        if number % bad_every == 37:
            line = f'{{"CommandLine":"line {number}" BROKEN'.encode()
            expected_bad[number] = line
        elif number % 997 == 0:
            line = b"[" + json.dumps({"CommandLine": f"line {number}"}).encode() + b"]"
            expected_bad[number] = line
        else:
            line = json.dumps({"CommandLine": f"line {number}", "RemotePort": number}).encode()
        lines.append(line)
    data = b"\n".join(lines) + b"\n"
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    first_line, offset = 1_000_001, 123_456_789

    parsed = parse(data, first_line=first_line, offset=offset)

    assert len(expected_bad) == 55
    found = {b.line_number - first_line + 1: b for b in parsed.bad}
    assert set(found) == set(expected_bad)
    for number, bad in found.items():
        assert bad.raw == expected_bad[number]
        assert bad.byte_offset == offset + starts[number - 1]
        expected_reason = "not a JSON object" if number % 997 == 0 else "invalid JSON"
        assert bad.reason.startswith(expected_reason)
    good = [n for n in range(1, total + 1) if n not in expected_bad]
    assert rows(parsed) == [(first_line + n - 1, offset + starts[n - 1], f"line {n}") for n in good]
    assert parsed.frame["RemotePort"].to_list() == [str(n) for n in good]
    assert parsed.lines == total
    assert [b.line_number for b in parsed.bad] == sorted(b.line_number for b in parsed.bad)
