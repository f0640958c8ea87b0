"""The Falcon generator: benign events (falcon_events) plus the scenarios: the Atomic Red Team
T1204.003 stories and other attacks, tuning false positives and hard negatives.

Network events name no image, only ContextProcessId; the engine joins them to their process
(same aid, TargetProcessId), so the stories around MiningPoolNetworkConnection's browser and
inbound filters are told through that join: a browser's later pool-port connection (filtered),
a container miner's later connection (reported), a connection whose process is not in the
archive (reported: null image) and an inbound connection on a pool port (filtered).
"""

from __future__ import annotations

from retrohunt.corpus.base import Line, basename
from retrohunt.corpus.catalogue import (
    ARTIFACT_UPLOAD_CMDS,
    BITCOIN_NODE,
    CREDENTIAL_EXFIL_CMDS,
    CREDENTIAL_HOST_CMDS,
    CREDENTIAL_NEAR_MISS,
    DOC_QUOTE_CMDS_LIN,
    DOC_QUOTE_CMDS_WIN,
    DOCKER_RUN_CMDS,
    DOMAINS,
    EXFIL_HOSTS,
    HEALTHCHECK_CMDS,
    IPV4_MAPPED,
    LIN_CMD_ONLY,
    LIN_MINER_IMAGES,
    LIN_PARENT_PATHS,
    LOOPBACK_FETCH_CMDS,
    MINER_ARGS_BENIGN_LOOKING,
    MINER_ARGS_WITH_POOL,
    NEAR_DOWNLOADER_IMAGES,
    NEAR_MISS_DOMAINS,
    NEAR_RUNTIME_PARENT_PATHS,
    NEAR_RUNTIME_PARENTS,
    NO_RULE_CMDS_LIN,
    NON_POOL_PORTS,
    POOL_DOMAINS,
    PORTLIKE_CMDS_LIN,
    PORTLIKE_CMDS_WIN,
    RUNTIME_PARENTS,
    SANCTIONED_MINER,
    SHORT_NAME_IMAGES_LIN,
    SHORT_NAME_IMAGES_WIN,
    WALLET,
    WIN_CMD_ONLY,
    WIN_MINER_IMAGES,
    WIN_PROCS,
)
from retrohunt.corpus.falcon_events import FalconEvents, Host, Proc
from retrohunt.corpus.rules import (
    MINER_CMDLINE_STRINGS,
    MINER_IMAGE_STRINGS,
)

_WIN_BROWSER_PROCS = tuple(p for p in WIN_PROCS if p[3])


