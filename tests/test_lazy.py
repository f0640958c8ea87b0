"""`scan_archive`: the alerts of an archive as a Polars LazyFrame, with pushdown."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import retrohunt
import retrohunt.lazy as lazy
from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.archive import ArchiveReader
from retrohunt.compiler import bundled_rules_dir, compile_rules
from retrohunt.engine import Engine
from retrohunt.errors import ArchiveNotFound, CorruptArchive, RuleError, UnsupportedFormat
from retrohunt.scan import ArchiveResult, ScanOptions, scan
from retrohunt.sources import SOURCES
from retrohunt.suppress import AllowList

CORPORA = Path(__file__).resolve().parents[1] / "corpora"
SAMPLES = {name: CORPORA / name / "sample.jsonl.zst" for name in ("falcon", "mixed")}
ORDER = ("line_number", "rule_name")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ArchiveResult]:
    """What `scan` finds in each sample (each scanned once for the module)."""
    results = {}
    for name, path in SAMPLES.items():
        out = tmp_path_factory.mktemp(f"scan-{name}")
        (result,) = scan(ScanOptions(archives=(path,), out=out)).archives
        assert result.error is None and result.alerts_path is not None
        results[name] = result
    return results


@pytest.fixture(scope="module")
def collected() -> dict[str, pl.DataFrame]:
    """`scan_archive(sample).collect()` for each sample."""
    return {name: retrohunt.scan_archive(path).collect() for name, path in SAMPLES.items()}


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """Every engine `scan_archive` builds (one per collect), to see which rules it ran."""
    built: list[Engine] = []

    class Recording(Engine):
        def __post_init__(self) -> None:
            super().__post_init__()
            built.append(self)

    monkeypatch.setattr(lazy, "Engine", Recording)
    return built


@pytest.fixture
def chunks_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The decompressed bytes of every chunk a `scan_archive` reader hands out."""
    read: list[int] = []

    class Counting(ArchiveReader):
        def spans(self) -> Iterator[tuple[bytes, int]]:
            for data, offset in super().spans():
                read.append(len(data))
                yield data, offset

    monkeypatch.setattr(lazy, "ArchiveReader", Counting)
    return read


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_collect_equals_the_alerts_scan_writes(
    sample: str, scanned: dict[str, ArchiveResult], collected: dict[str, pl.DataFrame]
) -> None:
    result = scanned[sample]
    assert result.alerts_path is not None
    written = pl.read_parquet(result.alerts_path)
    found = collected[sample]
    assert found.schema == pl.Schema(ALERT_SCHEMA)
    assert found.height == written.height > 0
    assert found.sort(ORDER).equals(written.sort(ORDER))
    assert found["alert_id"].null_count() == 0
    assert set(found["alert_id"]) == set(written["alert_id"])
    assert found["archive_sha256"].unique().to_list() == [result.sha256]


def test_is_a_polars_io_source_and_reads_nothing_until_collected(
    engines: list[Engine], chunks_read: list[int]
) -> None:
    frame = retrohunt.scan_archive(SAMPLES["falcon"])
    assert isinstance(frame, pl.LazyFrame)
    assert frame.collect_schema() == pl.Schema(ALERT_SCHEMA)
    assert "retrohunt" in frame.explain().lower() or "python" in frame.explain().lower()
    assert engines == [] and chunks_read == []


def test_projection_hands_out_only_the_columns_asked_for(
    collected: dict[str, pl.DataFrame],
) -> None:
    picked = retrohunt.scan_archive(SAMPLES["falcon"]).select("rule_name", "line_number")
    found = picked.collect()
    assert found.columns == ["rule_name", "line_number"]
    expected = collected["falcon"].select("rule_name", "line_number")
    assert found.sort(ORDER).equals(expected.sort(ORDER))


def test_projection_without_ids_skips_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hashing(path: Path) -> str:
        raise AssertionError("the archive was hashed for columns nobody asked for")

    monkeypatch.setattr(lazy, "file_sha256", no_hashing)
    found = retrohunt.scan_archive(SAMPLES["mixed"]).select("rule_name", "host").collect()
    assert found.height > 0


@pytest.mark.parametrize("rule", ["MinerProcessExecution", "MiningPoolNetworkConnection"])
def test_rule_filter_runs_only_that_rule_and_gives_the_same_rows(
    rule: str, engines: list[Engine], collected: dict[str, pl.DataFrame]
) -> None:
    wanted = pl.col("rule_name") == rule
    found = retrohunt.scan_archive(SAMPLES["falcon"]).filter(wanted).collect()
    expected = collected["falcon"].filter(wanted)
    assert found.height > 0
    assert found.sort(ORDER).equals(expected.sort(ORDER))
    (engine,) = engines
    assert [r.name for r in engine.plan.rules] == [rule]
    everything = compile_rules()
    assert len(engine.plan.patterns) < len(everything.patterns)
    assert engine.compiled.pattern_count == len(engine.plan.patterns)


