"""Plain pattern lists: list files read as Sigma values, `expand` placeholders filled from a
rule folder's `lists/`, and `--patterns FIELD=FILE` rules, through the library and the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import falcon_dns, falcon_process, jsonl, make_archive
from retrohunt.cli import main
from retrohunt.compiler import PatternList, compile_rules
from retrohunt.compiler.lists import find_value_lists, read_value_list
from retrohunt.errors import RulesNotFound
from retrohunt.scan import ScanOptions, scan

STUB = """
title: Mining pool blocklist
name: MiningPoolBlocklist
id: 0b8a3f4e-6f6c-4a55-9d7e-3c9f2d1a7b10
status: experimental
logsource:
  category: dns_query
detection:
  selection:
    QueryName|expand|endswith: '%mining_pools%'
  condition: selection
level: high
"""


def _pack(tmp_path: Path, values: str, stub: str = STUB) -> Path:
    pack = tmp_path / "pack"
    (pack / "lists").mkdir(parents=True)
    (pack / "blocklist.yml").write_text(textwrap.dedent(stub))
    (pack / "lists" / "mining_pools.txt").write_text(values)
    return pack


def test_a_list_file_gives_values_without_comments_blanks_or_repeats(tmp_path: Path) -> None:
    path = tmp_path / "pools.txt"
    path.write_text(
        "\ufeff# pools\n\npool.example.com\n  *.xmr.example.net  \npool.example.com\n"
        "0.0.0.0 hosts.example.org # from a hosts file\n127.0.0.1 local.example.org\n"
    )
    assert read_value_list(path) == (
        "pool.example.com",
        "*.xmr.example.net",
        "hosts.example.org",
        "local.example.org",
    )


def test_a_missing_list_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesNotFound, match="no such pattern list"):
        read_value_list(tmp_path / "gone.txt")


def test_a_rule_stub_takes_its_placeholder_from_the_folders_lists(tmp_path: Path) -> None:
    pack = _pack(tmp_path, "pool.example.com\n*.xmr.example.net\n")
    assert set(find_value_lists([pack])) == {"mining_pools"}
    plan = compile_rules([pack])
    assert [r.name for r in plan.rules] == ["MiningPoolBlocklist"] and not plan.refused
    archive = make_archive(
        tmp_path,
        jsonl(
            [
                falcon_dns("eu.pool.example.com"),  # endswith
                falcon_dns("a.b.xmr.example.net"),  # wildcard value
                falcon_dns("pool.example.com.attacker.io"),  # not at the end
                falcon_dns("example.com"),
            ]
        ),
    )
    alerts = scan(ScanOptions(archives=(archive,), out=tmp_path / "out", rules=(pack,))).alerts
    assert sorted(alerts["domain"]) == ["a.b.xmr.example.net", "eu.pool.example.com"]


def test_a_placeholder_without_a_list_is_refused_by_name(tmp_path: Path) -> None:
    pack = _pack(tmp_path, "pool.example.com\n", STUB.replace("%mining_pools%", "%other%"))
    plan = compile_rules([pack])
    (refused,) = plan.refused
    assert refused.construct == "expand" and "lists/other.txt" in refused.message


def test_a_changed_list_changes_the_rule_set_digest(tmp_path: Path) -> None:
    pack = _pack(tmp_path, "pool.example.com\n")
    before = compile_rules([pack]).digest
    (pack / "lists" / "mining_pools.txt").write_text("pool.example.com\nother.example\n")
    assert compile_rules([pack]).digest != before


@pytest.mark.parametrize(
    ("spec", "field", "modifiers", "category"),
    [
        ("QueryName|endswith=p.txt", "QueryName", ("endswith",), "dns_query"),
        ("Image|endswith=m.txt", "Image", ("endswith",), "process_creation"),
        ("network_connection:DestinationHostname=d.txt", "DestinationHostname", (),
         "network_connection"),
        ("process_creation:CommandLine|contains|all=c.txt", "CommandLine", ("contains", "all"),
         "process_creation"),
    ],
)  # fmt: skip
def test_pattern_specs_parse(
    spec: str, field: str, modifiers: tuple[str, ...], category: str
) -> None:
    parsed = PatternList.parse(spec)
    assert (parsed.field, parsed.modifiers, parsed.category) == (field, modifiers, category)


@pytest.mark.parametrize("spec", ["QueryName", "=x.txt", "Foo=x.txt", "Query Name=x.txt"])
def test_bad_pattern_specs_say_what_is_expected(spec: str) -> None:
    with pytest.raises(ValueError, match=r"FIELD|category"):
        PatternList.parse(spec)


def test_a_pattern_list_becomes_one_rule_with_a_stable_id(tmp_path: Path) -> None:
    miners = tmp_path / "miner-names.txt"
    miners.write_text("# miners\n*/xmrig\n*\\\\minerd.exe\n")
    spec = PatternList.parse(f"Image={miners}")
    plan = compile_rules(patterns=[spec])
    (rule,) = plan.rules
    assert rule.name == "PatternListMinerNames" and rule.category == "process_creation"
    assert compile_rules(patterns=[spec]).rules[0].rule_id == rule.rule_id
    archive = make_archive(
        tmp_path,
        jsonl(
            [
                falcon_process("/tmp/.x/xmrig", "xmrig -o pool"),
                falcon_process("C:\\Windows\\Temp\\minerd.exe", "minerd", event_platform="Win"),
                falcon_process("/usr/bin/xmrig-proxy", "proxy"),
            ]
        ),
    )
    result = scan(ScanOptions(archives=(archive,), out=tmp_path / "out", patterns=(spec,)))
    assert sorted(result.alerts["image"]) == ["/tmp/.x/xmrig", "C:\\Windows\\Temp\\minerd.exe"]
    assert [r.name for r in result.plan.rules] == ["PatternListMinerNames"]  # no bundled pack


def test_patterns_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pools = tmp_path / "pools.txt"
    pools.write_text("0.0.0.0 pool.example.com\n")
    archive = make_archive(tmp_path, jsonl([falcon_dns("eu.pool.example.com")]))
    out = tmp_path / "out"
    spec = f"QueryName|endswith={pools}"
    code = main(["scan", str(archive), "--patterns", spec, "--out", str(out), "-q"])
    assert code == 0
    assert main(["alerts", str(out), "--format", "json"]) == 0
    assert "eu.pool.example.com" in capsys.readouterr().out
    assert main(["scan", str(archive), "--patterns", "Nope=x.txt", "--out", str(out)]) == 2
    assert "--patterns" in capsys.readouterr().err


def test_a_fifty_thousand_entry_list_is_one_rule(tmp_path: Path) -> None:
    pools = tmp_path / "pools.txt"
    pools.write_text("".join(f"pool{i}.miner{i % 97}.example\n" for i in range(50_000)))
    plan = compile_rules(patterns=[PatternList.parse(f"QueryName|endswith={pools}")])
    assert len(plan.rules) == 1 and len(plan.patterns) >= 50_000
