"""`retrohunt.check`: every finding of a rule check comes from a planted rule here, and the
subsumption it reports as redundancy is checked against the reference matcher."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrohunt.check import (
    ERROR,
    INFO,
    INVALID,
    LARGE_DATABASE,
    LARGE_REPEAT,
    MATCHES_ALL,
    NO_PREFILTER,
    NOT_YAML,
    REDUNDANT,
    REGEX_ENGINE,
    REJECTED,
    SHORT_LITERAL,
    SLOW_COMPILE,
    SUMMARY,
    UNSUPPORTED,
    WARNING,
    CheckReport,
    Finding,
    check_rules,
    largest_repeat,
    outlier_indices,
    subsumed_pairs,
    subsumes,
)
from retrohunt.compiler import StringPattern, ValuePart, Wildcard, compile_rules
from retrohunt.errors import RulesNotFound
from retrohunt.reference import wildcard_match

ANY, ONE = Wildcard.ANY, Wildcard.ONE


def write_rule(folder: Path, name: str, detection: str, category: str = "process_creation") -> Path:
    """A rule file named after its rule; `detection` is the YAML under `detection:`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ")
    path.write_text(
        f"title: {name}\nid: {uuid.uuid5(uuid.NAMESPACE_DNS, name)}\nname: {name}\n"
        f"level: low\nlogsource:\n  category: {category}\ndetection:\n{body}\n",
        encoding="utf-8",
    )
    return path


def found(report: CheckReport, kind: str, rule: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind and (rule is None or f.rule == rule)]


def pattern(*parts: ValuePart, field: str = "Image", cased: bool = False) -> StringPattern:
    return StringPattern(0, field, tuple(parts), cased)


# --- the bundled pack ----------------------------------------------------------------------


def test_the_bundled_pack_has_no_errors() -> None:
    report = check_rules()

    assert report.errors == 0, [f for f in report.findings if f.severity == ERROR]
    assert not report.failed()
    plan = compile_rules(None)
    assert report.rules == len(plan.rules) and report.refused == 0
    assert report.patterns == len(plan.patterns)
    assert report.database_bytes > 0 and report.compile_seconds > 0
    assert report.prefilter_patterns > 0
    # Every rule of the pack is prefiltered, and no value of it is short or rejected.
    assert not found(report, NO_PREFILTER)
    assert not found(report, SHORT_LITERAL) and not found(report, REJECTED)
    (summary,) = found(report, SUMMARY)
    assert summary.severity == INFO and summary.file is None
    assert f"{len(plan.patterns)} string patterns" in summary.reason


# --- errors --------------------------------------------------------------------------------


def test_unsupported_constructs_are_errors_that_name_them(tmp_path: Path) -> None:
    write_rule(tmp_path, "Keywords", "sel:\n  UtcTime|day: 3\ncondition: sel\n")
    write_rule(tmp_path, "Greater", "sel:\n  CommandLine|re: '(a)\\1'\ncondition: sel\n")

    report = check_rules([tmp_path])

    by_rule = {f.rule: f for f in found(report, UNSUPPORTED)}
    assert by_rule["Keywords"].construct == "date part"
    assert by_rule["Greater"].construct == "re"
    assert "backreferences are not supported" in by_rule["Greater"].reason
    assert all(f.severity == ERROR for f in by_rule.values())
    assert by_rule["Greater"].file == tmp_path / "Greater.yml"
    assert report.failed() and report.refused == 2 and report.rules == 0


def test_a_regex_python_refuses_does_not_parse(tmp_path: Path) -> None:
    write_rule(tmp_path, "OpenGroup", "sel:\n  CommandLine|re: 'a(b'\ncondition: sel\n")

    (error,) = found(check_rules([tmp_path]), INVALID, "OpenGroup")

    assert error.severity == ERROR
    assert error.construct == "regularexpression"
    assert "a(b" in error.reason


