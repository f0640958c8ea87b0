"""The wheel carries the rule pack and the type marker; the console script is declared."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_rule_pack(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("retrohunt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    rules = sorted(p.relative_to(ROOT) for p in (ROOT / "rules").rglob("*.yml"))
    assert rules, "the repository has no rules"
    for rule in rules:
        assert f"retrohunt/{rule.as_posix()}" in names
    assert "retrohunt/py.typed" in names
    assert "retrohunt/cli/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "retrohunt = retrohunt.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()
