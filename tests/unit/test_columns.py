"""The column matcher: segment layout, anchoring and a Hyperscan end-of-buffer trap."""

from __future__ import annotations

import polars as pl
import pytest

from retrohunt.compiler.plan import StringPattern, Wildcard
from retrohunt.hyperscan_db import compile_patterns, pattern_expression
from retrohunt.match.columns import pattern_hits

ANY, ONE = Wildcard.ANY, Wildcard.ONE


def hits_of(patterns: list[StringPattern], values: list[str | None]) -> dict[int, list[bool]]:
    frame = pl.DataFrame({"F": pl.Series(values, dtype=pl.String)})
    return {
        pid: mask.tolist() for pid, mask in pattern_hits(frame, compile_patterns(patterns)).items()
    }


@pytest.mark.parametrize(
    ("parts", "expression"),
    [
        ((), rb"\xff\xfe"),
        ((ANY,), rb"\xff"),
        (("ab",), rb"\xffab\xfe"),
        (("ab", ANY), rb"\xffab"),
        ((ANY, "ab"), rb"ab\xfe"),
        ((ANY, "abc", ANY), rb"abc"),
        # reported once per value: a short literal recurs, a wildcard inside lets it recur
        ((ANY, "ab", ANY), rb"ab[^\xfe\xff]*\xfe"),
        ((ANY, "abc", ANY, "d", ANY), rb"abc[^\xfe\xff]*d[^\xfe\xff]*\xfe"),
        ((ANY, "a", ANY, "b"), rb"a[^\xfe\xff]*b\xfe"),
        (
            ("a", ONE),
            rb"\xffa(?:[\x00-\x7f]|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})\xfe",
        ),
    ],
)
def test_expressions_carry_only_the_anchors_the_value_has(
    parts: tuple[str | Wildcard, ...], expression: bytes
) -> None:
    assert pattern_expression(parts) == expression


def test_a_match_at_the_very_end_of_the_buffer_is_found() -> None:
    # Hyperscan 5.4 misses `\xff\xfe` (the empty value) ending exactly at the end of a
    # buffer of 17 bytes or more when the database also holds this second pattern; the
    # matcher pads its buffers so that no match ends there.
    patterns = [
        StringPattern(0, "F", ()),
        StringPattern(1, "F", ("stratum+tcp://", ANY, "xmrig")),
    ]
    for length in range(1, 40):
        assert hits_of(patterns, ["x" * length, ""]) == {0: [False, True]}, length


def test_values_are_matched_in_their_own_row_only() -> None:
    patterns = [
        StringPattern(0, "F", (ANY, "rig", ANY)),
        StringPattern(1, "F", ("xm", ANY)),
        StringPattern(2, "F", (ANY, "ig")),
        StringPattern(3, "F", (ANY,)),
    ]
    values = ["xmrig", None, "rigxm", "", "ig"]
    assert hits_of(patterns, values) == {
        0: [True, False, True, False, False],
        1: [True, False, False, False, False],
        2: [True, False, False, False, True],
        3: [True, False, True, True, True],
    }


def test_null_values_never_match_even_the_empty_pattern() -> None:
    assert hits_of([StringPattern(0, "F", ())], [None, None, "a"]) == {}
