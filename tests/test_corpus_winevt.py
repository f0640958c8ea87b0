"""The Windows event-log corpus (`--source winevt`): deterministic bytes, the two shapes EVTX
converters write (evtx_dump and python-evtx + xmltodict), the event mix, JSON escapes that
decode to the values, the attacker-like scenarios, no labels, the CLI."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zstandard

from retrohunt.cli import main
from retrohunt.corpus import generate_winevt, write_corpus
from retrohunt.corpus.winevt import WinEvtGenerator
from retrohunt.corpus.winevt_catalogue import SYSMON_GUID

XMLNS = "http://schemas.microsoft.com/win/2004/08/events/event"
EVTX_SYSTEM = [
    "Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords", "TimeCreated",
    "EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security",
]  # fmt: skip
N = 20_000
Event = dict[str, Any]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [line.data.decode() for line in generate_winevt(N, seed=11, malicious_rate=0.01)]


@pytest.fixture(scope="module")
def events(lines: list[str]) -> list[Event]:
    return [json.loads(line) for line in lines]


def is_xml(event: Event) -> bool:
    return "@xmlns" in event["Event"]


def event_id(event: Event) -> int:
    value = event["Event"]["System"]["EventID"]
    if isinstance(value, dict):
        value = value["#text"]
    return int(value)


def provider(event: Event) -> str:
    found = event["Event"]["System"]["Provider"]
    return str(found["@Name"] if "@Name" in found else found["#attributes"]["Name"])


def data(event: Event) -> dict[str, Any]:
    """EventData as name -> value, whichever the shape."""
    found = event["Event"]["EventData"]
    if is_xml(event):
        return {item["@Name"]: item.get("#text") for item in found["Data"]}
    return dict(found)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "a.jsonl.zst", 3000, seed=5, source="winevt")
    second = write_corpus(tmp_path / "b.jsonl.zst", 3000, seed=5, source="winevt")
    other = write_corpus(tmp_path / "c.jsonl.zst", 3000, seed=6, source="winevt")
    assert first.sha256 == second.sha256 and first.bytes_decompressed > 3000 * 500
    assert other.sha256 != first.sha256
    plain = [line.data for line in generate_winevt(3000, seed=5, malicious_rate=0.001)]
    with (tmp_path / "a.jsonl.zst").open("rb") as fh:
        text = zstandard.ZstdDecompressor().stream_reader(fh).read()
    assert text == b"\n".join(plain) + b"\n"


def test_every_line_is_an_evtx_dump_or_xmltodict_event(events: list[Event]) -> None:
    for event in events:
        assert list(event) == ["Event"]
        body = event["Event"]
        system = body["System"]
        if is_xml(event):
            assert body["@xmlns"] == XMLNS
            assert set(system["Provider"]) >= {"@Name", "@Guid"}
            assert isinstance(system["EventID"]["#text"], str)
            assert "@Qualifiers" in system["EventID"]
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", system["TimeCreated"]["@SystemTime"]
            )
            assert set(system["Execution"]) == {"@ProcessID", "@ThreadID"}
            items = body["EventData"]["Data"]
            assert items and all(set(i) <= {"@Name", "#text"} and "@Name" in i for i in items)
            assert all(isinstance(i.get("#text", ""), str) for i in items)
        else:
            assert body["#attributes"] == {"xmlns": XMLNS}
            assert list(system) == EVTX_SYSTEM
            assert set(system["Provider"]["#attributes"]) >= {"Name", "Guid"}
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
                system["TimeCreated"]["#attributes"]["SystemTime"],
            )
            assert isinstance(system["EventRecordID"], int)
            assert set(system["Execution"]["#attributes"]) == {"ProcessID", "ThreadID"}
            assert isinstance(body["EventData"], dict) and body["EventData"]
        assert system["Computer"].endswith(".corp.example")


def test_the_first_line_is_the_documented_shape(events: list[Event]) -> None:
    sysmon = next(e for e in events if not is_xml(e) and event_id(e) == 1)
    system = sysmon["Event"]["System"]
    assert system["Provider"] == {
        "#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": SYSMON_GUID}
    }
    assert (system["EventID"], system["Version"], system["Level"], system["Task"]) == (1, 5, 4, 1)
    assert system["Keywords"] == "0x8000000000000000" and system["Correlation"] is None
    assert system["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert system["Security"] == {"#attributes": {"UserID": "S-1-5-18"}}
    values = data(sysmon)
    for name in (
        "Image", "CommandLine", "ParentImage", "ParentCommandLine", "User", "Hashes",
        "IntegrityLevel", "CurrentDirectory", "OriginalFileName", "Product", "Company",
        "Description", "ProcessGuid", "ProcessId", "LogonId", "ParentUser",
    ):  # fmt: skip
        assert values.get(name) not in (None, ""), name
    assert isinstance(values["ProcessId"], int) and isinstance(values["TerminalSessionId"], int)


def test_event_mix(events: list[Event]) -> None:
    mix = Counter((provider(e), event_id(e)) for e in events)
    sysmon = {eid: n for (name, eid), n in mix.items() if name == "Microsoft-Windows-Sysmon"}
    assert 0.50 < sysmon[1] / N < 0.60
    assert set(sysmon) >= {1, 3, 5, 7, 10, 11, 12, 13, 22}
    assert mix[("Microsoft-Windows-Security-Auditing", 4624)] > 0.01 * N
    assert mix[("Microsoft-Windows-Security-Auditing", 4688)] > 0.02 * N
    assert mix[("Microsoft-Windows-PowerShell", 4104)] > 0.005 * N
    assert mix[("Service Control Manager", 7045)] > 0


def test_both_shapes_and_typed_values(events: list[Event]) -> None:
    xml = [e for e in events if is_xml(e)]
    assert 0.02 < len(xml) / N < 0.09
    network = [e for e in events if event_id(e) == 3 and provider(e).endswith("Sysmon")]
    typed = [data(e) for e in network if not is_xml(e)]
    text = [data(e) for e in network if is_xml(e)]
    assert typed and all(isinstance(d["Initiated"], bool) for d in typed)
    assert all(isinstance(d["DestinationPort"], int) for d in typed)
    assert text and all(d["Initiated"] in ("true", "false") for d in text)
    services = [e for e in events if event_id(e) == 7045]
    for event in services:
        got = event["Event"]["System"]["EventID"]
        if is_xml(event):
            assert got == {"@Qualifiers": "16384", "#text": "7045"}
        else:
            assert got == {"#attributes": {"Qualifiers": 16384}, "#text": 7045}
        assert data(event)["ImagePath"]
    sysmon = next(e for e in xml if event_id(e) == 1 and provider(e).endswith("Sysmon"))
    assert sysmon["Event"]["System"]["EventID"] == {"@Qualifiers": "", "#text": "1"}


def test_escapes_decode_and_paths_keep_their_backslashes(
    lines: list[str], events: list[Event]
) -> None:
    escaped = [line for line in lines if "\\u" in line]
    raw_non_ascii = [line for line in lines if not line.isascii()]
    assert len(escaped) > 100 and len(raw_non_ascii) > 1000
    for line in escaped:
        for match in re.finditer(r"(?<!\\)((?:\\\\)*)\\u(.{4})", line):
            assert re.fullmatch(r"[0-9a-fA-F]{4}", match.group(2)), line[:200]
    assert any("\\u00e9" in line or "\\u00f8" in line or "\\u00eb" in line for line in escaped)
    for line, event in zip(lines, events, strict=True):
        if is_xml(event):
            assert line.isascii()  # json.dumps' ensure_ascii
        image = data(event).get("Image")
        if isinstance(image, str) and image.startswith("C:"):
            assert "\\\\" not in image and "\\" in image
            assert json.dumps(image, ensure_ascii=False)[1:-1] in line or "\\u" in line


def test_a_trap_changes_the_json_not_the_value() -> None:
    generator = WinEvtGenerator(3)
    changed = 0
    for _ in range(300):
        line, _ = generator.benign()
        values = data(json.loads(line))
        value = values.get("CommandLine") or values.get("Image")
        if not isinstance(value, str):
            continue
        trapped = generator.trap(line, value)
        assert json.loads(trapped) == json.loads(line)
        changed += trapped != line
    assert changed > 50


def test_attacker_like_events_appear_at_the_rate(events: list[Event]) -> None:
    text = "\n".join(
        str(data(e).get("CommandLine") or data(e).get("ScriptBlockText") or "") for e in events
    ).lower()
    hits = sum(
        needle in text
        for needle in (
            "-urlcache", "delete shadows", "whoami /", "/add", "-enc", "regsvr32", "mshta",
            "schtasks", "comsvcs.dll", "sekurlsa", "procdump", "bitsadmin /transfer",
            "set-mppreference", "wevtutil",
        )
    )  # fmt: skip
    assert hits >= 8
    default = [line.data for line in generate_winevt(N, seed=11)]
    assert sum(b"-urlcache" in line or b"delete shadows" in line for line in default) < 20


def test_no_labels_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "w.labels.jsonl"
    info = write_corpus(tmp_path / "w.jsonl.zst", 500, seed=1, source="winevt", labels_path=labels)
    assert info.malicious == 0 and labels.read_text() == "" and info.source == "winevt"
    out = tmp_path / "cli.jsonl"
    arguments = ["corpus", "generate", "--source", "winevt", "-n", "300", "--out", str(out)]
    assert main([*arguments, "--compression", "none"]) == 0
    assert "300 winevt events, no labels" in capsys.readouterr().out
    assert len(out.read_text(encoding="utf-8").splitlines()) == 300
