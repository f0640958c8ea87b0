"""Property tests: the Hyperscan/Polars fast path raises exactly the reference's alerts.

Random Sigma rules from the supported subset (number comparisons, Initiated, Image on
network events, `not` filters), random events of every source — Falcon process, network and
DNS events sharing agent ids and process ids so the process join finds (or misses) their
process, Sysmon flat and Winlogbeat-nested, CloudTrail — random JSON encodings of those
events (escaped slashes, \\uXXXX of any character in either hex case, surrogate pairs, raw
UTF-8, numbers spelled 3333, 3333.0 or 3.333e3, whitespace between tokens, any key order),
random compression, several archives in one scan, chunks small enough that lines and join
partners land in different chunks — and the alert set, with each alert's process context,
must equal that of `retrohunt.reference` (standard json module, two plain passes for the
join), with the prefilter on and off."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
import zstandard
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from retrohunt.archive import Chunk
from retrohunt.compiler import StringPattern, Wildcard, compile_rules
from retrohunt.hyperscan_db import compile_patterns
from retrohunt.match import RULE_COLUMN, match_frame
from retrohunt.match.columns import pattern_hits
from retrohunt.parse import LINE_COLUMN, parse_chunk
from retrohunt.reference import (
    ReferenceAlert,
    decode_event,
    reference_alerts,
    reference_scan,
    wildcard_match,
)
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import SOURCES, normalise, raw_schema
from retrohunt.sources.records import expand_envelopes

# Scales every example count here (RETROHUNT_EXACTNESS_SCALE=20 for a long local hunt).
SCALE = float(os.environ.get("RETROHUNT_EXACTNESS_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, round(count * SCALE))


FALCON = SOURCES["falcon"]
ALL_SOURCES = list(SOURCES.values())
# Text fragments rules and events share, so that random events often (not always) match.
FRAGMENTS = [
    "xmrig",
    "XMRig",
    "stratum+tcp://",
    "pool.",
    "a",
    "é",
    "É",
    "ß",
    "\\",
    "/",
    '"',
    "*",
    "?",
    " ",
    "-o",
    "😀",
    "\x00",
    "\n",
    "\t",
    "ǅ",
    "K",
    "k",
    "İ",
    "ı",
    "chrome.exe",
    "100",
]
IPS = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "172.32.0.1",
    "8.8.8.8",
    "45.9.148.1",
    "127.0.0.1",
    "192.168.1.1",
    "14.241.850.329",
    "::1",
    "fd12::1",
    "fe80::1",
    "2001:db8::5",
    "0:0:0:0:0:0:0:1",
    "1.2.3.4 5.6.7.8",
    "",
    "010.0.0.1",
]
PORTS: list[Any] = [
    3333,
    "3333",
    4444,
    "4444",
    "443",
    443,
    "03333",
    "-1",
    "3333.5",
    "3333.0",
    3333.5,
    "x",
    "",
]
STRING_FIELDS = {
    "Image": "ImageFileName",
    "CommandLine": "CommandLine",
    "ParentImage": "ParentBaseFileName",
    "QueryName": "DomainName",
    "OciContainerId": "OciContainerId",
}
# Rule fields tested as strings: taxonomy fields (joined ones included) and a native one.
RULE_STRING_FIELDS = [*STRING_FIELDS, "ContainerId", "User"]
PROCESS_TYPES = ["ProcessRollup2", "SyntheticProcessRollup2"]
JOIN_TYPES = ["NetworkConnectIP4", "NetworkConnectIP6", "DnsRequest"]
EVENT_TYPES = [*PROCESS_TYPES, *JOIN_TYPES, "EndOfProcess"]
CATEGORIES = ["process_creation", "network_connection", "dns_query"]
# Few agents and process ids, so network and DNS events often name a process of the input.
AIDS = ["a" * 32, "a" * 32, "b" * 32, ""]
PIDS: list[Any] = ["100", "101", 100, "100", "", "0100", None]
DIRECTIONS: list[Any] = ["0", "1", "2", 0, 1, "", None, "true"]

# Seeds of the random.Random that picks each encoding (a plain PRNG: every spelling is
# equally likely, where Hypothesis' own randoms lean towards the first branch).
SEEDS = st.integers(0, 2**32 - 1)
text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=5).map("".join)


@st.composite
def sigma_values(draw: st.DrawFn) -> str:
    """A Sigma string value: fragments, escaped specials and live wildcards."""
    pieces = draw(
        st.lists(
            st.sampled_from(FRAGMENTS).map(_sigma_escape)
            | st.sampled_from(["*", "?"])
            | st.text(alphabet="abcXYZ", min_size=1, max_size=2),
            max_size=4,
        )
    )
    return "".join(pieces)


# Regex pieces on which Python's `re` (the reference) and Rust's `regex` (the matcher)
# agree: no \w \d \s \b classes (their Unicode tables differ), no `$` without `m` (Python
# also matches before a final newline), no letter i under `i` (Python folds i with
# dotless ı, Rust does not).
_REGEX_ATOMS = [
    "xmr",
    "XMR",
    "pool\\.",
    "stratum\\+tcp://",
    "\\\\",
    "/",
    '"',
    "é",
    "K",
    "s",
    "ß",
    "😀",
    " ",
    "-o",
    "100",
    "a",
    "[a-c]",
    "[^x]",
    ".",
    "\\n",
    "\\t",
]


@st.composite
def regexes(draw: st.DrawFn) -> str:
    """A random regular expression over the atoms above."""
    pieces: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        piece = draw(st.sampled_from(_REGEX_ATOMS))
        shape = draw(st.sampled_from(["", "", "", "group?", "group+", "*", "alt"]))
        if shape == "group?":
            piece = f"(?:{piece})?"
        elif shape == "group+":
            piece = f"({piece})+"
        elif shape == "*":
            piece = f"(?:{piece})*"
        elif shape == "alt":
            piece = f"(?:{piece}|{draw(st.sampled_from(_REGEX_ATOMS))})"
        pieces.append(piece)
    anchor = draw(st.sampled_from(["", "", "^", "^(?m)"]))
    return anchor.replace("^(?m)", "(?m)^") + "".join(pieces)


def _sigma_escape(fragment: str) -> str:
    return fragment.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@st.composite
def detection_items(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "string",
                "string",
                "string",
                "number",
                "compare",
                "cidr",
                "null",
                "exists",
                "initiated",
                "regex",
                "fieldref",
                "boolean",
                "transformed",
            ]
        )
    )
    if kind == "regex":
        field = draw(st.sampled_from(RULE_STRING_FIELDS))
        flags = draw(st.sampled_from(["", "|i", "|s", "|m", "|i|m"]))
        return {f"{field}|re{flags}": draw(regexes())}
    if kind == "fieldref":
        field, other = draw(st.permutations(RULE_STRING_FIELDS))[:2]
        how = draw(st.sampled_from(["", "|startswith", "|endswith", "|contains"]))
        return {f"{field}|fieldref{how}": other}
    if kind == "boolean":
        return {draw(st.sampled_from(["Initiated", "User"])): draw(st.booleans())}
    if kind == "transformed":
        # Modifiers pySigma expands into plain values before the compiler sees them.
        field = draw(st.sampled_from(RULE_STRING_FIELDS))
        modifier = draw(
            st.sampled_from(
                ["|windash|contains", "|base64offset|contains", "|utf16le|base64", "|wide|base64"]
            )
        )
        return {field + modifier: draw(st.sampled_from(["-o x", "/c", "xmrig", "C:\\\\x"]))}
    if kind == "string":
        field = draw(st.sampled_from(RULE_STRING_FIELDS))
        modifier = draw(
            st.sampled_from(
                [
                    "",
                    "|contains",
                    "|startswith",
                    "|endswith",
                    "|contains|all",
                    "|cased",
                    "|contains|cased",
                ]
            )
        )
        values = draw(st.lists(sigma_values(), min_size=1, max_size=3))
        return {field + modifier: values if len(values) > 1 or "all" in modifier else values[0]}
    if kind == "number":
        return {
            "DestinationPort": draw(
                st.lists(st.sampled_from([3333, 4444, 443, -1]), min_size=1, max_size=3)
            )
        }
    if kind == "compare":
        op = draw(st.sampled_from(["gt", "gte", "lt", "lte"]))
        return {f"DestinationPort|{op}": draw(st.sampled_from([443, 3333, 3333.5, 0, -1]))}
    if kind == "cidr":
        nets = draw(
            st.lists(
                st.sampled_from(
                    [
                        "10.0.0.0/8",
                        "172.16.0.0/12",
                        "127.0.0.0/8",
                        "::1/128",
                        "fc00::/7",
                        "8.8.8.8/32",
                    ]
                ),
                min_size=1,
                max_size=3,
            )
        )
        return {"DestinationIp|cidr": nets}
    if kind == "initiated":
        return {"Initiated": draw(st.sampled_from(["true", "false", "tr*", "?alse"]))}
    field = draw(
        st.sampled_from(
            ["Image", "User", "DestinationIp", "OciContainerId", "errorCode", "Initiated"]
        )
    )
    if kind == "null":
        return {field: None}
    return {field + "|exists": draw(st.booleans())}


@st.composite
def logsources(draw: st.DrawFn) -> dict[str, str]:
    """A non-empty Sigma logsource."""
    options = {
        "category": st.sampled_from(CATEGORIES),
        "product": st.sampled_from(["windows", "linux", "macos", "aws"]),
        "service": st.sampled_from(["sysmon", "cloudtrail"]),
    }
    first = draw(st.sampled_from(sorted(options)))
    rest = {k: v for k, v in options.items() if k != first}
    return draw(st.fixed_dictionaries({first: options[first]}, optional=rest))


@st.composite
def sigma_rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    names = [f"sel{i}" for i in range(draw(st.integers(1, 3)))]
    detection: dict[str, Any] = {}
    for name in names:
        item: dict[str, Any] = {}
        for part in draw(st.lists(detection_items(), min_size=1, max_size=3)):
            item.update(part)
        detection[name] = item
    terms = [draw(st.sampled_from([n, f"not {n}"])) for n in names]
    joiners = [draw(st.sampled_from([" and ", " or "])) for _ in terms[1:]]
    condition = terms[0] + "".join(j + t for j, t in zip(joiners, terms[1:], strict=True))
    detection["condition"] = draw(
        st.sampled_from([condition, "1 of sel*", "all of sel*", f"({condition}) and not 1 of sel*"])
    )
    return {
        "title": f"random rule {index}",
        "name": f"Rule{index}",
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "level": "high",
        "logsource": draw(logsources()),
        "detection": detection,
    }


# Process values events and join rules share, so joined fields often decide a rule.
IMAGES = ["C:\\Program Files\\Google\\chrome.exe", "/tmp/xmrig", "/usr/bin/curl", "X.EXE"]
COMMAND_LINES = ["xmrig -o stratum+tcp://pool.x:3333", "curl -s http://x/a.sh", "chrome.exe"]
USERS = ["root", "www-data", "SYSTEM"]
CONTAINERS = ["0123456789ab", "f00"]
PROCESS_VALUES = {
    "Image": IMAGES,
    "CommandLine": COMMAND_LINES,
    "ParentImage": IMAGES,
    "User": USERS,
    "ContainerId": CONTAINERS,
}
FALCON_NATIVES = {
    "Image": "ImageFileName",
    "CommandLine": "CommandLine",
    "ParentImage": "ParentBaseFileName",
    "User": "UserName",
    "ContainerId": "OciContainerId",
}


@st.composite
def process_items(draw: st.DrawFn) -> dict[str, Any]:
    """A test on a field the process join fills."""
    field = draw(st.sampled_from(sorted(PROCESS_VALUES)))
    kind = draw(st.sampled_from(["value", "value", "exists", "exists", "null"]))
    if kind == "exists":
        return {f"{field}|exists": draw(st.booleans())}
    if kind == "null":
        return {field: None}
    modifier = draw(st.sampled_from(["", "|contains", "|endswith", "|startswith", "|cased"]))
    value = draw(st.sampled_from(PROCESS_VALUES[field]))
    if modifier in ("|contains", "|endswith", "|startswith"):
        size = draw(st.integers(1, min(4, len(value))))
        start = draw(st.integers(0, len(value) - size))
        if modifier == "|endswith":
            start = len(value) - size
        elif modifier == "|startswith":
            start = 0
        value = value[start : start + size]
    return {field + modifier: _sigma_escape(value)}


@st.composite
def join_rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """A rule on network or DNS events that tests process fields (what the join fills),
    often with a "not a browser" filter, sometimes on Initiated."""
    selection: dict[str, Any] = {}
    for part in draw(
        st.lists(process_items() | process_items() | detection_items(), min_size=1, max_size=2)
    )[: draw(st.sampled_from([1, 1, 2]))]:
        selection.update(part)
    detection: dict[str, Any] = {"selection": selection}
    condition = "selection"
    if draw(st.booleans()):
        detection["filter"] = draw(process_items())
        condition += " and not filter"
    if draw(st.integers(0, 2)) == 0:
        detection["initiated"] = {"Initiated": draw(st.sampled_from(["true", "false"]))}
        condition += draw(st.sampled_from([" and initiated", " and not initiated"]))
    detection["condition"] = condition
    return {
        "title": f"join rule {index}",
        "name": f"Rule{index}",
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "level": "high",
        "logsource": {"category": draw(st.sampled_from(["network_connection", "dns_query"]))},
        "detection": detection,
    }


SYSMON_CHANNELS = [
    "Microsoft-Windows-Sysmon/Operational",
    "Linux-Sysmon/Operational",
    "Security",
    "",
    None,
]
SYSMON_FIELDS = [
    "Image",
    "CommandLine",
    "ParentImage",
    "QueryName",
    "User",
    "DestinationIp",
    "OciContainerId",
]


@st.composite
def sysmon_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "EventID": draw(st.sampled_from([1, "1", 3, "3", 22, 5, "x"])),
        "UtcTime": "2024-05-01 10:00:00.000",
    }
    channel_key = draw(st.sampled_from(["Channel", "SourceName"]))
    event[channel_key] = draw(st.sampled_from(SYSMON_CHANNELS))
    for name in SYSMON_FIELDS:
        if draw(st.booleans()):
            event[name] = draw(st.one_of(text, st.none(), st.sampled_from(IPS)))
    if draw(st.booleans()):
        event["DestinationPort"] = draw(st.sampled_from(PORTS))
    if draw(st.booleans()):
        event["Initiated"] = draw(st.sampled_from(["true", "false", True, "0", None]))
    return event


@st.composite
def winlogbeat_events(draw: st.DrawFn) -> dict[str, Any]:
    """Sysmon nested the Winlogbeat way, sometimes with shapes the read schema cannot take."""
    flat = draw(sysmon_events())
    channel = flat.pop("Channel", None) or flat.pop("SourceName", None)
    event_data = {k: v for k, v in flat.items() if k not in ("EventID",)}
    winlog: Any = {"event_id": flat.get("EventID"), "channel": channel, "event_data": event_data}
    winlog = draw(
        st.sampled_from([winlog, winlog, winlog, "broken", [1], {"event_data": "x"}, None])
    )
    event: dict[str, Any] = {"winlog": winlog}
    if draw(st.booleans()):
        event["winlog.event_data.Image"] = draw(st.one_of(text, st.none()))
    return event


@st.composite
def cloudtrail_events(draw: st.DrawFn) -> dict[str, Any]:
    """CloudTrail records, sometimes wrapped S3-style in {"Records": [...]}."""
    records = []
    for _ in range(draw(st.integers(1, 3))):
        record: dict[str, Any] = {
            "eventSource": draw(st.sampled_from(["ec2.amazonaws.com", "s3.amazonaws.com", "x"])),
            "eventName": draw(st.sampled_from(["RunInstances", "StopInstances"])),
        }
        if draw(st.booleans()):
            record["requestParameters"] = draw(
                st.sampled_from(
                    [
                        {"instancesSet": {"items": [{"imageId": draw(text)}]}},
                        {"instancesSet": {"items": []}},
                        {"instancesSet": "broken"},
                        None,
                    ]
                )
            )
        if draw(st.booleans()):
            record["userIdentity"] = draw(st.sampled_from([{"arn": draw(text)}, "x", None]))
        if draw(st.booleans()):
            record["errorCode"] = draw(st.sampled_from(["Client.DryRunOperation", None, ""]))
        records.append(record)
    if len(records) == 1 and draw(st.booleans()):
        return records[0]
    return {"Records": draw(st.sampled_from([records, [], [None, *records], "broken"]))}


@st.composite
def falcon_events(draw: st.DrawFn, types: tuple[str, ...] = tuple(EVENT_TYPES)) -> dict[str, Any]:
    """A Falcon event (of one of `types`): process events name themselves by (aid,
    TargetProcessId), network and DNS events their process by (aid, ContextProcessId) —
    drawn from few values, so joins happen — and usually carry no process fields of their
    own, as on real data."""
    simple_name = draw(st.sampled_from(types))
    event: dict[str, Any] = {"event_simpleName": simple_name, "aid": draw(st.sampled_from(AIDS))}
    if draw(st.integers(0, 4)):
        event["timestamp"] = "1700000000123"
    if draw(st.booleans()):
        event["event_platform"] = draw(st.sampled_from(["Win", "Lin", "Mac", "x"]))
    joinable = simple_name in JOIN_TYPES
    if simple_name in PROCESS_TYPES and draw(st.integers(0, 5)):
        event["TargetProcessId"] = draw(st.sampled_from(PIDS))
    if joinable and draw(st.integers(0, 5)):
        event["ContextProcessId"] = draw(st.sampled_from(PIDS))
    for field, native in FALCON_NATIVES.items():
        if draw(st.integers(0, 4)) == 0 if joinable else draw(st.integers(0, 6)) > 0:
            vocabulary = st.sampled_from(PROCESS_VALUES[field])
            event[native] = draw(st.one_of(*[vocabulary] * 5, st.sampled_from(["", None]), text))
    for native in ("DomainName", "ParentImageFileName"):
        if draw(st.integers(0, 3)) == 1:
            event[native] = draw(st.one_of(text, st.none()))
    if simple_name == "DnsRequest" and draw(st.integers(0, 3)) == 0:
        event["ContextBaseFileName"] = draw(st.sampled_from(IMAGES) | text)
    if draw(st.booleans()):
        event[draw(st.sampled_from(["RemoteAddressIP4", "RemoteAddressIP6"]))] = draw(
            st.sampled_from(IPS)
        )
    if draw(st.booleans()):
        event["RemotePort"] = draw(st.sampled_from(PORTS))
    if joinable and draw(st.integers(0, 3)):
        event["ConnectionDirection"] = draw(st.sampled_from(DIRECTIONS))
    if draw(st.integers(0, 9)) == 1:
        event["UserName"] = draw(st.integers(-5, 5))
    return event


def number_spelling(value: int | float, rnd: random.Random) -> str:
    """A JSON number text of `value`: 3333, 3333.0, 3.333e3, 3.333E+3, 33330e-1 …"""
    if isinstance(value, float):
        return repr(value)
    if abs(value) >= 2**53:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    forms = [digits, digits, digits + ".0", digits + ".000", digits + "e0", digits + "E+0"]
    if len(digits) > 1:
        mantissa = f"{digits[0]}.{digits[1:]}"
        forms += [f"{mantissa}e{len(digits) - 1}", f"{mantissa}E+{len(digits) - 1}"]
    if value:
        forms += [f"{digits}0e-1", f"0.{digits}e{len(digits)}"]
    return sign + rnd.choice(forms)


_SPACES = ["", "", "", "", " ", "\t", "  ", " \r "]


def encode(value: Any, rnd: random.Random, *, top: bool = True) -> str:
    """JSON text with randomly chosen (all valid) spellings: the raw bytes differ, the
    decoded value does not. Strings escape `"` and `\\` either way, `/` as `\\/` or not,
    any character as `\\uXXXX` (upper or lower hex, surrogate pairs above U+FFFF); numbers
    take any spelling of their value; whitespace goes between tokens; keys come in any order,
    and a top-level object may repeat a key after its first (which wins)."""

    def ws() -> str:
        return rnd.choice(_SPACES) if rnd.random() < 0.3 else ""

    if isinstance(value, dict):
        items = list(value.items())
        if rnd.random() < 0.3:
            rnd.shuffle(items)
        pairs = [(encode(k, rnd, top=False), encode(v, rnd, top=False)) for k, v in items]
        if top and items and rnd.random() < 0.1:
            key = rnd.choice(items)[0]
            pairs.append((encode(key, rnd, top=False), rnd.choice(["null", '"xmrig"', "3333"])))
        inner = ",".join(f"{ws()}{k}{ws()}:{ws()}{v}{ws()}" for k, v in pairs)
        return "{" + inner + ws() + "}"
    if isinstance(value, list):
        return "[" + ",".join(ws() + encode(v, rnd, top=False) + ws() for v in value) + "]"
    if isinstance(value, str):
        out = []
        for ch in value:
            code = ord(ch)
            if ch == '"' or ch == "\\":
                out.append("\\" + ch if rnd.random() < 0.8 else f"\\u{code:04x}")
            elif code < 0x20:
                out.append(f"\\u{code:04x}")
            elif ch == "/" and rnd.random() < 0.5:
                out.append("\\/")
            elif code > 0xFFFF and rnd.random() < 0.5:
                high, low = divmod(code - 0x10000, 0x400)
                out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04X}")
            elif code <= 0xFFFF and rnd.random() < 0.2:
                out.append(f"\\u{code:04X}" if rnd.random() < 0.5 else f"\\u{code:04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_spelling(value, rnd)
    raise TypeError(f"cannot encode {value!r}")


def fast_alerts(lines: list[bytes], plan: Any) -> set[tuple[int, str]]:
    compiled = compile_patterns(plan.patterns)
    chunk = Chunk(b"\n".join(lines) + b"\n", 1, 0)
    parsed = parse_chunk(chunk, raw_schema(ALL_SOURCES, plan.fields()))
    expanded = expand_envelopes(parsed.frame, ALL_SOURCES)
    events = normalise(expanded.lazy(), ALL_SOURCES, plan.fields()).collect()
    hits = match_frame(events, plan, compiled)
    lines_of = events.get_column(LINE_COLUMN)
    return {
        (int(lines_of[row]), plan.rules[rule].name)
        for row, rule in zip(hits["_rh_row"], hits[RULE_COLUMN], strict=True)
    }


def _plan(rules: list[dict[str, Any]], folder: Path) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    for i, rule in enumerate(rules):
        (folder / f"r{i}.yml").write_text(
            yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8"
        )
    plan = compile_rules([folder])
    assert not plan.refused, plan.refused
    return plan


def _compress(data: bytes, compression: str) -> bytes:
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    return data


def scanned_alerts(
    archives: list[Path], plan: Any, out: Path, **options: Any
) -> set[ReferenceAlert]:
    """The alerts of one `scan` of `archives`, as reference tuples (each exactly once)."""
    result = scan(ScanOptions(tuple(archives), out=out, **options), plan=plan)
    assert not result.failed, [a.error for a in result.failed]
    index = {str(path): number for number, path in enumerate(archives)}
    rows = [
        ReferenceAlert(
            index[row["archive"]],
            row["line_number"],
            row["record_index"],
            row["rule_name"],
            row["process_context"],
        )
        for row in result.alerts.iter_rows(named=True)
    ]
    found = set(rows)
    assert len(found) == len(rows), "an alert was written twice"
    return found


# Lines that are not events: blank, whitespace, not JSON, not an object, a bad byte.
ODD_LINES = [b"", b"  ", b"not json", b'["x"]', b"{", b"\xff{}", b'{"a":1} ']


def wrap_values(event: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """The event with a few top-level strings wrapped in an array or object: the matcher
    reads Polars' rendering of those (`["x", 3333]`, quotes inside escaped)."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, str) and rnd.random() < 0.04:
            value = rnd.choice([[value], {"k": value}, [value, 3333.0, None], {value: [value]}])
        out[key] = value
    return out


