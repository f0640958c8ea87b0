"""The raw-byte prefilter on hand-written lines: what it must keep, what it may drop.

The prefilter is exact only if it never drops a line full evaluation would alert on. These
tests spell values every way JSON allows (escapes, `\\/`, `\\uXXXX` in either hex case,
letter case, numbers as text or as numbers with points and exponents), feed lines of odd
shapes (not an object, no final newline, CRLF, invalid UTF-8), and check each rule's mode
(prefiltered, event types, every line) and the process-context lines the join reads. The
last test draws random lines and checks every line `retrohunt.reference` alerts on is a
candidate.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from retrohunt.archive import Chunk
from retrohunt.compiler import Plan, compile_rules
from retrohunt.context import context_markers
from retrohunt.prefilter import (
    ChunkCandidates,
    Prefilter,
    _batch,
    _valid_utf8,
    build_prefilter,
)
from retrohunt.reference import reference_scan
from retrohunt.sources import SOURCES

ALL_SOURCES = list(SOURCES.values())
FALCON = [SOURCES["falcon"]]
MARKERS = context_markers(ALL_SOURCES)

PROCESS = {"category": "process_creation"}
# name -> (logsource, detection): rules the prefilter finds text for (compiled once).
RULES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    # Literal text with a backslash, a slash and letters of both cases.
    "TempMiner": (
        PROCESS,
        {"sel": {"Image|endswith": "\\\\Temp\\\\XMRig.exe"}, "condition": "sel"},
    ),
    "StratumUrl": (
        PROCESS,
        {"sel": {"CommandLine|contains": "stratum+tcp://"}, "condition": "sel"},
    ),
    "CasedMiner": (PROCESS, {"sel": {"CommandLine|contains|cased": "XMRig"}, "condition": "sel"}),
    "NonAscii": (PROCESS, {"sel": {"CommandLine|contains": "café😀"}, "condition": "sel"}),
    # A backslash that a rendered array or object may hold before a quote or as "\\n".
    "Rendered": (
        PROCESS,
        {"sel": {"CommandLine|contains": ["xy\\\\", "xy\\\\n"]}, "condition": "sel"},
    ),
    "PoolPort": (
        {"category": "network_connection"},
        {"sel": {"DestinationPort": 3333}, "condition": "sel"},
    ),
    "PoolNet": (
        {"category": "network_connection"},
        {"sel": {"DestinationIp|cidr": "45.9.0.0/16"}, "condition": "sel"},
    ),
    # Initiated is computed (from ConnectionDirection) and demands no text; the port does.
    "OutboundPool": (
        {"category": "network_connection"},
        {"sel": {"Initiated": "true", "DestinationPort": 3333}, "condition": "sel"},
    ),
    "PoolDns": (
        {"category": "dns_query"},
        {"sel": {"QueryName|endswith": ".pool.example"}, "condition": "sel"},
    ),
    # A rule on a joined field: its network events may get the Image from their process.
    "JoinedImage": (
        {"category": "network_connection"},
        {"sel": {"Image|endswith": "/xmrig"}, "condition": "sel"},
    ),
}


def _write_rules(folder: Path, rules: dict[str, tuple[dict[str, str], dict[str, Any]]]) -> Plan:
    folder.mkdir(parents=True, exist_ok=True)
    for number, (name, (logsource, detection)) in enumerate(rules.items()):
        rule = {
            "title": name,
            "name": name,
            "id": f"00000000-0000-4000-8000-{number:012d}",
            "level": "high",
            "logsource": logsource,
            "detection": detection,
        }
        (folder / f"{name}.yml").write_text(yaml.safe_dump(rule, allow_unicode=True), "utf-8")
    plan = compile_rules([folder])
    assert not plan.refused, plan.refused
    return plan


def plan_of(folder: Path, **rules: tuple[dict[str, str], dict[str, Any]]) -> Plan:
    return _write_rules(folder, rules)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _write_rules(tmp_path_factory.mktemp("rules"), RULES)


@pytest.fixture(scope="module")
def prefilter(plan: Plan) -> Prefilter:
    return build_prefilter(plan, ALL_SOURCES, context_markers=MARKERS)


def chunk_of(*lines: bytes, newline: bytes = b"\n", final: bool = True) -> Chunk:
    data = newline.join(lines) + (newline if final else b"")
    return Chunk(data, first_line=1, offset=0)


def candidate_numbers(found: ChunkCandidates) -> list[int]:
    return [int(n) for n in found.candidates.line_numbers]


def kept(prefilter: Prefilter, line: bytes) -> bool:
    """Is `line` a candidate when it stands between two plain lines of a chunk?"""
    filler = b'{"event_simpleName":"EndOfProcess","aid":"x"}'
    found = prefilter.scan(chunk_of(filler, line, filler))
    return 2 in candidate_numbers(found)


def falcon_line(**fields: Any) -> bytes:
    return json.dumps({"event_simpleName": "ProcessRollup2", "aid": "a" * 32, **fields}).encode()


# --- literal values in every JSON spelling ---------------------------------------------------


def escape_all(text: str, upper: bool) -> str:
    """Every character of `text` as a \\uXXXX escape."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            high, low = divmod(code - 0x10000, 0x400)
            units = [0xD800 + high, 0xDC00 + low]
        else:
            units = [code]
        out.extend(f"\\u{u:04X}" if upper else f"\\u{u:04x}" for u in units)
    return "".join(out)


