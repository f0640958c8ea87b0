"""Windows event-log records as JSON, as EVTX converters write them, from a fleet of Windows
workstations and servers: Sysmon (1, 3, 5, 7, 10, 11, 12, 13, 22), Security (4624, 4688),
PowerShell Operational (4104) and System (7045, service installed).

Two shapes, one per host. Most hosts are exported by `evtx_dump` (the Rust `evtx` crate):
`{"Event":{"#attributes":{"xmlns":...},"System":{...},"EventData":{"Image":...}}}`, attributes
under `#attributes`, typed values (process ids, ports and logon types are numbers, Sysmon's
`Initiated` a boolean), non-ASCII text as UTF-8. One host in twenty is exported by python-evtx
and xmltodict: `"EventData":{"Data":[{"@Name":"Image","#text":...}, ...]}`, attributes as
`@Name`, every value text, `EventID` as `{"@Qualifiers":"","#text":"1"}`, and JSON from
Python's `json.dumps` (`", "` separators, non-ASCII as `\\u00e9` escapes). A few `evtx_dump`
hosts' pipelines escape non-ASCII the same way.
"""

from __future__ import annotations

import json
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, TypeVar

from retrohunt.corpus.base import Generator, Line, basename
from retrohunt.corpus.winevt_catalogue import (
    ADMIN_NAMES,
    DLLS,
    DOMAIN,
    DOMAINS,
    FILES,
    NETBIOS,
    PARENTS,
    POWERSHELL_GUID,
    PROCESSES,
    REGISTRY_KEYS,
    REGISTRY_VALUES,
    SCM_GUID,
    SCRIPTS,
    SECURITY_GUID,
    SERVICE_ACCOUNTS,
    SERVICES,
    SRV_NAMES,
    SYSMON_GUID,
    THIRD_PARTY_DLLS,
    USER_NAMES,
    VERSION_INFO,
    WS_PREFIXES,
    ProcTemplate,
)

XMLNS = "http://schemas.microsoft.com/win/2004/08/events/event"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL_CHANNEL = "Microsoft-Windows-PowerShell/Operational"
HOSTS = 200
XML_EVERY = 20  # every twentieth host is exported by python-evtx + xmltodict
ASCII_SHARE = 0.1  # of evtx_dump hosts: their pipeline escapes non-ASCII text

Data = dict[str, Any]
T = TypeVar("T")

# Providers: name, GUID, channel, keywords, level, opcode, Qualifiers of the EventID (None:
# no such attribute), EventSourceName (None: none).
_PROVIDERS: dict[str, tuple[str, str, str, str, int, int, int | None, str | None]] = {
    "sysmon": (
        "Microsoft-Windows-Sysmon", SYSMON_GUID, SYSMON_CHANNEL, "0x8000000000000000", 4, 0,
        None, None,
    ),
    "security": (
        "Microsoft-Windows-Security-Auditing", SECURITY_GUID, "Security", "0x8020000000000000",
        0, 0, None, None,
    ),
    "powershell": (
        "Microsoft-Windows-PowerShell", POWERSHELL_GUID, POWERSHELL_CHANNEL, "0x0", 5, 15, None,
        None,
    ),
    "system": (
        "Service Control Manager", SCM_GUID, "System", "0x8080000000000000", 4, 0, 16384,
        "Service Control Manager",
    ),
}  # fmt: skip
# (version, task) per (provider, event id).
_VERSION_TASK = {
    ("sysmon", 1): (5, 1), ("sysmon", 3): (5, 3), ("sysmon", 5): (3, 5), ("sysmon", 7): (3, 7),
    ("sysmon", 10): (3, 10), ("sysmon", 11): (2, 11), ("sysmon", 12): (2, 12),
    ("sysmon", 13): (2, 13), ("sysmon", 22): (5, 22), ("security", 4624): (2, 12544),
    ("security", 4688): (2, 13312), ("powershell", 4104): (1, 2), ("system", 7045): (0, 0),
}  # fmt: skip
_SYSTEM = "NT AUTHORITY\\SYSTEM"
_SERVICES = ("NT AUTHORITY\\LOCAL SERVICE", "NT AUTHORITY\\NETWORK SERVICE")
_SERVICE_LOGON = {_SYSTEM: "0x3e7", _SERVICES[0]: "0x3e5", _SERVICES[1]: "0x3e4"}
_SERVICE_SID = {_SYSTEM: "S-1-5-18", _SERVICES[0]: "S-1-5-19", _SERVICES[1]: "S-1-5-20"}
_LABELS = {"Low": "S-1-16-4096", "Medium": "S-1-16-8192", "High": "S-1-16-12288"}
_WINVER = "10.0.19041.4717 (WinBuild.160101.0800)"
_MS_PRODUCT = "Microsoft® Windows® Operating System"
_NULL_GUID = "{00000000-0000-0000-0000-000000000000}"
_POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
_SYSTEM_PARENTS = frozenset((
    "services.exe", "svchost.exe", "svchost-schedule", "winlogon.exe", "WmiPrvSE.exe",
    "CcmExec.exe", "MsMpEng.exe", "TiWorker.exe", "SearchIndexer.exe", "AgentExecutor.exe",
    "sqlservr.exe",
))  # fmt: skip
_NETWORKED = frozenset((
    "chrome.exe", "msedge.exe", "msedgewebview2.exe", "firefox.exe", "ms-teams.exe",
    "onedrive.exe", "svchost.exe", "googleupdate.exe", "microsoftedgeupdate.exe", "git.exe",
    "code.exe", "mpcmdrun.exe", "msmpeng.exe", "w3wp.exe", "sqlservr.exe",
))  # fmt: skip

