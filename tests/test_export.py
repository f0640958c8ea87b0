"""`retrohunt rules export`: rules translated to LogScale, QRadar, Splunk and Sigma YAML.

Golden files: `tests/golden/export/<target>/` holds what `rules export --to <target> --out`
writes for the bundled T1204.003 pack — one `<RuleName>.<ext>` per exported rule and
`index.json` (every rule's status and note; the rule file as its name and the backend's
version masked, so the goldens do not depend on the checkout path or a patch release).
After an intended change (a backend upgrade, a new rewrite), regenerate them with

    RETROHUNT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_export.py

and review the diff before committing it.

Beyond the goldens: the LogScale export of the CIDR rule is evaluated — the `cidr()`
filters it emits against Python's `ipaddress` membership in the rule's ranges, and the
regular-expression form (a CIDR test under an OR) likewise; the three branches of the
LogScale seed query are checked indicator by indicator; a rule a backend cannot express
is reported, never dropped; a missing backend names the extra to install.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection

from retrohunt.cli import main
from retrohunt.compiler import bundled_rules_dir
from retrohunt.errors import RulesNotFound
from retrohunt.export import (
    TARGETS,
    BackendMissing,
    Export,
    export_rules,
    file_names,
    ipv4_cidr_regex,
    render_text,
    write_export,
)

PACK = bundled_rules_dir() / "t1204.003-malicious-image"
GOLDEN = Path(__file__).parent / "golden" / "export"
UPDATE = os.environ.get("RETROHUNT_UPDATE_GOLDEN") == "1"

# Per target, the status of every rule of the pack (the goldens hold the why).
STATUSES: dict[str, dict[str, str]] = {
    "logscale": {
        "AWSInstanceLaunch": "rewritten",  # errorCode|exists as `errorCode=*`
        "ContainerCredentialExfiltration": "unsupported",  # Falcon: parent base name only
        "DownloaderInContainer": "unsupported",
        "MinerCommandLineArgs": "ok",
        "MinerInContainer": "unsupported",
        "MinerProcessExecution": "ok",
        "MiningPoolDNSLookup": "ok",
        "MiningPoolNetworkConnection": "rewritten",  # OR'ed CIDR ranges as !cidr(…)
    },
    "qradar": {
        "AWSInstanceLaunch": "unsupported",  # no QRadar property for errorCode, no exists
        "ContainerCredentialExfiltration": "unsupported",
        "DownloaderInContainer": "ok",
        "MinerCommandLineArgs": "ok",
        "MinerInContainer": "ok",
        "MinerProcessExecution": "ok",
        "MiningPoolDNSLookup": "rewritten",  # QueryName searched in the payload
        "MiningPoolNetworkConnection": "ok",
    },
    "splunk": dict.fromkeys(
        [
            "AWSInstanceLaunch",
            "ContainerCredentialExfiltration",
            "DownloaderInContainer",
            "MinerCommandLineArgs",
            "MinerInContainer",
            "MinerProcessExecution",
            "MiningPoolDNSLookup",
            "MiningPoolNetworkConnection",
        ],
        "ok",
    ),
}
STATUSES["sigma"] = dict(STATUSES["splunk"])


def pack_rule(name: str) -> dict[str, Any]:
    """A rule of the pack as YAML, found by its `name`."""
    for path in sorted(PACK.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if document.get("name") == name:
            return dict(document)
    raise LookupError(name)


def rule_file(folder: Path, name: str, logsource: str, detection: str) -> Path:
    """A rule file; `logsource` is the inside of a YAML flow mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(
        f"title: {name}\nid: {uuid.uuid5(uuid.NAMESPACE_DNS, name)}\nname: {name}\n"
        f"level: low\nlogsource: {{{logsource}}}\ndetection:\n{detection}",
        encoding="utf-8",
    )
    return path


def by_name(export: Export) -> dict[str, Any]:
    return {rule.name: rule for rule in export.rules}


def cql_regex(value: str) -> str:
    """A value as the LogScale backend writes it inside /…/: its regex specials escaped."""
    return "".join("\\" + c if c in "\\*$^.|?()[]+/{}" else c for c in value)


# --------------------------------------------------------------------------- goldens