IMAGE = "C:\\Users\\bob\\AppData\\Local\\Temp\\XMRig.exe"


@pytest.mark.parametrize(
    "raw_value",
    [
        json.dumps(IMAGE),  # "C:\\Users\\...": backslashes escaped
        json.dumps(IMAGE.lower()),  # letter case folds
        json.dumps(IMAGE.upper()),
        '"' + escape_all(IMAGE, upper=True) + '"',
        '"' + escape_all(IMAGE, upper=False) + '"',
        json.dumps(IMAGE).replace("XMRig", "\\u0058MRig"),  # one escaped letter
        json.dumps(IMAGE).replace("Temp", "T\\u0065mp"),
        json.dumps(IMAGE).replace("\\\\Temp", "\\u005cTemp"),  # the backslash itself escaped
        json.dumps(IMAGE).replace("\\\\Temp", "\\u005CTemp"),
    ],
)
def test_a_literal_value_is_found_in_every_spelling(prefilter: Prefilter, raw_value: str) -> None:
    line = f'{{"event_simpleName":"ProcessRollup2","ImageFileName":{raw_value}}}'.encode()
    assert json.loads(line)["ImageFileName"].lower() == IMAGE.lower()
    assert kept(prefilter, line)


@pytest.mark.parametrize(
    "raw_value",
    [
        '"xmrig -o stratum+tcp://pool:3333"',
        '"xmrig -o stratum+tcp:\\/\\/pool:3333"',  # escaped slashes
        '"xmrig -o stratum+tcp:/\\/pool:3333"',
        '"xmrig -o STRATUM+TCP://pool:3333"',
        '"xmrig -o stratum\\u002btcp://pool:3333"',
        '"xmrig -o stratum+tcp\\u003a//pool:3333"',
    ],
)
def test_a_url_with_slashes_is_found_escaped_or_not(prefilter: Prefilter, raw_value: str) -> None:
    line = f'{{"event_simpleName":"ProcessRollup2","CommandLine":{raw_value}}}'.encode()
    assert "stratum+tcp://" in json.loads(line)["CommandLine"].lower()
    assert kept(prefilter, line)


@pytest.mark.parametrize(
    ("value", "spellings"),
    [
        ("/tmp/xmrig", ['"/tmp/xmrigd"', '"\\/tmp\\/xmrig"', '"/tmp\\/xmrig"', '["\\/tmp/xmrig"]']),
        ("\\Temp\\", ['"C:\\\\Temp\\\\x"', '["C:\\\\Temp\\\\"]', '"\\u005cTemp\\\\"']),
    ],
    ids=["leading-slash", "leading-and-trailing-backslash"],
)
def test_a_value_starting_or_ending_with_a_separator_is_found_in_every_spelling(
    tmp_path: Path, value: str, spellings: list[str]
) -> None:
    # Their atoms leave out the optional escape of the first or last separator (literals
    # Hyperscan compiles faster): every spelling still holds what is left.
    plan = plan_of(
        tmp_path, Sep=(PROCESS, {"sel": {"CommandLine|contains": value}, "condition": "sel"})
    )
    prefilter = build_prefilter(plan, ALL_SOURCES)
    for spelled in spellings:
        line = f'{{"event_simpleName":"ProcessRollup2","CommandLine":{spelled}}}'.encode()
        assert kept(prefilter, line), spelled
    assert not kept(prefilter, falcon_line(CommandLine="C:\\Tmp\\ /tmp/xmr"))


