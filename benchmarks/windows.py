"""Benchmark retrohunt with a SigmaHQ-scale Windows rule set on Windows event-log JSON.

    .venv/bin/python benchmarks/windows.py [--rules ../shared/sigmahq-rules/rules/windows]
                                           [--events 700000] [--repeat 3] [--sample-lines 20000]

(`make bench-windows`.) Generates, once per generator version, a `winevt` corpus with the
project's generator (≈ 1.07 GB decompressed at the default 700,000 events, zstd) into
corpora/generated/ (`winevt-<events>-s<seed>-m<rate>-g<tag>.jsonl.zst`, the tag a hash of the
generator's source; winevt corpora of other tags are deleted). Then:

- compiles every rule under --rules: rules compiled and refused (with the commonest reasons),
  patterns, the time to translate the rules and to compile the Hyperscan databases, cold (no
  cached plan or database: the benchmark uses a private, empty cache) and cached;
- scans the corpus with the library's `scan` (the compiled plan handed in, Hyperscan
  databases cached, Parquet output included) --repeat times in a child process pinned to one
  core (`taskset -c 0`, `POLARS_MAX_THREADS=1`), then --repeat times in one on both cores
  with one worker process per core (`scan --workers`): events per second (median), the
  prefilter's pass rate and whether it was bypassed, seconds per stage, alerts per rule;
  the decompression floor (`zstd -dc`) beside it, pinned and not;
- writes the first --sample-lines lines (20,000) as their own archive and compares the scan's
  alerts on it with the reference evaluator's (`retrohunt.reference.reference_alerts`): they
  must be identical, else the gained and lost alerts are printed. The evaluator is naive on
  purpose and takes about 0.05 s per line with 2,400 rules (some 16 minutes).

The record goes to benchmarks/results/<date>-<commit>[-dirty]-windows.json and .md (the
Markdown is printed too). The target is 300,000 events/s per core; the figure to beat is a
Rust Sigma engine's published ~99,000 events/s with 3,132 rules (published, not measured here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import zstandard

# Run as a script (python benchmarks/windows.py), so this folder is on sys.path.
import run as bench
from retrohunt import corpus as corpus_module
from retrohunt.compiler import Plan, compile_rules
from retrohunt.corpus import write_corpus
from retrohunt.engine import Engine
from retrohunt.environ import environment
from retrohunt.hyperscan_cache import CACHE_ENV
from retrohunt.reference import reference_alerts
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import select_sources

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = ROOT.parent / "shared" / "sigmahq-rules" / "rules" / "windows"
DEFAULT_EVENTS = 700_000  # ≈ 1.07 GB decompressed
SEED = 4688
TARGET_PER_CORE = 300_000
PUBLISHED = {
    "events_per_second": 99_000,
    "rules": 3_132,
    "what": "a Rust Sigma engine's published figure (published, not measured here)",
}
TOP_RULES = 10
SAMPLE_LINES = 20_000  # the reference evaluator takes about 0.05 s a line with 2,400 rules
EXAMPLES = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rules", type=Path, default=DEFAULT_RULES, help="Sigma rule folder or file"
    )
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="corpus lines (≈ 1 GB by default)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--malicious-rate", type=float, default=0.0005)
    parser.add_argument("--repeat", type=int, default=3, help="scans per measurement")
    parser.add_argument(
        "--sample-lines",
        type=int,
        default=SAMPLE_LINES,
        help="lines of the reference check (0: none); the evaluator takes ~0.05 s a line",
    )
    parser.add_argument(
        "--source",
        default="winevt",
        help="source of every line (default winevt; auto: recognise each line, which also "
        "selects Falcon and its process join; chunks without a Falcon line still go to the "
        "worker processes)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--corpus-dir", type=Path, default=ROOT / "corpora" / "generated")
    parser.add_argument("--worker", nargs=2, metavar=("PLAN", "ARCHIVE"), help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        plan, archive = Path(args.worker[0]), Path(args.worker[1])
        return worker(plan, archive, args.repeat, args.source, args.workers)
    if not args.rules.exists():
        parser.error(
            f"--rules {args.rules}: no such file or folder (pass --rules PATH, e.g. the "
            "rules/windows folder of a SigmaHQ checkout)"
        )
    if args.events <= 0 or args.repeat <= 0:
        parser.error("--events and --repeat must be positive")
    with tempfile.TemporaryDirectory(prefix="retrohunt-bench-windows-") as scratch:
        cache = Path(scratch) / "hyperscan-cache"
        with bench.hyperscan_cache(str(cache)):
            return _main(args, Path(scratch))


def _main(args: argparse.Namespace, scratch: Path) -> int:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    code_at_start = code_digest()
    machine = bench.describe_machine()
    tag = generator_tag()
    prune_stale(args.corpus_dir, tag)
    corpus = ensure_corpus(args, tag)
    decompressed = bench.decompressed_size(Path(corpus["path"]))
    corpus["decompressed_bytes"] = decompressed
    corpus["compressed_bytes"] = Path(corpus["path"]).stat().st_size
    if args.events == DEFAULT_EVENTS and decompressed < 1e9:
        bench._say(f"note: the default corpus is only {decompressed / 1e9:.2f} GB")
    bench._say(f"corpus {corpus['path']} ({decompressed / 1e6:,.0f} MB decompressed)")

    plan, compiled = compile_figures(args.rules, args.source)
    plan_file = scratch / "plan.pickle"
    plan_file.write_bytes(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    archive = Path(corpus["path"])
    floor = {
        "1 core": floor_zstd(archive, args.repeat, pinned=True),
        "2 cores": floor_zstd(archive, args.repeat, pinned=False),
    }
    scans = {
        "1 core": run_worker(plan_file, archive, args, pinned=True),
        "2 cores": run_worker(plan_file, archive, args, pinned=False),
    }
    for label, row in scans.items():
        if row.get("ok"):
            row["mb_per_second"] = round(decompressed / 1e6 / row["median_seconds"], 1)
            row["x_floor"] = (
                round(row["median_seconds"] / floor[label], 2) if floor[label] else None
            )
    reference = (
        reference_check(plan, archive, args.sample_lines, args.source, args.rules, scratch)
        if args.sample_lines
        else None
    )
    machine["load_end"] = bench._load()
    code_changed = code_digest() != code_at_start
    if code_changed:
        bench._say("WARNING: retrohunt's code changed during the run: the figures mix versions")
    machine["shared"] = max(machine["load_start"][0], machine["load_end"][0]) >= 0.5
    one = scans["1 core"]
    per_core = one.get("events_per_second") if one.get("ok") else None
    record: dict[str, Any] = {
        "date": started,
        "commit": bench._git("rev-parse", "--short", "HEAD"),
        "dirty": bool(bench._git("status", "--porcelain", "--untracked-files=no")),
        "code_digest": code_at_start,
        "code_changed_during_run": code_changed,
        "machine": machine,
        "rules": str(args.rules),
        "source": args.source,
        "corpus": corpus,
        "repeat": args.repeat,
        "compile": compiled,
        "floor_seconds": floor,
        "scans": scans,
        "reference": reference,
        "target": {
            "events_per_second_per_core": TARGET_PER_CORE,
            "measured_per_core": per_core,
            "ratio": round(per_core / TARGET_PER_CORE, 5) if per_core else None,
            "passed": per_core >= TARGET_PER_CORE if per_core else None,
            "published": PUBLISHED,
            "ratio_to_published": round(per_core / PUBLISHED["events_per_second"], 5)
            if per_core
            else None,
        },
    }
    name = f"{started[:10]}-{record['commit']}" + ("-dirty" if record["dirty"] else "")
    record["name"] = f"{name}-windows"
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{record['name']}.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    text = markdown(record)
    json_path.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    bench._say(f"recorded in {json_path} and .md")
    ok = all(row.get("ok") for row in scans.values())
    return 0 if ok and (reference is None or reference["identical"]) else 1


def code_digest() -> str:
    """A digest of retrohunt's modules: the scans run in child processes that import the
    checkout as it is then, so a change during the run would mix versions."""
    digest = hashlib.sha256()
    package = Path(corpus_module.__file__).resolve().parents[1]
    for module in sorted(package.rglob("*.py")):
        digest.update(str(module.relative_to(package)).encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()[:16]


# --- the corpus -------------------------------------------------------------------------------


def generator_tag() -> str:
    """A short hash of the winevt generator's source (and what it builds on)."""
    digest = hashlib.sha256()
    folder = Path(corpus_module.__file__).parent
    names = sorted({p.name for p in folder.glob("winevt*.py")} | {"base.py", "writer.py"})
    for name in names:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()[:10]


