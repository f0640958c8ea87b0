"""Stored alerts: found under flat (`scan --out`) and Hive-partitioned (`hunt --out`)
folders, filtered, newest first, tolerant of older files, clear about unreadable ones, and
exported as Parquet, CSV and JSON Lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.errors import InputError, OutputError
from retrohunt.scan import ScanOptions, scan
from retrohunt.stored import (
    export_alerts,
    parse_time,
    query_alerts,
    scan_alerts,
)

SAMPLE = Path(__file__).resolve().parents[2] / "corpora" / "falcon" / "sample.jsonl.zst"
SCHEMA = pl.Schema(ALERT_SCHEMA)


def at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=dt.UTC)


def alerts(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """An alert frame: every column of the schema, those a row does not give null."""
    return pl.DataFrame(
        [{name: row.get(name) for name in ALERT_SCHEMA} for row in rows], schema=ALERT_SCHEMA
    )


def alert(n: int, **fields: Any) -> dict[str, Any]:
    """Alert number `n` (its line number), from rule r1 on host web-01 at 10:00 unless told."""
    return {
        "alert_id": f"id-{n}",
        "rule_id": "00000000-0000-0000-0000-000000000001",
        "rule_name": "r1",
        "level": "high",
        "tags": ["attack.t1204.003", "attack.execution"],
        "event_time": at(10),
        "host": "web-01",
        "archive": "a.jsonl.zst",
        "line_number": n,
        "matched": ["Image: */xmrig"],
        "process_context": "event",
        **fields,
    }


def write(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def lines(found: pl.DataFrame) -> list[int]:
    return found["line_number"].to_list()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """A real `scan --out` folder of the bundled Falcon sample, and the scan's alerts."""
    out = tmp_path_factory.mktemp("scan-out")
    result = scan(ScanOptions((SAMPLE,), out=out))
    assert not result.failed and result.alerts.height > 10
    return out, result.alerts


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """One flat file and two Hive partitions of the same alert folder."""
    write(
        tmp_path / "a.jsonl.zst.0123456789ab.alerts.parquet",
        alerts([alert(1), alert(2, event_time=at(12), host="DB-01")]),
    )
    write(
        tmp_path / "alerts" / "date=2024-05-02" / "rule=r2" / "part-0.parquet",
        alerts([alert(3, rule_name="r2", rule_id="id-r2", event_time=at(11))]),
    )
    write(
        tmp_path / "alerts" / "date=2024-05-01" / "rule=r1" / "part-0.parquet",
        alerts([alert(4, event_time=at(9, day=1))]),
    )
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "a.jsonl.zst.0123456789ab.quarantine.jsonl").write_text("{}\n", encoding="utf-8")
    return tmp_path


# --- reading the two layouts ---------------------------------------------------------------


def test_a_scan_folder_gives_back_every_alert_of_the_scan(
    scanned: tuple[Path, pl.DataFrame],
) -> None:
    out, written = scanned

    found = query_alerts(out, limit=None)

    assert found.total == written.height == found.alerts.height
    assert found.alerts.schema == SCHEMA
    assert [p.name for p in found.files] == [p.name for p in out.glob("*.alerts.parquet")]
    assert sorted(found.alerts["alert_id"]) == sorted(written["alert_id"])


def test_flat_and_hive_files_read_together_with_exactly_the_alert_schema(mixed: Path) -> None:
    found = query_alerts(mixed)

    assert found.alerts.schema == SCHEMA  # no `date` or `rule` partition columns
    assert sorted(lines(found.alerts)) == [1, 2, 3, 4]
    assert len(found.files) == 3
    assert found.skipped == ()


def test_filters_use_the_files_columns_not_the_partition_folders(tmp_path: Path) -> None:
    write(
        tmp_path / "alerts" / "date=1999-01-01" / "rule=Renamed" / "x.parquet",
        alerts([alert(1, rule_name="Actual")]),
    )

    assert lines(query_alerts(tmp_path, rules=["Actual"]).alerts) == [1]
    assert query_alerts(tmp_path, rules=["Renamed"]).total == 0
    assert query_alerts(tmp_path, since=at(0)).total == 1  # the file's event time, not 1999


def test_a_single_alert_file_can_be_given_instead_of_a_folder(mixed: Path) -> None:
    found = query_alerts(mixed / "a.jsonl.zst.0123456789ab.alerts.parquet")

    assert lines(found.alerts) == [2, 1]


