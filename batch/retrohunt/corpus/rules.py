"""What the eight T1204.003 rules decide, for labelling generated events exactly.

The indicator lists copy rules/t1204.003-malicious-image/*.yml. They are written out here
(not loaded) so the generator has no I/O; tests/test_corpus_oracle.py re-reads the YAML and
re-implements every rule independently, and checks every label of large corpora against it.

Semantics as the engine applies them (retrohunt.reference): string tests fold ASCII letters
only; a field is the first non-empty of its native fields; a port matches decimal text of the
same integer; a CIDR matches dotted-quad IPv4 or IPv6 text; a null field matches nothing.

Falcon network events name no image. The engine joins them to their process: the process
event (ProcessRollup2 / SyntheticProcessRollup2) with the same aid whose TargetProcessId is
the event's ContextProcessId. Labelling that needs state, so `Labeller` reads lines in stream
order and remembers every process event's image; the module-level functions are stateless
and see a network event without an image as one whose process is unknown (null Image).
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
ProcessKey = tuple[str, str]  # (aid, TargetProcessId) of a Falcon process event
ProcessImages = Mapping[ProcessKey, str | None]  # a process event's Image (None: it had none)
_NO_PROCESSES: ProcessImages = {}


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


def label_network(
    port: str | None, addr: str | None, image: str | None, initiated: str | None = None
) -> Labels:
    """MiningPoolNetworkConnection on a network_connection event with these values: a pool
    port, a destination outside the filtered networks, an image that is no browser (a null
    image is none) and an Initiated that is not "false" (a null one is not "false")."""
    if not is_pool_port(port) or is_filtered_address(addr):
        return ()
    if image and fold(image).endswith(BROWSER_SUFFIXES):
        return ()
    if initiated is not None and fold(initiated) == "false":
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


FALCON_PROCESS_EVENTS = frozenset(("ProcessRollup2", "SyntheticProcessRollup2"))
FALCON_NETWORK_EVENTS = frozenset(("NetworkConnectIP4", "NetworkConnectIP6"))
# Sigma's Initiated from Falcon's ConnectionDirection: "0" outbound, "1" inbound; any other
# value ("2": neither, or absent) leaves it null, which the inbound filter does not exclude.
FALCON_INITIATED = {"0": "true", "1": "false"}


def falcon_image(obj: Obj) -> str | None:
    """A Falcon event's own Image: ImageFileName, else ContextBaseFileName (non-empty)."""
    return _text(obj, "ImageFileName", "ContextBaseFileName")


def falcon_key(obj: Obj, id_field: str) -> ProcessKey | None:
    """(aid, the process id in id_field), or None when either is missing or empty."""
    aid = _text(obj, "aid")
    pid = _text(obj, id_field)
    return None if aid is None or pid is None else (aid, pid)


def falcon_labels(obj: Obj, processes: ProcessImages = _NO_PROCESSES) -> Labels:
    """The rules that fire on a Falcon event (sources/falcon.py's field map).

    A network event's image is its own ImageFileName / ContextBaseFileName when non-empty,
    else the image of the process that `processes` (the process events seen earlier, by
    (aid, TargetProcessId)) holds under (aid, ContextProcessId), else unknown (None)."""
    kind = obj.get("event_simpleName")
    if kind in FALCON_PROCESS_EVENTS:
        return label_process(
            falcon_image(obj),
            _text(obj, "CommandLine"),
            _text(obj, "ParentImageFileName", "ParentBaseFileName"),
            _text(obj, "OciContainerId"),
        )
    if kind in FALCON_NETWORK_EVENTS:
        image = falcon_image(obj)
        if image is None and processes:
            key = falcon_key(obj, "ContextProcessId")
            image = None if key is None else processes.get(key)
        return label_network(
            _text(obj, "RemotePort"),
            _text(obj, "RemoteAddressIP4", "RemoteAddressIP6"),
            image,
            FALCON_INITIATED.get(_text(obj, "ConnectionDirection") or ""),
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
            _text(obj, "DestinationPort"),
            _text(obj, "DestinationIp"),
            _text(obj, "Image"),
            _text(obj, "Initiated"),
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


def is_falcon(obj: Obj) -> bool:
    """Whether a line is a Falcon event: no Records document, and an event_simpleName."""
    return not isinstance(obj.get(CLOUDTRAIL_ENVELOPE), list) and (
        _text(obj, "event_simpleName") is not None
    )


def labels_of(obj: Obj, processes: ProcessImages = _NO_PROCESSES) -> Labels:
    """The rules that fire on a line of any source. Records documents are CloudTrail; an event
    belongs to the first source that recognises it: Falcon, Sysmon, then CloudTrail.
    `processes` is the Falcon process join's state (see falcon_labels); `Labeller` keeps it."""
    if isinstance(obj.get(CLOUDTRAIL_ENVELOPE), list):
        return cloudtrail_labels(obj)
    if _text(obj, "event_simpleName") is not None:
        return falcon_labels(obj, processes)
    channel = _text(obj, "Channel", "SourceName")
    if channel is not None and _SYSMON.search(channel):
        return sysmon_labels(obj)
    return cloudtrail_labels(obj)


class Labeller:
    """Labels the lines of one archive in stream order, with the engine's Falcon process join.

    Every Falcon process event (ProcessRollup2 / SyntheticProcessRollup2) with a non-empty
    aid and TargetProcessId is remembered: (aid, TargetProcessId) -> its Image
    (ImageFileName, else ContextBaseFileName; None when both are empty). A later network
    event without an image of its own takes the image remembered under (aid,
    ContextProcessId); if that key was never seen the process is unknown and the image null,
    so the browser filter does not exclude the event. A key seen twice keeps the later process
    (the generator never repeats a key). Lines of other sources pass through statelessly.

    The state grows by one entry per process event: a 1.6M-event Falcon corpus holds about
    220,000 of them.
    """

    __slots__ = ("processes",)

    def __init__(self) -> None:
        self.processes: dict[ProcessKey, str | None] = {}

    def falcon(self, obj: Obj) -> Labels:
        """The labels of a Falcon event; remembers it when it is a process event."""
        if obj.get("event_simpleName") in FALCON_PROCESS_EVENTS:
            key = falcon_key(obj, "TargetProcessId")
            if key is not None:
                self.processes[key] = falcon_image(obj)
        return falcon_labels(obj, self.processes)

    def __call__(self, obj: Obj) -> Labels:
        """The labels of the next line of the archive, of any source (see labels_of)."""
        if is_falcon(obj):
            return self.falcon(obj)
        return labels_of(obj)
