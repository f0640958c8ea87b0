"""`retrohunt scan` and friends as a user runs them: the Parquet contract, stable alert ids,
JSON and quiet output, the alert table, exit codes, rules listing and help."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import falcon_dns, falcon_network, falcon_process, jsonl, make_archive
from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.cli import main
from retrohunt.scan import ScanOptions, scan

CONTRACT = [
    "alert_id",
    "rule_id",
    "rule_name",
    "rule_title",
    "level",
    "tags",
    "event_time",
    "source",
    "event_type",
    "host",
    "user",
    "image",
    "command_line",
    "parent_image",
    "remote_ip",
    "remote_port",
    "domain",
    "archive",
    "line_number",
    "byte_offset",
    "matched",
]
BUNDLED_RULES = ["MinerProcessExecution", "MiningPoolDNSLookup", "MiningPoolNetworkConnection"]

MINER = falcon_process(
    image="/tmp/.cache/xmrig",
    command_line="/tmp/.cache/xmrig -o pool.example.net:3333 --threads 2",
    ParentImageFileName="/usr/sbin/cron",
)
POOL_DNS = falcon_dns("pool.supportxmr.com", timestamp="1700000005000")
POOL_CONNECTION = falcon_network("198.51.100.7", 3333, timestamp="1700000009000")
BENIGN = [falcon_process(), falcon_network("10.0.0.5", 443), falcon_dns("example.com")]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run `retrohunt ARGV`; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_output(out: Path) -> pl.DataFrame:
    return pl.scan_parquet(str(out) + "/**/*.parquet").collect()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Three malicious events (one per bundled rule) among benign ones."""
    lines = jsonl([BENIGN[0], MINER, BENIGN[1], POOL_DNS, BENIGN[2], POOL_CONNECTION])
    return make_archive(tmp_path / "in", lines, "zstd-multiframe")


def test_alert_schema_starts_with_the_output_contract() -> None:
    assert list(ALERT_SCHEMA)[: len(CONTRACT)] == CONTRACT


def test_scan_writes_parquet_with_the_contract_columns_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    out = tmp_path / "out"

    code, _, _ = run_cli(capsys, "scan", archive, "--out", out)

    assert code == 0
    alerts = read_output(out)
    assert alerts.columns[: len(CONTRACT)] == CONTRACT
    assert {name: alerts.schema[name] for name in CONTRACT} == {
        name: ALERT_SCHEMA[name] for name in CONTRACT
    }
    assert alerts.height == 3
    assert alerts["alert_id"].null_count() == 0
    assert alerts["alert_id"].n_unique() == 3


