"""What a user would run instead of retrohunt, on the same rules and corpora:

- `polars`: every line parsed by Polars and every string predicate a `str.contains` regular
  expression (no Hyperscan, no prefilter), process join included — the same alerts;
- `duckdb`: the events (parsed and normalised as above) in DuckDB, each rule the WHERE
  clause pySigma's DuckDB backend writes, within the events its logsource admits as the
  engine decides (needs `pip install 'retrohunt[bench]'`); no process join, so rules that
  need one may differ;
- `re`: the reference evaluator (Python `json` and regular expressions, line by line) on a
  sample of each corpus, its time extrapolated to the whole corpus.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from retrohunt.archive import ArchiveReader
from retrohunt.compiler import Plan
from retrohunt.engine import Engine
from retrohunt.parse import parse_chunk
from retrohunt.reference import reference_scan
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import normalise, select_sources
from retrohunt.sources.taxonomy import ADMITTED, PRODUCT, SERVICE, SOURCE

if TYPE_CHECKING:
    from retrohunt.bench.measure import BenchOptions

BASELINES = ("polars", "duckdb", "re")


@dataclass(slots=True)
class BaselineRun:
    """One engine's run over the corpora (retrohunt's own run is one too)."""

    name: str
    seconds: float  # median of the runs (extrapolated for `re`)
    runs: list[float]
    alerts: int
    decompressed_bytes: int
    events: int
    note: str = ""
    error: str | None = None
    extrapolated: bool = False
    retrohunt_speedup: float | None = None  # this run's seconds / retrohunt's

    @classmethod
    def timed(
        cls, name: str, runs: list[float], alerts: int, ours: BaselineRun, note: str
    ) -> BaselineRun:
        """A run of the same corpora as `ours`, from the seconds of its repeats."""
        rounded = [round(r, 4) for r in runs]
        return cls(
            name, statistics.median(runs), rounded, alerts, ours.decompressed_bytes, ours.events,
            note=note,
        )  # fmt: skip

    @property
    def mb_per_second(self) -> float | None:
        """Decompressed MB per second."""
        return self.decompressed_bytes / 1e6 / self.seconds if self.seconds > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        document = asdict(self)
        document["mb_per_second"] = self.mb_per_second
        return document


def run_baseline(name: str, options: BenchOptions, plan: Plan, ours: BaselineRun) -> BaselineRun:
    """Run baseline `name`; a baseline that cannot run is returned with its `error`."""
    runner = {"polars": _polars, "duckdb": _duckdb, "re": _python_re}[name]
    try:
        run = runner(options, plan, ours)
    except ImportError as exc:
        return BaselineRun(
            name, 0.0, [], 0, ours.decompressed_bytes, ours.events,
            error=f"not installed ({exc.name}): pip install 'retrohunt[bench]'",
        )  # fmt: skip
    if run.seconds > 0 and ours.seconds > 0:
        run.retrohunt_speedup = round(run.seconds / ours.seconds, 2)
    return run


def _polars(options: BenchOptions, plan: Plan, ours: BaselineRun) -> BaselineRun:
    runs, alerts = [], 0
    for _ in range(max(1, options.repeat)):
        with tempfile.TemporaryDirectory(prefix="retrohunt-bench-") as out:
            began = time.perf_counter()
            result = scan(
                ScanOptions(
                    archives=options.corpora,
                    out=Path(out),
                    source=options.source,
                    prefilter=False,
                    regex_baseline=True,
                ),
                plan=plan,
            )
            runs.append(time.perf_counter() - began)
            alerts = result.alerts.height
    note = "read every line, str.contains per pattern, same process join"
    return BaselineRun.timed("polars", runs, alerts, ours, note)


def _duckdb(options: BenchOptions, plan: Plan, ours: BaselineRun) -> BaselineRun:
    import duckdb
    from sigma_backend_duckdb import DuckDBBackend

    queries, failed = _duckdb_queries(plan, DuckDBBackend)
    runs, alerts = [], 0
    for _ in range(max(1, options.repeat)):
        began = time.perf_counter()
        events = _events(options, plan)
        with duckdb.connect() as con:
            con.register("logs", events.to_arrow())
            alerts = sum(
                int(con.sql(f"SELECT count(*) FROM ({query})").fetchall()[0][0])
                for query in queries
            )
        runs.append(time.perf_counter() - began)
    note = "events parsed by Polars, rules as pySigma DuckDB WHERE clauses, no process join"
    if failed:
        note += f"; not expressible: {', '.join(failed)}"
    return BaselineRun.timed("duckdb", runs, alerts, ours, note)


def _duckdb_queries(plan: Plan, backend_class: Any) -> tuple[list[str], list[str]]:
    """One query per rule: the backend's for its detection, its logsource tested outside
    (`_logsource_sql`); and the rules the backend refuses."""
    import yaml
    from sigma.collection import SigmaCollection
    from sigma.processing.pipeline import ProcessingPipeline

    # An empty pipeline: the backend's default one would rename fields (Splunk's Sysmon).
    pipeline = ProcessingPipeline(name="retrohunt bench", priority=20, items=[])
    backend = backend_class(processing_pipeline=pipeline)
    queries: list[str] = []
    failed: list[str] = []
    for rule in plan.rules:
        try:
            documents = list(yaml.safe_load_all(rule.path.read_text(encoding="utf-8")))
            chosen = [
                d
                for d in documents
                if isinstance(d, dict) and (d.get("name") or d.get("title")) == rule.name
            ]
            converted = backend.convert(SigmaCollection.from_dicts(chosen or documents))
        except Exception:  # the backend cannot express it (or the rule is generated)
            failed.append(rule.name)
            continue
        admits = _logsource_sql(rule.logsource)
        queries.extend(f"SELECT * FROM ({q}) AS detected WHERE {admits}" for q in converted)
    return queries, failed


def _logsource_sql(logsource: tuple[str | None, str | None, str | None]) -> str:
    """The events a rule's logsource admits, as the engine's matcher decides (its
    `_admits`): a recognised event, of a category listed in `_rh_categories` (every
    category admitting the event: Sysmon's 13 is registry_set and registry_event alike,
    while `_rh_category` holds only the most specific), of the product and service named."""
    category, product, service = logsource
    tests = [f"{SOURCE} IS NOT NULL"]
    if category is not None:
        tests.append(f"list_contains({ADMITTED}, {_sql_text(category)})")
    for wanted, column in ((product, PRODUCT), (service, SERVICE)):
        if wanted is not None:
            tests.append(f"{column} = {_sql_text(wanted)}")
    return " AND ".join(tests)


def _sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _events(options: BenchOptions, plan: Plan) -> pl.DataFrame:
    """Every event of the corpora, normalised, with the rules' fields and logsource."""
    engine = Engine(plan, options.source, prefilter=False, process_join=False)
    sources = select_sources(options.source)
    frames = []
    for corpus in options.corpora:
        for chunk in ArchiveReader(corpus):
            parsed = parse_chunk(chunk, engine.match_schema)
            frames.append(normalise(parsed.frame, sources, engine.fields).collect())
    # The logsource columns (_rh_categories …) are what `_logsource_sql` tests.
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _python_re(options: BenchOptions, plan: Plan, ours: BaselineRun) -> BaselineRun:
    sources = select_sources(options.source)
    sample: list[list[bytes]] = []
    for corpus in options.corpora:
        lines: list[bytes] = []
        for chunk in ArchiveReader(corpus):
            lines.extend(chunk.data.splitlines())
            if len(lines) >= options.re_sample_lines:
                break
        sample.append(lines[: options.re_sample_lines])
    sampled = sum(len(lines) for lines in sample)
    began = time.perf_counter()
    found = reference_scan(sample, plan, sources)
    seconds = time.perf_counter() - began
    total_lines = max(ours.events, sampled)
    scale = total_lines / sampled if sampled else 1.0
    return BaselineRun(
        "re",
        seconds * scale,
        [round(seconds, 4)],
        len(found),
        ours.decompressed_bytes,
        ours.events,
        note=f"Python json + re per line on {sampled:,} lines, time extrapolated ×{scale:.1f}; "
        "alerts are the sample's",
        extrapolated=True,
    )
