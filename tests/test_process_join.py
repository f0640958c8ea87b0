"""The process join on real-shaped Falcon lines (issue 4's "done when").

Falcon Data Replicator writes every value as a string, versions the `name` of an event
(`ProcessRollup2V19`, `NetworkConnectIP4V12`) and names the process of a network or DNS
event only by `ContextProcessId`, which equals the `TargetProcessId` of its
`ProcessRollup2` on the same `aid`. The lines below have that shape (see
`corpora/falcon/sample.jsonl.zst`); every scenario is checked through the library and
through `retrohunt scan`, and with the prefilter on and off. Every test runs twice: with
the process table in memory, and with every process spilled to disk as soon as it is
learned (`SPILL_ROWS` = 0), which must change nothing and leave no segment behind.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import retrohunt.context as context_module
import retrohunt.engine as engine_module
from conftest import make_archive
from retrohunt.cli import main
from retrohunt.scan import ScanOptions, ScanResult, scan

REPO = Path(__file__).resolve().parents[1]
SAMPLES = [REPO / "corpora/falcon/sample.jsonl.zst", REPO / "corpora/mixed/sample.jsonl.zst"]

WIN_AID = "e905dddc988c23a9adb50fc8305dbd16"
LIN_AID = "2e5bf3c1def2fe9c8af3015d4e5e1d1d"
CID = "b84e2d71c06f4a9d8e3b5c1f7a2d9e60"
START_MS = 1_794_882_709_000  # 2026-11-17 02:31:49 UTC, like the committed sample
DAY_MS = 86_400_000
CONTAINER = "ef3bc9b35c7c71595d1b114e97ab1bafdbdcf09db8cd8db8434ac1a78f9d4bbf"

CHROME = r"\Device\HarddiskVolume3\Program Files\Google\Chrome\Application\chrome.exe"
CHROME_CMD = (
    r'"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility '
    r"--utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none"
)
UPDATER = r"\Device\HarddiskVolume3\Users\kwilliams\AppData\Local\Temp\svchost-update.exe"
MINER = "/tmp/xmrig"
MINER_CMD = "/tmp/xmrig -o pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ --donate-level 1"

POOL = "NetworkConnectIP4"
NETWORK_RULE = "MiningPoolNetworkConnection"
PUBLIC_IP = "198.51.100.23"
POOL_PORT = "3333"

_serial = iter(range(1, 1_000_000))


def _common(simple_name: str, version: str, aid: str, platform: str, at_ms: int) -> dict[str, Any]:
    serial = next(_serial)
    return {
        "event_simpleName": simple_name,
        "name": f"{simple_name}{version}",
        "aid": aid,
        "cid": CID,
        "aip": "69.221.201.6",
        "event_platform": platform,
        "id": f"737e38ca-a933-4acf-8f22-{serial:012d}",
        "timestamp": str(at_ms),
    }


def process(
    pid: str,
    image: str,
    command_line: str,
    *,
    at_ms: int = START_MS,
    aid: str = WIN_AID,
    parent: str = "explorer.exe",
    **extra: str,
) -> dict[str, Any]:
    """A ProcessRollup2 as Falcon writes it (Windows, or Linux when `aid` is LIN_AID)."""
    linux = aid == LIN_AID
    event = _common(
        "ProcessRollup2", "LinV12" if linux else "V19", aid, "Lin" if linux else "Win", at_ms
    )
    event.update(
        {
            "CommandLine": command_line,
            "ImageFileName": image,
            "ParentBaseFileName": parent,
            "TargetProcessId": pid,
            "ParentProcessId": "8674255049",
            "SourceProcessId": "8674255049",
            "RawProcessId": "32648",
            **({"UID": "0", "GID": "0"} if linux else {"UserSid": "S-1-5-21-5395-1039"}),
            "ProcessStartTime": f"{at_ms / 1000:.3f}",
            "ProcessEndTime": "",
            "SHA256HashData": "99a6f7c919f8648200b91ef1d8c3d79a4fc1006775403d4a6ebd6c577d69f20a",
            "MD5HashData": "54c991e70f3cbdd81d2c3f705c2cd45a",
            "ConfigBuild": "1007.3.0017702.1",
            "ConfigStateHash": "2081374175",
            "Entitlements": "15",
            "EffectiveTransmissionClass": "2",
            **extra,
        }
    )
    return event


def connection(
    pid: str,
    *,
    remote_ip: str = PUBLIC_IP,
    port: str = POOL_PORT,
    direction: str = "0",
    at_ms: int = START_MS + 5_000,
    aid: str = WIN_AID,
) -> dict[str, Any]:
    """A NetworkConnectIP4V12: no image, only ContextProcessId."""
    platform = "Lin" if aid == LIN_AID else "Win"
    event = _common(POOL, "V12", aid, platform, at_ms)
    event.update(
        {
            "ConnectionDirection": direction,
            "ConnectionFlags": "0",
            "ContextProcessId": pid,
            "ContextTimeStamp": f"{at_ms / 1000:.3f}",
            "InContext": "1",
            "LocalAddressIP4": "10.102.6.79",
            "RemoteAddressIP4": remote_ip,
            "LocalPort": "50902",
            "RemotePort": port,
            "Protocol": "6",
            "ConfigBuild": "1007.3.0017702.1",
            "ConfigStateHash": "1289503157",
            "Entitlements": "15",
            "EffectiveTransmissionClass": "2",
        }
    )
    return event


def dns(
    pid: str, domain: str, *, at_ms: int = START_MS + 4_000, aid: str = LIN_AID
) -> dict[str, Any]:
    """A DnsRequestV4: no image, only ContextProcessId."""
    event = _common("DnsRequest", "V4", aid, "Lin" if aid == LIN_AID else "Win", at_ms)
    event.update(
        {
            "ContextProcessId": pid,
            "ContextTimeStamp": f"{at_ms / 1000:.3f}",
            "ContextThreadId": "40629410515",
            "DomainName": domain,
            "RequestType": "1",
            "DualRequest": "0",
            "EffectiveTransmissionClass": "2",
        }
    )
    return event


def filler(count: int, *, at_ms: int = START_MS) -> list[dict[str, Any]]:
    """Benign events of other types (their own processes, connections to port 443)."""
    events: list[dict[str, Any]] = []
    for index in range(count):
        pid = f"5{index:010d}"
        events.append(
            process(pid, r"\Device\HarddiskVolume2\Windows\System32\svchost.exe", "svchost -k")
        )
        events.append(connection(pid, port="443", at_ms=at_ms + index))
    return events


def lines(events: Iterable[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(e, separators=(",", ":")).encode("utf-8") for e in events]


def archive(folder: Path, events: Iterable[dict[str, Any]], name: str = "events.jsonl.zst") -> Path:
    return make_archive(folder, lines(events), "zstd", name)


def run(
    archives: Iterable[Path], out: Path, *, prefilter: bool = True, **options: Any
) -> ScanResult:
    return scan(ScanOptions(archives=tuple(archives), out=out, prefilter=prefilter, **options))


def network_alerts(alerts: pl.DataFrame) -> pl.DataFrame:
    return alerts.filter(pl.col("rule_name") == NETWORK_RULE).sort("archive", "line_number")


def cli(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def read_alerts(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("*.alerts.parquet")))


@pytest.fixture(autouse=True, params=["in-memory", "spilled"])
def spill(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """Run the test with process tables in memory, or spilling every process to disk."""
    if request.param == "spilled":
        monkeypatch.setattr(context_module, "SPILL_ROWS", 0)
    yield
    gc.collect()  # tables an engine used outside `scan` are removed when collected
    assert not list(tmp_path.rglob(".retrohunt-processes-*")), "spilled segments left behind"


@pytest.fixture(params=[True, False], ids=["prefilter", "no-prefilter"])
def prefilter(request: pytest.FixtureRequest) -> bool:
    on: bool = request.param
    return on


# --- (a)–(d): one archive ---------------------------------------------------------------------


def test_chrome_connecting_to_a_pool_port_is_not_alerted(tmp_path: Path, prefilter: bool) -> None:
    events = [
        process("68185176230", CHROME, CHROME_CMD),
        process("68185176231", UPDATER, UPDATER),  # the control: same connection, not a browser
        connection("68185176230"),
        connection("68185176231"),
    ]
    result = run([archive(tmp_path / "in", events)], tmp_path / "out", prefilter=prefilter)

    alerts = network_alerts(result.alerts)
    assert alerts["line_number"].to_list() == [4]
    row = alerts.row(0, named=True)
    assert (row["image"], row["process_context"]) == (UPDATER, "joined")
    assert (row["remote_ip"], row["remote_port"]) == (PUBLIC_IP, 3333)


def _sysmon_process(n: int) -> dict[str, Any]:
    """A flat Sysmon process creation; every 50th runs a miner."""
    return {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws-07",
        "UtcTime": "2023-11-14 22:13:20.118",
        "ProcessId": str(4000 + n),
        "Image": r"C:\Users\Public\xmrig.exe" if n % 50 == 0 else r"C:\Windows\notepad.exe",
        "CommandLine": MINER_CMD if n % 50 == 0 else f"notepad.exe doc{n}.txt",
    }


def test_chunks_no_event_of_the_join_can_be_in_go_to_worker_processes(tmp_path: Path) -> None:
    # Sysmon chunks around Falcon ones: with two workers the Sysmon-only chunks are
    # evaluated by worker processes (which run without the join), the others here, where
    # chrome's connection, many chunks after chrome started, is still joined and dropped.
    falcon = [
        process("68185176230", CHROME, CHROME_CMD),
        process("68185176231", UPDATER, UPDATER),
        *(process(str(68185177000 + n), UPDATER, f"filler {n}") for n in range(150)),
        connection("68185176230"),
        connection("68185176231"),
    ]
    events = [
        *(_sysmon_process(n) for n in range(300)),
        *falcon,
        *(_sysmon_process(n) for n in range(300, 600)),
    ]
    path = archive(tmp_path / "in", events)
    options: dict[str, Any] = {"prefilter": False, "chunk_size": 16 << 10}
    one = run([path], tmp_path / "one", **options)
    two = run([path], tmp_path / "two", workers=2, **options)

    assert two.engine is not None and two.engine.joins
    assert two.engine.pooled_chunks >= 5  # of some 12 Sysmon-only chunks
    columns = ["alert_id", "line_number", "rule_name", "image", "process_context"]
    assert two.alerts.select(columns).sort("line_number", "rule_name").rows() == (
        one.alerts.select(columns).sort("line_number", "rule_name").rows()
    )
    assert two.alerts.filter(pl.col("image").str.contains("xmrig")).height >= 12
    network = network_alerts(two.alerts)
    assert network["line_number"].to_list() == [300 + len(falcon)]  # the updater's
    assert network.row(0, named=True)["process_context"] == "joined"


def test_chrome_is_not_alerted_through_the_cli(tmp_path: Path) -> None:
    events = [process("68185176230", CHROME, CHROME_CMD), connection("68185176230")]
    path = archive(tmp_path / "in", events)

    assert cli("scan", path, "--out", tmp_path / "out", "--quiet") == 0
    assert cli("scan", path, "--out", tmp_path / "nojoin", "--quiet", "--no-process-join") == 0

    assert network_alerts(read_alerts(tmp_path / "out")).height == 0
    # Without the join the connection has no image: the browser filter cannot drop it.
    (row,) = network_alerts(read_alerts(tmp_path / "nojoin")).iter_rows(named=True)
    assert (row["image"], row["process_context"]) == (None, "unknown")


def test_a_connection_of_an_unknown_process_is_alerted_as_unknown(
    tmp_path: Path, prefilter: bool
) -> None:
    events = [process("68185176230", CHROME, CHROME_CMD), connection("99999999999")]
    path = archive(tmp_path / "in", events)

    result = run([path], tmp_path / "out", prefilter=prefilter)
    assert cli("scan", path, "--out", tmp_path / "cli", "--quiet") == 0

    for alerts in (result.alerts, read_alerts(tmp_path / "cli")):
        (row,) = network_alerts(alerts).iter_rows(named=True)
        assert row["process_context"] == "unknown"
        assert row["image"] is None
        assert row["command_line"] is None
        assert row["container_id"] is None
        assert row["line_number"] == 2


def test_a_linux_miner_in_a_container_is_alerted_with_its_container(
    tmp_path: Path, prefilter: bool
) -> None:
    events = [
        *filler(3),
        process(
            "37695867279",
            MINER,
            MINER_CMD,
            aid=LIN_AID,
            parent="containerd-shim-runc-v2",
            OciContainerId=CONTAINER,
        ),
        dns("37695867279", "pool.supportxmr.com"),
        connection("37695867279", aid=LIN_AID),
    ]
    path = archive(tmp_path / "in", events)

    result = run([path], tmp_path / "out", prefilter=prefilter)
    assert cli("scan", path, "--out", tmp_path / "cli", "--quiet") == 0

    for alerts in (result.alerts, read_alerts(tmp_path / "cli")):
        by_rule = {row["rule_name"]: row for row in alerts.iter_rows(named=True)}
        network = by_rule[NETWORK_RULE]
        assert network["process_context"] == "joined"
        assert network["container_id"] == CONTAINER
        assert network["image"] == MINER
        assert network["command_line"] == MINER_CMD
        assert network["parent_image"] == "containerd-shim-runc-v2"
        lookup = by_rule["MiningPoolDNSLookup"]
        assert (lookup["image"], lookup["container_id"]) == (MINER, CONTAINER)
        assert lookup["process_context"] == "joined"
        started = by_rule["MinerProcessExecution"]
        assert (started["container_id"], started["process_context"]) == (CONTAINER, "event")


@pytest.mark.parametrize("known", [True, False], ids=["known-miner", "unknown-process"])
def test_an_inbound_connection_on_a_pool_port_is_not_alerted(
    tmp_path: Path, prefilter: bool, known: bool
) -> None:
    events = [
        *([process("37695867279", MINER, MINER_CMD, aid=LIN_AID)] if known else []),
        connection("37695867279", aid=LIN_AID, direction="1"),  # accepted, not opened
        connection("37695867279", aid=LIN_AID, direction="2"),  # neither: kept (recall first)
    ]
    path = archive(tmp_path / "in", events)

    result = run([path], tmp_path / "out", prefilter=prefilter)
    assert cli("scan", path, "--out", tmp_path / "cli", "--quiet") == 0

    for alerts in (result.alerts, read_alerts(tmp_path / "cli")):
        alerted = network_alerts(alerts)
        assert alerted["line_number"].to_list() == [3 if known else 2]


# --- (e): a process table carried from run to run --------------------------------------------


def _two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Run 1: a browser, a miner and (ten days older) a forgotten process; run 2: their
    connections, a day later."""
    first = archive(
        tmp_path / "day1",
        [
            process(
                "70000000001",
                r"\Device\HarddiskVolume3\Windows\old.exe",
                "old.exe",
                at_ms=START_MS - 10 * DAY_MS,
            ),
            process("68185176230", CHROME, CHROME_CMD),
            process("37695867279", MINER, MINER_CMD, aid=LIN_AID, OciContainerId=CONTAINER),
            *filler(2),
        ],
    )
    later = START_MS + DAY_MS
    second = archive(
        tmp_path / "day2",
        [
            *filler(2, at_ms=later),
            connection("68185176230", at_ms=later),
            connection("37695867279", aid=LIN_AID, at_ms=later + 1),
            connection("70000000001", at_ms=later + 2),
        ],
    )
    return first, second


