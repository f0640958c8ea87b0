"""Typed predicates as Polars expressions: numbers, CIDR ranges (IPv4 and IPv6), regular
expressions, field references, null, exists."""

from __future__ import annotations

import ipaddress
from functools import partial

import polars as pl

from retrohunt.compiler.plan import COMPARISONS

_INTEGER = r"^-?[0-9]+$"
_DECIMAL = r"^-?[0-9]+(?:\.[0-9]+)?$"
_IPV4 = r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$"


def integer_column(column: str) -> str:
    """Name of the derived column holding `column` read as an integer."""
    return f"_rh_int:{column}"


def decimal_column(column: str) -> str:
    """Name of the derived column holding `column` read as a decimal number."""
    return f"_rh_dec:{column}"


def ipv4_column(column: str) -> str:
    """Name of the derived column holding `column` read as an IPv4 address (integer)."""
    return f"_rh_ipv4:{column}"


def derived_columns(numbers: set[str], addresses: set[str]) -> list[pl.Expr]:
    """Parse each field once per frame, however many predicates test it: integers and
    decimals for number predicates, IPv4 integers for CIDR predicates."""
    exprs: list[pl.Expr] = []
    for column in sorted(numbers):
        text = pl.col(column)
        exprs.append(
            pl.when(text.str.contains(_INTEGER))
            .then(text.cast(pl.Int64, strict=False))
            .alias(integer_column(column))
        )
        exprs.append(
            pl.when(text.str.contains(_DECIMAL))
            .then(text.cast(pl.Float64, strict=False))
            .alias(decimal_column(column))
        )
    exprs.extend(ipv4_value(column).alias(ipv4_column(column)) for column in sorted(addresses))
    return exprs


def number_equals(column: str, number: int | float) -> pl.Expr:
    """The column's text is a decimal number equal to `number` (needs `derived_columns`).

    Values arrive as JSON strings or numbers (both read as text): "3333" and 3333 both
    equal 3333; "3333.0" equals 3333 only when the rule's number is not an integer either.
    """
    parsed = integer_column(column) if isinstance(number, int) else decimal_column(column)
    return (pl.col(parsed) == number).fill_null(False)


def number_compare(column: str, op: str, number: int | float) -> pl.Expr:
    """The column's text is a decimal number that compares to `number` by `op` (lt, lte,
    gt, gte; needs `derived_columns`); text that is not a number never does."""
    compared: pl.Expr = COMPARISONS[op](pl.col(decimal_column(column)), number)
    return compared.fill_null(False)


def ipv4_value(column: str) -> pl.Expr:
    """The column's dotted-quad IPv4 address as an integer, null when it is not one."""
    octets = pl.col(column).str.extract_groups(_IPV4)
    parts = [octets.struct.field(str(i)).cast(pl.Int64, strict=False) for i in range(1, 5)]
    valid = pl.all_horizontal([p <= 255 for p in parts])
    value = (parts[0] * 16777216) + (parts[1] * 65536) + (parts[2] * 256) + parts[3]
    return pl.when(valid).then(value).otherwise(None).alias(column)


def cidr_contains(column: str, network: str, *, derived: bool = True) -> pl.Expr:
    """The column holds an IP address inside `network`; anything else (invalid, null) is
    false. With `derived`, IPv4 reads the column `derived_columns` parsed once per frame;
    without, it parses the text itself (for small frames such as alerts)."""
    net = ipaddress.ip_network(network, strict=False)
    if isinstance(net, ipaddress.IPv4Network):
        address = pl.col(ipv4_column(column)) if derived else ipv4_value(column)
        low = int(net.network_address)
        high = int(net.broadcast_address)
        return address.is_between(low, high).fill_null(False)
    return (
        pl.col(column)
        .map_batches(partial(_ipv6_in, network=net), return_dtype=pl.Boolean)
        .fill_null(False)
    )


def _ipv6_in(values: pl.Series, network: ipaddress.IPv6Network) -> pl.Series:
    # IPv6 text has too many spellings (::, zero runs, embedded IPv4) to parse in Polars, so
    # the distinct values that could be IPv6 are parsed once each; rows are never looped over.
    candidates = values.filter(values.str.contains(":", literal=True)).unique().to_list()
    inside = [text for text in candidates if _ipv6_inside(text, network)]
    return values.is_in(pl.Series(inside, dtype=pl.String).implode()).fill_null(False)


def _ipv6_inside(text: str, network: ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.IPv6Address(text) in network
    except ValueError:
        return False


def regex_problem(expression: str) -> str | None:
    """Why Polars' regex engine cannot compile `expression` (None when it can).

    The engine is Rust's `regex` crate: finite automata, linear in the text, no
    backtracking; it refuses what needs backtracking (back-references, look-around).
    """
    try:
        pl.Series([""]).str.contains(expression)
    except pl.exceptions.PolarsError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = [line for line in lines if line.startswith("error:")]
        return (detail or lines or ["invalid regular expression"])[-1].removeprefix("error: ")
    return None


def regex_search(column: str, expression: str) -> pl.Expr:
    """The regular expression finds a match in the column's text (null: false)."""
    return pl.col(column).str.contains(expression).fill_null(False)


_UPPER = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
_LOWER = [letter.lower() for letter in _UPPER]


def ascii_folded(column: str) -> pl.Expr:
    """The column with ASCII capitals lowered (and nothing else: Sigma's string matching
    folds ASCII letters only, as the Hyperscan matcher does)."""
    return pl.col(column).str.replace_many(_UPPER, _LOWER)


def field_compare(column: str, other: str, how: str) -> pl.Expr:
    """`column|fieldref: other`: equal, or starts with / ends with / contains the other
    field's value (`how`), ASCII letter case aside; false when either is null."""
    value, reference = ascii_folded(column), ascii_folded(other)
    if how == "equals":
        compared = value == reference
    elif how == "startswith":
        compared = value.str.starts_with(reference)
    elif how == "endswith":
        compared = value.str.ends_with(reference)
    else:
        compared = value.str.contains(reference, literal=True)
    return compared.fill_null(False)


def is_null(column: str) -> pl.Expr:
    """The field is absent or null."""
    return pl.col(column).is_null()


def exists(column: str, expected: bool) -> pl.Expr:
    """`field|exists: expected`."""
    present = pl.col(column).is_not_null()
    return present if expected else ~present
