"""ProcessTable: what it remembers, what it fills in, what it writes, what it forgets.

Every test runs twice: with the table in memory, and with every sighting spilled to a
Parquet segment as soon as it is added (`SPILL_ROWS` = 0).

The last test measures the table file per million processes; it runs only with
RETROHUNT_MEASURE=1 (`RETROHUNT_MEASURE=1 pytest -s tests/unit/test_context.py -k measure`)
and its figures are recorded in the README ("Process context").
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrohunt.context as context_module
from retrohunt.archive import Chunk
from retrohunt.cli import main
from retrohunt.compiler import compile_rules
from retrohunt.context import DEFAULT_HORIZON, TABLE_SCHEMA, JoinMarks, ProcessTable
from retrohunt.engine import Engine
from retrohunt.errors import InputError, OutputError
from retrohunt.parse import OFFSET_COLUMN
from retrohunt.sources import SOURCES, select_sources
from retrohunt.sources.base import JOINED_FIELDS
from retrohunt.sources.taxonomy import (
    CATEGORY,
    EVENT_TIME,
    EVENT_TYPE,
    PROCESS_CONTEXT,
    SOURCE,
)
from retrohunt.sources.timestamps import UTC_MICROS

FALCON = [SOURCES["falcon"]]
AID = "e905dddc988c23a9adb50fc8305dbd16"
OTHER_AID = "2e5bf3c1def2fe9c8af3015d4e5e1d1d"
T0 = dt.datetime(2026, 11, 17, 2, 31, 49, tzinfo=dt.UTC)
HOST, PID = "_rh_join_host", "_rh_join_pid"


@pytest.fixture(autouse=True, params=["in-memory", "spilled"])
def spill(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the test with tables that keep their sightings in memory, or spill them all."""
    spilled: bool = request.param == "spilled"
    if spilled:
        monkeypatch.setattr(context_module, "SPILL_ROWS", 0)
    return spilled


def processes(*rows: dict[str, Any]) -> pl.DataFrame:
    """Normalised Falcon process rows (what the engine hands `add`)."""
    full = [
        {
            SOURCE: "falcon",
            EVENT_TYPE: row.get("event_type", "ProcessRollup2"),
            "aid": row.get("aid", AID),
            "TargetProcessId": row["pid"],
            **{field: row.get(field) for field in JOINED_FIELDS},
            EVENT_TIME: row.get("at", T0),
        }
        for row in rows
    ]
    schema = {
        SOURCE: pl.String(),
        EVENT_TYPE: pl.String(),
        "aid": pl.String(),
        "TargetProcessId": pl.String(),
        **{field: pl.String() for field in JOINED_FIELDS},
        EVENT_TIME: UTC_MICROS,
    }
    return pl.DataFrame(full, schema=schema)


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    """Normalised Falcon events pointing to a process (what `enrich` sees)."""
    full = [
        {
            SOURCE: row.get("source", "falcon"),
            CATEGORY: row.get("category", "network_connection"),
            "aid": row.get("aid", AID),
            "ContextProcessId": row.get("pid"),
            **{field: row.get(field) for field in JOINED_FIELDS},
        }
        for row in rows
    ]
    schema = {
        SOURCE: pl.String(),
        CATEGORY: pl.String(),
        "aid": pl.String(),
        "ContextProcessId": pl.String(),
        **{field: pl.String() for field in JOINED_FIELDS},
    }
    return pl.DataFrame(full, schema=schema)


def keys(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {HOST: [h for h, _ in pairs], PID: [p for _, p in pairs]},
        schema={HOST: pl.String(), PID: pl.String()},
    )


# --- add / lookup ----------------------------------------------------------------------------


def test_lookup_finds_every_sighting_of_a_key_in_scan_order() -> None:
    table = ProcessTable()
    table.add(
        processes({"pid": "1", "Image": "/bin/old"}, {"pid": "2", "Image": "/bin/two"}), FALCON
    )
    table.add(processes({"pid": "1", "Image": "/bin/new"}), FALCON, ordinal=1)

    found = table.lookup(keys((AID, "1"), (AID, "2"), (AID, "3"), (OTHER_AID, "1")))

    assert list(zip(found[PID], found["Image"], strict=True)) == [
        ("1", "/bin/old"),
        ("2", "/bin/two"),
        ("1", "/bin/new"),
    ]
    assert table.added == 3
    assert len(table) == 3  # every sighting kept until compacted