def _check_second_run(alerts: pl.DataFrame) -> None:
    rows = network_alerts(alerts).to_dicts()
    # The browser's connection (line 5) is resolved by the table and dropped.
    assert [r["line_number"] for r in rows] == [6, 7]
    miner, forgotten = rows
    assert (miner["image"], miner["process_context"]) == (MINER, "joined")
    assert miner["container_id"] == CONTAINER
    # Older than the horizon when run 1 saved the table: gone, so unknown.
    assert (forgotten["image"], forgotten["process_context"]) == (None, "unknown")


def test_a_process_of_an_earlier_run_resolves_a_later_one(tmp_path: Path, prefilter: bool) -> None:
    first, second = _two_runs(tmp_path)
    table = tmp_path / "state" / "processes.parquet"

    one = run([first], tmp_path / "out1", prefilter=prefilter, process_table=table)
    assert set(one.alerts["rule_name"]) == {"MinerProcessExecution", "MinerCommandLineArgs"}

    saved = pl.read_parquet(table)
    pids = set(saved["_rh_join_pid"])
    assert {"68185176230", "37695867279"} <= pids
    assert "70000000001" not in pids  # ten days older than the newest: past the 7-day horizon

    two = run([second], tmp_path / "out2", prefilter=prefilter, process_table=table)
    _check_second_run(two.alerts)
    manifest = json.loads(two.manifest_path.read_text(encoding="utf-8"))
    assert manifest["process_join"]["table_file"] == str(table)


