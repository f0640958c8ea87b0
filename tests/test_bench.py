"""`retrohunt bench` (issue 7): per-rule counts and precision/recall on a small labelled
corpus, planted gained and lost alerts for --compare, baselines that agree, and the HTML
report rendered by headless Chromium with its plots visible."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from retrohunt.bench import BenchOptions, BenchReport, bench, compare
from retrohunt.bench.html import render_html
from retrohunt.bench.measure import field_coverage
from retrohunt.cli import main
from retrohunt.compiler import compile_rules
from retrohunt.corpus import write_corpus
from retrohunt.evaluate import load_labels

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / "rules" / "t1204.003-malicious-image"
BAR_COLOUR = (0x2B, 0x6C, 0xB0)  # the report's first series colour


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    path = folder / "small.jsonl.zst"
    write_corpus(path, 4000, seed=7, malicious_rate=0.02, labels_path=folder / "small.labels.jsonl")
    return path


@pytest.fixture(scope="module")
def report(corpus: Path) -> BenchReport:
    return bench(BenchOptions(corpora=(corpus,), baselines=("polars", "re")))


def test_per_rule_hits_and_scores_match_the_labels(corpus: Path, report: BenchReport) -> None:
    labels = load_labels(corpus.with_name("small.labels.jsonl"))
    expected = Counter(rule for _, rule in labels)
    assert report.labelled
    assert {r.name: r.hits for r in report.rules if r.hits or expected[r.name]} == dict(expected)
    for rule in report.rules:
        if expected[rule.name]:
            assert (rule.precision, rule.recall, rule.false_positives) == (1.0, 1.0, 0), rule
    assert report.total.hits == len(labels) and report.total.true_positives == len(labels)


def test_false_positives_and_misses_are_counted_and_named(corpus: Path, tmp_path: Path) -> None:
    labels = [
        json.loads(line) for line in corpus.with_name("small.labels.jsonl").read_text().splitlines()
    ]
    dns = next(entry for entry in labels if "MiningPoolDNSLookup" in entry["rules"])
    edited = [e for e in labels if e is not dns]  # its alert is now a false positive
    edited.append({"line": 1, "rules": ["MinerProcessExecution"]})  # a miss
    path = tmp_path / "edited.labels.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in edited))
    result = bench(BenchOptions(corpora=(corpus,), labels=(path,), per_rule=False))
    rules = {r.name: r for r in result.rules}
    dns_rule, miner = rules["MiningPoolDNSLookup"], rules["MinerProcessExecution"]
    assert dns_rule.false_positives == 1 and dns_rule.precision is not None
    assert dns_rule.precision < 1.0 and dns_rule.recall == 1.0
    ((value, count),) = dns_rule.top_false_positives
    assert count == 1 and "." in value  # the domain an engineer would allow-list
    assert miner.false_negatives == 1 and miner.recall is not None and miner.recall < 1.0


def test_the_report_has_throughput_and_compile_figures(report: BenchReport) -> None:
    ours = report.retrohunt
    assert ours.seconds > 0 and ours.mb_per_second and ours.alerts == report.total.hits
    assert report.compile["hyperscan_seconds"] > 0 and report.compile["database_bytes"] > 0
    assert 0 < report.pass_rate < 1
    assert all(r.seconds and r.mb_per_second for r in report.rules)  # each rule alone


def test_the_polars_and_re_baselines_find_the_same_alerts(report: BenchReport) -> None:
    runs = {run.name: run for run in report.runs}
    assert runs["polars"].alerts == report.retrohunt.alerts
    assert runs["re"].alerts == report.retrohunt.alerts  # the sample is the whole corpus here
    assert runs["re"].extrapolated and runs["polars"].retrohunt_speedup


def test_the_duckdb_baseline_runs_the_backends_queries(corpus: Path) -> None:
    pytest.importorskip("sigma_backend_duckdb")
    result = bench(BenchOptions(corpora=(corpus,), baselines=("duckdb",), per_rule=False))
    duckdb = result.runs[1]
    assert duckdb.error is None and duckdb.seconds > 0
    # No process join: the browser filter cannot drop joined Falcon connections, and the
    # inbound ones are excluded the same; it reports the pool connections it sees.
    assert duckdb.alerts > 0


_SYSMON = "Microsoft-Windows-Sysmon/Operational"
# Sysmon event 13 (a registry value set) is admitted by registry_set (its most specific
# category, the alert's) and by registry_event; event 12 only by registry_event and kin.
_REGISTRY_RULES = {
    "ValueSet": ("registry_set", "Details|contains: updater.exe"),
    "AnyRegistryWrite": ("registry_event", "Details|contains: updater.exe"),
    "KeyCreated": ("registry_event", "EventType: CreateKey"),
}


def test_the_duckdb_baseline_admits_every_category_of_an_event(tmp_path: Path) -> None:
    pytest.importorskip("sigma_backend_duckdb")
    folder = _one_selection_rules(
        tmp_path / "registry-rules",
        _REGISTRY_RULES,
        title="Registry rule",
        id_prefix="00000000-0000-4000-8000-00000000001",
        logsource="  product: windows\n",
    )
    run_key = "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"
    events = [
        {"EventID": 13, "EventType": "SetValue", "Details": "C:\\Temp\\updater.exe"},
        {"EventID": 13, "EventType": "SetValue", "Details": "C:\\Windows\\notepad.exe"},
        {"EventID": 12, "EventType": "CreateKey", "Details": "updater.exe"},
        {"EventID": 1, "Image": "C:\\Temp\\updater.exe", "Details": "updater.exe"},
    ]
    corpus = tmp_path / "registry.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"Channel": _SYSMON, "Computer": "ws1", "TargetObject": run_key, **e}) + "\n"
            for e in events * 3
        )
    )

    result = bench(
        BenchOptions(corpora=(corpus,), rules=(folder,), baselines=("duckdb",), per_rule=False)
    )

    ours, duckdb = result.runs
    assert duckdb.error is None and "not expressible" not in duckdb.note
    hits = {rule.name: rule.hits for rule in result.rules}
    # Event 13 alerts on the registry_set rule and the registry_event one alike.
    assert hits == {"ValueSet": 3, "AnyRegistryWrite": 6, "KeyCreated": 3}
    assert duckdb.alerts == ours.alerts == 12


def _pack_copy(tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(PACK, copy)
    return copy


def test_compare_reports_a_planted_gained_and_lost_alert(corpus: Path, tmp_path: Path) -> None:
    a = _pack_copy(tmp_path, "a")
    b = _pack_copy(tmp_path, "b")
    first = bench(BenchOptions(corpora=(corpus,), rules=(a,), per_rule=False))
    domain = next(
        str(row["domain"])
        for key, row in sorted(first.examples.items())
        if key[2] == "MiningPoolDNSLookup"
    )
    dns = b / "mining_pool_dns_lookup.yml"
    text = dns.read_text()
    value = next(v for v in re.findall(r"^      - (\S+)$", text, re.M) if v in domain.lower())
    # B forgets the pool domain that alerted (lost) and flags a common benign one (gained).
    dns.write_text(text.replace(f"      - {value}\n", "      - microsoft.com\n"))
    second = bench(BenchOptions(corpora=(corpus,), rules=(b,), per_rule=False))
    comparison = compare(first, second)
    assert comparison.gained_count > 0 and comparison.lost_count > 0
    assert all(e["rule_name"] == "MiningPoolDNSLookup" for e in comparison.gained + comparison.lost)
    assert any("microsoft.com" in str(e["domain"]) for e in comparison.gained)
    assert any(value in str(e["domain"]).lower() for e in comparison.lost)
    assert comparison.speed_ratio and comparison.as_dict()["gained"] == comparison.gained_count


def test_bench_through_the_cli(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--corpus", str(corpus), "--json", "--no-per-rule"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"]["hits"] > 0 and document["runs"][0]["name"] == "retrohunt"
    assert main(["bench", "--corpus", str(corpus), "--baseline", "spark"]) == 2
    assert "--baseline" in capsys.readouterr().err
    assert main(["bench", "--corpus", str(tmp_path / "missing.jsonl.zst")]) == 4
    a, b = _pack_copy(tmp_path, "a"), _pack_copy(tmp_path, "b")
    html = tmp_path / "compare.html"
    arguments = ["bench", str(a), str(b), "--compare", "--corpus", str(corpus), "--no-per-rule"]
    code = main([*arguments, "--html", str(html)])
    assert code == 0 and "B against A" in html.read_text()


# --- rules that never saw their fields ---------------------------------------------------------

_FIELD_RULES = {
    "absent": ("process_creation", "NoSuchField|contains: zzz"),
    "elsewhere": ("dns_query", "DestinationPort: 3333"),  # only network events have a port
    "present": ("process_creation", "Image|endswith: '\\\\no-such-image.exe'"),
    "joined": ("network_connection", "ParentImage|contains: zzz"),  # the process join fills it
}


def _field_rule_folder(tmp_path: Path) -> Path:
    return _one_selection_rules(
        tmp_path / "field-rules",
        _FIELD_RULES,
        title="Field rule",
        id_prefix="00000000-0000-4000-8000-00000000000",
        status="status: experimental\n",
    )


def _one_selection_rules(
    folder: Path,
    rules: dict[str, tuple[str, str]],
    *,
    title: str,
    id_prefix: str,
    status: str = "",
    logsource: str = "",
) -> Path:
    """A folder of rules, one per name: `(category, selection line)`, condition `selection`."""
    folder.mkdir()
    for index, (name, (category, selection)) in enumerate(rules.items()):
        (folder / f"{name}.yml").write_text(
            f"title: {title} {name}\n"
            f"id: {id_prefix}{index}\n"
            f"name: {name}\n"
            f"{status}"
            f"logsource:\n  category: {category}\n{logsource}"
            f"detection:\n  selection:\n    {selection}\n  condition: selection\n"
            "level: low\n"
        )
    return folder


def test_rules_that_never_saw_their_fields_are_listed(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _field_rule_folder(tmp_path)
    result = bench(BenchOptions(corpora=(corpus,), rules=(folder,), per_rule=False))
    assert result.unseen == ["absent", "elsewhere"]
    seen = {r.name: r.fields_seen for r in result.rules}
    assert seen == {"absent": False, "elsewhere": False, "present": True, "joined": True}
    assert result.coverage is not None and result.coverage.complete  # unseen: read it all
    document = result.as_dict()
    assert document["rules_without_fields_seen"] == ["absent", "elsewhere"]
    page = render_html(result)
    assert "Rules that never saw their fields" in page and "<li>elsewhere</li>" in page
    assert "<li>present</li>" not in page
    arguments = ["bench", str(folder), "--corpus", str(corpus), "--no-per-rule"]
    assert main([*arguments, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules_without_fields_seen"] == [
        "absent",
        "elsewhere",
    ]
    assert main(arguments) == 0
    assert "2 rule(s) never saw any of their fields" in capsys.readouterr().out


def test_the_pack_on_falcon_events_misses_only_the_cloudtrail_rule(report: BenchReport) -> None:
    # The corpus is Falcon only: the AWS rule's CloudTrail fields never appear.
    assert report.unseen == ["AWSInstanceLaunch"]
    assert all(r.fields_seen for r in report.rules if r.name != "AWSInstanceLaunch")


def test_the_coverage_pass_stops_once_every_rule_saw_a_field(tmp_path: Path) -> None:
    path = tmp_path / "framed.jsonl.zst"
    write_corpus(path, 3000, seed=3, malicious_rate=0.0)
    plan = compile_rules([PACK / "miner_process_execution.yml"])
    coverage = field_coverage([path, path], plan, chunk_size=64 << 10)
    assert coverage.unseen == [] and coverage.chunks == 1 and not coverage.complete


# --- the HTML report in a real browser --------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes): width, height, RGB pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, header = 8, b"", b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(data)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                pick = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pick) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, stride, channels)]
    return width, height, pixels


def test_the_html_report_renders_its_plots_in_headless_chromium(
    report: BenchReport, tmp_path: Path
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium: install it (Debian: apt-get install chromium) to run this test")
    page = tmp_path / "report.html"
    page.write_text(render_html(report))
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--window-size=1000,1600", f"--screenshot={shot}", page.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    width, height, pixels = _pixels(shot.read_bytes())
    assert (width, height) == (1000, 1600)
    colours = Counter(pixels)
    assert len(colours) > 50, "the screenshot is blank"
    bars = sum(
        n
        for rgb, n in colours.items()
        if all(abs(a - b) <= 8 for a, b in zip(rgb, BAR_COLOUR, strict=True))
    )
    assert bars > 2000, "no plot bars visible"
