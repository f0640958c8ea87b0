"""Sigma's gt / gte / lt / lte modifiers: compiled, matched, prefiltered (a range demands no
text) and evaluated the same as the reference evaluator, on ports written as strings and as
numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import falcon_network, jsonl, make_archive
from retrohunt.compiler import NumberCompare, compile_rules
from retrohunt.reference import number_compare, reference_alerts
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import select_sources

RULE = """
title: Unusual ports
name: UnusualPorts
logsource: {category: network_connection}
detection:
  high:
    DestinationPort|gte: 40000
  low:
    DestinationPort|lt: 2.5
  overflow:
    DestinationPort|gt: 65535
  condition: (high or low) and not overflow
"""

PORTS: list[int | str] = [
    "40000",
    40001,
    "39999",
    39999,
    "2",
    2,
    "3",
    "65535",
    "65536",
    "abc",
    "",
    "-7",
]
EXPECTED = {"40000", "40001", "2", "65535", "-7"}


def test_the_modifiers_compile_to_number_comparisons(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(textwrap.dedent(RULE))
    (rule,) = compile_rules([tmp_path]).rules
    leaves = {repr(n) for n in _leaves(rule.condition)}
    assert repr(NumberCompare("DestinationPort", "gte", 40000)) in leaves
    assert repr(NumberCompare("DestinationPort", "lt", 2.5)) in leaves
    assert repr(NumberCompare("DestinationPort", "gt", 65535)) in leaves


def _leaves(node: object) -> list[object]:
    children = getattr(node, "children", None)
    if children is not None:
        return [leaf for child in children for leaf in _leaves(child)]
    child = getattr(node, "child", None)
    return _leaves(child) if child is not None else [node]


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "no-prefilter"])
def test_ports_compare_as_numbers_whatever_their_spelling(tmp_path: Path, prefilter: bool) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rule.yml").write_text(textwrap.dedent(RULE))
    lines = jsonl(falcon_network("198.51.100.7", port) for port in PORTS)
    archive = make_archive(tmp_path, lines)
    result = scan(
        ScanOptions(archives=(archive,), out=tmp_path / "out", rules=(tmp_path / "rules",),
                    prefilter=prefilter)
    )  # fmt: skip
    alerted = sorted(str(PORTS[n - 1]) for n in result.alerts["line_number"])
    assert alerted == sorted(str(p) for p in PORTS if str(p) in EXPECTED)
    reference = reference_alerts(lines, result.plan, select_sources(None))
    assert {(n, "UnusualPorts") for n in result.alerts["line_number"]} == reference


@pytest.mark.parametrize(
    ("value", "op", "number", "expected"),
    [
        ("10", "gt", 9, True), ("9", "gt", 9, False), ("9", "gte", 9, True),
        ("9.5", "lt", 10, True), ("1e3", "gt", 1, False), (None, "lt", 1, False),
        ("-1", "lte", -1, True), (" 5", "gt", 1, False),
    ],
)  # fmt: skip
def test_the_reference_comparison(
    value: str | None, op: str, number: float, expected: bool
) -> None:
    assert number_compare(value, op, number) is expected


def test_neq_excludes_one_value(tmp_path: Path) -> None:
    rule = RULE.replace("DestinationPort|gte: 40000", "DestinationPort|neq: 40000")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rule.yml").write_text(textwrap.dedent(rule))
    lines = jsonl(falcon_network("198.51.100.7", port) for port in ("40000", "40001", "1"))
    archive = make_archive(tmp_path, lines)
    result = scan(
        ScanOptions(archives=(archive,), out=tmp_path / "out", rules=(tmp_path / "rules",))
    )
    assert sorted(result.alerts["line_number"]) == [2, 3]  # 40001 and 1; not 40000
    reference = reference_alerts(lines, result.plan, select_sources(None))
    assert reference == {(2, "UnusualPorts"), (3, "UnusualPorts")}
