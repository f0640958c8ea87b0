"""The Sysmon generator: benign events (sysmon_events) plus the scenarios: the Atomic Red Team
T1204.003 stories as Sysmon shows them, other attacks, tuning false positives, hard negatives."""

from __future__ import annotations

from retrohunt.corpus.base import Line, basename, encode
from retrohunt.corpus.catalogue import (
    ARTIFACT_UPLOAD_CMDS,
    BITCOIN_NODE,
    CREDENTIAL_EXFIL_CMDS,
    CREDENTIAL_HOST_CMDS,
    CREDENTIAL_NEAR_MISS,
    DOC_QUOTE_CMDS_LIN,
    DOC_QUOTE_CMDS_WIN,
    DOCKER_RUN_CMDS,
    EXFIL_HOSTS,
    HEALTHCHECK_CMDS,
    IPV4_MAPPED,
    LIN_BROWSERS,
    LIN_CMD_ONLY,
    LIN_MINER_IMAGES,
    LOOPBACK_FETCH_CMDS,
    MINER_ARGS_BENIGN_LOOKING,
    MINER_ARGS_WITH_POOL,
    NEAR_DOWNLOADER_IMAGES,
    NEAR_MISS_DOMAINS,
    NEAR_RUNTIME_PARENT_PATHS,
    NO_RULE_CMDS_LIN,
    NON_POOL_PORTS,
    POOL_DOMAINS,
    PORTLIKE_CMDS_LIN,
    PORTLIKE_CMDS_WIN,
    RENAMED_AS_BROWSER,
    SANCTIONED_MINER,
    SHORT_NAME_IMAGES_LIN,
    SHORT_NAME_IMAGES_WIN,
    WALLET,
    WIN_BROWSERS,
    WIN_CMD_ONLY,
    WIN_MINER_IMAGES,
)
from retrohunt.corpus.rules import (
    MINER_CMDLINE_STRINGS,
    MINER_IMAGE_STRINGS,
)
from retrohunt.corpus.sysmon_events import (
    RUNTIME_PATHS,
    WIN_BROWSER_PROCS,
    Host,
    Proc,
    SysmonEvents,
)


