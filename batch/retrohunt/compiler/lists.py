"""Plain pattern lists: text files of values (domains, process names …) that rules use.

Two ways in, both compiled like any rule:

- a rule stub names a list with Sigma's `expand` modifier and a placeholder,
  `QueryName|expand|endswith: '%mining_pools%'`, and the list is the file
  `lists/mining_pools.txt` in the rule folder (any `lists/` folder under it);
- `--patterns 'QueryName|endswith=pools.txt'` makes one rule of a list, with no YAML.

A list file has one value per line; blank lines and lines starting with `#` are skipped,
and the rest is a Sigma value (`*` and `?` are wildcards, `\\` escapes them). Hosts-file
blocklists (`0.0.0.0 pool.example.com`) give the name.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrohunt.errors import RulesNotFound

LISTS_DIR = "lists"
LIST_SUFFIX = ".txt"

# The category a list rule gets from its field, when --patterns does not name one.
FIELD_CATEGORIES: dict[str, str] = {
    "Image": "process_creation",
    "OriginalFileName": "process_creation",
    "CommandLine": "process_creation",
    "ParentImage": "process_creation",
    "ParentCommandLine": "process_creation",
    "User": "process_creation",
    "QueryName": "dns_query",
    "DestinationHostname": "network_connection",
    "DestinationIp": "network_connection",
    "DestinationPort": "network_connection",
    "SourceIp": "network_connection",
}

_SPEC = re.compile(
    r"^(?:(?P<category>[a-z_]+):)?(?P<field>[A-Za-z0-9_.]+)(?P<mods>(?:\|[a-z0-9]+)*)=(?P<file>.+)$"
)
_HOSTS_ADDRESSES = {"0.0.0.0", "127.0.0.1", "::", "::1"}
_NAMESPACE = uuid.UUID("8f4b1c1e-0e6f-4b7e-9a55-1204003c0de5")  # list rule ids


def read_value_list(path: Path) -> tuple[str, ...]:
    """The values of a list file, in order, without blanks, comments and duplicates.

    Raises:
        RulesNotFound: the file is missing, unreadable or not UTF-8.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise RulesNotFound(f"{path}: no such pattern list") from exc
    except UnicodeDecodeError as exc:
        raise RulesNotFound(f"{path}: pattern list is not UTF-8 text") from exc
    except OSError as exc:
        raise RulesNotFound(f"{path}: cannot read: {exc.strerror or exc}") from exc
    values = (_value(line) for line in text.splitlines())
    return tuple(dict.fromkeys(v for v in values if v))


def _value(line: str) -> str:
    line = line.strip()
    if line.startswith("#"):
        return ""
    address, _, name = line.partition(" ")
    if address in _HOSTS_ADDRESSES and name.strip():
        return name.split("#", 1)[0].strip()  # a hosts-file blocklist line
    return line


def find_value_lists(paths: Iterable[Path]) -> dict[str, Path]:
    """Lists that rule folders carry (`lists/NAME.txt` anywhere below them; for a rule
    file, in its folder's `lists/`), by placeholder name.

    Raises:
        RulesNotFound: two different files give the same name.
    """
    found: dict[str, Path] = {}
    for path in paths:
        folders = [path.parent / LISTS_DIR] if path.is_file() else []
        if path.is_dir():
            folders += [p for p in sorted(path.rglob(LISTS_DIR)) if p.is_dir()]
        for folder in folders:
            for file in sorted(folder.glob(f"*{LIST_SUFFIX}")):
                name = file.stem
                if name in found and found[name].resolve() != file.resolve():
                    raise RulesNotFound(
                        f"two pattern lists named '{name}': {found[name]} and {file}"
                    )
                found[name] = file
    return found


def lists_digest(lists: dict[str, Path]) -> bytes:
    """A digest of the lists' names and contents (part of the rule-set digest: a changed
    list is a changed rule set)."""
    digest = hashlib.sha256()
    for name in sorted(lists):
        digest.update(name.encode() + b"\0" + hashlib.sha256(lists[name].read_bytes()).digest())
    return digest.digest()


@dataclass(frozen=True, slots=True)
class PatternList:
    """One `--patterns [CATEGORY:]FIELD[|MODIFIER...]=FILE` argument."""

    field: str
    modifiers: tuple[str, ...]
    path: Path
    category: str

    @classmethod
    def parse(cls, spec: str) -> PatternList:
        """Read the argument.

        Raises:
            ValueError: it is not of that shape, or the field's category is unknown.
        """
        match = _SPEC.match(spec.strip())
        if match is None:
            raise ValueError(
                f"{spec!r}: expected [CATEGORY:]FIELD[|MODIFIER...]=FILE, "
                "e.g. 'QueryName|endswith=pools.txt'"
            )
        field = match["field"]
        category = match["category"] or FIELD_CATEGORIES.get(field)
        if category is None:
            known = ", ".join(sorted(FIELD_CATEGORIES))
            raise ValueError(
                f"{spec!r}: no default category for field {field}; prefix one, e.g. "
                f"'process_creation:{field}=FILE' (defaults exist for {known})"
            )
        modifiers = tuple(m for m in match["mods"].split("|") if m)
        return cls(field, modifiers, Path(match["file"]), category)

    def rule(self) -> dict[str, Any]:
        """The Sigma rule (as pySigma reads YAML) that matches the list's values."""
        values = read_value_list(self.path)
        key = "|".join((self.field, *self.modifiers))
        name = "PatternList" + "".join(
            part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", self.path.stem) if part
        )
        digest = hashlib.sha256("\0".join((self.category, key, *values)).encode())
        return {
            "title": f"{self.field} in pattern list {self.path.name}",
            "name": name,
            "id": str(uuid.uuid5(_NAMESPACE, digest.hexdigest())),
            "status": "experimental",
            "description": f"Generated from {self.path} ({len(values)} values) by --patterns.",
            "logsource": {"category": self.category},
            "detection": {"selection": {key: list(values)}, "condition": "selection"},
            "level": "medium",
        }


def parse_pattern_specs(specs: Sequence[str]) -> tuple[PatternList, ...]:
    """Every `--patterns` argument (see `PatternList.parse` for errors)."""
    return tuple(PatternList.parse(spec) for spec in specs)