def test_a_process_of_an_earlier_run_resolves_a_later_one_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _two_runs(tmp_path)
    table = tmp_path / "processes.parquet"

    assert cli("scan", first, "--out", tmp_path / "out1", "--process-table", table) == 0
    summary = capsys.readouterr().out
    assert "processes added" in summary and str(table) in summary
    assert cli("scan", second, "--out", tmp_path / "out2", "--process-table", table, "-q") == 0

    _check_second_run(read_alerts(tmp_path / "out2"))
    # Without the table, run 2 knows neither process.
    assert cli("scan", second, "--out", tmp_path / "alone", "--quiet") == 0
    alone = network_alerts(read_alerts(tmp_path / "alone"))
    assert alone["process_context"].to_list() == ["unknown"] * 3


def test_a_longer_horizon_keeps_an_older_process(tmp_path: Path) -> None:
    first, second = _two_runs(tmp_path)
    table = tmp_path / "processes.parquet"
    options = ["--process-table", table, "--process-horizon", "30", "--quiet"]

    assert cli("scan", first, "--out", tmp_path / "out1", *options) == 0
    assert "70000000001" in set(pl.read_parquet(table)["_rh_join_pid"])
    assert cli("scan", second, "--out", tmp_path / "out2", *options) == 0

    rows = network_alerts(read_alerts(tmp_path / "out2")).to_dicts()
    assert [r["process_context"] for r in rows] == ["joined", "joined"]


