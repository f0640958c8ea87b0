"""Sigma filter rules apply to the rules they name (or to every rule of their logsource),
and compiled plans are cached by the rule set's digest: a second load parses nothing, a
changed rule file is compiled again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import retrohunt.compiler.load as load
from conftest import make_archive
from retrohunt.compiler import compile_rules
from retrohunt.reference import reference_alerts
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import select_sources

RULE = """
title: Whoami
name: Whoami
id: 5f1e2d3c-0000-4000-8000-000000000001
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\\\\whoami.exe'
  condition: sel
"""
OTHER = """
title: Net user
name: NetUser
id: 5f1e2d3c-0000-4000-8000-000000000002
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\\\\net.exe'
  condition: sel
"""
FILTER = """
title: Admin jump host is expected
name: AdminHostFilter
id: 5f1e2d3c-0000-4000-8000-0000000000ff
logsource: {category: process_creation, product: windows}
filter:
  rules: {rules}
  selection:
    Computer|startswith: 'ADMIN-'
  condition: not selection
"""


def _event(image: str, computer: str) -> bytes:
    event = {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": computer,
        "Image": image,
    }
    return json.dumps(event).encode()


LINES = [
    _event("C:\\Windows\\System32\\whoami.exe", "WS-1"),
    _event("C:\\Windows\\System32\\whoami.exe", "ADMIN-7"),
    _event("C:\\Windows\\System32\\net.exe", "ADMIN-7"),
    _event("C:\\Windows\\System32\\net.exe", "WS-2"),
]


def _rules(folder: Path, filter_rules: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "whoami.yml").write_text(RULE)
    (folder / "net.yml").write_text(OTHER)
    (folder / "filters").mkdir(exist_ok=True)
    (folder / "filters" / "admin.yml").write_text(FILTER.replace("{rules}", filter_rules))
    return folder


@pytest.mark.parametrize(
    ("filter_rules", "expected"),
    [
        ("[5f1e2d3c-0000-4000-8000-000000000001]", {(1, "Whoami"), (3, "NetUser"), (4, "NetUser")}),
        ("[Whoami]", {(1, "Whoami"), (3, "NetUser"), (4, "NetUser")}),  # by name
        ("any", {(1, "Whoami"), (4, "NetUser")}),
    ],
)
def test_a_filter_excludes_events_from_the_rules_it_names(
    tmp_path: Path, filter_rules: str, expected: set[tuple[int, str]]
) -> None:
    rules = _rules(tmp_path / "rules", filter_rules)
    archive = make_archive(tmp_path, LINES)

    result = scan(ScanOptions(archives=(archive,), out=tmp_path / "out", rules=(rules,)))

    assert not result.plan.refused
    assert len(result.plan.rules) == 2  # the filter is not a rule of its own
    got = set(zip(result.alerts["line_number"], result.alerts["rule_name"], strict=True))
    assert got == expected
    assert reference_alerts(LINES, result.plan, select_sources(None)) == expected


def test_a_filter_of_another_logsource_does_not_apply(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules", "any")
    text = (rules / "filters" / "admin.yml").read_text()
    (rules / "filters" / "admin.yml").write_text(text.replace("process_creation", "dns_query"))
    plan = compile_rules([rules])
    assert all("Computer" not in plan.rule_fields(rule) for rule in plan.rules)


def test_a_broken_filter_is_refused_by_name(tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules", "any")
    text = (rules / "filters" / "admin.yml").read_text()
    (rules / "filters" / "admin.yml").write_text(text.replace("  rules: any\n", ""))
    plan = compile_rules([rules])
    (refused,) = plan.refused
    assert refused.construct == "filter" and refused.rule == "AdminHostFilter"
    assert "rules" in refused.message


def test_the_second_load_comes_from_the_cache_and_a_changed_file_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETROHUNT_CACHE_DIR", str(tmp_path / "cache"))
    rules = _rules(tmp_path / "rules", "any")
    compiles: list[int] = []
    real = load._compile_sources

    def counting(*args: object, **kwargs: object) -> object:
        compiles.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "_compile_sources", counting)
    first = compile_rules([rules])
    second = compile_rules([rules])
    assert len(compiles) == 1 and second == first

    (rules / "net.yml").write_text(OTHER.replace("net.exe", "net1.exe"))
    third = compile_rules([rules])
    assert len(compiles) == 2 and third.digest != first.digest
    assert any(p.display.endswith("net1.exe") for p in third.patterns)

    monkeypatch.setenv("RETROHUNT_CACHE_DIR", "off")
    compile_rules([rules])
    assert len(compiles) == 3


def test_a_cached_plan_still_refuses_under_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETROHUNT_CACHE_DIR", str(tmp_path / "cache"))
    rules = _rules(tmp_path / "rules", "any")
    (rules / "bad.yml").write_text(RULE.replace("0001", "0003").replace("endswith", "re"))
    (rules / "bad.yml").write_text(
        (rules / "bad.yml").read_text().replace("'\\\\whoami.exe'", "'(a)\\1'")
    )
    assert compile_rules([rules]).refused  # cached now
    with pytest.raises(Exception, match="backreferences"):
        compile_rules([rules], strict=True)


def test_an_unreadable_cache_entry_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETROHUNT_CACHE_DIR", str(tmp_path / "cache"))
    rules = _rules(tmp_path / "rules", "any")
    plan = compile_rules([rules])
    for entry in (tmp_path / "cache").glob("*.plan"):
        entry.write_bytes(b"not a pickle")
    assert compile_rules([rules]) == plan
