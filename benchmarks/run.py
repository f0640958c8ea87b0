"""Benchmark retrohunt scan against the decompression floor and the tools a user would use
instead, measure pattern-count scaling and peak memory, and record everything.

    .venv/bin/python benchmarks/run.py [--events 1600000] [--repeat 3] [--skip-4gb] ...

(`make bench`.) Generates, once per generator version, a labelled Falcon corpus with the
project's own generator into corpora/generated/ (`bench-<events>-m<rate>-g<tag>.jsonl.zst`,
the tag a hash of the generator's source, so a changed generator never reuses old files;
stale bench corpora are deleted). Then, in this one process run, each contender --repeat
times, medians reported:

- the floor `zstd -dc ARCHIVE > /dev/null`;
- `retrohunt scan` (the library's `scan`, Parquet output included) on the three seed branches
  of T1204.003 with prefilter + process join on, prefilter off, join off; and the whole pack;
- Polars only, DuckDB SQL, DuckDB with pySigma's DuckDB backend, Python `re` per line on a
  sample (extrapolated) — all implementing the same three branches, process join and inbound
  filter included;

every alert count checked against the corpus labels. Then pattern-count scaling (two
generated rules with 30 … 50,000 patterns, retrohunt and Polars regex) and the peak RSS of the
`retrohunt scan` CLI on the corpus and on one four times as large. The record goes to
benchmarks/results/<date>-<commit>[-dirty].json and .md (the Markdown is printed too).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

# Run as a script (python benchmarks/run.py), so this folder is on sys.path.
import baselines
import report
import scaling
from retrohunt import corpus as corpus_module
from retrohunt.compiler import compile_rules
from retrohunt.corpus import write_corpus
from retrohunt.environ import environment
from retrohunt.scan import ScanOptions, scan

ROOT = Path(__file__).resolve().parents[1]
SEED = 1204


@dataclass(slots=True)
class Outcome:
    """What one run of a contender gave: its alert count and details to record."""

    alerts: int
    details: dict[str, Any] = field(default_factory=dict)
    pairs: set[tuple[int, str]] | None = None  # (line, rule) of every alert, when known


@dataclass(frozen=True, slots=True)
class Corpus:
    path: Path
    labels: Path
    events: int

    @property
    def name(self) -> str:
        return self.path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_600_000, help="corpus lines (≈ 1 GB)")
    parser.add_argument("--malicious-rate", type=float, default=0.0005)
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender")
    parser.add_argument("--python-re-lines", type=int, default=200_000)
    parser.add_argument(
        "--scaling-counts", default="30,1000,10000,50000", help="pattern counts, comma-separated"
    )
    parser.add_argument("--scaling-repeat", type=int, default=None, help="default: --repeat")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-4gb", action="store_true", help="peak RSS on the corpus only")
    parser.add_argument("--large-factor", type=int, default=4, help="size of the RSS archive")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--corpus-dir", type=Path, default=ROOT / "corpora" / "generated")
    args = parser.parse_args(argv)

    # A private Hyperscan database cache: nothing compiled by earlier runs (or by the user's
    # scans) makes a contender look faster; removed at the end.
    with (
        tempfile.TemporaryDirectory(prefix="retrohunt-bench-cache-") as cache,
        hyperscan_cache(cache),
    ):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    counts = sorted({int(c) for c in args.scaling_counts.split(",") if c.strip()})
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = describe_machine()
    tag = generator_tag()
    prune_stale(args.corpus_dir, tag)
    corpus = ensure_corpus(args.corpus_dir, args.events, args.malicious_rate, tag)
    labelled = load_pairs(corpus.labels)
    seed_pairs = {p for p in labelled if p[1] in baselines.SEED_RULE_NAMES}
    decompressed_bytes = decompressed_size(corpus.path)
    _say(f"corpus {corpus.path} ({decompressed_bytes / 1e6:,.0f} MB decompressed)")

    results = run_contenders(args, corpus, labelled, seed_pairs, decompressed_bytes)
    record: dict[str, Any] = {
        "date": started,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": machine,
        "corpus": {
            "name": corpus.name,
            "path": str(corpus.path),
            "generator": tag,
            "events": corpus.events,
            "malicious_rate": args.malicious_rate,
            "compressed_bytes": corpus.path.stat().st_size,
            "decompressed_bytes": decompressed_bytes,
            "labelled_pairs": len(labelled),
            "seed_pairs": len(seed_pairs),
            "labels_by_rule": _by_rule(labelled),
        },
        "repeat": args.repeat,
        "results": results,
        "join_cost": join_cost(results),
    }
    if not args.skip_scaling and counts:
        record["scaling"] = run_scaling(corpus, counts, args.scaling_repeat or args.repeat)
    if not args.skip_rss:
        record["rss"] = run_rss(args, corpus, tag, labelled, decompressed_bytes)
    machine["load_end"] = _load()
    machine["shared"] = max(machine["load_start"][0], machine["load_end"][0]) >= 0.5
    record["targets"] = [
        {"target": t.name, "wanted": t.wanted, "measured": t.measured, "verdict": t.verdict}
        for t in report.evaluate_targets(record)
    ]
    name = f"{record['date'][:10]}-{record['commit']}" + ("-dirty" if record["dirty"] else "")
    record["name"] = name
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    text = report.markdown(record)
    (args.out / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
    _say(f"recorded in {args.out / name}.json and .md")
    return 0


# --- the corpus -------------------------------------------------------------------------------


def generator_tag() -> str:
    """A short hash of the corpus generator's source: a new tag whenever the generator changes."""
    digest = hashlib.sha256()
    folder = Path(corpus_module.__file__).parent
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def prune_stale(folder: Path, tag: str) -> None:
    """Delete bench corpora of other generator versions (this script's files only)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("bench-*")):
        if f"-g{tag}." not in path.name and path.is_file():
            _say(f"removing stale {path.name} (older generator)")
            path.unlink()


def ensure_corpus(folder: Path, events: int, rate: float, tag: str) -> Corpus:
    """The tagged corpus and its labels, generated unless both already exist."""
    stem = f"bench-{events}-m{rate:g}-g{tag}"
    path, labels = folder / f"{stem}.jsonl.zst", folder / f"{stem}.labels.jsonl"
    if not (path.exists() and labels.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        _say(f"generating {path.name} ({events:,} events)")
        started = time.perf_counter()
        partial, partial_labels = path.with_suffix(".partial"), labels.with_suffix(".partial")
        write_corpus(partial, events, seed=SEED, malicious_rate=rate, labels_path=partial_labels)
        partial_labels.replace(labels)
        partial.replace(path)
        _say(f"generated in {time.perf_counter() - started:.1f} s")
    return Corpus(path, labels, events)


def load_pairs(labels: Path) -> set[tuple[int, str]]:
    """(line, rule) of every label: what the alerts of a perfect scan are."""
    pairs: set[tuple[int, str]] = set()
    with labels.open(encoding="utf-8") as fh:
        for text in fh:
            if text.strip():
                entry = json.loads(text)
                pairs.update((int(entry["line"]), str(rule)) for rule in entry["rules"])
    return pairs


def _by_rule(pairs: set[tuple[int, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, rule in pairs:
        counts[rule] = counts.get(rule, 0) + 1
    return dict(sorted(counts.items()))


def decompressed_size(path: Path) -> int:
    import zstandard

    total = 0
    with path.open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        while chunk := reader.read(8 << 20):
            total += len(chunk)
    return total


# --- contenders -------------------------------------------------------------------------------


def retrohunt(
    archive: Path, rules: tuple[Path, ...], *, prefilter: bool = True, join: bool = True
) -> Outcome:
    """One `scan` into a temporary folder, with its stage times and prefilter pass rate."""
    with tempfile.TemporaryDirectory(prefix="retrohunt-bench-") as out:
        result = scan(
            ScanOptions(
                (archive,), out=Path(out), rules=rules, prefilter=prefilter, process_join=join
            )
        )
    alerts = result.alerts
    archive_result = result.archives[0]
    if archive_result.error:
        raise RuntimeError(f"scan failed: {archive_result.error}")
    stages = result.engine.times.as_dict() if result.engine is not None else {}
    pairs = set(
        zip(
            alerts.get_column("line_number").to_list(),
            alerts.get_column("rule_name").to_list(),
            strict=True,
        )
    )
    return Outcome(
        alerts.height,
        {
            "stages": stages,
            "lines": archive_result.lines,
            "candidate_lines": archive_result.candidate_lines,
            "pass_rate": archive_result.pass_rate,
            "alerts_by_rule": archive_result.alerts_by_rule(),
        },
        pairs,
    )


def measure(
    name: str,
    run: Callable[[], Outcome],
    repeat: int,
    *,
    expected: int | None = None,
    expected_pairs: set[tuple[int, str]] | None = None,
    scale: float = 1.0,
    note: str | None = None,
) -> dict[str, Any]:
    """Run a contender `repeat` times; its median time (× scale, for extrapolation), alert
    count, and whether that count is the expected one."""
    times: list[float] = []
    outcomes: list[Outcome] = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            outcome = run()
            times.append(time.perf_counter() - started)
            outcomes.append(outcome)
    except Exception as exc:  # a contender that cannot run is recorded, not fatal
        _say(f"{name}: FAILED {type(exc).__name__}: {exc}")
        return {"contender": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    middle = sorted(range(len(times)), key=times.__getitem__)[(len(times) - 1) // 2]
    chosen = outcomes[middle]
    row: dict[str, Any] = {
        "contender": name,
        "ok": True,
        "median_seconds": round(statistics.median(times) * scale, 3),
        "runs": [round(t * scale, 3) for t in times],
        "alerts": chosen.alerts,
        "expected": expected,
        "agrees": None if expected is None else chosen.alerts == expected,
        **chosen.details,
    }
    if scale != 1.0:
        row["measured_seconds"] = [round(t, 3) for t in times]
        row["extrapolation_factor"] = round(scale, 3)
    if len({o.alerts for o in outcomes}) > 1:
        row["note"] = "alert count changed between runs: " + ", ".join(
            str(o.alerts) for o in outcomes
        )
    elif note:
        row["note"] = note
    if "stages" in row:
        stages = row["stages"]
        # The join stage runs mostly on the engine's learning thread, beside the others.
        main = sum(v for k, v in stages.items() if k != "join")
        stages["other"] = round(times[middle] - main, 3)
    if expected_pairs is not None and chosen.pairs is not None:
        missing, extra = expected_pairs - chosen.pairs, chosen.pairs - expected_pairs
        row["labels_missing"], row["labels_extra"] = len(missing), len(extra)
        row["agrees"] = row["agrees"] and not missing and not extra
    verdict = "" if expected is None else (" ok" if row["agrees"] else f" EXPECTED {expected}")
    _say(f"{name}: {row['median_seconds']:.2f} s, {chosen.alerts:,} alerts{verdict}")
    return row


def run_contenders(
    args: argparse.Namespace,
    corpus: Corpus,
    labelled: set[tuple[int, str]],
    seed_pairs: set[tuple[int, str]],
    decompressed_bytes: int,
) -> list[dict[str, Any]]:
    path, repeat, seeds = corpus.path, args.repeat, baselines.SEED_RULE_FILES
    rows = [
        measure(report.FLOOR, lambda: Outcome(baselines.floor_zstd(path)), repeat),
        measure(
            report.SCAN,
            lambda: retrohunt(path, seeds),
            repeat,
            expected=len(seed_pairs),
            expected_pairs=seed_pairs,
        ),
        measure(
            report.SCAN_NO_PREFILTER,
            lambda: retrohunt(path, seeds, prefilter=False),
            repeat,
            expected=len(seed_pairs),
            expected_pairs=seed_pairs,
        ),
    ]
    no_join = baselines.polars_only(path, join=False)  # untimed: the count to expect
    rows += [
        measure(
            report.SCAN_NO_JOIN,
            lambda: retrohunt(path, seeds, join=False),
            repeat,
            expected=no_join,
            note="expected count from the Polars baseline without the join: network events "
            "keep a null image, so browsers' connections are no longer filtered",
        ),
        measure(
            report.SCAN_PACK,
            lambda: retrohunt(path, ()),
            repeat,
            expected=len(labelled),
            expected_pairs=labelled,
            note="all eight rules of the bundled pack (the baselines implement three)",
        ),
        measure(
            report.POLARS,
            lambda: Outcome(baselines.polars_only(path)),
            repeat,
            expected=len(seed_pairs),
        ),
    ]
    try:
        import duckdb  # noqa: F401
    except ImportError:
        rows.append(_missing(report.DUCKDB, "duckdb is not installed: pip install -e '.[bench]'"))
        rows.append(_missing(report.PYSIGMA, "duckdb is not installed"))
    else:
        rows.append(
            measure(
                report.DUCKDB,
                lambda: Outcome(baselines.duckdb_sql(path)),
                repeat,
                expected=len(seed_pairs),
            )
        )
        rows.append(_pysigma(path, repeat, len(seed_pairs)))
    sample = min(args.python_re_lines, corpus.events)
    sample_pairs = {p for p in seed_pairs if p[0] <= sample}
    rows.append(
        measure(
            report.PYTHON,
            lambda: Outcome(baselines.python_re(path, sample)),
            repeat,
            expected=len(sample_pairs),
            scale=corpus.events / sample if sample else 1.0,
            note=f"run on the first {sample:,} lines only, time extrapolated to the whole "
            f"corpus (×{corpus.events / max(sample, 1):.1f}); alerts and expected count are "
            "those of the sample",
        )
    )
    floor = next((r["median_seconds"] for r in rows if r["contender"] == report.FLOOR), None)
    ours = next((r for r in rows if r["contender"] == report.SCAN and r["ok"]), None)
    for r in rows:
        if not r["ok"]:
            continue
        r["mb_per_second"] = round(decompressed_bytes / 1e6 / r["median_seconds"], 1)
        r["x_floor"] = round(r["median_seconds"] / floor, 2) if floor else None
        r["x_retrohunt"] = round(r["median_seconds"] / ours["median_seconds"], 2) if ours else None
    return rows


def _missing(name: str, reason: str) -> dict[str, Any]:
    _say(f"{name}: not run: {reason}")
    return {"contender": name, "ok": False, "error": reason}


def _pysigma(path: Path, repeat: int, expected: int) -> dict[str, Any]:
    try:
        queries = baselines.pysigma_duckdb_queries()
    except ImportError as exc:
        return _missing(
            report.PYSIGMA, f"pySigma-backend-duckdb is not installed ({exc.name}): "
            "pip install -e '.[bench]'"
        )  # fmt: skip
    except Exception as exc:
        return _missing(report.PYSIGMA, f"the backend cannot convert the rules: {exc}")
    row = measure(
        report.PYSIGMA,
        lambda: Outcome(baselines.pysigma_duckdb(path, queries)),
        repeat,
        expected=expected,
        note="the backend's WHERE clauses over a `logs` table built in SQL (Falcon fields "
        "renamed to the Sigma taxonomy, process join, Initiated from ConnectionDirection, "
        "absent strings as ''). It turns CIDRs into text prefixes (`ILIKE '10.%'`, "
        "`= '::1'`): an address spelled otherwise (0:0:0:0:0:0:0:1) escapes filter_private, "
        "so where a corpus has such addresses on pool ports it reports more than the rule means",
    )
    row["queries"] = queries
    return row


def join_cost(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the process join costs: the default scan against the same scan with it off."""
    rows = {r["contender"]: r for r in results if r.get("ok")}
    on, off = rows.get(report.SCAN), rows.get(report.SCAN_NO_JOIN)
    if on is None or off is None:
        return None
    seconds = on["median_seconds"] - off["median_seconds"]
    return {
        "on": on["median_seconds"],
        "off": off["median_seconds"],
        "seconds": round(seconds, 3),
        "fraction": round(seconds / off["median_seconds"], 3),
        "join_stage_seconds": on.get("stages", {}).get("join"),
        "alerts_on": on["alerts"],
        "alerts_off": off["alerts"],
    }