class FalconGenerator(FalconEvents):
    """Falcon events with the attack stories, tuning false positives and hard negatives."""

    attack_lines = 1.49
    false_positive_lines = 1.17
    hard_lines = 1.0
    # A story's follow-up lines made later in the stream come at most this many lines after it.
    MAX_DELAY = 2500

    def __init__(self, seed: int | str, malicious_rate: float) -> None:
        super().__init__(seed, malicious_rate)
        self.schedule(
            self.benign_table(),
            attacks=[
                self._atk_container_miner,
                self._atk_container_miner,
                self._atk_curl_pool,
                self._atk_image_run,
                self._atk_credential_exfil,
                self._atk_credential_exfil,
                self._atk_windows_miner,
                self._atk_cmd_only,
                self._atk_image_only,
                self._atk_dns_only,
                self._atk_network_only,
                self._atk_network6,
                self._atk_unknown_process,
            ],
            false_positives=[
                self._fp_healthcheck,
                self._fp_healthcheck,
                self._fp_artifact_upload,
                self._fp_doc_quotes,
                self._fp_sanctioned_mining,
                self._fp_short_names,
                self._fp_bitcoin_node,
                self._fp_mapped_v4,
            ],
            hard=[
                self._hard_private_pool_port,
                self._hard_private_pool_port,
                self._hard_private_pool_port6,
                self._hard_public_other_port,
                self._hard_portlike_cmdline,
                self._hard_near_miss_dns,
                self._hard_strings_in_other_fields,
                self._hard_wrong_event_type,
                self._hard_near_runtime,
                self._hard_near_downloader,
                self._hard_credentials_elsewhere,
                self._hard_no_rule_cmds,
                self._hard_browser_pool_port,
                self._hard_inbound_pool_port,
            ],
        )

    # -- building blocks of scenarios --------------------------------------------------------

    def proc_line(
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
    ) -> Line:
        obj = self.process(
            host,
            image,
            cmd,
            parent,
            simple=simple,
            container=container,
            browser=browser,
            parent_path=parent_path,
        )
        return self.emit(obj, trap=0.3)

    def non_browser_proc(self, host: Host) -> Proc:
        """A process of this host that is no browser, or one the corpus never shows."""
        proc = self.context_proc(host, no_browser=True)
        if proc.browser:  # only browsers seen on this host: link to an unseen process
            proc = self.unknown_proc()
        return proc

    def delay(self) -> int:
        """How many lines later a story's follow-up comes: skewed to short, up to MAX_DELAY."""
        return 2 + int(self.random() ** 2 * self.MAX_DELAY)

    def pool_connection(
        self,
        host: Host,
        proc: Proc | None,
        *,
        v6: bool = False,
        remote: str | None = None,
        port: str | int | None = None,
    ) -> Line:
        """An outbound ("0") or undirected ("2", Initiated null) connection to a pool port; it
        is never inbound, which the rule filters (see _hard_inbound_pool_port)."""
        if proc is None:
            proc = self.non_browser_proc(host)
        direction = "0" if self.random() < 0.85 else "2"
        obj = self.network(
            host,
            self.pool_remote(v6) if remote is None else remote,
            self.pool_port() if port is None else port,
            v6=v6,
            proc=proc,
            direction=direction,
        )
        return self.emit(obj, trap=0.3)

    def pool_dns(self, host: Host, proc: Proc | None, domain: str | None = None) -> Line:
        if domain is None:
            domain = self.pick(POOL_DOMAINS)
        return self.emit(self.dns(host, self.case_variant(domain), proc=proc), trap=0.3)

    def runtime_parent(self) -> tuple[str, str | None]:
        """A container runtime parent: base name and, sometimes, ParentImageFileName."""
        parent = self.pick(RUNTIME_PARENTS)
        path = LIN_PARENT_PATHS[parent] if self.random() < 0.15 else None
        return parent, path

    # -- attacks: the Atomic Red Team T1204.003 stories and other miner activity ------------

    def _atk_container_miner(self) -> list[Line]:
        """Atomic test 1: a miner is the entry point of a container (runtime parent), then its
        pool DNS query and connection, at once or later in the stream; the connection names
        only ContextProcessId, joined to the miner (not a browser): reported."""
        host = self.host_of("Lin")
        image = self.case_variant(self.pick(LIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        if self.random() < 0.7:
            args = self.case_variant(self.pick(MINER_ARGS_WITH_POOL), MINER_CMDLINE_STRINGS)
        else:
            args = self.pick(MINER_ARGS_BENIGN_LOOKING)
        if self.random() < 0.8:
            parent, path = self.runtime_parent()
        else:
            parent, path = self.pick(("conmon", "sh")), None
        line = self.proc_line(
            host, image, f"{image} {args}", parent, container=True, parent_path=path
        )
        proc = self.last_proc

        def follow() -> list[Line]:
            lines = [self.pool_dns(host, proc)] if self.random() < 0.6 else []
            lines.append(self.pool_connection(host, proc))
            return lines

        if self.random() < 0.5:
            self.later(self.delay(), follow)
            return [line]
        return [line, *follow()]

    def _atk_curl_pool(self) -> list[Line]:
        """Atomic test 2: curl to pool.minexmr.com:3333, its DNS query and the connection."""
        host = self.host_of("Lin")
        if self.random() < 0.7:
            domain, port = "pool.minexmr.com", "3333"
        else:
            domain = self.pick(("pool.supportxmr.com", "xmr-eu1.nanopool.org"))
            port = self.pick(("3333", "4444", "14444"))
        cmd = f"curl -s http://{self.case_variant(domain)}:{port}"
        line = self.proc_line(
            host, "/usr/bin/curl", cmd, self.pick(("bash", "sh")), container=self.random() < 0.5
        )
        proc = self.last_proc
        net_port: str | int = int(port) if self.random() < 0.3 else port
        return [
            line,
            self.pool_dns(host, proc, domain),
            self.pool_connection(host, proc, port=net_port),
        ]

    def _atk_image_run(self) -> list[Line]:
        """Atomic test 3: an image is pulled and run; the runtime starts wget (or curl), which
        connects to 127.0.0.1:3333 (loopback: the connection rule does not fire)."""
        host = self.host_of("Lin")
        run = self.fill_host(self.pick(DOCKER_RUN_CMDS), host)
        tool = run.split(" ", 1)[0]
        lines = [self.proc_line(host, f"/usr/bin/{tool}", run, self.pick(("bash", "sudo")))]
        cmd = self.pick(LOOPBACK_FETCH_CMDS)
        parent, path = self.runtime_parent()
        image = "/usr/bin/" + cmd.split(" ", 1)[0]
        lines.append(self.proc_line(host, image, cmd, parent, container=True, parent_path=path))
        proc = self.last_proc
        port: str | int = 3333 if self.random() < 0.3 else "3333"
        net = self.network(host, "127.0.0.1", port, proc=proc, direction="0")
        lines.append(self.emit(net, trap=0.3))
        return lines

    def _atk_credential_exfil(self) -> list[Line]:
        """Atomic test 5: a container's wget / curl sends AWS credentials to an exfil host,
        either started by the runtime or deeper in the container (container id only)."""
        host = self.host_of("Lin")
        exfil = self.pick(EXFIL_HOSTS)
        cmd = self.fill_host(self.pick(CREDENTIAL_EXFIL_CMDS).replace("{H}", exfil), host)
        image = "/usr/bin/" + cmd.split(" ", 1)[0]
        if self.random() < 0.6:
            parent, path = self.runtime_parent()
        else:
            parent, path = self.pick(("sh", "bash", "python3.12", "node")), None
        lines = [self.proc_line(host, image, cmd, parent, container=True, parent_path=path)]
        proc = self.last_proc
        name = exfil.split(":", 1)[0]
        if not name[0].isdigit():
            lines.append(self.emit(self.dns(host, name, proc=proc)))
            remote = self.public4()
        else:
            remote = name
        port = exfil.split(":", 1)[1] if ":" in exfil else ("443" if "https" in cmd else "80")
        lines.append(self.emit(self.network(host, remote, port, proc=proc, direction="0")))
        return lines

    def _atk_windows_miner(self) -> list[Line]:
        host = self.host_of("Win")
        user = self.pick(host.users)
        rel = self.case_variant(self.pick(WIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        rel = rel.replace("{U}", user)
        image = self.win_image(host, rel)
        args = (
            self.pick(MINER_ARGS_WITH_POOL)
            if self.random() < 0.6
            else self.pick(MINER_ARGS_BENIGN_LOOKING)
        )
        cmd = f'"C:\\{rel}" {args}'
        parent = self.pick(("explorer.exe", "cmd.exe", "wscript.exe"))
        lines = [self.proc_line(host, image, cmd, parent)]
        proc = self.last_proc
        if self.random() < 0.6:
            lines.append(self.pool_connection(host, proc))
        return lines

    def _atk_cmd_only(self) -> list[Line]:
        if self.random() < 0.6:
            host = self.host_of("Lin")
            image, cmd = LIN_CMD_ONLY[int(self.random() * len(LIN_CMD_ONLY))]
            parent = self.pick(("bash", "sh", "containerd-shim-runc-v2", "cron"))
            container = self.random() < 0.5
        else:
            host = self.host_of("Win")
            rel, cmd = WIN_CMD_ONLY[int(self.random() * len(WIN_CMD_ONLY))]
            image = self.win_image(host, rel)
            parent = self.pick(("cmd.exe", "wmiprvse.exe", "svchost.exe"))
            container = False
        cmd = self.fill_host(cmd, host)
        simple = "SyntheticProcessRollup2" if self.random() < 0.2 else "ProcessRollup2"
        return [self.proc_line(host, image, cmd, parent, simple=simple, container=container)]

    def _atk_image_only(self) -> list[Line]:
        host = self.host_of("Lin")
        image = self.case_variant(self.pick(LIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        cmd = f"{basename(image)} {self.pick(MINER_ARGS_BENIGN_LOOKING)}"
        simple = "SyntheticProcessRollup2" if self.random() < 0.3 else "ProcessRollup2"
        parent = self.pick(("bash", "runc"))
        return [self.proc_line(host, image, cmd, parent, simple=simple, container=True)]

    def _atk_dns_only(self) -> list[Line]:
        return [self.pool_dns(self.host(), None)]

    def _atk_network_only(self) -> list[Line]:
        return [self.pool_connection(self.host(), None)]

    def _atk_network6(self) -> list[Line]:
        return [self.pool_connection(self.host(), None, v6=True)]

    def _atk_unknown_process(self) -> list[Line]:
        """A pool connection whose ContextProcessId names no process of the archive (it started
        before the archive's window), or, 3 times in 10, the id of a browser on another host
        (the join keys on aid too): the image stays null, the browser filter cannot drop it."""
        host = self.host()
        proc = self.unknown_proc()
        if self.random() < 0.3:
            other = self.host_of("Win")
            browsers = [p for p in other.procs if p.browser]
            if other is not host and browsers:
                proc = browsers[int(self.random() * len(browsers))]
        return [self.pool_connection(host, proc, v6=self.random() < 0.15)]

    # -- false positives: benign activity the rules flag (labelled all the same) -------------

    def _fp_healthcheck(self) -> list[Line]:
        """Health checks, init containers and start-time installs: DownloaderInContainer."""
        host = self.host_of("Lin")
        image, cmd = HEALTHCHECK_CMDS[int(self.random() * len(HEALTHCHECK_CMDS))]
        parent, path = self.runtime_parent()
        lines = [self.proc_line(host, image, cmd, parent, container=True, parent_path=path)]
        if "127.0.0.1:" in cmd and self.random() < 0.5:
            port = cmd.split("127.0.0.1:", 1)[1].split("/", 1)[0]
            net = self.network(host, "127.0.0.1", port, proc=self.last_proc, direction="0")
            lines.append(self.emit(net))
        return lines

    def _fp_artifact_upload(self) -> list[Line]:
        """A deployment script hands credentials to an internal artifact store."""
        host = self.host_of("Lin")
        cmd = self.fill_host(self.pick(ARTIFACT_UPLOAD_CMDS), host)
        if self.random() < 0.5:
            parent, path = self.runtime_parent()
        else:
            parent, path = "sh", None
        return [
            self.proc_line(host, "/usr/bin/curl", cmd, parent, container=True, parent_path=path)
        ]

    def _fp_doc_quotes(self) -> list[Line]:
        """Documents, tickets and scripts that quote pool names (MinerCommandLineArgs)."""
        if self.random() < 0.6:
            host = self.host_of("Lin")
            image, cmd = DOC_QUOTE_CMDS_LIN[int(self.random() * len(DOC_QUOTE_CMDS_LIN))]
            parent = self.pick(("bash", "sudo"))
        else:
            host = self.host_of("Win")
            rel, cmd = DOC_QUOTE_CMDS_WIN[int(self.random() * len(DOC_QUOTE_CMDS_WIN))]
            image, parent = self.win_image(host, rel), "explorer.exe"
        return [self.proc_line(host, image, self.fill_host(cmd, host), parent)]

    def _fp_sanctioned_mining(self) -> list[Line]:
        """A host built for mining runs its miner under systemd."""
        host = self.host_of("Lin")
        image, cmd, parent = SANCTIONED_MINER
        lines = [self.proc_line(host, image, cmd, parent)]
        lines.append(self.pool_connection(host, self.last_proc, port=self.pick(("3333", "5555"))))
        return lines

    def _fp_short_names(self) -> list[Line]:
        """Short miner names inside unrelated paths (MinerProcessExecution's false positive)."""
        if self.random() < 0.5:
            host = self.host_of("Win")
            rel = self.pick(SHORT_NAME_IMAGES_WIN)
            cmd = f'"C:\\{rel}" /silent'
            return [self.proc_line(host, self.win_image(host, rel), cmd, "explorer.exe")]
        host = self.host_of("Lin")
        image = self.pick(SHORT_NAME_IMAGES_LIN)
        return [self.proc_line(host, image, f"{basename(image)} --daemon", "systemd")]

    def _fp_bitcoin_node(self) -> list[Line]:
        """A Bitcoin full node talks to peers on 8333 (not mining)."""
        host = self.host_of("Lin")
        lines = [self.proc_line(host, BITCOIN_NODE[0], BITCOIN_NODE[1], "systemd")]
        proc = self.last_proc
        for _ in range(1 + self.bits(1)):
            net = self.network(host, self.public4(), "8333", proc=proc, direction="0")
            lines.append(self.emit(net))
        return lines

    def _fp_mapped_v4(self) -> list[Line]:
        """IPv4-mapped IPv6 addresses: the rule's CIDR filter does not see ::ffff:10.x.x.x or
        ::ffff:127.0.0.1 as private or loopback, so these connections are reported."""
        host = self.host()
        b = self.bits(16)
        remote = (
            self.pick(IPV4_MAPPED)
            .replace("{b}", str(b >> 8))
            .replace("{c}", str(1 + (b & 255) % 254))
            .replace("{P}", self.public4())
        )
        return [self.pool_connection(host, None, v6=True, remote=remote)]

    # -- hard negatives: look close, no rule fires -------------------------------------------

    def _hard_private_pool_port(self) -> list[Line]:
        host = self.host()
        return [self.emit(self.network(host, self.private4(), self.pool_port()), trap=0.2)]

    def _hard_private_pool_port6(self) -> list[Line]:
        host = self.host()
        obj = self.network(host, self.private6(), self.pool_port(), v6=True)
        return [self.emit(obj, trap=0.2)]

    def _hard_public_other_port(self) -> list[Line]:
        host = self.host()
        v6 = self.random() < 0.25
        remote = self.public6() if v6 else self.public4()
        if not v6 and self.random() < 0.1:
            remote = f"{self.bits(8)}.{256 + self.bits(9)}.{self.bits(8)}.3333"  # invalid address
        port: str | int = self.pick(NON_POOL_PORTS)
        if self.random() < 0.3:
            port = int(port)
        return [self.emit(self.network(host, remote, port, v6=v6))]

    def _hard_portlike_cmdline(self) -> list[Line]:
        if self.random() < 0.7:
            host = self.host_of("Lin")
            image, cmd = PORTLIKE_CMDS_LIN[int(self.random() * len(PORTLIKE_CMDS_LIN))]
            parent = self.pick(("bash", "sudo"))
        else:
            host = self.host_of("Win")
            rel, cmd = PORTLIKE_CMDS_WIN[int(self.random() * len(PORTLIKE_CMDS_WIN))]
            image = self.win_image(host, rel)
            parent = "cmd.exe"
        return [self.proc_line(host, image, cmd, parent)]

    def _hard_near_miss_dns(self) -> list[Line]:
        host = self.host()
        domain = self.case_variant(self.pick(NEAR_MISS_DOMAINS))
        return [self.emit(self.dns(host, domain), trap=0.2)]

    def _hard_strings_in_other_fields(self) -> list[Line]:
        host = self.host()
        r = self.random()
        if r < 0.35:  # a DnsRequest with a command line field: not a process event
            obj = self.dns(host, self.pick(DOMAINS[:17]))
            obj["CommandLine"] = f"/tmp/xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u {WALLET}"
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
        return [self.emit(obj)]

    def _hard_wrong_event_type(self) -> list[Line]:
        host = self.host()
        r = self.random()
        if r < 0.35:  # Falcon blocked the miner: the process never ran
            obj = self.head(host, "ProcessBlocked", "V4")
            obj["ImageFileName"] = "/tmp/.x/xmrig"
            obj["CommandLine"] = (
                "/tmp/.x/xmrig -o stratum+tcp://pool.minexmr.com:4444 --donate-level 1"
            )
            obj["ParentBaseFileName"] = "containerd-shim-runc-v2"
            obj["TargetProcessId"] = str(4_000_000_000 + self.bits(36))
            obj["PolicyRuleId"] = "7"
            return [self.emit(self.tail(host, obj))]
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
            return [self.emit(obj)]
        obj = self.network(host, "0.0.0.0", "0", direction="1", simple="NetworkListenIP4")
        obj["LocalPort"] = self.pick(("3333", "4444", "14444"))
        return [self.emit(obj)]

    def _hard_near_runtime(self) -> list[Line]:
        """A container's curl / wget whose parent is no runtime the rules know (podman's conmon,
        crun, wrappers), sometimes with only ParentImageFileName telling so."""
        host = self.host_of("Lin")
        image, cmd = HEALTHCHECK_CMDS[int(self.random() * len(HEALTHCHECK_CMDS))]
        if self.random() < 0.5:
            parent, path = self.pick(NEAR_RUNTIME_PARENTS), None
        else:
            path = self.pick(NEAR_RUNTIME_PARENT_PATHS)
            parent = basename(path)
        return [self.proc_line(host, image, cmd, parent, container=True, parent_path=path)]

    def _hard_near_downloader(self) -> list[Line]:
        """Started by the runtime, but the image only looks like wget or curl (busybox too)."""
        host = self.host_of("Lin")
        image = self.pick(NEAR_DOWNLOADER_IMAGES)
        cmd = f"{basename(image) if image != '/bin/busybox' else 'wget'} -q http://127.0.0.1:8080/"
        parent, path = self.runtime_parent()
        return [self.proc_line(host, image, cmd, parent, container=True, parent_path=path)]

    def _hard_credentials_elsewhere(self) -> list[Line]:
        """Credential names on command lines that are not a container's downloader."""
        host = self.host_of("Lin")
        if self.random() < 0.5:
            image, cmd = CREDENTIAL_NEAR_MISS[int(self.random() * len(CREDENTIAL_NEAR_MISS))]
            parent, path = self.runtime_parent()
            obj = self.process(
                host, image, self.fill_host(cmd, host), parent, container=True, parent_path=path
            )
        else:
            cmd = self.fill_host(self.pick(CREDENTIAL_HOST_CMDS), host)
            obj = self.process(host, "/usr/bin/" + cmd.split(" ", 1)[0], cmd, "bash")
        return [self.emit(obj, trap=0.3)]

    def _hard_browser_pool_port(self) -> list[Line]:
        """A browser (its ProcessRollup2 names \\Device\\HarddiskVolumeN\\…\\chrome.exe,
        msedge.exe or firefox.exe) reaches a public service on 9999 / 5555 / 7777 / 8333, at
        once or later in the stream. The network event names only ContextProcessId; joined to
        the browser, the rule's browser filter drops it."""
        host = self.host_of("Win")
        rel, cmd, parents, _ = _WIN_BROWSER_PROCS[int(self.random() * len(_WIN_BROWSER_PROCS))]
        simple = "SyntheticProcessRollup2" if self.random() < 0.15 else "ProcessRollup2"
        image = self.win_image(host, self.case_variant(rel))
        cmd = self.fill_host(cmd, host)
        line = self.proc_line(host, image, cmd, parents[0], simple=simple, browser=True)
        proc = self.last_proc

        def connect() -> list[Line]:
            v6 = self.random() < 0.2
            remote = self.public6() if v6 else self.public4()
            port: str | int = self.pick(("9999", "5555", "7777", "8333"))
            if self.random() < 0.3:
                port = int(port)
            net = self.network(host, remote, port, v6=v6, proc=proc, direction="0")
            return [self.emit(net, trap=0.2)]

        if self.random() < 0.6:
            self.later(self.delay(), connect)
            return [line]
        return [line, *connect()]

    def _hard_inbound_pool_port(self) -> list[Line]:
        """An inbound connection (ConnectionDirection "1": Initiated false) with a public remote
        address on a pool port, of a process that is no browser: only the rule's inbound
        filter keeps it quiet."""
        host = self.host()
        v6 = self.random() < 0.2
        obj = self.network(
            host,
            self.pool_remote(v6),
            self.pool_port(),
            v6=v6,
            proc=self.non_browser_proc(host),
            direction="1",
        )
        return [self.emit(obj, trap=0.2)]

    def _hard_no_rule_cmds(self) -> list[Line]:
        """Miner words where no rule looks for them (an editor, yara, an AV scan)."""
        host = self.host_of("Lin")
        image, cmd = NO_RULE_CMDS_LIN[int(self.random() * len(NO_RULE_CMDS_LIN))]
        return [self.proc_line(host, image, cmd, self.pick(("bash", "sudo")))]
