"""The prefilter steps aside when it passes most lines: the alerts stay the same, and the
manifest says so."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import falcon_process, jsonl, make_archive
from retrohunt.engine import BYPASS_SAMPLE_LINES
from retrohunt.scan import ScanOptions, ScanResult, scan

# Every process line holds "/usr/" (a negation demands no text), so every one is a
# candidate; few alert.
RULE = """
title: Unusual binaries under /usr
name: UsrMiner
logsource: {category: process_creation}
detection:
  image:
    Image|contains: /usr/
  usual:
    CommandLine|startswith: bash -c
  condition: image and not usual
"""


def _scan(tmp_path: Path, archive: Path, name: str, **options: object) -> ScanResult:
    return scan(
        ScanOptions(
            archives=(archive,),
            out=tmp_path / name,
            rules=(tmp_path / "rules",),
            chunk_size=64 << 10,
            **options,  # type: ignore[arg-type]
        )
    )


def _alerts(result: ScanResult) -> set[tuple[int, str]]:
    return set(result.alerts.select("line_number", "rule_name").iter_rows())


def test_a_prefilter_that_passes_everything_is_bypassed_with_the_same_alerts(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rule.yml").write_text(textwrap.dedent(RULE))
    lines = 3 * BYPASS_SAMPLE_LINES
    events = [
        falcon_process(
            "/usr/bin/xmrig" if n % 997 == 0 else "/usr/bin/bash",
            "xmrig -o stratum+tcp://pool.example:3333" if n % 997 == 0 else f"bash -c 'n={n}'",
        )
        for n in range(lines)
    ]
    archive = make_archive(tmp_path, jsonl(events))

    bypassed = _scan(tmp_path, archive, "auto")
    kept = _scan(tmp_path, archive, "kept", prefilter_bypass_rate=None)
    off = _scan(tmp_path, archive, "off", prefilter=False)

    expected = {(n + 1, "UsrMiner") for n in range(lines) if n % 997 == 0}
    assert _alerts(bypassed) == _alerts(kept) == _alerts(off) == expected
    assert bypassed.archives[0].events == kept.archives[0].events == lines
    manifest = json.loads(bypassed.manifest_path.read_text())
    prefilter = manifest["prefilter"]
    assert prefilter["bypassed"] is True
    assert prefilter["sampled_lines"] >= BYPASS_SAMPLE_LINES
    assert prefilter["sampled_pass_rate"] == 1.0
    assert kept.engine.bypassed is False


def test_a_selective_prefilter_is_kept(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rule.yml").write_text(textwrap.dedent(RULE))
    events = [
        falcon_process("/opt/bash", f"bash -c 'n={n}'") for n in range(2 * BYPASS_SAMPLE_LINES)
    ]
    result = _scan(tmp_path, make_archive(tmp_path, jsonl(events)), "out")
    assert result.engine.bypassed is False
    assert result.archives[0].candidate_lines == 0