def exported_files(export: Export, folder: Path) -> dict[str, str]:
    """What `write_export` writes, by file name, index.json normalised (see the top)."""
    write_export(export, folder)
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}
    index = json.loads(files["index.json"])
    index["backend"] = re.sub(r"\d+\.\d+(\.\d+)?", "<version>", index["backend"])
    for rule in index["rules"]:
        rule["source"] = Path(rule["source"]).name
    files["index.json"] = json.dumps(index, indent=2, ensure_ascii=False) + "\n"
    return files


@pytest.mark.parametrize("target", list(TARGETS))
def test_pack_matches_golden_files(target: str, tmp_path: Path) -> None:
    files = exported_files(export_rules([PACK], target), tmp_path / target)
    golden = GOLDEN / target
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        golden.mkdir(parents=True)
        for name, text in files.items():
            (golden / name).write_text(text, encoding="utf-8")
    expected = {path.name: path.read_text(encoding="utf-8") for path in golden.iterdir()}
    assert sorted(files) == sorted(expected), "rerun with RETROHUNT_UPDATE_GOLDEN=1?"
    for name, text in files.items():
        assert text == expected[name], f"{target}/{name} differs from its golden file"


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_rule_of_the_pack_has_its_status(target: str) -> None:
    export = export_rules([PACK], target)
    assert {rule.name: rule.status for rule in export.rules} == STATUSES[target]
    for rule in export.rules:
        assert (rule.query is None) == (rule.status == "unsupported")
        assert rule.status == "ok" or rule.note, f"{rule.name} is {rule.status} without a why"


# --------------------------------------------------------------------------- LogScale


@pytest.fixture(scope="module")
def logscale() -> dict[str, Any]:
    return by_name(export_rules([PACK], "logscale"))


def test_logscale_miner_process_branch(logscale: dict[str, Any]) -> None:
    """Seed branch 1: a miner image name OR a stratum/pool command line, on process events."""
    query = logscale["MinerProcessExecution"].query
    rule = pack_rule("MinerProcessExecution")["detection"]
    events = ("ProcessRollup2", "SyntheticProcessRollup2")
    assert query.startswith(f"({' or '.join(f'#event_simpleName=/^{e}$/i' for e in events)}) (")
    tests = [f"ImageFileName=/{cql_regex(v)}/i" for v in rule["selection_image"]["Image|contains"]]
    tests += [
        f"CommandLine=/{cql_regex(v)}/i" for v in rule["selection_cmdline"]["CommandLine|contains"]
    ]
    # One OR group holds both selections: either kind of indicator is enough.
    assert f"({' or '.join(tests)})" in query
    assert "event_platform" not in query  # the pack is for Windows and Linux hosts alike


def test_logscale_mining_pool_connection_branch(logscale: dict[str, Any]) -> None:
    """Seed branch 2: a pool port, not a private destination, not a browser, not inbound."""
    query = logscale["MiningPoolNetworkConnection"].query
    rule = pack_rule("MiningPoolNetworkConnection")["detection"]
    main_query, *filters = query.split("\n| ")
    ports = " or ".join(f"RemotePort={port}" for port in rule["selection"]["DestinationPort"])
    assert f"({ports})" in main_query
    browsers = " or ".join(
        f"ContextBaseFileName=/{cql_regex(v)}$/i" for v in rule["filter_browser"]["Image|endswith"]
    )
    assert f"not ({browsers})" in main_query
    # Initiated 'false' is Falcon's ConnectionDirection "1" (inbound), negated.
    assert "not ConnectionDirection=/^1$/i" in main_query
    assert "NetworkReceiveAcceptIP4" not in query and "Initiated" not in query
    assert main_query.startswith(
        "(#event_simpleName=/^NetworkConnectIP4$/i or #event_simpleName=/^NetworkConnectIP6$/i)"
    )
    ranges = json.dumps(rule["filter_private"]["DestinationIp|cidr"])
    assert filters == [
        f"!cidr(RemoteAddressIP4, subnet={ranges})",
        f"!cidr(RemoteAddressIP6, subnet={ranges})",
    ]
    assert "cidr" in logscale["MiningPoolNetworkConnection"].note


def test_logscale_mining_pool_dns_branch(logscale: dict[str, Any]) -> None:
    """Seed branch 3: a lookup of a pool domain."""
    query = logscale["MiningPoolDNSLookup"].query
    domains = pack_rule("MiningPoolDNSLookup")["detection"]["selection"]["QueryName|contains"]
    tests = " or ".join(f"DomainName=/{cql_regex(d)}/i" for d in domains)
    assert query == f"#event_simpleName=/^DnsRequest$/i ({tests})"