def test_temporary_and_hidden_files_are_not_read(mixed: Path) -> None:
    garbage = b"PAR1 half-written PAR1"
    (mixed / ".a.jsonl.zst.0123456789ab.alerts.parquet.x1y2.tmp").write_bytes(garbage)
    (mixed / ".in-progress.parquet").write_bytes(garbage)
    (mixed / "alerts" / ".staging" / "rule=r1").mkdir(parents=True)
    (mixed / "alerts" / ".staging" / "rule=r1" / "part-0.parquet").write_bytes(garbage)

    found = query_alerts(mixed)

    assert sorted(lines(found.alerts)) == [1, 2, 3, 4]


def test_a_folder_under_a_hidden_folder_is_still_read(tmp_path: Path) -> None:
    folder = tmp_path / ".cache" / "alerts"
    write(folder / "x.parquet", alerts([alert(1)]))

    assert query_alerts(folder).total == 1


def test_parquet_files_without_alert_columns_are_skipped(mixed: Path) -> None:
    processes = mixed / "state" / "processes.parquet"
    write(processes, pl.DataFrame({"host": ["web-01"], "pid": ["42"]}))

    found = query_alerts(mixed)

    assert found.total == 4
    assert found.skipped == (processes,)


def test_scan_alerts_is_lazy_and_filters_reach_the_parquet_reader(mixed: Path) -> None:
    frame = scan_alerts(mixed)

    assert isinstance(frame, pl.LazyFrame)
    assert frame.collect_schema() == SCHEMA
    plan = frame.filter(pl.col("level") == "high").explain()
    assert "SELECTION" in plan  # the predicate is applied while reading, not after
    assert frame.collect().height == 4


# --- order and limit -------------------------------------------------------------------------


def test_newest_first_without_time_last_and_ties_by_archive_then_line(tmp_path: Path) -> None:
    write(
        tmp_path / "one.parquet",
        alerts(
            [
                alert(1, event_time=None),
                alert(2, event_time=at(8)),
                alert(7, event_time=at(9), archive="b"),
                alert(5, event_time=at(9), archive="a"),
                alert(3, event_time=at(9), archive="a"),
            ]
        ),
    )
    write(
        tmp_path / "two.parquet", alerts([alert(4, event_time=at(23)), alert(6, event_time=None)])
    )

    found = query_alerts(tmp_path)

    assert lines(found.alerts) == [4, 3, 5, 7, 2, 1, 6]


def test_the_limit_keeps_the_newest_and_the_total_counts_every_match(mixed: Path) -> None:
    found = query_alerts(mixed, limit=2)

    assert lines(found.alerts) == [2, 3]
    assert found.total == 4


@pytest.mark.parametrize("limit", [None, 0])
def test_no_limit_returns_every_alert(mixed: Path, limit: int | None) -> None:
    assert query_alerts(mixed, limit=limit).alerts.height == 4


def test_a_negative_limit_is_refused(mixed: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        query_alerts(mixed, limit=-1)


def test_the_default_limit_is_500(tmp_path: Path) -> None:
    write(tmp_path / "many.parquet", alerts([alert(n) for n in range(501)]))

    found = query_alerts(tmp_path)

    assert (found.alerts.height, found.total) == (500, 501)


# --- filters ---------------------------------------------------------------------------------


def test_rules_match_the_rule_name_or_id_exactly(mixed: Path) -> None:
    assert sorted(lines(query_alerts(mixed, rules=["r1"]).alerts)) == [1, 2, 4]
    assert lines(query_alerts(mixed, rules=["id-r2"]).alerts) == [3]
    assert sorted(lines(query_alerts(mixed, rules=["r2", "r1"]).alerts)) == [1, 2, 3, 4]
    assert query_alerts(mixed, rules=["r"]).total == 0
    assert query_alerts(mixed, rules=["R1"]).total == 0


def test_hosts_match_in_any_case(mixed: Path) -> None:
    assert lines(query_alerts(mixed, hosts=["db-01"]).alerts) == [2]
    assert sorted(lines(query_alerts(mixed, hosts=["WEB-01", "Db-01"]).alerts)) == [1, 2, 3, 4]
    assert query_alerts(mixed, hosts=["web"]).total == 0


def test_since_is_inclusive_until_exclusive(mixed: Path) -> None:
    assert lines(query_alerts(mixed, since=at(11)).alerts) == [2, 3]
    assert lines(query_alerts(mixed, until=at(11)).alerts) == [1, 4]
    assert lines(query_alerts(mixed, since=at(10), until=at(12)).alerts) == [3, 1]


def test_naive_bounds_are_utc_and_aware_ones_are_converted(mixed: Path) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))

    assert lines(query_alerts(mixed, since=dt.datetime(2024, 5, 2, 11)).alerts) == [2, 3]
    assert lines(
        query_alerts(mixed, since=dt.datetime(2024, 5, 2, 13, tzinfo=plus_two)).alerts
    ) == [
        2,
        3,
    ]