def test_an_event_joins_the_sighting_before_it_else_the_first_after_it() -> None:
    # Process id 1 is used twice on one agent: an updater at offset 100, then a browser at
    # offset 5000 of the same archive, and once more in the next archive.
    table = ProcessTable()
    first = processes({"pid": "1", "Image": "/usr/bin/updater"}).with_columns(
        pl.lit(100, dtype=pl.Int64).alias(OFFSET_COLUMN)
    )
    second = processes({"pid": "1", "Image": "/usr/bin/firefox"}).with_columns(
        pl.lit(5000, dtype=pl.Int64).alias(OFFSET_COLUMN)
    )
    table.add(first, FALCON)
    table.add(second, FALCON)
    table.add(processes({"pid": "1", "Image": "/usr/bin/third"}), FALCON, ordinal=1)
    at = events({"pid": "1"}, {"pid": "1"}, {"pid": "1"}, {"pid": "1"}).with_columns(
        pl.Series(OFFSET_COLUMN, [50, 100, 4000, 9000], dtype=pl.Int64)
    )

    enriched = table.enrich(at, FALCON)

    assert enriched["Image"].to_list() == [
        "/usr/bin/updater",  # nothing before it: the first sighting after
        "/usr/bin/updater",  # the line itself cannot be both; at or before
        "/usr/bin/updater",
        "/usr/bin/firefox",
    ]
    assert table.enrich(at, FALCON, ordinal=1)["Image"].to_list() == ["/usr/bin/third"] * 4
    assert set(enriched[PROCESS_CONTEXT]) == {"joined"}


def test_add_keeps_only_process_events_with_a_key() -> None:
    table = ProcessTable()
    rows = processes(
        {"pid": "1", "Image": "/bin/a"},
        {"pid": "2", "Image": "/bin/b", "event_type": "SyntheticProcessRollup2"},
        {"pid": "3", "Image": "/bin/c", "event_type": "EndOfProcess"},
        {"pid": "", "Image": "/bin/d"},  # empty strings count as missing
    )

    table.add(rows, FALCON)

    assert sorted(table.compacted()[PID]) == ["1", "2"]
    table.add(processes(), FALCON)  # nothing to add
    assert table.added == 2


def test_an_empty_table_finds_nothing() -> None:
    table = ProcessTable()
    assert len(table) == 0
    assert table.lookup(keys((AID, "1"))).height == 0
    assert table.compacted().schema == pl.Schema(TABLE_SCHEMA)


# --- enrich ----------------------------------------------------------------------------------


def test_enrich_fills_missing_fields_and_says_where_they_came_from() -> None:
    table = ProcessTable()
    table.add(
        processes(
            {
                "pid": "7",
                "Image": "/tmp/xmrig",
                "CommandLine": "/tmp/xmrig -o pool:3333",
                "ParentImage": "containerd-shim",
                "User": "root",
                "ContainerId": "ef3bc9b3",
            }
        ),
        FALCON,
    )
    enriched = table.enrich(
        events(
            {"pid": "7"},  # joined
            {"pid": "7", "Image": "xmrig", "User": "nobody"},  # the event's own values win
            {"pid": "8"},  # unknown process
            {"pid": "8", "Image": "curl"},  # unknown, but the event names its image
            {"pid": "7", "aid": OTHER_AID},  # same pid, other host: unknown
            {"pid": "7", "category": "process_creation", "Image": "/bin/sh"},  # not joined
            {"pid": "7", "source": "sysmon", "Image": "C:\\x.exe"},  # no join for sysmon
        ),
        FALCON,
    ).to_dicts()

    contexts = [row[PROCESS_CONTEXT] for row in enriched]
    assert contexts == ["joined", "joined", "unknown", "event", "unknown", "event", "event"]
    joined, own = enriched[0], enriched[1]
    assert joined["Image"] == "/tmp/xmrig"
    assert joined["CommandLine"] == "/tmp/xmrig -o pool:3333"
    assert joined["ParentImage"] == "containerd-shim"
    assert (joined["User"], joined["ContainerId"]) == ("root", "ef3bc9b3")
    assert (own["Image"], own["User"], own["ContainerId"]) == ("xmrig", "nobody", "ef3bc9b3")
    assert enriched[2]["Image"] is None
    assert enriched[5]["Image"] == "/bin/sh"
    assert ProcessTable.unresolved(table.enrich(events({"pid": "8"}), FALCON)).to_list() == [True]


