"""Allow-lists: which alerts an entry suppresses, and how bad allow-lists are refused."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.suppress import SUPPRESSED_BY, AllowListError, load_allowlists


def alerts(rows: list[dict[str, object]]) -> pl.DataFrame:
    full = [{name: row.get(name) for name in ALERT_SCHEMA} for row in rows]
    return pl.DataFrame(full, schema=ALERT_SCHEMA)


ROWS = [
    {"rule_name": "MinerProcessExecution", "host": "MINING-01", "image": "/opt/xmrig"},
    {"rule_name": "MinerProcessExecution", "host": "web-01", "image": "/tmp/xmrig"},
    {
        "rule_name": "MiningPoolNetworkConnection",
        "host": "k8s-1",
        "remote_ip": "203.0.113.9",
        "remote_port": 4444,
    },
    {
        "rule_name": "MiningPoolNetworkConnection",
        "host": "k8s-1",
        "remote_ip": "203.0.113.9",
        "remote_port": 3333,
    },
    {
        "rule_name": "MiningPoolNetworkConnection",
        "host": "k8s-2",
        "remote_ip": "2001:db8::7",
        "remote_port": 4444,
    },
    {"rule_name": "MiningPoolDNSLookup", "host": "lab-3", "domain": "xmr.nanopool.org"},
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allow.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_suppress_exactly_what_they_name(tmp_path: Path) -> None:
    allow = load_allowlists(
        [
            write(
                tmp_path,
                """
entries:
  - reason: authorised miners
    rules: [MinerProcessExecution]
    hosts: ['mining-*']
  - reason: orchestration on 4444
    cidrs: [203.0.113.0/24, '2001:db8::/32']
    ports: [4444]
  - reason: lab resolves pools
    domains: ['*.NANOPOOL.org']
""",
            )
        ]
    )
    kept, suppressed = allow.apply(alerts(ROWS))
    assert kept["host"].to_list() == ["web-01", "k8s-1"]
    assert suppressed[SUPPRESSED_BY].to_list() == [
        "authorised miners",
        "orchestration on 4444",
        "orchestration on 4444",
        "lab resolves pools",
    ]
    assert kept.columns == list(ALERT_SCHEMA)


def test_empty_allow_list_suppresses_nothing(tmp_path: Path) -> None:
    kept, suppressed = load_allowlists([write(tmp_path, "entries: []\n")]).apply(alerts(ROWS))
    assert kept.height == len(ROWS) and suppressed.height == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("entries:\n  - hosts: [a]\n", "'reason' is required"),
        ("entries:\n  - reason: r\n    rules: [X]\n", "at least one of"),
        ("entries:\n  - reason: r\n    cidrs: [10.0.0.0/33]\n", "invalid CIDR"),
        ("entries:\n  - reason: r\n    hostz: [a]\n", "unknown keys"),
        ("entries:\n  - reason: r\n    ports: ['x']\n", "'ports'"),
        ("entries: {a: 1}\n", "must be a list"),
        ("entries: [\n", "not valid YAML"),
    ],
)
def test_bad_allow_lists_are_refused_with_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AllowListError, match=message) as raised:
        load_allowlists([path])
    assert str(path) in str(raised.value)


def test_missing_allow_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AllowListError, match="cannot read"):
        load_allowlists([tmp_path / "nope.yml"])
