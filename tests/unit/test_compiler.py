"""The rule compiler: what it compiles, what it refuses, and how it says so."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from retrohunt.compiler import (
    And,
    CidrMatch,
    Exists,
    IsNull,
    Not,
    NumberEquals,
    Or,
    StringMatch,
    Wildcard,
    bundled_rules_dir,
    compile_rules,
    find_allowlists,
    find_rule_files,
)
from retrohunt.errors import InvalidRule, RulesNotFound

RULE = """\
title: Test rule
id: {id}
name: {name}
level: medium
logsource: {{category: process_creation}}
detection:
{detection}
"""


def write_rule(folder: Path, name: str, detection: str, rule_id: str | None = None) -> Path:
    path = folder / f"{name}.yml"
    body = textwrap.indent(textwrap.dedent(detection).strip(), "  ")
    rule_id = rule_id or f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}"
    path.write_text(RULE.format(id=rule_id, name=name, detection=body), encoding="utf-8")
    return path


def test_bundled_pack_compiles_every_branch() -> None:
    plan = compile_rules()
    assert {r.name for r in plan.rules} == {
        "MinerProcessExecution",
        "MiningPoolNetworkConnection",
        "MiningPoolDNSLookup",
        "MinerCommandLineArgs",
        "MinerInContainer",
        "DownloaderInContainer",
        "ContainerCredentialExfiltration",
        "AWSInstanceLaunch",
    }
    assert not plan.refused
    assert all("attack.t1204.003" in r.tags and r.falsepositives for r in plan.rules)
    assert bundled_rules_dir().is_dir()


def test_modifiers_become_wildcards_and_typed_predicates(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "R",
        r"""
        sel:
          CommandLine|contains: 'a*b'
          Image|endswith: '\\x.exe'
          ParentImage|startswith: 'p?'
          DestinationPort: 3333
          DestinationIp|cidr: 10.0.0.0/8
          User: null
          OciContainerId|exists: true
        filter:
          Image: 'C:\\*'
        condition: sel and not filter
        """,
    )
    plan = compile_rules([tmp_path])
    (rule,) = plan.rules
    assert isinstance(rule.condition, And)
    sel, negated = rule.condition.children
    assert isinstance(negated, Not)
    leaves = sel.children if isinstance(sel, And) else ()
    kinds = {type(leaf) for leaf in leaves}
    assert kinds == {StringMatch, NumberEquals, CidrMatch, IsNull, Exists}
    by_field = {p.field: p.parts for p in plan.patterns}
    assert by_field["CommandLine"] == (Wildcard.ANY, "a", Wildcard.ANY, "b", Wildcard.ANY)
    # Sigma escapes: '\\' is one backslash, so 'C:\\*' is C:\ then a live wildcard.
    assert by_field["Image"] == ("C:\\", Wildcard.ANY)
    assert (Wildcard.ANY, "\\x.exe") in {p.parts for p in plan.patterns}
    assert by_field["ParentImage"] == ("p", Wildcard.ONE, Wildcard.ANY)


def test_escaped_wildcards_are_literal_text(tmp_path: Path) -> None:
    write_rule(tmp_path, "R", "sel:\n  Image: 'a\\*b\\?'\ncondition: sel")
    assert compile_rules([tmp_path]).patterns[0].parts == ("a*b?",)


def test_equal_predicates_of_different_rules_share_a_pattern(tmp_path: Path) -> None:
    write_rule(tmp_path, "A", "sel:\n  Image|contains: xmrig\ncondition: sel")
    write_rule(tmp_path, "B", "sel:\n  Image|contains: XMRIG\ncondition: sel")
    plan = compile_rules([tmp_path])
    assert len(plan.rules) == 2
    # Case differs, but matching is caseless: pySigma keeps the text, so two patterns remain;
    # identical text does share one.
    write_rule(tmp_path, "C", "sel:\n  Image|contains: xmrig\ncondition: sel")
    assert len(compile_rules([tmp_path]).patterns) == 2


def test_several_values_are_alternatives(tmp_path: Path) -> None:
    write_rule(tmp_path, "R", "sel:\n  Image|contains: [a, b]\ncondition: sel")
    (rule,) = compile_rules([tmp_path]).rules
    assert isinstance(rule.condition, Or)


@pytest.mark.parametrize(
    ("detection", "construct"),
    [
        ("sel:\n  CommandLine|re: 'x(?=y)'\ncondition: sel", "re"),
        ("sel:\n  UtcTime|hour: 3\ncondition: sel", "date part"),
        ("sel:\n  CommandLine|expand: '%pool%'\ncondition: sel", "expand"),
        ("sel:\n  Image: xmrig\ncondition: sel and", "condition"),
    ],
)
def test_unsupported_constructs_are_refused_with_file_rule_and_construct(
    tmp_path: Path, detection: str, construct: str
) -> None:
    path = write_rule(tmp_path, "Bad", detection)
    write_rule(tmp_path, "Good", "sel:\n  Image|contains: xmrig\ncondition: sel")
    plan = compile_rules([tmp_path])
    assert [r.name for r in plan.rules] == ["Good"]
    (refused,) = plan.refused
    assert refused.path == path and refused.rule == "Bad" and refused.construct == construct
    assert str(path) in str(refused) and "Bad" in str(refused)
    with pytest.raises(InvalidRule) as raised:
        compile_rules([tmp_path], strict=True)
    assert str(path) in str(raised.value) and construct in str(raised.value)


def test_refused_rules_leave_no_patterns_behind(tmp_path: Path) -> None:
    write_rule(
        tmp_path, "Bad", "sel:\n  Image|contains: zzz\n  CommandLine|re: (x)\\1\ncondition: sel"
    )
    plan = compile_rules([tmp_path])
    assert plan.patterns == () and plan.rules == ()


def test_broken_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("title: x\ndetection:\n  sel: [a, b\n  condition: sel\n", encoding="utf-8")
    (refused,) = compile_rules([tmp_path]).refused
    assert refused.path == path and "line" in refused.message and refused.construct == "yaml"


def test_rule_without_any_logsource_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: t\nname: N\nlogsource: {definition: whatever}\n"
        "detection:\n  sel:\n    Image: x\n  condition: sel\n",
        encoding="utf-8",
    )
    (refused,) = compile_rules([tmp_path]).refused
    assert refused.construct == "logsource"


def test_logsource_product_and_service_are_kept(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: t\nname: N\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection:\n  sel:\n    eventName: RunInstances\n  condition: sel\n",
        encoding="utf-8",
    )
    (rule,) = compile_rules([tmp_path]).rules
    assert rule.logsource == (None, "aws", "cloudtrail")
    assert rule.applies_to(None, "aws", "cloudtrail")
    assert not rule.applies_to(None, "windows", None)


def test_duplicate_rule_ids_are_refused(tmp_path: Path) -> None:
    rule_id = "11111111-2222-4333-8444-555555555555"
    write_rule(tmp_path, "A", "sel:\n  Image: a\ncondition: sel", rule_id)
    write_rule(tmp_path, "B", "sel:\n  Image: b\ncondition: sel", rule_id)
    plan = compile_rules([tmp_path])
    assert len(plan.rules) == 1 and plan.refused[0].construct == "id"


def test_missing_or_empty_rules_path_raises(tmp_path: Path) -> None:
    with pytest.raises(RulesNotFound, match="no such rules"):
        compile_rules([tmp_path / "missing"])
    with pytest.raises(RulesNotFound, match="no Sigma rule files"):
        compile_rules([tmp_path])


def test_digest_follows_rule_content_not_location(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write_rule(one, "R", "sel:\n  Image: a\ncondition: sel")
    write_rule(two, "R", "sel:\n  Image: a\ncondition: sel")
    assert compile_rules([one]).digest == compile_rules([two]).digest
    write_rule(two, "R", "sel:\n  Image: b\ncondition: sel")
    assert compile_rules([one]).digest != compile_rules([two]).digest


def test_allowlists_folder_holds_no_rules_and_is_found_as_allow_lists(tmp_path: Path) -> None:
    write_rule(tmp_path, "R", "sel:\n  Image: a\ncondition: sel")
    (tmp_path / "allowlists").mkdir()
    (tmp_path / "allowlists" / "tuning.yml").write_text("entries: []\n", encoding="utf-8")
    assert [p.name for p in find_rule_files([tmp_path])] == ["R.yml"]
    assert find_allowlists([tmp_path]) == [tmp_path / "allowlists" / "tuning.yml"]
    # the bundled pack's
    assert [p.name for p in find_allowlists()] == ["approved_images.yml", "tuning.yml"]


def test_a_value_hyperscan_cannot_compile_refuses_its_rule_alone(tmp_path: Path) -> None:
    long_value = "a" + "?" * 300 + "b"
    (tmp_path / "too_long.yml").write_text(
        textwrap.dedent(
            f"""
            title: Too long
            name: TooLong
            logsource: {{category: process_creation}}
            detection:
              sel:
                CommandLine: '{long_value}'
              condition: sel
            """
        )
    )
    (tmp_path / "fine.yml").write_text(
        textwrap.dedent(
            """
            title: Fine
            name: Fine
            logsource: {category: process_creation}
            detection:
              sel:
                Image|endswith: /xmrig
              condition: sel
            """
        )
    )
    plan = compile_rules([tmp_path])
    assert [r.name for r in plan.rules] == ["Fine"]
    (refused,) = plan.refused
    assert refused.rule == "TooLong" and refused.construct == "pattern"
    assert "Hyperscan cannot compile CommandLine=" in refused.message
    assert [p.display for p in plan.patterns] == ["*/xmrig"]  # renumbered, the long one gone
    with pytest.raises(InvalidRule, match="Hyperscan cannot compile"):
        compile_rules([tmp_path], strict=True)