def test_enrich_of_no_events_adds_the_context_column() -> None:
    enriched = ProcessTable().enrich(pl.DataFrame({"x": []}, schema={"x": pl.String()}), FALCON)
    assert PROCESS_CONTEXT in enriched.columns


# --- save / load / compacted -----------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    table = ProcessTable()
    table.add(
        processes(
            {"pid": "1", "Image": "\\Device\\HarddiskVolume3\\a.exe", "CommandLine": "a ü"},
            {"pid": "2", "Image": "/bin/b", "ContainerId": "c1", "at": T0 + dt.timedelta(hours=1)},
        ),
        FALCON,
    )
    path = tmp_path / "state" / "processes.parquet"

    assert table.save(path) == path
    loaded = ProcessTable.load(path, dt.timedelta(days=2))

    assert loaded.horizon == dt.timedelta(days=2)
    assert loaded.compacted().equals(table.compacted())
    assert loaded.added == 0  # nothing added in this run yet
    # Entries added after loading are newer than the loaded ones.
    loaded.add(processes({"pid": "1", "Image": "/bin/replaced"}), FALCON)
    assert loaded.lookup(keys((AID, "1")))["Image"].to_list()[-1] == "/bin/replaced"


def test_load_of_a_missing_file_is_an_empty_table(tmp_path: Path) -> None:
    table = ProcessTable.load(tmp_path / "nothing-yet.parquet")
    assert len(table) == 0
    assert table.horizon == DEFAULT_HORIZON


@pytest.mark.parametrize("kind", ["text", "other-parquet", "directory"])
def test_load_of_a_file_that_is_not_a_table_raises_input_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "processes.parquet"
    if kind == "text":
        path.write_text("not parquet\n", encoding="utf-8")
    elif kind == "other-parquet":
        pl.DataFrame({"alert_id": ["x"]}).write_parquet(path)
    else:
        path.mkdir()

    with pytest.raises(InputError, match="process table"):
        ProcessTable.load(path)


def test_the_cli_turns_a_bad_table_into_one_line_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "processes.parquet"
    table.write_text("not parquet\n", encoding="utf-8")
    archive = tmp_path / "events.jsonl"
    archive.write_text("{}\n", encoding="utf-8")

    code = main(
        ["scan", str(archive), "--out", str(tmp_path / "out"), "--process-table", str(table)]
    )

    err = capsys.readouterr().err
    assert code == 4
    assert err.startswith("error: ") and str(table) in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_compacted_keeps_the_latest_entry_within_the_horizon() -> None:
    table = ProcessTable(dt.timedelta(days=7))
    newest = T0 + dt.timedelta(days=30)
    table.add(
        processes(
            {"pid": "old", "Image": "/bin/old", "at": newest - dt.timedelta(days=8)},
            {"pid": "edge", "Image": "/bin/edge", "at": newest - dt.timedelta(days=7)},
            {"pid": "recent", "Image": "/bin/first", "at": newest - dt.timedelta(days=1)},
            {"pid": "recent", "Image": "/bin/second", "at": newest - dt.timedelta(days=9)},
            {"pid": "undated", "Image": "/bin/undated", "at": None},
            {"pid": "newest", "Image": "/bin/newest", "at": newest},
        ),
        FALCON,
    )

    kept = table.compacted()

    # "recent": the latest sighting wins even though its start time is older (and past the
    # horizon, so it goes); an undated process is kept, dated as the newest start.
    assert dict(zip(kept[PID], kept["Image"], strict=True)) == {
        "edge": "/bin/edge",
        "undated": "/bin/undated",
        "newest": "/bin/newest",
    }
    assert kept.filter(pl.col(PID) == "undated")[EVENT_TIME].to_list() == [newest]


def test_compacted_of_only_undated_processes_keeps_them() -> None:
    table = ProcessTable()
    table.add(processes({"pid": "1", "at": None}, {"pid": "2", "at": None}), FALCON)
    assert sorted(table.compacted()[PID]) == ["1", "2"]