# --- pattern-count scaling ----------------------------------------------------------------


def run_scaling(corpus: Corpus, counts: list[int], repeat: int) -> dict[str, Any]:
    """Each pattern count: retrohunt cold (every run compiles its Hyperscan databases into an
    empty cache, as a first scan with new rules does), retrohunt warm (the databases come
    from the cache the cold runs filled, as every later scan with the same rules), and the
    Polars-regex baseline."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="retrohunt-scaling-") as tmp:
        for count in counts:
            folder = Path(tmp) / f"patterns-{count}"
            scaling.write_rules(folder, count)
            started = time.perf_counter()
            plan = compile_rules([folder], strict=True)
            compile_seconds = time.perf_counter() - started
            caches: list[Path] = []

            def cold(folder: Path = folder, caches: list[Path] = caches) -> Outcome:
                caches.append(Path(tempfile.mkdtemp(prefix="cache-", dir=tmp)))
                with hyperscan_cache(str(caches[-1])):
                    return retrohunt(corpus.path, (folder,))

            def warm(folder: Path = folder, caches: list[Path] = caches) -> Outcome:
                with hyperscan_cache(str(caches[-1])):
                    return retrohunt(corpus.path, (folder,))

            ours = measure(f"retrohunt cold, {count:,} patterns", cold, repeat)
            warmed = (
                measure(f"retrohunt warm, {count:,} patterns", warm, repeat)
                if caches
                else {"error": "no cold run"}
            )
            theirs = measure(
                f"polars regex, {count:,} patterns",
                lambda count=count: Outcome(scaling.polars_regex(corpus.path, count)),
                repeat,
            )
            rows.append(
                {
                    "patterns": count,
                    "plan_patterns": len(plan.patterns),
                    "compile_seconds": round(compile_seconds, 3),
                    "retrohunt_seconds": ours.get("median_seconds"),
                    "retrohunt_runs": ours.get("runs"),
                    "retrohunt_alerts": ours.get("alerts"),
                    "retrohunt_stages": ours.get("stages"),
                    "retrohunt_error": ours.get("error"),
                    "retrohunt_warm_seconds": warmed.get("median_seconds"),
                    "retrohunt_warm_runs": warmed.get("runs"),
                    "retrohunt_warm_alerts": warmed.get("alerts"),
                    "retrohunt_warm_stages": warmed.get("stages"),
                    "polars_seconds": theirs.get("median_seconds"),
                    "polars_runs": theirs.get("runs"),
                    "polars_alerts": theirs.get("alerts"),
                    "polars_error": theirs.get("error"),
                }
            )
    low, high = rows[0], rows[-1]

    def ratio(key: str) -> float | None:
        a, b = high.get(key), low.get(key)
        return round(a / b, 2) if a and b else None

    alerts = {
        r[key]
        for r in rows
        for key in ("retrohunt_alerts", "retrohunt_warm_alerts", "polars_alerts")
        if r.get(key) is not None
    }
    return {
        "rows": rows,
        "ratio_counts": [low["patterns"], high["patterns"]],
        "retrohunt_ratio": ratio("retrohunt_seconds"),
        "retrohunt_warm_ratio": ratio("retrohunt_warm_seconds"),
        "polars_ratio": ratio("polars_seconds"),
        "alerts_agree": len(alerts) == 1,
    }


# retrohunt caches compiled Hyperscan databases on disk (retrohunt.hyperscan_cache); this
# variable says where, or "off".
CACHE_ENV = "RETROHUNT_CACHE_DIR"


@contextlib.contextmanager
def hyperscan_cache(value: str) -> Iterator[None]:
    """Scans inside use this Hyperscan database cache folder (or "off")."""
    with environment(**{CACHE_ENV: value}):
        yield


# --- peak memory ------------------------------------------------------------------------------


def retrohunt_command() -> list[str]:
    script = Path(sys.executable).with_name("retrohunt")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from retrohunt.cli import run; sys.exit(run())"]


# Runs the command as its child and reports that child's exit code and peak RSS. A small
# intermediate process, because a child's ru_maxrss starts from the RSS of the process it was
# forked from (the benchmark's own, gigabytes after the baselines) and exec does not reset it.
_RSS_WRAPPER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"exit": child.returncode, "maxrss_kib": usage.ru_maxrss,
                  "seconds": time.perf_counter() - started}))
"""


