"""Typed predicates and timestamp parsing as Polars expressions, on small frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from retrohunt.match.predicates import (
    cidr_contains,
    derived_columns,
    exists,
    ipv4_value,
    is_null,
    number_equals,
)
from retrohunt.sources.timestamps import parse_event_time


def column(values: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.String)})
    return frame.with_columns(derived_columns({"v"}, {"v"}))


def test_number_equals_reads_decimal_text_only() -> None:
    frame = column(["3333", "03333", "3333.0", " 3333", "x", None, "99999999999999999999"])
    got = frame.select(number_equals("v", 3333).alias("v"))["v"].to_list()
    assert got == [True, True, False, False, False, False, False]
    assert column(["3333.0", "3333"]).select(number_equals("v", 3333.0).alias("v"))[
        "v"
    ].to_list() == [
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("172.15.255.255", False),
        ("172.16.0.0", True),
        ("172.31.255.255", True),
        ("172.32.0.0", False),
        ("14.241.850.329", False),
        ("1.2.3.4 5.6.7.8", False),
        ("", False),
        (None, False),
    ],
)
def test_ipv4_cidr(address: str | None, inside: bool) -> None:
    got = column([address]).select(cidr_contains("v", "172.16.0.0/12").alias("v"))["v"].to_list()
    assert got == [inside]


def test_ipv4_value() -> None:
    assert column(["1.2.3.4", "256.0.0.1"]).select(ipv4_value("v"))["v"].to_list() == [
        16909060,
        None,
    ]


@pytest.mark.parametrize(
    ("address", "inside"),
    [("::1", True), ("0:0:0:0:0:0:0:1", True), ("::2", False), ("127.0.0.1", False), ("x", False)],
)
def test_ipv6_cidr(address: str, inside: bool) -> None:
    assert column([address]).select(cidr_contains("v", "::1/128").alias("v"))["v"].to_list() == [
        inside
    ]


def test_null_and_exists() -> None:
    frame = column(["a", None, ""])
    assert frame.select(is_null("v"))["v"].to_list() == [False, True, False]
    assert frame.select(exists("v", True))["v"].to_list() == [True, False, True]
    assert frame.select(exists("v", False))["v"].to_list() == [False, True, False]


@pytest.mark.parametrize(
    "text",
    [
        "1700000000",
        "1700000000.000",
        "1700000000000",
        "1700000000000000",
        "133444736000000000",
        "2023-11-14T22:13:20Z",
        "2023-11-14 22:13:20.000Z",
        "2023-11-14 22:13:20.000",
    ],
)
def test_event_time_units(text: str) -> None:
    got = column([text]).select(parse_event_time(pl.col("v")))["v"][0]
    assert got == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_unreadable_time_is_null() -> None:
    assert column(["soon", None]).select(parse_event_time(pl.col("v")))["v"].to_list() == [
        None,
        None,
    ]