def test_a_cased_value_needs_its_case_and_a_caseless_one_does_not(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        Cased=(PROCESS, {"sel": {"CommandLine|contains|cased": "XMRig"}, "condition": "sel"}),
    )
    prefilter = build_prefilter(plan, ALL_SOURCES)
    assert kept(prefilter, falcon_line(CommandLine="run XMRig now"))
    assert not kept(prefilter, falcon_line(CommandLine="run xmrig now"))
    assert kept(prefilter, falcon_line(CommandLine="run xmrig now").replace(b"xm", b"\\u0078m"))
    caseless = plan_of(
        tmp_path / "caseless",
        Caseless=(PROCESS, {"sel": {"CommandLine|contains": "XMRig"}, "condition": "sel"}),
    )
    assert kept(build_prefilter(caseless, ALL_SOURCES), falcon_line(CommandLine="run xmrig now"))


def test_non_ascii_text_is_found_raw_or_escaped(prefilter: Prefilter) -> None:
    value = "un café😀 fort"
    assert kept(prefilter, falcon_line(CommandLine=value))  # ensure_ascii: \u00e9 \ud83d\ude00
    raw = json.dumps(
        {"event_simpleName": "ProcessRollup2", "CommandLine": value}, ensure_ascii=False
    )
    assert kept(prefilter, raw.encode("utf-8"))
    # Non-ASCII letters do not fold: É is not é for the matcher, nor for the prefilter.
    upper = raw.replace("café", "CAFÉ").encode("utf-8")
    assert not kept(prefilter, upper)


def test_a_line_without_any_rule_value_is_dropped(prefilter: Prefilter) -> None:
    assert not kept(prefilter, falcon_line(ImageFileName="/usr/bin/bash", CommandLine="ls -l"))


# --- numbers ---------------------------------------------------------------------------------


def network_line(port_json: str, **extra: Any) -> bytes:
    head = json.dumps({"event_simpleName": "NetworkConnectIP4", "aid": "a" * 32, **extra})
    return (head[:-1] + f', "RemotePort": {port_json}}}').encode()


@pytest.mark.parametrize(
    "port",
    [
        '"3333"',
        "3333",
        "3333.0",
        "3333.000",
        "3.333e3",
        "3.333E+3",
        "33330e-1",
        "0.3333e4",
        "3332.99999999999999999",  # more digits than a double keeps: reads 3333
        '"03333"',  # decimal text with a leading zero is still 3333
        '"\\u0033333"',
        " 3333 ",
        "\t3333",
    ],
)
def test_a_port_is_found_however_3333_is_written(prefilter: Prefilter, port: str) -> None:
    line = network_line(port)
    assert float(json.loads(line)["RemotePort"]) == 3333
    assert kept(prefilter, line)


@pytest.mark.parametrize("port", ['"33333"', "4444", '"3334"', "13333", '"3333333"', "33330"])
def test_other_ports_are_dropped(tmp_path: Path, port: str) -> None:
    plan = plan_of(
        tmp_path,
        PoolPort=(
            {"category": "network_connection"},
            {"sel": {"DestinationPort": 3333}, "condition": "sel"},
        ),
    )
    prefilter = build_prefilter(plan, ALL_SOURCES)
    assert not kept(prefilter, network_line(port))