# --- (g), (h): the join covers the whole scan --------------------------------------------------


def _stream_with_far_apart_processes() -> list[dict[str, Any]]:
    """Connections first, their processes many chunks later (the sensor's order is not
    guaranteed, and an archive may start after a process did)."""
    return [
        connection("68185176230"),
        connection("37695867279", aid=LIN_AID),
        *filler(40),
        process("68185176230", CHROME, CHROME_CMD),
        *filler(40),
        process("37695867279", MINER, MINER_CMD, aid=LIN_AID, OciContainerId=CONTAINER),
    ]


@pytest.mark.parametrize(
    ("prefilter", "flush_every_chunk"),
    [(True, False), (True, True), (False, False), (False, True)],
    ids=["prefilter", "prefilter-flush-every-chunk", "no-prefilter", "no-prefilter-every-chunk"],
)
def test_a_process_chunks_away_and_after_its_connection_is_still_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefilter: bool, flush_every_chunk: bool
) -> None:
    if flush_every_chunk:
        # Lines gather over chunks (the prefilter's candidates, or whole chunks without
        # it) before they are parsed: parse every chunk on its own, as on a large archive.
        monkeypatch.setattr(engine_module, "FLUSH_BYTES", 1)
        monkeypatch.setattr(engine_module, "WHOLE_FLUSH_BYTES", 1)
    path = archive(tmp_path / "in", _stream_with_far_apart_processes())

    result = run([path], tmp_path / "out", prefilter=prefilter, chunk_size=8192)

    assert result.archives[0].decompressed_bytes > 10 * 8192  # many chunks
    (row,) = network_alerts(result.alerts).iter_rows(named=True)
    assert row["line_number"] == 2  # the miner's; chrome's (line 1) dropped
    assert (row["image"], row["container_id"], row["process_context"]) == (
        MINER,
        CONTAINER,
        "joined",
    )
    if flush_every_chunk:
        # Both connections were evaluated before their processes were seen: held back.
        manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
        assert manifest["process_join"]["held_back_lines"] == 2


