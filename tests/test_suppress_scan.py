"""End to end: allow-lists suppress alerts without losing them; labels give precision/recall."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from conftest import falcon_dns, falcon_network, falcon_process, jsonl, make_archive
from retrohunt.cli import main
from retrohunt.scan import ScanOptions, scan

EVENTS = [
    falcon_process(image="/opt/xmrig", command_line="xmrig", ComputerName="mining-01"),
    falcon_process(image="/tmp/xmrig", command_line="xmrig", ComputerName="web-01"),
    falcon_network("203.0.113.9", 4444),
    falcon_dns("pool.supportxmr.com"),
]


def test_allow_list_suppresses_writes_apart_and_counts(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, jsonl(EVENTS), "zstd")
    allow = tmp_path / "allow.yml"
    allow.write_text(
        "entries:\n  - reason: sanctioned miner\n    hosts: [MINING-01]\n"
        "  - reason: orchestration\n    ports: [4444]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = scan(ScanOptions((archive,), out=out, allowlists=(allow,)))
    (archive_result,) = result.archives
    assert sorted(result.alerts["rule_name"]) == ["MinerProcessExecution", "MiningPoolDNSLookup"]
    assert archive_result.suppressed_path is not None
    suppressed = pl.read_ndjson(archive_result.suppressed_path)
    assert sorted(suppressed["suppressed_by"]) == ["orchestration", "sanctioned miner"]
    totals = json.loads((out / "manifest.json").read_text())["totals"]
    assert totals["suppressed"] == 2
    assert totals["suppressed_by_rule"]["MiningPoolNetworkConnection"] == 1
    # Only alerts are Parquet: the output glob never mixes in suppressed rows.
    assert pl.scan_parquet(f"{out}/**/*.parquet").collect().height == 2


def test_labels_report_precision_and_recall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_archive(tmp_path, jsonl(EVENTS), "gzip")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"line": 1, "rules": ["MinerProcessExecution"]}\n'
        '{"line": 2, "rules": ["MinerProcessExecution"]}\n'
        '{"line": 4, "rules": ["MiningPoolDNSLookup"]}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["scan", str(archive), "--out", str(out), "--labels", str(labels)]) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "recall" in printed
    evaluation = json.loads((out / "manifest.json").read_text())["evaluation"]
    assert evaluation["total"]["recall"] == 1.0
    assert evaluation["total"]["false_positives"] == 1  # the unlabelled pool connection
    assert evaluation["unexpected_examples"] == [[3, "MiningPoolNetworkConnection"]]


def test_labels_with_two_archives_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_archive(tmp_path, jsonl(EVENTS), "none")
    code = main(["scan", str(archive), str(archive), "--labels", str(archive)])
    assert code == 2