def test_every_regex_is_listed_with_its_engine_and_prefilter_demand(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "Regexes",
        r"""
        sel:
          - CommandLine|re|i: '\\temp\\[a-z]{8}\.(exe|dll)'
          - Image|re: 'x[0-9a-f]{40000}y'
        condition: 1 of sel
        """,
    )

    report = check_rules([tmp_path])

    listed = {f.value: f for f in found(report, REGEX_ENGINE, "Regexes")}
    assert set(listed) == {r"\\temp\\[a-z]{8}\.(exe|dll)", "x[0-9a-f]{40000}y"}
    assert all(f.severity == INFO for f in listed.values())
    temp = listed[r"\\temp\\[a-z]{8}\.(exe|dll)"].reason
    assert "linear in the text" in temp and "demands '\\\\temp\\\\'" in temp
    big = listed["x[0-9a-f]{40000}y"].reason
    assert "beyond Hyperscan" in big and "demands nothing" in big
    assert not report.failed()


def test_a_value_hyperscan_rejects_is_an_error(tmp_path: Path) -> None:
    # Every `?` is one UTF-8 character, a four-way alternation: 200 of them exceed
    # Hyperscan's pattern length limit, and the whole database would not compile.
    write_rule(tmp_path, "LongMask", f"sel:\n  CommandLine: '{'?' * 200}'\ncondition: sel\n")
    # The compiler refuses the rule alone rather than fail the whole set.
    plan = compile_rules([tmp_path])
    assert plan.rules == () and plan.refused[0].construct == "pattern"

    report = check_rules([tmp_path])

    (rejected,) = found(report, REJECTED, "LongMask")
    assert rejected.severity == ERROR and rejected.field == "CommandLine"
    assert "Pattern length exceeds limit" in rejected.reason
    assert report.patterns == 0


