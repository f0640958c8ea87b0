"""Every Sigma value modifier and construct retrohunt evaluates, on true and false cases:
each case's rule runs through `scan` with the prefilter on and off, and the alerts must be
the expected ones and the reference evaluator's."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import hyperscan
import pytest
import yaml

from conftest import make_archive
from retrohunt.compiler import FieldEquals, RegexMatch, compile_rules
from retrohunt.reference import reference_alerts
from retrohunt.scan import ScanOptions, scan
from retrohunt.sources import select_sources


def sysmon(**fields: Any) -> dict[str, Any]:
    """A flat Sysmon process-creation event with these fields."""
    return {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", **fields}


BOM = b"\xff\xfe"


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode()


# (case id, detection selection, [(event fields, should alert)])
CASES: list[tuple[str, Any, list[tuple[dict[str, Any], bool]]]] = [
    (
        "keywords",
        ["Invoke-Mimikatz", "sekurlsa::*passwords", 4625, "Kärnten"],
        [
            ({"ScriptBlockText": "iex; invoke-mimikatz -DumpCreds"}, True),
            ({"CommandLine": 'm.exe "sekurlsa::logonpasswords" exit'}, True),
            ({"Payload": "C:\\Temp\\Invoke-Mimikatz.ps1"}, True),  # JSON escapes decoded
            ({"Site": "K\u00e4rnten"}, True),  # json.dumps writes it as K\\u00e4rnten
            ({"Status": 4625}, True),  # a number keyword matches the number as written
            ({"Note": "\ud800 invoke-mimikatz"}, True),  # a lone surrogate escape reads
            ({"CommandLine": "sekurlsa::logon"}, False),
            ({"CommandLine": "Invoke Mimikatz"}, False),
        ],
    ),
    (
        "contains-startswith-endswith",
        {"CommandLine|contains": "-enc", "Image|endswith": "\\powershell.exe"},
        [
            ({"CommandLine": "x -ENC abc", "Image": "C:\\W\\PowerShell.EXE"}, True),
            ({"CommandLine": "x -e abc", "Image": "C:\\W\\powershell.exe"}, False),
            ({"CommandLine": "x -enc", "Image": "C:\\W\\powershell.exe.bak"}, False),
        ],
    ),
    (
        "contains-all",
        {"CommandLine|contains|all": ["vssadmin", "delete", "shadows"]},
        [
            ({"CommandLine": "vssadmin.exe Delete Shadows /all"}, True),
            ({"CommandLine": "vssadmin.exe list shadows"}, False),
        ],
    ),
    (
        "wildcards-and-escapes",
        {"CommandLine": ["*\\*literal-star*", "a?c", "x\\\\y*"]},
        [
            ({"CommandLine": "has *literal-star here"}, True),
            ({"CommandLine": "has literal-star here"}, False),
            ({"CommandLine": "abc"}, True),
            ({"CommandLine": "ac"}, False),
            ({"CommandLine": "x\\y and more"}, True),
            ({"CommandLine": "x\\\\y"}, False),
        ],
    ),
    (
        "cased",
        {"CommandLine|contains|cased": "WinHttp"},
        [({"CommandLine": "use WinHttp now"}, True), ({"CommandLine": "use winhttp now"}, False)],
    ),
    (
        "re",
        {"CommandLine|re": "-[eE]nc(odedCommand)? +[A-Za-z0-9+/=]{8,}"},
        [
            ({"CommandLine": "powershell -EncodedCommand SQBFAFgAIAAoAE4A"}, True),
            ({"CommandLine": "powershell -enc SQBF"}, False),
            ({"CommandLine": "powershell -ENC SQBFAFgAIAAoAE4A"}, False),  # case-sensitive
        ],
    ),
    (
        "re-i",
        {"CommandLine|re|i": "\\\\appdata\\\\local\\\\temp\\\\[a-z]{6}\\.exe$"},
        [
            ({"CommandLine": "C:\\Users\\x\\AppData\\Local\\Temp\\ABCDEF.EXE"}, True),
            ({"CommandLine": "C:\\Users\\x\\AppData\\Local\\Temp\\ABCDEF.EXE /q"}, False),
            # Unicode simple case folding: the Kelvin sign is a k.
            ({"CommandLine": "C:\\AppData\\Local\\Temp\\\u212aaaaaa.exe"}, True),
        ],
    ),
    (
        "re-m",
        {"ScriptBlockText|re|m": "^Invoke-Mimikatz"},
        [
            ({"ScriptBlockText": "$a = 1\nInvoke-Mimikatz -Dump"}, True),
            ({"ScriptBlockText": "$a = 1; Invoke-Mimikatz -Dump"}, False),
        ],
    ),
    (
        "re-s",
        {"ScriptBlockText|re|s": "FromBase64String.+Invoke-Expression"},
        [
            ({"ScriptBlockText": "[Convert]::FromBase64String($x)\nInvoke-Expression"}, True),
            ({"ScriptBlockText": "Invoke-Expression; FromBase64String"}, False),
        ],
    ),
    (
        "windash",
        {"CommandLine|windash|contains": " -urlcache "},
        [
            ({"CommandLine": "certutil -urlcache -f http://x"}, True),
            ({"CommandLine": "certutil /urlcache /f http://x"}, True),
            ({"CommandLine": "certutil \u2013urlcache -f"}, True),  # en dash
            ({"CommandLine": "certutil \u2014urlcache -f"}, True),  # em dash
            ({"CommandLine": "certutil \u2015urlcache -f"}, True),  # horizontal bar
            ({"CommandLine": "certutil urlcache -f"}, False),
        ],
    ),
    (
        "base64",
        {"CommandLine|base64|contains": "http://evil"},
        [
            ({"CommandLine": "-e " + b64("http://evil")}, True),
            ({"CommandLine": "-e " + b64("http://good")}, False),
        ],
    ),
    (
        "base64offset",
        {"ScriptBlockText|base64offset|contains": "IEX (New-Object"},
        [
            ({"ScriptBlockText": b64("IEX (New-Object Net.WebClient)")}, True),
            ({"ScriptBlockText": b64("a IEX (New-Object Net.WebClient)")}, True),
            ({"ScriptBlockText": b64("ab IEX (New-Object Net.WebClient)")}, True),
            ({"ScriptBlockText": b64("IEX New-Object")}, False),
        ],
    ),
    (
        "utf16le-wide-base64offset",
        {"CommandLine|utf16le|base64offset|contains": "Invoke-", "Image": "*"},
        [
            ({"CommandLine": b64("x Invoke-Foo", "utf-16-le"), "Image": "p"}, True),
            ({"CommandLine": b64("xy Invoke-Foo", "utf-16-le"), "Image": "p"}, True),
            ({"CommandLine": b64("x Invoke-Foo"), "Image": "p"}, False),
        ],
    ),
    (
        "wide",
        {"CommandLine|wide|base64": "calc"},
        [
            ({"CommandLine": b64("calc", "utf-16-le")}, True),
            ({"CommandLine": b64("calc")}, False),
        ],
    ),
    (
        "utf16be",
        {"CommandLine|utf16be|base64": "calc"},
        [
            ({"CommandLine": b64("calc", "utf-16-be")}, True),
            ({"CommandLine": b64("calc", "utf-16-le")}, False),
        ],
    ),
    (
        "utf16-with-bom",
        {"CommandLine|utf16|base64": "calc"},
        [
            ({"CommandLine": base64.b64encode(BOM + "calc".encode("utf-16-le")).decode()}, True),
            ({"CommandLine": b64("calc", "utf-16-le")}, False),
        ],
    ),
    (
        "exists",
        {"ParentCommandLine|exists": False, "Image|exists": True},
        [
            ({"Image": "a.exe"}, True),
            ({"Image": "a.exe", "ParentCommandLine": "p"}, False),
            ({"ParentCommandLine": "p"}, False),
        ],
    ),
    (
        "null",
        {"OriginalFileName": None, "Image|endswith": ".exe"},
        [
            ({"Image": "a.exe"}, True),
            ({"Image": "a.exe", "OriginalFileName": None}, True),
            ({"Image": "a.exe", "OriginalFileName": "a.exe"}, False),
        ],
    ),
    (
        "neq",
        {"IntegrityLevel|neq": "System", "Image|endswith": ".exe"},
        [
            ({"Image": "a.exe", "IntegrityLevel": "High"}, True),
            ({"Image": "a.exe", "IntegrityLevel": "SYSTEM"}, False),
        ],
    ),
    (
        "cidr",
        {"DestinationIp|cidr": ["10.0.0.0/8", "fd00::/8"]},
        [
            ({"DestinationIp": "10.1.2.3"}, True),
            ({"DestinationIp": "fd12::1"}, True),
            ({"DestinationIp": "11.1.2.3"}, False),
        ],
    ),
    (
        "fieldref",
        {"Image|fieldref": "ParentImage"},
        [
            ({"Image": "C:\\a.exe", "ParentImage": "c:\\A.EXE"}, True),
            ({"Image": "C:\\a.exe", "ParentImage": "C:\\b.exe"}, False),
            ({"Image": "C:\\a.exe"}, False),
        ],
    ),
    (
        "fieldref-endswith",
        {"CommandLine|fieldref|endswith": "Image"},
        [
            ({"CommandLine": "run C:\\a.exe", "Image": "C:\\a.exe"}, True),
            ({"CommandLine": "C:\\a.exe run", "Image": "C:\\a.exe"}, False),
        ],
    ),
    (
        "boolean",
        {"Signed": False},
        [
            ({"Signed": False}, True),
            ({"Signed": "false"}, True),
            ({"Signed": "False"}, True),
            ({"Signed": True}, False),
            ({}, False),
        ],
    ),
    (
        "number-versus-string",
        {"LogonType": 3, "TargetUserName": "01"},
        [
            ({"LogonType": 3, "TargetUserName": "01"}, True),
            ({"LogonType": "3", "TargetUserName": "01"}, True),
            ({"LogonType": "03", "TargetUserName": "01"}, True),  # numbers compare as numbers
            ({"LogonType": 3, "TargetUserName": "1"}, False),  # strings compare as text
            ({"LogonType": 3, "TargetUserName": 1}, False),
            ({"LogonType": "3.5", "TargetUserName": "01"}, False),
        ],
    ),
]


def _run(
    tmp_path: Path, detection: dict[str, Any], events: list[dict[str, Any]], prefilter: bool
) -> tuple[set[int], set[int]]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    rule = {
        "title": "case",
        "name": "Case",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": {"selection": detection, "condition": "selection"},
    }
    (rules / "rule.yml").write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    lines = [json.dumps(sysmon(**fields)).encode() for fields in events]
    archive = make_archive(tmp_path, lines)
    result = scan(
        ScanOptions(archives=(archive,), out=tmp_path / "out", rules=(rules,), prefilter=prefilter)
    )
    assert not result.plan.refused, result.plan.refused
    alerted = {int(n) for n in result.alerts["line_number"]}
    reference = {n for n, _ in reference_alerts(lines, result.plan, select_sources(None))}
    return alerted, reference


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "no-prefilter"])
@pytest.mark.parametrize(("detection", "events"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_modifier(
    tmp_path: Path,
    detection: dict[str, Any],
    events: list[tuple[dict[str, Any], bool]],
    prefilter: bool,
) -> None:
    alerted, reference = _run(tmp_path, detection, [e for e, _ in events], prefilter)
    expected = {n for n, (_, alerts) in enumerate(events, start=1) if alerts}
    assert alerted == expected
    assert reference == expected


def _compile(tmp_path: Path, detection: dict[str, Any]) -> Any:
    rule = {
        "title": "t",
        "logsource": {"category": "process_creation"},
        "detection": {"selection": detection, "condition": "selection"},
    }
    (tmp_path / "r.yml").write_text(yaml.safe_dump(rule))
    return compile_rules([tmp_path / "r.yml"])


def test_regex_and_fieldref_compile_to_their_own_leaves(tmp_path: Path) -> None:
    plan = _compile(tmp_path, {"CommandLine|re|i|s": "a.b", "Image|fieldref": "ParentImage"})
    assert RegexMatch("CommandLine", "a.b", "is") in plan.rules[0].condition.children
    assert FieldEquals("Image", "ParentImage") in plan.rules[0].condition.children


@pytest.mark.parametrize(
    ("regex", "reason"),
    [("(a)\\1", "backreferences"), ("foo(?=bar)", "look-around"), ("(?<!x)y", "look-around")],
)
def test_a_regex_that_needs_backtracking_is_refused_by_name(
    tmp_path: Path, regex: str, reason: str
) -> None:
    plan = _compile(tmp_path, {"CommandLine|re": regex})
    assert not plan.rules
    (refusal,) = plan.refused
    assert refusal.construct == "re"
    assert reason in refusal.message and regex in refusal.message


def test_a_regex_hyperscan_rejects_still_runs_in_linear_time(tmp_path: Path) -> None:
    # A counted repeat this large is beyond Hyperscan's limits; Rust's regex engine (what
    # Polars runs) takes it, in time linear in the text.
    regex = "x[0-9a-f]{40000}y"
    with pytest.raises(hyperscan.error):
        hyperscan.Database().compile(expressions=[regex.encode()])
    match = "x" + "a" * 40000 + "y"
    alerted, reference = _run(
        tmp_path,
        {"CommandLine|re": regex},
        [{"CommandLine": "pre " + match}, {"CommandLine": "x" + "a" * 39999 + "y"}],
        prefilter=True,
    )
    assert alerted == reference == {1}