def link(events: list[dict[str, Any]], rnd: random.Random) -> None:
    """Point most network and DNS events at a process event of the list (its aid, and its
    TargetProcessId spelled as text or as a number)."""
    keys = [
        (e["aid"], e["TargetProcessId"])
        for e in events
        if e["event_simpleName"] in PROCESS_TYPES and e["aid"] and e.get("TargetProcessId")
    ]
    for item in events:
        if item["event_simpleName"] in JOIN_TYPES and keys and rnd.random() < 0.8:
            item["aid"], pid = rnd.choice(keys)
            if isinstance(pid, str) and pid.isdigit() and rnd.random() < 0.3:
                pid = int(pid)
            item["ContextProcessId"] = pid


@st.composite
def archive_sets(draw: st.DrawFn, events: st.SearchStrategy[dict[str, Any]]) -> Any:
    """1-3 archives of encoded lines — Falcon events (so joins happen), `events`, a few odd
    lines — each with a compression and a line separator."""
    rnd = random.Random(draw(SEEDS))
    items = draw(st.lists(falcon_events(tuple(PROCESS_TYPES)), min_size=1, max_size=4))
    items += draw(st.lists(falcon_events(), min_size=1, max_size=10))
    link(items, rnd)
    items += draw(st.lists(events, max_size=8))
    rnd.shuffle(items)
    lines = []
    for item in items:
        if rnd.random() < 0.08:
            lines.append(rnd.choice(ODD_LINES))
        item = wrap_values(item, rnd)
        line = encode(item, rnd).encode("utf-8")
        if rnd.random() < 0.05:
            line = line.replace("é".encode(), b"\xff")  # invalid UTF-8 inside a value
        lines.append(line)
    count = draw(st.integers(1, 3))
    cuts = sorted(
        draw(st.lists(st.integers(0, len(lines)), min_size=count - 1, max_size=count - 1))
    )
    bounds = [0, *cuts, len(lines)]
    archives = [lines[a:b] for a, b in itertools.pairwise(bounds)]
    shapes = [
        (draw(st.sampled_from(["zstd", "gzip", "none"])), draw(st.sampled_from(["\n", "\r\n"])))
        for _ in archives
    ]
    return archives, shapes, draw(st.booleans())