def test_scan_alert_rows_describe_the_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    out = tmp_path / "out"

    run_cli(capsys, "scan", archive, "--out", out, "--quiet")

    rows = {row["rule_name"]: row for row in read_output(out).iter_rows(named=True)}
    assert sorted(rows) == BUNDLED_RULES
    process = rows["MinerProcessExecution"]
    assert process["line_number"] == 2
    assert process["byte_offset"] == len(jsonl([BENIGN[0]])[0]) + 1
    assert process["image"] == MINER["ImageFileName"]
    assert process["command_line"] == MINER["CommandLine"]
    assert process["parent_image"] == "/usr/sbin/cron"
    assert process["user"] == "www-data"
    assert process["host"] == "web-01"
    assert process["source"] == "falcon"
    assert process["event_type"] == "ProcessRollup2"
    assert process["level"] == "high"
    assert "attack.t1204.003" in process["tags"]
    assert process["rule_id"] == "3f6c1a52-8d4e-4b1f-9a47-2c8e0d5b7a11"
    assert process["rule_title"] == "Cryptominer Process Execution"
    assert process["event_time"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    assert process["archive"] == str(archive)
    assert process["matched"]
    network = rows["MiningPoolNetworkConnection"]
    assert (network["remote_ip"], network["remote_port"]) == ("198.51.100.7", 3333)
    assert network["line_number"] == 6
    assert rows["MiningPoolDNSLookup"]["domain"] == "pool.supportxmr.com"


def test_alert_ids_are_identical_across_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    run_cli(capsys, "scan", archive, "--out", tmp_path / "first", "--quiet")
    run_cli(capsys, "scan", archive, "--out", tmp_path / "second", "--quiet")

    first = read_output(tmp_path / "first").sort("alert_id")
    second = read_output(tmp_path / "second").sort("alert_id")
    assert first["alert_id"].to_list() == second["alert_id"].to_list()
    assert first.drop("event_time").equals(second.drop("event_time"))


def test_alert_ids_do_not_depend_on_the_archive_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    renamed = tmp_path / "elsewhere" / "copy-of-events.jsonl.zst"
    renamed.parent.mkdir()
    shutil.copy(archive, renamed)

    run_cli(capsys, "scan", archive, "--out", tmp_path / "a", "--quiet")
    run_cli(capsys, "scan", renamed, "--out", tmp_path / "b", "--quiet")

    original = read_output(tmp_path / "a").sort("line_number", "rule_name")
    copied = read_output(tmp_path / "b").sort("line_number", "rule_name")
    assert original["alert_id"].to_list() == copied["alert_id"].to_list()
    assert set(copied["archive"]) == {str(renamed)}


def test_alert_ids_change_with_archive_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = make_archive(tmp_path / "one", jsonl([MINER, BENIGN[0]]))
    two = make_archive(tmp_path / "two", jsonl([MINER, BENIGN[1]]))  # same line 1, other file

    run_cli(capsys, "scan", one, "--out", tmp_path / "a", "--quiet")
    run_cli(capsys, "scan", two, "--out", tmp_path / "b", "--quiet")

    (id_one,) = read_output(tmp_path / "a")["alert_id"].to_list()
    (id_two,) = read_output(tmp_path / "b")["alert_id"].to_list()
    assert id_one != id_two


def test_json_output_totals_equal_the_library_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        *jsonl([MINER, *BENIGN, POOL_DNS]),
        b"{not json",
        jsonl([POOL_CONNECTION])[0].replace(b"web-01", b"web-\xff1"),
    ]
    archive = make_archive(tmp_path / "in", lines, "gzip")

    code, stdout, _ = run_cli(capsys, "scan", archive, "--out", tmp_path / "cli", "--json")
    result = scan(ScanOptions(archives=(archive,), out=tmp_path / "lib"))

    assert code == 0
    document: dict[str, Any] = json.loads(stdout)
    totals = document["totals"]
    archives = result.archives
    assert totals["archives"] == len(archives) == 1
    assert totals["failed"] == len(result.failed) == 0
    assert totals["lines"] == sum(a.lines for a in archives) == 7
    assert totals["events"] == sum(a.events for a in archives) == 6
    assert totals["bad_lines"] == sum(a.bad_lines for a in archives) == 1
    assert totals["invalid_utf8_lines"] == sum(a.invalid_utf8 for a in archives) == 1
    assert totals["decompressed_bytes"] == sum(a.decompressed_bytes for a in archives)
    assert totals["alerts"] == result.alerts.height == 3
    fired = {name: n for name, n in totals["alerts_by_rule"].items() if n}
    assert fired == dict.fromkeys(BUNDLED_RULES, 1)
    assert document["rule_set_digest"] == result.plan.digest
    assert sorted(a["alert_id"] for a in document["newest_alerts"]) == sorted(
        result.alerts["alert_id"].to_list()
    )


def test_quiet_prints_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    out = tmp_path / "out"

    code, stdout, err = run_cli(capsys, "scan", archive, "--out", out, "--quiet")

    assert code == 0
    assert stdout == ""
    assert err == ""
    assert read_output(out).height == 3


def _archive_with_times(tmp_path: Path, seconds: list[int]) -> Path:
    """Miner events whose command line names their index, at the given times."""
    events = [
        falcon_process(
            image="/opt/xmrig",
            command_line=f"/opt/xmrig --threads 1 --tag marker-{index}",
            timestamp=str(1_700_000_000_000 + second * 1000),
        )
        for index, second in enumerate(seconds)
    ]
    return make_archive(tmp_path / "in", jsonl(events))


def test_table_shows_newest_alerts_first_and_at_most_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = [30, 10, 50, 20, 40, 0]  # newest: index 2 (50 s), then 4, then 0
    archive = _archive_with_times(tmp_path, seconds)

    code, stdout, _ = run_cli(capsys, "scan", archive, "--out", tmp_path / "o", "--limit", "3")

    assert code == 0
    shown = [int(m) for m in re.findall(r"marker-(\d+)", stdout)]
    assert shown == [2, 4, 0]


def test_json_newest_alerts_are_newest_first_and_limited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive_with_times(tmp_path, [30, 10, 50, 20, 40, 0])

    code, stdout, _ = run_cli(
        capsys, "scan", archive, "--out", tmp_path / "o", "--limit", "4", "--json"
    )

    assert code == 0
    newest = json.loads(stdout)["newest_alerts"]
    assert [a["command_line"][-8:] for a in newest] == [
        "marker-2",
        "marker-4",
        "marker-0",
        "marker-3",
    ]


