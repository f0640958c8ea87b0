"""The run manifest: inputs, rule-set digest, counts and timings, as a JSON-ready dict."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from retrohunt.compiler.plan import Plan
from retrohunt.evaluate import Evaluation

if TYPE_CHECKING:
    from retrohunt.scan import ArchiveResult


def retrohunt_version() -> str:
    """The installed retrohunt version ("unknown" when run from a bare source tree)."""
    try:
        return version("retrohunt")
    except PackageNotFoundError:
        return "unknown"


def build_manifest(
    plan: Plan,
    results: list[ArchiveResult],
    seconds: float,
    evaluation: Evaluation | None = None,
    engine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Describe a scan: what was read, with which rules, what came out, how long it took;
    `engine` adds the prefilter's and the process join's part."""
    by_rule: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    for result in results:
        by_rule.update(result.alerts_by_rule())
        suppressed.update(result.suppressed_by_rule())
    total_bytes = sum(r.decompressed_bytes for r in results)
    lines = sum(r.lines for r in results)
    candidates = sum(r.candidate_lines for r in results)
    return {
        "retrohunt_version": retrohunt_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rule_set_digest": plan.digest,
        "rules": [
            {"rule_id": r.rule_id, "name": r.name, "level": r.level, "path": str(r.path)}
            for r in plan.rules
        ],
        "refused_rules": [
            {
                "path": str(r.path),
                "rule": r.rule,
                "construct": r.construct,
                "message": r.message,
            }
            for r in plan.refused
        ],
        "inputs": [_archive_entry(r) for r in results],
        "totals": {
            "archives": len(results),
            "failed": sum(1 for r in results if r.error),
            "lines": lines,
            "candidate_lines": candidates,
            "prefilter_pass_rate": round(candidates / lines, 6) if lines else None,
            "events": sum(r.events for r in results),
            "unrecognised_events": sum(r.unrecognised for r in results),
            "bad_lines": sum(r.bad_lines for r in results),
            "invalid_utf8_lines": sum(r.invalid_utf8 for r in results),
            "decompressed_bytes": total_bytes,
            "alerts": sum(by_rule.values()),
            "alerts_by_rule": {r.name: by_rule.get(r.name, 0) for r in plan.rules},
            "suppressed": sum(suppressed.values()),
            "suppressed_by_rule": {r.name: suppressed.get(r.name, 0) for r in plan.rules},
        },
        **(engine or {}),
        "evaluation": evaluation.as_dict() if evaluation else None,
        "seconds": round(seconds, 3),
        "mb_per_second": round(total_bytes / 1e6 / seconds, 1) if seconds > 0 else None,
    }


def _archive_entry(result: ArchiveResult) -> dict[str, Any]:
    return {
        "archive": str(result.path),
        "status": "failed" if result.error else "ok",
        "error": result.error,
        "sha256": result.sha256,
        "compression": result.compression,
        "size": result.size,
        "decompressed_bytes": result.decompressed_bytes,
        "lines": result.lines,
        "candidate_lines": result.candidate_lines,
        "prefilter_pass_rate": round(result.pass_rate, 6) if result.pass_rate is not None else None,
        "events": result.events,
        "unrecognised_events": result.unrecognised,
        "bad_lines": result.bad_lines,
        "invalid_utf8_lines": result.invalid_utf8,
        "alerts": result.alerts.height,
        "alerts_by_rule": result.alerts_by_rule(),
        "suppressed": result.suppressed.height,
        "suppressed_by_rule": result.suppressed_by_rule(),
        "alerts_file": str(result.alerts_path) if result.alerts_path else None,
        "suppressed_file": str(result.suppressed_path) if result.suppressed_path else None,
        "quarantine_file": str(result.quarantine_path) if result.quarantine_path else None,
        "seconds": round(result.seconds, 3),
    }