class SysmonGenerator(SysmonEvents):
    """Sysmon events with the attack stories, tuning false positives and hard negatives."""

    attack_lines = 1.40
    false_positive_lines = 1.17
    hard_lines = 1.1

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
                self._atk_dns_only,
                self._atk_network_only,
            ],
            false_positives=[
                self._fp_healthcheck,
                self._fp_healthcheck,
                self._fp_artifact_upload,
                self._fp_doc_quotes,
                self._fp_sanctioned_mining,
                self._fp_short_names,
                self._fp_linux_browser,
                self._fp_bitcoin_node,
                self._fp_mapped_v4,
            ],
            hard=[
                self._hard_browser_pool_port,
                self._hard_renamed_as_browser,
                self._hard_private_pool_port,
                self._hard_private_pool_port,
                self._hard_public_other_port,
                self._hard_inbound_from_pool_port,
                self._hard_near_miss_dns,
                self._hard_miner_in_other_events,
                self._hard_security_channel,
                self._hard_miner_parent,
                self._hard_near_runtime,
                self._hard_near_downloader,
                self._hard_credentials_elsewhere,
                self._hard_portlike_cmdline,
            ],
        )

    # -- building blocks of scenarios --------------------------------------------------------

    def runtime_path(self) -> str:
        return self.pick(RUNTIME_PATHS)

    def pool_connection(
        self,
        host: Host,
        proc: Proc,
        *,
        v6: bool = False,
        remote: str | None = None,
        port: str | int | None = None,
    ) -> Line:
        dest = self.pool_remote(v6) if remote is None else remote
        if port is None:
            port = self.pool_port(as_number=0.9 if host.port_numbers else 0.1)
        name = self.pick(POOL_DOMAINS).lower() if self.random() < 0.2 else "-"
        return self.emit(self.network(host, proc, dest, port, dest_name=name), trap=0.3)

    def pool_dns(self, host: Host, proc: Proc, domain: str | None = None) -> Line:
        if domain is None:
            domain = self.pick(POOL_DOMAINS)
        obj = self.dns(host, proc, self.case_variant(domain), f"::ffff:{self.public4()};")
        return self.emit(obj, trap=0.3)

    def unseen_proc(self, host: Host, image: str) -> Proc:
        """A process that started before the corpus (no creation event)."""
        user = self.pick(host.users)
        return Proc(self.guid(host), self.pid(host), image, user)

    # -- attacks -----------------------------------------------------------------------------

    def _atk_container_miner(self) -> list[Line]:
        """Atomic test 1 on Sysmon for Linux: the runtime starts a miner; no DNS event exists
        on Linux, so the story is the process and its pool connection."""
        host = self.host("Lin")
        image = self.case_variant(self.pick(LIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        if self.random() < 0.7:
            args = self.case_variant(self.pick(MINER_ARGS_WITH_POOL), MINER_CMDLINE_STRINGS)
        else:
            args = self.pick(MINER_ARGS_BENIGN_LOOKING)
        parent = self.runtime_path() if self.random() < 0.8 else "/usr/bin/conmon"
        lines = [self.emit(self.lin_process(host, image, f"{image} {args}", parent), trap=0.3)]
        lines.append(self.pool_connection(host, self.last_proc))
        return lines

    def _atk_curl_pool(self) -> list[Line]:
        """Atomic test 2: curl to pool.minexmr.com:3333 (with its DNS query on Windows)."""
        domain, port = "pool.minexmr.com", "3333"
        if self.random() < 0.3:
            domain = self.pick(("pool.supportxmr.com", "xmr-eu1.nanopool.org"))
            port = self.pick(("3333", "4444", "14444"))
        url = f"http://{self.case_variant(domain)}:{port}"
        if self.random() < 0.6:
            host = self.host("Lin")
            obj = self.lin_process(host, "/usr/bin/curl", f"curl -s {url}", "/usr/bin/bash")
            lines = [self.emit(obj, trap=0.3)]
        else:
            host = self.host("Win")
            obj = self.win_process(
                host, r"C:\Windows\System32\curl.exe", f"curl.exe -s {url}", "cmd.exe"
            )
            lines = [self.emit(obj, trap=0.3), self.pool_dns(host, self.last_proc, domain)]
        lines.append(self.pool_connection(host, self.last_proc, port=self.port(host, port)))
        return lines

    def _atk_image_run(self) -> list[Line]:
        """Atomic test 3: docker run; the runtime starts wget, which fetches from
        127.0.0.1:3333 (loopback: not reported) and writes its payload."""
        host = self.host("Lin")
        run = self.fill_host(self.pick(DOCKER_RUN_CMDS), host)
        tool = "/usr/bin/" + run.split(" ", 1)[0]
        lines = [self.emit(self.lin_process(host, tool, run, "/usr/bin/bash"))]
        cmd = self.pick(LOOPBACK_FETCH_CMDS)
        image = "/usr/bin/" + cmd.split(" ", 1)[0]
        lines.append(self.emit(self.lin_process(host, image, cmd, self.runtime_path()), trap=0.3))
        proc = self.last_proc
        lines.append(self.emit(self.network(host, proc, "127.0.0.1", self.port(host, "3333"))))
        if self.random() < 0.5:
            lines.append(self._file_created(host, proc, "/tmp/.cache/k"))
        return lines

    def _atk_credential_exfil(self) -> list[Line]:
        """Atomic test 5: the runtime starts curl / wget with AWS credentials on its command
        line. When a shell in the container runs it instead, Sysmon shows a shell parent and no
        container id, and no rule fires (the story is still told)."""
        host = self.host("Lin")
        exfil = self.pick(EXFIL_HOSTS)
        cmd = self.fill_host(self.pick(CREDENTIAL_EXFIL_CMDS).replace("{H}", exfil), host)
        image = "/usr/bin/" + cmd.split(" ", 1)[0]
        runtime = self.runtime_path()
        lines: list[Line] = []
        if self.random() < 0.7:
            lines.append(self.emit(self.lin_process(host, image, cmd, runtime), trap=0.3))
        else:
            shell_cmd = f"/bin/sh -c {cmd}"
            lines.append(self.emit(self.lin_process(host, "/usr/bin/dash", shell_cmd, runtime)))
            shell = self.last_proc
            obj = self.lin_process(
                host, image, cmd, "/usr/bin/dash", parent=shell, parent_cmd=shell_cmd
            )
            lines.append(self.emit(obj, trap=0.3))
        name = exfil.split(":", 1)[0]
        remote = name if name[0].isdigit() else self.public4()
        port = exfil.split(":", 1)[1] if ":" in exfil else ("443" if "https" in cmd else "80")
        lines.append(self.emit(self.network(host, self.last_proc, remote, self.port(host, port))))
        return lines

    def _atk_windows_miner(self) -> list[Line]:
        host = self.host("Win")
        image = "C:\\" + self.case_variant(self.pick(WIN_MINER_IMAGES), MINER_IMAGE_STRINGS)
        if self.random() < 0.6:
            args = self.pick(MINER_ARGS_WITH_POOL)
        else:
            args = self.pick(MINER_ARGS_BENIGN_LOOKING)
        parent = self.pick(("explorer.exe", "cmd.exe", "wscript.exe"))
        obj = self.win_process(host, image, f'"{image}" {args}', parent)
        lines = [self.emit(obj, trap=0.3)]
        proc = self.last_proc
        if self.random() < 0.6:
            lines.append(self.pool_dns(host, proc))
        if self.random() < 0.6:
            lines.append(self.pool_connection(host, proc, v6=self.random() < 0.2))
        return lines

    def _atk_cmd_only(self) -> list[Line]:
        if self.random() < 0.5:
            host = self.host("Lin")
            image, cmd = LIN_CMD_ONLY[int(self.random() * len(LIN_CMD_ONLY))]
            parent = self.pick(("/usr/bin/bash", "/usr/sbin/cron", self.runtime_path()))
            obj = self.lin_process(host, image, self.fill_host(cmd, host), parent)
        else:
            host = self.host("Win")
            rel, cmd = WIN_CMD_ONLY[int(self.random() * len(WIN_CMD_ONLY))]
            parent = self.pick(("cmd.exe", "wmiprvse.exe", "svchost.exe"))
            obj = self.win_process(host, "C:\\" + rel, cmd, parent)
        return [self.emit(obj, trap=0.3)]

    def _atk_dns_only(self) -> list[Line]:
        host = self.host("Win")
        return [self.pool_dns(host, self.context_proc(host, no_browser=True))]

    def _atk_network_only(self) -> list[Line]:
        host = self.host()
        if host.platform == "Win":
            image = self.pick(
                (
                    r"C:\Windows\Temp\svchost32.exe",
                    "<unknown process>",
                    r"C:\ProgramData\svc\run.exe",
                )
            )
        else:
            image = self.pick(
                ("/tmp/.ICE-unix/kworkerds", "/dev/shm/.m/minerd", "<unknown process>")
            )
        return [self.pool_connection(host, self.unseen_proc(host, image), v6=self.random() < 0.25)]

    # -- false positives ---------------------------------------------------------------------

    def _fp_healthcheck(self) -> list[Line]:
        host = self.host("Lin")
        image, cmd = HEALTHCHECK_CMDS[int(self.random() * len(HEALTHCHECK_CMDS))]
        lines = [self.emit(self.lin_process(host, image, cmd, self.runtime_path()), trap=0.3)]
        if "127.0.0.1:" in cmd and self.random() < 0.5:
            port = cmd.split("127.0.0.1:", 1)[1].split("/", 1)[0]
            lines.append(self.emit(self.network(host, self.last_proc, "127.0.0.1", port)))
        return lines

    def _fp_artifact_upload(self) -> list[Line]:
        host = self.host("Lin")
        cmd = self.fill_host(self.pick(ARTIFACT_UPLOAD_CMDS), host)
        return [self.emit(self.lin_process(host, "/usr/bin/curl", cmd, self.runtime_path()))]

    def _fp_doc_quotes(self) -> list[Line]:
        if self.random() < 0.6:
            host = self.host("Lin")
            image, cmd = DOC_QUOTE_CMDS_LIN[int(self.random() * len(DOC_QUOTE_CMDS_LIN))]
            obj = self.lin_process(host, image, self.fill_host(cmd, host), "/usr/bin/bash")
        else:
            host = self.host("Win")
            rel, cmd = DOC_QUOTE_CMDS_WIN[int(self.random() * len(DOC_QUOTE_CMDS_WIN))]
            obj = self.win_process(host, "C:\\" + rel, cmd, "explorer.exe")
        return [self.emit(obj, trap=0.3)]

    def _fp_sanctioned_mining(self) -> list[Line]:
        host = self.host("Lin")
        image, cmd, _ = SANCTIONED_MINER
        lines = [self.emit(self.lin_process(host, image, cmd, "/usr/lib/systemd/systemd"))]
        lines.append(self.pool_connection(host, self.last_proc, port=self.port(host, "5555")))
        return lines

    def _fp_short_names(self) -> list[Line]:
        if self.random() < 0.5:
            host = self.host("Win")
            image = "C:\\" + self.pick(SHORT_NAME_IMAGES_WIN)
            obj = self.win_process(host, image, f'"{image}" /silent', "explorer.exe")
        else:
            host = self.host("Lin")
            image = self.pick(SHORT_NAME_IMAGES_LIN)
            obj = self.lin_process(
                host, image, f"{basename(image)} --daemon", "/usr/lib/systemd/systemd"
            )
        return [self.emit(obj)]

    def _fp_linux_browser(self) -> list[Line]:
        """A Linux browser on a pool port: the rule's browser filter only knows .exe names."""
        host = self.host("Lin")
        proc = self.unseen_proc(host, self.pick(LIN_BROWSERS))
        port = self.pick(("4444", "9999", "7777", "5555"))
        return [self.emit(self.network(host, proc, self.public4(), self.port(host, port)))]

    def _fp_bitcoin_node(self) -> list[Line]:
        host = self.host("Lin")
        obj = self.lin_process(host, BITCOIN_NODE[0], BITCOIN_NODE[1], "/usr/lib/systemd/systemd")
        lines = [self.emit(obj)]
        proc = self.last_proc
        for _ in range(1 + self.bits(1)):
            lines.append(
                self.emit(self.network(host, proc, self.public4(), self.port(host, "8333")))
            )
        return lines

    def _fp_mapped_v4(self) -> list[Line]:
        """IPv4-mapped IPv6 destinations are outside every filtered range (::ffff:10.x too)."""
        host = self.host("Win")
        b = self.bits(16)
        remote = (
            self.pick(IPV4_MAPPED)
            .replace("{b}", str(b >> 8))
            .replace("{c}", str(1 + (b & 255) % 254))
            .replace("{P}", self.public4())
        )
        proc = self.context_proc(host, no_browser=True)
        return [self.pool_connection(host, proc, remote=remote)]

    # -- hard negatives ----------------------------------------------------------------------

    def _hard_browser_pool_port(self) -> list[Line]:
        """Windows browsers reaching public addresses on pool ports: filtered by the rule."""
        host = self.host("Win")
        user = self.pick(host.users).rsplit("\\", 1)[-1]
        if self.random() < 0.5:
            rel, cmd, parents, _ = WIN_BROWSER_PROCS[int(self.random() * len(WIN_BROWSER_PROCS))]
            obj = self.win_process(host, "C:\\" + rel, cmd, parents[0], browser=True)
            lines = [self.emit(obj)]
            proc = self.last_proc
        else:
            lines = []
            proc = self.unseen_proc(host, self.pick(WIN_BROWSERS).replace("{U}", user))
        v6 = self.random() < 0.2
        dest = self.pool_remote(v6)
        lines.append(self.emit(self.network(host, proc, dest, self.pool_port()), trap=0.2))
        return lines

    def _hard_renamed_as_browser(self) -> list[Line]:
        """A miner renamed to a browser's name: OriginalFileName tells, no rule reads it, and
        the browser filter drops its pool connection (an evasion the rules allow)."""
        host = self.host("Win")
        image = self.pick(RENAMED_AS_BROWSER)
        cmd = f'"{image}" {self.pick(MINER_ARGS_BENIGN_LOOKING)}'
        obj = self.win_process(host, image, cmd, "explorer.exe", original="xmrig.exe")
        lines = [self.emit(obj)]
        lines.append(self.emit(self.network(host, self.last_proc, self.public4(), "3333")))
        return lines

    def _hard_private_pool_port(self) -> list[Line]:
        host = self.host()
        proc = self.context_proc(host)
        dest = self.private6() if self.random() < 0.3 else self.private4()
        name = self.pick(POOL_DOMAINS).lower() if self.random() < 0.2 else "-"
        obj = self.network(host, proc, dest, self.pool_port(), dest_name=name)
        return [self.emit(obj, trap=0.2)]

    def _hard_public_other_port(self) -> list[Line]:
        host = self.host()
        v6 = self.random() < 0.25
        remote = self.public6() if v6 else self.public4()
        port = self.pick(NON_POOL_PORTS)
        obj = self.network(host, self.context_proc(host), remote, self.port(host, port))
        return [self.emit(obj)]

    def _hard_inbound_from_pool_port(self) -> list[Line]:
        """An inbound connection whose remote end uses a pool port: the rule reads only the
        destination, which is this host."""
        host = self.host()
        proc = self.context_proc(host)
        obj = self.network(
            host,
            proc,
            host.local4,
            self.port(host, self.pick(("22", "443", "8080"))),
            initiated=False,
            source=self.public4(),
            source_port=self.pool_port(),
        )
        return [self.emit(obj)]

    def _hard_near_miss_dns(self) -> list[Line]:
        host = self.host("Win")
        proc = self.context_proc(host)
        if self.random() < 0.7:
            obj = self.dns(host, proc, self.case_variant(self.pick(NEAR_MISS_DOMAINS)))
        else:  # a pool only in the answer (a CNAME): the rule reads the query name
            query = f"cdn{self.bits(8)}.mirror-assets.net"
            results = f"type:  5 {self.pick(POOL_DOMAINS).lower()};::ffff:{self.public4()};"
            obj = self.dns(host, proc, query, results)
        return [self.emit(obj, trap=0.2)]

    def _hard_miner_in_other_events(self) -> list[Line]:
        """Miner names in event types no rule reads: termination, image load, process access,
        file creation, a Run key."""
        host = self.host()
        if host.platform == "Lin":
            proc = self.unseen_proc(host, self.pick(LIN_MINER_IMAGES))
            if self.random() < 0.5:
                return [(encode(self.simple(host, 5, proc, {})), ())]
            curl = self.unseen_proc(host, "/usr/bin/curl")
            return [self._file_created(host, curl, proc.image)]
        user = self.pick(host.users).rsplit("\\", 1)[-1]
        miner = self.unseen_proc(host, f"C:\\Users\\{user}\\AppData\\Local\\Temp\\xmrig.exe")
        r = self.random()
        if r < 0.2:
            return [(encode(self.simple(host, 5, miner, {})), ())]
        if r < 0.4:
            return [self._image_loaded(host, miner, r"C:\Windows\System32\WinRing0x64.sys")]
        if r < 0.6:
            return [self._process_access(host, miner)]
        if r < 0.8:
            return [self._file_created(host, self.context_proc(host), miner.image)]
        details = f"{miner.image} -o stratum+tcp://pool.supportxmr.com:3333 -u {WALLET}"
        target = r"HKU\{S}\Software\Microsoft\Windows\CurrentVersion\Run\WindowsHelper"
        return [self._registry_value(host, target, details, self.context_proc(host))]

    def _hard_security_channel(self) -> list[Line]:
        """The Security log's own process creation and connection events: not Sysmon."""
        host = self.host("Win")
        if self.random() < 0.5:
            cmd = r"C:\Users\Public\xmrig.exe -o stratum+tcp://pool.minexmr.com:4444 -k"
            return [self._security_event(host, 4688, cmd=cmd)]
        return [self._security_event(host, 5156, dest=self.public4(), port="3333")]

    def _hard_miner_parent(self) -> list[Line]:
        """The miner is the parent: ParentImage and ParentCommandLine are not rule fields."""
        host = self.host()
        if host.platform == "Win":
            image, cmd = r"C:\Windows\System32\cmd.exe", "cmd.exe /c whoami"
            parent = r"C:\Users\Public\xmrig.exe"
        else:
            image, cmd = "/usr/bin/dash", "sh -c nproc"
            parent = self.pick(LIN_MINER_IMAGES)
        parent_cmd = f"{parent} -o stratum+tcp://pool.supportxmr.com:3333 --donate-level 1"
        return [self.emit(self.process(host, image, cmd, parent, parent_cmd))]

    def _hard_near_runtime(self) -> list[Line]:
        host = self.host("Lin")
        image, cmd = HEALTHCHECK_CMDS[int(self.random() * len(HEALTHCHECK_CMDS))]
        return [self.emit(self.lin_process(host, image, cmd, self.pick(NEAR_RUNTIME_PARENT_PATHS)))]

    def _hard_near_downloader(self) -> list[Line]:
        host = self.host("Lin")
        image = self.pick(NEAR_DOWNLOADER_IMAGES)
        tool = "wget" if image == "/bin/busybox" else basename(image)
        obj = self.lin_process(
            host, image, f"{tool} -q http://127.0.0.1:8080/", self.runtime_path()
        )
        return [self.emit(obj)]

    def _hard_credentials_elsewhere(self) -> list[Line]:
        host = self.host("Lin")
        if self.random() < 0.5:
            image, cmd = CREDENTIAL_NEAR_MISS[int(self.random() * len(CREDENTIAL_NEAR_MISS))]
            obj = self.lin_process(host, image, self.fill_host(cmd, host), self.runtime_path())
        else:
            cmd = self.fill_host(self.pick(CREDENTIAL_HOST_CMDS), host)
            obj = self.lin_process(host, "/usr/bin/" + cmd.split(" ", 1)[0], cmd, "/usr/bin/bash")
        return [self.emit(obj, trap=0.3)]

    def _hard_portlike_cmdline(self) -> list[Line]:
        if self.random() < 0.6:
            host = self.host("Lin")
            table = PORTLIKE_CMDS_LIN + NO_RULE_CMDS_LIN
            image, cmd = table[int(self.random() * len(table))]
            obj = self.lin_process(host, image, cmd, "/usr/bin/bash")
        else:
            host = self.host("Win")
            rel, cmd = PORTLIKE_CMDS_WIN[int(self.random() * len(PORTLIKE_CMDS_WIN))]
            obj = self.win_process(host, "C:\\" + rel, cmd, "cmd.exe")
        return [self.emit(obj)]
