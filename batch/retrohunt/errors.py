"""The exception hierarchy: every user-facing failure is a RetrohuntError that names where."""

from __future__ import annotations

from pathlib import Path


class RetrohuntError(Exception):
    """Root of every error retrohunt raises on purpose (bad rules, bad input, bad output)."""


class RuleError(RetrohuntError):
    """A rule file or rule set cannot be used."""


class RulesNotFound(RuleError):
    """A rules path does not exist, cannot be read, or holds no rule files."""


class InvalidRule(RuleError):
    """A rule does not parse, or uses a construct retrohunt does not support.

    Carries the rule file, the rule's name (or title) and the construct, so the one-line
    message points at what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        rule: str | None = None,
        construct: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.rule = rule
        self.construct = construct
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.rule:
            where.append(f"rule '{self.rule}'")
        if self.construct:
            where.append(f"construct '{self.construct}'")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class PatternError(RuleError):
    """Hyperscan refused a pattern; names the rule and the value."""


class UnknownSource(RetrohuntError, ValueError):
    """A source name (`source=` of the library's scan, explain, bench) that is neither a
    telemetry source nor "auto". The CLI checks `--source` itself (usage error, exit 2)."""


class InputError(RetrohuntError):
    """An input archive cannot be used."""


class ArchiveNotFound(InputError):
    """The archive path does not exist or is not a readable file."""


class UnsupportedFormat(InputError):
    """The file is not zstd, gzip or NDJSON text; says what was detected."""


class CorruptArchive(InputError):
    """The compressed stream is truncated or corrupt; says how far reading got.

    Everything before the damage has been handed out already, so alerts found there are kept.
    """

    def __init__(self, path: Path | str, reason: str, *, lines: int, offset: int) -> None:
        self.path = str(path)
        self.reason = reason
        self.lines = lines
        self.offset = offset
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.reason}; read {self.lines} lines "
            f"({self.offset} decompressed bytes) before the damage"
        )


class OutputError(RetrohuntError):
    """Alerts, quarantine or manifest could not be written."""
