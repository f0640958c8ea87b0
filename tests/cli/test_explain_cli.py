"""`retrohunt rules explain`: per rule, what the prefilter demands and what the process join
can do; the library's `explain` behind it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from retrohunt.cli import main
from retrohunt.compiler import compile_rules
from retrohunt.explain import (
    EVENT_TYPES,
    EVERY_LINE,
    JOIN_DROPS,
    JOIN_NONE,
    JOIN_RAISES,
    PREFILTERED,
    explain,
)
from retrohunt.sources import AUTO, SOURCES

BUNDLED = [
    "AWSInstanceLaunch",
    "ContainerCredentialExfiltration",
    "DownloaderInContainer",
    "MinerCommandLineArgs",
    "MinerInContainer",
    "MinerProcessExecution",
    "MiningPoolDNSLookup",
    "MiningPoolNetworkConnection",
]


def rule_file(folder: Path, name: str, logsource: str, detection: str) -> Path:
    """A rule file; `logsource` is the inside of a YAML flow mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(
        f"title: {name}\nid: {uuid.uuid5(uuid.NAMESPACE_DNS, name)}\nname: {name}\n"
        f"level: low\nlogsource: {{{logsource}}}\ndetection:\n{detection}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def custom_rules(tmp_path: Path) -> Path:
    """One rule per prefilter mode and per process-join effect."""
    folder = tmp_path / "rules"
    rule_file(
        folder,
        "PortOnly",  # a port range: no text to demand, falls back to its event types
        "category: network_connection",
        "  sel:\n    DestinationPort|cidr: '0.0.0.0/0'\n  high:\n    Initiated: 'true'\n"
        "  condition: high and not sel\n",
    )
    rule_file(
        folder,
        "AnyProcess",  # no category, nothing to demand: every line
        "product: linux",
        "  sel:\n    User|exists: true\n  condition: sel\n",
    )
    rule_file(
        folder,
        "CurlTalks",  # tests a joined field positively: the join can raise alerts
        "category: network_connection",
        "  sel:\n    Image|endswith: '/curl'\n    DestinationPort: 443\n  condition: sel\n",
    )
    return folder


def by_name(rules: Any) -> dict[str, Any]:
    return {rule["name"] if isinstance(rule, dict) else rule.name: rule for rule in rules}


def test_explain_the_bundled_pack() -> None:
    explanation = explain(compile_rules(None))

    rules = by_name(explanation.rules)
    assert sorted(rules) == BUNDLED
    assert all(rule.mode == PREFILTERED for rule in explanation.rules)
    network = rules["MiningPoolNetworkConnection"]
    assert "3333" in network.atoms
    assert network.join == JOIN_DROPS  # the browser filter: joined images only drop alerts
    assert network.joined_fields == ("Image",)
    assert rules["MiningPoolDNSLookup"].join == JOIN_NONE
    assert rules["MinerProcessExecution"].join == JOIN_NONE  # process events are not joined
    assert "xmrig" in rules["MinerProcessExecution"].condition
    assert explanation.patterns >= len({a for r in explanation.rules for a in r.atoms})
    assert explanation.process_join
    assert not explanation.every_line


def test_explain_every_mode_and_join_effect(custom_rules: Path) -> None:
    plan = compile_rules([custom_rules])
    assert not plan.refused, plan.refused

    rules = by_name(explain(plan).rules)
    falcon = by_name(explain(plan, "falcon").rules)

    # Falcon names its network events; Sysmon's are EventID 3 as a key-anchored number.
    assert falcon["PortOnly"].mode == EVENT_TYPES
    assert '"NetworkConnectIP4"' in falcon["PortOnly"].atoms
    assert rules["PortOnly"].mode == EVENT_TYPES
    assert '"EventID": 3' in rules["PortOnly"].atoms
    assert rules["AnyProcess"].mode == EVERY_LINE
    assert rules["AnyProcess"].atoms == ()
    assert rules["CurlTalks"].join == JOIN_RAISES
    assert rules["CurlTalks"].mode == PREFILTERED
    assert explain(plan).every_line


def test_explain_without_a_join_source() -> None:
    explanation = explain(compile_rules(None), "sysmon")

    assert explanation.sources == ("sysmon",)
    assert not explanation.process_join
    assert {rule.join for rule in explanation.rules} == {JOIN_NONE}


def test_rules_explain_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "explain"])

    out = capsys.readouterr().out
    assert code == 0
    assert f"{explain(compile_rules(None)).patterns} Hyperscan patterns" in out
    for name in BUNDLED:
        assert name in out
    assert "can only drop" in out
    assert "prefiltered" in out


def test_rules_explain_json_for_machines(
    custom_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rules", "explain", "--rules", str(custom_rules), "--json", "--source", "falcon"])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["sources"] == ["falcon"]
    rules = by_name(document["rules"])
    assert rules["PortOnly"]["mode"] == "event types"
    assert rules["AnyProcess"]["mode"] == "every line"
    assert rules["CurlTalks"]["join"] == "can raise"
    assert rules["CurlTalks"]["joined_fields"] == ["Image"]
    assert isinstance(document["patterns"], int)
    assert document["refused_rules"] == []


def test_rules_explain_shows_fallbacks_in_words(
    custom_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "explain", "--rules", str(custom_rules), "--source", "falcon"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "falls back to its event types" in out
    assert "every line" in out


def test_rules_explain_exits_3_on_a_refused_rule(
    custom_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule_file(
        custom_rules,
        "RegexOnly",
        "category: process_creation",
        "  sel:\n    CommandLine|re: 'a(?=b)'\n  condition: sel\n",
    )

    code = main(["rules", "explain", "--rules", str(custom_rules), "--json"])

    captured = capsys.readouterr()
    assert code == 3
    assert "RegexOnly" in captured.err
    assert any("RegexOnly" in r for r in json.loads(captured.out)["refused_rules"])


def test_rules_explain_source_auto_explains_every_source(
    custom_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--source auto` (the default, as in scan) recognises each line: the rules are
    explained over every source, as `explain(plan)` does."""
    args = ["rules", "explain", "--rules", str(custom_rules), "--json"]
    assert main([*args, "--source", "auto"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    default = json.loads(capsys.readouterr().out)

    assert auto == default
    assert auto["sources"] == list(SOURCES)
    expected = explain(compile_rules([custom_rules]), AUTO)
    assert by_name(auto["rules"]) == {
        rule.name: json.loads(json.dumps(dataclasses.asdict(rule))) for rule in expected.rules
    }
    # Sysmon's event id stands in for the port-only rule's text, not Falcon's event name.
    assert '"EventID": 3' in by_name(auto["rules"])["PortOnly"]["atoms"]
    assert main(["rules", "explain", "--source", "auto"]) == 0
    assert ", ".join(SOURCES) in " ".join(capsys.readouterr().out.split())


def test_rules_explain_usage_and_missing_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "explain", "--source", "syslog"]) == 2
    assert "must be auto or one of" in " ".join(capsys.readouterr().err.split())
    assert main(["rules", "explain", "--rules", str(tmp_path / "nowhere")]) == 3
    assert "nowhere" in capsys.readouterr().err
