"""What a change to a rule set does: alerts gained and lost (with example events) and the
change in throughput, from two `bench` reports on the same corpora."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrohunt.bench.measure import BenchReport

EXAMPLES = 10


@dataclass(slots=True)
class Comparison:
    """Rule set B against rule set A."""

    a: BenchReport
    b: BenchReport
    gained: list[dict[str, Any]]  # alerts B raises and A does not (first EXAMPLES)
    lost: list[dict[str, Any]]
    gained_count: int
    lost_count: int
    per_rule: list[dict[str, Any]]  # rule, hits in A, hits in B

    @property
    def speed_ratio(self) -> float | None:
        """B's throughput over A's (above 1: B is faster)."""
        a, b = self.a.retrohunt.mb_per_second, self.b.retrohunt.mb_per_second
        return b / a if a and b else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`bench --compare --json`)."""
        return {
            "a": {"rules_digest": self.a.rules_digest, "total": self.a.total.as_dict()},
            "b": {"rules_digest": self.b.rules_digest, "total": self.b.total.as_dict()},
            "gained": self.gained_count,
            "lost": self.lost_count,
            "gained_examples": self.gained,
            "lost_examples": self.lost,
            "per_rule": self.per_rule,
            "mb_per_second": [self.a.retrohunt.mb_per_second, self.b.retrohunt.mb_per_second],
            "speed_ratio": self.speed_ratio,
        }


def compare(a: BenchReport, b: BenchReport) -> Comparison:
    """Compare two reports of the same corpora (alerts keyed by archive, line and rule)."""
    gained = sorted(b.alert_keys - a.alert_keys)
    lost = sorted(a.alert_keys - b.alert_keys)
    hits_a = {r.name: r.hits for r in a.rules}
    hits_b = {r.name: r.hits for r in b.rules}
    per_rule = [
        {"rule": name, "a": hits_a.get(name), "b": hits_b.get(name)}
        for name in sorted(set(hits_a) | set(hits_b))
        if hits_a.get(name) != hits_b.get(name)
    ]
    return Comparison(
        a,
        b,
        [_example(key, b) for key in gained[:EXAMPLES]],
        [_example(key, a) for key in lost[:EXAMPLES]],
        len(gained),
        len(lost),
        per_rule,
    )


def _example(key: tuple[str, int, str], report: BenchReport) -> dict[str, Any]:
    row = dict(report.examples.get(key, {}))
    row.update({"archive": key[0], "line_number": key[1], "rule_name": key[2]})
    return row
