"""What a rule set costs and catches on corpora: throughput, compile cost, prefilter pass
rate, hits and suppressed hits (as a whole and per rule), precision and recall against
labels with the false positives to tune, the rules that never saw any of their fields, and
baselines run on the same corpora."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from retrohunt.archive import DEFAULT_CHUNK_SIZE, ArchiveReader
from retrohunt.bench.baselines import BASELINES, BaselineRun, run_baseline
from retrohunt.compiler import PatternList, Plan, compile_rules, subset_plan
from retrohunt.engine import Engine
from retrohunt.environ import environment
from retrohunt.errors import InputError, RuleError
from retrohunt.evaluate import AlertKey, load_labels
from retrohunt.explain import explain
from retrohunt.hyperscan_cache import CACHE_ENV
from retrohunt.parse import parse_chunk
from retrohunt.scan import ScanOptions, ScanResult, scan
from retrohunt.sources import normalise, raw_schema, select_sources
from retrohunt.sources.records import expand_envelopes
from retrohunt.sources.taxonomy import CATEGORY, EVENT_TYPE, PRODUCT, SERVICE, SOURCE

PER_RULE_LIMIT = 50
"""Rule sets up to this size get a scan per rule (its own throughput) by default."""
TOP_FALSE_POSITIVES = 5


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What `bench` measures; the CLI builds one from its arguments."""

    corpora: tuple[Path, ...]
    rules: tuple[Path, ...] = ()
    patterns: tuple[PatternList, ...] = ()
    labels: tuple[Path, ...] = ()
    """One labels file per corpus (same order); none: `<corpus stem>.labels.jsonl` beside
    each corpus when it exists (what `corpus generate --labels` writes)."""
    baselines: tuple[str, ...] = ()
    repeat: int = 1
    per_rule: bool | None = None
    """Scan once per rule to measure each rule's own throughput; None: when the rule set
    has at most `PER_RULE_LIMIT` rules."""
    source: str | None = None
    re_sample_lines: int = 20_000


@dataclass(slots=True)
class RuleBench:
    """One rule's figures (the whole set's too, named "all rules")."""

    name: str
    level: str = ""
    mode: str = ""  # prefilter mode, as `rules explain` says
    patterns: int = 0
    hits: int = 0
    suppressed: int = 0
    seconds: float | None = None  # scanning the corpora with this rule alone
    mb_per_second: float | None = None
    events_per_second: float | None = None
    true_positives: int | None = None
    false_positives: int | None = None
    false_negatives: int | None = None
    top_false_positives: list[tuple[str, int]] = field(default_factory=list)
    fields_seen: bool | None = None
    """Did any event the rule's logsource admits have a value for one of the fields the rule
    reads? False: the rule could not match anything in these corpora. None: not known (the
    whole set, or a rule that reads no field)."""

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP), None without labels or alerts."""
        if self.true_positives is None or self.false_positives is None:
            return None
        raised = self.true_positives + self.false_positives
        return self.true_positives / raised if raised else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN), None without labels or expected alerts."""
        if self.true_positives is None or self.false_negatives is None:
            return None
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, ratios included."""
        document = asdict(self)
        document["precision"], document["recall"] = self.precision, self.recall
        document["top_false_positives"] = [list(p) for p in self.top_false_positives]
        return document


@dataclass(slots=True)
class BenchReport:
    """Everything `bench` measured on one rule set."""

    rules_digest: str
    rule_names: list[str]
    refused: list[str]
    corpora: list[dict[str, Any]]
    decompressed_bytes: int
    events: int
    lines: int
    compile: dict[str, Any]
    pass_rate: float | None
    total: RuleBench
    rules: list[RuleBench]
    runs: list[BaselineRun]
    labelled: bool
    alert_keys: set[tuple[str, int, str]]  # (corpus, line, rule) of every alert
    examples: dict[tuple[str, int, str], dict[str, Any]]  # a few alert rows, by key
    coverage: FieldCoverage | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    machine: dict[str, Any] = field(default_factory=lambda: describe_machine())

    @property
    def unseen(self) -> list[str]:
        """Rules that never saw any of their fields (see `field_coverage`)."""
        return self.coverage.unseen if self.coverage is not None else []

    @property
    def retrohunt(self) -> BaselineRun:
        """The retrohunt run (first of `runs`)."""
        return self.runs[0]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`bench --json`)."""
        return {
            "created": self.created,
            "machine": self.machine,
            "rules_digest": self.rules_digest,
            "rules": [r.as_dict() for r in self.rules],
            "refused_rules": self.refused,
            "total": self.total.as_dict(),
            "corpora": self.corpora,
            "decompressed_bytes": self.decompressed_bytes,
            "events": self.events,
            "lines": self.lines,
            "prefilter_pass_rate": self.pass_rate,
            "rules_without_fields_seen": self.unseen,
            "field_coverage": self.coverage.as_dict() if self.coverage is not None else None,
            "compile": self.compile,
            "runs": [r.as_dict() for r in self.runs],
            "labelled": self.labelled,
        }