# --- measurement -----------------------------------------------------------------------------

_WINDOWS_IMAGES = [
    "\\Device\\HarddiskVolume3\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "\\Device\\HarddiskVolume3\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
    "\\Device\\HarddiskVolume2\\Windows\\System32\\svchost.exe",
    "\\Device\\HarddiskVolume2\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    "\\Device\\HarddiskVolume2\\Windows\\System32\\conhost.exe",
    "\\Device\\HarddiskVolume3\\Users\\kwilliams\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
    "\\Device\\HarddiskVolume3\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
    "\\Device\\HarddiskVolume2\\Windows\\System32\\SearchProtocolHost.exe",
]
_LINUX_IMAGES = [
    "/usr/bin/python3.12",
    "/usr/local/bin/node",
    "/usr/bin/java",
    "/usr/sbin/nginx",
    "/usr/bin/bash",
    "/usr/bin/curl",
    "/opt/app/bin/worker",
    "/usr/lib/systemd/systemd-journald",
]
_ARGS = [
    "--type=renderer --lang=en-US --enable-features=NetworkService --field-trial-handle=",
    "-k netsvcs -p -s Schedule --instance ",
    "-NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\agent\\collect.ps1 -Id ",
    "-m gunicorn app.wsgi:application --bind 0.0.0.0:8000 --workers 4 --name ",
    "-Xms512m -Xmx2g -jar /opt/app/service.jar --spring.profiles.active=prod --id=",
    "-fsSL https://registry.example.internal/v2/images/manifests/sha256:",
]


def realistic_processes(count: int, seed: int = 0) -> pl.DataFrame:
    """`count` process rows as the table stores them: NT device paths and Linux paths, long
    command lines with a random token each (so they do not compress away), 5,000 hosts,
    a third of the Linux processes in one of 2,000 containers, start times over a week."""
    rng = np.random.default_rng(seed)
    linux = rng.random(count) < 0.5
    images = np.where(
        linux,
        np.array(_LINUX_IMAGES)[rng.integers(0, len(_LINUX_IMAGES), count)],
        np.array(_WINDOWS_IMAGES)[rng.integers(0, len(_WINDOWS_IMAGES), count)],
    )
    hosts = np.array([f"{h:032x}" for h in rng.integers(0, 2**63, 5000)])
    containers = np.array([f"{c:016x}" * 4 for c in rng.integers(0, 2**63, 2000)])
    start = int(T0.timestamp() * 1_000_000)
    frame = pl.DataFrame(
        {
            HOST: hosts[rng.integers(0, len(hosts), count)],
            PID: rng.integers(10**10, 10**11, count).astype(str),
            "Image": images,
            "args": np.array(_ARGS)[rng.integers(0, len(_ARGS), count)],
            "token": [f"{t:016x}" for t in rng.integers(0, 2**63, count)],
            "ParentImage": np.array(["explorer.exe", "services.exe", "bash", "containerd-shim"])[
                rng.integers(0, 4, count)
            ],
            "User": np.array([f"user{u:03d}" for u in range(500)])[rng.integers(0, 500, count)],
            "in_container": linux & (rng.random(count) < 0.33),
            "container": containers[rng.integers(0, len(containers), count)],
            EVENT_TIME: start + rng.integers(0, 7 * 86_400 * 1_000_000, count),
        }
    )
    return frame.select(
        HOST,
        PID,
        "Image",
        pl.concat_str("Image", pl.lit(" "), "args", "token").alias("CommandLine"),
        "ParentImage",
        "User",
        pl.when("in_container").then("container").alias("ContainerId"),
        pl.col(EVENT_TIME).cast(UTC_MICROS),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_rh_join_seq"),
    ).select(pl.col(name).cast(dtype) for name, dtype in TABLE_SCHEMA.items())


