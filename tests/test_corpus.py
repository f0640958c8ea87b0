"""The Falcon corpus generator: determinism, valid JSON, exact labels, traps, file output."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
import zstandard

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "rules" / "t1204.003-malicious-image"

try:
    from retrohunt.corpus import LabelledLine, generate_falcon, write_corpus
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "batch"))
    from retrohunt.corpus import LabelledLine, generate_falcon, write_corpus

MINER = "MinerProcessExecution"
CONN = "MiningPoolNetworkConnection"
DNS = "MiningPoolDNSLookup"

# ---------------------------------------------------------------------------------------------
# An independent, straightforward reading of the three rules (lists taken from the YAML files)
# ---------------------------------------------------------------------------------------------


@cache
def rule_lists() -> dict[str, Any]:
    def load(name: str) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load((RULES_DIR / name).read_text(encoding="utf-8"))
        return doc

    miner = load("miner_process_execution.yml")
    conn = load("mining_pool_network_connection.yml")
    dns = load("mining_pool_dns_lookup.yml")
    assert (miner["name"], conn["name"], dns["name"]) == (MINER, CONN, DNS)
    det = conn["detection"]
    return {
        "image": [s.lower() for s in miner["detection"]["selection_image"]["Image|contains"]],
        "cmd": [s.lower() for s in miner["detection"]["selection_cmdline"]["CommandLine|contains"]],
        "ports": {int(p) for p in det["selection"]["DestinationPort"]},
        "nets": [ipaddress.ip_network(n) for n in det["filter_private"]["DestinationIp|cidr"]],
        "browsers": [s.lower() for s in det["filter_browser"]["Image|endswith"]],
        "domains": [s.lower() for s in dns["detection"]["selection"]["QueryName|contains"]],
    }


def is_private(addr: object) -> bool:
    try:
        ip = ipaddress.ip_address(str(addr))
    except ValueError:
        return False  # an invalid address is in no network: the filter does not apply
    return any(ip.version == net.version and ip in net for net in rule_lists()["nets"])


def as_port(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def expected_rules(obj: dict[str, Any]) -> tuple[str, ...]:
    lists = rule_lists()
    kind = obj.get("event_simpleName")
    found: list[str] = []
    if kind in ("ProcessRollup2", "SyntheticProcessRollup2"):
        image = str(obj.get("ImageFileName", "")).lower()
        cmd = str(obj.get("CommandLine", "")).lower()
        if any(s in image for s in lists["image"]) or any(s in cmd for s in lists["cmd"]):
            found.append(MINER)
    if kind in ("NetworkConnectIP4", "NetworkConnectIP6"):
        addr = obj.get("RemoteAddressIP4", obj.get("RemoteAddressIP6"))
        image = str(obj.get("ImageFileName", "")).lower()
        if (
            as_port(obj.get("RemotePort")) in lists["ports"]
            and not is_private(addr)
            and not any(image.endswith(b) for b in lists["browsers"])
        ):
            found.append(CONN)
    if kind == "DnsRequest":
        domain = str(obj.get("DomainName", "")).lower()
        if any(s in domain for s in lists["domains"]):
            found.append(DNS)
    return tuple(sorted(found))


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
        (line.data[:300], line.rules, expected_rules(obj))
        for line, obj in rich
        if line.rules != expected_rules(obj)
    ]
    assert mismatches == []
    counts = Counter(rule for line, _ in rich for rule in line.rules)
    assert counts[MINER] > 100 and counts[CONN] > 100 and counts[DNS] > 50
    malicious = sum(1 for line, _ in rich if line.rules)
    assert 0.03 * N_RICH < malicious < 0.07 * N_RICH


def test_default_rate_is_low_and_labels_still_exact() -> None:
    lines = list(generate_falcon(30_000, seed=5))
    malicious = [x for x in lines if x.rules]
    assert 5 <= len(malicious) <= 80  # about 0.001
    for x in malicious:
        assert x.rules == expected_rules(json.loads(x.data))


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
    # Malicious connections are not only outbound: the rule does not test the direction.
    assert {o["ConnectionDirection"] for line, o in labelled(rich, CONN)} == {"0", "1", "2"}


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
    for x, obj in miner + conn + dns:
        if b"\\/" in x.data or b"\\u" in x.data:
            assert expected_rules(obj) == x.rules


def test_hard_negatives_present(rich: list[tuple[LabelledLine, dict[str, Any]]]) -> None:
    lists = rule_lists()
    benign = [obj for line, obj in rich if not line.rules]
    pool_private = [
        o
        for o in benign
        if o["event_simpleName"].startswith("NetworkConnectIP")
        and as_port(o["RemotePort"]) in lists["ports"]
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
        and as_port(o["RemotePort"]) in lists["ports"]
        for o in benign
    )


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
    for entry in labels:
        assert tuple(entry["rules"]) == expected_rules(json.loads(lines[entry["line"] - 1]))
    for info, raw in ((one, raw_one), (many, raw_many)):
        assert info.events == n
        assert info.malicious == len(truth)
        assert info.bytes_decompressed == len(want)
        assert info.bytes_compressed == len(raw)
        assert info.sha256 == hashlib.sha256(raw).hexdigest()
        assert sum(c for _, c in info.by_rule) == len(truth)
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
    for i, line in enumerate(lines[:-1], start=1):
        assert expected_rules(json.loads(line)) == labels.get(i, ())
    assert 15 <= len(labels) <= 40
