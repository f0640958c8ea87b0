"""What the eight T1204.003 rules decide, for labelling generated events exactly.

The indicator lists copy rules/t1204.003-malicious-image/*.yml. They are written out here
(not loaded) so the generator has no I/O; tests/test_corpus_oracle.py re-reads the YAML and
re-implements every rule independently, and checks every label of large corpora against it.

Semantics as the engine applies them (retrohunt.reference): string tests fold ASCII letters
only; a field is the first non-empty of its native fields; a port matches decimal text of the
same integer; a CIDR matches dotted-quad IPv4 or IPv6 text; a null field matches nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

RULE_AWS_LAUNCH = "AWSInstanceLaunch"
RULE_CREDENTIAL_EXFIL = "ContainerCredentialExfiltration"
RULE_DOWNLOADER_CONTAINER = "DownloaderInContainer"
RULE_MINER_ARGS = "MinerCommandLineArgs"
RULE_MINER_CONTAINER = "MinerInContainer"
RULE_MINER_PROCESS = "MinerProcessExecution"
RULE_POOL_DNS = "MiningPoolDNSLookup"
RULE_POOL_CONNECTION = "MiningPoolNetworkConnection"
RULES = (
    RULE_AWS_LAUNCH,
    RULE_CREDENTIAL_EXFIL,
    RULE_DOWNLOADER_CONTAINER,
    RULE_MINER_ARGS,
    RULE_MINER_CONTAINER,
    RULE_MINER_PROCESS,
    RULE_POOL_DNS,
    RULE_POOL_CONNECTION,
)  # sorted: a line's labels are a sorted tuple of these

# MinerProcessExecution
MINER_IMAGE_STRINGS = (
    "xmrig",
    "xmrig-notls",
    "minerd",
    "cpuminer",
    "cryptonight",
    "nbminer",
    "t-rex",
    "lolminer",
    "ethminer",
    "cgminer",
    "bfgminer",
    "claymore",
    "phoenixminer",
    "teamtntbot",
)
MINER_CMDLINE_STRINGS = (
    "stratum+tcp://",
    "stratum+ssl://",
    "--donate-level",
    "-o pool.",
    "xmrpool",
    "supportxmr",
    "minexmr",
    "moneroocean",
    "hashvault",
    "nanopool",
)
# MinerCommandLineArgs
MINER_ARGS_STRINGS = (
    "stratum+tcp",
    "stratum+ssl",
    "--donate-level",
    "xmrpool",
    "supportxmr",
    "minexmr",
    "moneroocean",
    "hashvault",
    "nanopool",
)
# MinerInContainer (no xmrig-notls, which contains xmrig anyway, and no claymore)
CONTAINER_MINER_STRINGS = (
    "xmrig",
    "minerd",
    "cpuminer",
    "cryptonight",
    "nbminer",
    "t-rex",
    "lolminer",
    "ethminer",
    "cgminer",
    "bfgminer",
    "phoenixminer",
    "teamtntbot",
)
# The container-runtime parent of MinerInContainer, DownloaderInContainer and
# ContainerCredentialExfiltration, and their downloader image.
RUNTIME_CONTAINS = ("containerd-shim",)
RUNTIME_ENDSWITH = ("/runc", "/dockerd", "/containerd")
RUNTIME_NAMES = ("runc", "dockerd", "containerd")
DOWNLOADER_ENDSWITH = ("/wget", "/curl")
DOWNLOADER_NAMES = ("wget", "curl")
CREDENTIAL_STRINGS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# MiningPoolNetworkConnection
POOL_PORTS = (3333, 3334, 4444, 4445, 14444, 45560, 5555, 8333, 7777, 9999, 13333, 19999)
FILTERED_NETWORKS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)
BROWSER_SUFFIXES = (
    "chrome.exe",
    "firefox.exe",
    "msedge.exe",
    "brave.exe",
    "opera.exe",
    "iexplore.exe",
)
# MiningPoolDNSLookup
POOL_DOMAIN_STRINGS = (
    "minexmr.com",
    "supportxmr.com",
    "nanopool.org",
    "f2pool.com",
    "antpool.com",
    "pool.minergate.com",
    "xmrpool.eu",
    "hashvault.pro",
    "moneroocean.stream",
    "xmr.pool",
)

_CREDENTIALS = tuple(s.lower() for s in CREDENTIAL_STRINGS)
_PORTS = frozenset(POOL_PORTS)
_V4 = tuple(
    (int(n.network_address), int(n.broadcast_address))
    for n in map(ipaddress.ip_network, FILTERED_NETWORKS)
    if n.version == 4
)
_V6 = tuple(
    n for n in map(ipaddress.ip_network, FILTERED_NETWORKS) if isinstance(n, ipaddress.IPv6Network)
)
_OCTET = re.compile(r"[0-9]{1,3}")
_SYSMON = re.compile(r"(?i)sysmon")

Labels = tuple[str, ...]
Obj = Mapping[str, object]


def fold(text: str) -> str:
    """Lower-cases ASCII letters only, as the engine compares (str.lower also folds e.g. the
    Kelvin sign to k)."""
    if text.isascii():
        return text.lower()
    # bytes.lower() folds ASCII letters only; UTF-8 multi-byte sequences are all >= 0x80.
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def label_process(
    image: str | None, cmd: str | None, parent: str | None, container: str | None
) -> Labels:
    """The process_creation rules that fire on a process with these taxonomy values."""
    img = fold(image) if image else ""
    line = fold(cmd) if cmd else ""
    par = fold(parent) if parent else ""
    found: list[str] = []
    runtime = "containerd-shim" in par or par.endswith(RUNTIME_ENDSWITH) or par in RUNTIME_NAMES
    downloader = img.endswith(DOWNLOADER_ENDSWITH) or img in DOWNLOADER_NAMES
    if (runtime or container) and downloader and any(s in line for s in _CREDENTIALS):
        found.append(RULE_CREDENTIAL_EXFIL)
    if runtime and downloader:
        found.append(RULE_DOWNLOADER_CONTAINER)
    if any(s in line for s in MINER_ARGS_STRINGS):
        found.append(RULE_MINER_ARGS)
    if runtime and any(s in img for s in CONTAINER_MINER_STRINGS):
        found.append(RULE_MINER_CONTAINER)
    if any(s in img for s in MINER_IMAGE_STRINGS) or any(s in line for s in MINER_CMDLINE_STRINGS):
        found.append(RULE_MINER_PROCESS)
    return tuple(found)


def is_pool_port(port: str | None) -> bool:
    """Decimal text of one of the pool ports."""
    return port is not None and port.isascii() and port.isdigit() and int(port) in _PORTS


def is_filtered_address(addr: str | None) -> bool:
    """In one of the private, loopback or link-local networks the rule filters out."""
    if addr is None:
        return False
    parts = addr.split(".")
    if len(parts) == 4 and all(_OCTET.fullmatch(p) for p in parts):
        numbers = [int(p) for p in parts]
        if max(numbers) > 255:
            return False
        value = (numbers[0] << 24) | (numbers[1] << 16) | (numbers[2] << 8) | numbers[3]
        return any(low <= value <= high for low, high in _V4)
    if ":" not in addr:
        return False
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _V6)


def label_network(port: str | None, addr: str | None, image: str | None) -> Labels:
    """MiningPoolNetworkConnection on a network_connection event with these values."""
    if not is_pool_port(port) or is_filtered_address(addr):
        return ()
    if image and fold(image).endswith(BROWSER_SUFFIXES):
        return ()
    return (RULE_POOL_CONNECTION,)


def label_dns(query: str | None) -> Labels:
    """MiningPoolDNSLookup on a dns_query event with this query name."""
    if query and any(s in fold(query) for s in POOL_DOMAIN_STRINGS):
        return (RULE_POOL_DNS,)
    return ()


def _text(obj: Obj, *names: str) -> str | None:
    """The first non-empty of these fields, as the text the engine reads."""
    for name in names:
        value = obj.get(name)
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if text:
            return text
    return None


_FALCON_PROCESS = frozenset(("ProcessRollup2", "SyntheticProcessRollup2"))
_FALCON_NETWORK = frozenset(("NetworkConnectIP4", "NetworkConnectIP6"))


def falcon_labels(obj: Obj) -> Labels:
    """The rules that fire on a Falcon event (sources/falcon.py's field map)."""
    kind = obj.get("event_simpleName")
    if kind in _FALCON_PROCESS:
        return label_process(
            _text(obj, "ImageFileName", "ContextBaseFileName"),
            _text(obj, "CommandLine"),
            _text(obj, "ParentImageFileName", "ParentBaseFileName"),
            _text(obj, "OciContainerId"),
        )
    if kind in _FALCON_NETWORK:
        return label_network(
            _text(obj, "RemotePort"),
            _text(obj, "RemoteAddressIP4", "RemoteAddressIP6"),
            _text(obj, "ImageFileName", "ContextBaseFileName"),
        )
    if kind == "DnsRequest":
        return label_dns(_text(obj, "DomainName"))
    return ()


def sysmon_labels(obj: Obj) -> Labels:
    """The rules that fire on a flat Sysmon event (sources/sysmon.py's field map)."""
    channel = _text(obj, "Channel", "SourceName")
    if channel is None or not _SYSMON.search(channel):
        return ()
    kind = _text(obj, "EventID")
    if kind == "1":
        return label_process(
            _text(obj, "Image"), _text(obj, "CommandLine"), _text(obj, "ParentImage"), None
        )
    if kind == "3":
        return label_network(
            _text(obj, "DestinationPort"), _text(obj, "DestinationIp"), _text(obj, "Image")
        )
    if kind == "22":
        return label_dns(_text(obj, "QueryName"))
    return ()


# CloudTrail (sources/cloudtrail.py): a record is one whose eventSource ends in .amazonaws.com;
# a line may be an S3-style {"Records": [...]} document of many records.
_CLOUDTRAIL = re.compile(r"(?i)\.amazonaws\.com$")
CLOUDTRAIL_ENVELOPE = "Records"


def cloudtrail_record_labels(obj: Obj) -> Labels:
    """AWSInstanceLaunch on one CloudTrail record: eventSource ec2.amazonaws.com and eventName
    RunInstances (whole values, ASCII letters folded) and no errorCode (a native field read as
    is: any non-null value, even "", counts as present)."""
    source = _text(obj, "eventSource")
    if source is None or not _CLOUDTRAIL.search(source):
        return ()
    if fold(source) != "ec2.amazonaws.com" or fold(_text(obj, "eventName") or "") != "runinstances":
        return ()
    if obj.get("errorCode") is not None:
        return ()
    return (RULE_AWS_LAUNCH,)


def cloudtrail_labels(obj: Obj) -> Labels:
    """The rules that fire on a CloudTrail line: one record, or the union over the records of
    a {"Records": [...]} document (the engine alerts per record; labels are per line)."""
    records = obj.get(CLOUDTRAIL_ENVELOPE)
    if isinstance(records, list):
        found: set[str] = set()
        for record in records:
            if isinstance(record, Mapping):
                found.update(labels_of(record))
        return tuple(sorted(found))
    return cloudtrail_record_labels(obj)


def labels_of(obj: Obj) -> Labels:
    """The rules that fire on a line of any source. Records documents are CloudTrail; an event
    belongs to the first source that recognises it: Falcon, Sysmon, then CloudTrail."""
    if isinstance(obj.get(CLOUDTRAIL_ENVELOPE), list):
        return cloudtrail_labels(obj)
    if _text(obj, "event_simpleName") is not None:
        return falcon_labels(obj)
    channel = _text(obj, "Channel", "SourceName")
    if channel is not None and _SYSMON.search(channel):
        return sysmon_labels(obj)
    return cloudtrail_labels(obj)
