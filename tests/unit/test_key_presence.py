"""key_presence.absent_keys: a key some line has is never called absent, however written."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from retrohunt.key_presence import absent_keys

NAMES = ["Event", "Image", "Event.EventData.Image", "a.b", "é", "x y", 'q"uote', "back\\slash"]


def spelled(draw: st.DrawFn, key: str) -> str:
    """`key` as a JSON string, sometimes with a character (or all) written as an escape."""
    how = draw(st.sampled_from(["plain", "plain", "one", "all", "ascii"]))
    if how == "ascii":
        return json.dumps(key, ensure_ascii=True)
    if how == "plain" or not key:
        return json.dumps(key, ensure_ascii=False)
    chars = [json.dumps(c, ensure_ascii=False)[1:-1] for c in key]
    positions = range(len(key)) if how == "all" else [draw(st.integers(0, len(key) - 1))]
    for i in positions:
        chars[i] = "".join(f"\\u{unit:04{draw(st.sampled_from('xX'))}}" for unit in _units(key[i]))
    return '"' + "".join(chars) + '"'


def _units(char: str) -> list[int]:
    encoded = char.encode("utf-16-be")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


@st.composite
def lines(draw: st.DrawFn) -> tuple[bytes, set[str]]:
    """A JSON object line with some of NAMES (and others) as keys, nested or not, and
    values that look like keys; with the top-level keys it has."""
    keys = draw(st.lists(st.sampled_from([*NAMES, "other", "Data"]), max_size=4))
    space = draw(st.sampled_from(["", " ", "\t", "\r\n "]))
    members = []
    for key in keys:
        value = draw(
            st.sampled_from(
                ['"v"', '"\\"Image\\": 1"', "1.5", '{"Image": "x"}', '[{"a.b": 2}]', '"C:\\\\x"']
            )
        )
        members.append(f"{spelled(draw, key)}{space}:{space}{value}")
    line = "{" + f",{space}".join(members) + "}"
    return line.encode("utf-8"), set(json.loads(line))


@settings(max_examples=400, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=4))
def test_no_key_a_line_has_is_called_absent(batch: list[tuple[bytes, set[str]]]) -> None:
    data = b"\n".join(line for line, _ in batch)
    present = set().union(*(keys for _, keys in batch))

    absent = absent_keys(data, NAMES)

    assert not present & set(absent)
    assert set(absent) <= set(NAMES)


def test_a_key_nested_deeper_counts_as_present_one_quoted_in_a_value_does_not() -> None:
    data = b'{"Event": {"Image": "a.exe"}, "x": "\\"Data\\": 1"}\n{"CommandLine": "b"}'

    assert absent_keys(data, ["Event", "Image", "CommandLine", "User", "Data", "a.b"]) == [
        "User",
        "Data",
        "a.b",
    ]


def test_an_escaped_key_anywhere_makes_every_key_possible() -> None:
    data = b'{"Ev\\u0065nt": 1}\n{"CommandLine": "b"}'

    assert absent_keys(data, ["User", "Event"]) == []


def test_empty_data_has_no_keys() -> None:
    assert absent_keys(b"", ["a"]) == ["a"]
    assert absent_keys(b"{}", []) == []