@pytest.mark.parametrize(
    ("predicate", "rules_run"),
    [
        (pl.col("level") == "critical", 1),
        (pl.col("tags").list.contains("attack.t1496"), 3),
        (pl.col("category") == "dns_query", 2),  # + AWSInstanceLaunch: any category
        ((pl.col("level") == "high") & pl.col("host").is_not_null(), 5),  # the rule part
        (pl.col("host").is_not_null(), 8),  # reads events: every rule runs
        (pl.col("rule_name").is_in(["MinerInContainer", "MinerCommandLineArgs"]), 2),
    ],
)
def test_metadata_predicates_select_rules(
    predicate: pl.Expr,
    rules_run: int,
    engines: list[Engine],
    collected: dict[str, pl.DataFrame],
) -> None:
    found = retrohunt.scan_archive(SAMPLES["mixed"]).filter(predicate).collect()
    expected = collected["mixed"].filter(predicate)
    assert found.sort(ORDER).equals(expected.sort(ORDER))
    (engine,) = engines
    assert len(engine.plan.rules) == rules_run


def test_a_predicate_no_rule_can_pass_reads_nothing(
    engines: list[Engine], chunks_read: list[int]
) -> None:
    lf = retrohunt.scan_archive(SAMPLES["mixed"])
    assert lf.filter(pl.col("rule_name") == "NoSuchRule").collect().height == 0
    assert lf.filter(pl.col("archive") == "elsewhere.zst").collect().height == 0
    assert engines == [] and chunks_read == []


def test_head_stops_reading_early(chunks_read: list[int]) -> None:
    path = SAMPLES["falcon"]
    lf = retrohunt.scan_archive(path, chunk_size=64 << 10)
    everything = lf.collect()
    all_chunks = len(chunks_read)
    assert all_chunks > 20
    chunks_read.clear()
    first = lf.head(3).collect()
    assert first.height == 3
    assert len(chunks_read) < all_chunks // 2
    # The rows handed out are real alerts, with their ids.
    assert set(first["alert_id"]) <= set(everything["alert_id"])


def test_composes_with_polars(
    scanned: dict[str, ArchiveResult], collected: dict[str, pl.DataFrame]
) -> None:
    counts = (
        retrohunt.scan_archive(SAMPLES["mixed"])
        .group_by("rule_name")
        .agg(pl.len().alias("alerts"))
        .sort("rule_name")
        .collect()
    )
    by_rule = dict(zip(counts["rule_name"], counts["alerts"], strict=True))
    assert by_rule == scanned["mixed"].alerts_by_rule()
    # Two archives in one query.
    both = pl.concat([retrohunt.scan_archive(p) for p in SAMPLES.values()])
    per_archive = both.group_by("archive").len().collect()
    assert sorted(per_archive["len"]) == sorted(f.height for f in collected.values())


def test_streaming_engine_and_batch_size(collected: dict[str, pl.DataFrame]) -> None:
    lf = retrohunt.scan_archive(SAMPLES["falcon"])
    streamed = lf.collect(engine="streaming")
    assert streamed.sort(ORDER).equals(collected["falcon"].sort(ORDER))
    source = lazy.AlertSource(
        SAMPLES["falcon"], compile_rules(), AllowList(), None, True, True, 1 << 20
    )
    batches = list(source(None, None, None, 5))
    assert batches and all(b.height <= 5 for b in batches)
    assert sum(b.height for b in batches) == collected["falcon"].height


def test_rules_as_plan_paths_and_prefilter_off(collected: dict[str, pl.DataFrame]) -> None:
    expected = collected["mixed"].sort(ORDER)
    pack = bundled_rules_dir()
    for rules in (compile_rules(), pack, str(pack), [pack]):
        found = retrohunt.scan_archive(SAMPLES["mixed"], rules).collect()
        assert found.sort(ORDER).equals(expected)
    unfiltered = retrohunt.scan_archive(SAMPLES["mixed"], prefilter=False).collect()
    assert unfiltered.sort(ORDER).equals(expected)


