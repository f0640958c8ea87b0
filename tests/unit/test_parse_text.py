"""event_texts, the vectorised keyword text, equals event_text (its naive twin) on every line."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrohunt import parse
from retrohunt.parse import event_text, event_texts


def u_escape(code: int, upper: list[bool]) -> str:
    """`\\u` and the code's four hex digits, each in the case asked for."""
    return "\\u" + "".join(
        d.upper() if up else d for d, up in zip(f"{code:04x}", upper, strict=True)
    )


CASES = st.lists(st.booleans(), min_size=4, max_size=4)
SURROGATES = st.integers(0xD800, 0xDFFF)
CODES = st.one_of(
    st.integers(0, 0xFFFF),
    SURROGATES,
    # Edges: NUL and the last control character, `"`, `\`, `/` (escaped as `\u` they must
    # not be decoded again), the characters around the surrogates, the last of the BMP.
    st.sampled_from([0x0, 0x1F, 0x20, 0x22, 0x2F, 0x5C, 0x75, 0x7F, 0xD7FF, 0xE000, 0xFFFE]),
    st.sampled_from([0xFFFF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF]),
)
U_ESCAPES = st.builds(u_escape, CODES, CASES)
# A surrogate pair (high, low), or the wrong way round.
SURROGATE_PAIRS = st.builds(
    lambda high, low, c1, c2, swap: (
        u_escape(low, c2) + u_escape(high, c1) if swap else u_escape(high, c1) + u_escape(low, c2)
    ),
    st.integers(0xD800, 0xDBFF),
    st.integers(0xDC00, 0xDFFF),
    CASES,
    CASES,
    st.booleans(),
)
# A run of backslashes before what may be read as an escape: `\\u00e9` is an escaped
# backslash and `u00e9`; `\\\u00e9` is an escaped backslash and é.
BACKSLASH_RUNS = st.builds(
    lambda n, after: "\\" * n + after,
    st.integers(1, 5),
    st.one_of(U_ESCAPES.map(lambda e: e[1:]), st.sampled_from(['"', "n", "t", "/", "x", ""])),
)
PLAIN = st.text(st.characters(exclude_characters='"\\', exclude_categories=["Cc", "Cs"]))
PAIR_ESCAPES = st.sampled_from(["\\\\", '\\"', "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
CHARACTER_ESCAPES = st.builds(
    u_escape, CODES.filter(lambda code: not 0xD800 <= code <= 0xDFFF), CASES
)
# Pieces of well-formed strings that event_texts decodes itself: plain text, the escapes
# of characters, and escaped backslashes before what would be a `\u` escape without them.
GOOD_PIECES = st.one_of(
    PLAIN,
    PAIR_ESCAPES,
    CHARACTER_ESCAPES,
    st.builds(
        lambda n, after: "\\\\" * n + after,
        st.integers(1, 3),
        st.one_of(U_ESCAPES.map(lambda e: e[1:]), CHARACTER_ESCAPES, PAIR_ESCAPES),
    ),
)
GOOD_STRINGS = st.lists(GOOD_PIECES, max_size=6).map(lambda pieces: '"' + "".join(pieces) + '"')
# JSON objects of such strings (keys, too), and numbers.
GOOD_LINES = st.lists(
    st.tuples(GOOD_STRINGS, st.one_of(GOOD_STRINGS, st.sampled_from(["1", "-2.5e3", "true"]))),
    max_size=4,
).map(lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}")
# Pieces of a JSON string's content: plain text, every kind of escape (lone surrogates,
# too), and what is not allowed there (a raw control character, a bad escape).
STRING_PIECES = st.one_of(
    PLAIN,
    PAIR_ESCAPES,
    U_ESCAPES,
    SURROGATE_PAIRS,
    BACKSLASH_RUNS,
    st.sampled_from(["\\u00e9", "\\u0041", "\\ud83d\\ude00", "\\\\u00e9", "\\u005c\\u00e9"]),
    st.sampled_from(["\\ud800", "\\udc00x", "\\u00", "\\u00g9", "\\U00e9", "\\x", "\\"]),
    st.sampled_from(["\t", "\x00", "\x1f", "\x7f", "\n", "\u2028"]),
)
STRINGS = st.lists(STRING_PIECES, max_size=6).map(lambda pieces: '"' + "".join(pieces) + '"')
# Between strings: what JSON puts there, and what it never does (a backslash, a stray quote).
BETWEEN = st.sampled_from([":", ",", "{", "}", "[", "]", " ", "3.5e2", "true", "null", "\\", '"'])
# Any text built of such strings and such glue, so not always valid JSON.
TEXT_LINES = st.lists(st.one_of(STRINGS, BETWEEN), max_size=12).map("".join)


def json_values(depth: int = 2) -> st.SearchStrategy[str]:
    """JSON text with random strings (escapes and all), not always valid."""
    scalars = st.one_of(STRINGS, st.sampled_from(["1", "-0.5", "2e10", "true", "null"]))
    if depth == 0:
        return scalars
    inner = json_values(depth - 1)
    members = st.lists(st.tuples(STRINGS, inner), max_size=4)
    return st.one_of(
        scalars,
        members.map(lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"),
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
    )


# Lines as JSON encoders write them: any text (control characters, non-BMP characters...)
# escaped as `\\u` (surrogate pairs beyond the BMP) or written as is.
DUMPED = st.builds(
    json.dumps,
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(), st.lists(st.text(), max_size=3))),
    ensure_ascii=st.booleans(),
)

LINES = st.one_of(
    json_values().map(str.encode),
    GOOD_LINES.map(str.encode),
    DUMPED.map(str.encode),
    TEXT_LINES.map(str.encode),
    # Invalid UTF-8 somewhere: a stray byte, a truncated sequence, an encoded surrogate.
    st.tuples(
        TEXT_LINES, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]), TEXT_LINES
    ).map(lambda t: t[0].encode() + t[1] + t[2].encode()),
)