@pytest.mark.skipif(
    os.environ.get("RETROHUNT_MEASURE") != "1", reason="measurement: set RETROHUNT_MEASURE=1"
)
def test_measure_table_size_per_million_processes(tmp_path: Path) -> None:
    rows = realistic_processes(1_000_000)
    path = tmp_path / "processes.parquet"
    rows.write_parquet(path)  # then loaded and saved as a scan does
    started = time.perf_counter()
    table = ProcessTable.load(path, dt.timedelta(days=30))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    table.save(path)
    saved = time.perf_counter() - started

    file_mb = path.stat().st_size / 1e6
    memory_mb = table.compacted().estimated_size() / 1e6
    command_line = rows["CommandLine"].str.len_bytes().mean()
    del rows, table
    before = settled_resident_mb()
    held = ProcessTable.load(path, dt.timedelta(days=30))
    resident = settled_resident_mb() - before
    print(
        f"\nprocess table, 1,000,000 processes (mean command line {command_line:.0f} B): "
        f"file {file_mb:.1f} MB, as text {memory_mb:.1f} MB, held by a scan {resident:.0f} MB "
        f"resident, load {loaded:.2f} s, compact+save {saved:.2f} s"
    )
    assert len(held) == 1_000_000
    assert file_mb < memory_mb


def settled_resident_mb() -> float:
    """This process's resident memory (Linux), once freed pages had time to go back (the
    allocator returns them after some seconds)."""
    gc.collect()
    time.sleep(12)
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


# --- spilling ------------------------------------------------------------------------------


def many_processes(count: int, start: int = 0) -> pl.DataFrame:
    return processes(
        *(
            {"pid": str(n), "Image": f"/usr/bin/p{n % 7}", "CommandLine": f"p{n} --run"}
            for n in range(start, start + count)
        )
    )


