"""Sysmon events as flat JSON (OTRF Security-Datasets, NXLog), for Windows and Sysmon for Linux.

Three export styles, one per host: OTRF-like (`Hostname`, `SourceName` and `Channel`, an
`@timestamp` in collector local time despite its `Z`, sometimes a rendered `Message`), NXLog
im_msvistalog (`Hostname`, `EventTime`, `Category`, its own numeric `ProcessID` next to the
event's `ProcessId`) and Sysmon for Linux with the System section flattened (`Computer`,
`Channel` `Linux-Sysmon/Operational`, `EventID` a string on some pipelines). Event data values
are strings as Sysmon writes them; some pipelines type ports as numbers. Sysmon for Linux has
no DNS query (22), image load (7), process access (10) or registry (12, 13) events.
"""

from __future__ import annotations

import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from retrohunt.corpus.base import Generator, Line, Obj, basename, encode
from retrohunt.corpus.catalogue import (
    DOMAINS,
    LIN_FILES,
    LIN_PARENT_PATHS,
    LIN_PORTS,
    LIN_PROCS,
    LIN_SYSMON_PROCS,
    SYSMON_PROVIDER_GUID,
    USERS,
    WIN_COMPANIES,
    WIN_DLLS,
    WIN_FILES,
    WIN_PARENTS,
    WIN_PORTS,
    WIN_PROCS,
    WIN_REGISTRY,
    WIN_VERSION_INFO,
)
from retrohunt.corpus.rules import (
    BROWSER_SUFFIXES,
    Labels,
    fold,
    sysmon_labels,
)

_WIN_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
_LIN_CHANNEL = "Linux-Sysmon/Operational"
_CATEGORIES = {
    1: "Process Create (rule: ProcessCreate)",
    3: "Network connection detected (rule: NetworkConnect)",
    5: "Process terminated (rule: ProcessTerminate)",
    7: "Image loaded (rule: ImageLoad)",
    10: "Process accessed (rule: ProcessAccess)",
    11: "File created (rule: FileCreate)",
    12: "Registry object added or deleted (rule: RegistryEvent)",
    13: "Registry value set (rule: RegistryEvent)",
    22: "Dns query (rule: DnsQuery)",
    23: "File Delete archived (rule: FileDelete)",
}
_MESSAGE_TITLES = {
    1: "Process Create:",
    3: "Network connection detected:",
    22: "Dns query:",
}
_SYSTEM_USERS = (
    "NT AUTHORITY\\SYSTEM",
    "NT AUTHORITY\\LOCAL SERVICE",
    "NT AUTHORITY\\NETWORK SERVICE",
)
_SERVICE_PARENTS = frozenset(("services.exe", "svchost.exe", "SearchIndexer.exe", "wmiprvse.exe"))
WIN_BROWSER_PROCS = tuple(p for p in WIN_PROCS if p[3])
RUNTIME_PATHS = (
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/runc",
    "/usr/bin/runc",
    "/usr/bin/containerd-shim",
    "/snap/docker/2915/bin/containerd-shim-runc-v2",
    "/usr/bin/dockerd",
)
_MS_FILE_VERSION = "10.0.19041.1 (WinBuild.160101.0800)"


@dataclass(slots=True)
class Proc:
    guid: str
    pid: str
    image: str
    user: str
    browser: bool = False


@dataclass(slots=True)
class Host:
    name: str
    platform: str  # Win or Lin
    style: str  # otrf, nxlog or linux
    eid_text: bool
    port_numbers: bool
    guid_prefix: str
    users: tuple[str, ...]
    local4: str
    offset_ms: int  # collector local time minus UTC, for @timestamp / EventTime
    hash_kinds: tuple[str, ...]
    containers: tuple[str, ...]
    record: int
    procs: list[Proc] = field(default_factory=list)
    heads: dict[tuple[int, bool], Obj] = field(default_factory=dict)


