"""The committed sample and a generated corpus raise exactly their labelled alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrohunt.cli import main
from retrohunt.corpus import CORPUS_SOURCES, write_corpus
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


SAMPLES = sorted(p.parent.name for p in CORPORA.glob("*/sample.labels.jsonl"))


@pytest.mark.parametrize("source", SAMPLES)
def test_committed_sample_raises_exactly_its_labels(tmp_path: Path, source: str) -> None:
    (sample,) = [p for p in (CORPORA / source).glob("sample.*") if "labels" not in p.name]
    expected = labels(CORPORA / source / "sample.labels.jsonl")
    assert expected
    assert alerts_of(sample, tmp_path) == expected


def test_mixed_sample_scores_perfectly_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "scan",
            str(CORPORA / "mixed" / "sample.jsonl.zst"),
            "--out",
            str(out),
            "--quiet",
            "--labels",
            str(CORPORA / "mixed" / "sample.labels.jsonl"),
        ]
    )
    assert code == 0
    total = json.loads((out / "manifest.json").read_text())["evaluation"]["total"]
    assert total["precision"] == 1.0 and total["recall"] == 1.0 and total["true_positives"] > 0


# winevt corpora carry no labels: nothing of the T1204.003 pack is Windows event-log shaped.
LABELLED_SOURCES = [s for s in CORPUS_SOURCES if s != "winevt"]


@pytest.mark.parametrize("source", LABELLED_SOURCES)
def test_generated_corpus_with_many_attacks_in_small_chunks(tmp_path: Path, source: str) -> None:
    archive = tmp_path / "c.jsonl.zst"
    info = write_corpus(
        archive,
        20_000,
        seed=3,
        malicious_rate=0.05,
        labels_path=tmp_path / "l.jsonl",
        frame_lines=3_000,
        source=source,  # type: ignore[arg-type]
    )
    assert info.malicious > 200
    got = alerts_of(archive, tmp_path / "out", chunk_size=256 << 10)
    assert got == labels(tmp_path / "l.jsonl")