def test_a_failure_while_learning_on_the_helper_thread_is_raised_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held process lines are learned on a helper thread; what goes wrong there must stop
    # the scan as it would on the scan's own thread, not leave a table silently short.
    monkeypatch.setattr(engine_module, "CONTEXT_FLUSH_BYTES", 1)
    learn = engine_module.Engine._learn
    threads: list[str] = []

    def broken_on_the_helper(self: engine_module.Engine, context: Any, ordinal: int) -> None:
        threads.append(threading.current_thread().name)
        if threads[-1].startswith("retrohunt-learn"):
            raise RuntimeError("learning broke")
        learn(self, context, ordinal)

    monkeypatch.setattr(engine_module.Engine, "_learn", broken_on_the_helper)
    path = archive(tmp_path / "in", _stream_with_far_apart_processes())

    with pytest.raises(RuntimeError, match="learning broke"):
        run([path], tmp_path / "out", chunk_size=8192)
    assert any(name.startswith("retrohunt-learn") for name in threads)


def test_far_apart_processes_through_the_cli(tmp_path: Path) -> None:
    path = archive(tmp_path / "in", _stream_with_far_apart_processes())
    out = tmp_path / "out"

    # 1 MB chunks hold this archive whole: the ordering alone is what is tested here.
    assert cli("scan", path, "--out", out, "--quiet", "--chunk-mb", "1") == 0

    rows = network_alerts(read_alerts(out)).to_dicts()
    assert [(r["line_number"], r["image"], r["process_context"]) for r in rows] == [
        (2, MINER, "joined")
    ]