def test_limit_zero_shows_no_alert_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _archive_with_times(tmp_path, [1, 2])

    code, stdout, _ = run_cli(capsys, "scan", archive, "--out", tmp_path / "o", "--limit", "0")

    assert code == 0
    assert re.findall(r"marker-\d+", stdout) == []
    assert read_output(tmp_path / "o").height == 2


def test_fail_on_alerts_exits_10_with_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    code, _, _ = run_cli(
        capsys, "scan", archive, "--out", tmp_path / "o", "--fail-on-alerts", "--quiet"
    )

    assert code == 10
    assert read_output(tmp_path / "o").height == 3


def test_fail_on_alerts_exits_0_without_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benign = make_archive(tmp_path / "in", jsonl(BENIGN))

    code, _, _ = run_cli(
        capsys, "scan", benign, "--out", tmp_path / "o", "--fail-on-alerts", "--quiet"
    )

    assert code == 0
    empty = read_output(tmp_path / "o")
    assert empty.height == 0
    assert empty.columns[: len(CONTRACT)] == CONTRACT


def test_rules_list_lists_the_bundled_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_cli(capsys, "rules", "list")

    assert code == 0
    for name in BUNDLED_RULES:
        assert name in stdout
    assert err == ""


def test_rules_list_exits_3_on_a_refused_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = tmp_path / "regex.yml"
    rule.write_text(
        "title: R\nid: 5b0d7a55-0c53-4a8e-9d7e-0f5a3c2b1a09\nname: RegexOnly\n"
        "logsource: {category: process_creation}\n"
        "detection:\n  sel:\n    CommandLine|re: 'a(?=b)'\n  condition: sel\n",
        encoding="utf-8",
    )

    code, _, err = run_cli(capsys, "rules", "list", "--rules", rule)

    assert code == 3
    assert "RegexOnly" in err
    assert "refused" in err


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["--help"], ["scan", "rules", "corpus", "--debug"]),
        (
            ["scan", "--help"],
            [
                "--rules",
                "--out",
                "--strict",
                "--limit",
                "--quiet",
                "--json",
                "--fail-on-alerts",
                "--chunk-mb",
                "--no-prefilter",
                "--no-process-join",
                "--process-table",
                "--process-horizon",
            ],
        ),
        (["rules", "list", "--help"], ["--rules"]),
        (["rules", "explain", "--help"], ["--rules", "--source", "--json"]),
        (["corpus", "--help"], ["generate"]),
        (
            ["corpus", "generate", "--help"],
            [
                "--out",
                "--events",
                "--seed",
                "--malicious-rate",
                "--compression",
                "--labels",
                "--frame-lines",
            ],
        ),
    ],
)
def test_help_exits_0_and_mentions_the_options(
    capsys: pytest.CaptureFixture[str], argv: list[str], options: list[str]
) -> None:
    code, stdout, _ = run_cli(capsys, *argv)

    assert code == 0
    assert "Usage" in stdout
    for option in options:
        assert option in stdout


@pytest.fixture
def joined_archive(tmp_path: Path) -> Path:
    """A miner process (TargetProcessId 41873), then its pool lookup and connection, which
    name it only by ContextProcessId; a benign process too."""
    lines = jsonl(
        [
            {**BENIGN[0], "TargetProcessId": "90001"},
            {**MINER, "TargetProcessId": "41873"},
            POOL_DNS,
            POOL_CONNECTION,
        ]
    )
    return make_archive(tmp_path / "joined", lines)


def test_summary_shows_the_prefilter_pass_rate_and_the_join_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], joined_archive: Path
) -> None:
    table = tmp_path / "state" / "processes.parquet"

    code, stdout, _ = run_cli(
        capsys, "scan", joined_archive, "--out", tmp_path / "o", "--process-table", table
    )

    assert code == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    rate = manifest["inputs"][0]["prefilter_pass_rate"]
    assert 0 < rate < 1
    assert "parsed" in stdout
    assert f"{rate:.2%}" in stdout
    join = manifest["process_join"]
    assert join["processes_added"] == 2
    assert f"{join['processes_added']:,} processes added" in stdout
    assert f"{join['held_back_lines']:,} lines held back" in stdout
    assert f"table {join['table_processes']:,} processes" in stdout
    assert pl.read_parquet(table).height == 2
    connection = read_output(tmp_path / "o").filter(
        pl.col("rule_name") == "MiningPoolNetworkConnection"
    )
    assert connection["image"].to_list() == [MINER["ImageFileName"]]
    assert connection["process_context"].to_list() == ["joined"]