def prune_stale(folder: Path, tag: str) -> None:
    """Delete winevt bench corpora of other generator versions (this script's files only)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("winevt-*")):
        if f"-g{tag}." not in path.name and path.is_file():
            bench._say(f"removing stale {path.name} (older generator)")
            path.unlink()


def ensure_corpus(args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """The tagged corpus, generated unless it exists; with the generator's speed then."""
    stem = f"winevt-{args.events}-s{args.seed}-m{args.malicious_rate:g}-g{tag}"
    path = args.corpus_dir / f"{stem}.jsonl.zst"
    entry: dict[str, Any] = {
        "name": path.name,
        "path": str(path),
        "generator": tag,
        "events": args.events,
        "seed": args.seed,
        "malicious_rate": args.malicious_rate,
        "generated_now": False,
    }
    if not path.exists():
        args.corpus_dir.mkdir(parents=True, exist_ok=True)
        bench._say(f"generating {path.name} ({args.events:,} events)")
        partial = path.with_suffix(".partial")
        began = time.perf_counter()
        info = write_corpus(
            partial, args.events, seed=args.seed, malicious_rate=args.malicious_rate,
            source="winevt",
        )  # fmt: skip
        seconds = time.perf_counter() - began
        partial.replace(path)
        entry |= {
            "generated_now": True,
            "generate_seconds": round(seconds, 2),
            "generate_mb_per_second": round(info.bytes_decompressed / 1e6 / seconds, 1),
        }
        bench._say(f"generated in {seconds:.1f} s ({entry['generate_mb_per_second']} MB/s)")
    return entry