def test_a_cidr_keeps_addresses_of_its_first_octet(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        PoolNet=(
            {"category": "network_connection"},
            {"sel": {"DestinationIp|cidr": "45.9.0.0/16"}, "condition": "sel"},
        ),
    )
    prefilter = build_prefilter(plan, ALL_SOURCES)
    assert kept(prefilter, network_line('"80"', RemoteAddressIP4="45.9.148.1"))
    assert kept(prefilter, network_line('"80"', RemoteAddressIP4="045.9.148.1"))
    assert not kept(prefilter, network_line('"80"', RemoteAddressIP4="8.8.8.8"))
    assert not kept(prefilter, network_line('"80"', RemoteAddressIP4="145.9.148.1"))


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ("xy\\\\", '["xy\\"c"]'),  # rendered ["xy\"c"]: holds xy\ before the quote
        ("xy\\\\nz", '{"k": "xy\\nz"}'),  # rendered {"k": "xy\nz"}: backslash and n
        ("xy\\\\rz", '["xy\\rz"]'),
    ],
)
def test_a_value_rendered_from_an_array_or_object_is_found(
    tmp_path: Path, value: str, raw: str
) -> None:
    """An array or object reaches the matcher as Polars renders it, where a quote, newline
    or CR inside a string becomes two characters (\\" \\n \\r): a backslash in the value
    may stand for one backslash in the raw line, not only for an escaped one."""
    plan = plan_of(
        tmp_path, Rendered=(PROCESS, {"sel": {"CommandLine|contains": value}, "condition": "sel"})
    )
    line = f'{{"event_simpleName":"ProcessRollup2","CommandLine":{raw}}}'.encode()
    assert reference_scan([[line]], plan, ALL_SOURCES), "the reference alerts on it"
    assert kept(build_prefilter(plan, ALL_SOURCES), line)


# --- odd lines -------------------------------------------------------------------------------


PLAIN = falcon_line(ImageFileName="/usr/bin/bash")  # no rule's value: never a candidate alone


@pytest.mark.parametrize(
    "odd",
    [
        b"not json",
        b'["an array"]',
        b' {"a":1}',  # leading whitespace: not starting with "{"
        b'{"a":1} ',  # trailing whitespace
        b'{"a":1',
        b'{"CommandLine":"caf\xe9"}',  # invalid UTF-8
        b'{"CommandLine":"\xff\xfe"}',
        b"\r",
        b"  ",
    ],
)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_odd_lines_are_always_candidates(prefilter: Prefilter, odd: bytes, where: str) -> None:
    lines = {
        "first": [odd, PLAIN, PLAIN],
        "middle": [PLAIN, odd, PLAIN],
        "last": [PLAIN, PLAIN, odd],
    }
    number = {"first": 1, "middle": 2, "last": 3}[where]
    for final in (True, False):
        found = prefilter.scan(chunk_of(*lines[where], final=final))
        assert candidate_numbers(found) == [number], (where, final)
        assert found.empty_lines == 0


def test_a_chunk_without_final_newline_still_has_its_last_line(prefilter: Prefilter) -> None:
    hit = falcon_line(CommandLine="xmrig -o stratum+tcp://p:3333")
    found = prefilter.scan(chunk_of(PLAIN, hit, final=False))
    assert candidate_numbers(found) == [2]
    assert found.candidates.data == hit


def test_crlf_lines_are_found_and_not_odd(prefilter: Prefilter) -> None:
    hit = falcon_line(CommandLine="xmrig -o stratum+tcp://p:3333")
    found = prefilter.scan(chunk_of(PLAIN, hit, PLAIN, newline=b"\r\n"))
    assert candidate_numbers(found) == [2]
    found = prefilter.scan(chunk_of(PLAIN, hit, PLAIN, newline=b"\r\n", final=False))
    assert candidate_numbers(found) == [2]


def test_empty_lines_are_counted_and_never_candidates(prefilter: Prefilter) -> None:
    hit = falcon_line(CommandLine="stratum+tcp://x")
    found = prefilter.scan(chunk_of(b"", PLAIN, b"", b"", hit, b""))
    assert candidate_numbers(found) == [5]
    assert found.empty_lines == 4
    assert prefilter.scan(chunk_of(b"", b"")).empty_lines == 2


def test_candidates_carry_line_numbers_and_stream_offsets(prefilter: Prefilter) -> None:
    hit = falcon_line(CommandLine="stratum+tcp://x")
    data = b"\n".join([PLAIN, hit, PLAIN, hit]) + b"\n"
    found = prefilter.scan(Chunk(data, first_line=101, offset=5000))
    assert candidate_numbers(found) == [102, 104]
    first = len(PLAIN) + 1
    assert found.candidates.offsets.tolist() == [5000 + first, 5000 + first * 2 + len(hit) + 1]
    assert found.candidates.data == hit + b"\n" + hit


# --- modes and context lines -----------------------------------------------------------------


