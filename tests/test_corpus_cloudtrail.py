"""The CloudTrail corpus: determinism, both delivery shapes, exact labels against the oracle,
the launch scenarios (Atomic test 4, fleet and launch-template launches, dry runs and denied
calls), the CLI, and the committed CloudTrail sample against the real engine."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retrohunt.cli import main
from retrohunt.corpus import LabelledLine, generate, generate_cloudtrail, labels_of, write_corpus
from retrohunt.scan import ScanOptions, scan
from test_corpus_oracle import AWS_LAUNCH, CASES, EVERY_RULE, expected_rules, stream_expected

ROOT = Path(__file__).resolve().parents[1]
CT_SAMPLE = ROOT / "corpora" / "cloudtrail" / "sample.json.gz"
CT_LABELS = ROOT / "corpora" / "cloudtrail" / "sample.labels.jsonl"
N_RICH = 20_000
Rows = list[tuple[LabelledLine, dict[str, Any]]]


@pytest.fixture(scope="module")
def rich() -> Rows:
    return [
        (line, json.loads(line.data))
        for line in generate_cloudtrail(N_RICH, seed=7, malicious_rate=0.05)
    ]


def records_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = obj.get("Records", [obj])
    return records


def image_ids(record: dict[str, Any], part: str) -> list[str]:
    body = record.get(part) or {}
    items = (body.get("instancesSet") or {}).get("items", [])
    return [item["imageId"] for item in items if item.get("imageId")]


def is_launch(record: dict[str, Any]) -> bool:
    return record["eventName"] == "RunInstances" and "errorCode" not in record


# ---------------------------------------------------------------------------------------------
# Determinism and exact labels
# ---------------------------------------------------------------------------------------------


def test_deterministic_and_prefix_stable() -> None:
    a = [x.data for x in generate(2000, source="cloudtrail", seed=11)]
    b = [x.data for x in generate(2000, source="cloudtrail", seed=11)]
    c = [x.data for x in generate(2000, source="cloudtrail", seed=12)]
    short = [x.data for x in generate(700, source="cloudtrail", seed=11)]
    assert a == b and a != c and a[:700] == short and len(a) == 2000
    assert list(generate(0, source="cloudtrail")) == []


def test_labels_match_independent_rule_logic(rich: Rows) -> None:
    mismatches = [
        (line.data[:300], line.rules, expected_rules(obj))
        for line, obj in rich
        if line.rules != expected_rules(obj)
    ]
    assert mismatches == []
    for line, _ in rich:
        assert b"\n" not in line.data and list(line.rules) == sorted(line.rules)
    malicious = sum(1 for line, _ in rich if line.rules)
    assert 0.035 * N_RICH < malicious < 0.065 * N_RICH


def test_large_mixed_labels_match_oracle() -> None:
    lines = list(generate(30_000, source="mixed", seed=21, malicious_rate=0.03))
    counts: Counter[str] = Counter()
    expected = stream_expected([json.loads(line.data) for line in lines])
    for line, want in zip(lines, expected, strict=True):
        assert line.rules == want, line.data[:300]
        counts.update(line.rules)
    assert set(counts) == EVERY_RULE
    cloudtrail = sum(1 for line in lines if b'"eventSource"' in line.data)
    assert 0.07 * len(lines) < cloudtrail < 0.13 * len(lines)


def test_default_rate_is_low_and_labels_still_exact() -> None:
    lines = list(generate_cloudtrail(20_000, seed=5))
    malicious = [x for x in lines if x.rules]
    assert 3 <= len(malicious) <= 60
    for x in malicious:
        assert x.rules == expected_rules(json.loads(x.data))


CLOUDTRAIL_CASES = [(e, w) for _, e, w in CASES if "eventSource" in e or "Records" in e]


@pytest.mark.parametrize(("event", "want"), CLOUDTRAIL_CASES)
def test_labeller_on_hand_written_cloudtrail(event: dict[str, Any], want: set[str]) -> None:
    assert set(labels_of(event)) == want == set(expected_rules(event))


def test_engine_agrees_on_hand_written_cloudtrail(tmp_path: Path) -> None:
    cases = CLOUDTRAIL_CASES
    assert len(cases) >= 15
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e, _ in cases), encoding="utf-8")
    result = scan(ScanOptions((path,), out=tmp_path / "out"))
    got = {(r["line_number"], r["rule_name"]) for r in result.alerts.iter_rows(named=True)}
    assert got == {(i, rule) for i, (_, want) in enumerate(cases, start=1) for rule in want}


# ---------------------------------------------------------------------------------------------
# Shapes and scenarios
# ---------------------------------------------------------------------------------------------


def test_record_shapes_and_both_delivery_shapes(rich: Rows) -> None:
    envelopes = [obj for _, obj in rich if "Records" in obj]
    assert 0.005 * N_RICH < len(envelopes) < 0.05 * N_RICH
    assert all(2 <= len(obj["Records"]) <= 50 and len(obj) == 1 for obj in envelopes)
    assert max(len(obj["Records"]) for obj in envelopes) > 30
    records = [r for _, obj in rich for r in records_of(obj)]
    for record in records:
        assert {"eventVersion", "eventTime", "eventSource", "eventName", "awsRegion"} <= set(record)
        assert {"sourceIPAddress", "userAgent", "eventID", "recipientAccountId"} <= set(record)
        assert {"type", "arn", "accountId", "principalId"} <= set(record["userIdentity"])
        assert record["eventSource"].endswith(".amazonaws.com")
        assert len(record["eventTime"]) == 20 and record["eventTime"].endswith("Z")
        assert record.get("errorCode") != ""
    sources = Counter(r["eventSource"] for r in records)
    assert {"ec2.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com"} <= set(sources)
    assert "iam.amazonaws.com" in sources
    names = Counter(r["eventName"] for r in records)
    for name in ("DescribeInstances", "GetObject", "AssumeRole", "StopInstances", "RunInstances"):
        assert names[name] > 0, name
    assert names["RunInstances"] < 0.1 * len(records)
    assert any("userName" in r["userIdentity"] for r in records)
    assert any(r["userIdentity"]["type"] == "AssumedRole" for r in records)


def test_launch_scenarios(rich: Rows) -> None:
    launches = [(line, r) for line, obj in rich for r in records_of(obj) if is_launch(r)]
    failed = [
        (line, obj, r)
        for line, obj in rich
        for r in records_of(obj)
        if r["eventName"] == "RunInstances" and "errorCode" in r
    ]
    assert all(AWS_LAUNCH in line.rules for line, _ in launches)
    # Launch-template launches name the image only in the response.
    template = [r for _, r in launches if "launchTemplate" in r["requestParameters"]]
    assert template and all(
        not image_ids(r, "requestParameters") and image_ids(r, "responseElements") for r in template
    )
    # Dry runs and denied calls: an errorCode, no responseElements, never labelled alone.
    codes = Counter(r["errorCode"] for _, _, r in failed)
    assert codes["Client.DryRunOperation"] > 5 and codes["Client.UnauthorizedOperation"] > 5
    for line, obj, r in failed:
        assert r["responseElements"] is None and r["errorMessage"]
        if "Records" not in obj:
            assert line.rules == ()
    assert any("Records" in obj and not line.rules for line, obj, _ in failed)
    # Launches inside Records documents label the whole line.
    assert any("Records" in obj and line.rules for line, obj in rich)


def test_atomic_test_4_community_ami_then_stop(rich: Rows) -> None:
    records = [(line, r) for line, obj in rich for r in records_of(obj)]
    stopped = {
        r["requestParameters"]["instancesSet"]["items"][0]["instanceId"]: line
        for line, r in records
        if r["eventName"] == "StopInstances"
    }
    found = 0
    for line, r in records:
        if not is_launch(r) or r["awsRegion"] != "us-east-1":
            continue
        (instance,) = [i["instanceId"] for i in r["responseElements"]["instancesSet"]["items"]][:1]
        if instance in stopped and r["userIdentity"]["type"] == "IAMUser":
            found += 1
            assert AWS_LAUNCH in line.rules
            assert image_ids(r, "requestParameters")
    assert found > 20


# ---------------------------------------------------------------------------------------------
# Writer and CLI
# ---------------------------------------------------------------------------------------------


def test_write_corpus_cloudtrail_gzip(tmp_path: Path) -> None:
    info = write_corpus(
        tmp_path / "ct.json.gz",
        1500,
        seed=3,
        malicious_rate=0.02,
        compression="gzip",
        labels_path=tmp_path / "ct.labels.jsonl",
        source="cloudtrail",
    )
    assert info.source == "cloudtrail" and info.events == 1500
    want = list(generate(1500, source="cloudtrail", seed=3, malicious_rate=0.02))
    assert gzip.decompress(info.path.read_bytes()) == b"".join(x.data + b"\n" for x in want)
    labels = [json.loads(x) for x in (tmp_path / "ct.labels.jsonl").read_text().splitlines()]
    assert labels == [
        {"line": i, "rules": list(x.rules)} for i, x in enumerate(want, start=1) if x.rules
    ]


def test_cli_cloudtrail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ct.json.gz"
    code = main(
        ["corpus", "generate", "--out", str(out), "--source", "cloudtrail", "-n", "300",
         "--compression", "gzip", "--labels", str(tmp_path / "ct.l")]
    )  # fmt: skip
    assert code == 0 and out.exists() and (tmp_path / "ct.l").exists()
    assert "300 cloudtrail events" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The committed CloudTrail sample
# ---------------------------------------------------------------------------------------------


def read_sample() -> tuple[list[bytes], dict[int, tuple[str, ...]]]:
    lines = gzip.decompress(CT_SAMPLE.read_bytes()).split(b"\n")
    assert lines[-1] == b""
    labels = {}
    for text in CT_LABELS.read_text(encoding="utf-8").splitlines():
        entry = json.loads(text)
        labels[entry["line"]] = tuple(entry["rules"])
    return lines[:-1], labels


def test_committed_cloudtrail_sample_matches_labels() -> None:
    lines, labels = read_sample()
    assert len(lines) == 2000
    assert CT_SAMPLE.stat().st_size < 1_000_000
    objs = [json.loads(line) for line in lines]
    for i, obj in enumerate(objs, start=1):
        assert expected_rules(obj) == labels.get(i, ())
    assert 4 <= len(labels) <= 20
    assert any("Records" in objs[i - 1] for i in labels)  # a Records line with a launch
    assert any("Records" not in objs[i - 1] for i in labels)
    # Atomic test 4: a us-east-1 launch whose instance is stopped later.
    records = [r for obj in objs for r in records_of(obj)]
    stopped = {
        r["requestParameters"]["instancesSet"]["items"][0]["instanceId"]
        for r in records
        if r["eventName"] == "StopInstances"
    }
    assert any(
        is_launch(r)
        and r["awsRegion"] == "us-east-1"
        and r["responseElements"]["instancesSet"]["items"][0]["instanceId"] in stopped
        for r in records
    )


def test_engine_raises_exactly_the_cloudtrail_sample_labels(tmp_path: Path) -> None:
    _, labels = read_sample()
    result = scan(ScanOptions((CT_SAMPLE,), out=tmp_path))
    assert not result.failed
    got = {(r["line_number"], r["rule_name"]) for r in result.alerts.iter_rows(named=True)}
    assert got == {(line, rule) for line, rules in labels.items() for rule in rules}