# --- compiling --------------------------------------------------------------------------------


def compile_figures(rules: Path, source: str | None) -> tuple[Plan, dict[str, Any]]:
    """Compile the rule set: counts, refusals and the cost, cold and cached."""
    bench._say(f"compiling {rules}")
    began = time.perf_counter()
    plan = compile_rules([rules])  # the private cache is empty: cold, and it fills the cache
    rules_seconds = time.perf_counter() - began
    began = time.perf_counter()
    compile_rules([rules])
    rules_cached = time.perf_counter() - began
    with environment(**{CACHE_ENV: "off"}):
        began = time.perf_counter()
        engine = Engine(plan, source)
        cold = time.perf_counter() - began
    Engine(plan, source)  # fills the cache
    began = time.perf_counter()
    Engine(plan, source)
    cached = time.perf_counter() - began
    reasons = Counter(_reason(str(r.message)) for r in plan.refused)
    figures = {
        "rule_files": sum(1 for _ in rules.rglob("*.yml")) if rules.is_dir() else 1,
        "compiled": len(plan.rules),
        "refused": len(plan.refused),
        "refused_reasons": dict(reasons.most_common(10)),
        "refused_rules": [str(r) for r in plan.refused],
        "logsources": dict(Counter(r.logsource_text for r in plan.rules).most_common(12)),
        "patterns": len(plan.patterns),
        "matcher_patterns": engine.compiled.pattern_count,
        "prefilter_patterns": engine.filter.pattern_count,
        "prefilter_every_line": engine.filter.every_line,
        "prefilter_modes": dict(Counter(f.mode for f in engine.filter.rules)),
        "every_line_rules": [f.rule for f in engine.filter.rules if f.mode == "every line"],
        "event_type_rules": [f.rule for f in engine.filter.rules if f.mode == "event types"],
        "matcher_bytes": engine.compiled.size_bytes,
        "rules_seconds": round(rules_seconds, 2),
        "rules_cached_seconds": round(rules_cached, 2),
        "hyperscan_cold_seconds": round(cold, 2),
        "hyperscan_cached_seconds": round(cached, 2),
        "total_cold_seconds": round(rules_seconds + cold, 2),
        "total_cached_seconds": round(rules_cached + cached, 2),
    }
    bench._say(
        f"{figures['compiled']:,} rules compiled, {figures['refused']:,} refused, "
        f"{figures['patterns']:,} patterns; rules {rules_seconds:.1f} s cold / "
        f"{rules_cached:.2f} s cached, Hyperscan {cold:.1f} s cold / {cached:.2f} s cached"
    )
    return plan, figures