def test_time_bounds_leave_out_alerts_without_a_time(tmp_path: Path) -> None:
    write(tmp_path / "x.parquet", alerts([alert(1, event_time=None), alert(2)]))

    assert lines(query_alerts(tmp_path, since=at(0)).alerts) == [2]
    assert lines(query_alerts(tmp_path).alerts) == [2, 1]


def test_filters_combine(mixed: Path) -> None:
    found = query_alerts(mixed, rules=["r1"], hosts=["WEB-01"], since=at(0, day=2))

    assert lines(found.alerts) == [1]


# --- files from other versions ---------------------------------------------------------------


def test_a_file_without_newer_columns_reads_them_as_null(tmp_path: Path) -> None:
    write(tmp_path / "new.parquet", alerts([alert(1, cloud_region="eu-west-1")]))
    old = alerts([alert(2, event_time=at(11))]).drop(
        "process_context", "container_id", "cloud_region", "cloud_account", "record_index"
    )
    write(tmp_path / "old.parquet", old)
    # The file listed first lacks the columns too: the schema is not taken from it.
    write(tmp_path / "a-old.parquet", old.with_columns(pl.lit(3, pl.Int64).alias("line_number")))

    found = query_alerts(tmp_path)

    assert found.alerts.schema == SCHEMA
    rows = {row["line_number"]: row for row in found.alerts.iter_rows(named=True)}
    assert rows[2]["process_context"] is None and rows[3]["cloud_region"] is None
    assert rows[1]["cloud_region"] == "eu-west-1"
    assert rows[2]["rule_name"] == "r1"


def test_extra_columns_are_ignored_and_other_types_cast(tmp_path: Path) -> None:
    write(tmp_path / "a.parquet", alerts([alert(1, remote_port=3333)]))
    other = alerts([alert(2, remote_port=4444, event_time=at(11))]).with_columns(
        pl.col("remote_port").cast(pl.Int64),
        pl.col("event_time").dt.cast_time_unit("ns"),
        pl.lit("x").alias("future_column"),
    )
    write(tmp_path / "b.parquet", other)

    found = query_alerts(tmp_path)

    assert found.alerts.schema == SCHEMA
    assert found.alerts.select("line_number", "remote_port", "event_time").rows() == [
        (2, 4444, at(11)),
        (1, 3333, at(10)),
    ]


def test_files_without_any_alert_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "empty.alerts.parquet", alerts([]))

    found = query_alerts(tmp_path)

    assert (found.total, found.alerts.height, found.alerts.schema) == (0, 0, SCHEMA)


# --- errors ----------------------------------------------------------------------------------