def peak_rss(archive: Path) -> dict[str, Any]:
    """Run `retrohunt scan ARCHIVE --out DIR --quiet` as a child (of a small intermediate
    process) and read its peak RSS from the kernel's accounting of that child (wait4)."""
    with tempfile.TemporaryDirectory(prefix="retrohunt-rss-") as out:
        command = [*retrohunt_command(), "scan", str(archive), "--out", out, "--quiet"]
        done = subprocess.run(
            [sys.executable, "-c", _RSS_WRAPPER, *command], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"measuring wrapper failed: {done.stderr[-500:]}")
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        if measured["exit"] != 0:
            raise RuntimeError(f"retrohunt scan exited {measured['exit']}: {done.stderr[-500:]}")
        alerts = sum(pl.read_parquet(p).height for p in Path(out).glob("*.alerts.parquet"))
    return {
        "archive": archive.name,
        "seconds": round(measured["seconds"], 2),
        "peak_rss_mb": round(measured["maxrss_kib"] / 1024, 1),  # Linux reports KiB
        "alerts": alerts,
    }


def run_rss(
    args: argparse.Namespace,
    corpus: Corpus,
    tag: str,
    labelled: set[tuple[int, str]],
    decompressed_bytes: int,
) -> list[dict[str, Any]]:
    runs: list[tuple[str, Corpus, set[tuple[int, str]], int]] = [
        (f"{decompressed_bytes / 1e9:.1f} GB", corpus, labelled, decompressed_bytes)
    ]
    if not args.skip_4gb:
        large = ensure_corpus(
            args.corpus_dir, corpus.events * args.large_factor, args.malicious_rate, tag
        )
        size = decompressed_size(large.path)
        runs.append((f"{size / 1e9:.1f} GB", large, load_pairs(large.labels), size))
    rows = []
    for label, target, pairs, size in runs:
        try:
            row = peak_rss(target.path)
        except Exception as exc:
            _say(f"peak RSS {label}: FAILED {exc}")
            rows.append({"label": label, "archive": target.name, "error": str(exc)[:500]})
            continue
        row |= {
            "label": label,
            "events": target.events,
            "decompressed_bytes": size,
            "expected": len(pairs),
            "agrees": row["alerts"] == len(pairs),
        }
        _say(f"peak RSS {label}: {row['peak_rss_mb']:.0f} MiB in {row['seconds']:.1f} s")
        rows.append(row)
    return rows


# --- the machine ------------------------------------------------------------------------------


def describe_machine() -> dict[str, Any]:
    packages = (
        "polars",
        "hyperscan",
        "zstandard",
        "pyarrow",
        "duckdb",
        "pysigma",
        "pysigma-backend-duckdb",
    )
    versions = {p: _version(p) for p in packages}
    versions["zstd CLI"] = _zstd_version()
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "load_start": _load(),
    }


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [0.0, 0.0, 0.0]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def _zstd_version() -> str | None:
    try:
        text = subprocess.run(["zstd", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    words = [w.strip(",") for w in text.split() if w.startswith("v")]
    return words[0] if words else text.strip() or None


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


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
