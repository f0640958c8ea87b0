"""parse_chunk: every good line becomes a row with exact provenance; bad lines are isolated."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any
from unittest import mock

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import falcon_network, falcon_process, jsonl
from retrohunt import parse as parse_module
from retrohunt.archive import Chunk
from retrohunt.compiler.plan import KEYWORD_FIELD
from retrohunt.parse import LINE_COLUMN, OFFSET_COLUMN, ParsedChunk, event_text, parse_chunk

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


def test_every_column_of_a_big_chunk_comes_in_one_piece() -> None:
    # The reader cuts its output per block of input; every later expression would pay per
    # piece (a single source's normalising ran 2.6 times slower on 66 pieces).
    line = json.dumps({"event_simpleName": "ProcessRollup2", "CommandLine": "x" * 200})
    data = (line + "\n").encode() * 40_000  # 9 MB: several reader blocks

    parsed = parse(data)

    assert parsed.frame.height == 40_000
    assert {column.n_chunks() for column in parsed.frame.get_columns()} == {1}


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


# The reader for schemas wide in nested fields (`str.json_decode`, with Polars' NDJSON reader
# for the lines it cannot read) against Polars' NDJSON reader on the whole chunk, which it
# must equal: the same frame, or None where the NDJSON reader fails or skips a line.

KEYS = ["a", "b", "n", "l", "x", "k", "Event.Image", "_rh_text"]
# Fields enough that the schema is read by json_decode (asserted in the test).
PAD = {"_pad": pl.Struct({f"p{i}": pl.String() for i in range(parse_module._WIDE)})}


def nested_dtypes() -> st.SearchStrategy[pl.DataType]:
    def wrap(children: st.SearchStrategy[pl.DataType]) -> st.SearchStrategy[pl.DataType]:
        fields = st.dictionaries(st.sampled_from(KEYS), children, min_size=1, max_size=3)
        return fields.map(pl.Struct) | fields.map(lambda f: pl.List(pl.Struct(f)))

    return st.recursive(st.just(pl.String()), wrap, max_leaves=6)


SCHEMAS = st.dictionaries(st.sampled_from(KEYS), nested_dtypes(), min_size=1, max_size=4)
NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
STRING_PIECES = st.one_of(
    st.text(st.characters(exclude_characters='"\\', exclude_categories=["Cc", "Cs"]), max_size=4),
    st.sampled_from(["\\\\", '\\"', "\\/", "\\n", "\\t", "\\u00e9", "\\ud83d\\ude00", "\\u0000"]),
    st.sampled_from([""] * 40 + ["\\ud800", "\\x", "\t"]),  # a lone surrogate; not JSON
)
STRINGS = st.lists(STRING_PIECES, max_size=4).map(lambda pieces: '"' + "".join(pieces) + '"')


def members(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


SCALARS = st.one_of(NUMBERS, STRINGS, st.sampled_from(["true", "false", "null"]))
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
        | st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=3).map(members)
    ),
    max_leaves=5,
)
RARELY = st.sampled_from([False] * 40 + [True])
SPACE = st.sampled_from(["", "", "", " ", "\t", "\r"])


def value_of(draw: st.DrawFn, dtype: pl.DataType) -> str:
    """A JSON value for `dtype`: mostly of its shape, sometimes of any shape."""
    if draw(RARELY):
        return draw(ANY_VALUE)
    if isinstance(dtype, pl.List):
        items = draw(st.lists(st.just(dtype.inner), max_size=3))
        return "[" + ",".join(value_of(draw, item) for item in items) + "]"
    if isinstance(dtype, pl.Struct):
        return object_of(draw, {f.name: f.dtype for f in dtype.fields})
    return draw(SCALARS)


def spelled(draw: st.DrawFn, key: str) -> str:
    """`key` as a JSON string, mostly plain, sometimes with a character as a `\\u` escape."""
    if not key or draw(st.sampled_from([True] * 4 + [False])):
        return json.dumps(key)
    at = draw(st.integers(0, len(key) - 1))
    return json.dumps(key[:at])[:-1] + f"\\u{ord(key[at]):04x}" + json.dumps(key[at + 1 :])[1:]


def object_of(draw: st.DrawFn, fields: Mapping[str, Any]) -> str:
    """A JSON object with some of `fields` (and maybe other or repeated keys)."""
    keys = draw(st.lists(st.sampled_from([*fields, "other", *KEYS]), max_size=5))
    space = draw(SPACE)
    pairs = [
        f"{spelled(draw, key)}{space}:{space}"
        + (value_of(draw, fields[key]) if key in fields else draw(ANY_VALUE))
        for key in keys
    ]
    return "{" + f",{space}".join(pairs) + "}"


@st.composite
def chunks(draw: st.DrawFn, schema: Mapping[str, pl.DataType]) -> bytes:
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["object"] * 30 + ["junk", "bom", "blank", "bad utf-8"]))
        if kind == "junk":
            line = draw(st.sampled_from(["null", "[1]", "3", '"s"', "{", '{"a":1,}', "  ", "\t"]))
        elif kind == "bom":
            line = "\ufeff" + object_of(draw, schema)
        elif kind == "blank":
            line = ""
        else:
            line = object_of(draw, schema)
        raw = line.encode()
        if kind == "bad utf-8":
            raw = raw.replace(b'"', b'"\xff', 1)
        lines.append(raw)
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    return end.join(lines) + draw(st.sampled_from([b"", end]))


def ndjson_reader(data: bytes, schema: Mapping[str, pl.DataType], rows: int) -> pl.DataFrame | None:
    try:
        frame = pl.read_ndjson(io.BytesIO(data), schema=dict(schema))
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == rows else None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_wide_schema_reader_equals_the_ndjson_reader(data: st.DataObject) -> None:
    schema = {**data.draw(SCHEMAS), **PAD}
    chunk = data.draw(chunks(schema))
    assert parse_module._decodable(schema)
    starts, ends = parse_module._line_bounds(chunk)
    rows = np.flatnonzero(ends > starts)

    with mock.patch.object(parse_module, "_MANY", 1):  # json_decode for a few lines, too
        got = parse_module._read_rows(chunk, schema, starts[rows], ends[rows])

    expected = ndjson_reader(chunk, schema, len(rows))
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got.schema == expected.schema
        assert got.equals(expected)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_a_chunk_reads_as_the_ndjson_reader_reads_it_whichever_keys_it_lacks(
    data: st.DataObject,
) -> None:
    # parse_chunk leaves out of the read the keys no line can have (key_presence): the
    # frame must be the one the NDJSON reader gives with every key of the schema read.
    drawn = {**data.draw(SCHEMAS), **data.draw(st.sampled_from([{}, PAD]))}
    # (the keyword text column is the line's text, not a key: other tests see to it)
    schema = {k: v for k, v in drawn.items() if k != KEYWORD_FIELD} or {"b": pl.String()}
    chunk = data.draw(chunks(schema))
    starts, ends = parse_module._line_bounds(chunk)
    expected = ndjson_reader(chunk, schema, int(np.count_nonzero(ends > starts)))

    with (
        mock.patch.object(parse_module, "_MANY", data.draw(st.sampled_from([1, 128]))),
        mock.patch.object(parse_module, "_KEYS_WORTH_LOOKING_FOR", 1),  # however few keys
    ):
        parsed = parse_chunk(Chunk(chunk, 1, 0), schema)

    if expected is not None:  # else bad lines, which the reader cannot isolate
        assert parsed.bad == []
        assert parsed.frame.drop(LINE_COLUMN, OFFSET_COLUMN).equals(expected)


WIDE = {"CommandLine": pl.String(), "Event": pl.Struct({"Data": pl.String(), **PAD})}


def test_wide_schema_reads_only_odd_lines_with_the_ndjson_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [
        b'{"CommandLine":"a","Event":{"Data":"x","_pad":{"p1":3333.0}}}',
        b'{"CommandLine":"b","Event":{"Data":[{"@Name":"Image","#text":"c.exe"}]}}',
        b'{"CommandLine":"c","Event":null}',
    ]
    read: list[bytes] = []

    def spy(data: bytes, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
        read.append(data)
        return ndjson_reader(data, schema, data.count(b"\n") + 1)

    monkeypatch.setattr(parse_module, "_read", spy)
    monkeypatch.setattr(parse_module, "_MANY", 1)
    monkeypatch.setattr(parse_module, "_KEYS_WORTH_LOOKING_FOR", 10**9)  # read every key

    parsed = parse_chunk(Chunk(b"\n".join(lines) + b"\n", 1, 0), WIDE)

    assert read == [lines[1]]  # the list where a text is read
    expected = pl.read_ndjson(io.BytesIO(b"\n".join(lines)), schema=WIDE)
    assert parsed.frame.drop(LINE_COLUMN, OFFSET_COLUMN).equals(expected)
    assert parsed.frame["Event"].struct.field("Data").to_list() == [
        "x",
        expected["Event"].struct.field("Data")[1],
        None,
    ]
    assert parsed.frame["Event"].struct.field("_pad").struct.field("p1").to_list() == [
        "3333",
        None,
        None,
    ]


@pytest.mark.parametrize(
    "line", [b"null", b'{"Event":"text"}', b'{"Event":{"Data":"unterminated}}']
)
def test_wide_schema_still_finds_bad_lines(line: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_module, "_MANY", 1)
    data = b'{"CommandLine":"a"}\n' + line + b'\n{"CommandLine":"c"}\n'

    parsed = parse_chunk(Chunk(data, 1, 0), WIDE)

    assert parsed.frame["CommandLine"].to_list() == (
        ["a", None, "c"] if line.startswith(b'{"Event":"') else ["a", "c"]
    )
    if line.startswith(b'{"Event":"'):  # read without the nested column, as before
        assert parsed.bad == []
        assert parsed.frame["Event"].to_list() == [None, None, None]
    else:
        (bad,) = parsed.bad
        assert bad.raw == line
        assert bad.line_number == 2


def test_wide_schema_chunk_equals_the_ndjson_reader_and_event_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = {**WIDE, KEYWORD_FIELD: pl.String()}
    events: list[dict[str, Any]] = [
        {
            "CommandLine": f'C:\\Windows\\x{i}.exe "q" é http://x/{i}',
            "Event": {"Data": [{"@Name": "Image"}] if i % 7 == 0 else i * 1.5, "_pad": {}},
        }
        for i in range(parse_module._MANY * 2)
    ]
    lines = [
        json.dumps(event, ensure_ascii=i % 3 == 0).replace("/", "\\/" if i % 2 else "/").encode()
        for i, event in enumerate(events)
    ]
    data = b"\n".join(lines) + b"\n"
    decoded: list[int] = []
    decode = parse_module._decode

    def spy(text: pl.Series, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
        decoded.append(len(text))
        return decode(text, schema)

    monkeypatch.setattr(parse_module, "_decode", spy)
    monkeypatch.setattr(parse_module, "_KEYS_WORTH_LOOKING_FOR", 10**9)  # read every key

    parsed = parse_chunk(Chunk(data, 1, 0), schema)

    assert decoded == [len(lines) - len(lines[::7])]
    expected = pl.read_ndjson(io.BytesIO(data), schema=schema).with_columns(
        pl.Series(KEYWORD_FIELD, [event_text(line) for line in lines], dtype=pl.String)
    )
    assert parsed.frame.drop(LINE_COLUMN, OFFSET_COLUMN).equals(expected)
    assert parsed.frame[LINE_COLUMN].to_list() == list(range(1, len(lines) + 1))


def test_keys_no_line_has_are_left_out_of_the_read_at_any_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = {f"F{i}": pl.String() for i in range(parse_module._KEYS_WORTH_LOOKING_FOR)}
    schema = {
        "Event": pl.Struct(
            {"EventData": pl.Struct(fields), "System": pl.Struct({"Channel": pl.String()})}
        ),
        "Records": pl.List(pl.Struct(fields)),
    }
    lines = [
        b'{"Event":{"EventData":{"F1":"a","F7":2},"System":{"Level":4}}}',
        b'{"Event":null}',
        b'{"Event":{"EventData":{}}}',
        b'{"Event":{"EventData":{"F7":"b","Other":"\\"F9\\""}}}',
    ]
    data = b"\n".join(lines) + b"\n"
    read: list[Mapping[str, pl.DataType]] = []
    real = parse_module._read_rows

    def spy(data: bytes, schema: Mapping[str, pl.DataType], *bounds: Any) -> pl.DataFrame | None:
        read.append(schema)
        return real(data, schema, *bounds)

    monkeypatch.setattr(parse_module, "_read_rows", spy)

    parsed = parse_chunk(Chunk(data, 1, 0), schema)

    # Only the keys some line has; a struct whose every field is absent keeps its first.
    assert read == [
        {
            "Event": pl.Struct(
                {
                    "EventData": pl.Struct({"F1": pl.String(), "F7": pl.String()}),
                    "System": pl.Struct({"Channel": pl.String()}),
                }
            )
        }
    ]
    frame = parsed.frame.drop(LINE_COLUMN, OFFSET_COLUMN)
    assert frame.schema == pl.Schema(schema)
    assert frame.equals(pl.read_ndjson(io.BytesIO(data), schema=schema))
    assert frame["Event"].to_list()[1] is None  # a null object stays null, not all-null fields