def test_each_rule_says_how_it_is_prefiltered(prefilter: Prefilter) -> None:
    modes = {f.rule: f.mode for f in prefilter.rules}
    assert modes == {
        "TempMiner": "prefiltered",
        "StratumUrl": "prefiltered",
        "CasedMiner": "prefiltered",
        "NonAscii": "prefiltered",
        "Rendered": "prefiltered",
        "PoolPort": "prefiltered",
        "PoolNet": "prefiltered",
        "PoolDns": "prefiltered",
        "OutboundPool": "prefiltered",
        "JoinedImage": "prefiltered",
    }
    assert not prefilter.every_line
    atoms = {f.rule: f.atoms for f in prefilter.rules}
    assert any("3333" in a for a in atoms["PoolPort"])
    # The joined field may come from the process: the rule keeps Falcon network lines.
    assert '"NetworkConnectIP4"' in atoms["JoinedImage"]


def test_a_rule_with_no_text_falls_back_to_its_event_types(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        # Only a computed field (Initiated is mapped from ConnectionDirection) …
        Outbound=(
            {"category": "network_connection"},
            {"sel": {"Initiated": "true"}, "condition": "sel"},
        ),
        # … only a port range (an existence test and a negation) …
        HighPort=(
            {"category": "network_connection"},
            {
                "sel": {"DestinationPort|exists": True},
                "f": {"DestinationPort": 443},
                "condition": "sel and not f",
            },
        ),
        # … no category at all: no event types to fall back to.
        Anything=({"product": "windows"}, {"sel": {"User|exists": True}, "condition": "sel"}),
    )
    # Falcon names its network events; Sysmon's are EventID 3 (a key-anchored number) and
    # Windows event logs' Sysmon channel with EventID 3.
    falcon_only = build_prefilter(plan, FALCON)
    assert {f.rule: f.mode for f in falcon_only.rules} == {
        "Outbound": "event types",
        "HighPort": "event types",
        "Anything": "every line",
    }
    every = build_prefilter(plan, ALL_SOURCES)
    assert {f.rule: f.mode for f in every.rules} == {
        "Outbound": "event types",
        "HighPort": "event types",
        "Anything": "every line",
    }
    without_anything = plan_of(
        tmp_path / "two",
        Outbound=(
            {"category": "network_connection"},
            {"sel": {"Initiated": "true"}, "condition": "sel"},
        ),
    )
    prefilter = build_prefilter(without_anything, FALCON)
    assert not prefilter.every_line
    net = network_line('"443"', ConnectionDirection="0")
    process = falcon_line(ImageFileName="/tmp/xmrig")
    dns = json.dumps({"event_simpleName": "DnsRequest", "DomainName": "x"}).encode()
    found = prefilter.scan(chunk_of(process, net, dns, net.replace(b"IP4", b"IP6")))
    assert candidate_numbers(found) == [2, 4]


def test_every_line_mode_passes_every_non_empty_line(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path, Anything=({"product": "windows"}, {"sel": {"User": None}, "condition": "sel"})
    )
    prefilter = build_prefilter(plan, ALL_SOURCES)
    assert [f.mode for f in prefilter.rules] == ["every line"]
    found = prefilter.scan(chunk_of(PLAIN, b"", b"x", PLAIN, b"\r"))
    assert candidate_numbers(found) == [1, 3, 4, 5]
    assert found.empty_lines == 1


def test_context_markers_pick_the_process_lines(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        PoolPort=(
            {"category": "network_connection"},
            {"sel": {"DestinationPort": 3333}, "condition": "sel"},
        ),
    )
    prefilter = build_prefilter(plan, FALCON, context_markers=MARKERS)
    process = falcon_line(TargetProcessId="100", ImageFileName="/tmp/xmrig")
    synthetic = process.replace(b'"ProcessRollup2"', b'"SyntheticProcessRollup2"')
    escaped = process.replace(b"Rollup2", b"Rollu\\u00702")
    # A marker is the event type as a whole JSON string, wherever it stands.
    mention = json.dumps({"event_simpleName": "EndOfProcess", "x": "ProcessRollup2"}).encode()
    part = json.dumps({"event_simpleName": "EndOfProcess", "x": "ProcessRollup2V5"}).encode()
    net = network_line('"3333"', ContextProcessId="100")
    found = prefilter.scan(chunk_of(process, synthetic, escaped, mention, part, net, PLAIN))
    # An escaped line is both a candidate and a context line (it could be anything).
    assert [int(n) for n in found.context.line_numbers] == [1, 2, 3, 4, 7]
    assert candidate_numbers(found) == [3, 6]
    # Without markers (no join wanted) there are no context lines but odd ones.
    plain = build_prefilter(plan, FALCON)
    assert [int(n) for n in plain.scan(chunk_of(process, escaped, net)).context.line_numbers] == [2]