def texts(lines: list[bytes]) -> list[str]:
    return list(event_texts(pl.Series(lines, dtype=pl.Binary)).to_list())


def assert_agree(lines: list[bytes]) -> None:
    expected = [event_text(line) for line in lines]
    for text in expected:
        text.encode("utf-8")  # always UTF-8 text, lone surrogate escapes included
    assert texts(lines) == expected


def test_a_lone_surrogate_escape_reads_as_the_replacement_character() -> None:
    assert (
        event_text(b'{"a":"x\\ud800y","b":"\\ud83d\\ude00"}') == '{"a":"x\ufffdy","b":"\U0001f600"}'
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=20))
def test_event_texts_equals_event_text_on_every_line(lines: list[bytes]) -> None:
    assert_agree(lines)


@settings(max_examples=300, deadline=None)
@given(st.lists(GOOD_LINES.map(str.encode), max_size=10))
def test_event_texts_decodes_well_formed_escapes_itself(lines: list[bytes]) -> None:
    calls: list[bytes] = []

    def counted(line: bytes) -> str:
        calls.append(line)
        return event_text(line)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(parse, "event_text", counted)
        actual = texts(lines)
    assert calls == []
    assert actual == [event_text(line) for line in lines]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(STRING_PIECES, max_size=6).map("".join), min_size=1, max_size=4))
def test_event_texts_equals_event_text_on_json_objects(values: list[str]) -> None:
    line = "{" + ",".join(f'"k{i}":"{value}"' for i, value in enumerate(values)) + "}"
    assert_agree([line.encode()])


@pytest.mark.parametrize(
    ("line", "naive"),
    [
        (b'{"a":"plain","b":3}', False),
        (rb'{"CommandLine":"C:\\Windows\\x.exe \"q\" http:\/\/x","Image":"C:\\a"}', False),
        (rb'{"a":"\u00e9","b":"\u00C9\u0000\uffff\uD7FF\uE000"}', False),
        (rb'{"a":"x\ty\r\n\b\f"}', False),
        (rb'{"a":"C:\\u00e9 \\\u00e9 \u005c\u0022"}', False),
        (b'{"a":"x\ty"}', False),  # no escape at all: the line as it is
        (rb'{"a":"\ud83d\ude00"}', True),  # surrogate escapes: event_text
        (rb'{"a":"\ud800"}', True),
        (rb'{"a":"\uDFFF","b":"\u00e9"}', True),
        (rb'{"a":"\u00"}', True),  # not an escape
        (rb'{"a":"\U00e9"}', True),
        (rb'{"a":"\x"}', True),
        (b'{"a":"\\\\ \t"}', True),  # a control character in an escaped string
        (b'{"a":"\\u00e9\x1f"}', True),
        (rb'{"a":"x"}\\', True),  # a backslash outside strings
        (rb'"\\', True),  # a string never closed
        (b'{"a":"\\\\ \xff"}', True),  # invalid UTF-8
    ],
)
def test_only_other_lines_go_to_event_text(
    line: bytes, naive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []

    def counted(line: bytes) -> str:
        calls.append(line)
        return event_text(line)

    monkeypatch.setattr(parse, "event_text", counted)

    assert texts([line]) == [event_text(line)]
    assert calls == ([line] if naive else [])


def test_simple_escapes_are_decoded() -> None:
    value = 'C:\\Users\\o"brien\\ http://x/'
    line = json.dumps({"CommandLine": value}).replace("/", "\\/").encode()

    assert texts([line]) == ['{"CommandLine": "' + value + '"}']


def test_other_escapes_are_decoded() -> None:
    line = rb'{"a":"\u00e9\u00C9 \\u00e9 \\\u00e9 \u005cu00e9 \u0022 \uFFFF\u0000\b\f\n\r\t"}'

    assert texts([line, rb'{"b":"\\u00e9"}']) == [
        '{"a":"\u00e9\u00c9 \\u00e9 \\\u00e9 \\u00e9 " \uffff\x00\b\f\n\r\t"}',
        '{"b":"\\u00e9"}',
    ]


def test_no_lines() -> None:
    assert texts([]) == []