CIDR_FILTER = re.compile(r"^\| (!?)cidr\((\w+), subnet=(\[[^\]]*\])\)$", re.MULTILINE)


def logscale_cidr_filters(query: str) -> list[tuple[bool, str, list[str]]]:
    """The `[!]cidr(field, subnet=[…])` filters after the main query: (negated, field,
    subnets)."""
    return [
        (neg == "!", name, json.loads(subnets)) for neg, name, subnets in CIDR_FILTER.findall(query)
    ]


def passes_cidr_filter(event: dict[str, str], negated: bool, name: str, subnets: list[str]) -> bool:
    """LogScale's cidr(): passes an event whose field holds an address inside one of the
    subnets; `!cidr()` passes the others, events without the field (or with something that
    is not an address) included."""
    try:
        address = ipaddress.ip_address(event[name]) if name in event else None
    except ValueError:
        address = None
    inside = address is not None and any(address in ipaddress.ip_network(s) for s in subnets)
    return not inside if negated else inside


ADDRESSES = [
    # 10/8 and around it
    "9.255.255.255", "10.0.0.0", "10.0.0.1", "10.128.7.9", "10.255.255.255", "11.0.0.0",
    # 172.16/12: both edges and one past each
    "172.15.255.255", "172.16.0.0", "172.16.0.1", "172.20.1.1", "172.31.255.255", "172.32.0.0",
    # 192.168/16 and 127/8
    "192.167.255.255", "192.168.0.0", "192.168.255.255", "192.169.0.0",
    "126.255.255.255", "127.0.0.1", "127.255.255.255", "128.0.0.0",
    # public IPv4, and test data's invalid address
    "8.8.8.8", "1.1.1.1", "203.0.113.7", "100.64.0.1", "14.241.850.329",
    # IPv6: loopback and its neighbour, ULA fc00::/7, link-local fe80::/10 and their edges
    "::1", "::2", "0:0:0:0:0:0:0:1", "fc00::1", "fdff:ffff::1", "fe00::1", "fe80::1",
    "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::1", "fbff::1",
    # public IPv6 and an IPv4-mapped private address
    "2001:4860:4860::8888", "2606:4700::1111", "::ffff:10.0.0.1",
]  # fmt: skip


def test_logscale_cidr_rule_is_the_same_filter(logscale: dict[str, Any]) -> None:
    """The emitted !cidr() filters keep exactly the destinations the rule keeps, on the
    IPv4 (NetworkConnectIP4) and IPv6 (NetworkConnectIP6) address fields alike."""
    query = logscale["MiningPoolNetworkConnection"].query
    filters = logscale_cidr_filters(query)
    assert {name for _, name, _ in filters} == {"RemoteAddressIP4", "RemoteAddressIP6"}
    networks = [
        ipaddress.ip_network(n)
        for n in pack_rule("MiningPoolNetworkConnection")["detection"]["filter_private"][
            "DestinationIp|cidr"
        ]
    ]

    def rule_keeps(text: str) -> bool:  # `not filter_private`
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return True
        return not any(address in network for network in networks)

    for text in ADDRESSES:
        field = "RemoteAddressIP6" if ":" in text else "RemoteAddressIP4"
        event = {field: text}
        kept = all(passes_cidr_filter(event, *f) for f in filters)
        assert kept == rule_keeps(text), text
    assert all(passes_cidr_filter({}, *f) for f in filters)  # no address: kept, as the rule
    assert "cidr" not in query.split("\n| ")[0]


def test_logscale_cidr_under_or_becomes_a_regex_with_the_same_matches(tmp_path: Path) -> None:
    private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]
    rule_file(
        tmp_path,
        "PortOrPrivate",
        "category: network_connection",
        "  port:\n    DestinationPort: 3333\n  private:\n    DestinationIp|cidr:\n"
        + "".join(f"      - {n}\n" for n in private)
        + "  condition: port or private\n",
    )
    (rule,) = export_rules([tmp_path], "logscale").rules
    assert rule.status == "rewritten" and "regular expression" in rule.note
    assert "cidr(" not in rule.query  # a filter after the query cannot be OR'ed
    found = re.search(r"\(RemotePort=3333 or RemoteAddressIP4=/([^/]+)/ or ", rule.query)
    assert found, rule.query
    pattern = re.compile(found[1])
    networks = [ipaddress.ip_network(n) for n in private]
    generator = random.Random(1204003)
    sample = (
        ADDRESSES
        + [str(ipaddress.IPv4Address(generator.getrandbits(32))) for _ in range(3000)]
        + ["010.0.0.1", "10.0.0", "10.0.0.1.5", "172.016.0.1", " 10.0.0.1"]
    )
    for text in sample:
        try:
            address = ipaddress.ip_address(text)
            inside = any(address in network for network in networks)
        except ValueError:
            inside = False
        assert bool(pattern.search(text)) == inside, text