ProgressCallback = Callable[[str], None]


def bench(options: BenchOptions, progress: ProgressCallback | None = None) -> BenchReport:
    """Measure a rule set on the corpora (see module doc).

    Raises:
        RuleError: no usable rule.
        InputError: a corpus or labels file is missing or unusable.
        ValueError: an unknown baseline, or labels not one per corpus.
    """
    say = progress or (lambda _: None)
    unknown = sorted(set(options.baselines) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    if options.labels and len(options.labels) != len(options.corpora):
        raise ValueError("give one --labels file per --corpus, in the same order")
    for corpus in options.corpora:
        if not corpus.is_file():
            raise InputError(f"{corpus}: no such corpus file")
    started = time.perf_counter()
    plan = compile_rules(list(options.rules) or None, patterns=options.patterns)
    if not plan.rules:
        reasons = "; ".join(str(r) for r in plan.refused[:3])
        raise RuleError(f"no usable rule in the rule set ({reasons})")
    compile_figures = _compile_cost(plan, options.source)
    compile_figures["rules_seconds"] = round(time.perf_counter() - started, 4)
    labels = _labels(options)
    Engine(plan, options.source)  # databases compiled (and cached) before any timing
    say(f"scanning {len(options.corpora)} corpus file(s) with {len(plan.rules)} rules")
    results = [_scan(options, plan) for _ in range(max(1, options.repeat))]
    result = results[0]
    seconds = statistics.median(r.seconds for r in results)
    bytes_ = sum(a.decompressed_bytes for a in result.archives)
    events = sum(a.events for a in result.archives)
    lines = sum(a.lines for a in result.archives)
    alerts = result.alerts
    suppressed = pl.concat([a.suppressed for a in result.archives])
    ours = BaselineRun(
        "retrohunt",
        seconds,
        [round(r.seconds, 4) for r in results],
        alerts.height,
        bytes_,
        events,
        note="Hyperscan prefilter + matcher, process join",
    )
    explanation = {r.name: r for r in explain(plan, options.source).rules}
    rules = [_rule_bench(rule, plan, alerts, suppressed, explanation) for rule in plan.rules]
    total = RuleBench(
        "all rules",
        patterns=len(plan.patterns),
        hits=alerts.height,
        suppressed=suppressed.height,
        seconds=seconds,
        mb_per_second=_rate(bytes_ / 1e6, seconds),
        events_per_second=_rate(events, seconds),
    )
    if labels is not None:
        _score(rules, total, alerts, labels, options.corpora)
    if options.per_rule if options.per_rule is not None else len(plan.rules) <= PER_RULE_LIMIT:
        for index, rule in enumerate(rules):
            say(f"scanning with {rule.name} alone")
            alone = _scan(options, subset_plan(plan, [index])).seconds
            rule.seconds = alone
            rule.mb_per_second = _rate(bytes_ / 1e6, alone)
            rule.events_per_second = _rate(events, alone)
    say("checking which rules saw their fields")
    coverage = field_coverage(options.corpora, plan, options.source)
    for rule in rules:
        rule.fields_seen = coverage.seen.get(rule.name)
    runs = [ours]
    for name in options.baselines:
        say(f"baseline {name}")
        runs.append(run_baseline(name, options, plan, ours))
    return BenchReport(
        rules_digest=plan.digest,
        rule_names=[r.name for r in plan.rules],
        refused=[str(r) for r in plan.refused],
        corpora=[_corpus_entry(a) for a in result.archives],
        decompressed_bytes=bytes_,
        events=events,
        lines=lines,
        compile=compile_figures,
        pass_rate=sum(a.candidate_lines for a in result.archives) / lines if lines else None,
        total=total,
        rules=rules,
        runs=runs,
        labelled=labels is not None,
        alert_keys={
            (str(a), int(n), str(r))
            for a, n, r in alerts.select("archive", "line_number", "rule_name").iter_rows()
        },
        examples=_examples(alerts),
        coverage=coverage,
    )


@dataclass(slots=True)
class FieldCoverage:
    """Which rules saw any of their fields in the corpora, and what finding out cost."""

    seen: dict[str, bool]  # rule name -> saw a value; rules that read no field are absent
    seconds: float
    chunks: int  # chunks parsed
    lines: int  # lines parsed
    complete: bool  # every chunk was parsed (False: stopped once every rule was settled)

    @property
    def unseen(self) -> list[str]:
        """Rules that never saw any of their fields, in rule order."""
        return [name for name, seen in self.seen.items() if not seen]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "unseen": self.unseen,
            "seconds": round(self.seconds, 4),
            "chunks": self.chunks,
            "lines": self.lines,
            "complete": self.complete,
        }


