"""retrohunt: retro-hunt Sigma rules over compressed security telemetry archives.

The library API; the `retrohunt` command line is a thin layer over it.
"""

from retrohunt.alerts import ALERT_SCHEMA
from retrohunt.compiler import Plan, compile_rules
from retrohunt.errors import (
    ArchiveNotFound,
    CorruptArchive,
    InputError,
    InvalidRule,
    OutputError,
    PatternError,
    RetrohuntError,
    RuleError,
    RulesNotFound,
    UnsupportedFormat,
)
from retrohunt.lazy import scan_archive
from retrohunt.scan import ArchiveResult, Progress, ScanOptions, ScanResult, scan

__all__ = [
    "ALERT_SCHEMA",
    "ArchiveNotFound",
    "ArchiveResult",
    "CorruptArchive",
    "InputError",
    "InvalidRule",
    "OutputError",
    "PatternError",
    "Plan",
    "Progress",
    "RetrohuntError",
    "RuleError",
    "RulesNotFound",
    "ScanOptions",
    "ScanResult",
    "UnsupportedFormat",
    "compile_rules",
    "scan",
    "scan_archive",
]