def test_ipv4_cidr_regex_matches_every_aligned_block() -> None:
    """Each prefix length of an octet, every block it can start at, every octet value."""
    for prefix in range(8, 17):
        size = 1 << (16 - prefix)
        for low in range(0, 256, size):
            pattern = re.compile(ipv4_cidr_regex([f"10.{low}.0.0/{prefix}"]))
            for value in range(256):
                inside = low <= value < low + size
                assert bool(pattern.search(f"10.{value}.3.4")) == inside, (prefix, low, value)
    assert re.fullmatch(ipv4_cidr_regex(["0.0.0.0/0"]), "255.255.255.255")
    assert re.fullmatch(ipv4_cidr_regex(["192.0.2.7/32"]), "192.0.2.7")
    assert not re.search(ipv4_cidr_regex(["192.0.2.7/32"]), "192.0.2.70")
    with pytest.raises(ValueError, match="IPv4"):
        ipv4_cidr_regex(["fe80::/10"])


def test_logscale_ipv6_range_under_or_is_reported_not_dropped(tmp_path: Path) -> None:
    rule_file(
        tmp_path,
        "LinkLocalOrPort",
        "category: network_connection",
        "  port:\n    DestinationPort: 3333\n  local:\n    DestinationIp|cidr: fe80::/10\n"
        "  condition: port or local\n",
    )
    rule_file(
        tmp_path,
        "PoolPort",
        "category: network_connection",
        "  port:\n    DestinationPort: 3333\n  condition: port\n",
    )
    rules = by_name(export_rules([tmp_path], "logscale"))
    assert rules["LinkLocalOrPort"].status == "unsupported"
    assert rules["LinkLocalOrPort"].query is None
    assert "IPv6" in rules["LinkLocalOrPort"].note and "fe80::/10" in rules["LinkLocalOrPort"].note
    assert rules["PoolPort"].status == "ok"


def test_logscale_product_keeps_the_falcon_platform_filter(tmp_path: Path) -> None:
    rule_file(
        tmp_path,
        "WindowsMiner",
        "category: process_creation, product: windows",
        "  sel:\n    Image|endswith: '\\xmrig.exe'\n  condition: sel\n",
    )
    rule_file(
        tmp_path,
        "AnyMiner",
        "category: process_creation",
        "  sel:\n    Image|endswith: '/xmrig'\n  condition: sel\n",
    )
    rules = by_name(export_rules([tmp_path], "logscale"))
    assert "event_platform=/^Win$/i" in rules["WindowsMiner"].query
    assert "event_platform" not in rules["AnyMiner"].query
    assert "ImageFileName=/\\/xmrig$/i" in rules["AnyMiner"].query


def test_logscale_query_of_filters_alone_starts_with_its_filter(tmp_path: Path) -> None:
    rule_file(
        tmp_path,
        "FirewallPrivate",
        "category: firewall",
        "  sel:\n    dst_ip|cidr:\n      - 10.0.0.0/8\n      - 192.168.0.0/16\n  condition: sel\n",
    )
    (rule,) = export_rules([tmp_path], "logscale").rules
    assert rule.query == 'cidr(dst_ip, subnet=["10.0.0.0/8", "192.168.0.0/16"])'
    assert rule.status == "rewritten" and "not Falcon telemetry" in rule.note


def test_logscale_unsupported_rules_carry_the_pipeline_reason(logscale: dict[str, Any]) -> None:
    for name in ("MinerInContainer", "DownloaderInContainer", "ContainerCredentialExfiltration"):
        assert logscale[name].query is None
        assert "file name of parent image" in logscale[name].note


def test_logscale_field_existence_is_rewritten(logscale: dict[str, Any]) -> None:
    rule = logscale["AWSInstanceLaunch"]
    assert rule.query.endswith("not errorCode=*")
    assert "errorCode=*" in rule.note and "not Falcon telemetry" in rule.note


# --------------------------------------------------------------------------- other targets


