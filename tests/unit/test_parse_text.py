"""event_texts, the vectorised keyword text, equals event_text (its naive twin) on every line."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrohunt import parse
from retrohunt.parse import event_text, event_texts

# Pieces of a JSON string's content: plain text, every kind of escape (lone surrogates,
# too), and what is not allowed there (a raw control character, a bad escape).
STRING_PIECES = st.one_of(
    st.text(st.characters(exclude_characters='"\\', exclude_categories=["Cc", "Cs"])),
    st.sampled_from(["\\\\", '\\"', "\\/"]),
    st.sampled_from(["\\n", "\\t", "\\r", "\\b", "\\f", "\\u00e9", "\\u0041", "\\ud83d\\ude00"]),
    st.sampled_from(["\\ud800", "\\udc00x", "\\u0000", "\\u00", "\\x", "\\", "\t", "\x00"]),
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


LINES = st.one_of(
    json_values().map(str.encode),
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
        (rb'{"a":"\u00e9"}', True),  # other escapes: event_text
        (rb'{"a":"x\ty"}', True),
        (b'{"a":"\\\\ \t"}', True),  # a control character in an escaped string
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


def test_no_lines() -> None:
    assert texts([]) == []
