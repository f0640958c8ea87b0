"""The README cannot fall behind the CLI: every command has help and is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.cli import main
from retrohunt.cli.errors import EXIT_ALERTS, EXIT_INPUT, EXIT_OUTPUT, EXIT_RULES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    ["scan"],
    ["hunt"],
    ["alerts"],
    ["bench"],
    ["rules", "list"],
    ["rules", "explain"],
    ["rules", "check"],
    ["rules", "export"],
    ["corpus", "generate"],
    ["sources"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    assert len(capsys.readouterr().out) > 200
    assert f"retrohunt {' '.join(command)}" in README


def test_readme_documents_every_alert_column_and_exit_code() -> None:
    for column in ALERT_SCHEMA:
        assert f"| `{column}` |" in README, column
    for code in (EXIT_RULES, EXIT_INPUT, EXIT_OUTPUT, EXIT_ALERTS):
        assert f"| {code} |" in README


def test_readme_gives_the_two_fresh_machine_commands() -> None:
    assert "make demo" in README and "make test" in README
    assert (
        (Path(__file__).resolve().parents[1] / ".ci" / "run")
        .read_text()
        .strip()
        .endswith("make test")
    )
