"""Allow-lists: suppress known-good alerts after matching, counted and kept, never dropped.

An allow-list is a YAML file::

    entries:
      - reason: authorised mining hosts            # required: why this is allowed
        rules: [MinerProcessExecution]             # optional: rule names (default: every rule)
        hosts: [mining-01, MINING-02]              # optional: alert host, case-insensitive
        images: ['*/sanctioned/xmrig']             # optional: alert image, Sigma wildcards,
        users: ['svc-*']                           #   case-insensitive (also users, domains)
        domains: ['*.pool.example.com']
        cidrs: [10.20.0.0/16, 'fd00::/8']          # optional: alert remote_ip inside
        ports: [4444]                              # optional: alert remote_port

An entry suppresses an alert when every criterion it names holds (any value of a list). The
suppressed alerts are written next to the others (`*.suppressed.parquet`, with the entry's
reason) and counted per rule in the manifest, so nothing disappears silently.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from retrohunt.errors import RuleError
from retrohunt.match.predicates import cidr_contains

SUPPRESSED_BY = "suppressed_by"
_TEXT_KEYS = {"hosts": "host", "images": "image", "users": "user", "domains": "domain"}
_KNOWN_KEYS = {"reason", "rules", "cidrs", "ports", *_TEXT_KEYS}


class AllowListError(RuleError):
    """An allow-list file cannot be read or has an invalid entry (names file and entry)."""


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allow-list entry: a reason and the criteria an alert must all meet."""

    reason: str
    rules: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    source: str = ""  # "file:entry-number", for messages and the manifest

    def expr(self) -> pl.Expr:
        """True on the alert rows this entry suppresses."""
        tests: list[pl.Expr] = []
        if self.rules:
            tests.append(pl.col("rule_name").is_in(list(self.rules)))
        for key, column in _TEXT_KEYS.items():
            values: tuple[str, ...] = getattr(self, key)
            if values:
                regex = "|".join(_wildcard_regex(v) for v in values)
                tests.append(pl.col(column).str.contains(f"(?i)^(?:{regex})$").fill_null(False))
        if self.cidrs:
            tests.append(
                pl.any_horizontal(
                    [cidr_contains("remote_ip", c, derived=False) for c in self.cidrs]
                )
            )
        if self.ports:
            tests.append(pl.col("remote_port").is_in(list(self.ports)).fill_null(False))
        return pl.all_horizontal(tests) if tests else pl.lit(False)


@dataclass(frozen=True, slots=True)
class AllowList:
    """Allow-list entries from one or more files."""

    entries: tuple[AllowEntry, ...] = ()

    def apply(self, alerts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Split alerts into (kept, suppressed); suppressed rows gain `suppressed_by` (the
        first matching entry's reason)."""
        if not self.entries or alerts.height == 0:
            return alerts, alerts.clear().with_columns(
                pl.lit(None, dtype=pl.String).alias(SUPPRESSED_BY)
            )
        reason = pl.lit(None, dtype=pl.String)
        for entry in reversed(self.entries):  # the first matching entry wins
            reason = pl.when(entry.expr()).then(pl.lit(entry.reason)).otherwise(reason)
        marked = alerts.with_columns(reason.alias(SUPPRESSED_BY))
        kept = marked.filter(pl.col(SUPPRESSED_BY).is_null()).drop(SUPPRESSED_BY)
        return kept, marked.filter(pl.col(SUPPRESSED_BY).is_not_null())


def load_allowlists(paths: Sequence[Path]) -> AllowList:
    """Read allow-list files.

    Raises:
        AllowListError: a file is missing or unreadable, or an entry is invalid.
    """
    entries: list[AllowEntry] = []
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise AllowListError(f"{path}: cannot read allow-list: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise AllowListError(f"{path}: allow-list is not valid YAML: {exc}") from exc
        raw_entries = document.get("entries") if isinstance(document, dict) else None
        if raw_entries is None:
            raw_entries = []
        if not isinstance(raw_entries, list):
            raise AllowListError(f"{path}: 'entries' must be a list")
        for number, raw in enumerate(raw_entries, start=1):
            entries.append(_entry(raw, f"{path}:entry {number}"))
    return AllowList(tuple(entries))


def _entry(raw: Any, where: str) -> AllowEntry:
    if not isinstance(raw, dict):
        raise AllowListError(f"{where}: an entry must be a mapping")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise AllowListError(f"{where}: unknown keys {sorted(unknown)}")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise AllowListError(f"{where}: 'reason' is required (say why this is allowed)")
    values = {key: _strings(raw.get(key), where, key) for key in ("rules", *_TEXT_KEYS)}
    cidrs = _strings(raw.get("cidrs"), where, "cidrs")
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise AllowListError(f"{where}: invalid CIDR {cidr!r}") from exc
    ports = raw.get("ports") or []
    if not isinstance(ports, list) or not all(isinstance(p, int) for p in ports):
        raise AllowListError(f"{where}: 'ports' must be a list of integers")
    entry = AllowEntry(reason=reason, cidrs=cidrs, ports=tuple(ports), source=where, **values)
    if not (entry.hosts or entry.images or entry.users or entry.domains or cidrs or ports):
        # An entry with only `rules` would silence whole rules: disable the rule instead.
        raise AllowListError(
            f"{where}: name at least one of hosts, images, users, domains, cidrs or ports"
        )
    return entry


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AllowListError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _wildcard_regex(pattern: str) -> str:
    """A Sigma-style wildcard value as a regular expression: `*` any run, `?` one character;
    a backslash escapes `*`, `?` and itself, and is literal before anything else."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "".join(out)