def _reason(message: str) -> str:
    """A refusal's message without the rule-specific part (for grouping)."""
    return message.split(":", 1)[0].split(" (", 1)[0][:120]


# --- throughput -------------------------------------------------------------------------------


def run_worker(
    plan_file: Path, archive: Path, args: argparse.Namespace, *, pinned: bool
) -> dict[str, Any]:
    """Scan the archive --repeat times in a child process, on one core or on all."""
    label = "1 core" if pinned else "2 cores"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(plan_file)]
    command += [str(archive), "--repeat", str(args.repeat)]
    if args.source:
        command += ["--source", args.source]
    env = dict(os.environ)
    if pinned:
        if shutil.which("taskset") is None:
            return {"ok": False, "error": "taskset is not installed (util-linux)"}
        command = ["taskset", "-c", "0", *command]
        env["POLARS_MAX_THREADS"] = "1"
    else:
        env.pop("POLARS_MAX_THREADS", None)
        command += ["--workers", str(os.cpu_count() or 1)]  # `scan --workers`
    bench._say(f"scanning on {label}, {args.repeat} time(s)")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        bench._say(f"{label}: FAILED\n{done.stderr[-2000:]}")
        return {"ok": False, "error": done.stderr[-1000:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    times = [r["seconds"] for r in runs]
    middle = sorted(range(len(times)), key=times.__getitem__)[(len(times) - 1) // 2]
    chosen = runs[middle]
    stages = dict(chosen["stages"])
    stages["other"] = round(chosen["seconds"] - sum(stages.values()), 3)
    median = statistics.median(times)
    counts = {r["alerts"] for r in runs}
    by_rule = Counter(chosen["alerts_by_rule"])
    row = {
        "ok": True,
        "median_seconds": round(median, 3),
        "runs": [round(t, 3) for t in times],
        "events": chosen["events"],
        "lines": chosen["lines"],
        "events_per_second": round(chosen["events"] / median),
        "candidate_lines": chosen["candidate_lines"],
        "pass_rate": chosen["candidate_lines"] / chosen["lines"] if chosen["lines"] else None,
        "unrecognised": chosen["unrecognised"],
        "bad_lines": chosen["bad_lines"],
        "alerts": chosen["alerts"],
        "alerts_stable": len(counts) == 1,
        "rules_alerting": len(by_rule),
        "top_rules": by_rule.most_common(TOP_RULES),
        "stages": stages,
        "prefilter_bypassed": chosen["prefilter_bypassed"],
        "sampled_pass_rate": chosen["sampled_pass_rate"],
        "workers": chosen["workers"],
        "pooled_chunks": chosen["pooled_chunks"],
        "setup_seconds": result["setup_seconds"],
        "affinity": result["affinity"],
        "polars_threads": result["polars_threads"],
    }
    bench._say(
        f"{label}: {median:.2f} s, {row['events_per_second']:,} events/s, "
        f"{row['alerts']:,} alerts, pass rate {_percent(row['pass_rate'])}"
    )
    return row


def _bypass_cell(row: dict[str, Any]) -> str:
    return f"{'yes' if row['prefilter_bypassed'] else 'no'} ({_percent(row['sampled_pass_rate'])})"


def worker(plan_file: Path, archive: Path, repeat: int, source: str | None, workers: int) -> int:
    """The child: scan `repeat` times (with `workers` processes, `scan --workers`) and print
    the figures as one JSON line."""
    import polars as pl

    plan = pickle.loads(plan_file.read_bytes())
    began = time.perf_counter()
    Engine(plan, source)  # the databases come from the cache the parent filled
    setup = time.perf_counter() - began
    rows = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="retrohunt-bench-windows-scan-") as out:
            began = time.perf_counter()
            options = ScanOptions((archive,), out=Path(out), source=source, workers=workers)
            result = scan(options, plan=plan)
            seconds = time.perf_counter() - began
        archive_result = result.archives[0]
        if archive_result.error:
            raise RuntimeError(f"scan failed: {archive_result.error}")
        rows.append(
            {
                "seconds": seconds,
                "lines": archive_result.lines,
                "events": archive_result.events,
                "candidate_lines": archive_result.candidate_lines,
                "unrecognised": archive_result.unrecognised,
                "bad_lines": archive_result.bad_lines,
                "alerts": result.alerts.height,
                "alerts_by_rule": archive_result.alerts_by_rule(),
                "stages": result.engine.times.as_dict() if result.engine else {},
                "prefilter_bypassed": result.engine.bypassed if result.engine else False,
                "sampled_pass_rate": (
                    result.engine.sampled_candidates / result.engine.sampled_lines
                    if result.engine and result.engine.sampled_lines
                    else None
                ),
                "workers": workers,
                "pooled_chunks": result.engine.pooled_chunks if result.engine else 0,
            }
        )
    document = {
        "runs": rows,
        "setup_seconds": round(setup, 3),
        "affinity": sorted(os.sched_getaffinity(0)),
        "polars_threads": pl.thread_pool_size(),
    }
    print(json.dumps(document))
    return 0


def floor_zstd(archive: Path, repeat: int, *, pinned: bool) -> float | None:
    """Median seconds of `zstd -dc ARCHIVE > /dev/null` (on core 0 when pinned)."""
    if shutil.which("zstd") is None or (pinned and shutil.which("taskset") is None):
        return None
    command = ["zstd", "-dc", str(archive)]
    if pinned:
        command = ["taskset", "-c", "0", *command]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - began)
    return round(statistics.median(times), 3)


# --- the reference evaluator ------------------------------------------------------------------


def reference_check(
    plan: Plan, archive: Path, lines: int, source: str | None, rules: Path, scratch: Path
) -> dict[str, Any]:
    """Scan the first `lines` lines as their own archive and compare the alerts with the
    reference evaluator's: (line, rule) pairs, gained and lost."""
    sample = first_lines(archive, lines)
    path = scratch / "sample.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(b"\n".join(sample) + b"\n"))
    bench._say(f"reference check on the first {len(sample):,} lines")
    with tempfile.TemporaryDirectory(prefix="retrohunt-bench-windows-ref-") as out:
        result = scan(ScanOptions((path,), out=Path(out), rules=(rules,), source=source), plan=plan)
    alerts = result.alerts
    fast = set(
        zip(
            alerts.get_column("line_number").to_list(),
            alerts.get_column("rule_name").to_list(),
            strict=True,
        )
    )
    began = time.perf_counter()
    expected = reference_alerts(sample, plan, select_sources(source))
    seconds = time.perf_counter() - began
    gained, lost = sorted(fast - expected), sorted(expected - fast)
    verdict = "identical" if not gained and not lost else f"+{len(gained)} / -{len(lost)}"
    bench._say(f"reference: {len(expected):,} alerts, scan {len(fast):,}: {verdict}")
    for kind, pairs in (("gained", gained), ("lost", lost)):
        for line, rule in pairs[:EXAMPLES]:
            bench._say(f"  {kind}: line {line} {rule}: {sample[line - 1][:300]!r}")
    return {
        "lines": len(sample),
        "scan_alerts": len(fast),
        "reference_alerts": len(expected),
        "identical": not gained and not lost,
        "gained": len(gained),
        "lost": len(lost),
        "gained_examples": [list(p) for p in gained[:EXAMPLES]],
        "lost_examples": [list(p) for p in lost[:EXAMPLES]],
        "rules_alerting": len({rule for _, rule in expected}),
        "reference_seconds": round(seconds, 1),
    }


def first_lines(archive: Path, count: int) -> list[bytes]:
    """The first `count` lines of a zstd archive."""
    found: list[bytes] = []
    tail = b""
    with archive.open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        while len(found) < count and (chunk := reader.read(4 << 20)):
            pieces = (tail + chunk).split(b"\n")
            tail = pieces.pop()
            found.extend(pieces)
    if tail and len(found) < count:
        found.append(tail)
    return [line for line in found[:count]]


# --- the record -------------------------------------------------------------------------------


def markdown(record: dict[str, Any]) -> str:
    machine, corpus, compiled = record["machine"], record["corpus"], record["compile"]
    scans, target, reference = record["scans"], record["target"], record["reference"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    out = [
        f"# retrohunt, SigmaHQ-scale Windows benchmark {record['name']}",
        "",
        f"- Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GiB, "
        f"{machine['os']}, Python {machine['python']}; {versions}.",
        f"- Load average at start / end: {machine['load_start'][0]} / "
        f"{machine['load_end'][0]}" + (" (**shared machine**)" if machine["shared"] else ""),
        f"- Code: commit {record['commit']}{' (dirty)' if record['dirty'] else ''}, modules "
        f"digest {record['code_digest']}"
        + (
            " — **changed during the run: the figures mix versions**"
            if record["code_changed_during_run"]
            else ", unchanged during the run"
        )
        + ".",
        f"- Corpus: `{corpus['name']}`, {corpus['events']:,} Windows event-log lines, "
        f"{corpus['decompressed_bytes'] / 1e6:,.0f} MB decompressed, "
        f"{corpus['compressed_bytes'] / 1e6:,.0f} MB zstd"
        + (
            f"; generated in {corpus['generate_seconds']} s "
            f"({corpus['generate_mb_per_second']} MB/s)"
            if corpus.get("generated_now")
            else "; reused"
        ),
        f"- Rules: `{record['rules']}`: {compiled['rule_files']:,} files, "
        f"{compiled['compiled']:,} compiled, {compiled['refused']:,} refused; "
        f"{compiled['patterns']:,} patterns ({compiled['matcher_patterns']:,} matcher, "
        f"{compiled['prefilter_patterns']:,} prefilter"
        + (", the prefilter passes every line" if compiled["prefilter_every_line"] else "")
        + "); prefilter modes: "
        + ", ".join(f"{mode} {n:,}" for mode, n in compiled["prefilter_modes"].items())
        + ".",
        f"- Compile (cold = no cached plan or database / cached): rules "
        f"{compiled['rules_seconds']} / {compiled['rules_cached_seconds']} s, Hyperscan "
        f"{compiled['hyperscan_cold_seconds']} / {compiled['hyperscan_cached_seconds']} s: "
        f"{compiled['total_cold_seconds']} s cold, {compiled['total_cached_seconds']} s cached.",
        "",
        "| | 1 core | 2 cores |",
        "| --- | ---: | ---: |",
    ]
    rows = [
        ("median seconds (runs)", lambda r: f"{r['median_seconds']:.2f} ({_runs(r['runs'])})"),
        ("events/s", lambda r: f"{r['events_per_second']:,}"),
        ("MB/s decompressed", lambda r: f"{r['mb_per_second']:,.1f}"),
        ("× zstd -dc floor", lambda r: f"{r['x_floor']}" if r.get("x_floor") else "-"),
        ("prefilter pass rate", lambda r: _percent(r["pass_rate"])),
        ("prefilter bypassed (pass rate of its sample)", _bypass_cell),
        ("processes (chunks they evaluated)", lambda r: f"{r['workers']} ({r['pooled_chunks']:,})"),
        ("alerts (rules alerting)", lambda r: f"{r['alerts']:,} ({r['rules_alerting']})"),
        ("unrecognised events", lambda r: f"{r['unrecognised']:,}"),
        ("engine setup, cached databases", lambda r: f"{r['setup_seconds']:.2f} s"),
    ]  # fmt: skip
    for title, cell in rows:
        out.append(
            f"| {title} | "
            + " | ".join(cell(scans[k]) if scans[k].get("ok") else "failed" for k in scans)
            + " |"
        )
    floor = record["floor_seconds"]
    out.append(
        "| zstd -dc floor, seconds | "
        + " | ".join(f"{floor[k]}" if floor[k] is not None else "-" for k in scans)
        + " |"
    )
    stage_names: list[str] = []
    for row in scans.values():
        for name in row.get("stages", {}):
            if name not in stage_names:
                stage_names.append(name)
    for name in stage_names:
        out.append(
            f"| stage: {name}, s | "
            + " | ".join(f"{scans[k].get('stages', {}).get(name, 0):.2f}" for k in scans)
            + " |"
        )
    out += ["", "Stages: seconds of the median run as `ScanResult.engine.times` splits it "
            "(prefilter on the main thread; decompression runs on the reader thread; *other* is "
            "wall minus the stages: engine setup, waiting for decompressed chunks, the archive "
            "digest, Parquet output). With worker processes (`scan --workers`, the 2-core "
            "column) the stages are summed over the processes, so they can exceed the wall "
            "time.", ""]  # fmt: skip
    per_core = target["measured_per_core"]
    out.append(
        f"**Events/s per core: {per_core:,}**, {target['ratio']:.3g}× the target of "
        f"{TARGET_PER_CORE:,} ({'PASS' if target['passed'] else 'MISS'}); "
        f"{target['ratio_to_published']:.3g}× {PUBLISHED['events_per_second']:,} events/s with "
        f"{PUBLISHED['rules']:,} rules, {PUBLISHED['what']}."
        if per_core
        else "**Events/s per core: not measured** (the one-core scan failed)."
    )
    best = scans["1 core"] if scans["1 core"].get("ok") else scans["2 cores"]
    if best.get("ok") and best["top_rules"]:
        out += ["", "Alerts per rule, top 10 (one-core scan):", "", "| rule | alerts |"]
        out.append("| --- | ---: |")
        out += [f"| {rule} | {count:,} |" for rule, count in best["top_rules"]]
    if reference is not None:
        out += [
            "",
            f"Reference evaluator on the first {reference['lines']:,} lines: "
            f"{reference['reference_alerts']:,} alerts ({reference['rules_alerting']} rules), scan "
            f"{reference['scan_alerts']:,}: "
            + (
                "**identical**."
                if reference["identical"]
                else f"**differ**: {reference['gained']} gained, {reference['lost']} lost "
                f"(examples: gained {reference['gained_examples']}, lost "
                f"{reference['lost_examples']})."
            )
            + f" (reference took {reference['reference_seconds']} s)",
        ]
    if compiled["every_line_rules"]:
        names = compiled["every_line_rules"]
        more = f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else ""
        shown = "; ".join(names[:EXAMPLES])
        out += ["", f"Rules the prefilter cannot narrow (every line a candidate): {shown}{more}."]
    if compiled["event_type_rules"]:
        names = compiled["event_type_rules"]
        out += ["", "Rules the prefilter narrows to event types only (every event of their "
                f"types is a candidate, {len(names)}): " + "; ".join(names) + "."]  # fmt: skip
    if compiled["refused_reasons"]:
        out += ["", "Refused rules by reason:", ""]
        out += [f"- {n} × {reason}" for reason, n in compiled["refused_reasons"].items()]
    return "\n".join(out) + "\n"


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def _percent(value: float | None) -> str:
    return f"{value:.3%}" if value is not None else "-"


if __name__ == "__main__":
    sys.exit(main())