@pytest.mark.parametrize("processes_first", [True, False], ids=["processes-first", "last"])
def test_processes_in_another_archive_of_the_same_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], processes_first: bool
) -> None:
    processes = archive(
        tmp_path / "a",
        [
            process("68185176230", CHROME, CHROME_CMD),
            process("37695867279", MINER, MINER_CMD, aid=LIN_AID, OciContainerId=CONTAINER),
        ],
        "processes.jsonl.zst",
    )
    connections = archive(
        tmp_path / "b",
        [connection("68185176230"), connection("37695867279", aid=LIN_AID)],
        "connections.jsonl.zst",
    )
    order = [processes, connections] if processes_first else [connections, processes]

    for on in (True, False):
        result = run(order, tmp_path / f"lib-{on}", prefilter=on)
        (row,) = network_alerts(result.alerts).iter_rows(named=True)
        assert (row["archive"], row["line_number"]) == (str(connections), 2)
        assert (row["image"], row["process_context"]) == (MINER, "joined")
    assert cli("scan", *order, "--out", tmp_path / "cli") == 0
    assert "processes added" in capsys.readouterr().out
    (row,) = network_alerts(read_alerts(tmp_path / "cli")).iter_rows(named=True)
    assert (row["image"], row["container_id"]) == (MINER, CONTAINER)


# --- (f): the prefilter changes nothing -------------------------------------------------------


def _scenario_archives(tmp_path: Path) -> Iterator[tuple[list[Path], int]]:
    """Archives to scan together, and a chunk size that puts their events in many chunks."""
    yield (
        [
            archive(
                tmp_path / "mixed-story",
                [
                    process("68185176230", CHROME, CHROME_CMD),
                    connection("99999999999"),
                    connection("37695867279", aid=LIN_AID, direction="1"),
                    *filler(5),
                    process("37695867279", MINER, MINER_CMD, aid=LIN_AID, OciContainerId=CONTAINER),
                    connection("37695867279", aid=LIN_AID),
                    connection("68185176230"),
                    dns("37695867279", "pool.supportxmr.com"),
                ],
            )
        ],
        2048,
    )
    yield list(_two_runs(tmp_path)), 2048
    yield [archive(tmp_path / "far", _stream_with_far_apart_processes())], 8192
    yield SAMPLES, 1 << 20


def _comparable(alerts: pl.DataFrame) -> pl.DataFrame:
    return alerts.sort("archive", "line_number", "rule_name")