def test_summary_says_when_prefilter_and_join_are_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    code, stdout, _ = run_cli(
        capsys, "scan", archive, "--out", tmp_path / "o", "--no-prefilter", "--no-process-join"
    )

    assert code == 0
    assert "prefilter: off" in stdout
    assert "process join: off" in stdout
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prefilter"]["enabled"] is False
    assert manifest["process_join"]["enabled"] is False
    assert manifest["totals"]["prefilter_pass_rate"] == 1.0


def test_no_prefilter_gives_the_same_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    run_cli(capsys, "scan", archive, "--out", tmp_path / "on", "--quiet")
    run_cli(capsys, "scan", archive, "--out", tmp_path / "off", "--quiet", "--no-prefilter")

    on = read_output(tmp_path / "on").sort("alert_id")
    off = read_output(tmp_path / "off").sort("alert_id")
    assert on.height == 3
    assert on.equals(off)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--process-horizon", "0", "--process-table", "t.parquet"], "more than 0 days"),
        (["--process-horizon", "-2", "--process-table", "t.parquet"], "more than 0 days"),
        (["--process-horizon", "nan", "--process-table", "t.parquet"], "more than 0 days"),
        (["--process-horizon", "inf", "--process-table", "t.parquet"], "too long"),
        (["--process-horizon", "seven", "--process-table", "t.parquet"], "valid number"),
        (["--process-horizon", "3"], "give one"),
        (["--no-process-join", "--process-table", "t.parquet"], "--no-process-join"),
    ],
)
def test_bad_process_join_options_are_usage_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    archive: Path,
    argv: list[str],
    message: str,
) -> None:
    code, _, err = run_cli(capsys, "scan", archive, "--out", tmp_path / "o", *argv)

    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "o").exists()  # refused before anything was scanned


def test_a_horizon_in_days_reaches_the_manifest_and_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], joined_archive: Path
) -> None:
    table = tmp_path / "processes.parquet"

    code, _, _ = run_cli(
        capsys,
        "scan",
        joined_archive,
        "--out",
        tmp_path / "o",
        "-q",
        "--process-table",
        table,
        "--process-horizon",
        "0.5",
    )

    assert code == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["process_join"]["horizon_days"] == 0.5
    assert manifest["process_join"]["table_file"] == str(table)
    assert pl.read_parquet(table).height == 2


def test_a_process_table_is_kept_up_to_date_even_when_no_rule_needs_the_join(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], joined_archive: Path
) -> None:
    # Tomorrow's rules may test the image of network events: today's processes must be in
    # the table whatever today's rules read.
    rule = Path(__file__).resolve().parents[2] / "rules/t1204.003-malicious-image"
    table = tmp_path / "processes.parquet"

    code, _, _ = run_cli(
        capsys,
        "scan",
        joined_archive,
        "--out",
        tmp_path / "o",
        "--rules",
        rule / "miner_process_execution.yml",
        "--process-table",
        table,
    )

    assert code == 0
    assert pl.read_parquet(table).height == 2


def test_summary_says_when_the_process_table_is_not_updated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], joined_archive: Path
) -> None:
    table = tmp_path / "processes.parquet"

    code, stdout, _ = run_cli(
        capsys,
        "scan",
        joined_archive,
        "--out",
        tmp_path / "o",
        "--source",
        "sysmon",
        "--process-table",
        table,
    )

    assert code == 0
    assert "no source has one" in stdout
    assert "not updated" in " ".join(stdout.split())
    assert not table.exists()


def test_workers_evaluate_chunks_in_processes_with_the_same_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive: Path
) -> None:
    # Without the process join and the prefilter, chunks stand alone: two processes take them.
    common = ["--no-prefilter", "--no-process-join", "--chunk-mb", "1", "--limit", "0"]
    code, stdout, _ = run_cli(capsys, "scan", archive, "--out", tmp_path / "two", "--workers",
                              "2", *common)  # fmt: skip
    assert code == 0
    assert "workers: 2 processes evaluated 1 chunks" in stdout
    run_cli(capsys, "scan", archive, "--out", tmp_path / "one", *common)
    ids = [sorted(read_output(tmp_path / name)["alert_id"].to_list()) for name in ("one", "two")]
    assert ids[0] == ids[1] and len(ids[0]) == 3
    code, _, err = run_cli(capsys, "scan", archive, "--out", tmp_path / "x", "--workers", "0")
    assert code == 2 and "--workers" in err
