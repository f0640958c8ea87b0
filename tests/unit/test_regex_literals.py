"""The literal text a regex demands: what the prefilter may ask of a line for a Sigma `re`."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrohunt.regex_literals import (
    NOTHING,
    UNICODE_FOLDED_ASCII,
    Every,
    Required,
    Some,
    Text,
    required_literals,
)


@pytest.mark.parametrize(
    ("regex", "flags", "expected"),
    [
        ("abc(def)?ghi", "", Every((Text("abc"), Text("ghi")))),
        ("(foo)+bar", "", Every((Text("foo"), Text("bar")))),
        ("x(?:ab|cd)y", "", Every((Text("x"), Some((Text("ab"), Text("cd"))), Text("y")))),
        ("ab|c*", "", NOTHING),  # one alternative demands nothing
        ("a.*b", "", Every((Text("a"), Text("b")))),
        # Under `i`, k and s also match the Kelvin sign and the long s: runs are cut there.
        ("mask", "i", Text("ma")),
        ("(?i)taskkill", "", Every((Text("ta"), Text("ill")))),
        ("café", "i", Text("caf")),  # and at non-ASCII letters
        ("café", "", Text("café")),
        # Rust-only syntax that Python reads as literal text: demands nothing.
        (r"\<word\>", "", NOTHING),
        (r"\b{start}word", "", NOTHING),
        ("[[:alpha:]]xyz", "", NOTHING),
        ("[a-z&&[^aeiou]]xyz", "", NOTHING),
        ("(?x) a b c", "", NOTHING),
        (r"\\<literal", "", Text("\\<literal")),  # an escaped backslash, then "<"
    ],
)
def test_required_literals(regex: str, flags: str, expected: Required) -> None:
    assert required_literals(regex, flags) == expected


def test_the_unicode_folded_ascii_letters_are_those_polars_folds() -> None:
    # Every ASCII letter whose case-insensitive match in Polars' regex engine (Rust, Unicode
    # simple case folding) reaches a character outside ASCII must be in the set.
    others = pl.Series([chr(c) for c in range(0x80, 0x3000)])
    folded = {
        letter
        for letter in map(chr, range(ord("A"), ord("z") + 1))
        if letter.isalpha() and others.str.contains(f"(?i)^{re.escape(letter)}$").any()
    }
    assert folded == set(UNICODE_FOLDED_ASCII)


def _holds(needed: Required, value: str, caseless: bool) -> bool:
    if isinstance(needed, Text):
        return (needed.value.lower() in value.lower()) if caseless else needed.value in value
    results = [_holds(part, value, caseless) for part in needed.parts]
    return all(results) if isinstance(needed, Every) else any(results)


_PIECES = ["ab", "K", "s", "x", "(?:cd|ef)", "[0-9]", ".", "(gh)?", "(ij)+", "é", "\\.", "a*"]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6),
    flags=st.sampled_from(["", "i"]),
    value=st.text(alphabet="abcdefghijKksSxé.0\u212a\u017f", max_size=12),
)
def test_every_match_holds_the_demanded_text(pieces: list[str], flags: str, value: str) -> None:
    regex = "".join(pieces)
    needed = required_literals(regex, flags)
    matched = pl.Series([value]).str.contains(f"(?{flags}){regex}" if flags else regex).item()
    if matched:
        assert _holds(needed, value, caseless="i" in flags), (regex, value, needed)