def test_prefilter_on_and_off_give_identical_alerts(tmp_path: Path) -> None:
    for index, (archives, chunk_size) in enumerate(_scenario_archives(tmp_path)):
        on = run(archives, tmp_path / f"on{index}", chunk_size=chunk_size)
        off = run(archives, tmp_path / f"off{index}", prefilter=False, chunk_size=chunk_size)
        assert on.alerts.height > 0
        assert _comparable(on.alerts).equals(_comparable(off.alerts)), archives
        assert on.archives[0].candidate_lines < on.archives[0].lines


def test_a_bypassed_prefilter_still_finds_the_process_lines_of_the_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once bypassed, the prefilter scans chunks only for the join's process markers (a
    # small database of its own); the joined alerts must not change.
    monkeypatch.setattr(engine_module, "BYPASS_SAMPLE_LINES", 3)
    for index, (archives, chunk_size) in enumerate(_scenario_archives(tmp_path)):
        kept = run(archives, tmp_path / f"kept{index}", chunk_size=chunk_size,
                   prefilter_bypass_rate=None)  # fmt: skip
        bypassed = run(archives, tmp_path / f"bypassed{index}", chunk_size=chunk_size,
                       prefilter_bypass_rate=0.0)  # fmt: skip
        assert bypassed.engine is not None and bypassed.engine.joins and bypassed.engine.bypassed
        assert _comparable(kept.alerts).equals(_comparable(bypassed.alerts)), archives


def test_prefilter_on_and_off_give_identical_alerts_through_the_cli(tmp_path: Path) -> None:
    archives = [*next(iter(_scenario_archives(tmp_path)))[0], *SAMPLES]

    assert cli("scan", *archives, "--out", tmp_path / "on", "--quiet") == 0
    assert cli("scan", *archives, "--out", tmp_path / "off", "--quiet", "--no-prefilter") == 0

    on, off = read_alerts(tmp_path / "on"), read_alerts(tmp_path / "off")
    assert on.height > 0
    assert _comparable(on).equals(_comparable(off))
    manifest = json.loads((tmp_path / "off" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prefilter"]["enabled"] is False


@pytest.mark.parametrize("learn_every_chunk", [False, True], ids=["batched", "learn-every-chunk"])
def test_a_reused_process_key_joins_the_same_process_with_prefilter_on_and_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, learn_every_chunk: bool
) -> None:
    if learn_every_chunk:
        # Held process lines are learned on their own cadence, ahead of the candidates'
        # evaluation: which sighting an event joins must not depend on it.
        monkeypatch.setattr(engine_module, "CONTEXT_FLUSH_BYTES", 1)
    events = [
        process("111", CHROME, CHROME_CMD),
        connection("111"),
        *filler(60),
        process("111", UPDATER, UPDATER, at_ms=START_MS + 60_000),  # started after it
    ]
    path = archive(tmp_path / "in", events)

    on = run([path], tmp_path / "on", chunk_size=8192)
    off = run([path], tmp_path / "off", prefilter=False, chunk_size=8192)

    assert _comparable(on.alerts).equals(_comparable(off.alerts))
    # The connection joins chrome, started before it, not the later process with its id.
    assert network_alerts(on.alerts).height == 0


def test_a_process_line_with_a_wrong_shaped_envelope_is_learned_as_matching_reads_it(
    tmp_path: Path,
) -> None:
    # A Falcon process line that also holds a CloudTrail `Records` list whose record does
    # not fit the schema (`requestParameters` a string, not an object): reading it nulls every
    # nested column, the envelope too, so matching sees one Falcon event, not records. The
    # process join learns the process the same way (it once read only the list's length,
    # saw an envelope and left the process out; found by tests/test_exactness.py).
    miner = process("4242", MINER, MINER_CMD, aid=LIN_AID)
    miner["Records"] = [None, {"requestParameters": "x", "eventName": "RunInstances"}]
    events = [dns("4242", "pool.supportxmr.com"), miner]
    path = archive(tmp_path / "in", events)

    for prefilter in (True, False):
        alerts = run([path], tmp_path / f"out-{prefilter}", prefilter=prefilter).alerts
        dns_alert = alerts.filter(pl.col("line_number") == 1).row(0, named=True)
        assert (dns_alert["process_context"], dns_alert["image"]) == ("joined", MINER)
