"""Bad input end to end, through the library (`scan`) and the CLI (`main`): what is kept,
what is reported, in one line, with which exit code."""

from __future__ import annotations

import base64
import bz2
import json
import random
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zstandard

from conftest import (
    compress,
    falcon_dns,
    falcon_network,
    falcon_process,
    jsonl,
    make_archive,
    ndjson,
)
from retrohunt.cli import errors as cli_errors
from retrohunt.cli import main
from retrohunt.compiler import bundled_rules_dir, find_rule_files
from retrohunt.errors import OutputError, RuleError
from retrohunt.scan import ScanOptions, ScanResult, scan

MINER = falcon_process(
    image="/tmp/.cache/xmrig",
    command_line="/tmp/.cache/xmrig -o pool.example.net:3333 --threads 2",
)
POOL_DNS = falcon_dns("pool.supportxmr.com")
POOL_CONNECTION = falcon_network("198.51.100.7", 3333)
BENIGN = [
    falcon_process(),
    falcon_network("10.0.0.5", 443),
    falcon_dns("example.com"),
]
BUNDLED_RULES = {"MinerProcessExecution", "MiningPoolDNSLookup", "MiningPoolNetworkConnection"}

REGEX_RULE = """\
title: Regex Rule
id: 5b0d7a55-0c53-4a8e-9d7e-0f5a3c2b1a01
name: RegexRule
level: high
logsource:
  category: process_creation
detection:
  selection:
    CommandLine|re: 'x(?=y)'
  condition: selection
"""

DATE_PART_RULE = """\
title: Keyword Rule
id: 5b0d7a55-0c53-4a8e-9d7e-0f5a3c2b1a02
name: DatePartRule
level: high
logsource:
  category: process_creation
detection:
  selection:
    UtcTime|day: 3
  condition: selection
"""

BROKEN_YAML = """\
title: Broken Rule
id: 5b0d7a55-0c53-4a8e-9d7e-0f5a3c2b1a03
detection:
  selection: [CommandLine
  condition: selection
"""
BROKEN_YAML_LINE = 5  # where PyYAML notices the unclosed flow sequence


# --- helpers ------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run `retrohunt ARGV`; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    """The single non-empty line of `text` (fails if there are more or none)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {text!r}"
    assert "Traceback" not in text
    return lines[0]


def manifest(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return document


def written_alerts(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("*.alerts.parquet")))


