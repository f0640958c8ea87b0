"""`retrohunt alerts` as a user runs it: the newest-first table and its footer, filters,
exports to stdout and to files, and exit codes with one-line messages."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import falcon_dns, falcon_network, falcon_process, jsonl, make_archive
from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.cli import main
from retrohunt.cli.errors import EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from retrohunt.stored import query_alerts

MINER = falcon_process(
    image="/tmp/.cache/xmrig",
    command_line="/tmp/.cache/xmrig -o pool.example.net:3333 --threads 2 " + "-v " * 40,
    ComputerName="WEB-01",
)
POOL_DNS = falcon_dns("pool.supportxmr.com", timestamp="1700000005000", ComputerName="db-01")
POOL_CONNECTION = falcon_network(
    "198.51.100.7", 3333, timestamp="1700000009000", ComputerName="k8s-1"
)
NEWEST_FIRST = ["MiningPoolNetworkConnection", "MiningPoolDNSLookup", "MinerProcessExecution"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """Run `retrohunt ARGV`; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A `scan --out` folder: one alert per bundled rule, a manifest and a process table."""
    archive = make_archive(tmp_path / "in", jsonl([MINER, POOL_DNS, POOL_CONNECTION]))
    folder = tmp_path / "out"
    code, _, _ = run_cli(
        capsys,
        "scan",
        archive,
        "--out",
        folder,
        "--quiet",
        "--process-table",
        folder / "processes.parquet",
    )
    assert code == EXIT_OK
    assert (folder / "manifest.json").exists() and (folder / "processes.parquet").exists()
    return folder


def rule_order(text: str) -> list[str]:
    return re.findall(r"Mining\w+|Miner\w+", text)


def test_the_table_shows_alerts_newest_first_with_a_footer(
    capsys: pytest.CaptureFixture[str], out: Path
) -> None:
    code, stdout, stderr = run_cli(capsys, "alerts", out)

    assert code == EXIT_OK
    for column in ("event_time", "rule_name", "level", "host", "image", "command_line"):
        assert column in stdout
    for column in ("remote", "context", "archive:line"):
        assert column in stdout
    assert rule_order(stdout) == NEWEST_FIRST
    assert "2023-11-14 22:13:29" in stdout  # the connection's time, in UTC
    assert "198.51.100.7:3333" in stdout
    assert "pool.supportxmr.com" in stdout
    assert "events.jsonl.zst:3" in stdout
    assert stderr.strip() == "3 of 3 alerts shown"


def test_the_table_truncates_long_command_lines(
    capsys: pytest.CaptureFixture[str], out: Path
) -> None:
    code, stdout, _ = run_cli(capsys, "alerts", out, "--rule", "MinerProcessExecution")

    assert code == EXIT_OK
    assert "…" in stdout
    assert stdout.count("-v") < 40


def test_limit_and_filters(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    _, stdout, stderr = run_cli(capsys, "alerts", out, "--limit", "1")
    assert rule_order(stdout) == NEWEST_FIRST[:1]
    assert stderr.strip() == "1 of 3 alerts shown"

    _, stdout, stderr = run_cli(capsys, "alerts", out, "--host", "web-01", "--host", "DB-01")
    assert rule_order(stdout) == NEWEST_FIRST[1:]
    assert stderr.strip() == "2 of 2 alerts shown"

    _, stdout, _ = run_cli(
        capsys, "alerts", out, "--rule", "MinerProcessExecution", "--rule", "MiningPoolDNSLookup"
    )
    assert rule_order(stdout) == NEWEST_FIRST[1:]

    _, stdout, _ = run_cli(capsys, "alerts", out, "--since", "2023-11-14T22:13:26Z")
    assert rule_order(stdout) == NEWEST_FIRST[:1]

    _, stdout, _ = run_cli(capsys, "alerts", out, "--until", "2023-11-14T23:13:26+01:00")
    assert rule_order(stdout) == NEWEST_FIRST[1:]


def test_dates_take_in_whole_days(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    _, _, stderr = run_cli(capsys, "alerts", out, "--since", "2023-11-14", "--until", "2023-11-14")
    assert stderr.strip() == "3 of 3 alerts shown"

    code, stdout, stderr = run_cli(capsys, "alerts", out, "--since", "2023-11-15")
    assert code == EXIT_OK
    assert stdout == ""
    assert stderr.strip() == "0 of 0 alerts shown"


def test_csv_to_stdout(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    code, stdout, stderr = run_cli(capsys, "alerts", out, "--format", "csv")

    assert code == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert list(rows[0]) == list(ALERT_SCHEMA)
    assert [row["rule_name"] for row in rows] == NEWEST_FIRST
    assert rows[0]["event_time"] == "2023-11-14T22:13:29.000000Z"
    assert ";" in rows[0]["tags"] and "[" not in rows[0]["tags"]
    assert stderr.strip() == "3 of 3 alerts exported as csv"


def test_json_lines_to_stdout(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    code, stdout, _ = run_cli(capsys, "alerts", out, "--format", "json", "--limit", "2")

    assert code == EXIT_OK
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["rule_name"] for r in records] == NEWEST_FIRST[:2]
    assert isinstance(records[0]["tags"], list)
    assert records[1]["domain"] == "pool.supportxmr.com"


def test_exports_to_files_pick_the_format_from_the_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: Path
) -> None:
    as_csv, as_json = tmp_path / "x.csv", tmp_path / "x.ndjson"

    assert run_cli(capsys, "alerts", out, "--out", as_csv)[0] == EXIT_OK
    code, stdout, stderr = run_cli(capsys, "alerts", out, "-o", as_json, "--rule", NEWEST_FIRST[0])

    assert code == EXIT_OK and stdout == ""
    assert stderr.strip() == f"1 of 1 alerts exported as json to {as_json}"
    assert len(as_csv.read_text(encoding="utf-8").splitlines()) == 4
    assert json.loads(as_json.read_text(encoding="utf-8"))["rule_name"] == NEWEST_FIRST[0]


def test_parquet_export_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: Path
) -> None:
    exported = tmp_path / "export" / "alerts.parquet"

    code, stdout, _ = run_cli(capsys, "alerts", out, "--format", "parquet", "--out", exported)

    assert code == EXIT_OK and stdout == ""
    frame = pl.read_parquet(exported)
    assert frame.schema == pl.Schema(ALERT_SCHEMA)
    assert frame.equals(query_alerts(out).alerts)
    assert frame["rule_name"].to_list() == NEWEST_FIRST


def test_exports_are_not_limited_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {name: None for name in ALERT_SCHEMA} | {"rule_name": "r", "archive": "a"}
    many = pl.DataFrame([row | {"line_number": n} for n in range(501)], schema=ALERT_SCHEMA)
    many.write_parquet(tmp_path / "many.parquet")

    _, _, table = run_cli(capsys, "alerts", tmp_path)
    _, _, everything = run_cli(capsys, "alerts", tmp_path, "--limit", "0")
    _, stdout, exported = run_cli(capsys, "alerts", tmp_path, "--format", "json")

    assert table.strip() == "500 of 501 alerts shown"
    assert everything.strip() == "501 of 501 alerts shown"
    assert exported.strip() == "501 of 501 alerts exported as json"
    assert len(stdout.splitlines()) == 501


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path, fmt: str) -> None:
    row = {name: None for name in ALERT_SCHEMA} | {"rule_name": "r", "command_line": "x" * 200}
    many = pl.DataFrame([row | {"line_number": n} for n in range(2000)], schema=ALERT_SCHEMA)
    many.write_parquet(tmp_path / "many.parquet")  # ~500 KB of output: more than a pipe holds
    command = [sys.executable, "-c", "from retrohunt.cli import run; run()"]

    with subprocess.Popen(
        [*command, "alerts", str(tmp_path), "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:  # like `retrohunt alerts … | head -1`
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)

    assert (code, stderr) == (EXIT_OK, "")


def test_hive_partitioned_hunt_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = {name: None for name in ALERT_SCHEMA} | {"archive": "x.jsonl.zst", "line_number": 7}
    partition = tmp_path / "alerts" / "date=2024-05-02" / "rule=Hunted"
    partition.mkdir(parents=True)
    pl.DataFrame([row | {"rule_name": "Hunted"}], schema=ALERT_SCHEMA).write_parquet(
        partition / "part-0.parquet"
    )
    (partition / ".part-1.parquet.ab12.tmp").write_bytes(b"half")

    code, stdout, stderr = run_cli(capsys, "alerts", tmp_path, "--rule", "Hunted")

    assert code == EXIT_OK
    assert "Hunted" in stdout and "x.jsonl.zst:7" in stdout
    assert stderr.strip() == "1 of 1 alerts shown"


def test_text_from_alerts_is_not_read_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {name: None for name in ALERT_SCHEMA} | {
        "rule_name": "r",
        "command_line": "echo [bold]x[/bold] [/]",
        "archive": "a",
    }
    pl.DataFrame([row], schema=ALERT_SCHEMA).write_parquet(tmp_path / "a.parquet")

    code, stdout, _ = run_cli(capsys, "alerts", tmp_path)

    assert code == EXIT_OK
    assert "echo [bold]x[/bold] [/]" in stdout


def test_a_missing_folder_exits_4_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, stderr = run_cli(capsys, "alerts", tmp_path / "nope")

    assert code == EXIT_INPUT
    assert stdout == ""
    assert stderr.splitlines() == [f"error: {tmp_path / 'nope'}: no such folder"]


def test_a_folder_without_alerts_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")

    code, _, stderr = run_cli(capsys, "alerts", tmp_path)

    assert code == EXIT_INPUT
    assert len(stderr.splitlines()) == 1 and "no alert files" in stderr


def test_a_corrupt_file_exits_4_naming_it(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    bad = out / "broken.alerts.parquet"
    bad.write_bytes(b"PAR1 not really")

    code, _, stderr = run_cli(capsys, "alerts", out)

    assert code == EXIT_INPUT
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith(f"error: {bad}: not a readable Parquet file")


def test_an_unwritable_out_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    code, _, stderr = run_cli(capsys, "alerts", out, "--out", blocker / "x.csv")

    assert code == EXIT_OUTPUT
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--format", "parquet"], "--out"),
        (["--format", "xml"], "must be one of"),
        (["--out", "alerts.txt"], "format"),
        (["--since", "last week"], "not a date"),
        (["--since", "2024-05-02", "--until", "2024-05-01T23:00"], "later than"),
        (["--limit", "-1"], "--limit"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], out: Path, args: list[str], complaint: str
) -> None:
    code, stdout, stderr = run_cli(capsys, "alerts", out, *args)

    assert code == EXIT_USAGE
    assert stdout == ""
    assert complaint in " ".join(stderr.split())


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run_cli(capsys, "alerts", "--help")

    assert code == EXIT_OK
    text = " ".join(stdout.split())
    for option in ("--rule", "--host", "--since", "--until", "--limit", "--format", "--out"):
        assert option in text
    assert "newest first" in text