def test_a_spilling_table_answers_as_one_held_in_memory(tmp_path: Path) -> None:
    held = ProcessTable(spill_rows=1 << 30)
    spilling = ProcessTable(spill_dir=tmp_path, spill_rows=250)
    for start in range(0, 1_000, 100):
        for table in (held, spilling):
            table.add(many_processes(100, start), FALCON, ordinal=start // 500)
    reused = processes({"pid": "5", "Image": "/usr/bin/reused"})
    for table in (held, spilling):
        table.add(reused, FALCON, ordinal=2)

    assert spilling.segments == 3 and held.segments == 0
    assert len(spilling) == len(held) == 1_001
    wanted = keys((AID, "5"), (AID, "999"), (AID, "1000"), (OTHER_AID, "5"))
    assert spilling.lookup(wanted).equals(held.lookup(wanted))
    assert spilling.lookup(wanted)[PID].to_list() == ["5", "999", "5"]
    for ordinal in (0, 1, 2):
        assert spilling.sightings(ordinal).equals(held.sightings(ordinal))
    assert spilling.compacted().equals(held.compacted())


def test_a_table_spills_into_a_folder_of_its_own_that_close_removes(tmp_path: Path) -> None:
    table = ProcessTable(spill_dir=tmp_path / "out", spill_rows=10)
    table.add(many_processes(25), FALCON)

    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.startswith(".retrohunt-processes-")
    assert len(list(folder.glob("*.parquet"))) == table.segments == 1

    table.close()

    assert not folder.exists() and len(table) == 0
    assert table.lookup(keys((AID, "1"))).height == 0


def test_a_large_loaded_table_is_spilled_at_once(tmp_path: Path) -> None:
    saved = ProcessTable()
    saved.add(many_processes(30), FALCON)
    saved.save(tmp_path / "table.pq")

    loaded = ProcessTable.load(tmp_path / "table.pq", spill_dir=tmp_path, spill_rows=10)

    assert loaded.segments == 1 and len(loaded) == 30
    assert loaded.lookup(keys((AID, "29")))["Image"].to_list() == ["/usr/bin/p1"]


def test_a_folder_a_table_cannot_spill_into_is_an_output_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    table = ProcessTable(spill_dir=blocked, spill_rows=10)

    with pytest.raises(OutputError, match="cannot spill the process table"):
        table.add(many_processes(25), FALCON)


def test_the_table_holds_its_own_text_not_the_batch_it_was_read_from() -> None:
    # Text read from a batch is views into buffers holding all of the batch's text; a
    # table keeping those views kept every process line's text alive (140 MB per GB).
    padding = "x" * 5_000
    batch = processes(
        *(
            {
                "pid": f"{n:08d}{padding}",
                "Image": f"/usr/bin/{n}{padding}",
                "CommandLine": f"{n}{padding}",
            }
            for n in range(2_000)
        )
    )
    kept = batch.filter(pl.col("TargetProcessId").str.starts_with("00000007"))
    assert views(kept) > 10_000_000  # views into the batch's text
    table = ProcessTable()

    table.add(kept, FALCON)

    held = sum(views(frame) for frame in table._frames)
    assert held < 100_000
    (row,) = table.lookup(pl.DataFrame({HOST: [AID], PID: [f"00000007{padding}"]})).iter_rows(
        named=True
    )
    assert row["CommandLine"] == f"7{padding}"


def views(frame: pl.DataFrame) -> int:
    """Bytes of every buffer `frame`'s columns reference (text as Arrow string views)."""
    exported = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    return int(exported.get_total_buffer_size())


def test_join_marks_are_the_keys_join_sources_are_recognised_by() -> None:
    marks = JoinMarks.of(select_sources(None))
    assert marks is not None and marks.keys == (b"event_simpleName",)
    assert b"005f" in marks.escapes and b"00f8" not in marks.escapes
    assert JoinMarks.of(select_sources("falcon")) is None  # every line is Falcon's


@pytest.mark.parametrize(
    ("line", "independent"),
    [
        (b'{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"}', True),
        (b'{"event_simpleName":"ProcessRollup2","TargetProcessId":"1"}', False),
        # The key spelled with an escape reads as event_simpleName all the same.
        (b'{"event\\u005fsimpleName":"ProcessRollup2","TargetProcessId":"1"}', False),
        (b'{"event_simpl\\u0065Name":"ProcessRollup2","TargetProcessId":"1"}', False),
        (b'{"event_simpl\\u0045Name":"ProcessRollup2","TargetProcessId":"1"}', True),  # E
        # Non-ASCII text written as escapes (python-evtx does) is no sign of Falcon, nor
        # is a key letter escaped in a value; in a key (or where it might be one) it is.
        (b'{"EventID":1,"User":"S\\u00f8ren \\u00D8stergaard"}', True),
        (b'{"EventID":1,"Image":"pow\\u0065rshell.exe" , "x":"1"}', True),
        (b'{"EventID":1,"N\\u0061me" :"1"}', False),
        (b'{"EventID":1,"Image":"pow\\u0065rshell \\"x\\"", "x":"1"}', True),
        (b'{"EventID":1,"Image":"C:\\\\t\\u0065mp\\\\", "x":"1"}', True),
        (b'{"EventID":1,"a\\"b\\u0065\\"" : "1"}', False),
    ],
)
def test_only_chunks_without_the_marks_are_independent_of_the_join(
    line: bytes, independent: bool
) -> None:
    engine = Engine(compile_rules(None))  # the bundled pack tests the image of connections
    assert engine.joins

    assert engine.independent(Chunk(line + b"\n", 1, 0)) is independent


def _escaped(text: str, draw: st.DrawFn) -> str:
    """`text` as a JSON string's inside, each character written as itself or as a `\\u`
    escape with hex digits in either case."""
    out = []
    for char in text:
        if draw(st.booleans()):
            digits = f"{ord(char):04x}"
            out.append("\\u" + (digits.upper() if draw(st.booleans()) else digits))
        else:
            out.append(char)
    return "".join(out)


@st.composite
def _falcon_lines(draw: st.DrawFn) -> bytes:
    """A line whose key reads as event_simpleName, however it is spelled, among others whose
    keys and values hold escapes too."""
    words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzAEN_\u00f8\u00d8 ", max_size=12)
    pairs = [(draw(words), draw(words)) for _ in range(draw(st.integers(0, 4)))]
    pairs.insert(draw(st.integers(0, len(pairs))), ("event_simpleName", "ProcessRollup2"))
    space = draw(st.sampled_from(["", " ", "\t"]))
    body = ",".join(
        f'"{_escaped(key, draw)}"{space}:{space}"{_escaped(value, draw)}"' for key, value in pairs
    )
    return ("{" + body + "}").encode()


@given(line=_falcon_lines())
@settings(max_examples=300, deadline=None)
def test_every_spelling_of_the_falcon_key_is_found(line: bytes) -> None:
    marks = JoinMarks.of(select_sources(None))
    assert marks is not None
    read = pl.read_ndjson(io.BytesIO(line), schema={"event_simpleName": pl.String()})
    assert read.item() == "ProcessRollup2"  # what the parser sees: a Falcon event

    assert marks.found_in(b'{"EventID":1}\n' + line + b"\n")
