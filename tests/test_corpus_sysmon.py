"""The Sysmon and mixed (Falcon, Sysmon and CloudTrail) corpora: determinism, exact labels,
event shapes, traps, the Atomic stories as Sysmon can show them, hard negatives, the CLI and
the committed mixed sample."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zstandard

from retrohunt.cli import main
from retrohunt.corpus import LabelledLine, generate, generate_sysmon, write_corpus
from retrohunt.scan import ScanOptions, scan
from test_corpus_oracle import (
    ALL_RULES,
    ARGS,
    CONN,
    DNS,
    DOWNLOADER,
    EVERY_RULE,
    EXFIL,
    IN_CONTAINER,
    MINER,
    expected_rules,
    in_network,
    stream_expected,
    values_of,
)

ROOT = Path(__file__).resolve().parents[1]
MIXED_SAMPLE = ROOT / "corpora" / "mixed" / "sample.jsonl.zst"
MIXED_LABELS = ROOT / "corpora" / "mixed" / "sample.labels.jsonl"
POOL_PORTS = set(values_of(CONN, "selection", "DestinationPort"))
N_RICH = 20_000
Rows = list[tuple[LabelledLine, dict[str, Any]]]


def is_private(addr: str) -> bool:
    nets = values_of(CONN, "filter_private", "DestinationIp|cidr")
    return any(in_network(addr, net) for net in nets)


def port_of(obj: dict[str, Any]) -> int | None:
    value = str(obj.get("DestinationPort", ""))
    return int(value) if value.isdigit() else None


def eid(obj: dict[str, Any]) -> int:
    return int(obj["EventID"])


def is_sysmon(obj: dict[str, Any]) -> bool:
    return "sysmon" in str(obj.get("Channel") or obj.get("SourceName", "")).lower()


@pytest.fixture(scope="module")
def rich() -> Rows:
    return [
        (line, json.loads(line.data))
        for line in generate_sysmon(N_RICH, seed=7, malicious_rate=0.05)
    ]


@pytest.fixture(scope="module")
def mixed() -> Rows:
    return [
        (line, json.loads(line.data))
        for line in generate(10_000, source="mixed", seed=8, malicious_rate=0.05)
    ]


def labelled(rows: Rows, rule: str) -> Rows:
    return [(line, obj) for line, obj in rows if rule in line.rules]


# ---------------------------------------------------------------------------------------------
# Determinism, validity, exact labels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["sysmon", "mixed"])
def test_deterministic_and_prefix_stable(source: str) -> None:
    a = [x.data for x in generate(2000, source=source, seed=11)]
    b = [x.data for x in generate(2000, source=source, seed=11)]
    c = [x.data for x in generate(2000, source=source, seed=12)]
    short = [x.data for x in generate(700, source=source, seed=11)]
    assert a == b and a != c and a[:700] == short and len(a) == 2000
    assert list(generate(0, source=source)) == []


def test_same_bytes_whatever_the_hash_seed() -> None:
    """No set or dict order may leak into the output (PYTHONHASHSEED differs per process)."""
    code = (
        "import hashlib; from retrohunt.corpus import generate; h = hashlib.sha256()\n"
        "for x in generate(4000, source='mixed', seed=4, malicious_rate=0.05):\n"
        "    h.update(x.data + repr(x.rules).encode())\n"
        "print(h.hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_unknown_source_and_bad_rate() -> None:
    with pytest.raises(ValueError, match="source"):
        list(generate(10, source="splunk"))
    with pytest.raises(ValueError, match="malicious_rate"):
        list(generate_sysmon(10, malicious_rate=0.6))


def test_labels_match_independent_rule_logic(rich: Rows, mixed: Rows) -> None:
    for rows in (rich, mixed):
        mismatches = [
            (line.data[:300], line.rules, want)
            for (line, _), want in zip(rows, stream_expected([o for _, o in rows]), strict=True)
            if line.rules != want
        ]
        assert mismatches == []
        for line, _ in rows:
            assert b"\n" not in line.data and list(line.rules) == sorted(line.rules)
    counts = Counter(rule for line, _ in rich for rule in line.rules)
    assert set(counts) == ALL_RULES
    assert counts[MINER] > 100 and counts[CONN] > 100 and counts[DNS] > 30
    assert counts[ARGS] > 80 and counts[DOWNLOADER] > 50
    assert counts[IN_CONTAINER] > 25 and counts[EXFIL] > 25
    malicious = sum(1 for line, _ in rich if line.rules)
    assert 0.035 * N_RICH < malicious < 0.065 * N_RICH


def test_default_rate_is_low_and_labels_still_exact() -> None:
    lines = list(generate_sysmon(20_000, seed=5))
    malicious = [x for x in lines if x.rules]
    assert 3 <= len(malicious) <= 60  # about 0.001
    assert [x.rules for x in lines] == stream_expected([json.loads(x.data) for x in lines])


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


def test_event_shapes(rich: Rows) -> None:
    events = [obj for _, obj in rich]
    sysmon = [o for o in events if is_sysmon(o)]
    assert len(sysmon) > 0.95 * len(events)
    kinds = Counter(eid(o) for o in sysmon)
    assert {1, 3, 5, 7, 10, 11, 12, 13, 22, 23} <= set(kinds)
    assert kinds[1] + kinds[3] + kinds[22] < 0.6 * len(sysmon)  # most events no rule reads
    # EventID as a number mostly, sometimes a string; Channel, or only SourceName.
    as_text = [o for o in sysmon if isinstance(o["EventID"], str)]
    assert 0 < len(as_text) < 0.3 * len(sysmon)
    channels = Counter(o.get("Channel") for o in sysmon)
    assert channels["Microsoft-Windows-Sysmon/Operational"] > 0
    assert channels["Linux-Sysmon/Operational"] > 0
    assert 0 < channels[None] < 0.05 * len(sysmon)
    assert all(o["SourceName"] == "Microsoft-Windows-Sysmon" for o in sysmon if "Channel" not in o)
    # Hosts named by Computer (Linux) or Hostname (Windows exports).
    assert all(("Computer" in o) != ("Hostname" in o) for o in sysmon)
    # Times: UtcTime "YYYY-MM-DD HH:MM:SS.fff"; @timestamp is collector local time.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", o["UtcTime"]) for o in sysmon)
    shifted = [
        o for o in sysmon if "@timestamp" in o and o["@timestamp"][11:13] != o["UtcTime"][11:13]
    ]
    assert shifted
    # Process creation: ids are strings, Linux has no integrity level or hashes.
    procs = [o for o in sysmon if eid(o) == 1]
    assert all(isinstance(o["ProcessId"], str) for o in procs)
    assert {"ParentImage", "ParentCommandLine", "User", "Hashes", "IntegrityLevel"} <= set(procs[0])
    linux = [o for o in procs if o.get("Channel") == "Linux-Sysmon/Operational"]
    assert linux and all(o["IntegrityLevel"] == "no level" for o in linux)
    assert all(o["Image"].startswith("/") or o["Image"] == "curl" for o in linux)
    windows = [o for o in procs if o not in linux]
    assert all(re.match(r"^C:\\", o["Image"], re.IGNORECASE) for o in windows)
    # Sysmon for Linux has no DNS, image-load, process-access or registry events.
    assert not any(
        o.get("Channel") == "Linux-Sysmon/Operational" and eid(o) in (7, 10, 12, 13, 22)
        for o in sysmon
    )
    # NXLog's own ProcessID (a number) next to the event's ProcessId (a string).
    assert any(isinstance(o.get("ProcessID"), int) and "ProcessId" in o for o in sysmon)
    # Security-log events travel with Sysmon in Windows exports.
    assert any(o.get("Channel") == "Security" for o in events)


def test_network_and_dns_fields(rich: Rows) -> None:
    net = [o for _, o in rich if is_sysmon(o) and eid(o) == 3]
    ports = Counter(type(o["DestinationPort"]).__name__ for o in net)
    assert ports["str"] > 0.7 * len(net) and ports["int"] > 0
    assert {o["Initiated"] for o in net} == {"true", "false"}
    assert {o["Protocol"] for o in net} == {"tcp", "udp"}
    assert any(o["DestinationIp"] == "0:0:0:0:0:0:0:1" for o in net)
    assert any(o["DestinationIsIpv6"] == "true" for o in net)
    assert any(o["Image"] == "<unknown process>" for o in net)
    dns = [o for _, o in rich if is_sysmon(o) and eid(o) == 22]
    assert all("QueryResults" in o and "QueryStatus" in o for o in dns)


def test_encoding_traps(rich: Rows) -> None:
    hits = [line.data for line, _ in rich if line.rules]
    assert any(b"\\/" in d for d in hits)  # escaped slashes
    assert any(re.search(rb'\\u00[0-9a-fA-F]{2}[^"]*"', d) for d in hits)  # \\u escapes
    assert any(re.search(rb'"[A-Za-z]*\\u00[0-9a-fA-F]{2}[A-Za-z]*":', d) for d in hits)  # keys
    assert any(b"\\r\\n" in line.data for line, _ in rich)  # a rendered Message


# ---------------------------------------------------------------------------------------------
# Stories, false positives, hard negatives
# ---------------------------------------------------------------------------------------------


def test_atomic_stories_on_sysmon(rich: Rows) -> None:
    procs = [(i, line, o) for i, (line, o) in enumerate(rich) if is_sysmon(o) and eid(o) == 1]
    # 1: a miner as a runtime child.
    story1 = [o for _, line, o in procs if IN_CONTAINER in line.rules]
    assert {o["ParentImage"] for o in story1} >= {
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/bin/runc",
    }
    # 2: curl to pool.minexmr.com:3333: a connection on 3333 (and on Windows the DNS query).
    story2 = [i for i, _, o in procs if "pool.minexmr.com:3333" in o["CommandLine"].lower()]
    nexts = [rich[i + 1 : i + 3] for i in story2]
    assert any(any(CONN in line.rules and port_of(o) == 3333 for line, o in n) for n in nexts)
    assert any(any(DNS in line.rules for line, o in n) for n in nexts)
    # 3: the runtime's wget, then 127.0.0.1:3333, not labelled.
    story3 = [
        i for i, line, o in procs if DOWNLOADER in line.rules and ":3333/" in o["CommandLine"]
    ]
    follow = [rich[i + 1] for i in story3]
    assert follow and all(
        o.get("DestinationIp") == "127.0.0.1" and not line.rules for line, o in follow
    )
    # 5: credentials from a runtime child; through a shell, Sysmon sees no container.
    story5 = [o for _, line, o in procs if EXFIL in line.rules]
    assert story5 and all(DOWNLOADER in expected_rules(o) for o in story5)
    assert any(
        not line.rules
        and "AWS_SECRET_ACCESS_KEY" in o["CommandLine"]
        and o["ParentImage"] == "/usr/bin/dash"
        for _, line, o in procs
    )


def test_false_positives_and_hard_negatives(rich: Rows) -> None:
    net = [(line, o) for line, o in rich if is_sysmon(o) and eid(o) == 3]
    public_pool = [
        (line, o)
        for line, o in net
        if port_of(o) in POOL_PORTS and not is_private(o["DestinationIp"])
    ]
    # Windows browsers on pool ports: the image is present, the filter drops them.
    browsers = [
        (line, o)
        for line, o in public_pool
        if o["Image"].lower().endswith(".exe")
        and re.search(r"(chrome|firefox|msedge|brave|opera|iexplore)\.exe$", o["Image"], re.I)
    ]
    assert browsers and not any(line.rules for line, _ in browsers)
    assert any(o["Image"].isupper() for _, o in browsers)
    assert any("Temp" in o["Image"] for _, o in browsers)  # a miner renamed chrome.exe
    # A Linux browser is not in the filter: reported.
    assert any(CONN in line.rules and o["Image"].endswith("/firefox") for line, o in public_pool)
    # Private destinations on pool ports, across the whole of 172.16/12, and IPv6 loopback.
    private = [
        o["DestinationIp"]
        for line, o in net
        if port_of(o) in POOL_PORTS and is_private(o["DestinationIp"])
    ]
    assert not any(line.rules for line, o in net if is_private(o["DestinationIp"]))
    second = {int(a.split(".")[1]) for a in private if a.startswith("172.")}
    assert len(second) >= 8 and second <= set(range(16, 32))
    assert any(a in ("::1", "0:0:0:0:0:0:0:1") for a in private)
    assert any(
        ipaddress.ip_address(a) in ipaddress.ip_network("fe80::/10")
        for a in private
        if ":" in a and not a.startswith("::ffff:")
    )
    # Inbound from a remote pool port: the rule reads the destination only.
    assert any(
        o["Initiated"] == "false" and str(o["SourcePort"]) in {str(p) for p in POOL_PORTS}
        for _, o in net
    )
    # Near-miss domains, and a pool only in the answer.
    dns = [(line, o) for line, o in rich if is_sysmon(o) and eid(o) == 22]
    quiet = [o for line, o in dns if not line.rules]
    near = {"minexmr.co", "nanopool.net", "supportxmr.co", "xmrpool.com", "hashvault.io"}
    assert len(near & {o["QueryName"].lower() for o in quiet}) >= 3
    assert any("supportxmr" in o["QueryResults"] or "nanopool" in o["QueryResults"] for o in quiet)
    # Miner names in events no rule reads, and in the Security log.
    others = [o for line, o in rich if not line.rules and "xmrig" in json.dumps(o).lower()]
    assert {eid(o) for o in others if is_sysmon(o)} >= {5, 11}
    assert any(o.get("Channel") == "Security" for o in others)
    # The miner as the parent only.
    procs = [(line, o) for line, o in rich if is_sysmon(o) and eid(o) == 1]
    assert any(not line.rules and "stratum+tcp" in o["ParentCommandLine"] for line, o in procs)
    # Downloader false positives are labelled; near runtimes and near downloaders are not.
    assert any(line.rules == (DOWNLOADER,) and "health" in o["CommandLine"] for line, o in procs)
    assert any(not line.rules and o["ParentImage"] == "/usr/bin/conmon" for line, o in procs)
    assert any(not line.rules and o["Image"] == "/bin/busybox" for line, o in procs)


# ---------------------------------------------------------------------------------------------
# Mixed archives, write_corpus, the CLI
# ---------------------------------------------------------------------------------------------


def kind(obj: dict[str, Any]) -> str:
    if "event_simpleName" in obj:
        return "falcon"
    return "cloudtrail" if "Records" in obj or "eventSource" in obj else "sysmon"


def test_mixed_interleaves_all_sources(mixed: Rows) -> None:
    falcon = [o for _, o in mixed if "event_simpleName" in o]
    assert 0.4 * len(mixed) < len(falcon) < 0.5 * len(mixed)
    cloudtrail = [o for _, o in mixed if kind(o) == "cloudtrail"]
    assert 0.07 * len(mixed) < len(cloudtrail) < 0.13 * len(mixed)
    runs = [
        ("event_simpleName" in a) != ("event_simpleName" in b)
        for (_, a), (_, b) in itertools.pairwise(mixed)
    ]
    assert sum(runs) > 0.3 * len(mixed)
    by_source = Counter(kind(o) for line, o in mixed if line.rules)
    assert by_source["falcon"] > 50 and by_source["sysmon"] > 50 and by_source["cloudtrail"] > 10


def test_write_corpus_sources(tmp_path: Path) -> None:
    for source in ("sysmon", "cloudtrail", "mixed"):
        info = write_corpus(
            tmp_path / f"{source}.jsonl.zst",
            3000,
            seed=3,
            malicious_rate=0.02,
            labels_path=tmp_path / f"{source}.labels.jsonl",
            frame_lines=1000,
            source=source,
        )
        assert info.source == source and info.events == 3000
        with zstandard.ZstdDecompressor().stream_reader(
            info.path.read_bytes(), read_across_frames=True
        ) as reader:
            data = reader.read()
        want = [x for x in generate(3000, source=source, seed=3, malicious_rate=0.02)]
        assert data == b"".join(x.data + b"\n" for x in want)
        labels = [
            json.loads(x) for x in (tmp_path / f"{source}.labels.jsonl").read_text().splitlines()
        ]
        assert labels == [
            {"line": i, "rules": list(x.rules)} for i, x in enumerate(want, start=1) if x.rules
        ]
        assert info.malicious == len(labels)


def test_cli_generates_each_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for source in ("falcon", "sysmon", "cloudtrail", "mixed"):
        out = tmp_path / f"{source}.jsonl.gz"
        code = main(
            ["corpus", "generate", "--out", str(out), "--source", source, "-n", "400",
             "--seed", "2", "--compression", "gzip", "--labels", str(tmp_path / f"{source}.l")]
        )  # fmt: skip
        assert code == 0 and out.exists() and (tmp_path / f"{source}.l").exists()
        assert f"400 {source} events" in capsys.readouterr().out
    code = main(["corpus", "generate", "--out", str(tmp_path / "x"), "--source", "splunk"])
    assert code == 2
    error = " ".join(capsys.readouterr().err.replace("│", " ").split())  # rich wraps it
    assert "falcon, sysmon, cloudtrail, mixed, winevt" in error


# ---------------------------------------------------------------------------------------------
# The committed mixed sample
# ---------------------------------------------------------------------------------------------


def read_sample() -> tuple[list[bytes], dict[int, tuple[str, ...]]]:
    with zstandard.ZstdDecompressor().stream_reader(
        MIXED_SAMPLE.read_bytes(), read_across_frames=True
    ) as reader:
        lines = reader.read().split(b"\n")
    assert lines[-1] == b""
    labels = {}
    for text in MIXED_LABELS.read_text(encoding="utf-8").splitlines():
        entry = json.loads(text)
        labels[entry["line"]] = tuple(entry["rules"])
    return lines[:-1], labels


def test_committed_mixed_sample_matches_labels() -> None:
    lines, labels = read_sample()
    assert 4500 <= len(lines) <= 5500
    assert MIXED_SAMPLE.stat().st_size < 1_000_000
    sources = Counter()
    objs = [json.loads(line) for line in lines]
    for i, (obj, want) in enumerate(zip(objs, stream_expected(objs), strict=True), start=1):
        assert want == labels.get(i, ())
        if i in labels:
            sources[kind(obj)] += 1
    assert 20 <= len(labels) <= 60
    assert {rule for rules in labels.values() for rule in rules} == EVERY_RULE
    assert sources["falcon"] >= 5 and sources["sysmon"] >= 5 and sources["cloudtrail"] >= 1


def test_engine_raises_exactly_the_mixed_sample_labels(tmp_path: Path) -> None:
    _, labels = read_sample()
    result = scan(ScanOptions((MIXED_SAMPLE,), out=tmp_path, chunk_size=256 << 10))
    assert not result.failed
    got = {(r["line_number"], r["rule_name"]) for r in result.alerts.iter_rows(named=True)}
    assert got == {(line, rule) for line, rules in labels.items() for rule in rules}
