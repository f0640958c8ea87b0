"""Run every rule case file (tests/cases/README.md) in every compression, against the reference."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
import zstandard

from retrohunt.compiler import compile_rules
from retrohunt.reference import reference_alerts
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import SOURCES

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    line: bytes
    alerts: frozenset[str]


def _load() -> dict[str, list[Case]]:
    files: dict[str, list[Case]] = {}
    for path in sorted(CASES.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases = []
        for entry in doc["cases"]:
            if "raw" in entry:
                line = entry["raw"].encode("utf-8")
            else:
                event = {"aid": "0" * 32, "timestamp": "1700000000123", **entry["event"]}
                line = json.dumps(event).encode("utf-8")
            cases.append(Case(path.stem, entry["name"], line, frozenset(entry["alerts"])))
        files[str(path.relative_to(CASES))] = cases
    return files


FILES = _load()
COMPRESSORS = {
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "gzip": gzip.compress,
    "none": lambda data: data,
}


def test_every_bundled_rule_has_a_case_file() -> None:
    plan = compile_rules()
    covered = {name for cases in FILES.values() for name in _rules_of(cases)}
    assert {rule.name for rule in plan.rules} <= covered


def _rules_of(cases: list[Case]) -> set[str]:
    return {name for case in cases for name in case.alerts}


@pytest.mark.parametrize("compression", sorted(COMPRESSORS))
@pytest.mark.parametrize("case_file", sorted(FILES))
def test_cases(case_file: str, compression: str, tmp_path: Path) -> None:
    cases = FILES[case_file]
    archive = tmp_path / "cases.bin"
    archive.write_bytes(COMPRESSORS[compression](b"\n".join(c.line for c in cases) + b"\n"))
    plan = compile_rules()
    result = scan(ScanOptions((archive,), out=tmp_path / "out"), plan=plan)
    got: dict[int, set[str]] = {}
    for row in result.alerts.iter_rows(named=True):
        got.setdefault(row["line_number"], set()).add(row["rule_name"])
    reference: dict[int, set[str]] = {}
    for line, rule in reference_alerts([c.line for c in cases], plan, SOURCES.values()):
        reference.setdefault(line, set()).add(rule)
    failures = []
    for number, case in enumerate(cases, start=1):
        fast = got.get(number, set())
        if fast != case.alerts or reference.get(number, set()) != case.alerts:
            failures.append(
                f"{case_file}::{case.name}: expected {sorted(case.alerts)}, "
                f"fast path {sorted(fast)}, reference {sorted(reference.get(number, set()))}"
            )
    assert not failures, "\n".join(failures)
