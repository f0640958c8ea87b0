"""Property tests: the Hyperscan/Polars fast path raises exactly the reference's alerts.

Random Sigma rules from the supported subset, random Falcon events built to collide with
the rules' values, random JSON encodings of those events (escaped slashes, \\uXXXX letters,
surrogate pairs, raw UTF-8), random compression — and the alert set must equal that of
`retrohunt.reference`, which decodes with the standard json module and matches character
by character.
"""

from __future__ import annotations

import gzip
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrohunt.archive import Chunk
from retrohunt.compiler import StringPattern, Wildcard, compile_rules
from retrohunt.hyperscan_db import compile_patterns
from retrohunt.match import RULE_COLUMN, match_frame
from retrohunt.match.columns import pattern_hits
from retrohunt.parse import LINE_COLUMN, parse_chunk
from retrohunt.reference import reference_alerts, wildcard_match
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import SOURCES, normalise, raw_schema
from retrohunt.sources.records import expand_envelopes

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
PORTS: list[Any] = [3333, "3333", 4444, "4444", "443", 443, "03333", "-1", "3333.5", "x", ""]
STRING_FIELDS = {
    "Image": "ImageFileName",
    "CommandLine": "CommandLine",
    "ParentImage": "ParentBaseFileName",
    "QueryName": "DomainName",
    "OciContainerId": "OciContainerId",
}
EVENT_TYPES = [
    "ProcessRollup2",
    "NetworkConnectIP4",
    "NetworkConnectIP6",
    "DnsRequest",
    "EndOfProcess",
]
CATEGORIES = ["process_creation", "network_connection", "dns_query"]

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


def _sigma_escape(fragment: str) -> str:
    return fragment.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


@st.composite
def detection_items(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "string", "string", "number", "cidr", "null", "exists"]))
    if kind == "string":
        field = draw(st.sampled_from(sorted(STRING_FIELDS)))
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
    field = draw(st.sampled_from(["Image", "User", "DestinationIp", "OciContainerId", "errorCode"]))
    if kind == "null":
        return {field: None}
    return {field + "|exists": draw(st.booleans())}


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
        "logsource": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "category": st.sampled_from(CATEGORIES),
                    "product": st.sampled_from(["windows", "linux", "macos", "aws"]),
                    "service": st.sampled_from(["sysmon", "cloudtrail"]),
                },
            ).filter(bool)
        ),
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
def falcon_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_simpleName": draw(st.sampled_from(EVENT_TYPES)),
        "aid": "a" * 32,
        "timestamp": "1700000000123",
    }
    for native in STRING_FIELDS.values():
        if draw(st.booleans()):
            event[native] = draw(st.one_of(text, st.none()))
    if draw(st.booleans()):
        event[draw(st.sampled_from(["RemoteAddressIP4", "RemoteAddressIP6"]))] = draw(
            st.sampled_from(IPS)
        )
    if draw(st.booleans()):
        event["RemotePort"] = draw(st.sampled_from(PORTS))
    if draw(st.booleans()):
        event["UserName"] = draw(st.one_of(text, st.none(), st.integers(-5, 5)))
    return event


def encode(value: Any, rnd: random.Random) -> str:
    """JSON text with randomly chosen (all valid) escapes: the raw bytes differ, the decoded
    value does not."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode(k, rnd)}:{encode(v, rnd)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v, rnd) for v in value) + "]"
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
    return str(value)


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
    for i, rule in enumerate(rules):
        (folder / f"r{i}.yml").write_text(
            yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8"
        )
    plan = compile_rules([folder])
    assert not plan.refused, plan.refused
    return plan


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(st.integers(0, 10**6), min_size=1, max_size=4).flatmap(
        lambda ids: st.tuples(*(sigma_rules(i) for i in range(len(ids))))
    ),
    events=st.lists(
        falcon_events()
        | sysmon_events()
        | winlogbeat_events()
        | cloudtrail_events()
        # Lines that carry more than one source's keys: only the first claiming source maps.
        | st.tuples(falcon_events(), sysmon_events(), cloudtrail_events()).map(
            lambda parts: {**parts[2], **parts[1], **parts[0]}
        ),
        min_size=1,
        max_size=25,
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_fast_path_equals_reference(
    rules: tuple[dict[str, Any], ...], events: list[dict[str, Any]], rnd: random.Random
) -> None:
    lines = [encode(e, rnd).encode("utf-8") for e in events]
    with tempfile.TemporaryDirectory() as folder:
        plan = _plan(list(rules), Path(folder))
        assert fast_alerts(lines, plan) == reference_alerts(lines, plan, ALL_SOURCES)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=sigma_rules(0),
    events=st.lists(falcon_events() | sysmon_events(), min_size=1, max_size=40),
    rnd=st.randoms(use_true_random=False),
    compression=st.sampled_from(["zstd", "gzip", "none"]),
    chunk_size=st.sampled_from([64, 1024, 1 << 20]),
)
def test_scan_of_an_archive_equals_reference(
    rule: dict[str, Any],
    events: list[dict[str, Any]],
    rnd: random.Random,
    compression: str,
    chunk_size: int,
) -> None:
    lines = [encode(e, rnd).encode("utf-8") for e in events]
    data = b"\r\n".join(lines) + b"\n" if rnd.random() < 0.3 else b"\n".join(lines)
    if compression == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    elif compression == "gzip":
        data = gzip.compress(data)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "rules").mkdir()
        plan = _plan([rule], root / "rules")
        archive = root / "events.bin"
        archive.write_bytes(data)
        result = scan(ScanOptions((archive,), out=root / "out", chunk_size=chunk_size), plan=plan)
        got = {
            (row["line_number"], row["rule_name"]) for row in result.alerts.iter_rows(named=True)
        }
        assert got == reference_alerts(lines, plan, ALL_SOURCES)


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(cloudtrail_events(), min_size=1, max_size=20),
    rnd=st.randoms(use_true_random=False),
)
def test_bundled_pack_on_cloudtrail_equals_reference(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    lines = [encode(e, rnd).encode("utf-8") for e in events]
    plan = compile_rules()
    assert fast_alerts(lines, plan) == reference_alerts(lines, plan, ALL_SOURCES)
