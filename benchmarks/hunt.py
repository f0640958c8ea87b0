"""Benchmark `retrohunt hunt`: throughput with 1 and 2 workers over a tree of archives, and
the ledger's overhead on a rerun that skips everything.

    .venv/bin/python benchmarks/hunt.py [--archives 16] [--events 100000] [--repeat 3]
                                        [--skip-archives 10000]

(`make bench-hunt`.) Generates, once per generator version, `--archives` labelled Falcon
archives with the project's generator (seeds 0…N-1, one day folder each) under
corpora/generated/hunt-<archives>x<events>-m<rate>-g<tag>/. In this one process run:

- `hunt` with 1 worker and with 2 workers, `--repeat` times each on a fresh output folder,
  medians reported with the ratio to one worker; every run's alert count is printed beside
  its time and checked against the others and against the archives' labels;
- a tree of `--skip-archives` one-line archives is hunted once (its time per archive is
  recorded too), then rerun `--repeat` times: every archive is skipped, and the median time
  of that rerun is the ledger's overhead (target: under 1 s for 10,000 archives).

The record goes to benchmarks/results/<date>-<commit>[-dirty]-hunt.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script (python benchmarks/hunt.py), so this folder is on sys.path.
import run as bench
from retrohunt.corpus import write_corpus
from retrohunt.hunt import HuntOptions, hunt

ROOT = Path(__file__).resolve().parents[1]
TINY_LINE = (
    b'{"event_simpleName":"ProcessRollup2","name":"ProcessRollup2V19","aid":"%08x",'
    b'"TargetProcessId":"%d","ImageFileName":"/usr/bin/bash","CommandLine":"bash -c true",'
    b'"timestamp":"1794882709000"}\n'
)
LEDGER_TARGET_SECONDS_PER_10K = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archives", type=int, default=16, help="archives in the tree (≥ 16)")
    parser.add_argument("--events", type=int, default=100_000, help="events per archive")
    parser.add_argument("--malicious-rate", type=float, default=0.0005)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--skip-archives", type=int, default=10_000, help="0: no ledger run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--corpus-dir", type=Path, default=ROOT / "corpora" / "generated")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="retrohunt-bench-cache-") as cache,
        bench.hyperscan_cache(cache),
        tempfile.TemporaryDirectory(prefix="retrohunt-bench-hunt-") as scratch,
    ):
        return _main(args, Path(scratch))


def _main(args: argparse.Namespace, scratch: Path) -> int:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    tag = bench.generator_tag()
    tree, labelled = ensure_tree(args.corpus_dir, args.archives, args.events, args, tag)
    compressed = sum(p.stat().st_size for p in tree.rglob("*.jsonl.zst"))
    decompressed = sum(bench.decompressed_size(p) for p in sorted(tree.rglob("*.jsonl.zst")))
    bench._say(f"tree {tree} ({args.archives} archives, {decompressed / 1e6:,.0f} MB)")
    workers = {n: measure_workers(tree, n, args.repeat, scratch, decompressed) for n in (1, 2)}
    counts = {n: w["alerts"] for n, w in workers.items()}
    consistent = len(set(counts.values())) == 1
    one = workers[1]["median_seconds"]
    for result in workers.values():
        result["speedup_vs_1_worker"] = round(one / result["median_seconds"], 2)
    ledger = None
    if args.skip_archives:
        ledger = measure_ledger(args.skip_archives, args.repeat, scratch)
    record: dict[str, Any] = {
        "date": started,
        "commit": bench._git("rev-parse", "--short", "HEAD"),
        "dirty": bool(bench._git("status", "--porcelain", "--untracked-files=no")),
        "machine": bench.describe_machine(),
        "tree": {
            "path": str(tree),
            "archives": args.archives,
            "events_per_archive": args.events,
            "compressed_bytes": compressed,
            "decompressed_bytes": decompressed,
            "labelled_alerts": labelled,
        },
        "repeat": args.repeat,
        "workers": {str(n): w for n, w in workers.items()},
        "alert_counts_agree": consistent,
        "alerts_match_labels": consistent and counts[1] == labelled,
        "ledger": ledger,
    }
    stem = f"{started[:10]}-{record['commit']}{'-dirty' if record['dirty'] else ''}-hunt"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = render(record)
    (args.out / f"{stem}.md").write_text(markdown)
    sys.stdout.write(markdown)
    return 0 if record["alerts_match_labels"] else 1


def ensure_tree(
    folder: Path, archives: int, events: int, args: argparse.Namespace, tag: str
) -> tuple[Path, int]:
    """The generated tree (one archive per day folder) and its labelled alert count."""
    tree = folder / f"hunt-{archives}x{events}-m{args.malicious_rate:g}-g{tag}"
    for stale in folder.glob("hunt-*-g*"):
        if stale.is_dir() and not stale.name.endswith(f"-g{tag}"):
            shutil.rmtree(stale)
    labelled = 0
    day0 = dt.date(2026, 11, 1)
    for index in range(archives):
        day = day0 + dt.timedelta(days=index)
        path = tree / day.isoformat() / f"falcon-{index:03d}.jsonl.zst"
        labels = path.with_name(path.name.replace(".jsonl.zst", ".labels.jsonl"))
        if not (path.exists() and labels.exists()):
            bench._say(f"generating {path.relative_to(folder)} ({events:,} events)")
            partial, partial_labels = path.with_suffix(".partial"), labels.with_suffix(".partial")
            write_corpus(
                partial,
                events,
                seed=index,
                malicious_rate=args.malicious_rate,
                labels_path=partial_labels,
            )
            partial_labels.replace(labels)
            partial.replace(path)
        labelled += len(bench.load_pairs(labels))
    return tree, labelled


def measure_workers(
    tree: Path, workers: int, repeat: int, scratch: Path, decompressed: int
) -> dict[str, Any]:
    """Median seconds of `repeat` hunts of the tree with `workers` processes."""
    seconds: list[float] = []
    alerts: set[int] = set()
    for run in range(repeat):
        out = scratch / f"workers-{workers}-{run}"
        began = time.perf_counter()
        result = hunt(HuntOptions(root=tree, out=out, workers=workers, glob="**/*.jsonl.zst"))
        seconds.append(time.perf_counter() - began)
        alerts.add(result.alerts)
        bench._say(f"hunt --workers {workers}: {seconds[-1]:.2f} s, {result.alerts:,} alerts")
        shutil.rmtree(out)
    median = statistics.median(seconds)
    if len(alerts) != 1:
        raise SystemExit(f"--workers {workers} gave different alert counts: {sorted(alerts)}")
    return {
        "workers": workers,
        "seconds": [round(s, 3) for s in seconds],
        "median_seconds": round(median, 3),
        "mb_per_second": round(decompressed / 1e6 / median, 1),
        "alerts": alerts.pop(),
    }


def measure_ledger(archives: int, repeat: int, scratch: Path) -> dict[str, Any]:
    """First hunt of `archives` one-line archives, then reruns that skip all of them."""
    root = scratch / "tiny"
    for index in range(archives):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=index % 365)
        path = root / day.isoformat() / f"host-{index:05d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(TINY_LINE % (index, index))
    out = scratch / "tiny-out"
    began = time.perf_counter()
    first = hunt(HuntOptions(root=root, out=out, workers=2))
    first_seconds = time.perf_counter() - began
    bench._say(f"first hunt of {archives:,} one-line archives: {first_seconds:.1f} s")
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        rerun = hunt(HuntOptions(root=root, out=out, workers=2))
        seconds.append(time.perf_counter() - began)
        if rerun.read or len(rerun.skipped) != archives:
            raise SystemExit(f"the rerun read {rerun.read} archives instead of skipping all")
        bench._say(f"rerun skipping {archives:,} archives: {seconds[-1]:.3f} s")
    median = statistics.median(seconds)
    per_10k = median * 10_000 / archives
    return {
        "archives": archives,
        "first_hunt_seconds": round(first_seconds, 2),
        "first_hunt_ms_per_archive": round(first_seconds * 1000 / archives, 2),
        "first_hunt_read": first.read,
        "rerun_seconds": [round(s, 3) for s in seconds],
        "rerun_median_seconds": round(median, 3),
        "rerun_seconds_per_10k_archives": round(per_10k, 3),
        "target_seconds_per_10k": LEDGER_TARGET_SECONDS_PER_10K,
        "meets_target": per_10k < LEDGER_TARGET_SECONDS_PER_10K,
    }


def render(record: dict[str, Any]) -> str:
    """The record as a Markdown report."""
    tree, machine = record["tree"], record["machine"]
    lines = [
        f"# retrohunt hunt benchmark — {record['date']} ({record['commit']})",
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('cpus')} cores, "
        f"{machine.get('memory_gb')} GiB; Python {machine.get('python')}.",
        f"Tree: {tree['archives']} archives × {tree['events_per_archive']:,} events, "
        f"{tree['decompressed_bytes'] / 1e6:,.0f} MB decompressed "
        f"({tree['compressed_bytes'] / 1e6:,.0f} MB zstd); labelled alerts "
        f"{tree['labelled_alerts']:,}. Medians of {record['repeat']} runs.",
        "",
        "| workers | median s | MB/s | × 1 worker | alerts |",
        "|---|---|---|---|---|",
    ]
    for result in record["workers"].values():
        lines.append(
            f"| {result['workers']} | {result['median_seconds']:.2f} | "
            f"{result['mb_per_second']:,.0f} | {result['speedup_vs_1_worker']:.2f} | "
            f"{result['alerts']:,} |"
        )
    ledger = record["ledger"]
    if ledger:
        verdict = "meets" if ledger["meets_target"] else "misses"
        lines += [
            "",
            f"Ledger: a rerun that skips all {ledger['archives']:,} archives takes "
            f"{ledger['rerun_median_seconds']:.3f} s "
            f"({ledger['rerun_seconds_per_10k_archives']:.3f} s per 10,000; {verdict} the "
            f"{ledger['target_seconds_per_10k']:g} s target). Their first hunt took "
            f"{ledger['first_hunt_seconds']:.1f} s "
            f"({ledger['first_hunt_ms_per_archive']:.1f} ms per one-line archive).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