def test_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: [unclosed\n  : x\n", encoding="utf-8")

    (error,) = found(check_rules([tmp_path]), NOT_YAML)

    assert error.severity == ERROR and error.rule is None
    assert error.file == tmp_path / "broken.yml"
    assert "YAML does not parse at line" in error.reason


def test_a_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(RulesNotFound, match="nowhere"):
        check_rules([tmp_path / "nowhere"])


# --- warnings ------------------------------------------------------------------------------


def test_redundant_values_in_one_or_group(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "Redundant",
        """
        sel_image:
          Image|contains:
            - xmrig
            - xmrig-notls
        sel_ext:
          Image|endswith:
            - .exe
            - miner.exe
        sel_cmd:
          - CommandLine:
              - 'Foo Bar'
              - 'foo bar'
          - CommandLine|startswith: '--donate-level=1'
          - CommandLine|contains: 'donate-level'
        condition: 1 of sel_*
        """,
    )

    report = check_rules([tmp_path])

    redundant = {f.value: f for f in found(report, REDUNDANT, "Redundant")}
    assert set(redundant) == {"*xmrig-notls*", "*miner.exe", "foo bar", "--donate-level=1*"}
    assert "`Image|contains: xmrig`" in redundant["*xmrig-notls*"].reason
    assert "`Image|endswith: .exe`" in redundant["*miner.exe"].reason
    assert "but for case" in redundant["foo bar"].reason
    assert "`CommandLine|contains: donate-level`" in redundant["--donate-level=1*"].reason
    assert all(f.severity == WARNING for f in redundant.values())
    assert not report.failed() and report.failed(strict=True)


def test_redundancy_is_claimed_only_when_certain(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "NotRedundant",
        """
        sel_and:                      # one AND group, not an OR group
          Image|contains: xmrig
          CommandLine|contains: xmrig-notls
        sel_fields:                   # same text, different fields
          - Image|contains: stratum
          - CommandLine|contains: stratum+tcp
        sel_case:                     # a cased value is not compared with caseless ones
          - ParentImage|contains: shim
          - ParentImage|contains|cased: containerd-shim
        sel_wild:                     # a wildcard in the middle keeps text apart
          - User|contains: 'rootkit'
          - User: '*root*kit*'
        condition: sel_and or 1 of sel_fields or 1 of sel_case or 1 of sel_wild
        """,
    )

    assert found(check_rules([tmp_path]), REDUNDANT) == []


def test_short_literals_and_match_all_values(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "Short",
        """
        sel:
          CommandLine|contains: '-o'
          Image|endswith: 'xmrig'
          User: 'a'
          ParentImage: '*'
        condition: sel
        """,
    )

    report = check_rules([tmp_path])

    (short,) = found(report, SHORT_LITERAL, "Short")
    assert (short.field, short.value, short.severity) == ("CommandLine", "*-o*", WARNING)
    assert "2 bytes" in short.reason
    (every,) = found(report, MATCHES_ALL, "Short")
    assert every.field == "ParentImage" and "|exists: true" in every.reason


def test_a_rule_without_prefilter(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "WideRange",
        "sel:\n  DestinationIp|cidr: '10.0.0.0/7'\ncondition: sel\n",
        category="network_connection",
    )
    write_rule(tmp_path, "Prefiltered", "sel:\n  Image|endswith: /xmrig\ncondition: sel\n")

    report = check_rules([tmp_path])

    (warning,) = found(report, NO_PREFILTER)
    assert warning.rule == "WideRange" and warning.severity == WARNING
    assert "every line" in warning.reason
    assert not report.failed() and report.failed(strict=True)


def test_regex_lints(tmp_path: Path) -> None:
    write_rule(
        tmp_path,
        "Regexes",
        r"""
        sel:
          - User|re: 'ab[0-9]{1000,}'
          - ParentImage|re: '.*'
          - Hashes|re: 'x\.*'
        condition: sel
        """,
    )

    report = check_rules([tmp_path])

    kinds = {
        f.value: (f.kind, f.severity)
        for f in report.findings
        if f.rule == "Regexes" and f.kind != REGEX_ENGINE
    }
    assert kinds["ab[0-9]{1000,}"] == (LARGE_REPEAT, WARNING)
    assert kinds[".*"] == (MATCHES_ALL, WARNING)
    assert "x\\.*" not in kinds


def test_measured_outliers(tmp_path: Path) -> None:
    # Every `?` is any one UTF-8 character, a four-way alternation: 90 of them between
    # letters make a database of about 0.3-1 MB (Hyperscan 5.4), where a literal takes a
    # millisecond and a few KiB.
    heavy = "*" + "?a?b" * 45 + "*"
    write_rule(tmp_path, "Heavy", f"sel:\n  CommandLine: '{heavy}'\ncondition: sel\n")
    write_rule(
        tmp_path,
        "Light",
        "sel:\n  Image|contains: [xmrig, minerd, cpuminer, nbminer, ethminer]\ncondition: sel\n",
    )

    report = check_rules([tmp_path])

    (large,) = found(report, LARGE_DATABASE, "Heavy")
    assert large.value == heavy and large.severity == WARNING
    assert "KiB database" in large.reason and "the set's median" in large.reason
    assert not found(report, SLOW_COMPILE, "Light") and not found(report, LARGE_DATABASE, "Light")


# --- the pieces ----------------------------------------------------------------------------


def test_subsumes() -> None:
    contains, starts, ends = (
        pattern(ANY, "xmrig", ANY),
        pattern("xmrig", ANY),
        pattern(ANY, "xmrig"),
    )
    assert subsumes(contains, pattern(ANY, "XMRig-notls", ANY))
    assert subsumes(contains, starts) and subsumes(contains, ends)
    assert subsumes(contains, pattern(ANY, "a", ONE, "/xmrig/", ANY))
    assert not subsumes(starts, contains) and not subsumes(ends, contains)
    assert subsumes(starts, pattern("xmrig.exe")) and not subsumes(
        starts, pattern(ANY, "xmrig.exe")
    )
    assert subsumes(ends, pattern(ANY, "/bin/xmrig")) and not subsumes(ends, pattern("xmrig", ANY))
    assert subsumes(pattern(ANY), pattern("anything"))
    assert subsumes(pattern("XMRIG"), pattern("xmrig"))
    assert not subsumes(pattern("XMRIG", cased=True), pattern("xmrig", cased=True))
    assert not subsumes(contains, pattern(ANY, "xmrig", ANY, field="CommandLine"))
    assert not subsumes(contains, pattern(ANY, "xmrig", ANY, cased=True))
    assert not subsumes(pattern(ANY, "xm", ANY, "rig", ANY), pattern(ANY, "xmrig", ANY))
    # Unicode case is not folded (Hyperscan folds ASCII letters only).
    assert not subsumes(pattern(ANY, "é", ANY), pattern(ANY, "É", ANY))


def test_subsumed_pairs_keeps_the_first_of_equals() -> None:
    first, again, general = pattern("a.exe"), pattern("A.EXE"), pattern(ANY, ".exe")

    pairs = subsumed_pairs([first, again, general])

    assert pairs == [(first, general), (again, first)]


_PARTS = st.lists(
    st.one_of(
        st.sampled_from(["a", "b", "A", "ab", "ba", "aB", "bab"]), st.just(ANY), st.just(ONE)
    ),
    max_size=4,
).map(lambda parts: _normal(parts))


def _normal(parts: list[ValuePart]) -> tuple[ValuePart, ...]:
    """Parts as the compiler makes them: adjacent literals joined, `**` as `*`."""
    out: list[ValuePart] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif not (part is ANY and out and out[-1] is ANY):
            out.append(part)
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PARTS, min_size=1, max_size=6), st.booleans())
def test_subsumed_pairs_is_subsumes_indexed(
    members: list[tuple[ValuePart, ...]], cased: bool
) -> None:
    patterns = [StringPattern(i, "Image", parts, cased) for i, parts in enumerate(members)]
    expected = [
        p
        for i, p in enumerate(patterns)
        if any(
            subsumes(q, p) and (not subsumes(p, q) or j < i)
            for j, q in enumerate(patterns)
            if j != i
        )
    ]

    pairs = subsumed_pairs(patterns)

    assert [p for p, _ in pairs] == expected
    assert all(subsumes(q, p) and p is not q for p, q in pairs)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PARTS, min_size=2, max_size=8),
    st.booleans(),
    st.lists(st.sampled_from("abAB/"), max_size=6),
)
def test_subsumes_is_sound(
    members: list[tuple[ValuePart, ...]], cased: bool, filler: list[str]
) -> None:
    fill = "".join(filler)
    for wide in members:
        for narrow in members:
            if not subsumes(pattern(*wide, cased=cased), pattern(*narrow, cased=cased)):
                continue
            # A value `narrow` matches (its wildcards filled in) must match `wide` too.
            value = "".join(
                fill if p is ANY else (fill[:1] or "x") if p is ONE else str(p) for p in narrow
            )
            assert wildcard_match(narrow, value, cased)
            assert wildcard_match(wide, value, cased), (wide, narrow, value)


def test_largest_repeat() -> None:
    assert largest_repeat("ab[0-9]{1000,}") == 1000
    assert largest_repeat("x{3}y{10,2000}") == 2000
    assert largest_repeat(r"\{5000}") == 0  # an escaped brace is text
    assert largest_repeat("[{5000}]x") == 0  # so is one in a character class
    assert largest_repeat("[]{]{7}") == 7
    assert largest_repeat("miner") == 0


def test_outlier_indices() -> None:
    # Few values: the floor alone decides.
    assert outlier_indices([0.001, 0.2], 0.05) == [1]
    # Many values: ten times the median too.
    times = [0.001] * 9 + [0.06, 0.004]
    assert outlier_indices(times, 0.05) == [9]
    assert outlier_indices([0.1] * 6, 0.05) == []  # uniformly slow is no outlier
    assert outlier_indices([], 0.05) == []