def write_archives(root: Path, archives: list[list[bytes]], shapes: Any, final: bool) -> list[Path]:
    paths = []
    for number, (lines, (compression, newline)) in enumerate(zip(archives, shapes, strict=True)):
        data = newline.encode().join(lines) + (newline.encode() if final else b"")
        if compression == "none" and not data.lstrip(b" \t\r\n").startswith(b"{"):
            compression = "zstd"  # plain text must start like NDJSON to be read as such
        path = root / f"a{number}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_compress(data, compression))
        paths.append(path)
    return paths


EVERY_SOURCE = st.one_of(
    *[falcon_events()] * 6,
    sysmon_events(),
    winlogbeat_events(),
    cloudtrail_events(),
    # Lines that carry more than one source's keys: only the first claiming source maps.
    st.tuples(falcon_events(), sysmon_events(), cloudtrail_events()).map(
        lambda parts: {**parts[2], **parts[1], **parts[0]}
    ),
)


@settings(max_examples=examples(50), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rules=st.tuples(join_rules(0), join_rules(1))
    | st.tuples(sigma_rules(0), join_rules(1), join_rules(2)),
    data=archive_sets(EVERY_SOURCE),
    chunk_size=st.sampled_from([64, 300, 1 << 20]),
    process_join=st.sampled_from([True, True, True, False]),
)
def test_scan_equals_reference_with_prefilter_on_and_off(
    rules: tuple[dict[str, Any], ...], data: Any, chunk_size: int, process_join: bool
) -> None:
    archives, shapes, final = data
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        plan = _plan(list(rules), root / "rules")
        paths = write_archives(root, archives, shapes, final)
        expected = reference_scan(archives, plan, ALL_SOURCES, process_join=process_join)
        event(f"contexts {sorted({a.process_context for a in expected})}")
        target(float(len({a.process_context for a in expected})), label="contexts")
        options = {"chunk_size": chunk_size, "process_join": process_join}
        off = scanned_alerts(paths, plan, root / "off", prefilter=False, **options)
        assert off == expected, "prefilter off"
        on = scanned_alerts(paths, plan, root / "on", **options)
        assert on == expected, "prefilter on"


