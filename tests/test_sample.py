"""The committed sample and a generated corpus raise exactly their labelled alerts."""

from __future__ import annotations

import json
from pathlib import Path

from retrohunt.corpus import write_corpus
from retrohunt.scan import ScanOptions, scan

CORPORA = Path(__file__).resolve().parents[1] / "corpora"


def labels(path: Path) -> set[tuple[int, str]]:
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        found |= {(entry["line"], rule) for rule in entry["rules"]}
    return found


def alerts_of(archive: Path, out: Path, chunk_size: int = 8 << 20) -> set[tuple[int, str]]:
    result = scan(ScanOptions((archive,), out=out, chunk_size=chunk_size))
    assert not result.failed
    return {(r["line_number"], r["rule_name"]) for r in result.alerts.iter_rows(named=True)}


def test_committed_sample_raises_exactly_its_labels(tmp_path: Path) -> None:
    sample = CORPORA / "falcon" / "sample.jsonl.zst"
    expected = labels(CORPORA / "falcon" / "sample.labels.jsonl")
    assert expected
    assert alerts_of(sample, tmp_path) == expected


def test_generated_corpus_with_many_attacks_in_small_chunks(tmp_path: Path) -> None:
    archive = tmp_path / "c.jsonl.zst"
    info = write_corpus(
        archive,
        20_000,
        seed=3,
        malicious_rate=0.05,
        labels_path=tmp_path / "l.jsonl",
        frame_lines=3_000,
    )
    assert info.malicious > 500
    got = alerts_of(archive, tmp_path / "out", chunk_size=256 << 10)
    assert got == labels(tmp_path / "l.jsonl")
