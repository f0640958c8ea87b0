"""The reference evaluator's own semantics, pinned on small hand-written inputs.

`retrohunt.reference` is the oracle of the exactness tests; these tests say what it means
(numbers, rendered containers, value maps, the process join) so a change to it is a
deliberate change of the semantics, not an accident.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from retrohunt.compiler import Plan, compile_rules
from retrohunt.reference import (
    ReferenceAlert,
    as_text,
    field_value,
    number_text,
    reference_alerts,
    reference_scan,
)
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import SOURCES

ALL_SOURCES = list(SOURCES.values())
FALCON = SOURCES["falcon"]
AID = "a" * 32


def plan_of(folder: Path, logsource: dict[str, str], detection: dict[str, Any]) -> Plan:
    folder.mkdir(parents=True, exist_ok=True)
    rule = {
        "title": "t",
        "name": "R",
        "id": "00000000-0000-4000-8000-000000000001",
        "level": "high",
        "logsource": logsource,
        "detection": detection,
    }
    (folder / "r.yml").write_text(yaml.safe_dump(rule, allow_unicode=True), "utf-8")
    plan = compile_rules([folder])
    assert not plan.refused, plan.refused
    return plan


def lines(*events: dict[str, Any]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


def process(pid: Any, **fields: Any) -> dict[str, Any]:
    return {"event_simpleName": "ProcessRollup2", "aid": AID, "TargetProcessId": pid, **fields}


def network(pid: Any, **fields: Any) -> dict[str, Any]:
    return {"event_simpleName": "NetworkConnectIP4", "aid": AID, "ContextProcessId": pid, **fields}


def engine_agrees(
    tmp_path: Path, archives: list[list[bytes]], plan: Plan, known: list[bytes] | None = None
) -> None:
    """The engine, prefilter on and off, raises exactly the reference's alerts."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, archive in enumerate(archives):
        path = tmp_path / f"a{number}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in archive))
        paths.append(path)
    expected = reference_scan(archives, plan, ALL_SOURCES, known_processes=known or ())
    for prefilter in (True, False):
        table = None
        if known:  # a fresh table each time: a scan adds its own processes to it
            table = tmp_path / f"processes{prefilter}.parquet"
            (tmp_path / "known.jsonl").write_bytes(b"".join(line + b"\n" for line in known))
            known_scan = ScanOptions(
                (tmp_path / "known.jsonl",), out=tmp_path / "k", process_table=table
            )
            scan(known_scan, plan=plan)
        result = scan(
            ScanOptions(
                tuple(paths),
                out=tmp_path / f"out{prefilter}",
                prefilter=prefilter,
                process_table=table,
                chunk_size=64,
            ),
            plan=plan,
        )
        index = {str(path): number for number, path in enumerate(paths)}
        got = {
            ReferenceAlert(
                index[r["archive"]],
                r["line_number"],
                r["record_index"],
                r["rule_name"],
                r["process_context"],
            )
            for r in result.alerts.iter_rows(named=True)
        }
        assert got == expected, f"prefilter {prefilter}"


# --- values as the fast path reads them ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("3333", "3333"),
        ("3333.0", "3333"),
        ("3.333e3", "3333"),
        ("33330e-1", "3333"),
        ("1.5e-7", "0.00000015"),
        ("1e22", "10000000000000000000000"),
        ("-0.0", "-0"),
        ("2.50", "2.5"),
        ("123456789012345678901", "123456789012345678901"),
        ("12345678.123456789", "12345678.12345679"),
    ],
)
def test_numbers_read_as_polars_renders_them(raw: str, text: str) -> None:
    assert number_text(json.loads(raw)) == text
    polars = pl.read_ndjson(io.BytesIO(b'{"a":%s}' % raw.encode()), schema={"a": pl.String})
    assert polars.item() == text


