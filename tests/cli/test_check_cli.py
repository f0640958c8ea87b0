"""`retrohunt rules check RULES...`: a table or JSON of findings, and the exit code a rule
repository's CI acts on (0 without errors, 3 with any, or with warnings under --strict)."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from retrohunt.cli import main


def write_rule(folder: Path, name: str, detection: str) -> Path:
    """A process-creation rule file; `detection` is the YAML under `detection:`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ")
    path.write_text(
        f"title: {name}\nid: {uuid.uuid5(uuid.NAMESPACE_DNS, name)}\nname: {name}\n"
        f"level: low\nlogsource:\n  category: process_creation\ndetection:\n{body}\n",
        encoding="utf-8",
    )
    return path


CLEAN = "sel:\n  Image|endswith: /xmrig\ncondition: sel\n"
REDUNDANT = "sel:\n  Image|contains:\n    - xmrig\n    - xmrig-notls\ncondition: sel\n"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """One rule per error the done-when names, and a redundant pattern."""
    folder = tmp_path / "rules"
    write_rule(folder, "Keywords", "sel:\n  UtcTime|day: 3\ncondition: sel\n")
    write_rule(folder, "Backref", "sel:\n  CommandLine|re: '(ab)\\1'\ncondition: sel\n")
    write_rule(folder, "OpenGroup", "sel:\n  CommandLine|re: 'a(b'\ncondition: sel\n")
    write_rule(folder, "Redundant", REDUNDANT)
    return folder


def test_the_bundled_pack_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check"])

    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert code == 0
    assert "0 errors" in out
    assert "Hyperscan databases (one per field)" in out
    assert captured.err == ""


def test_planted_errors_fail_with_exit_3(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", str(planted)])

    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert code == 3
    for text in ("Keywords", "date part", "backreferences", "OpenGroup", "redundant"):
        assert text in out
    assert "rules check failed (errors)" in captured.err


def test_json_for_ci(planted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", str(planted), "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 3
    assert document["failed"] is True and document["strict"] is False
    assert document["errors"] == 3  # a date part, and re refused twice (Backref, OpenGroup)
    assert document["warnings"] == 1
    assert set(document["totals"]) == {
        "files",
        "rules",
        "refused",
        "patterns",
        "compile_seconds",
        "database_bytes",
        "prefilter_patterns",
    }
    assert document["totals"]["files"] == 4
    keys = {"severity", "kind", "rule", "file", "field", "value", "construct", "reason"}
    assert all(set(finding) == keys for finding in document["findings"])
    kinds = {(f["rule"], f["kind"]) for f in document["findings"]}
    assert {
        ("Keywords", "unsupported"),
        ("Backref", "unsupported"),
        ("OpenGroup", "invalid"),
        ("Redundant", "redundant"),
        (None, "summary"),
    } == kinds
    (redundant,) = [f for f in document["findings"] if f["kind"] == "redundant"]
    assert redundant["field"] == "Image" and redundant["value"] == "*xmrig-notls*"
    assert redundant["file"] == str(planted / "Redundant.yml")
    assert [f["severity"] for f in document["findings"]][:3] == ["error"] * 3


def test_warnings_pass_unless_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rule(tmp_path, "Redundant", REDUNDANT)

    assert main(["rules", "check", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["rules", "check", "--strict", str(tmp_path)]) == 3
    assert "warnings under --strict" in capsys.readouterr().err


def test_a_clean_rule_passes_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rule(tmp_path, "Clean", CLEAN)

    assert main(["rules", "check", "--strict", "--json", str(tmp_path / "Clean.yml")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["errors"], document["warnings"], document["failed"]) == (0, 0, False)


def test_a_missing_rules_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "check", str(tmp_path / "nowhere")])

    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nowhere" in lines[0]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--strict" in out and "--json" in out and "redundant" in out