def quarantine_records(out: Path) -> list[dict[str, Any]]:
    files = sorted(out.glob("*.quarantine.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]


def library_scan(archives: list[Path], out: Path, **options: Any) -> ScanResult:
    return scan(ScanOptions(archives=tuple(archives), out=out, **options))


def rules_folder(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The bundled rules plus `extra` files (name -> text), in a rule-repository layout."""
    folder = tmp_path / "detections" / "sigma" / "rules" / "linux" / "process_creation"
    folder.mkdir(parents=True)
    for rule in find_rule_files([bundled_rules_dir()]):
        shutil.copy(rule, folder / rule.name)
    for name, text in extra.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def filler(count: int, seed: int = 3) -> list[bytes]:
    """Benign, poorly compressible events (so a cut archive has a readable part)."""
    rng = random.Random(seed)
    events = [
        falcon_process(command_line=f"/usr/bin/python3 job.py --token {rng.randbytes(40).hex()}")
        for _ in range(count)
    ]
    return jsonl(events)


# --- corrupt lines ------------------------------------------------------------------------

BROKEN_LINE = b'{"event_simpleName":"ProcessRollup2","CommandLine":"xmrig \xff -o pool.x'


def _archive_with_broken_line(tmp_path: Path) -> tuple[Path, list[bytes]]:
    lines = [*jsonl([MINER, BENIGN[0]]), BROKEN_LINE, *jsonl([POOL_DNS])]
    return make_archive(tmp_path, lines, "zstd"), lines


def _assert_broken_line_quarantined(out: Path, archive: Path, lines: list[bytes]) -> None:
    (record,) = quarantine_records(out)
    assert record["line_number"] == 3
    assert record["byte_offset"] == len(lines[0]) + len(lines[1]) + 2
    assert record["reason"].startswith("invalid JSON")
    assert base64.b64decode(record["raw_base64"]) == BROKEN_LINE
    assert record["raw"] == BROKEN_LINE.decode("utf-8", errors="replace")
    assert record["archive"] == str(archive)
    document = manifest(out)
    assert document["totals"]["bad_lines"] == 1
    (entry,) = document["inputs"]
    assert entry["bad_lines"] == 1
    assert entry["status"] == "ok"
    assert Path(entry["quarantine_file"]).name.endswith(".quarantine.jsonl")
    alerts = written_alerts(out)
    assert sorted(zip(alerts["line_number"], alerts["rule_name"], strict=True)) == [
        (1, "MinerProcessExecution"),
        (4, "MiningPoolDNSLookup"),
    ]


def test_corrupt_json_line_is_quarantined_and_other_alerts_kept_library(tmp_path: Path) -> None:
    archive, lines = _archive_with_broken_line(tmp_path)
    out = tmp_path / "out"

    result = library_scan([archive], out)

    (archive_result,) = result.archives
    assert archive_result.bad_lines == 1
    assert archive_result.events == 3
    assert archive_result.error is None
    assert archive_result.quarantine_path is not None
    assert archive_result.quarantine_path.is_file()
    _assert_broken_line_quarantined(out, archive, lines)


def test_corrupt_json_line_is_quarantined_and_other_alerts_kept_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, lines = _archive_with_broken_line(tmp_path)
    out = tmp_path / "out"

    code, _, err = run_cli(capsys, "scan", archive, "--out", out, "--quiet")

    assert code == 0
    assert err == ""
    _assert_broken_line_quarantined(out, archive, lines)


def test_no_quarantine_file_without_bad_lines(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, jsonl([MINER, *BENIGN]))
    out = tmp_path / "out"

    result = library_scan([archive], out)

    assert result.archives[0].quarantine_path is None
    assert list(out.glob("*quarantine*")) == []
    assert manifest(out)["inputs"][0]["quarantine_file"] is None


def test_many_bad_lines_across_chunks_are_all_quarantined(tmp_path: Path) -> None:
    lines: list[bytes] = []
    for index, line in enumerate(filler(400)):
        lines.append(b"{not json" if index % 40 == 5 else line)
    lines.append(jsonl([MINER])[0])
    archive = make_archive(tmp_path, lines, "gzip-multimember")
    out = tmp_path / "out"

    library_scan([archive], out, chunk_size=4096)

    records = quarantine_records(out)
    data = ndjson(lines)
    assert [r["line_number"] for r in records] == [i + 1 for i in range(5, 400, 40)]
    for record in records:
        offset = record["byte_offset"]
        assert data[offset : offset + len(b"{not json")] == b"{not json"
    assert manifest(out)["totals"]["bad_lines"] == 10
    alerts = written_alerts(out)
    assert alerts["line_number"].to_list() == [401]
    assert alerts["byte_offset"].to_list() == [len(data) - len(lines[-1]) - 1]


# --- invalid UTF-8 ------------------------------------------------------------------------


def _archive_with_invalid_utf8(tmp_path: Path) -> Path:
    line = json.dumps({**MINER, "UserName": "svc-PLACEHOLDER"}).encode()
    line = line.replace(b"PLACEHOLDER", b"b\xe9\xff")  # Latin-1 and a stray byte
    return make_archive(tmp_path, [*jsonl(BENIGN), line], "gzip")


def test_invalid_utf8_elsewhere_in_a_malicious_line_still_alerts_library(tmp_path: Path) -> None:
    archive = _archive_with_invalid_utf8(tmp_path)
    out = tmp_path / "out"

    result = library_scan([archive], out)

    assert result.alerts["line_number"].to_list() == [4]
    assert result.alerts["rule_name"].to_list() == ["MinerProcessExecution"]
    assert result.alerts["command_line"].to_list() == [MINER["CommandLine"]]
    assert result.archives[0].invalid_utf8 == 1
    assert result.archives[0].bad_lines == 0
    assert manifest(out)["totals"]["invalid_utf8_lines"] == 1


def test_invalid_utf8_elsewhere_in_a_malicious_line_still_alerts_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive_with_invalid_utf8(tmp_path)
    out = tmp_path / "out"

    code, _, _ = run_cli(capsys, "scan", archive, "--out", out, "--quiet")

    assert code == 0
    assert written_alerts(out)["line_number"].to_list() == [4]
    assert manifest(out)["inputs"][0]["invalid_utf8_lines"] == 1


# --- damaged archives ---------------------------------------------------------------------


def _truncated_archive(tmp_path: Path, kind: str) -> Path:
    """A malicious event on line 1, then enough filler that a cut at half leaves it readable."""
    lines = [*jsonl([MINER]), *filler(3_000)]
    full = compress(ndjson(lines), "zstd" if kind == "zstd" else "gzip")
    path = tmp_path / ("events.jsonl.zst" if kind == "zstd" else "events.jsonl.gz")
    path.write_bytes(full[: len(full) // 2])
    if kind == "zstd":  # the arrangement: line 1 is in what zstd itself can recover
        recoverable = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
        assert recoverable.startswith(lines[0] + b"\n")
    return path


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_truncated_archive_exits_4_and_keeps_alerts_before_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    archive = _truncated_archive(tmp_path, kind)
    out = tmp_path / "out"

    code, stdout, err = run_cli(capsys, "scan", archive, "--out", out)

    assert code == 4
    line = one_line(err)
    assert str(archive) in line
    assert "truncated" in line
    assert "Traceback" not in stdout
    alerts = written_alerts(out)
    assert (1, "MinerProcessExecution") in zip(
        alerts["line_number"], alerts["rule_name"], strict=True
    )
    (entry,) = manifest(out)["inputs"]
    assert entry["status"] == "failed"
    assert "truncated" in entry["error"]
    assert entry["alerts"] == alerts.height


def test_truncated_archive_library_records_error_and_keeps_alerts(tmp_path: Path) -> None:
    archive = _truncated_archive(tmp_path, "zstd")
    out = tmp_path / "out"

    result = library_scan([archive], out)

    (failed,) = result.failed
    assert failed.path == archive
    assert failed.error is not None and "truncated" in failed.error
    assert 1 in result.alerts["line_number"].to_list()
    assert failed.alerts_path is not None and failed.alerts_path.is_file()
    assert manifest(out)["totals"]["failed"] == 1


def _bzip2(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl.zst"
    path.write_bytes(bz2.compress(ndjson(jsonl([MINER]))))
    return path


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("aid,timestamp,CommandLine\nabc,1700000000123,xmrig\n", encoding="utf-8")
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "does-not-exist.jsonl.zst"


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "a-folder.jsonl.zst"
    path.mkdir()
    return path


UNUSABLE = {
    "missing": (_missing, "no such file"),
    "directory": (_directory, "not a regular file"),
    "bzip2": (_bzip2, "bzip2"),
    "csv": (_csv, "not NDJSON"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_archive_is_one_line_error_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, what = UNUSABLE[case]
    archive = make(tmp_path)
    out = tmp_path / "out"

    code, stdout, err = run_cli(capsys, "scan", archive, "--out", out)

    assert code == 4
    line = one_line(err)
    assert line.startswith("error: ")
    assert str(archive) in line
    assert what in line
    assert "Traceback" not in stdout
    (entry,) = manifest(out)["inputs"]
    assert entry["status"] == "failed"
    assert what in entry["error"]


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_archive_is_recorded_by_the_library(tmp_path: Path, case: str) -> None:
    make, what = UNUSABLE[case]
    archive = make(tmp_path)

    result = library_scan([archive], tmp_path / "out")

    (failed,) = result.failed
    assert failed.error is not None
    assert str(archive) in failed.error
    assert what in failed.error


def test_missing_archive_does_not_stop_the_good_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = _missing(tmp_path)
    good = make_archive(tmp_path, jsonl([*BENIGN, MINER, POOL_DNS]), "zstd-multiframe")
    out = tmp_path / "out"

    code, _, err = run_cli(capsys, "scan", missing, good, "--out", out)

    assert code == 4
    assert str(missing) in one_line(err)
    alerts = written_alerts(out)
    assert set(alerts["archive"]) == {str(good)}
    assert sorted(alerts["line_number"].to_list()) == [4, 5]
    statuses = {Path(e["archive"]).name: e["status"] for e in manifest(out)["inputs"]}
    assert statuses == {missing.name: "failed", good.name: "ok"}


# --- rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", ["missing", "empty-folder"])
def test_unusable_rules_path_exits_3_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rules: str
) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))
    path = tmp_path / "rules"
    if rules == "empty-folder":
        path.mkdir()
        (path / "README.md").write_text("no rules here\n", encoding="utf-8")

    code, stdout, err = run_cli(capsys, "scan", archive, "--rules", path, "--out", tmp_path / "o")

    assert code == 3
    assert str(path) in one_line(err)
    assert stdout == ""
    assert not (tmp_path / "o").exists()


def test_unreadable_rule_file_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))
    rule = tmp_path / "rule.yml"
    rule.write_text(REGEX_RULE, encoding="utf-8")
    read_bytes = Path.read_bytes

    def deny(self: Path) -> bytes:  # chmod 000 does not stop root, so refuse the read here
        if self == rule:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", deny)

    code, _, err = run_cli(capsys, "scan", archive, "--rules", rule, "--out", tmp_path / "o")

    assert code == 3
    line = one_line(err)
    assert str(rule) in line
    assert "Permission denied" in line


def test_rule_set_with_no_usable_rule_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))
    rule = tmp_path / "regex.yml"
    rule.write_text(REGEX_RULE, encoding="utf-8")

    with pytest.raises(RuleError, match="no usable rule"):
        library_scan([archive], tmp_path / "lib", rules=(rule,))
    code, _, err = run_cli(capsys, "scan", archive, "--rules", rule, "--out", tmp_path / "o")

    assert code == 3
    assert "no usable rule" in err.splitlines()[-1]


def test_broken_yaml_rule_warns_with_file_and_line_and_others_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_folder(
        tmp_path, {"proc_creation_lnx_crypto_miner_stratum_pool_broken.yml": BROKEN_YAML}
    )
    broken = rules / "proc_creation_lnx_crypto_miner_stratum_pool_broken.yml"
    archive = make_archive(tmp_path, jsonl([MINER, POOL_DNS, POOL_CONNECTION]))
    out = tmp_path / "out"

    code, _, err = run_cli(capsys, "scan", archive, "--rules", rules, "--out", out, "--quiet")

    assert code == 0
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1, err
    assert str(broken) in warnings[0], f"the warning is not one line naming the file: {err!r}"
    assert f"line {BROKEN_YAML_LINE}" in warnings[0]
    assert set(written_alerts(out)["rule_name"]) == BUNDLED_RULES
    (refused,) = manifest(out)["refused_rules"]
    assert refused["path"] == str(broken)
    assert refused["construct"] == "yaml"
    assert f"line {BROKEN_YAML_LINE}" in refused["message"]


def test_broken_yaml_rule_with_strict_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_folder(tmp_path, {"broken.yml": BROKEN_YAML})
    archive = make_archive(tmp_path, jsonl([MINER]))
    out = tmp_path / "out"

    code, stdout, err = run_cli(capsys, "scan", archive, "--rules", rules, "--out", out, "--strict")

    assert code == 3
    line = one_line(err)
    assert str(rules / "broken.yml") in line
    assert f"line {BROKEN_YAML_LINE}" in line
    assert stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "rule", "construct"),
    [(REGEX_RULE, "RegexRule", "re"), (DATE_PART_RULE, "DatePartRule", "date part")],
)
def test_unsupported_construct_is_refused_and_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, rule: str, construct: str
) -> None:
    rules = rules_folder(tmp_path, {"unsupported.yml": text})
    path = rules / "unsupported.yml"
    archive = make_archive(tmp_path, jsonl([MINER]))
    out = tmp_path / "out"

    code, _, err = run_cli(capsys, "scan", archive, "--rules", rules, "--out", out)

    assert code == 0
    message = " ".join(err.split())  # the check here is the content, wherever it wraps
    assert str(path) in message
    assert f"rule '{rule}'" in message
    assert f"construct '{construct}'" in message
    (refused,) = manifest(out)["refused_rules"]
    assert refused == {
        "path": str(path),
        "rule": rule,
        "construct": construct,
        "message": refused["message"],
    }
    assert written_alerts(out)["rule_name"].to_list() == ["MinerProcessExecution"]

    code, _, err = run_cli(capsys, "scan", archive, "--rules", rules, "--out", out, "--strict")

    assert code == 3
    line = one_line(err)
    assert str(path) in line
    assert f"rule '{rule}'" in line
    assert f"construct '{construct}'" in line


def test_unsupported_construct_is_in_the_library_manifest(tmp_path: Path) -> None:
    rule = tmp_path / "regex.yml"
    rule.write_text(REGEX_RULE, encoding="utf-8")
    archive = make_archive(tmp_path, jsonl([MINER]))
    out = tmp_path / "out"

    result = library_scan([archive], out, rules=(bundled_rules_dir(), rule))

    (refused,) = result.plan.refused
    assert (refused.path, refused.rule, refused.construct) == (rule, "RegexRule", "re")
    assert manifest(out)["refused_rules"][0]["rule"] == "RegexRule"
    with pytest.raises(RuleError, match="RegexRule"):
        library_scan([archive], out, rules=(bundled_rules_dir(), rule), strict=True)


# --- output -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["regular-file", "below-a-regular-file"])
def test_unwritable_output_exits_5_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))
    blocker = tmp_path / "alerts"
    blocker.write_text("I am a file\n", encoding="utf-8")
    out = blocker if where == "regular-file" else blocker / "sub"

    code, _, err = run_cli(capsys, "scan", archive, "--out", out)

    assert code == 5
    line = one_line(err)
    assert line.startswith("error: ")
    assert str(blocker) in line
    assert blocker.read_text(encoding="utf-8") == "I am a file\n"


def test_unwritable_output_raises_output_error_in_the_library(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))
    blocker = tmp_path / "alerts"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(OutputError, match="cannot write"):
        library_scan([archive], blocker)


# --- exit codes ---------------------------------------------------------------------------

DOCUMENTED_EXIT_CODES = {
    "EXIT_OK": 0,
    "EXIT_INTERNAL": 1,
    "EXIT_USAGE": 2,
    "EXIT_RULES": 3,
    "EXIT_INPUT": 4,
    "EXIT_OUTPUT": 5,
    "EXIT_LOCKED": 6,
    "EXIT_CLUSTER": 7,
    "EXIT_ALERTS": 10,
}


def test_exit_code_constants_are_the_documented_ones() -> None:
    defined = {
        name: getattr(cli_errors, name)
        for name in dir(cli_errors)
        if name.startswith("EXIT_") and isinstance(getattr(cli_errors, name), int)
    }
    assert defined == DOCUMENTED_EXIT_CODES
    for code in DOCUMENTED_EXIT_CODES.values():
        assert f"{code} " in cli_errors.EXIT_CODES_HELP


def test_clean_scan_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = make_archive(tmp_path, jsonl([*BENIGN, MINER]))

    code, _, err = run_cli(capsys, "scan", archive, "--out", tmp_path / "out")

    assert code == 0
    assert err == ""


def test_alerts_with_fail_on_alerts_exit_10(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_archive(tmp_path, jsonl([MINER]))

    code, _, _ = run_cli(capsys, "scan", archive, "--out", tmp_path / "o", "--fail-on-alerts")

    assert code == 10


def test_input_error_wins_over_fail_on_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_archive(tmp_path, jsonl([MINER]))
    missing = _missing(tmp_path)

    code, _, _ = run_cli(capsys, "scan", good, missing, "--out", tmp_path / "o", "--fail-on-alerts")

    assert code == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["scan", "x.jsonl", "--no-such-option"],
        ["scan", "x.jsonl", "--limit", "-1"],
        ["scan", "x.jsonl", "--chunk-mb", "0"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run_cli(capsys, *argv)

    assert code == 2
    assert "Traceback" not in err
    assert "Usage" in err


def test_internal_error_exits_1_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_scan(*args: object, **kwargs: object) -> ScanResult:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr("retrohunt.cli.scan.scan", broken_scan)
    monkeypatch.setitem(cli_errors.DEBUG, "enabled", False)
    archive = make_archive(tmp_path, jsonl([MINER]))

    code, _, err = run_cli(capsys, "scan", archive, "--out", tmp_path / "o")

    assert code == 1
    line = one_line(err)
    assert "internal error" in line
    assert "ZeroDivisionError" in line
    assert "--debug" in line


def test_internal_error_with_debug_shows_the_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_scan(*args: object, **kwargs: object) -> ScanResult:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr("retrohunt.cli.scan.scan", broken_scan)
    monkeypatch.setitem(cli_errors.DEBUG, "enabled", False)
    archive = make_archive(tmp_path, jsonl([MINER]))

    with pytest.raises(ZeroDivisionError, match="simulated bug"):
        main(["--debug", "scan", str(archive), "--out", str(tmp_path / "o")])


# --- an unknown source name --------------------------------------------------------------


def test_an_unknown_source_name_is_a_retrohunt_error_in_the_library(tmp_path: Path) -> None:
    # The CLI refuses `--source syslog` itself (exit 2); the library says the same in its
    # own error, not a bare KeyError from a dictionary.
    from retrohunt import scan_archive
    from retrohunt.compiler import compile_rules
    from retrohunt.errors import UnknownSource
    from retrohunt.explain import explain

    archive = make_archive(tmp_path, jsonl([MINER, *BENIGN]))
    with pytest.raises(UnknownSource, match=r"unknown source 'syslog'.*falcon"):
        scan(ScanOptions(archives=(archive,), out=tmp_path / "out", source="syslog"))
    with pytest.raises(UnknownSource):
        explain(compile_rules(None), "syslog")
    with pytest.raises(UnknownSource):
        scan_archive(archive, source="syslog").collect()