@pytest.mark.parametrize(
    "value",
    [
        [1.0, "x", None, True],
        {"k": 'a"b', "n": [1e2, {}], "s": "back\\slash\ttab"},
        ["line\nbreak\r"],
        {'odd"key\\': []},
    ],
)
def test_arrays_and_objects_read_as_polars_renders_them(value: Any) -> None:
    data = json.dumps({"a": value}).encode()
    polars = pl.read_ndjson(io.BytesIO(data), schema={"a": pl.String}).item()
    assert as_text(value) == polars


@pytest.mark.parametrize(
    ("direction", "initiated"),
    [("0", "true"), ("1", "false"), (0, "true"), (1.0, "false"), ("2", None), ("", None)],
)
def test_initiated_is_mapped_from_connection_direction(direction: Any, initiated: Any) -> None:
    event = network("1", ConnectionDirection=direction)
    assert field_value(event, FALCON, "Initiated") == initiated
    sysmon = SOURCES["sysmon"]
    assert field_value({"Initiated": "true"}, sysmon, "Initiated") == "true"


# --- the process join ------------------------------------------------------------------------


@pytest.fixture
def image_rule(tmp_path: Path) -> Plan:
    return plan_of(
        tmp_path,
        {"category": "network_connection"},
        {"sel": {"Image|endswith": "xmrig"}, "condition": "sel"},
    )


def test_an_event_takes_the_image_of_its_process_earlier_or_later(
    image_rule: Plan, tmp_path: Path
) -> None:
    before = lines(process("7", ImageFileName="/tmp/xmrig"), network("7"))
    after = lines(network(7), process("7", ImageFileName="/tmp/xmrig"))
    assert reference_scan([before], image_rule, ALL_SOURCES) == {
        ReferenceAlert(0, 2, None, "R", "joined")
    }
    assert reference_scan([after], image_rule, ALL_SOURCES) == {
        ReferenceAlert(0, 1, None, "R", "joined")
    }
    # Across archives of one scan too, and from a persistent table.
    split = [lines(network("7")), lines(process("7", ImageFileName="/tmp/xmrig"))]
    assert reference_scan(split, image_rule, ALL_SOURCES) == {
        ReferenceAlert(0, 1, None, "R", "joined")
    }
    known = lines(process("7", ImageFileName="/tmp/xmrig"))
    assert reference_scan([lines(network("7"))], image_rule, ALL_SOURCES, known_processes=known)
    # Off, the event keeps its own (missing) image.
    assert not reference_scan([before], image_rule, ALL_SOURCES, process_join=False)
    engine_agrees(tmp_path / "before", [before], image_rule)
    engine_agrees(tmp_path / "after", [after], image_rule)
    engine_agrees(tmp_path / "split", split, image_rule)
    engine_agrees(tmp_path / "known", [lines(network("7"))], image_rule, known)


def test_a_reused_process_id_joins_the_sighting_at_or_before_the_event(
    image_rule: Plan, tmp_path: Path
) -> None:
    stream = lines(
        process("7", ImageFileName="/tmp/xmrig"),
        network("7"),  # joins line 1
        process("7", ImageFileName="/usr/bin/curl"),
        network("7"),  # joins line 3
    )
    assert reference_alerts(stream, image_rule, ALL_SOURCES) == {(2, "R")}
    first_after = lines(network("7"), process("7", ImageFileName="/tmp/xmrig"), process("7"))
    assert reference_alerts(first_after, image_rule, ALL_SOURCES) == {(1, "R")}
    # A persistent table counts as before the scan: the scan's own earlier sighting wins.
    known = lines(process("7", ImageFileName="/usr/bin/curl"))
    found = reference_scan([stream], image_rule, ALL_SOURCES, known_processes=known)
    assert {(a.line, a.rule) for a in found} == {(2, "R")}
    late = lines(network("7"), process("7", ImageFileName="/usr/bin/curl"))
    known = lines(process("7", ImageFileName="/tmp/xmrig"))
    assert reference_scan([late], image_rule, ALL_SOURCES, known_processes=known)
    engine_agrees(tmp_path / "stream", [stream], image_rule)
    engine_agrees(tmp_path / "first_after", [first_after], image_rule)
    engine_agrees(tmp_path / "late", [late], image_rule, known)