# --- random lines: every alerting line is a candidate ----------------------------------------

PIECES = [
    "xmrig",
    "XMRig",
    "\\Temp\\",
    "\\temp\\xmrig.EXE",
    "stratum+tcp://",
    "STRATUM+tcp:/",
    "café😀",
    "CAFÉ",
    ".pool.example",
    "/xmrig",
    "\n",
    "xy\\",
    'xy"',
    "/",
    "\\",
    '"',
    " ",
    "3333",
    "45.9.",
    "é",
]
PORTS: list[Any] = [3333, "3333", "03333", 443, "443", 3333.0, "3333.0", "x", None]


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    text = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
    kind = draw(st.sampled_from(["falcon", "falcon", "sysmon"]))
    if kind == "sysmon":
        event: dict[str, Any] = {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": draw(st.sampled_from([1, "1", 3, 22])),
        }
        names = ["Image", "CommandLine", "QueryName", "DestinationIp", "Initiated"]
    else:
        event = {
            "event_simpleName": draw(
                st.sampled_from(
                    ["ProcessRollup2", "NetworkConnectIP4", "NetworkConnectIP6", "DnsRequest"]
                )
            ),
            "aid": "a" * 32,
        }
        names = ["ImageFileName", "CommandLine", "DomainName", "RemoteAddressIP4"]
        names += ["ConnectionDirection", "TargetProcessId", "ContextProcessId"]
    for name in names:
        if draw(st.booleans()):
            if name in ("TargetProcessId", "ContextProcessId"):
                event[name] = draw(st.sampled_from(["1", "2", 1]))
            elif name in ("ConnectionDirection", "Initiated"):
                event[name] = draw(st.sampled_from(["0", "1", 0, "true", "false"]))
            else:
                value = draw(text | st.sampled_from(["45.9.1.2", "045.9.1.2", "8.8.8.8"]))
                # An array or object reaches the matcher as Polars renders it.
                event[name] = draw(st.sampled_from([value, value, value, [value], {"k": value}]))
    if draw(st.booleans()):
        event["DestinationPort" if kind == "sysmon" else "RemotePort"] = draw(
            st.sampled_from(PORTS)
        )
    return event


def spell(value: Any, rnd: random.Random, escapes: float = 0.0) -> str:
    """JSON text of `value` with random (valid) spellings: `\\uXXXX` of any character in
    either hex case (each with probability `escapes`), escaped slashes, number forms,
    whitespace between tokens, any key order."""

    def ws() -> str:
        return rnd.choice(["", "", " ", "\t"])

    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        body = ",".join(
            f"{ws()}{spell(k, rnd, escapes)}{ws()}:{ws()}{spell(v, rnd, escapes)}{ws()}"
            for k, v in items
        )
        return "{" + body + "}"
    if isinstance(value, str):
        out = []
        for char in value:
            code = ord(char)
            if rnd.random() < escapes and code <= 0xFFFF:
                out.append(f"\\u{code:04X}" if rnd.random() < 0.5 else f"\\u{code:04x}")
            elif char in '"\\':
                out.append("\\" + char)
            elif char == "\n":
                out.append("\\n")
            elif code < 0x20:
                out.append(f"\\u{code:04x}")
            elif char == "/" and rnd.random() < 0.5:
                out.append("\\/")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ",".join(ws() + spell(v, rnd, escapes) + ws() for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, float):
        return rnd.choice([repr(value), f"{value:e}", f"{value:E}"])
    if isinstance(value, int):
        return rnd.choice([str(value), f"{value}.0", f"{value}e0", f"{value:e}"])
    raise TypeError(value)


def _lines(events_: list[dict[str, Any]], seed: int) -> Iterator[bytes]:
    rnd = random.Random(seed)
    for item in events_:
        escapes = 0.1 if rnd.random() < 0.2 else 0.0  # most lines hold no escape at all
        yield spell(item, rnd, escapes).encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(events_=st.lists(events(), min_size=1, max_size=12), seed=st.integers(0, 2**32 - 1))
