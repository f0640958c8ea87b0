"""CrowdStrike Falcon Data Replicator-style events: hosts, processes, network, DNS and the
event types no rule reads. Network and DNS events carry no image and point to a process.

Process ids are what the engine's process join keys on, so they are made to be exact: every
process event gets a TargetProcessId no other process event of the corpus has (on any host),
and an id that names no process of the corpus (`unknown_proc`) is drawn from a disjoint range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from retrohunt.corpus.base import Generator, Line, Obj, basename, encode
from retrohunt.corpus.catalogue import (
    DOMAINS,
    LIN_CONFIG_BUILDS,
    LIN_PARENT_PATHS,
    LIN_PORTS,
    LIN_PROCS,
    MAC_CONFIG_BUILDS,
    MAC_PROCS,
    USERS,
    WIN_CONFIG_BUILDS,
    WIN_PORTS,
    WIN_PROCS,
)
from retrohunt.corpus.rules import Labeller, Labels

_CIDS = ("3f1c9a0e5b7d4c2a9e8f1b6d0c4a7e21", "b84e2d71c06f4a9d8e3b5c1f7a2d9e60")
_MAX_INT64 = 9_223_372_036_854_775_807
# TargetProcessIds of process events: 4,000,000,000 + a 36-bit value; ids that name no process
# of the corpus: 1,000,000,000 + a 31-bit value, below every TargetProcessId.
_TPID_BASE = 4_000_000_000
_TPID_MASK = (1 << 36) - 1
_UNKNOWN_BASE = 1_000_000_000
_WIN_BROWSER_PROCS = tuple(p for p in WIN_PROCS if p[3])


@dataclass(slots=True)
class Proc:
    tpid: str
    image: str
    base: str
    browser: bool


@dataclass(slots=True)
class Host:
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
    procs: list[Proc] = field(default_factory=list)
    containers: tuple[str, ...] = ()


class FalconEvents(Generator):
    """Benign Falcon events; network and DNS events carry no image and point to a process."""

    trap_fields = (
        "ImageFileName",
        "CommandLine",
        "ParentBaseFileName",
        "ParentImageFileName",
        "OciContainerId",
        "DomainName",
        "RemoteAddressIP4",
        "RemoteAddressIP6",
        "RemotePort",
    )

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        super().__init__(seed, malicious_rate)
        self.hosts = [self._new_host() for _ in range(160)]
        self.hashes: dict[str, tuple[str, str]] = {}
        self.last_proc = Proc("", "", "", False)
        self.n_procs = 0
        self.tpid_salt = self.bits(36)
        self.labeller = Labeller()  # sees every process and network event, in stream order

    def labels(self, obj: Obj) -> Labels:
        return self.labeller.falcon(obj)

    # -- hosts and common fields -------------------------------------------------------------

    def tick(self) -> str:
        self.clock += int(self.random() * 7)
        ts = self.clock - int(self.random() * 3000 if self.random() < 0.05 else 0)
        if self.random() < 0.02:
            return str(ts // 1000)
        return str(ts)

    def ctx_time(self) -> str:
        t = self.clock - 1 - self.bits(10)
        return f"{t // 1000}.{t % 1000:03d}"

    def raw_pid(self, host: Host) -> str:
        r = self.random()
        if r < 0.01:
            return str(_MAX_INT64 + 1 + self.bits(63))
        if host.platform == "Win":
            return str(4 * (1 + self.bits(13)))
        return str(1 + self.bits(22))

    def host(self) -> Host:
        return self.hosts[int(self.random() * len(self.hosts))]

    def host_of(self, platform: str) -> Host:
        for _ in range(64):
            h = self.host()
            if h.platform == platform:
                return h
        return self.host()

    def _new_host(self) -> Host:
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
        builds = {"Win": WIN_CONFIG_BUILDS, "Lin": LIN_CONFIG_BUILDS}.get(
            platform, MAC_CONFIG_BUILDS
        )
        users = tuple(self.pick(USERS) for _ in range(3))
        containers = tuple(self.hex(256) for _ in range(4)) if platform == "Lin" else ()
        return Host(
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

    def head(self, host: Host, simple: str, version: str) -> Obj:
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

    def tail(self, host: Host, obj: Obj) -> Obj:
        obj["ConfigBuild"] = host.config_build
        obj["ConfigStateHash"] = host.config_hash
        obj["Entitlements"] = "15"
        obj["EffectiveTransmissionClass"] = "2" if self.random() < 0.7 else "3"
        return obj

    def context_proc(self, host: Host, *, no_browser: bool = False) -> Proc:
        procs = host.procs
        if procs:
            for _ in range(4):
                p = procs[int(self.random() * len(procs))]
                if not (no_browser and p.browser):
                    return p
        # No suitable process seen on this host yet: a context id from before the corpus start.
        return self.unknown_proc()

    def unknown_proc(self) -> Proc:
        """A process the corpus never shows (it started before the archive's window): its id
        is below every TargetProcessId, so the engine's join cannot find it."""
        return Proc(str(_UNKNOWN_BASE + self.bits(31)), "", "", False)

    def new_tpid(self) -> str:
        """The next process event's TargetProcessId: a bijective scramble of a counter (an odd
        multiply, an xorshift, again, then a salt drawn from the seed) over 36 bits, so that
        ids look random yet never repeat within a corpus."""
        x = (self.n_procs * 0x9E3779B97) & _TPID_MASK
        x ^= x >> 17
        x = (x * 0xBF58476D1) & _TPID_MASK
        x ^= x >> 15
        self.n_procs += 1
        return str(_TPID_BASE + (x ^ self.tpid_salt))

    def fill_host(self, template: str, host: Host) -> str:
        if "{" not in template:
            return template
        container = self.pick(host.containers) if host.containers else self.hex(256)
        return self.fill(template, self.pick(host.users), container)

    def win_image(self, host: Host, rel: str) -> str:
        return f"\\Device\\HarddiskVolume{host.volume}\\{rel}"

    # -- process events ----------------------------------------------------------------------

    def process(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: str,
        *,
        simple: str = "ProcessRollup2",
        container: bool = False,
        browser: bool = False,
        parent_path: str | None = None,
    ) -> Obj:
        """A process event; registers the process on its host for later ContextProcessId links.

        `parent_path` sets ParentImageFileName (which the source prefers to the base name);
        Linux events sometimes carry it anyway, and sometimes as an empty string.
        """
        versions = {"Win": "V19", "Lin": "V12", "Mac": "V9"}
        obj = self.head(
            host, simple, versions[host.platform] if simple == "ProcessRollup2" else "V5"
        )
        if self.random() < 0.3:
            obj["ComputerName"] = host.computer
            obj["UserName"] = self.pick(host.users)
        tpid = self.new_tpid()
        obj["CommandLine"] = cmd
        obj["ImageFileName"] = image
        if parent_path is None and host.platform == "Lin" and self.random() < 0.06:
            parent_path = "" if self.random() < 0.25 else LIN_PARENT_PATHS.get(parent, "")
        if parent_path is not None:
            obj["ParentImageFileName"] = parent_path
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
        self.last_proc = Proc(tpid, image, basename(image), browser)
        self.remember(host.procs, self.last_proc)
        return self.tail(host, obj)

    def _benign_proc_obj(self, simple: str) -> Obj:
        host = self.host()
        if host.platform == "Win":
            rel, cmd, parents, browser = WIN_PROCS[int(self.random() * len(WIN_PROCS))]
            user = self.pick(host.users)
            image = self.win_image(host, rel.replace("{U}", user))
            cmd = self.fill_host(cmd, host).replace("{U}", user)
            return self.process(
                host, image, cmd, self.pick(parents), simple=simple, browser=browser
            )
        catalogue = LIN_PROCS if host.platform == "Lin" else MAC_PROCS
        image, cmd, parents, container = catalogue[int(self.random() * len(catalogue))]
        return self.process(
            host,
            image,
            self.fill_host(cmd, host),
            self.pick(parents),
            simple=simple,
            container=container,
        )

    def _benign_process(self) -> Line:
        return self.emit(self._benign_proc_obj("ProcessRollup2"))

    def _benign_synthetic(self) -> Line:
        return self.emit(self._benign_proc_obj("SyntheticProcessRollup2"))

    def _end_of_process(self) -> Line:
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
        return encode(self.tail(host, obj)), ()

    # -- network and DNS ---------------------------------------------------------------------

    def network(
        self,
        host: Host,
        remote: str,
        port: str | int,
        *,
        v6: bool = False,
        proc: Proc | None = None,
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

    def _benign_network4(self) -> Line:
        host = self.host()
        port: str | int = self.pick(WIN_PORTS if host.platform == "Win" else LIN_PORTS)
        remote = self.public4() if port in ("443", "80", "8443") else self.private4()
        if self.random() < 0.005:
            remote = f"{self.bits(8)}.{self.bits(8)}.{256 + self.bits(9)}.{self.bits(8)}"  # invalid
        if self.random() < 0.04:
            port = int(port)
        return self.emit(self.network(host, remote, port))

    def _benign_network6(self) -> Line:
        host = self.host()
        remote = self.public6() if self.random() < 0.7 else self.private6()
        port = "443" if self.random() < 0.8 else "80"
        return self.emit(self.network(host, remote, port, v6=True))

    def _listen4(self) -> Line:
        host = self.host()
        obj = self.network(host, "0.0.0.0", "0", direction="1", simple="NetworkListenIP4")
        obj["LocalPort"] = self.pick(("445", "135", "22", "8080", "5985", "3389", "9100"))
        return encode(obj), ()

    def _accept4(self) -> Line:
        host = self.host()
        obj = self.network(
            host, self.private4(), str(49152 + self.bits(14)), direction="1",
            simple="NetworkReceiveAcceptIP4",
        )  # fmt: skip
        obj["LocalPort"] = self.pick(("445", "22", "443", "3389"))
        return encode(obj), ()

    def dns(self, host: Host, domain: str, *, proc: Proc | None = None) -> Obj:
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

    def _benign_dns(self) -> Line:
        host = self.host()
        domain = self.pick(DOMAINS)
        if "{N}" in domain:
            domain = domain.replace("{N}", str(self.bits(8)))
        return self.emit(self.dns(host, domain))

    # -- other event types no rule looks at --------------------------------------------------

    def _heartbeat(self) -> Line:
        host = self.host()
        obj = self.head(host, "SensorHeartbeat", "V4")
        if self.random() < 0.5:
            obj["ComputerName"] = host.computer
        obj["SensorStateBitMap"] = "0"
        obj["NetworkContainmentState"] = "0"
        obj["AgentLocalTime"] = self.ctx_time()
        return encode(self.tail(host, obj)), ()

    def _user_logon(self) -> Line:
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
        return encode(self.tail(host, obj)), ()

    def _image_hash(self) -> Line:
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
        return encode(self.tail(host, obj)), ()

    def _new_executable_written(self, name: str | None = None) -> Line:
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
        return encode(self.tail(host, obj)), ()

    def _process_blocked(self) -> Line:
        host = self.host()
        obj = self.head(host, "ProcessBlocked", "V4")
        obj["ImageFileName"] = (
            "\\Device\\HarddiskVolume2\\Users\\Public\\Downloads\\invoice_viewer.exe"
        )
        obj["CommandLine"] = '"C:\\Users\\Public\\Downloads\\invoice_viewer.exe" /s'
        obj["TargetProcessId"] = str(4_000_000_000 + self.bits(36))
        obj["PolicyRuleId"] = str(self.bits(8))
        return encode(self.tail(host, obj)), ()

    def benign_table(self) -> list[tuple[float, Callable[[], Line]]]:
        """The benign event makers and their weights."""
        return [
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
