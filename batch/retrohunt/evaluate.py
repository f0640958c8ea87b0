"""Precision and recall of a scan's alerts against a labels file (line → expected rules)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from retrohunt.errors import InputError

AlertKey = tuple[int, str]  # (1-based line number, rule name)


@dataclass(frozen=True, slots=True)
class RuleScore:
    """Counts and ratios for one rule (ratios are None when undefined: nothing to divide)."""

    rule: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        raised = self.true_positives + self.false_positives
        return self.true_positives / raised if raised else None

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "rule": self.rule,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Per-rule scores and their total, with a few example misses for each kind."""

    labels: Path
    rules: tuple[RuleScore, ...]
    total: RuleScore
    missed: tuple[AlertKey, ...]  # false negatives (first few)
    unexpected: tuple[AlertKey, ...]  # false positives (first few)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "labels": str(self.labels),
            "total": self.total.as_dict(),
            "rules": [score.as_dict() for score in self.rules],
            "missed_examples": [list(k) for k in self.missed],
            "unexpected_examples": [list(k) for k in self.unexpected],
        }


def load_labels(path: Path) -> set[AlertKey]:
    """Read a labels file: JSON Lines of {"line": N, "rules": [names]}.

    Raises:
        InputError: the file is missing, unreadable or not in that form (names the line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read labels: {exc.strerror or exc}") from exc
    keys: set[AlertKey] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            line_number = int(entry["line"])
            keys |= {(line_number, str(rule)) for rule in entry["rules"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f'{path}:{number}: not a label (want {{"line": N, "rules": [...]}}): {exc}'
            ) from exc
    return keys


def evaluate(
    alerts: pl.DataFrame, labels: set[AlertKey], rule_names: Iterable[str], labels_path: Path
) -> Evaluation:
    """Compare alerts (line_number, rule_name) with the labelled expectations."""
    got = {
        (int(line), str(rule))
        for line, rule in zip(alerts["line_number"], alerts["rule_name"], strict=True)
    }
    names = sorted(set(rule_names) | {rule for _, rule in labels | got})
    scores = tuple(_score(name, got, labels) for name in names)
    total = RuleScore(
        "all rules",
        sum(s.true_positives for s in scores),
        sum(s.false_positives for s in scores),
        sum(s.false_negatives for s in scores),
    )
    return Evaluation(
        labels_path,
        scores,
        total,
        tuple(sorted(labels - got)[:20]),
        tuple(sorted(got - labels)[:20]),
    )


def _score(rule: str, got: set[AlertKey], labels: set[AlertKey]) -> RuleScore:
    mine = {k for k in got if k[1] == rule}
    expected = {k for k in labels if k[1] == rule}
    return RuleScore(rule, len(mine & expected), len(mine - expected), len(expected - mine))
