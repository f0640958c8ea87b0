"""Precision and recall against labels."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from retrohunt.errors import InputError
from retrohunt.evaluate import evaluate, load_labels


def test_scores_per_rule_and_total(tmp_path: Path) -> None:
    labels_path = tmp_path / "l.jsonl"
    labels_path.write_text(
        '{"line": 1, "rules": ["A"]}\n{"line": 2, "rules": ["A", "B"]}\n\n'
        '{"line": 5, "rules": ["B"]}\n',
        encoding="utf-8",
    )
    labels = load_labels(labels_path)
    got = pl.DataFrame({"line_number": [1, 2, 3, 5], "rule_name": ["A", "A", "A", "C"]})
    result = evaluate(got, labels, ["A", "B", "C", "D"], labels_path)
    scores = {s.rule: s for s in result.rules}
    assert (scores["A"].true_positives, scores["A"].false_positives) == (2, 1)
    assert scores["A"].precision == pytest.approx(2 / 3) and scores["A"].recall == 1.0
    assert scores["B"].false_negatives == 2 and scores["B"].precision is None
    assert scores["C"].precision == 0.0 and scores["C"].recall is None
    assert scores["D"].precision is None and scores["D"].recall is None
    assert (result.total.true_positives, result.total.false_positives) == (2, 2)
    assert result.total.false_negatives == 2
    assert (2, "B") in result.missed and (3, "A") in result.unexpected


@pytest.mark.parametrize("text", ['{"line": 1}\n', "not json\n", '{"line": "x", "rules": []}\n'])
def test_bad_labels_name_the_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text('{"line": 1, "rules": []}\n' + text, encoding="utf-8")
    with pytest.raises(InputError, match=f"{path}:2"):
        load_labels(path)