def test_every_line_the_reference_alerts_on_is_a_candidate(
    plan: Plan, events_: list[dict[str, Any]], seed: int
) -> None:
    lines = list(_lines(events_, seed))
    prefilter = build_prefilter(plan, ALL_SOURCES, context_markers=MARKERS)
    candidates = set(candidate_numbers(prefilter.scan(chunk_of(*lines))))
    alerting: set[int] = set()
    for process_join in (True, False):
        found = reference_scan([lines], plan, ALL_SOURCES, process_join=process_join)
        alerting |= {a.line for a in found}
    dropped = len(lines) - len(candidates)
    event(f"alerting lines: {min(len(alerting), 3)}, dropped lines: {min(dropped, 3)}")
    assert alerting <= candidates, [lines[n - 1] for n in sorted(alerting - candidates)]


def test_candidate_batches_know_their_line_bounds() -> None:
    """The prefilter hands parsing each line's bounds; they must be what a pass over the
    batch's bytes finds (CRLF endings, blank lines, a last line without newline)."""
    from retrohunt.archive import Chunk
    from retrohunt.compiler import compile_rules
    from retrohunt.parse import LineBatch, _line_bounds
    from retrohunt.prefilter import build_prefilter
    from retrohunt.sources import select_sources

    plan = compile_rules()
    prefilter = build_prefilter(plan, select_sources(None), context_markers=["ProcessRollup2"])
    lines = [
        b'{"event_simpleName":"ProcessRollup2","ImageFileName":"/tmp/xmrig"}\r',
        b"",
        b'{"event_simpleName":"DnsRequest","DomainName":"pool.supportxmr.com"}',
        b"not json at all\r",
        b'{"event_simpleName":"ProcessRollup2","CommandLine":"bash"}',
        b'{"event_simpleName":"DnsRequest","DomainName":"example.com"}',
    ]
    chunk = Chunk(b"\n".join(lines), first_line=10, offset=1000)
    found = prefilter.scan(chunk)
    for batch in (
        found.candidates,
        found.context,
        LineBatch.concat([found.candidates, found.context]),
    ):
        assert batch.known_bounds is not None and len(batch) > 1
        known = batch.known_bounds
        again = _line_bounds(batch.data)
        assert known[0].tolist() == again[0].tolist() and known[1].tolist() == again[1].tolist()


_UTF8_TRAPS = [
    b"\xed\xa0\x80",  # a surrogate (U+D800) encoded
    b"\xc0\xaf",  # an overlong "/"
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # truncated
    "é€😀".encode(),
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=8), st.sampled_from(_UTF8_TRAPS), st.text(max_size=4)),
        max_size=12,
    )
)
def test_utf8_validation_agrees_with_python(pieces: list[bytes | str]) -> None:
    data = b"".join(p.encode() if isinstance(p, str) else p for p in pieces)
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert _valid_utf8(data) is expected


@pytest.mark.parametrize(
    "data",
    [b"", b"\n", b"a", b"a\n", b"a\r\nb\n\nc", b"\n\na\r\n", b'{"x":1}\n{"y":2}\r\n\n{"z":3}'],
)
def test_a_batch_holds_exactly_the_lines_picked_whatever_their_ends(data: bytes) -> None:
    chunk = Chunk(data, 10, 1000)
    newlines = chunk.newlines()
    lines = data.split(b"\n") if data else []
    if data.endswith(b"\n"):
        lines.pop()  # the final newline opens no line
    starts = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    for size in range(len(lines) + 1):
        for picked in itertools.combinations(range(len(lines)), size):
            batch = _batch(chunk, newlines, np.asarray(picked, dtype=np.int64))
            assert batch.data == b"\n".join(lines[i] for i in picked)
            assert batch.line_numbers.tolist() == [10 + i for i in picked]
            assert batch.offsets.tolist() == [1000 + starts[i] for i in picked]
            begin, end = batch.bounds()
            texts = [batch.data[b:e] for b, e in zip(begin.tolist(), end.tolist(), strict=True)]
            assert texts == [lines[i].removesuffix(b"\r") for i in picked]
