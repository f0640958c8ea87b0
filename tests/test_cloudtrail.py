"""CloudTrail end to end: both delivery shapes, what the alert says, approved-image allow-list."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from retrohunt.scan import ScanOptions, scan


def launch(image: str, region: str, user: str, **extra: object) -> dict[str, object]:
    return {
        "eventVersion": "1.08",
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": region,
        "userIdentity": {"type": "IAMUser", "arn": user, "accountId": "111122223333"},
        "requestParameters": {"instancesSet": {"items": [{"imageId": image, "minCount": 1}]}},
        "recipientAccountId": "111122223333",
        **extra,
    }


RECORDS = [
    launch("ami-0community0000001", "us-east-1", "arn:aws:iam::111122223333:user/alice"),
    {"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": "x"},
    launch("ami-0golden000000001", "eu-west-1", "arn:aws:iam::111122223333:role/ci"),
]


def test_records_document_gives_one_alert_per_launch(tmp_path: Path) -> None:
    archive = tmp_path / "111122223333_CloudTrail_us-east-1_20240501T1000Z.json.gz"
    archive.write_bytes(gzip.compress(json.dumps({"Records": RECORDS}).encode()))
    result = scan(ScanOptions((archive,), out=tmp_path / "out"))
    alerts = result.alerts.sort("record_index")
    assert alerts["rule_name"].to_list() == ["AWSInstanceLaunch", "AWSInstanceLaunch"]
    assert alerts["record_index"].to_list() == [0, 2]
    assert alerts["line_number"].to_list() == [1, 1]
    assert alerts["image"].to_list() == ["ami-0community0000001", "ami-0golden000000001"]
    assert alerts["user"][0] == "arn:aws:iam::111122223333:user/alice"
    assert alerts["cloud_region"].to_list() == ["us-east-1", "eu-west-1"]
    assert alerts["cloud_account"][0] == "111122223333"
    assert alerts["source"].to_list() == ["cloudtrail", "cloudtrail"]
    assert alerts["event_time"][0].isoformat() == "2024-05-01T10:00:00+00:00"
    assert alerts["alert_id"].n_unique() == 2
    assert result.archives[0].events == 1 and result.archives[0].unrecognised == 0


def test_ndjson_records_and_records_document_agree(tmp_path: Path) -> None:
    ndjson = tmp_path / "records.jsonl"
    ndjson.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    result = scan(ScanOptions((ndjson,), out=tmp_path / "out"))
    assert sorted(result.alerts["line_number"]) == [1, 3]
    assert result.alerts["record_index"].null_count() == 2


def test_approved_image_is_suppressed_not_lost(tmp_path: Path) -> None:
    archive = tmp_path / "ct.json"
    archive.write_text(json.dumps({"Records": RECORDS}), encoding="utf-8")
    allow = tmp_path / "approved.yml"
    allow.write_text(
        "entries:\n  - reason: golden image\n    rules: [AWSInstanceLaunch]\n"
        "    images: [ami-0golden*]\n",
        encoding="utf-8",
    )
    result = scan(ScanOptions((archive,), out=tmp_path / "out", allowlists=(allow,)))
    assert result.alerts["image"].to_list() == ["ami-0community0000001"]
    (archive_result,) = result.archives
    assert archive_result.suppressed["image"].to_list() == ["ami-0golden000000001"]
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["totals"]["suppressed_by_rule"]["AWSInstanceLaunch"] == 1
