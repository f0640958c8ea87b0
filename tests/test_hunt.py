"""`retrohunt hunt` end to end (issue 6's "done when"): a generated tree of archives (gzip,
zstd, one truncated, one with bad lines, a process in one archive and its connection in
the next) is hunted, rerun, re-hunted after a rule change, killed with SIGKILL and resumed,
locked, run on a real local Dask cluster and through a file:// URL.

The oracle for "the right alerts" is `scan` over the same archives in the same order:
its process join covers every archive of the run, as a hunt's does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
import zstandard

import retrohunt.context as context_module
from retrohunt.cli import main
from retrohunt.hunt import HuntOptions, HuntResult, hunt
from retrohunt.ledger import DONE, FAILED, LEDGER_NAME, HuntLock
from retrohunt.scan import ScanOptions, scan
from test_process_join import LIN_AID, MINER, MINER_CMD, START_MS, connection, lines, process

REPO = Path(__file__).resolve().parents[1]
FALCON = REPO / "corpora/falcon/sample.jsonl.zst"
MIXED = REPO / "corpora/mixed/sample.jsonl.zst"
CLOUDTRAIL = REPO / "corpora/cloudtrail/sample.json.gz"
RULES = REPO / "rules"

TRUNCATED = "2026-11-21/truncated.jsonl.zst"
BAD_LINES = "2026-11-22/bad-lines.jsonl.gz"
MINER_PID = "91827364510"


def build_tree(root: Path) -> list[Path]:
    """The test tree; returns its archives in location order."""
    falcon = zstandard.ZstdDecompressor().decompress(FALCON.read_bytes(), max_output_size=1 << 30)
    mixed = zstandard.ZstdDecompressor().decompress(MIXED.read_bytes(), max_output_size=1 << 30)
    files: dict[str, bytes] = {
        "2026-11-20/falcon.jsonl.zst": FALCON.read_bytes(),
        "2026-11-20/mixed.jsonl.gz": gzip.compress(mixed, mtime=0),
        "2026-11-21/cloudtrail.json.gz": CLOUDTRAIL.read_bytes(),
        TRUNCATED: FALCON.read_bytes()[: FALCON.stat().st_size // 2],
        BAD_LINES: gzip.compress(_with_bad_lines(falcon), mtime=0),
        # A Linux miner starts on the 22nd; its pool connection is in the next day's archive.
        "2026-11-22/processes.jsonl.zst": _zstd(
            lines([process(MINER_PID, MINER, MINER_CMD, aid=LIN_AID, at_ms=START_MS)])
        ),
        "2026-11-23/connections.jsonl.zst": _zstd(
            lines([connection(MINER_PID, aid=LIN_AID, at_ms=START_MS + 86_400_000)])
        ),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "2026-11-20/README.txt").write_text("not an archive\n")
    return sorted(root / relative for relative in files)


def _with_bad_lines(data: bytes) -> bytes:
    kept = data.splitlines()[:800]
    kept[10:10] = [b'{"event_simpleName": "ProcessRollup2", "CommandLine": "xmrig', b"\xff\xfe"]
    return b"\n".join(kept) + b"\n"


def _zstd(rows: list[bytes]) -> bytes:
    return zstandard.ZstdCompressor().compress(b"\n".join(rows) + b"\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("archives")
    return root, build_tree(root)


@pytest.fixture(scope="module")
def expected(tree: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Alert ids of one `scan` over every archive, in location order."""
    _, archives = tree
    result = scan(ScanOptions(archives=tuple(archives), out=tmp_path_factory.mktemp("scan")))
    return set(result.alerts["alert_id"])