NET_COMMAND_LINE_RULE = {
    "title": "network connection by a miner command line",
    "name": "NetCmd",
    "id": "00000000-0000-4000-8000-000000000001",
    "level": "high",
    "logsource": {"category": "network_connection"},
    "detection": {"sel": {"CommandLine|contains": "xmrig"}, "condition": "sel"},
}
AID = "a" * 32


@pytest.mark.parametrize("prefilter", [False, True])
def test_an_event_with_its_own_image_joins_a_later_process(tmp_path: Path, prefilter: bool) -> None:
    """An event with an Image of its own still takes its missing CommandLine from a process
    seen later (in the next chunk, or the next archive): it waits for the whole scan."""
    net = {
        "event_simpleName": "NetworkConnectIP4",
        "aid": AID,
        "ContextProcessId": "100",
        "ImageFileName": "/tmp/x",
        "RemotePort": "3333",
    }
    process = {
        "event_simpleName": "ProcessRollup2",
        "aid": AID,
        "TargetProcessId": "100",
        "ImageFileName": "/tmp/xmrig",
        "CommandLine": "xmrig -o pool",
    }
    archives = [[json.dumps(net).encode()], [json.dumps(process).encode()]]
    plan = _plan([NET_COMMAND_LINE_RULE], tmp_path / "rules")
    expected = {ReferenceAlert(0, 1, None, "NetCmd", "joined")}
    assert reference_scan(archives, plan, ALL_SOURCES) == expected
    # Prefilter off: one archive, the process in the next chunk; on: the next archive.
    lines = archives if prefilter else [[*archives[0], *archives[1]]]
    paths = write_archives(tmp_path, lines, [("none", "\n")] * len(lines), True)
    got = scanned_alerts(paths, plan, tmp_path / "out", prefilter=prefilter, chunk_size=64)
    assert got == expected