def test_rule_folders_allowlists_apply_as_in_scan(
    tmp_path: Path, collected: dict[str, pl.DataFrame]
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(bundled_rules_dir(), pack)
    host = collected["mixed"].filter(pl.col("rule_name") == "MinerProcessExecution")["host"][0]
    lab = next(pack.rglob("allowlists")) / "lab.yml"
    lab.write_text(
        f"entries:\n  - reason: lab\n    rules: [MinerProcessExecution]\n    hosts: [{host}]\n",
        encoding="utf-8",
    )
    (result,) = scan(
        ScanOptions(archives=(SAMPLES["mixed"],), out=tmp_path / "out", rules=(pack,))
    ).archives
    assert result.suppressed.height > 0
    found = retrohunt.scan_archive(SAMPLES["mixed"], pack).collect()
    assert found.sort(ORDER).equals(result.alerts.sort(ORDER))
    # A compiled Plan does not say where its rules live: only the allow-lists given apply.
    plan = compile_rules([pack])
    assert retrohunt.scan_archive(SAMPLES["mixed"], plan).collect().height == (
        collected["mixed"].height
    )
    extra = retrohunt.scan_archive(SAMPLES["mixed"], plan, allowlists=[lab]).collect()
    assert extra.height == result.alerts.height


def test_missing_file_raises_when_collected(tmp_path: Path) -> None:
    missing = tmp_path / "gone.jsonl.zst"
    lf = retrohunt.scan_archive(missing)  # lazy: nothing is opened yet
    (result,) = scan(ScanOptions(archives=(missing,), out=tmp_path / "out")).archives
    with pytest.raises(ArchiveNotFound) as caught:
        lf.collect()
    assert str(caught.value) == result.error


def test_unsupported_format_raises_when_collected(tmp_path: Path) -> None:
    archive = tmp_path / "events.jsonl.zst"
    archive.write_bytes(b"BZh91AY&SY" + bytes(64))
    with pytest.raises(UnsupportedFormat, match="bzip2"):
        retrohunt.scan_archive(archive).select("rule_name").collect()


def test_corrupt_archive_raises_with_scans_message(tmp_path: Path) -> None:
    data = SAMPLES["falcon"].read_bytes()
    archive = tmp_path / "cut.jsonl.zst"
    archive.write_bytes(data[: len(data) // 2])
    (result,) = scan(ScanOptions(archives=(archive,), out=tmp_path / "out")).archives
    assert result.error is not None and "truncated" in result.error
    with pytest.raises(CorruptArchive) as caught:
        retrohunt.scan_archive(archive).collect()
    assert str(caught.value) == result.error


def test_unusable_rules_raise_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such rules file"):
        retrohunt.scan_archive(SAMPLES["falcon"], tmp_path / "nowhere")
    broken = tmp_path / "broken.yml"
    broken.write_text("title: broken\nlogsource: {}\ndetection: {}\n")
    with pytest.raises(RuleError, match="no usable rule"):
        retrohunt.scan_archive(SAMPLES["falcon"], broken)
    with pytest.raises(ValueError, match="unknown source 'splunk': must be auto or one of"):
        retrohunt.scan_archive(SAMPLES["falcon"], source="splunk")


def test_source_auto_recognises_each_line_as_scan_does(
    engines: list[Engine], collected: dict[str, pl.DataFrame]
) -> None:
    # `collected` (source None) equals what `scan` writes: see the first test.
    found = retrohunt.scan_archive(SAMPLES["mixed"], source="auto").collect()
    assert found.sort(ORDER).equals(collected["mixed"].sort(ORDER))
    assert set(found["source"]) > {"falcon"}  # not one source forced on every line
    assert [len(engine.sources) for engine in engines] == [len(SOURCES)]


def test_subset_plan_renumbers_patterns() -> None:
    plan = compile_rules()
    last = len(plan.rules) - 1
    sub = lazy.subset_plan(plan, [last])
    assert sub.rules[0].name == plan.rules[last].name
    assert [p.id for p in sub.patterns] == list(range(len(sub.patterns)))
    assert {(p.field, p.parts, p.cased) for p in sub.patterns} == {
        (plan.patterns[i].field, plan.patterns[i].parts, plan.patterns[i].cased)
        for i in _pattern_ids(plan.rules[last].condition)
    }
    assert lazy.subset_plan(plan, range(len(plan.rules))) is plan


def _pattern_ids(node: object) -> set[int]:
    from retrohunt.compiler.plan import And, Not, Or, StringMatch

    if isinstance(node, StringMatch):
        return {node.pattern}
    if isinstance(node, And | Or):
        return {i for child in node.children for i in _pattern_ids(child)}
    if isinstance(node, Not):
        return _pattern_ids(node.child)
    return set()