def test_qradar_payload_fallback_says_it_is_broader() -> None:
    rules = by_name(export_rules([PACK], "qradar"))
    dns = rules["MiningPoolDNSLookup"]
    assert "QueryName" in dns.note and "broader" in dns.note
    assert "LOWER(UTF8(payload)) LIKE '%minexmr.com%'" in dns.query
    network = rules["MiningPoolNetworkConnection"].query
    assert "INCIDR('172.16.0.0/12', destinationip)" in network
    assert "destinationport IN('3333'" in network
    aws = rules["AWSInstanceLaunch"]
    assert "errorCode" in aws.note and "qradar-aql-payload" in aws.note


def test_sigma_export_reads_back_as_the_same_rules(tmp_path: Path) -> None:
    export = export_rules([PACK], "sigma")
    for rule in export.rules:
        original = SigmaCollection.from_yaml((rule.path).read_text(encoding="utf-8")).rules[0]
        again = SigmaCollection.from_yaml(rule.query).rules[0]
        assert again.to_dict() == original.to_dict()


def test_rule_files_that_do_not_parse_are_reported(tmp_path: Path) -> None:
    rule_file(
        tmp_path,
        "Broken",
        "category: process_creation",
        "  sel:\n    Image|nope: x\n  condition: sel\n",
    )
    (tmp_path / "not_yaml.yml").write_text("a: [\n", encoding="utf-8")
    rule_file(
        tmp_path, "Fine", "category: dns_query", "  sel:\n    QueryName: x.org\n  condition: sel\n"
    )
    rules = by_name(export_rules([tmp_path], "splunk"))
    assert rules["Broken"].status == "unsupported" and "nope" in rules["Broken"].note
    assert rules["not_yaml"].status == "unsupported" and "YAML" in rules["not_yaml"].note
    assert rules["Fine"].status == "ok"
    with pytest.raises(RulesNotFound):
        export_rules([tmp_path / "missing"], "splunk")


def test_file_names_are_unique(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        rule_file(
            tmp_path / folder,
            "Same Name",
            "category: dns_query",
            "  sel:\n    QueryName: x.org\n  condition: sel\n",
        )
    export = export_rules([tmp_path], "splunk")
    assert file_names(export) == ["Same_Name.spl", "Same_Name-2.spl"]


def test_missing_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sigma.backends.crowdstrike", None)
    with pytest.raises(BackendMissing, match=r"pysigma-backend-crowdstrike.*retrohunt\[export\]"):
        export_rules([PACK], "logscale")
    assert export_rules([PACK], "sigma").counts()["ok"] == 8  # pySigma alone still does sigma


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="logscale"):
        export_rules([PACK], "elastic")


# --------------------------------------------------------------------------- CLI


def test_cli_out_writes_the_golden_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "logscale"
    code = main(["rules", "export", str(PACK), "--to", "logscale", "--out", str(out)])
    assert code == 3  # three container rules cannot be expressed on Falcon's fields
    err = capsys.readouterr().err
    assert "unsupported: MinerInContainer" in err
    assert "3 ok, 2 rewritten, 3 unsupported" in err
    golden = GOLDEN / "logscale"
    for path in golden.glob("*.cql"):
        assert (out / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    assert not (out / "MinerInContainer.cql").exists()
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [rule["name"] for rule in index["rules"]] == list(STATUSES["logscale"])


def test_cli_stdout_has_a_header_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "export", str(PACK), "--to", "splunk"]) == 0
    out = capsys.readouterr().out
    export = export_rules([PACK], "splunk")
    assert out == render_text(export)
    for rule in export.rules:
        assert f"``` {rule.name}: ok — {rule.title} ```" in out
        assert (GOLDEN / "splunk" / f"{rule.name}.spl").read_text(encoding="utf-8") in out


def test_cli_defaults_to_the_bundled_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "export", "--to", "sigma"]) == 0
    assert capsys.readouterr().out.count("\n---\n") == 7


def test_cli_usage_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["rules", "export", str(PACK), "--to", "elastic"]) == 2
    assert "logscale, qradar, splunk, sigma" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "sigma.backends.splunk", None)
    assert main(["rules", "export", str(PACK), "--to", "splunk"]) == 2
    assert "pysigma-backend-splunk" in capsys.readouterr().err


def test_cli_missing_rules_path_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "export", str(tmp_path / "missing"), "--to", "splunk"]) == 3
    assert "missing" in capsys.readouterr().err