_EVTX_ENCODE = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode
_ASCII_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_XML_ENCODE = json.JSONEncoder(check_circular=False).encode  # json.dumps' defaults


@dataclass(slots=True)
class Account:
    """Who runs a process: `DOMAIN\\name` as Sysmon writes it, the profile folder, the SID,
    the logon session and its integrity level."""

    user: str
    profile: str
    sid: str
    logon_id: str
    logon_guid: str
    integrity: str
    session: int
    admin: bool = False

    @property
    def name(self) -> str:
        return self.user.rsplit("\\", 1)[-1]

    @property
    def domain(self) -> str:
        return self.user.rsplit("\\", 1)[0]


@dataclass(slots=True)
class Proc:
    """A running process: what later events (network, image load, access) refer to."""

    guid: str
    pid: int
    image: str
    cmd: str
    account: Account


@dataclass(slots=True)
class Host:
    name: str
    role: str  # ws or srv
    xml: bool  # python-evtx + xmltodict shape
    ascii: bool  # non-ASCII escaped (\\u00e9)
    machine: str  # the first part of the host's Sysmon GUIDs
    local4: str
    domain_sid: str
    accounts: list[Account]
    system: Account
    services: tuple[Account, Account]
    sysmon_pid: int
    lsass_pid: int
    services_pid: int
    table: _Table
    records: dict[str, int] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    parents: dict[tuple[str, str], Proc] = field(default_factory=dict)
    heads: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)


class _Table:
    """A weighted choice of process templates."""

    def __init__(self, entries: Sequence[ProcTemplate]) -> None:
        self.items = list(entries)
        self.cum: list[float] = []
        acc = 0.0
        for entry in entries:
            acc += entry.weight
            self.cum.append(acc)
        self.total = acc

    def draw(self, u: float) -> ProcTemplate:
        return self.items[bisect(self.cum, u * self.total)]