_GROUP = (SOURCE, CATEGORY, PRODUCT, SERVICE, EVENT_TYPE)
Group = tuple[str | None, ...]


def field_coverage(
    corpora: Sequence[Path],
    plan: Plan,
    source: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> FieldCoverage:
    """For each rule that reads fields: did any event its logsource admits have a non-null
    value for one of them (`Plan.rule_fields`)? A rule on a field the data lacks is neither
    an error nor skipped: it just cannot match, and `bench` names it.

    One pass of its own over the corpora, chunk by chunk, as the engine reads them (the
    engine parses only the prefilter's candidate lines, which say nothing of the rest): each
    chunk is parsed with only the fields of the rules not settled yet, normalised, and
    reduced to "any non-null" per field and per (source, category, product, service, event
    type). A rule is settled once one of its fields was seen in a group its logsource admits;
    the pass stops when every rule is, so it costs about one chunk's parse when every rule
    sees its fields, and a pass over everything, reading only the missing fields, when one
    does not. A field a process join fills (Image, CommandLine, ... on Falcon network events)
    counts as seen in a joined category when the source's process events had it.
    """
    started = time.perf_counter()
    sources = select_sources(source)
    joins = {s.name: s.process_join for s in sources if s.process_join is not None}
    fields_of = {i: plan.rule_fields(rule) for i, rule in enumerate(plan.rules)}
    open_rules = {i for i, fields in fields_of.items() if fields}
    seen_in: dict[Group, set[str]] = {}
    chunks = lines = 0
    complete = True
    for corpus in corpora:
        if not open_rules:
            complete = False
            break
        for chunk in ArchiveReader(corpus, chunk_size):
            if not open_rules:
                complete = False
                break
            wanted = sorted({f for i in open_rules for f in fields_of[i]})
            parsed = parse_chunk(chunk, raw_schema(sources, wanted))
            chunks, lines = chunks + 1, lines + parsed.lines
            events = normalise(expand_envelopes(parsed.frame, sources), sources, wanted).filter(
                pl.col(SOURCE).is_not_null()
            )
            present = [f for f in wanted if f in events.collect_schema().names()]
            counts = (
                events.group_by(_GROUP)
                .agg(pl.col(f).is_not_null().any() for f in present)
                .collect()
            )
            for row in counts.iter_rows(named=True):
                group = tuple(row[key] for key in _GROUP)
                seen_in.setdefault(group, set()).update(f for f in present if row[f])
            open_rules = {
                i for i in open_rules if not _saw(plan.rules[i], fields_of[i], seen_in, joins)
            }
    seen = {plan.rules[i].name: i not in open_rules for i, fields in fields_of.items() if fields}
    return FieldCoverage(seen, time.perf_counter() - started, chunks, lines, complete)


def _saw(
    rule: Any, fields: frozenset[str], seen_in: dict[Group, set[str]], joins: dict[str, Any]
) -> bool:
    for group, found in seen_in.items():
        name, category, product, service, _ = group
        if not rule.applies_to(category, product, service):
            continue
        if fields & found:
            return True
        join = joins.get(str(name))
        if join is None or category not in join.categories:
            continue
        joined = fields & set(join.fields)
        for other, values in seen_in.items():
            if other[0] == name and other[4] in join.process_types and joined & values:
                return True
    return False


def _scan(options: BenchOptions, plan: Plan, **extra: Any) -> ScanResult:
    with tempfile.TemporaryDirectory(prefix="retrohunt-bench-") as out:
        return scan(
            ScanOptions(
                archives=options.corpora,
                out=Path(out),
                rules=options.rules,
                patterns=options.patterns,
                source=options.source,
                **extra,
            ),
            plan=plan,
        )


def _compile_cost(plan: Plan, source: str | None) -> dict[str, Any]:
    """Hyperscan compile time with no cached database, and the databases' sizes."""
    with environment(**{CACHE_ENV: "off"}):
        began = time.perf_counter()
        engine = Engine(plan, source)
        seconds = time.perf_counter() - began
    prefilter_bytes = engine.filter.database.size
    return {
        "hyperscan_seconds": round(seconds, 4),
        "matcher_patterns": engine.compiled.pattern_count,
        "matcher_bytes": engine.compiled.size_bytes,
        "prefilter_patterns": engine.filter.pattern_count,
        "prefilter_bytes": prefilter_bytes,
        "database_bytes": engine.compiled.size_bytes + prefilter_bytes,
    }


def _labels(options: BenchOptions) -> list[set[AlertKey]] | None:
    paths = list(options.labels)
    if not paths:
        beside = [_labels_beside(corpus) for corpus in options.corpora]
        if not all(p is not None and p.is_file() for p in beside):
            return None
        paths = [p for p in beside if p is not None]
    return [load_labels(path) for path in paths]


def _labels_beside(corpus: Path) -> Path | None:
    name = corpus.name
    for suffix in (".jsonl.zst", ".jsonl.gz", ".json.gz", ".jsonl", ".ndjson"):
        if name.endswith(suffix):
            return corpus.with_name(name[: -len(suffix)] + ".labels.jsonl")
    return None


def _rule_bench(
    rule: Any,
    plan: Plan,
    alerts: pl.DataFrame,
    suppressed: pl.DataFrame,
    explanation: dict[str, Any],
) -> RuleBench:
    mine = alerts.filter(pl.col("rule_name") == rule.name)
    explained = explanation.get(rule.name)
    return RuleBench(
        rule.name,
        level=rule.level,
        mode=explained.mode if explained else "",
        patterns=len(subset_plan(plan, [plan.rules.index(rule)]).patterns),
        hits=mine.height,
        suppressed=suppressed.filter(pl.col("rule_name") == rule.name).height,
    )


def _score(
    rules: list[RuleBench],
    total: RuleBench,
    alerts: pl.DataFrame,
    labels: list[set[AlertKey]],
    corpora: Sequence[Path],
) -> None:
    """Fill TP / FP / FN per rule and name the commonest false-positive values."""
    names = {str(c): i for i, c in enumerate(corpora)}
    expected = {(i, line, rule) for i, keys in enumerate(labels) for line, rule in keys}
    rows = alerts.select("archive", "line_number", "rule_name", *_WHAT).to_dicts()
    got = {(names[str(r["archive"])], int(r["line_number"]), str(r["rule_name"])) for r in rows}
    false_values: dict[str, Counter[str]] = {}
    for row in rows:
        key = (names[str(row["archive"])], int(row["line_number"]), str(row["rule_name"]))
        if key not in expected:
            false_values.setdefault(key[2], Counter())[_what(row)] += 1
    for rule in rules:
        mine = {k for k in got if k[2] == rule.name}
        wanted = {k for k in expected if k[2] == rule.name}
        rule.true_positives = len(mine & wanted)
        rule.false_positives = len(mine - wanted)
        rule.false_negatives = len(wanted - mine)
        rule.top_false_positives = false_values.get(rule.name, Counter()).most_common(
            TOP_FALSE_POSITIVES
        )
    total.true_positives = len(got & expected)
    total.false_positives = len(got - expected)
    total.false_negatives = len(expected - got)


_WHAT = ("domain", "remote_ip", "remote_port", "image", "command_line", "user")


def _what(row: dict[str, Any]) -> str:
    """The value an engineer would tune a false positive on: the domain, the address and
    port, else the image (or command line)."""
    if row.get("domain"):
        return str(row["domain"])
    if row.get("remote_ip"):
        port = row.get("remote_port")
        return f"{row['remote_ip']}:{port}" if port is not None else str(row["remote_ip"])
    return str(row.get("image") or row.get("command_line") or row.get("user") or "(no value)")


def _examples(alerts: pl.DataFrame) -> dict[tuple[str, int, str], dict[str, Any]]:
    rows = alerts.select("archive", "line_number", "rule_name", "host", *_WHAT).to_dicts()
    return {(str(r["archive"]), int(r["line_number"]), str(r["rule_name"])): r for r in rows}


def _corpus_entry(result: Any) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "sha256": result.sha256,
        "decompressed_bytes": result.decompressed_bytes,
        "lines": result.lines,
        "events": result.events,
        "error": result.error,
    }


def _rate(amount: float, seconds: float) -> float | None:
    return round(amount / seconds, 1) if seconds > 0 else None


def describe_machine() -> dict[str, Any]:
    """The machine the figures come from."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "polars": pl.__version__,
    }


__all__ = ["BASELINES", "BenchOptions", "BenchReport", "RuleBench", "bench"]