def test_the_key_is_text_and_needs_both_parts(image_rule: Plan, tmp_path: Path) -> None:
    xmrig = {"ImageFileName": "/tmp/xmrig"}
    assert reference_alerts(lines(process(100, **xmrig), network("100")), image_rule, ALL_SOURCES)
    assert reference_alerts(lines(process("100", **xmrig), network(100.0)), image_rule, ALL_SOURCES)
    assert not reference_alerts(
        lines(process("0100", **xmrig), network("100")), image_rule, ALL_SOURCES
    )
    other_agent = {**network("100"), "aid": "b" * 32}
    assert not reference_alerts(
        lines(process("100", **xmrig), other_agent), image_rule, ALL_SOURCES
    )
    no_agent = {**process("100", **xmrig), "aid": ""}
    no_agent_net = {**network("100"), "aid": ""}
    assert not reference_alerts(lines(no_agent, no_agent_net), image_rule, ALL_SOURCES)
    stream = lines(process(100, **xmrig), network("100"), network(100.0), other_agent)
    engine_agrees(tmp_path / "keys", [stream, lines(no_agent, no_agent_net)], image_rule)


def test_own_values_win_and_the_context_says_where_fields_came_from(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        {"category": "network_connection"},
        {"sel": {"DestinationPort": 3333}, "condition": "sel"},
    )
    stream = lines(
        process("7", ImageFileName="/tmp/xmrig", CommandLine="xmrig -o pool"),
        network("7", RemotePort="3333", ImageFileName="/own/image"),  # joined, own image
        network("8", RemotePort="3333"),  # no such process, no image: unknown
        network("8", RemotePort="3333", ImageFileName="/own/image"),  # no process: event
        {"event_simpleName": "NetworkConnectIP4", "aid": AID, "RemotePort": "3333"},
    )
    assert reference_scan([stream], plan, ALL_SOURCES) == {
        ReferenceAlert(0, 2, None, "R", "joined"),
        ReferenceAlert(0, 3, None, "R", "unknown"),
        ReferenceAlert(0, 4, None, "R", "event"),
        ReferenceAlert(0, 5, None, "R", "unknown"),
    }
    off = reference_scan([stream], plan, ALL_SOURCES, process_join=False)
    assert {a.process_context for a in off if a.line == 2} == {"event"}

    filtered = plan_of(
        tmp_path / "filter",
        {"category": "network_connection"},
        {
            "sel": {"DestinationPort": 3333},
            "f": {"Image|endswith": "/image"},
            "condition": "sel and not f",
        },
    )
    # The event's own image is kept (and filtered).
    assert reference_alerts(stream, filtered, ALL_SOURCES) == {(3, "R"), (5, "R")}
    engine_agrees(tmp_path / "plain", [stream], plan)
    engine_agrees(tmp_path / "filtered", [stream], filtered)


def test_only_join_categories_of_the_joining_source_are_enriched(
    image_rule: Plan, tmp_path: Path
) -> None:
    dns_rule = image_rule  # network_connection only: a DNS event never alerts on it
    stream = lines(
        process("7", ImageFileName="/tmp/xmrig"),
        {"event_simpleName": "DnsRequest", "aid": AID, "ContextProcessId": "7"},
        {"event_simpleName": "EndOfProcess", "aid": AID, "ContextProcessId": "7"},
        # Sysmon has Image on the event itself; nothing to join.
        {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Image": "C:\\xmrig"},
    )
    assert reference_scan([stream], dns_rule, ALL_SOURCES) == {
        ReferenceAlert(0, 4, None, "R", "event")
    }
    engine_agrees(tmp_path / "engine", [stream], dns_rule)
