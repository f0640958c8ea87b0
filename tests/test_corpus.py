"""The Falcon corpus generator: determinism, valid JSON, exact labels, traps, stories, files.

Labels are checked against the independent reading of the rules in test_corpus_oracle.py."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from retrohunt.corpus import LabelledLine, generate_falcon, write_corpus
from test_corpus_oracle import (
    ALL_RULES,
    ARGS,
    CONN,
    DNS,
    DOWNLOADER,
    EXFIL,
    IN_CONTAINER,
    MINER,
    expected_rules,
    falcon_processes,
    in_network,
    stream_expected,
    values_of,
)

ROOT = Path(__file__).resolve().parents[1]
POOL_PORTS = set(values_of(CONN, "selection", "DestinationPort"))
RUNTIMES = {"containerd-shim-runc-v2", "containerd-shim", "runc", "dockerd", "containerd"}


def is_private(addr: object) -> bool:
    nets = values_of(CONN, "filter_private", "DestinationIp|cidr")
    return any(in_network(str(addr), net) for net in nets)


def as_port(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

N_RICH = 20_000


@pytest.fixture(scope="module")
def rich() -> list[tuple[LabelledLine, dict[str, Any]]]:
    """A corpus with many malicious lines and hard negatives, decoded once."""
    return [
        (line, json.loads(line.data))
        for line in generate_falcon(N_RICH, seed=7, malicious_rate=0.05)
    ]


def labelled(
    rows: Iterable[tuple[LabelledLine, dict[str, Any]]], rule: str
) -> list[tuple[LabelledLine, dict[str, Any]]]:
    return [(line, obj) for line, obj in rows if rule in line.rules]


def expected_bytes(n: int, seed: int, rate: float) -> bytes:
    return b"".join(
        line.data + b"\n" for line in generate_falcon(n, seed=seed, malicious_rate=rate)
    )


# ---------------------------------------------------------------------------------------------
# Determinism and validity
# ---------------------------------------------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    a = list(generate_falcon(3000, seed=11, malicious_rate=0.02))
    b = list(generate_falcon(3000, seed=11, malicious_rate=0.02))
    assert a == b
    c = list(generate_falcon(3000, seed=12, malicious_rate=0.02))
    assert [x.data for x in a] != [x.data for x in c]
    assert len(a) == 3000


def test_prefix_stable_and_zero_events() -> None:
    long = [x.data for x in generate_falcon(500, seed=3)]
    short = [x.data for x in generate_falcon(200, seed=3)]
    assert long[:200] == short
    assert list(generate_falcon(0)) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="malicious_rate"):
        list(generate_falcon(10, malicious_rate=0.9))
    with pytest.raises(ValueError, match="n_events"):
        list(generate_falcon(-1))


def test_every_line_is_one_json_object(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    for line, obj in rich:
        assert isinstance(obj, dict)
        assert b"\n" not in line.data and b"\r" not in line.data
        assert line.data == line.data.strip()
        assert list(line.rules) == sorted(line.rules)


def test_labels_match_independent_rule_logic(
    rich: list[tuple[LabelledLine, dict[str, Any]]],
) -> None:
    mismatches = [
        (line.data[:300], line.rules, want)
        for (line, _), want in zip(rich, stream_expected([obj for _, obj in rich]), strict=True)
        if line.rules != want
    ]
    assert mismatches == []
    counts = Counter(rule for line, _ in rich for rule in line.rules)
    assert counts[MINER] > 100 and counts[CONN] > 100 and counts[DNS] > 50
    assert counts[ARGS] > 80 and counts[DOWNLOADER] > 50
    assert counts[IN_CONTAINER] > 25 and counts[EXFIL] > 25
    assert set(counts) == ALL_RULES
    malicious = sum(1 for line, _ in rich if line.rules)
    assert 0.035 * N_RICH < malicious < 0.065 * N_RICH


def test_default_rate_is_low_and_labels_still_exact() -> None:
    lines = list(generate_falcon(30_000, seed=5))
    malicious = [x for x in lines if x.rules]
    assert 5 <= len(malicious) <= 80  # about 0.001
    expected = stream_expected([json.loads(x.data) for x in lines])
    assert [x.rules for x in lines] == expected


# ---------------------------------------------------------------------------------------------
# Shape of the events
# ---------------------------------------------------------------------------------------------


def test_common_fields_and_mix(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    kinds = Counter(obj["event_simpleName"] for _, obj in rich)
    for kind in (
        "ProcessRollup2",
        "SyntheticProcessRollup2",
        "NetworkConnectIP4",
        "NetworkConnectIP6",
        "DnsRequest",
        "EndOfProcess",
        "SensorHeartbeat",
        "UserLogon",
        "NetworkListenIP4",
        "ProcessBlocked",
    ):
        assert kinds[kind] > 0, kind
    no_rule = sum(
        n
        for k, n in kinds.items()
        if k not in {"ProcessRollup2", "SyntheticProcessRollup2", "NetworkConnectIP4"}
        and k not in {"NetworkConnectIP6", "DnsRequest"}
    )
    assert no_rule > 0.3 * N_RICH
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    ts_len: Counter[int] = Counter()
    for _, obj in rich:
        assert re.fullmatch(r"[0-9a-f]{32}", obj["aid"])
        assert re.fullmatch(r"[0-9a-f]{32}", obj["cid"])
        assert uuid.match(obj["id"])
        assert obj["event_platform"] in ("Win", "Lin", "Mac")
        assert obj["name"].startswith(obj["event_simpleName"])
        assert re.search(r"V\d+$", obj["name"])
        assert isinstance(obj["timestamp"], str) and obj["timestamp"].isdigit()
        ts_len[len(obj["timestamp"])] += 1
    assert set(ts_len) == {10, 13} and ts_len[13] > 0.9 * N_RICH
    benign_sizes = [len(line.data) for line, _ in rich if not line.rules]
    assert 300 < sum(benign_sizes) / len(benign_sizes) < 800


def test_process_events(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    procs = [obj for _, obj in rich if obj["event_simpleName"].endswith("ProcessRollup2")]
    win = [p for p in procs if p["event_platform"] == "Win"]
    lin = [p for p in procs if p["event_platform"] == "Lin"]
    assert all(re.match(r"^\\Device\\HarddiskVolume\d\\", p["ImageFileName"]) for p in win)
    assert any(re.match(r'^"?C:\\', p["CommandLine"]) for p in win)
    assert any(p["ImageFileName"].startswith("/usr/bin/") for p in lin)
    in_container = [p for p in lin if "OciContainerId" in p]
    assert in_container and all(
        re.fullmatch(r"[0-9a-f]{64}", p["OciContainerId"]) for p in in_container
    )
    assert {"containerd-shim-runc-v2", "runc"} <= {p["ParentBaseFileName"] for p in in_container}
    with_name = [p for p in procs if "ComputerName" in p]
    assert 0 < len(with_name) < len(procs)
    assert any("UserName" in p for p in procs)
    assert any(int(p["RawProcessId"]) > 2**63 - 1 for p in procs)
    assert all(isinstance(p["RawProcessId"], str) for p in procs)


def test_network_and_dns_link_to_processes(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    seen: dict[str, set[str]] = {}
    linked = total = 0
    for _, obj in rich:
        kind = obj["event_simpleName"]
        if kind.endswith("ProcessRollup2"):
            seen.setdefault(obj["aid"], set()).add(obj["TargetProcessId"])
        elif kind in ("NetworkConnectIP4", "NetworkConnectIP6", "DnsRequest"):
            assert "ImageFileName" not in obj
            total += 1
            linked += obj["ContextProcessId"] in seen.get(obj["aid"], set())
    assert linked > 0.9 * total


def test_network_field_variety(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    net = [obj for _, obj in rich if obj["event_simpleName"].startswith("NetworkConnectIP")]
    assert {o["ConnectionDirection"] for o in net} == {"0", "1", "2"}
    assert {o["Protocol"] for o in net} == {"6", "17"}
    assert any(isinstance(o["RemotePort"], int) for o in net)
    assert sum(isinstance(o["RemotePort"], str) for o in net) > 0.8 * len(net)
    assert any(isinstance(o["LocalPort"], int) for o in net)
    assert any(" " in o.get("LocalAddressIP4", "") for o in net)
    # Malicious connections are outbound ("0") or undirected ("2"); inbound ones ("1") are
    # hard negatives the rule's filter drops.
    assert {o["ConnectionDirection"] for line, o in labelled(rich, CONN)} == {"0", "2"}
    inbound = [(x, o) for x, o in rich if o.get("ConnectionDirection") == "1"]
    assert any(int(o["RemotePort"]) in POOL_PORTS for _, o in inbound)
    assert all(not x.rules for x, _ in inbound)


# ---------------------------------------------------------------------------------------------
# Traps on malicious lines, and hard negatives
# ---------------------------------------------------------------------------------------------


def test_encoding_traps_present(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    miner = labelled(rich, MINER)
    conn = labelled(rich, CONN)
    dns = labelled(rich, DNS)
    # An escaped slash in a matching command line.
    assert any(b"stratum+tcp:\\/\\/" in x.data.lower() for x, _ in miner)
    assert any(b"stratum+ssl:\\/\\/" in x.data.lower() for x, _ in miner)
    # A letter of an indicator written as \\uXXXX, in each rule's field.
    for rows in (miner, conn, dns):
        assert any(re.search(rb"\\u00[0-9a-fA-F]{2}", x.data) for x, _ in rows)
    assert any(b"\\u0078" in x.data.lower() for x, _ in miner)
    # Letter case.
    assert any("XMRig" in o["ImageFileName"] for _, o in miner)
    assert any("STRATUM+TCP://" in o["CommandLine"] for _, o in miner)
    assert any(o["DomainName"] != o["DomainName"].lower() for _, o in dns)
    # Ports as JSON numbers and as strings.
    assert any(re.search(rb'"RemotePort":\d', x.data) for x, _ in conn)
    assert any(re.search(rb'"RemotePort":"\d', x.data) for x, _ in conn)
    # Both address families, and public addresses next to the filtered ranges.
    assert any("RemoteAddressIP6" in o for _, o in conn)
    assert any(o.get("RemoteAddressIP4", "").startswith(("172.32.", "172.15.")) for _, o in conn)
    # Every trapped line decodes to values that still carry the indicator.
    processes = falcon_processes(o for _, o in rich)
    for x, obj in miner + conn + dns:
        if b"\\/" in x.data or b"\\u" in x.data:
            assert expected_rules(obj, processes) == x.rules


def test_hard_negatives_present(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    benign = [obj for line, obj in rich if not line.rules]
    pool_private = [
        o
        for o in benign
        if o["event_simpleName"].startswith("NetworkConnectIP")
        and as_port(o["RemotePort"]) in POOL_PORTS
        and is_private(o.get("RemoteAddressIP4", o.get("RemoteAddressIP6")))
    ]
    addrs = [
        ipaddress.ip_address(str(o.get("RemoteAddressIP4", o.get("RemoteAddressIP6"))))
        for o in pool_private
    ]
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128"):
        assert any(
            a in ipaddress.ip_network(net)
            for a in addrs
            if a.version == ipaddress.ip_network(net).version
        ), net
    assert any(a in ipaddress.ip_network("fc00::/7") for a in addrs if a.version == 6)
    assert any(a in ipaddress.ip_network("fe80::/10") for a in addrs if a.version == 6)
    second = {int(str(a).split(".")[1]) for a in addrs if str(a).startswith("172.")}
    assert len(second) >= 8 and second <= set(range(16, 32))
    # Public addresses on ports that are not pool ports.
    assert any(
        o["event_simpleName"] == "NetworkConnectIP4"
        and not is_private(o["RemoteAddressIP4"])
        and as_port(o["RemotePort"]) in (443, 80, 3389, 33333)
        for o in benign
    )
    # Port-like numbers and miner words in benign command lines.
    cmds = [
        str(o.get("CommandLine", "")) for o in benign if o["event_simpleName"] == "ProcessRollup2"
    ]
    assert any("3333" in c for c in cmds)
    assert any("xmrig" in c.lower() for c in cmds)
    # Near-miss pool domains.
    domains = {o["DomainName"].lower() for o in benign if o["event_simpleName"] == "DnsRequest"}
    assert {"minexmr.co", "nanopool.net"} <= domains
    # Miner strings in fields no rule tests for that event type.
    assert any(
        o["event_simpleName"] == "DnsRequest" and "stratum+tcp://" in o.get("CommandLine", "")
        for o in benign
    )
    assert any(
        o["event_simpleName"] == "NetworkConnectIP4" and "supportxmr" in json.dumps(o)
        for o in benign
    )
    assert any(
        o["event_simpleName"] == "ProcessBlocked" and "xmrig" in o["ImageFileName"] for o in benign
    )
    assert any(
        o["event_simpleName"] == "NetworkReceiveAcceptIP4"
        and as_port(o["RemotePort"]) in POOL_PORTS
        for o in benign
    )


# ---------------------------------------------------------------------------------------------
# The Atomic Red Team T1204.003 stories, tuning false positives and container near misses
# ---------------------------------------------------------------------------------------------


def parent_of(obj: dict[str, Any]) -> str:
    return obj.get("ParentImageFileName") or obj.get("ParentBaseFileName", "")


def followers(
    rich: list[tuple[LabelledLine, dict[str, Any]]], i: int, kinds: set[str], n: int = 3
) -> list[tuple[LabelledLine, dict[str, Any]]]:
    """The next events of these kinds linked to process event i (same aid, context id)."""
    proc = rich[i][1]
    return [
        (line, obj)
        for line, obj in rich[i + 1 : i + 1 + n]
        if obj["event_simpleName"] in kinds
        and obj["aid"] == proc["aid"]
        and obj.get("ContextProcessId") == proc["TargetProcessId"]
    ]


def test_atomic_stories(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    procs = [
        (i, line, obj)
        for i, (line, obj) in enumerate(rich)
        if obj["event_simpleName"].endswith("ProcessRollup2")
    ]
    # 1: a miner started by containerd-shim / runc.
    story1 = [(line, obj) for _, line, obj in procs if IN_CONTAINER in line.rules]
    assert {parent_of(o).rsplit("/", 1)[-1] for _, o in story1} >= {
        "containerd-shim-runc-v2",
        "runc",
    }
    assert all(MINER in line.rules for line, _ in story1)
    assert any(ARGS in line.rules for line, _ in story1)
    assert any(ARGS not in line.rules for line, _ in story1)
    # 2: curl to pool.minexmr.com:3333, then its DNS request and a public connection on 3333.
    story2 = [
        i for i, _, o in procs if o["CommandLine"].lower() == "curl -s http://pool.minexmr.com:3333"
    ]
    stories = [
        f for f in (followers(rich, i, {"DnsRequest", "NetworkConnectIP4"}) for i in story2) if f
    ]
    assert stories
    for linked in stories:
        assert {o["event_simpleName"] for _, o in linked} == {"DnsRequest", "NetworkConnectIP4"}
        assert all(line.rules in ((DNS,), (CONN,)) for line, _ in linked)
        assert any(as_port(o.get("RemotePort")) == 3333 for _, o in linked)
    # 3: the runtime starts wget, which connects to 127.0.0.1:3333: not a pool connection.
    story3 = [
        i
        for i, line, o in procs
        if DOWNLOADER in line.rules and "127.0.0.1:3333" in o["CommandLine"]
    ]
    assert story3
    loopback = [followers(rich, i, {"NetworkConnectIP4"}, 1) for i in story3]
    assert all(
        o["RemoteAddressIP4"] == "127.0.0.1" and not line.rules for f in loopback for line, o in f
    )
    assert any(loopback)
    # 5: credentials on a container's downloader, from the runtime or deeper in the container.
    story5 = [(line, o) for _, line, o in procs if EXFIL in line.rules]
    assert any(DOWNLOADER in line.rules for line, _ in story5)
    deeper = [o for line, o in story5 if DOWNLOADER not in line.rules]
    assert deeper and all(o.get("OciContainerId") for o in deeper)
    assert all("AWS_" in o["CommandLine"] for _, o in story5)


def test_false_positives_are_labelled_and_near_misses_are_not(
    rich: list[tuple[LabelledLine, dict[str, Any]]],
) -> None:
    procs = [(line, o) for line, o in rich if o["event_simpleName"].endswith("ProcessRollup2")]
    # A health check from the shim is the rule's documented false positive: labelled.
    assert any(line.rules == (DOWNLOADER,) and "health" in o["CommandLine"] for line, o in procs)
    # Quoting pool names in a document or grep: MinerCommandLineArgs only.
    assert any(line.rules == (ARGS,) for line, o in procs)
    # Falcon's network event has no image: a browser's pool-port connection is reported.
    browsers = {o["TargetProcessId"] for _, o in procs if o["ImageFileName"].endswith("chrome.exe")}
    assert any(CONN in line.rules and o.get("ContextProcessId") in browsers for line, o in rich)
    # IPv4-mapped private addresses are outside the rule's filter.
    assert any(
        CONN in line.rules and str(o.get("RemoteAddressIP6", "")).startswith("::ffff:")
        for line, o in rich
    )
    # Near misses: no runtime the rules know, an image that only looks like a downloader,
    # credentials outside a container's downloader.
    unlabelled = [o for line, o in procs if not line.rules]
    assert any(
        parent_of(o) in ("conmon", "/usr/bin/conmon") and o["ImageFileName"].endswith("/curl")
        for o in unlabelled
    )
    assert any(o["ImageFileName"] == "/bin/busybox" for o in unlabelled)
    assert any("AWS_" in o["CommandLine"] for o in unlabelled)
    # ParentImageFileName, when present, is what the rules see (empty: the base name).
    with_path = [o for _, o in procs if "ParentImageFileName" in o]
    assert any(o["ParentImageFileName"] == "" for o in with_path)
    assert any(o["ParentImageFileName"].startswith("/") for o in with_path)
    # No image among the downloaders counts as a runtime child without a runtime parent.
    for line, o in procs:
        if DOWNLOADER in line.rules:
            assert parent_of(o).rsplit("/", 1)[-1] in RUNTIMES


# ---------------------------------------------------------------------------------------------
# write_corpus
# ---------------------------------------------------------------------------------------------


def zstd_frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        frames.append(dobj.decompress(data))
        data = dobj.unused_data
    return frames


def read_labels(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_write_corpus_zstd_single_and_multi_frame(tmp_path: Path) -> None:
    n, seed, rate = 5000, 21, 0.01
    want = expected_bytes(n, seed, rate)
    one = write_corpus(
        tmp_path / "one.jsonl.zst",
        n,
        seed=seed,
        malicious_rate=rate,
        labels_path=tmp_path / "one.labels.jsonl",
    )
    many = write_corpus(
        tmp_path / "many.jsonl.zst", n, seed=seed, malicious_rate=rate, frame_lines=700
    )
    raw_one = one.path.read_bytes()
    raw_many = many.path.read_bytes()
    assert len(zstd_frames(raw_one)) == 1
    frames = zstd_frames(raw_many)
    assert len(frames) == 8  # ceil(5000 / 700)
    assert all(f.count(b"\n") == 700 for f in frames[:-1])
    dctx = zstandard.ZstdDecompressor()
    assert dctx.decompressobj().decompress(raw_one) == want
    assert b"".join(frames) == want
    with dctx.stream_reader(raw_many, read_across_frames=True) as reader:
        assert reader.read() == want

    labels = read_labels(tmp_path / "one.labels.jsonl")
    lines = want.split(b"\n")[:-1]
    truth = [
        {"line": i, "rules": list(x.rules)}
        for i, x in enumerate(generate_falcon(n, seed=seed, malicious_rate=rate), start=1)
        if x.rules
    ]
    assert labels == truth
    expected = stream_expected([json.loads(line) for line in lines])
    for entry in labels:
        assert tuple(entry["rules"]) == expected[entry["line"] - 1]
    for info, raw in ((one, raw_one), (many, raw_many)):
        assert info.events == n
        assert info.malicious == len(truth)
        assert info.bytes_decompressed == len(want)
        assert info.bytes_compressed == len(raw)
        assert info.sha256 == hashlib.sha256(raw).hexdigest()
        assert sum(c for _, c in info.by_rule) == sum(len(t["rules"]) for t in truth)
    assert one.labels_path == tmp_path / "one.labels.jsonl" and many.labels_path is None


def test_write_corpus_gzip_and_none_deterministic(tmp_path: Path) -> None:
    n, seed, rate = 3000, 4, 0.02
    want = expected_bytes(n, seed, rate)
    gz1 = write_corpus(
        tmp_path / "a.jsonl.gz", n, seed=seed, malicious_rate=rate, compression="gzip"
    )
    gz2 = write_corpus(
        tmp_path / "b.jsonl.gz", n, seed=seed, malicious_rate=rate, compression="gzip"
    )
    plain = write_corpus(
        tmp_path / "c.jsonl", n, seed=seed, malicious_rate=rate, compression="none"
    )
    assert gzip.decompress(gz1.path.read_bytes()) == want
    assert gz1.sha256 == gz2.sha256
    assert plain.path.read_bytes() == want
    assert plain.bytes_compressed == plain.bytes_decompressed == len(want)
    assert plain.sha256 == hashlib.sha256(want).hexdigest()
    z1 = write_corpus(tmp_path / "d.zst", n, seed=seed, malicious_rate=rate, frame_lines=1000)
    z2 = write_corpus(tmp_path / "e.zst", n, seed=seed, malicious_rate=rate, frame_lines=1000)
    assert z1.sha256 == z2.sha256


def test_write_corpus_edge_cases(tmp_path: Path) -> None:
    empty = write_corpus(tmp_path / "empty.zst", 0, labels_path=tmp_path / "empty.labels")
    assert (empty.events, empty.malicious, empty.bytes_decompressed) == (0, 0, 0)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(empty.path.read_bytes()) == b""
    assert (tmp_path / "empty.labels").read_text() == ""
    exact = write_corpus(tmp_path / "exact.zst", 600, frame_lines=300)
    assert len(zstd_frames(exact.path.read_bytes())) == 2
    nested = write_corpus(tmp_path / "a" / "b.zst", 10, labels_path=tmp_path / "c" / "d.jsonl")
    assert nested.path.exists() and (tmp_path / "c" / "d.jsonl").exists()
    with pytest.raises(ValueError, match="frame_lines"):
        write_corpus(tmp_path / "bad.zst", 10, frame_lines=0)


def test_committed_sample_matches_labels() -> None:
    sample = ROOT / "corpora" / "falcon" / "sample.jsonl.zst"
    labels_path = ROOT / "corpora" / "falcon" / "sample.labels.jsonl"
    if not sample.exists():
        pytest.skip("no committed sample")
    with zstandard.ZstdDecompressor().stream_reader(
        sample.read_bytes(), read_across_frames=True
    ) as r:
        lines = r.read().split(b"\n")
    assert lines[-1] == b""
    labels = {e["line"]: tuple(e["rules"]) for e in read_labels(labels_path)}
    expected = stream_expected([json.loads(line) for line in lines[:-1]])
    for i, want in enumerate(expected, start=1):
        assert want == labels.get(i, ())
    assert 20 <= len(labels) <= 60
    assert {rule for rules in labels.values() for rule in rules} == ALL_RULES