def test_an_envelope_line_is_not_a_process_event(tmp_path: Path) -> None:
    """A line whose events are its Records is no process, whatever its other keys say."""
    plan = _plan(
        [
            {
                **NET_COMMAND_LINE_RULE,
                "detection": {"sel": {"Image|endswith": "xmrig"}, "condition": "sel"},
            }
        ],
        tmp_path / "rules",
    )
    envelope = {
        "Records": [{"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}],
        "event_simpleName": "ProcessRollup2",
        "aid": AID,
        "TargetProcessId": "100",
        "ImageFileName": "/tmp/xmrig",
    }
    net = {"event_simpleName": "NetworkConnectIP4", "aid": AID, "ContextProcessId": "100"}
    lines = [json.dumps(envelope).encode(), json.dumps(net).encode()]
    assert reference_scan([lines], plan, ALL_SOURCES) == set()
    paths = write_archives(tmp_path, [lines], [("none", "\n")], True)
    for prefilter in (True, False):
        assert (
            scanned_alerts(paths, plan, tmp_path / f"out{prefilter}", prefilter=prefilter) == set()
        )


@pytest.mark.parametrize("prefilter", [True, False])
def test_an_alert_survives_describing_a_record_with_an_odd_shape(
    tmp_path: Path, prefilter: bool
) -> None:
    """An alerting line is read again with every field to describe it; a nested value that
    fits what matching read but not the full schema (userIdentity a string) must not make
    its Records, and so the alert, disappear."""
    launch = {
        "title": "instance launch",
        "name": "Launch",
        "id": "00000000-0000-4000-8000-000000000002",
        "level": "high",
        "logsource": {"product": "aws", "service": "cloudtrail"},
        "detection": {"sel": {"eventName": "RunInstances"}, "condition": "sel"},
    }
    plan = _plan([launch], tmp_path / "rules")
    record = {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "userIdentity": "x"}
    lines = [json.dumps({"Records": [record]}).encode()]
    assert reference_scan([lines], plan, ALL_SOURCES) == {
        ReferenceAlert(0, 1, 0, "Launch", "event")
    }
    paths = write_archives(tmp_path, [lines], [("none", "\n")], True)
    got = scanned_alerts(paths, plan, tmp_path / "out", prefilter=prefilter)
    assert got == {ReferenceAlert(0, 1, 0, "Launch", "event")}


@settings(max_examples=examples(20), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rules=st.tuples(join_rules(0), join_rules(1)),
    earlier=st.lists(falcon_events(), min_size=1, max_size=12),
    data=archive_sets(falcon_events()),
    seed=SEEDS,
)
def test_persistent_process_table_counts_as_earlier_than_the_scan(
    rules: tuple[dict[str, Any], ...], earlier: list[dict[str, Any]], data: Any, seed: int
) -> None:
    rnd = random.Random(seed)
    archives, shapes, final = data
    # Most network and DNS events of the scan get a process in the table.
    for line in (line for lines in archives for line in lines):
        decoded = decode_event(line)
        if decoded and decoded.get("event_simpleName") in JOIN_TYPES and rnd.random() < 0.6:
            process = {
                "event_simpleName": rnd.choice(PROCESS_TYPES),
                "aid": decoded.get("aid"),
                "TargetProcessId": decoded.get("ContextProcessId"),
                "timestamp": "1700000000123",
            }
            for field, native in FALCON_NATIVES.items():
                process[native] = rnd.choice([*PROCESS_VALUES[field], None])
            earlier.insert(rnd.randint(0, len(earlier)), process)
    known = [encode(event, rnd).encode("utf-8") for event in earlier]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        plan = _plan(list(rules), root / "rules")
        table = root / "processes.parquet"
        first = write_archives(root / "first", [known], [("zstd", "\n")], True)
        scanned_alerts(first, plan, root / "out0", process_table=table)
        paths = write_archives(root, archives, shapes, final)
        expected = reference_scan(archives, plan, ALL_SOURCES, known_processes=known)
        event(f"contexts {sorted({a.process_context for a in expected})}")
        target(float(len({a.process_context for a in expected})), label="contexts")
        got = scanned_alerts(paths, plan, root / "out1", process_table=table, chunk_size=128)
        assert got == expected


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(st.integers(0, 10**6), min_size=1, max_size=4).flatmap(
        lambda ids: st.tuples(*(sigma_rules(i) for i in range(len(ids))))
    ),
    events=st.lists(EVERY_SOURCE, min_size=1, max_size=25),
    seed=SEEDS,
)
def test_fast_path_equals_reference(
    rules: tuple[dict[str, Any], ...], events: list[dict[str, Any]], seed: int
) -> None:
    """The matcher alone (no prefilter, no join) on one chunk."""
    rnd = random.Random(seed)
    lines = [encode(wrap_values(e, rnd), rnd).encode("utf-8") for e in events]
    with tempfile.TemporaryDirectory() as folder:
        plan = _plan(list(rules), Path(folder))
        expected = reference_alerts(lines, plan, ALL_SOURCES, process_join=False)
        assert fast_alerts(lines, plan) == expected


@settings(max_examples=examples(300), deadline=None)
@given(
    patterns=st.lists(
        st.tuples(
            st.lists(
                st.sampled_from(FRAGMENTS) | st.sampled_from([Wildcard.ANY, Wildcard.ONE]),
                max_size=4,
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    values=st.lists(st.one_of(text, st.none()), min_size=1, max_size=30),
)
def test_column_matcher_equals_wildcard_reference(
    patterns: list[tuple[list[Any], bool]], values: list[str | None]
) -> None:
    table = [
        StringPattern(i, "F", tuple(_merge(parts)), cased)
        for i, (parts, cased) in enumerate(patterns)
    ]
    hits = pattern_hits(
        pl.DataFrame({"F": pl.Series(values, dtype=pl.String)}), compile_patterns(table)
    )
    for pattern in table:
        expected = np.array(
            [v is not None and wildcard_match(pattern.parts, v, pattern.cased) for v in values]
        )
        got = hits.get(pattern.id, np.zeros(len(values), dtype=bool))
        assert got.tolist() == expected.tolist(), (pattern, values)


def _merge(parts: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part is Wildcard.ANY and merged and merged[-1] is Wildcard.ANY:
            continue
        else:
            merged.append(part)
    return merged


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(cloudtrail_events(), min_size=1, max_size=20),
    seed=SEEDS,
)
def test_bundled_pack_on_cloudtrail_equals_reference(
    events: list[dict[str, Any]], seed: int
) -> None:
    rnd = random.Random(seed)
    lines = [encode(e, rnd).encode("utf-8") for e in events]
    plan = compile_rules()
    assert fast_alerts(lines, plan) == reference_alerts(
        lines, plan, ALL_SOURCES, process_join=False
    )