class SysmonEvents(Generator):
    """Benign Sysmon events; labels from the Sysmon field map (no container id there)."""

    trap_fields = ("Image", "CommandLine", "ParentImage", "QueryName", "DestinationIp")

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        super().__init__(seed, malicious_rate)
        self.hosts = [self._new_host() for _ in range(120)]
        self.win_hosts = [h for h in self.hosts if h.platform == "Win"]
        self.lin_hosts = [h for h in self.hosts if h.platform == "Lin"]
        self.hashes: dict[str, tuple[str, str, str, str]] = {}
        self.last_proc = Proc("", "", "", "")
        self._seconds: dict[int, str] = {}
        win: list[tuple[float, Callable[[Host], Line]]] = [
            (0.11, self._benign_process),
            (0.20, self._benign_network),
            (0.17, self._benign_dns),
            (0.09, self._process_terminated),
            (0.15, self._image_loaded),
            (0.06, self._process_access),
            (0.08, self._file_created),
            (0.03, self._registry_key),
            (0.07, self._registry_value),
            (0.01, self._file_deleted),
            (0.03, self._security_event),
        ]
        lin: list[tuple[float, Callable[[Host], Line]]] = [
            (0.25, self._benign_process),
            (0.30, self._benign_network),
            (0.20, self._process_terminated),
            (0.20, self._file_created),
            (0.04, self._file_deleted),
            (0.01, self._service_state),
        ]
        self.win_table = _Table(win)
        self.lin_table = _Table(lin)

    def labels(self, obj: Obj) -> Labels:
        return sysmon_labels(obj)

    # -- hosts and common fields -------------------------------------------------------------

    def _new_host(self) -> Host:
        win = self.random() < 0.6
        if win:
            style = "otrf" if self.random() < 0.65 else "nxlog"
            name = f"{self.pick(('WKS', 'LAPTOP', 'SRV', 'WORKSTATION'))}{self.bits(12)}"
            if style == "nxlog":
                name = f"{name}.corp.example.com"
            users = tuple(f"CORP\\{self.pick(USERS)}" for _ in range(3))
            r = self.random()
            kinds: tuple[str, ...] = (
                ("SHA1", "MD5", "SHA256", "IMPHASH")
                if r < 0.5
                else (("MD5", "SHA256", "IMPHASH") if r < 0.8 else ("SHA256",))
            )
        else:
            style = "linux"
            name = f"{self.pick(('k8s-node', 'build', 'web', 'ip-10-20'))}-{self.hex(16)}"
            users = ("root", "root", self.pick(("ubuntu", "ec2-user", "deploy", "www-data")))
            kinds = () if self.random() < 0.6 else ("SHA256",)
        return Host(
            name=name,
            platform="Win" if win else "Lin",
            style=style,
            eid_text=not win and self.random() < 0.3,
            port_numbers=self.random() < 0.12,
            guid_prefix=self.hex(32),
            users=users,
            local4=f"10.{self.bits(8)}.{self.bits(8)}.{1 + self.bits(7)}"
            if self.random() < 0.7
            else f"192.168.{self.bits(8)}.{1 + self.bits(7)}",
            offset_ms=(0, -4, -5, -7, 1, 2)[int(self.random() * 6)] * 3_600_000,
            hash_kinds=kinds,
            containers=tuple(self.hex(256) for _ in range(4)) if not win else (),
            record=1 + self.bits(20),
        )

    def host(self, platform: str | None = None) -> Host:
        hosts = (
            self.hosts
            if platform is None
            else (self.win_hosts if platform == "Win" else self.lin_hosts)
        )
        return hosts[int(self.random() * len(hosts))]

    def _benign_win(self) -> Line:
        return self.win_table.draw(self.random())(self.host("Win"))

    def _benign_lin(self) -> Line:
        return self.lin_table.draw(self.random())(self.host("Lin"))

    def utc(self, ms: int) -> str:
        return self.seconds(ms, " ") + f".{ms % 1000:03d}"

    def guid(self, host: Host) -> str:
        return (
            f"{{{host.guid_prefix}-{self.bits(16):04x}-{self.bits(16):04x}-"
            f"{self.bits(16):04x}-{self.bits(48):012x}}}"
        )

    def pid(self, host: Host) -> str:
        return str(4 * (1 + self.bits(13))) if host.platform == "Win" else str(1 + self.bits(22))

    def head(self, host: Host, eid: int) -> Obj:
        """The System part of an event and its first event data (RuleName, UtcTime): a copy
        of the host's template for this event id, with the varying fields set."""
        self.clock += int(self.random() * 7)
        ms = self.clock - (self.bits(10) if self.random() < 0.05 else 0)
        host.record += 1
        style = host.style
        channel = style != "otrf" or self.random() < 0.96  # some exports lack Channel
        template = host.heads.get((eid, channel))
        if template is None:
            template = host.heads[(eid, channel)] = self._template(host, eid, channel)
        obj = template.copy()
        if style == "otrf":
            obj["@timestamp"] = self.seconds(ms + host.offset_ms, "T") + f".{ms % 1000:03d}Z"
        elif style == "linux":
            obj["TimeCreated"] = (
                self.seconds(ms, "T") + f".{ms % 1000:03d}{self.bits(10) % 1000:03d}000Z"
            )
            obj["EventRecordID"] = host.record
        else:
            obj["EventTime"] = self.seconds(ms + host.offset_ms, " ")
            obj["RecordNumber"] = host.record
            obj["ThreadID"] = 4000 + self.bits(12)
        obj["UtcTime"] = self.seconds(ms, " ") + f".{ms % 1000:03d}"
        return obj

    def seconds(self, ms: int, sep: str) -> str:
        """YYYY-MM-DD{sep}HH:MM:SS of an epoch-ms time (UTC), cached per second."""
        sec = ms // 1000
        text = self._seconds.get(sec)
        if text is None:
            if len(self._seconds) > 512:
                self._seconds.clear()
            text = self._seconds[sec] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
        return text if sep == " " else text.replace(" ", sep, 1)

    def _template(self, host: Host, eid: int, channel: bool) -> Obj:
        eid_value: int | str = str(eid) if host.eid_text else eid
        if host.style == "linux":
            obj: Obj = {
                "EventID": eid_value,
                "Version": 5 if eid == 1 else 2,
                "Level": 4,
                "Task": eid,
                "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": "",
                "EventRecordID": 0,
                "Channel": _LIN_CHANNEL,
                "Computer": host.name,
            }
        elif host.style == "nxlog":
            obj = {
                "EventTime": "",
                "Hostname": host.name,
                "Keywords": -9223372036854775808,
                "EventType": "INFO",
                "SeverityValue": 2,
                "Severity": "INFO",
                "EventID": eid_value,
                "SourceName": "Microsoft-Windows-Sysmon",
                "ProviderGuid": SYSMON_PROVIDER_GUID,
                "Version": 5,
                "Task": eid,
                "OpcodeValue": 0,
                "RecordNumber": 0,
                "ProcessID": 3340,
                "ThreadID": 0,
                "Channel": _WIN_CHANNEL,
                "Domain": "NT AUTHORITY",
                "AccountName": "SYSTEM",
                "UserID": "S-1-5-18",
                "AccountType": "User",
                "Category": _CATEGORIES.get(eid, "-"),
                "Opcode": "Info",
            }
        else:
            obj = {
                "Keywords": "0x8000000000000000",
                "Task": str(eid),
                "SourceName": "Microsoft-Windows-Sysmon",
                "Hostname": host.name,
                "@timestamp": "",
                "Level": "4",
                "EventID": eid_value,
                "ProviderGuid": SYSMON_PROVIDER_GUID,
            }
            if channel:
                obj["Channel"] = _WIN_CHANNEL
        obj["RuleName"] = "-"
        obj["UtcTime"] = ""
        return obj

    def finish(self, host: Host, obj: Obj, eid: int) -> Obj:
        if host.style == "nxlog":
            obj["EventReceivedTime"] = obj["EventTime"]
            obj["SourceModuleName"] = "eventlog"
            obj["SourceModuleType"] = "im_msvistalog"
        elif host.style == "otrf" and eid in _MESSAGE_TITLES and self.random() < 0.1:
            skip = ("Keywords", "Task", "SourceName", "Hostname", "@timestamp", "Level")
            rest = [f"{k}: {v}" for k, v in obj.items() if k not in skip]
            rest = [r for r in rest if not r.startswith(("EventID", "ProviderGuid", "Channel"))]
            obj["Message"] = "\r\n".join([_MESSAGE_TITLES[eid], *rest])
        return obj

    def port(self, host: Host, port: str | int) -> str | int:
        return int(port) if host.port_numbers else str(port)

    def hashes_of(self, host: Host, image: str) -> str:
        if not host.hash_kinds:
            return "-"
        got = self.hashes.get(image)
        if got is None:
            got = (self.hex(160), self.hex(128), self.hex(256), self.hex(128))
            if len(self.hashes) < 50_000:
                self.hashes[image] = got
        values = dict(zip(("SHA1", "MD5", "SHA256", "IMPHASH"), got, strict=True))
        return ",".join(f"{k}={values[k].upper()}" for k in host.hash_kinds)

    def user_of(self, host: Host, parent: str) -> str:
        if host.platform == "Lin":
            return self.pick(host.users)
        if parent in _SERVICE_PARENTS:
            return self.pick(_SYSTEM_USERS)
        return self.pick(host.users)

    def context_proc(self, host: Host, *, no_browser: bool = False) -> Proc:
        procs = host.procs
        if procs:
            for _ in range(4):
                p = procs[int(self.random() * len(procs))]
                if not (no_browser and p.browser):
                    return p
        user = "NT AUTHORITY\\SYSTEM" if host.platform == "Win" else "root"
        return Proc(self.guid(host), self.pid(host), self.sys_image(host), user)

    def sys_image(self, host: Host) -> str:
        return r"C:\Windows\System32\svchost.exe" if host.platform == "Win" else "/usr/sbin/sshd"

    def fill_host(self, template: str, host: Host) -> str:
        if "{" not in template:
            return template
        user = self.pick(host.users).rsplit("\\", 1)[-1]
        container = self.pick(host.containers) if host.containers else self.hex(256)
        return self.fill(template, user, container)

    # -- process creation (1) ----------------------------------------------------------------

    def process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent_image: str,
        parent_cmd: str,
        *,
        parent: Proc | None = None,
        user: str | None = None,
        original: str | None = None,
        browser: bool = False,
    ) -> Obj:
        """A process creation event; the process is remembered for later network events."""
        obj = self.head(host, 1)
        guid, pid = self.guid(host), self.pid(host)
        win = host.platform == "Win"
        base = basename(image)
        if user is None:
            user = self.user_of(host, basename(parent_image))
        obj["ProcessGuid"] = guid
        obj["ProcessId"] = pid
        obj["Image"] = image
        if win:
            info = WIN_VERSION_INFO.get(base.lower(), ("-", "-"))
            ms = image.lower().startswith("c:\\windows\\")
            obj["FileVersion"] = _MS_FILE_VERSION if ms else "-"
            obj["Description"] = info[0]
            obj["Product"] = info[1]
            obj["Company"] = "Microsoft Corporation" if ms else WIN_COMPANIES.get(base.lower(), "-")
            obj["OriginalFileName"] = original or base
        else:
            for k in ("FileVersion", "Description", "Product", "Company", "OriginalFileName"):
                obj[k] = "-"
        obj["CommandLine"] = cmd
        if win:
            obj["CurrentDirectory"] = (
                "C:\\Windows\\system32\\"
                if user.startswith("NT AUTHORITY")
                else f"C:\\Users\\{user.rsplit(chr(92), 1)[-1]}\\"
            )
        else:
            obj["CurrentDirectory"] = self.pick(("/", "/root", "/app", "/home/ubuntu", "/tmp"))
        obj["User"] = user
        obj["LogonGuid"] = f"{{{host.guid_prefix}-{self.bits(16):04x}-0000-e803-000000000000}}"
        if win:
            system = user.startswith("NT AUTHORITY")
            obj["LogonId"] = "0x3e7" if system else f"0x{self.bits(24):x}"
            obj["TerminalSessionId"] = "0" if system else str(1 + self.bits(1))
            obj["IntegrityLevel"] = (
                "System" if system else ("High" if self.random() < 0.3 else "Medium")
            )
        else:
            obj["LogonId"] = "0" if user == "root" else "1000"
            obj["TerminalSessionId"] = "4294967295" if self.random() < 0.7 else str(self.bits(5))
            obj["IntegrityLevel"] = "no level"
        obj["Hashes"] = self.hashes_of(host, image)
        if parent is None:
            obj["ParentProcessGuid"] = self.guid(host)
            obj["ParentProcessId"] = self.pid(host)
        else:
            obj["ParentProcessGuid"] = parent.guid
            obj["ParentProcessId"] = parent.pid
        obj["ParentImage"] = parent_image
        obj["ParentCommandLine"] = parent_cmd
        if not win:
            obj["ParentUser"] = "root" if "containerd" in parent_image else user
        browser = browser or fold(image).endswith(BROWSER_SUFFIXES)
        self.last_proc = Proc(guid, pid, image, user, browser)
        self.remember(host.procs, self.last_proc)
        return self.finish(host, obj, 1)

    def lin_process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent_image: str,
        *,
        parent: Proc | None = None,
        parent_cmd: str | None = None,
        browser: bool = False,
    ) -> Obj:
        if parent_cmd is None:
            parent_cmd = _lin_parent_cmd(parent_image, self.pick(host.containers))
        return self.process(
            host, image, cmd, parent_image, parent_cmd, parent=parent, browser=browser
        )

    def win_process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: str,
        *,
        original: str | None = None,
        browser: bool = False,
    ) -> Obj:
        """A Windows process of one user: {U} in the image, command line and parent is that
        user's name; services' children run as a service account."""
        parent_image, parent_cmd = WIN_PARENTS.get(
            parent, (f"C:\\Windows\\System32\\{parent}", parent)
        )
        user = self.pick(host.users)
        name = user.rsplit("\\", 1)[-1]
        account = self.pick(_SYSTEM_USERS) if parent in _SERVICE_PARENTS else user
        return self.process(
            host,
            image.replace("{U}", name),
            self.fill_host(cmd.replace("{U}", name), host),
            parent_image.replace("{U}", name),
            parent_cmd.replace("{U}", name),
            user=account,
            original=original,
            browser=browser,
        )

    def _benign_process(self, host: Host) -> Line:
        if host.platform == "Win":
            rel, cmd, parents, browser = WIN_PROCS[int(self.random() * len(WIN_PROCS))]
            obj = self.win_process(host, "C:\\" + rel, cmd, self.pick(parents), browser=browser)
            return self.emit(obj)
        table = LIN_PROCS if self.random() < 0.8 else LIN_SYSMON_PROCS
        image, cmd, parents, _ = table[int(self.random() * len(table))]
        parent = LIN_PARENT_PATHS.get(self.pick(parents), "/usr/bin/bash")
        return self.emit(self.lin_process(host, image, self.fill_host(cmd, host), parent))

    # -- network connection (3) and DNS query (22) -------------------------------------------

    def network(
        self,
        host: Host,
        proc: Proc,
        dest: str,
        port: str | int,
        *,
        initiated: bool = True,
        source: str | None = None,
        source_port: str | int | None = None,
        dest_name: str = "-",
    ) -> Obj:
        obj = self.head(host, 3)
        obj["ProcessGuid"] = proc.guid
        obj["ProcessId"] = proc.pid
        obj["Image"] = proc.image
        obj["User"] = proc.user
        udp = port in ("53", "123", "1900", "5353")
        obj["Protocol"] = "udp" if udp else "tcp"
        obj["Initiated"] = "true" if initiated else "false"
        v6 = ":" in dest
        if source is None:
            source = (
                f"fe80::{self.bits(16):x}:{self.bits(16):x}:{self.bits(16):x}:{self.bits(16):x}"
                if v6
                else host.local4
            )
        obj["SourceIsIpv6"] = "true" if ":" in source else "false"
        obj["SourceIp"] = source
        obj["SourceHostname"] = host.name if self.random() < 0.3 else "-"
        obj["SourcePort"] = self.port(host, source_port or 49152 + self.bits(14))
        obj["SourcePortName"] = "-"
        obj["DestinationIsIpv6"] = "true" if v6 else "false"
        obj["DestinationIp"] = dest
        obj["DestinationHostname"] = dest_name
        obj["DestinationPort"] = self.port(host, port) if isinstance(port, str) else port
        obj["DestinationPortName"] = {"443": "https", "80": "http", "53": "domain"}.get(
            str(port), "-"
        )
        return self.finish(host, obj, 3)

    def _benign_network(self, host: Host) -> Line:
        proc = self.context_proc(host)
        port = self.pick(WIN_PORTS if host.platform == "Win" else LIN_PORTS)
        r = self.random()
        if r < 0.08:
            dest = self.public6() if self.random() < 0.6 else self.private6()
        elif port in ("443", "80", "8443"):
            dest = self.public4()
        else:
            dest = self.private4()
        if r > 0.97:  # inbound: the destination is this host
            obj = self.network(
                host, proc, host.local4, port, initiated=False, source=self.private4()
            )
        else:
            obj = self.network(host, proc, dest, port)
        return self.emit(obj)

    def dns(self, host: Host, proc: Proc, query: str, results: str | None = None) -> Obj:
        obj = self.head(host, 22)
        obj["ProcessGuid"] = proc.guid
        obj["ProcessId"] = proc.pid
        obj["QueryName"] = query
        status = "0" if self.random() < 0.95 else "9003"
        obj["QueryStatus"] = status
        if results is None:
            results = (
                f"::ffff:{self.public4()};"
                if self.random() < 0.7
                else f"type:  5 {query.split('.', 1)[-1]}.edgekey.net;::ffff:{self.public4()};"
            )
        obj["QueryResults"] = "-" if status != "0" else results
        obj["Image"] = proc.image
        obj["User"] = proc.user
        return self.finish(host, obj, 22)

    def _benign_dns(self, host: Host) -> Line:
        domain = self.pick(DOMAINS)
        if "{N}" in domain:
            domain = domain.replace("{N}", str(self.bits(8)))
        return self.emit(self.dns(host, self.context_proc(host), domain))

    # -- event types no rule reads -----------------------------------------------------------

    def simple(self, host: Host, eid: int, proc: Proc, extra: Obj) -> Obj:
        obj = self.head(host, eid)
        obj["ProcessGuid"] = proc.guid
        obj["ProcessId"] = proc.pid
        obj["Image"] = proc.image
        obj.update(extra)
        obj["User"] = proc.user
        return self.finish(host, obj, eid)

    def _process_terminated(self, host: Host) -> Line:
        return encode(self.simple(host, 5, self.context_proc(host), {})), ()

    def _image_loaded(self, host: Host, proc: Proc | None = None, dll: str = "") -> Line:
        dll = dll or self.pick(WIN_DLLS)
        extra: Obj = {
            "ImageLoaded": dll,
            "FileVersion": _MS_FILE_VERSION,
            "Description": "-",
            "Product": "Microsoft® Windows® Operating System",
            "Company": "Microsoft Corporation",
            "OriginalFileName": basename(dll),
            "Hashes": self.hashes_of(host, dll),
            "Signed": "true",
            "Signature": "Microsoft Windows",
            "SignatureStatus": "Valid",
        }
        return encode(self.simple(host, 7, proc or self.context_proc(host), extra)), ()

    def _process_access(self, host: Host, target: Proc | None = None) -> Line:
        source = self.context_proc(host)
        target = target or self.context_proc(host)
        obj = self.head(host, 10)
        obj["SourceProcessGUID"] = source.guid
        obj["SourceProcessId"] = source.pid
        obj["SourceThreadId"] = str(self.bits(14))
        obj["SourceImage"] = source.image
        obj["TargetProcessGUID"] = target.guid
        obj["TargetProcessId"] = target.pid
        obj["TargetImage"] = target.image
        obj["GrantedAccess"] = self.pick(("0x1000", "0x1410", "0x101541", "0x1fffff"))
        obj["CallTrace"] = (
            f"C:\\Windows\\SYSTEM32\\ntdll.dll+{self.hex(20)}|"
            f"C:\\Windows\\System32\\KERNELBASE.dll+{self.hex(20)}|UNKNOWN({self.hex(64)})"
        )
        obj["SourceUser"] = source.user
        obj["TargetUser"] = target.user
        return encode(self.finish(host, obj, 10)), ()

    def _file_created(self, host: Host, proc: Proc | None = None, path: str = "") -> Line:
        if not path:
            path = self.fill_host(
                self.pick(WIN_FILES if host.platform == "Win" else LIN_FILES), host
            )
        extra: Obj = {
            "TargetFilename": path,
            "CreationUtcTime": self.utc(self.clock - self.bits(20)),
        }
        return encode(self.simple(host, 11, proc or self.context_proc(host), extra)), ()

    def _file_deleted(self, host: Host) -> Line:
        path = self.fill_host(self.pick(WIN_FILES if host.platform == "Win" else LIN_FILES), host)
        extra: Obj = {
            "TargetFilename": path,
            "Hashes": self.hashes_of(host, path),
            "IsExecutable": "false",
            "Archived": "true" if host.platform == "Win" else "false",
        }
        return encode(self.simple(host, 23, self.context_proc(host), extra)), ()

    def _registry_key(self, host: Host) -> Line:
        target, _ = WIN_REGISTRY[int(self.random() * len(WIN_REGISTRY))]
        extra: Obj = {"EventType": "CreateKey", "TargetObject": self.registry_path(target)}
        return encode(self.simple(host, 12, self.context_proc(host), extra)), ()

    def _registry_value(
        self, host: Host, target: str = "", details: str = "", proc: Proc | None = None
    ) -> Line:
        if not target:
            target, details = WIN_REGISTRY[int(self.random() * len(WIN_REGISTRY))]
        extra: Obj = {
            "EventType": "SetValue",
            "TargetObject": self.registry_path(target),
            "Details": details,
        }
        return encode(self.simple(host, 13, proc or self.context_proc(host), extra)), ()

    def registry_path(self, template: str) -> str:
        sid = f"S-1-5-21-{self.bits(30)}-{self.bits(30)}-{self.bits(30)}-{1000 + self.bits(8)}"
        return template.replace("{S}", sid).replace(
            "{I}", "\\Device\\HarddiskVolume3\\Windows\\System32\\svchost.exe"
        )

    def _service_state(self, host: Host) -> Line:
        obj = self.head(host, 4)
        obj["State"] = "Started"
        obj["Version"] = "1.3.3"
        obj["SchemaVersion"] = "4.81"
        return encode(obj), ()

    def _security_event(
        self, host: Host, kind: int = 0, cmd: str = "", dest: str = "", port: str = ""
    ) -> Line:
        """Windows Security-log events that come with Sysmon in the same export: no Sysmon
        channel, so no rule applies even to a process creation (4688) or a connection (5156)."""
        if not kind:
            kind = (4624, 4688, 5156)[int(self.random() * 3)]
        obj = self.head(host, kind)
        for k in ("Channel", "SourceName", "ProviderGuid", "RuleName", "UtcTime", "Category"):
            obj.pop(k, None)
        task = {4624: 12544, 4688: 13312, 5156: 12810}[kind]
        obj["Task"] = str(task) if host.style == "otrf" else task
        obj["SourceName"] = "Microsoft-Windows-Security-Auditing"
        obj["Channel"] = "Security"
        obj["ProviderGuid"] = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
        user = self.pick(host.users)
        if kind == 4688:
            obj["SubjectUserName"] = user.rsplit("\\", 1)[-1]
            obj["SubjectDomainName"] = "CORP"
            obj["NewProcessId"] = f"0x{self.bits(14):x}"
            obj["NewProcessName"] = (
                r"C:\Windows\System32\cmd.exe" if not cmd else r"C:\Users\Public\xmrig.exe"
            )
            obj["TokenElevationType"] = "%%1936"
            obj["CommandLine"] = cmd or "cmd.exe /c ipconfig /all"
            obj["ParentProcessName"] = r"C:\Windows\explorer.exe"
            obj["MandatoryLabel"] = "S-1-16-8192"
        elif kind == 5156:
            obj["ProcessID"] = str(4 * (1 + self.bits(13)))
            obj["Application"] = (
                "\\device\\harddiskvolume3\\users\\public\\xmrig.exe"
                if dest
                else ("\\device\\harddiskvolume3\\windows\\system32\\svchost.exe")
            )
            obj["Direction"] = "%%14593"
            obj["SourceAddress"] = host.local4
            obj["SourcePort"] = str(49152 + self.bits(14))
            obj["DestAddress"] = dest or self.public4()
            obj["DestPort"] = port or "443"
            obj["Protocol"] = "6"
            obj["LayerName"] = "%%14611"
        else:
            obj["TargetUserName"] = user.rsplit("\\", 1)[-1]
            obj["TargetDomainName"] = "CORP"
            obj["LogonType"] = self.pick(("2", "3", "10"))
            obj["IpAddress"] = self.private4()
            obj["AuthenticationPackageName"] = "Kerberos"
        return self.emit(obj)

    def benign_table(self) -> list[tuple[float, Callable[[], Line]]]:
        """The benign event makers and their weights: a Windows or a Linux host's event."""
        return [(0.6, self._benign_win), (0.4, self._benign_lin)]


class _Table:
    """A weighted choice of benign event makers."""

    def __init__(self, entries: Sequence[tuple[float, Callable[[Host], Line]]]) -> None:
        self.fns = [fn for _, fn in entries]
        self.cum: list[float] = []
        acc = 0.0
        for weight, _ in entries:
            acc += weight
            self.cum.append(acc)
        self.total = acc

    def draw(self, u: float) -> Callable[[Host], Line]:
        return self.fns[bisect(self.cum, u * self.total)]


def _lin_parent_cmd(parent_image: str, container: str) -> str:
    base = basename(parent_image)
    if base == "containerd-shim-runc-v2":
        return (
            f"{parent_image} -namespace k8s.io -id {container} "
            "-address /run/containerd/containerd.sock"
        )
    if base == "containerd-shim":
        return (
            f"containerd-shim -namespace moby -workdir /var/lib/containerd/io.containerd."
            f"runtime.v1.linux/moby/{container} -address /run/containerd/containerd.sock"
        )
    if base == "runc":
        return "runc init"
    if base == "dockerd":
        return "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"
    if base in ("bash", "dash"):
        return "-bash" if base == "bash" else "/bin/sh"
    if base == "systemd":
        return "/sbin/init"
    return parent_image