def test_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder") as caught:
        query_alerts(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(caught.value)


def test_a_folder_without_alert_files_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    write(tmp_path / "processes.parquet", pl.DataFrame({"host": ["h"]}))

    with pytest.raises(InputError, match="holds no alert files"):
        query_alerts(tmp_path)


def test_an_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no alert files"):
        query_alerts(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_file_is_an_input_error_naming_it(mixed: Path, damage: str) -> None:
    good = write(mixed / "b.parquet", alerts([alert(9)])).read_bytes()
    bad = mixed / "b.parquet"
    data = {"garbage": b"not parquet at all", "truncated": good[: len(good) // 2], "empty": b""}
    bad.write_bytes(data[damage])

    with pytest.raises(InputError) as caught:
        query_alerts(mixed)

    message = str(caught.value)
    assert message.startswith(f"{bad}: not a readable Parquet file")
    assert "\n" not in message


def test_damage_inside_a_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "a.parquet", alerts([alert(1)]))
    bad = write(
        tmp_path / "b.parquet", alerts([alert(n, command_line="x" * 50) for n in range(99)])
    )
    data = bytearray(bad.read_bytes())
    # Overwrite the data pages, keep the footer (schema) intact.
    data[8 : len(data) // 2] = bytes(len(data) // 2 - 8)
    bad.write_bytes(bytes(data))

    with pytest.raises(InputError) as caught:
        query_alerts(tmp_path)

    assert str(caught.value).startswith(f"{bad}: not a readable Parquet file")


# --- --since / --until values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2024-05-02", False, at(0)),
        ("2024-05-02", True, at(0, day=3)),
        ("2024-05-02T10:00", False, at(10)),
        ("2024-05-02T10:00", True, at(10)),
        ("2024-05-02 10:00:00Z", False, at(10)),
        ("2024-05-02T12:00:00+02:00", False, at(10)),
        (" 2024-05-02T10:00:00.000+00:00 ", False, at(10)),
    ],
)
def test_parse_time(text: str, end_of_day: bool, expected: dt.datetime) -> None:
    parsed = parse_time(text, end_of_day=end_of_day)

    assert parsed == expected
    assert parsed.tzinfo == dt.UTC


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "2024-05-02T25:00", ""])
def test_parse_time_refuses_what_is_not_a_date_or_time(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_time(text)


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
def sample() -> pl.DataFrame:
    return alerts(
        [
            alert(1, remote_port=3333, command_line='xmrig -o "pool:3333", --donate 0'),
            alert(2, event_time=None, tags=[], matched=None),
        ]
    )


def test_parquet_export_round_trips(tmp_path: Path, sample: pl.DataFrame) -> None:
    out = tmp_path / "sub" / "export.parquet"

    export_alerts(sample, out, "parquet")

    assert pl.read_parquet(out).equals(sample)
    assert query_alerts(out).alerts.height == 2  # an export is itself a stored alert file
    assert [p.name for p in out.parent.iterdir()] == ["export.parquet"]  # no temp file left


def test_csv_export_joins_lists_and_writes_utc_times(tmp_path: Path, sample: pl.DataFrame) -> None:
    out = tmp_path / "export.csv"

    export_alerts(sample, out, "csv")

    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert list(rows[0]) == list(ALERT_SCHEMA)
    assert rows[0]["tags"] == "attack.t1204.003;attack.execution"
    assert rows[0]["matched"] == "Image: */xmrig"
    assert rows[0]["event_time"] == "2024-05-02T10:00:00.000000Z"
    assert rows[0]["command_line"] == 'xmrig -o "pool:3333", --donate 0'
    assert rows[0]["remote_port"] == "3333"
    assert (rows[1]["event_time"], rows[1]["tags"], rows[1]["matched"]) == ("", "", "")


def test_json_export_is_one_alert_object_per_line(tmp_path: Path, sample: pl.DataFrame) -> None:
    out = tmp_path / "export.jsonl"

    export_alerts(sample, out, "json")

    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2
    assert list(records[0]) == list(ALERT_SCHEMA)
    assert records[0]["tags"] == ["attack.t1204.003", "attack.execution"]
    assert dt.datetime.fromisoformat(records[0]["event_time"]) == at(10)
    assert records[1]["event_time"] is None and records[1]["matched"] is None


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_formats_export_to_a_text_stream(sample: pl.DataFrame, fmt: Any) -> None:
    stream = io.StringIO()

    export_alerts(sample, stream, fmt)

    assert stream.getvalue().count("\n") == (3 if fmt == "csv" else 2)


def test_parquet_exports_to_a_binary_stream_only(sample: pl.DataFrame) -> None:
    binary = io.BytesIO()
    export_alerts(sample, binary, "parquet")
    assert pl.read_parquet(io.BytesIO(binary.getvalue())).equals(sample)

    with pytest.raises(ValueError, match="binary"):
        export_alerts(sample, io.StringIO(), "parquet")


def test_unknown_export_format_is_refused(tmp_path: Path, sample: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="format"):
        export_alerts(sample, tmp_path / "x.xml", "xml")  # type: ignore[arg-type]


def test_an_unwritable_export_is_an_output_error(tmp_path: Path, sample: pl.DataFrame) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(OutputError):
        export_alerts(sample, blocker / "x.csv", "csv")
