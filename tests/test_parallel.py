"""Chunks evaluated in worker processes give what one process gives: alerts (ids too),
counts and quarantined lines, in the same order."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import falcon_process, jsonl, make_archive
from retrohunt import engine as engine_module
from retrohunt.scan import ScanOptions, ScanResult, scan

RULE = """
title: Miner command line
name: MinerCommandLine
logsource: {category: process_creation}
detection:
  miner:
    CommandLine|contains: stratum+tcp
  condition: miner
"""


def _archive(tmp_path: Path) -> Path:
    lines = []
    for n in range(3_000):
        miner = n % 101 == 0
        command = "xmrig -o stratum+tcp://pool.example:3333" if miner else f"bash -c 'n={n}'"
        lines.extend(jsonl([falcon_process("/usr/bin/bash", command)]))
        if n % 499 == 0:
            lines.append(b'{"broken": ')  # bad JSON: quarantined
        if n % 701 == 0:  # invalid UTF-8, replaced: the line still alerts
            (line,) = jsonl([falcon_process("/usr/bin/bash", "stratum+tcp BAD")])
            lines.append(line.replace(b"BAD", b"\xff"))
    return make_archive(tmp_path, lines)


def _scan(tmp_path: Path, archive: Path, name: str, **options: object) -> ScanResult:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "rule.yml").write_text(textwrap.dedent(RULE))
    return scan(
        ScanOptions(
            archives=(archive,),
            out=tmp_path / name,
            rules=(tmp_path / "rules",),
            chunk_size=32 << 10,  # many chunks
            source="falcon",
            process_join=False,
            **options,  # type: ignore[arg-type]
        )
    )


def _comparable(result: ScanResult) -> tuple[object, ...]:
    archive = result.archives[0]
    alerts = result.alerts.select("alert_id", "line_number", "byte_offset", "rule_name")
    quarantine = (
        [
            {k: v for k, v in json.loads(line).items() if k != "archive"}
            for line in archive.quarantine_path.read_text().splitlines()  # type: ignore[union-attr]
        ]
        if archive.quarantine_path
        else []
    )
    return (
        alerts.sort("byte_offset").rows(),
        archive.lines,
        archive.events,
        archive.bad_lines,
        archive.invalid_utf8,
        archive.candidate_lines,
        quarantine,
    )


@pytest.mark.parametrize("together", [True, False], ids=["chunks-together", "chunk-by-chunk"])
def test_two_workers_give_what_one_process_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, together: bool
) -> None:
    archive = _archive(tmp_path)
    if not together:  # each chunk sent alone to a worker, as on a large archive
        monkeypatch.setattr(engine_module, "WHOLE_FLUSH_BYTES", 1)
    else:
        monkeypatch.setattr(engine_module, "WHOLE_FLUSH_BYTES", 100 << 10)  # some together
    one = _scan(tmp_path, archive, "one", prefilter=False)
    two = _scan(tmp_path, archive, "two", prefilter=False, workers=2)
    assert _comparable(two) == _comparable(one)
    assert one.alerts.height == 30 + 5  # every 101st line, and the invalid-UTF-8 lines
    assert two.archives[0].bad_lines == 7
    assert two.engine.pooled_chunks > 10 and one.engine.pooled_chunks == 0
    assert two.engine.times.parse > 0  # the workers' stage times are added up


def test_workers_take_over_once_the_prefilter_is_bypassed(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    # A rule whose text is on every line makes the prefilter useless: it is bypassed.
    one = _scan(tmp_path, archive, "one", prefilter_bypass_rate=0.0)
    two = _scan(tmp_path, archive, "two", prefilter_bypass_rate=0.0, workers=2)
    assert two.engine.bypassed and one.engine.bypassed
    assert two.engine.pooled_chunks > 10
    assert _comparable(two) == _comparable(one)
