"""Benchmark retrohunt scan against the floor and the tools a user would use instead.

    python benchmarks/run.py [--events 1600000] [--repeat 3] [--python-re-lines 200000]

Generates (once) a labelled Falcon corpus with the project's generator into
corpora/generated/, runs every contender --repeat times in this one process run, and prints
and records (benchmarks/results/<date>-<commit>.json) the median times, throughputs and
ratios against the floor measured in the same run. Python `re` is run on the first
--python-re-lines lines only and extrapolated (marked as such): on the whole corpus it
would take many minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Run as a script (python benchmarks/run.py), so this folder is on sys.path.
import baselines
from retrohunt.corpus import write_corpus
from retrohunt.scan import ScanOptions, scan

ROOT = Path(__file__).resolve().parents[1]
# The three branches of the seed queries, which the baselines implement too.
SEED_BRANCHES = tuple(
    ROOT / "rules" / "t1204.003-malicious-image" / f"{name}.yml"
    for name in (
        "miner_process_execution",
        "mining_pool_network_connection",
        "mining_pool_dns_lookup",
    )
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_600_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python-re-lines", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--corpus-dir", type=Path, default=ROOT / "corpora" / "generated")
    args = parser.parse_args()

    corpus = args.corpus_dir / f"bench-{args.events}.jsonl.zst"
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        write_corpus(corpus, args.events, seed=1204, malicious_rate=0.0005)
    decompressed = _decompressed_size(corpus)

    contenders: dict[str, Callable[[], int]] = {}
    if shutil.which("zstd"):
        contenders["floor: zstd -dc"] = lambda: baselines.floor_zstd(corpus)
    contenders["retrohunt scan"] = lambda: _retrohunt(corpus, SEED_BRANCHES)
    contenders["retrohunt scan, whole T1204.003 pack"] = lambda: _retrohunt(corpus, ())
    contenders["polars read_ndjson + str.contains"] = lambda: baselines.polars_only(corpus)
    try:
        import duckdb  # noqa: F401

        contenders["duckdb read_json + regexp_matches"] = lambda: baselines.duckdb_sql(corpus)
    except ImportError:
        pass
    fraction = min(1.0, args.python_re_lines / args.events)
    contenders["python json + re, per line (extrapolated)"] = lambda: baselines.python_re(
        corpus, args.python_re_lines
    )

    results = []
    for name, run in contenders.items():
        times, alerts = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            alerts = run()
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        if name.startswith("python"):
            seconds /= fraction
        results.append(
            {
                "contender": name,
                "median_seconds": round(seconds, 3),
                "runs": [round(t, 3) for t in times],
                "alerts": alerts,
                "mb_per_second": round(decompressed / 1e6 / seconds, 1),
            }
        )
    floor = next((r["median_seconds"] for r in results if r["contender"].startswith("floor")), None)
    ours = next(r["median_seconds"] for r in results if r["contender"] == "retrohunt scan")
    for r in results:
        r["x_floor"] = round(r["median_seconds"] / floor, 2) if floor else None
        r["x_retrohunt"] = round(r["median_seconds"] / ours, 2)

    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "versions": {
                p: _version(p) for p in ("polars", "hyperscan", "zstandard", "duckdb", "pysigma")
            },
        },
        "corpus": {
            "path": str(corpus),
            "events": args.events,
            "compressed_bytes": corpus.stat().st_size,
            "decompressed_bytes": decompressed,
        },
        "repeat": args.repeat,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{record['date'][:10]}-{record['commit']}.json"
    target.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    _show(record, target)


def _retrohunt(corpus: Path, rules: tuple[Path, ...]) -> int:
    with tempfile.TemporaryDirectory() as out:
        return scan(ScanOptions((corpus,), out=Path(out), rules=rules)).alerts.height


def _decompressed_size(corpus: Path) -> int:
    import zstandard

    total = 0
    with corpus.open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        while chunk := reader.read(8 << 20):
            total += len(chunk)
    return total


def _show(record: dict, target: Path) -> None:
    corpus = record["corpus"]
    table = Table(
        title=(
            f"{corpus['events']:,} events, {corpus['decompressed_bytes'] / 1e6:,.0f} MB "
            f"decompressed, {record['machine']['cpus']} CPUs ({record['machine']['cpu']})"
        )
    )
    for column in ("contender", "median s", "MB/s", "× floor", "× retrohunt", "alerts"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for r in record["results"]:
        table.add_row(
            r["contender"],
            f"{r['median_seconds']:.2f}",
            f"{r['mb_per_second']:,.0f}",
            str(r["x_floor"]),
            str(r["x_retrohunt"]),
            f"{r['alerts']:,}",
        )
    console = Console()
    console.print(table)
    console.print(f"recorded in {target}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except Exception:
        return None


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
