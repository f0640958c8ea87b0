"""The literal text a regular expression cannot match without: what the prefilter may demand
of a line for a Sigma `re` value.

A regex is parsed with Python's own parser (`re._parser`, the only regex parser in the
standard library); runs of literal characters that every match must contain become
demands, alternations become "one of", optional parts demand nothing. The matcher runs the
regex with Rust's `regex` crate (through Polars), whose syntax differs from Python's in a
few places where Python reads a literal and Rust does not; such a regex demands nothing:

* `\\<`, `\\>` and `\\b{...}` are word-boundary assertions in Rust, literal text in Python;
* a `[` inside a class, and `&&`, `--`, `~~` inside a class, are nested classes and set
  operations in Rust (Python warns about them: a warning is treated as "demands nothing");
* verbose mode (`x`), where Rust also ignores white space inside classes.

With case folding (`i`), Rust folds Unicode simple case: `k` also matches the Kelvin sign
and `s` the long s, and non-ASCII letters their other cases. The prefilter folds ASCII only,
so under `i` a literal run is cut at those characters.
"""

from __future__ import annotations

import importlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

# Private modules, but the parser Python's `re` itself uses (Python 3.11+); any failure to
# read its output makes the regex demand nothing, which is always safe.
_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")

# ASCII letters that Unicode simple case folding pairs with a non-ASCII character: k/K with
# U+212A KELVIN SIGN, s/S with U+017F LATIN SMALL LETTER LONG S (tests/unit pins this set
# against Polars' regex engine).
UNICODE_FOLDED_ASCII = frozenset("kKsS")

_FOLD_CUT = re.compile("[" + "".join(sorted(UNICODE_FOLDED_ASCII)) + r"]|[^\x00-\x7f]")
_RUST_ONLY_ESCAPES = re.compile(r"\\(?:[<>]|[bB]\{)")


@dataclass(frozen=True, slots=True)
class Text:
    """This literal text occurs in every match."""

    value: str


@dataclass(frozen=True, slots=True)
class Every:
    """All parts hold (no parts: nothing is demanded)."""

    parts: tuple[Required, ...]


@dataclass(frozen=True, slots=True)
class Some:
    """At least one part holds."""

    parts: tuple[Required, ...]


Required = Text | Every | Some
NOTHING = Every(())


def required_literals(regex: str, flags: str = "") -> Required:
    """What text every match of `regex` (with Sigma flags `i`, `m`, `s`) must contain.

    Conservative: when in doubt, `NOTHING`.
    """
    if "x" in flags or _has_rust_only_syntax(regex):
        return NOTHING
    python_flags = re.IGNORECASE if "i" in flags else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = _parser.parse(regex, python_flags)
    except (re.error, Warning, RecursionError, ValueError, TypeError):
        return NOTHING
    state_flags = parsed.state.flags
    if state_flags & re.VERBOSE:
        return NOTHING
    try:
        return _sequence(list(parsed), bool(state_flags & re.IGNORECASE))
    except (AttributeError, TypeError, ValueError, IndexError):  # an unexpected parse shape
        return NOTHING


def _has_rust_only_syntax(regex: str) -> bool:
    # Escapes are read pairwise so that `\\<` (a backslash, then "<") is not taken for `\<`.
    position = 0
    while True:
        found = regex.find("\\", position)
        if found < 0:
            return False
        if _RUST_ONLY_ESCAPES.match(regex, found):
            return True
        position = found + 2


def _sequence(items: list[Any], caseless: bool) -> Required:
    demands: list[Required] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            demands.extend(_runs("".join(run), caseless))
            run.clear()

    for op, argument in items:
        if op is _sre.LITERAL:
            run.append(chr(argument))
            continue
        flush()
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, body = argument
            if (add_flags | del_flags) & re.VERBOSE:
                return NOTHING
            inner = (caseless or bool(add_flags & re.IGNORECASE)) and not (
                del_flags & re.IGNORECASE
            )
            # A scoped (?-i:...) inside a caseless regex stays caseless here: folding more
            # letters than the regex does only demands less.
            demands.append(_sequence(list(body), caseless or inner))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
            low, _high, body = argument
            if low >= 1:
                demands.append(_sequence(list(body), caseless))
        elif op is _sre.BRANCH:
            _unused, alternatives = argument
            demands.append(_some(_sequence(list(alt), caseless) for alt in alternatives))
        elif op is getattr(_sre, "ATOMIC_GROUP", None):
            demands.append(_sequence(list(argument), caseless))
        # Anything else (a class, `.`, an anchor, a look-around, a back-reference) matches
        # text that is not known here: it demands nothing, and ends the literal run.
    flush()
    return _every(demands)


def _runs(text: str, caseless: bool) -> list[Required]:
    """A literal run, cut where the prefilter's ASCII folding would not see the match."""
    if not caseless:
        return [Text(text)]
    pieces = _FOLD_CUT.split(text)
    return [Text(piece) for piece in pieces if piece]


def _every(parts: list[Required]) -> Required:
    kept = [p for p in parts if p != NOTHING]
    if len(kept) == 1:
        return kept[0]
    return Every(tuple(kept))


def _some(parts: Any) -> Required:
    options = list(parts)
    if any(option == NOTHING for option in options):
        return NOTHING  # one alternative demands nothing: so does the alternation
    return options[0] if len(options) == 1 else Some(tuple(options))