class WinEvtEvents(Generator):
    """Benign Windows events of a fleet; subclasses add the scenarios."""

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        super().__init__(seed, malicious_rate)
        ws = [t for t in PROCESSES if t.role in ("ws", "any") and t.weight > 0]
        srv = [t for t in PROCESSES if t.role in ("srv", "any") and t.weight > 0]
        self.ws_table, self.srv_table = _Table(ws), _Table(srv)
        self.hosts = [self._new_host(i) for i in range(HOSTS)]
        self.hashes: dict[str, str] = {}
        self._seconds: dict[int, str] = {}
        self.last_proc: Proc | None = None
        entries: list[tuple[float, Callable[[Host], str]]] = [
            (0.55, self._benign_process),
            (0.08, self._benign_network),
            (0.05, self._process_terminated),
            (0.07, self._image_loaded),
            (0.03, self._process_access),
            (0.05, self._file_created),
            (0.015, self._registry_key),
            (0.035, self._registry_value),
            (0.04, self._benign_dns),
            (0.025, self._logon),
            (0.038, self._benign_security_process),
            (0.015, self._benign_script_block),
            (0.002, self._benign_service),
        ]
        self.event_fns = [fn for _, fn in entries]
        self.event_cum: list[float] = []
        acc = 0.0
        for weight, _ in entries:
            acc += weight
            self.event_cum.append(acc)
        self.event_total = acc

    # -- hosts -------------------------------------------------------------------------------

    def _new_host(self, index: int) -> Host:
        server = self.random() < 0.2
        if server:
            short = f"{self.pick(SRV_NAMES)}-{self.bits(8):02X}"
        else:
            short = f"{self.pick(WS_PREFIXES)}-{self.bits(14):04d}"
        xml = index % XML_EVERY == XML_EVERY - 1
        domain_sid = f"S-1-5-21-{1_000_000_000 + self.bits(30)}-{self.bits(31)}-{self.bits(31)}"
        machine = self.hex(64)  # the host's part and its boot's of every Sysmon GUID
        names: list[str] = []
        if server:
            names = [self.pick(ADMIN_NAMES), self.pick(SERVICE_ACCOUNTS)]
        else:
            names = [self.pick(USER_NAMES) for _ in range(1 + self.bits(1))]
            if self.random() < 0.3:
                names.append(self.pick(ADMIN_NAMES))
        accounts = [self._account(machine, domain_sid, name, i) for i, name in enumerate(names)]
        system = Account(
            _SYSTEM, "", "S-1-5-18", "0x3e7", self._logon_guid(machine, 999), "System", 0
        )
        local = self._logon_guid(machine, 997)
        network = self._logon_guid(machine, 996)
        services = (
            Account(_SERVICES[0], "", "S-1-5-19", "0x3e5", local, "System", 0),
            Account(_SERVICES[1], "", "S-1-5-20", "0x3e4", network, "System", 0),
        )
        return Host(
            name=f"{short}.{DOMAIN}",
            role="srv" if server else "ws",
            xml=xml,
            ascii=not xml and self.random() < ASCII_SHARE,
            machine=machine,
            local4=f"10.{20 + self.bits(3)}.{self.bits(8)}.{2 + self.bits(7)}",
            domain_sid=domain_sid,
            accounts=accounts,
            system=system,
            services=services,
            sysmon_pid=4 * (300 + self.bits(9)),
            lsass_pid=4 * (150 + self.bits(6)),
            services_pid=4 * (140 + self.bits(6)),
            table=self.srv_table if server else self.ws_table,
            records={
                "sysmon": 1 + self.bits(22),
                "security": 1 + self.bits(24),
                "powershell": 1 + self.bits(16),
                "system": 1 + self.bits(14),
            },
        )

    def _account(self, machine: str, domain_sid: str, name: str, index: int) -> Account:
        admin = name in ADMIN_NAMES or name in SERVICE_ACCOUNTS
        logon = 0x10000 + self.bits(22)
        return Account(
            user=f"{NETBIOS}\\{name}",
            profile=name,
            sid=f"{domain_sid}-{1100 + self.bits(12)}",
            logon_id=f"0x{logon:x}",
            logon_guid=self._logon_guid(machine, logon),
            integrity="Medium",  # elevated (High) per process, see `_benign_process`
            session=0 if name in SERVICE_ACCOUNTS else 1 + index,
            admin=admin,
        )

    @staticmethod
    def _logon_guid(machine: str, logon: int) -> str:
        """Sysmon's logon GUID: the machine's part, the boot's, the logon id's bytes."""
        le = logon.to_bytes(6, "little").hex()
        return f"{{{machine[:8]}-{machine[8:12]}-{machine[12:16]}-{le[:4]}-{le[4:]}0000}}"

    def host(self, role: str | None = None) -> Host:
        while True:
            host = self.hosts[int(self.random() * len(self.hosts))]
            if role is None or host.role == role:
                return host

    def user_of(self, host: Host) -> Account:
        return host.accounts[int(self.random() * len(host.accounts))]

    def account(self, host: Host, kind: str) -> Account:
        if kind == "system":
            return host.system
        if kind == "service":
            return host.services[self.bits(1)]
        if kind == "admin":
            admins = [a for a in host.accounts if a.admin]
            if admins:
                return admins[int(self.random() * len(admins))]
        return self.user_of(host)

    # -- values ------------------------------------------------------------------------------

    def guid(self, host: Host) -> str:
        m = host.machine
        return f"{{{m[:8]}-{m[8:12]}-{m[12:16]}-{self.bits(16):04x}-{self.bits(48):012x}}}"

    def upper_guid(self) -> str:
        h = f"{self.bits(128):032X}"
        return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"

    def choose(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def pid(self) -> int:
        return 4 * (1 + self.bits(13))

    def fill_in(self, template: str, host: Host, account: Account | None = None) -> str:
        """Fills a catalogue template (see winevt_catalogue)."""
        if "{" not in template:
            return template
        out = template
        if "{U}" in out:
            profile = (
                account if account is not None and account.profile else self.user_of(host)
            ).profile
            out = out.replace("{U}", profile)
        if "{N}" in out:
            out = out.replace("{N}", str(1 + self.bits(8) % 254))
        if "{X}" in out:
            out = out.replace("{X}", self.hex(32))
        if "{G}" in out:
            out = out.replace("{G}", self.upper_guid())
        if "{P}" in out:
            out = out.replace("{P}", str(self.pid()))
        if "{H}" in out:
            out = out.replace("{H}", host.name.split(".", 1)[0])
        if "{D}" in out:
            out = out.replace("{D}", DOMAIN)
        return out

    def hashes_of(self, image: str) -> str:
        got = self.hashes.get(image)
        if got is None:
            got = (
                f"SHA1={self.bits(160):040X},MD5={self.bits(128):032X},"
                f"SHA256={self.bits(256):064X},IMPHASH={self.bits(128):032X}"
            )
            if len(self.hashes) < 50_000:
                self.hashes[image] = got
        return got

    def seconds(self, ms: int) -> str:
        """YYYY-MM-DDTHH:MM:SS of an epoch-ms time (UTC), cached per second."""
        sec = ms // 1000
        text = self._seconds.get(sec)
        if text is None:
            if len(self._seconds) > 512:
                self._seconds.clear()
            text = self._seconds[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return text

    def tick(self) -> int:
        self.clock += int(self.random() * 7)
        return self.clock

    def utc(self, ms: int) -> str:
        """Sysmon's UtcTime: milliseconds, a space between date and time."""
        return f"{self.seconds(ms).replace('T', ' ')}.{ms % 1000:03d}"

    def public4(self) -> str:
        b = self.bits(32)
        first = (13, 20, 23, 34, 40, 52, 104, 142, 151, 172, 185, 204)[b % 12]
        return f"{first}.{(b >> 8) & 255}.{(b >> 16) & 255}.{1 + (b >> 24) % 254}"

    # -- rendering ---------------------------------------------------------------------------

    def render(
        self,
        host: Host,
        provider: str,
        eid: int,
        data: Data,
        *,
        ms: int | None = None,
        user_sid: str | None = "S-1-5-18",
        pid: int | None = None,
        activity: str | None = None,
    ) -> str:
        """One event as a JSON line in the host's shape."""
        if ms is None:
            ms = self.tick()
        record = host.records[provider] = host.records[provider] + 1
        stamp = f"{self.seconds(ms)}.{ms % 1000:03d}{self.bits(10) % 1000:03d}"
        if pid is None:
            pid = {"sysmon": host.sysmon_pid, "security": host.lsass_pid}.get(
                provider, host.services_pid
            )
        tid = 4 * (1 + self.bits(12))
        if host.xml:
            return self._render_xml(
                host, provider, eid, data, stamp, record, pid, tid, user_sid, activity
            )
        head = host.heads.get((provider, eid))
        if head is None:
            head = host.heads[(provider, eid)] = self._head(host, provider, eid)
        security = "null" if user_sid is None else f'{{"#attributes":{{"UserID":"{user_sid}"}}}}'
        correlation = (
            "null" if activity is None else f'{{"#attributes":{{"ActivityID":"{activity}"}}}}'
        )
        encode = _ASCII_ENCODE if host.ascii else _EVTX_ENCODE
        return (
            f'{head[0]}{stamp}Z"}}}},"EventRecordID":{record},"Correlation":{correlation},'
            f'"Execution":{{"#attributes":{{"ProcessID":{pid},"ThreadID":{tid}}}}},{head[1]}'
            f'"Security":{security}}},"EventData":{encode(data)}}}}}'
        )

    def _head(self, host: Host, provider: str, eid: int) -> tuple[str, str]:
        name, guid, channel, keywords, level, opcode, qualifiers, source = _PROVIDERS[provider]
        version, task = _VERSION_TASK[(provider, eid)]
        attributes = {"Name": name, "Guid": guid}
        if source is not None:
            attributes["EventSourceName"] = source
        event_id: object = eid
        if qualifiers is not None:
            event_id = {"#attributes": {"Qualifiers": qualifiers}, "#text": eid}
        first = (
            f'{{"Event":{{"#attributes":{{"xmlns":"{XMLNS}"}},"System":{{"Provider":'
            f'{{"#attributes":{_EVTX_ENCODE(attributes)}}},"EventID":{_EVTX_ENCODE(event_id)},'
            f'"Version":{version},"Level":{level},"Task":{task},"Opcode":{opcode},'
            f'"Keywords":"{keywords}","TimeCreated":{{"#attributes":{{"SystemTime":"'
        )
        second = f'"Channel":"{channel}","Computer":{_EVTX_ENCODE(host.name)},'
        return first, second

    def _render_xml(
        self,
        host: Host,
        provider: str,
        eid: int,
        data: Data,
        stamp: str,
        record: int,
        pid: int,
        tid: int,
        user_sid: str | None,
        activity: str | None,
    ) -> str:
        name, guid, channel, keywords, level, opcode, qualifiers, source = _PROVIDERS[provider]
        version, task = _VERSION_TASK[(provider, eid)]
        provider_obj = {"@Name": name, "@Guid": guid}
        if source is not None:
            provider_obj["@EventSourceName"] = source
        items: list[dict[str, str]] = []
        for key, value in data.items():
            if value is None or value == "":
                items.append({"@Name": key})
            else:
                items.append({"@Name": key, "#text": _text(value)})
        event = {
            "Event": {
                "@xmlns": XMLNS,
                "System": {
                    "Provider": provider_obj,
                    "EventID": {
                        "@Qualifiers": "" if qualifiers is None else str(qualifiers),
                        "#text": str(eid),
                    },
                    "Version": str(version),
                    "Level": str(level),
                    "Task": str(task),
                    "Opcode": str(opcode),
                    "Keywords": keywords,
                    "TimeCreated": {"@SystemTime": stamp.replace("T", " ")},
                    "EventRecordID": str(record),
                    "Correlation": None if activity is None else {"@ActivityID": activity},
                    "Execution": {"@ProcessID": str(pid), "@ThreadID": str(tid)},
                    "Channel": channel,
                    "Computer": host.name,
                    "Security": None if user_sid is None else {"@UserID": user_sid},
                },
                "EventData": {"Data": items},
            }
        }
        return _XML_ENCODE(event)

    def trap(self, line: str, value: str) -> str:
        """Writes one character of `value` (a string value in the line) as a `\\uXXXX`
        escape, or its slashes as `\\/`: the JSON differs, the decoded value does not."""
        if not value:
            return line
        for encode in (_EVTX_ENCODE, _ASCII_ENCODE):
            enc = encode(value)
            if enc in line:
                break
        else:
            return line
        if "/" in value and self.random() < 0.25:
            new = enc.replace("/", "\\/")
        else:
            i = int(self.random() * len(value))
            if ord(value[i]) > 0xFFFF:
                return line
            esc = f"\\u{ord(value[i]):04x}"
            if self.random() < 0.3:
                esc = "\\u" + esc[2:].upper()
            new = encode(value[:i])[:-1] + esc + encode(value[i + 1 :])[1:]
        return line.replace(enc, new, 1)

    # -- processes ---------------------------------------------------------------------------

    def parent_proc(self, host: Host, key: str, account: Account) -> Proc:
        """The running process of a parent name (made up, once, when not seen yet)."""
        owner = host.system if key in _SYSTEM_PARENTS else account
        if key == "w3wp.exe":
            owner = host.services[1]
        found = host.parents.get((key, owner.user))
        if found is None:
            image, cmd = PARENTS.get(key, (f"C:\\Windows\\System32\\{key}", key))
            found = Proc(
                self.guid(host),
                self.pid(),
                self.fill_in(image, host, owner),
                self.fill_in(cmd, host, owner),
                owner,
            )
            host.parents[(key, owner.user)] = found
        return found

    def sysmon_head(self, proc: Proc, ms: int) -> Data:
        """The fields every Sysmon event about a process starts with."""
        return {
            "RuleName": "-",
            "UtcTime": self.utc(ms),
            "ProcessGuid": proc.guid,
            "ProcessId": proc.pid,
        }

    def process_data(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: Proc,
        account: Account,
        *,
        original: str | None = None,
        cwd: str | None = None,
        hashes: str | None = None,
        integrity: str | None = None,
        ms: int,
    ) -> tuple[Data, Proc]:
        """Sysmon 1's event data, and the new process (remembered for later events)."""
        proc = Proc(self.guid(host), self.pid(), image, cmd, account)
        base = basename(image)
        info = VERSION_INFO.get(base.lower())
        if info is None:
            info = ("-", "-", "-", "-", "-")
        if cwd is None:
            cwd = (
                "C:\\Windows\\system32\\"
                if not account.profile
                else f"C:\\Users\\{account.profile}\\"
            )
        data: Data = {
            **self.sysmon_head(proc, ms),
            "Image": image,
            "FileVersion": info[0],
            "Description": info[1],
            "Product": info[2],
            "Company": info[3],
            "OriginalFileName": original if original is not None else info[4],
            "CommandLine": cmd,
            "CurrentDirectory": cwd,
            "User": account.user,
            "LogonGuid": account.logon_guid,
            "LogonId": account.logon_id,
            "TerminalSessionId": account.session,
            "IntegrityLevel": integrity or account.integrity,
            "Hashes": hashes or self.hashes_of(image),
            "ParentProcessGuid": parent.guid,
            "ParentProcessId": parent.pid,
            "ParentImage": parent.image,
            "ParentCommandLine": parent.cmd,
            "ParentUser": parent.account.user,
        }
        self.last_proc = proc
        self.remember(host.procs, proc, keep=64)
        return data, proc

    def sysmon_process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: Proc,
        account: Account,
        **extra: Any,
    ) -> str:
        ms = self.tick()
        data, _ = self.process_data(host, image, cmd, parent, account, ms=ms, **extra)
        return self.render(host, "sysmon", 1, data, ms=ms)

    def security_process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: Proc,
        account: Account,
        integrity: str | None = None,
    ) -> str:
        """Security 4688: the same process creation as the Security log records it."""
        proc = Proc(self.guid(host), self.pid(), image, cmd, account)
        self.last_proc = proc
        subject = account
        if not account.profile:  # a service account: the machine account is the subject
            name, domain = host.name.split(".", 1)[0].upper() + "$", NETBIOS
        else:
            name, domain = account.name, account.domain
        integrity = integrity or account.integrity
        data: Data = {
            "SubjectUserSid": subject.sid,
            "SubjectUserName": name,
            "SubjectDomainName": domain,
            "SubjectLogonId": subject.logon_id,
            "NewProcessId": f"0x{proc.pid:x}",
            "NewProcessName": image,
            "TokenElevationType": "%%1937" if integrity == "High" else "%%1936",
            "ProcessId": f"0x{parent.pid:x}",
            "CommandLine": cmd,
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": "-",
            "TargetDomainName": "-",
            "TargetLogonId": "0x0",
            "ParentProcessName": parent.image,
            "MandatoryLabel": _LABELS.get(integrity, "S-1-16-16384"),
        }
        return self.render(host, "security", 4688, data, user_sid=None)

    def _draw_process(self, host: Host) -> tuple[str, str, Proc, Account, str | None]:
        """A benign process: image, command line, parent, account and, when elevated, its
        integrity level (administrators' consoles and tools now and then; never a console
        host, whose integrity is its shell's)."""
        template = host.table.draw(self.random())
        account = self.account(host, template.account)
        parent = self.parent_proc(host, self.pick(template.parents), account)
        image = self.fill_in(template.image, host, account)
        cmd = self.fill_in(self.pick(template.cmds), host, account)
        elevated = template.account == "admin" or self.random() < (0.2 if account.admin else 0.02)
        integrity = "High" if elevated and not image.endswith("conhost.exe") else None
        return image, cmd, parent, account, integrity

    def _benign_process(self, host: Host) -> str:
        image, cmd, parent, account, integrity = self._draw_process(host)
        line = self.sysmon_process(host, image, cmd, parent, account, integrity=integrity)
        if self.random() < 0.005:  # a benign line with an escape, now and then
            line = self.trap(line, cmd)
        return line

    def _benign_security_process(self, host: Host) -> str:
        image, cmd, parent, account, integrity = self._draw_process(host)
        return self.security_process(host, image, cmd, parent, account, integrity)

    def context_proc(self, host: Host) -> Proc:
        procs = host.procs
        if procs:
            return procs[int(self.random() * len(procs))]
        return self.parent_proc(host, "svchost.exe", host.system)

    # -- other Sysmon events -----------------------------------------------------------------

    def network_data(
        self,
        proc: Proc,
        dest: str,
        port: int,
        *,
        host: Host,
        name: str = "-",
        initiated: bool = True,
        ms: int,
    ) -> Data:
        v6 = ":" in dest
        source = (
            host.local4
            if not v6
            else f"fe80::{self.bits(16):x}:{self.bits(16):x}:{self.bits(16):x}:{self.bits(16):x}"
        )
        return {
            **self.sysmon_head(proc, ms),
            "Image": proc.image,
            "User": proc.account.user,
            "Protocol": "udp" if port in (53, 123, 5353) else "tcp",
            "Initiated": initiated,
            "SourceIsIpv6": v6,
            "SourceIp": source,
            "SourceHostname": host.name if self.random() < 0.5 else "-",
            "SourcePort": 49152 + self.bits(14),
            "SourcePortName": "-",
            "DestinationIsIpv6": v6,
            "DestinationIp": dest,
            "DestinationHostname": name,
            "DestinationPort": port,
            "DestinationPortName": {443: "https", 80: "http", 53: "domain", 445: "microsoft-ds",
                                    389: "ldap", 88: "kerberos", 135: "epmap"}.get(port, "-"),
        }  # fmt: skip

    def network(self, host: Host, proc: Proc, dest: str, port: int, name: str = "-") -> str:
        ms = self.tick()
        return self.render(
            host,
            "sysmon",
            3,
            self.network_data(proc, dest, port, host=host, name=name, ms=ms),
            ms=ms,
        )

    def _benign_network(self, host: Host) -> str:
        """Browsers, Teams, OneDrive and services reach the internet; services and the
        domain's authentication (lsass) reach the domain controllers and file servers."""
        proc = self.context_proc(host)
        if basename(proc.image).lower() not in _NETWORKED:
            proc = self.parent_proc(host, "svchost.exe", host.system)
        r = self.random()
        if r < 0.75:
            port = 443 if self.random() < 0.9 else 80
            dest, name = self.public4(), "-"
            if self.random() < 0.3:
                name = self.fill_in(self.pick(DOMAINS), host)
        elif r < 0.9:
            proc = self.lsass(host)
            port = self.choose((88, 389, 389, 636))
            dest, name = f"10.20.0.{10 + self.bits(3)}", f"dc0{1 + self.bits(1)}.{DOMAIN}"
        else:
            port = self.choose((445, 135, 443, 53))
            dest, name = f"10.20.0.{10 + self.bits(3)}", f"fs0{1 + self.bits(1)}.{DOMAIN}"
        return self.network(host, proc, dest, port, name)

    def dns(self, host: Host, proc: Proc, query: str, results: str | None = None) -> str:
        ms = self.tick()
        if results is None:
            results = (
                f"::ffff:{self.public4()};"
                if self.random() < 0.7
                else f"type:  5 {query.split('.', 1)[-1]}.edgekey.net;::ffff:{self.public4()};"
            )
        data: Data = {
            **self.sysmon_head(proc, ms),
            "QueryName": query,
            "QueryStatus": "0",
            "QueryResults": results,
            "Image": proc.image,
            "User": proc.account.user,
        }
        return self.render(host, "sysmon", 22, data, ms=ms)

    def _benign_dns(self, host: Host) -> str:
        return self.dns(host, self.context_proc(host), self.fill_in(self.pick(DOMAINS), host))

    def _process_terminated(self, host: Host) -> str:
        proc = self.context_proc(host)
        ms = self.tick()
        data: Data = {
            **self.sysmon_head(proc, ms),
            "Image": proc.image,
            "User": proc.account.user,
        }
        return self.render(host, "sysmon", 5, data, ms=ms)

    def image_load(
        self,
        host: Host,
        proc: Proc,
        dll: str,
        *,
        signed: bool = True,
        company: str = "Microsoft Corporation",
    ) -> str:
        ms = self.tick()
        info = VERSION_INFO.get(basename(dll).lower())
        signature = "-"
        if signed:
            signature = "Microsoft Windows" if company.startswith("Microsoft") else company
        data: Data = {
            **self.sysmon_head(proc, ms),
            "Image": proc.image,
            "ImageLoaded": dll,
            "FileVersion": info[0] if info else (_WINVER if signed else "-"),
            "Description": info[1] if info else "-",
            "Product": info[2] if info else (_MS_PRODUCT if signed else "-"),
            "Company": company if signed else "-",
            "OriginalFileName": basename(dll) if signed else "-",
            "Hashes": self.hashes_of(dll),
            "Signed": "true" if signed else "false",
            "Signature": signature,
            "SignatureStatus": "Valid" if signed else "Unavailable",
            "User": proc.account.user,
        }  # fmt: skip
        return self.render(host, "sysmon", 7, data, ms=ms)

    def _image_loaded(self, host: Host) -> str:
        proc = self.context_proc(host)
        if self.random() < 0.1:
            dll, company = THIRD_PARTY_DLLS[int(self.random() * len(THIRD_PARTY_DLLS))]
            return self.image_load(host, proc, dll, company=company)
        return self.image_load(host, proc, self.pick(DLLS))

    def process_access(
        self, host: Host, source: Proc, target: Proc, access: str, trace: str | None = None
    ) -> str:
        ms = self.tick()
        if trace is None:
            trace = (
                f"C:\\Windows\\SYSTEM32\\ntdll.dll+{self.hex(20)}|"
                f"C:\\Windows\\System32\\KERNELBASE.dll+{self.hex(16)}|"
                f"{source.image}+{self.hex(16)}"
            )
        data: Data = {
            "RuleName": "-",
            "UtcTime": self.utc(ms),
            "SourceProcessGUID": source.guid,
            "SourceProcessId": source.pid,
            "SourceThreadId": 4 * (1 + self.bits(12)),
            "SourceImage": source.image,
            "TargetProcessGUID": target.guid,
            "TargetProcessId": target.pid,
            "TargetImage": target.image,
            "GrantedAccess": access,
            "CallTrace": trace,
            "SourceUser": source.account.user,
            "TargetUser": target.account.user,
        }
        return self.render(host, "sysmon", 10, data, ms=ms)

    def lsass(self, host: Host) -> Proc:
        found = host.parents.get(("lsass.exe", _SYSTEM))
        if found is None:
            found = Proc(
                self.guid(host), host.lsass_pid, r"C:\Windows\system32\lsass.exe",
                r"C:\Windows\system32\lsass.exe", host.system,
            )  # fmt: skip
            host.parents[("lsass.exe", _SYSTEM)] = found
        return found

    def _process_access(self, host: Host) -> str:
        r = self.random()
        if r < 0.4:  # Defender and the OS read process memory all day
            source = self.parent_proc(host, "MsMpEng.exe", host.system)
            target = self.context_proc(host)
            access = self.pick(("0x1000", "0x101000", "0x1410", "0x1000"))
        elif r < 0.6:
            source = self.parent_proc(host, "svchost.exe", host.system)
            target = self.lsass(host)
            access = "0x1000"
        else:
            source, target = self.context_proc(host), self.context_proc(host)
            access = self.pick(("0x1000", "0x2000", "0x1400", "0x40"))
        return self.process_access(host, source, target, access)

    def file_create(self, host: Host, proc: Proc, path: str) -> str:
        ms = self.tick()
        data: Data = {
            **self.sysmon_head(proc, ms),
            "Image": proc.image,
            "TargetFilename": path,
            "CreationUtcTime": self.utc(ms - self.bits(16)),
            "User": proc.account.user,
        }
        return self.render(host, "sysmon", 11, data, ms=ms)

    def _file_created(self, host: Host) -> str:
        proc = self.context_proc(host)
        return self.file_create(host, proc, self.fill_in(self.pick(FILES), host, proc.account))

    def registry_path(self, host: Host, template: str, account: Account | None = None) -> str:
        account = account or self.user_of(host)
        return self.fill_in(template.replace("{S}", account.sid), host, account)

    def registry(
        self,
        host: Host,
        proc: Proc,
        target: str,
        details: str | None = None,
        kind: str = "SetValue",
    ) -> str:
        ms = self.tick()
        data: Data = {
            "RuleName": "-",
            "EventType": kind,
            "UtcTime": self.utc(ms),
            "ProcessGuid": proc.guid,
            "ProcessId": proc.pid,
            "Image": proc.image,
            "TargetObject": target,
        }
        if details is not None:
            data["Details"] = details
        data["User"] = proc.account.user
        return self.render(host, "sysmon", 13 if kind == "SetValue" else 12, data, ms=ms)

    def _registry_key(self, host: Host) -> str:
        proc = self.context_proc(host)
        target = self.registry_path(
            host, self.pick(REGISTRY_KEYS), proc.account if proc.account.profile else None
        )
        return self.registry(
            host, proc, target, kind="CreateKey" if self.random() < 0.8 else "DeleteKey"
        )

    def _registry_value(self, host: Host) -> str:
        proc = self.context_proc(host)
        if self.random() < 0.02:  # an application registers itself to start at logon
            account = self.user_of(host)
            image = (
                f"C:\\Users\\{account.profile}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe"
            )
            proc = Proc(self.guid(host), self.pid(), image, image, account)
            target = (
                f"HKU\\{account.sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDrive"
            )
            return self.registry(host, proc, target, f'"{image}" /background')
        target, details = REGISTRY_VALUES[int(self.random() * len(REGISTRY_VALUES))]
        owner = proc.account if proc.account.profile else None
        return self.registry(
            host,
            proc,
            self.registry_path(host, target, owner),
            self.fill_in(details, host, owner),
        )

    # -- Security, PowerShell and System events ----------------------------------------------

    def logon(
        self, host: Host, account: Account, logon_type: int, source_ip: str, workstation: str
    ) -> str:
        data: Data = {
            "SubjectUserSid": "S-1-5-18" if logon_type != 3 else "S-1-0-0",
            "SubjectUserName": host.name.split(".", 1)[0].upper() + "$" if logon_type != 3 else "-",
            "SubjectDomainName": NETBIOS if logon_type != 3 else "-",
            "SubjectLogonId": "0x3e7" if logon_type != 3 else "0x0",
            "TargetUserSid": account.sid,
            "TargetUserName": account.name,
            "TargetDomainName": account.domain if account.profile else "NT AUTHORITY",
            "TargetLogonId": f"0x{0x10000 + self.bits(24):x}",
            "LogonType": logon_type,
            "LogonProcessName": {3: "Kerberos", 5: "Advapi  "}.get(logon_type, "User32 "),
            "AuthenticationPackageName": "Kerberos" if logon_type in (3, 2, 10) else "Negotiate",
            "WorkstationName": workstation,
            "LogonGuid": self.upper_guid() if logon_type == 3 else _NULL_GUID,
            "TransmittedServices": "-",
            "LmPackageName": "-",
            "KeyLength": 0,
            "ProcessId": "0x0" if logon_type == 3 else f"0x{host.services_pid:x}",
            "ProcessName": "-" if logon_type == 3 else r"C:\Windows\System32\services.exe",
            "IpAddress": source_ip,
            "IpPort": str(49152 + self.bits(14)) if source_ip not in ("-", "127.0.0.1") else "0",
            "ImpersonationLevel": "%%1833",
            "RestrictedAdminMode": "-",
            "TargetOutboundUserName": "-",
            "TargetOutboundDomainName": "-",
            "VirtualAccount": "%%1843",
            "TargetLinkedLogonId": "0x0",
            "ElevatedToken": "%%1842" if account.admin or not account.profile else "%%1843",
        }  # fmt: skip
        return self.render(host, "security", 4624, data, user_sid=None)

    def _logon(self, host: Host) -> str:
        r = self.random()
        if r < 0.6:
            other = self.host()
            account = self.user_of(other)
            return self.logon(host, account, 3, other.local4, "-")
        if r < 0.85:
            return self.logon(host, host.system, 5, "-", "-")
        account = self.user_of(host)
        kind = 2 if host.role == "ws" else 10
        return self.logon(
            host,
            account,
            kind,
            "127.0.0.1" if kind == 2 else f"10.30.{self.bits(8)}.{self.bits(8)}",
            host.name.split(".", 1)[0],
        )

    def script_block(self, host: Host, proc: Proc, text: str, path: str = "") -> str:
        data: Data = {
            "MessageNumber": 1,
            "MessageTotal": 1,
            "ScriptBlockText": text,
            "ScriptBlockId": self.upper_guid()[1:-1].lower(),
            "Path": path,
        }
        return self.render(
            host, "powershell", 4104, data, user_sid=proc.account.sid, pid=proc.pid,
            activity=self.upper_guid(),
        )  # fmt: skip

    def powershell_proc(self, host: Host, account: Account) -> Proc:
        for proc in host.procs:
            if proc.image.lower().endswith("powershell.exe") and proc.account is account:
                return proc
        return Proc(
            self.guid(host), self.pid(), _POWERSHELL, "powershell.exe", account,
        )  # fmt: skip

    def _benign_script_block(self, host: Host) -> str:
        account = self.account(host, "user" if self.random() < 0.5 else "system")
        proc = self.powershell_proc(host, account)
        text = self.fill_in(self.pick(SCRIPTS), host, account)
        path = ""
        if self.random() < 0.3:
            path = self.fill_in(
                r"C:\Program Files (x86)\Microsoft Intune Management Extension\Policies"
                r"\Scripts\{G}_1.ps1",
                host,
            )
        return self.script_block(host, proc, text, path)

    def service(
        self, host: Host, name: str, path: str, kind: str, start: str, account: str, sid: str
    ) -> str:
        data: Data = {
            "ServiceName": name,
            "ImagePath": path,
            "ServiceType": kind,
            "StartType": start,
            "AccountName": account,
        }
        return self.render(host, "system", 7045, data, user_sid=sid)

    def _benign_service(self, host: Host) -> str:
        name, path, kind, start, account = SERVICES[int(self.random() * len(SERVICES))]
        return self.service(
            host, name, self.fill_in(path, host), kind, start, account, self.user_of(host).sid
        )

    # -- the benign stream -------------------------------------------------------------------

    def benign(self) -> Line:
        host = self.hosts[int(self.random() * len(self.hosts))]
        fn = self.event_fns[bisect(self.event_cum, self.random() * self.event_total)]
        return fn(host), ()


def _text(value: Any) -> str:
    """A value as python-evtx writes it: everything is text."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def escaped(value: str) -> str:
    """A value as JSON text (for tests and scenarios)."""
    return encode_basestring(value)