@pytest.fixture(scope="module")
def first_hunt(tree: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hunt")
    assert main(["hunt", str(tree[0]), "--out", str(out), "--workers", "2", "-q"]) == 4
    return out


def stored(out: Path) -> pl.DataFrame:
    files = sorted(out.glob("**/*.parquet"))
    return (
        pl.read_parquet(files)
        if files
        else pl.DataFrame({"alert_id": []}, schema={"alert_id": pl.String})
    )


def stored_ids(out: Path) -> set[str]:
    frame = stored(out)
    assert frame["alert_id"].n_unique() == frame.height, "duplicate alert ids"
    return set(frame["alert_id"])


def ledger_rows(out: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(out / LEDGER_NAME) as db:
        rows = db.execute("SELECT location, status, error FROM archives").fetchall()
    return {Path(location).name: (status, error) for location, status, error in rows}


# --- one run ----------------------------------------------------------------------------------


COMPARED = [
    "alert_id",
    "rule_name",
    "archive",
    "line_number",
    "byte_offset",
    "record_index",
    "event_time",
    "host",
    "image",
    "command_line",
    "container_id",
    "process_context",
]


def test_a_hunt_writes_the_alerts_a_scan_finds(
    first_hunt: Path, expected: set[str], tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    assert expected  # the tree has alerts to find
    assert stored_ids(first_hunt) == expected
    # Row for row: held lines resolved together across archives keep their own archive,
    # offset and joined process.
    scanned = scan(ScanOptions(archives=tuple(tree[1]), out=tmp_path)).alerts
    hunted = stored(first_hunt)
    assert (
        hunted.select(COMPARED).sort("alert_id").equals(scanned.select(COMPARED).sort("alert_id"))
    )


def test_the_truncated_archive_is_failed_and_the_others_done(first_hunt: Path) -> None:
    rows = ledger_rows(first_hunt)
    assert len(rows) == 7  # README.txt is not an archive
    status, error = rows["truncated.jsonl.zst"]
    assert status == FAILED and error is not None and "truncated" in error
    assert {name for name, (s, _) in rows.items() if s == DONE} == set(rows) - {
        "truncated.jsonl.zst"
    }


def test_the_truncated_archive_keeps_its_alerts_before_the_damage(first_hunt: Path) -> None:
    alerts = stored(first_hunt)
    assert alerts.filter(pl.col("archive").str.ends_with("truncated.jsonl.zst")).height > 0


def test_bad_lines_are_quarantined(first_hunt: Path) -> None:
    quarantined = list((first_hunt / "quarantine").glob("bad-lines.jsonl.gz.*.quarantine.jsonl"))
    assert len(quarantined) == 1
    records = pl.read_ndjson(quarantined[0])
    assert records.height == 2


def test_a_process_of_an_earlier_archive_resolves_a_later_one(first_hunt: Path) -> None:
    alerts = stored(first_hunt).filter(pl.col("archive").str.ends_with("connections.jsonl.zst"))
    assert alerts["rule_name"].to_list() == ["MiningPoolNetworkConnection"]
    assert alerts["process_context"].to_list() == ["joined"]
    assert alerts["image"].to_list() == [MINER]


def test_a_hunt_whose_process_table_spills_gives_the_same_alerts(
    tree: tuple[Path, list[Path]],
    first_hunt: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context_module, "SPILL_ROWS", 0)
    out = tmp_path / "hunt"

    assert main(["hunt", str(tree[0]), "--out", str(out), "--workers", "2", "-q"]) == 4

    assert (
        stored(out)
        .select(COMPARED)
        .sort("alert_id")
        .equals(stored(first_hunt).select(COMPARED).sort("alert_id"))
    )
    assert not list(out.rglob(".retrohunt-processes-*"))


def test_alerts_are_partitioned_by_date_and_rule(first_hunt: Path) -> None:
    files = sorted((first_hunt / "alerts").glob("date=*/rule=*/*.parquet"))
    assert files
    for file in files:
        frame = pl.read_parquet(file)
        rule = file.parent.name.removeprefix("rule=")
        day = file.parent.parent.name.removeprefix("date=")
        assert set(frame["rule_name"]) == {rule}
        assert {str(d) for d in frame["event_time"].dt.date()} == {day}
    hive = pl.scan_parquet(first_hunt / "alerts", hive_partitioning=True)
    assert hive.filter(pl.col("rule") == "MinerProcessExecution").collect().height > 0


def test_the_manifest_and_summary_name_the_failed_archive(first_hunt: Path) -> None:
    manifest = (first_hunt / "manifest.json").read_text()
    assert "truncated.jsonl.zst" in manifest
    assert list((first_hunt / "runs").glob("run-*.json"))


# --- reruns -----------------------------------------------------------------------------------


def _copy(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy


def test_a_rerun_skips_every_archive(
    first_hunt: Path, tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    out = _copy(first_hunt, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in out.glob("alerts/**/*.parquet")}
    result = hunt(HuntOptions(root=tree[0], out=out))
    assert result.read == 0 and len(result.skipped) == 7 and result.results == []
    assert {p: p.stat().st_mtime_ns for p in out.glob("alerts/**/*.parquet")} == before


def test_force_hunts_everything_again_without_duplicates(
    first_hunt: Path, tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str]
) -> None:
    out = _copy(first_hunt, tmp_path)
    result = hunt(HuntOptions(root=tree[0], out=out, force=True, workers=1))
    assert result.read == 7 and result.skipped == []
    assert stored_ids(out) == expected  # the same files rewritten, nothing twice


def test_retry_failed_reads_only_the_failed_archive(
    first_hunt: Path, tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    out = _copy(first_hunt, tmp_path)
    result = hunt(HuntOptions(root=tree[0], out=out, retry_failed=True))
    assert result.read == 1
    assert [Path(str(r.path)).name for r in result.failed] == ["truncated.jsonl.zst"]


def _changed_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    rule = next(rules.rglob("mining_pool_dns_lookup.yml"))
    rule.write_text(rule.read_text().replace("level: high", "level: critical", 1))
    return rules


def test_a_changed_rule_set_hunts_everything_again(
    first_hunt: Path, tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str]
) -> None:
    out = _copy(first_hunt, tmp_path)
    result = hunt(HuntOptions(root=tree[0], out=out, rules=(_changed_rules(tmp_path),)))
    assert result.read == 7
    alerts = stored(out)
    assert set(alerts["alert_id"]) == expected and alerts.height == len(expected)
    levels = alerts.filter(pl.col("rule_name") == "MiningPoolDNSLookup")["level"]
    assert set(levels) == {"critical"}


def test_only_new_keeps_to_new_archives_after_a_rule_change(
    first_hunt: Path, tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    out = _copy(first_hunt, tmp_path)
    options = HuntOptions(root=tree[0], out=out, rules=(_changed_rules(tmp_path),), only_new=True)
    assert hunt(options).read == 0


def test_a_replaced_archive_is_hunted_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    archive = root / "2026-11-20/falcon.jsonl.zst"
    archive.parent.mkdir(parents=True)
    shutil.copy(FALCON, archive)
    out = tmp_path / "out"
    hunt(HuntOptions(root=root, out=out, workers=1))
    archive.write_bytes(_zstd(lines([process("1", MINER, MINER_CMD, aid=LIN_AID)])))
    result = hunt(HuntOptions(root=root, out=out, workers=1))
    assert result.read == 1
    alerts = stored(out)  # the old content's alert files are gone
    assert set(alerts["archive_sha256"]) == {result.results[0].sha256}


# --- choosing archives ------------------------------------------------------------------------


def test_since_until_and_glob_choose_archives(
    tree: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    result = hunt(
        HuntOptions(
            root=tree[0],
            out=tmp_path / "a",
            since=dt.date(2026, 11, 21),
            until=dt.date(2026, 11, 22),
        )
    )
    assert result.found == 4
    result = hunt(HuntOptions(root=tree[0], out=tmp_path / "b", glob="**/*.gz"))
    assert sorted(Path(str(r.path)).name for r in result.results) == [
        "bad-lines.jsonl.gz",
        "cloudtrail.json.gz",
        "mixed.jsonl.gz",
    ]


def test_a_missing_root_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hunt", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 4
    err = capsys.readouterr().err
    assert "no such folder" in err and "Traceback" not in err
    with sqlite3.connect(tmp_path / "out" / LEDGER_NAME) as db:
        ((status, summary),) = db.execute("SELECT status, summary FROM runs").fetchall()
    assert status == "error" and "ArchiveNotFound" in summary


# --- kill -9 and resume -----------------------------------------------------------------------

_KILL_AT = """
import os, signal, sys
from pathlib import Path
from retrohunt.hunt import HuntOptions, hunt

phase, after = sys.argv[3], int(sys.argv[4])

def progress(event):
    if event.phase == phase and event.archives_done == after:
        os.kill(os.getpid(), signal.SIGKILL)

hunt(HuntOptions(root=Path(sys.argv[1]), out=Path(sys.argv[2]), workers=1), progress)
"""


@pytest.mark.parametrize(("phase", "after"), [("read", 1), ("read", 5), ("finish", 3)])
def test_a_run_killed_at_a_step_resumes_to_the_same_alerts(
    tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str], phase: str, after: int
) -> None:
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT, str(tree[0]), str(out), phase, str(after)],
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    rows = ledger_rows(out)
    assert 0 < sum(status == DONE for status, _ in rows.values()) < 7 or phase == "read"
    result = hunt(HuntOptions(root=tree[0], out=out, workers=1))
    assert result.read == 7 - (after if phase == "read" else 7)
    assert stored_ids(out) == expected
    assert not list(out.glob("**/*.tmp")) and not list((out / "state").glob("*/"))


def test_a_run_killed_from_outside_resumes_to_the_same_alerts(
    tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str]
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from retrohunt.cli import run; run()"]
    process_ = subprocess.Popen(
        [*command, "hunt", str(tree[0]), "--out", str(out), "--workers", "1", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process_.poll() is None:
        with contextlib.suppress(sqlite3.OperationalError):  # not created yet
            if (out / LEDGER_NAME).exists() and ledger_rows(out):
                break
        time.sleep(0.002)
    process_.send_signal(signal.SIGKILL)
    process_.wait(timeout=30)
    assert process_.returncode == -signal.SIGKILL
    assert main(["hunt", str(tree[0]), "--out", str(out), "--workers", "1", "-q"]) == 4
    assert stored_ids(out) == expected


# --- lock, cluster, URL -----------------------------------------------------------------------


def test_a_second_hunt_on_the_same_output_is_refused(
    tree: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from retrohunt.ledger import HuntLock
                with HuntLock(Path({str(out)!r})):
                    print("locked", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        assert main(["hunt", str(tree[0]), "--out", str(out), "-q"]) == 6
        err = capsys.readouterr().err
        assert "another hunt is running" in err and f"pid {holder.pid}" in err
        assert not (out / "alerts").exists()
    finally:
        holder.kill()
        holder.wait()
    with HuntLock(out):  # released when its holder died
        pass


def test_a_dask_cluster_gives_the_same_alerts(
    tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str]
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = hunt(
            HuntOptions(root=tree[0], out=tmp_path / "out", scheduler=cluster.scheduler_address)
        )
    assert result.workers.startswith("dask ")
    assert result.read == 7
    assert stored_ids(tmp_path / "out") == expected


def test_an_unreachable_scheduler_is_a_clear_error(
    tree: tuple[Path, list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    code = main(
        ["hunt", str(tree[0]), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 7
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_a_file_url_gives_the_same_alerts(
    tree: tuple[Path, list[Path]], tmp_path: Path, expected: set[str]
) -> None:
    result: HuntResult = hunt(HuntOptions(root=tree[0].as_uri(), out=tmp_path / "out"))
    assert result.read == 7
    assert stored_ids(tmp_path / "out") == expected
    assert all(str(r.path).startswith("file://") for r in result.results)


def test_workers_one_and_two_agree(tree: tuple[Path, list[Path]], tmp_path: Path) -> None:
    hunt(HuntOptions(root=tree[0], out=tmp_path / "one", workers=1))
    hunt(HuntOptions(root=tree[0], out=tmp_path / "two", workers=2))
    assert stored_ids(tmp_path / "one") == stored_ids(tmp_path / "two")


def test_the_environment_is_left_as_it_was(tree: tuple[Path, list[Path]], tmp_path: Path) -> None:
    before = os.environ.get("POLARS_MAX_THREADS")
    hunt(HuntOptions(root=tree[0], out=tmp_path / "out", workers=2, glob="2026-11-20/*"))
    assert os.environ.get("POLARS_MAX_THREADS") == before
