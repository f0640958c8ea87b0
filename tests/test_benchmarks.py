"""The benchmark harness runs end to end on a tiny corpus, so it cannot rot (no timings checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_records_every_contender(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--events",
            "3000",
            "--repeat",
            "1",
            "--python-re-lines",
            "1000",
            "--out",
            str(tmp_path / "results"),
            "--corpus-dir",
            str(tmp_path / "corpus"),
        ],
        check=True,
        capture_output=True,
    )
    (record_file,) = (tmp_path / "results").glob("*.json")
    record = json.loads(record_file.read_text())
    names = [r["contender"] for r in record["results"]]
    assert "retrohunt scan" in names and any(n.startswith("polars") for n in names)
    by_name = {r["contender"]: r for r in record["results"]}
    # Baselines implement the same three branches: on the generated corpus they agree.
    assert by_name["retrohunt scan"]["alerts"] == next(
        r["alerts"] for n, r in by_name.items() if n.startswith("polars")
    )
    assert record["corpus"]["decompressed_bytes"] > 0 and record["machine"]["cpus"]
