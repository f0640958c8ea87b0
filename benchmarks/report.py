"""The targets of the benchmark and the Markdown rendering of a result record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Names of the contenders the targets refer to (run.py uses the same constants).
FLOOR = "floor: zstd -dc"
SCAN = "retrohunt scan (prefilter on, join on)"
SCAN_NO_PREFILTER = "retrohunt scan (prefilter off, join on)"
SCAN_NO_JOIN = "retrohunt scan (prefilter on, join off)"
SCAN_PACK = "retrohunt scan, whole T1204.003 pack"
POLARS = "polars read_ndjson + str.contains"
DUCKDB = "duckdb read_json + regexp_matches"
PYSIGMA = "duckdb with pySigma's DuckDB backend"
PYTHON = "python json + re, per line (extrapolated)"

RSS_LIMIT_MIB = 600.0
RSS_SAME_TOLERANCE = 0.15  # "about the same": the larger archive's peak within 15 %


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    wanted: str
    measured: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


def evaluate_targets(record: dict[str, Any]) -> list[Target]:
    """The targets of issue 5 (with issue 4's join on) against one record."""
    times = {r["contender"]: r["median_seconds"] for r in record["results"] if r.get("ok")}
    targets: list[Target] = []

    def ratio(label: str, name: str, over: str, wanted: str, limit: float, at_most: bool) -> None:
        a, b = times.get(name), times.get(over)
        if a is None or b is None or b == 0:
            targets.append(Target(label, wanted, "not measured", None))
            return
        value = a / b
        passed = value <= limit if at_most else value >= limit
        targets.append(Target(label, wanted, f"{value:.2f}×", passed))

    ratio("scan wall / floor (three seed branches)", SCAN, FLOOR, "≤ 1.3×", 1.3, at_most=True)
    ratio("scan wall / floor (whole pack)", SCAN_PACK, FLOOR, "≤ 1.3×", 1.3, at_most=True)
    ratio("DuckDB / scan", DUCKDB, SCAN, "≥ 2× (scan twice as fast)", 2.0, at_most=False)
    ratio("Polars-only / scan", POLARS, SCAN, "≥ 5× (scan five times as fast)", 5.0, at_most=False)

    scaling = record.get("scaling") or {}
    low = scaling.get("ratio_counts")
    for key, how in (("retrohunt_ratio", "cold"), ("retrohunt_warm_ratio", "warm")):
        value = scaling.get(key)
        if value is None or low is None:
            targets.append(Target(f"pattern scaling ({how})", "≤ 2×", "not measured", None))
        else:
            targets.append(
                Target(
                    f"scan with {low[1]:,} / with {low[0]:,} patterns ({how})",
                    "≤ 2×",
                    f"{value:.2f}×",
                    value <= 2.0,
                )
            )

    rss = [r for r in record.get("rss") or [] if r.get("peak_rss_mb") is not None]
    if rss:
        worst = max(r["peak_rss_mb"] for r in rss)
        targets.append(
            Target("peak RSS of `retrohunt scan`", f"< {RSS_LIMIT_MIB:.0f} MiB", f"{worst:.0f} MiB",
                   worst < RSS_LIMIT_MIB)
        )  # fmt: skip
    else:
        targets.append(Target("peak RSS", f"< {RSS_LIMIT_MIB:.0f} MiB", "not measured", None))
    if len(rss) >= 2:
        small, large = rss[0], rss[-1]
        growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
        targets.append(
            Target(
                f"peak RSS {large['label']} vs {small['label']}",
                f"about the same (within {RSS_SAME_TOLERANCE:.0%})",
                f"{growth:+.0%} ({small['peak_rss_mb']:.0f} → {large['peak_rss_mb']:.0f} MiB)",
                abs(growth) <= RSS_SAME_TOLERANCE,
            )
        )
    else:
        targets.append(Target("peak RSS 1 GB vs 4 GB", "about the same", "not measured", None))

    disagree = [
        r["contender"]
        for r in record["results"]
        if r.get("expected") is not None and not r.get("agrees")
    ]
    disagree += [f"RSS run {r['label']}" for r in rss if not r.get("agrees")]
    if scaling and not scaling.get("alerts_agree"):
        disagree.append("pattern scaling (retrohunt vs Polars, across pattern counts)")
    targets.append(
        Target(
            "alert counts: every contender equals the labels / expected count",
            "all agree",
            "all agree" if not disagree else "disagree: " + ", ".join(disagree),
            not disagree,
        )
    )
    return targets


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def markdown(record: dict[str, Any]) -> str:
    """The record as a Markdown report: machine, corpus, contenders, stages, scaling, RSS,
    targets."""
    m, c = record["machine"], record["corpus"]
    out = [
        f"# Benchmark {record['name']}",
        "",
        f"- Date: {record['date']}, commit `{record['commit']}`"
        + (" (uncommitted changes in the tree)" if record.get("dirty") else ""),
        f"- Machine: {m['cpu']}, {m['cpus']} cores, {m['memory_gb']:.1f} GiB RAM, "
        f"{m['os']}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
        f"- Load average at start / end: {m['load_start']} / {m.get('load_end')}"
        + (" (shared machine: other work ran at the same time)" if m.get("shared") else ""),
        f"- Corpus: `{c['name']}`, {c['events']:,} Falcon events, "
        f"{c['decompressed_bytes'] / 1e6:,.0f} MB decompressed, "
        f"{c['compressed_bytes'] / 1e6:,.0f} MB zstd, malicious rate {c['malicious_rate']}, "
        f"{c['labelled_pairs']:,} labelled (line, rule) pairs "
        f"({c['seed_pairs']:,} for the three seed branches); generator tag `{c['generator']}`",
        f"- Every time is the median of {record['repeat']} runs in this one process run.",
        "",
        "## Contenders",
        "",
        "| contender | median s | runs s | MB/s | × floor | × retrohunt | alerts | expected "
        "| agrees |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in record["results"]:
        if not r.get("ok"):
            out.append(f"| {r['contender']} | – | – | – | – | – | – | – | not run: {r['error']} |")
            continue
        expected = "–" if r.get("expected") is None else f"{r['expected']:,}"
        agrees = "–" if r.get("expected") is None else ("yes" if r["agrees"] else "**NO**")
        out.append(
            f"| {r['contender']} | {_seconds(r['median_seconds'])} | "
            f"{', '.join(f'{t:.2f}' for t in r['runs'])} | {r['mb_per_second']:,.0f} | "
            f"{_ratio(r.get('x_floor'))} | {_ratio(r.get('x_retrohunt'))} | "
            f"{r['alerts']:,} | {expected} | {agrees} |"
        )
    notes = [f"- {r['contender']}: {r['note']}" for r in record["results"] if r.get("note")]
    if notes:
        out += ["", *notes]

    stages = [r for r in record["results"] if r.get("stages")]
    if stages:
        out += [
            "",
            "## Where retrohunt's time goes",
            "",
            "Stage seconds from `ScanResult.engine.times` of the median run. Prefilter, "
            "parse, match and describe run on the main thread; *other* is the rest of its "
            "wall time: reading, waiting for the reader thread (decompression), compiling, "
            "writing Parquet. *join* (learning process lines) is not part of the sum: with "
            "the prefilter on it runs mostly on the engine's learning thread, at the same "
            "time; with it off, each chunk's processes are learned before its events are "
            "matched, on the main thread, inside *other*.",
            "",
            "| run | wall s | prefilter | parse | join | match | describe | other "
            "| pass rate | candidate lines |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in stages:
            s = r["stages"]
            out.append(
                f"| {r['contender']} | {r['median_seconds']:.2f} | {s['prefilter']:.2f} | "
                f"{s['parse']:.2f} | {s['join']:.2f} | {s['match']:.2f} | "
                f"{s['describe']:.2f} | {s['other']:.2f} | "
                f"{r['pass_rate'] * 100:.3f} % | {r['candidate_lines']:,} / {r['lines']:,} |"
            )
        join = record.get("join_cost")
        if join:
            out += [
                "",
                f"Process join (issue 4): join on {join['on']:.2f} s, off {join['off']:.2f} s: "
                f"the enrichment costs {join['seconds']:+.2f} s ({join['fraction']:+.0%}); "
                f"of which the join stage {join['join_stage_seconds']:.2f} s. Join off, "
                f"{join['alerts_off'] - join['alerts_on']:+,} alerts: browsers' connections, "
                "whose image only the join supplies, are no longer filtered.",
            ]

    scaling = record.get("scaling")
    if scaling:
        out += [
            "",
            "## Pattern-count scaling",
            "",
            "Two generated rules (`QueryName|endswith` on DNS, `Image|endswith` on process "
            "events) sharing N patterns, on the same corpus. Cold: every run compiles the "
            "rules and its Hyperscan databases into an empty cache (a first scan with new "
            "rules); warm: the databases come from that cache (every later scan); rule "
            "compile: pySigma parsing and translation alone, in both.",
            "",
            "| patterns | retrohunt cold s | retrohunt warm s | alerts | Polars regex s "
            "| alerts | rule compile s |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in scaling["rows"]:
            out.append(
                f"| {row['patterns']:,} | {_seconds(row['retrohunt_seconds'])} | "
                f"{_seconds(row.get('retrohunt_warm_seconds'))} | "
                + ("–" if row.get("retrohunt_alerts") is None else f"{row['retrohunt_alerts']:,}")
                + f" | {_seconds(row.get('polars_seconds'))} | "
                + ("–" if row.get("polars_alerts") is None else f"{row['polars_alerts']:,}")
                + f" | {row['compile_seconds']:.2f} |"
            )
        low, high = scaling["ratio_counts"]
        out += [
            "",
            f"{high:,} / {low:,} patterns: retrohunt cold {_ratio(scaling['retrohunt_ratio'])}, "
            f"warm {_ratio(scaling.get('retrohunt_warm_ratio'))}; "
            f"Polars regex {_ratio(scaling.get('polars_ratio'))}.",
        ]
        for row in scaling["rows"]:
            for who in ("retrohunt", "polars"):
                if row.get(f"{who}_error"):
                    out.append(f"{who} at {row['patterns']:,} patterns: {row[f'{who}_error']}")

    rss = record.get("rss")
    if rss:
        out += [
            "",
            "## Peak memory of `retrohunt scan` (CLI subprocess, whole pack)",
            "",
            "| archive | decompressed MB | wall s | peak RSS MiB | alerts | expected |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rss:
            if r.get("error"):
                out.append(f"| {r['label']} (`{r['archive']}`) | – | – | – | – | {r['error']} |")
                continue
            out.append(
                f"| {r['label']} (`{r['archive']}`) | {r['decompressed_bytes'] / 1e6:,.0f} | "
                f"{r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
                + ("–" if r.get("alerts") is None else f"{r['alerts']:,}")
                + f" | {r['expected']:,} |"
            )

    out += [
        "",
        "## Targets",
        "",
        "| target | wanted | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for t in evaluate_targets(record):
        out.append(f"| {t.name} | {t.wanted} | {t.measured} | {t.verdict} |")
    return "\n".join(out) + "\n"
