"""Keep compiled plans on disk, keyed by the rule set's digest, so loading a large rule
repository a second time costs reading its files, not parsing them again.

Parsing a few thousand Sigma rules with pySigma takes seconds; a cached plan loads in
milliseconds. The key covers the plan digest (plan format, every rule file's bytes, the
value lists and pattern lists), where the rule files are (a plan names its files), the
versions of pySigma and Python, and retrohunt's own code (its version, and the bytes of its
modules, so an edited checkout never reads a plan an older compiler made); a changed rule
file gives a new key, and stale entries are never read, only left behind. Same folder and
same off switch as the Hyperscan database cache (`retrohunt.hyperscan_cache.cache_dir`).
An entry that cannot be read or written is skipped: the rules are compiled as if there were
no cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import pickle
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import BinaryIO

from retrohunt.compiler.plan import Plan
from retrohunt.errors import OutputError
from retrohunt.hyperscan_cache import cache_dir
from retrohunt.sink import write_atomic

_FORMAT = b"retrohunt-plan-cache-1"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


@functools.cache
def _code_digest() -> bytes:
    """A digest of retrohunt's modules (a few hundred KB: about a millisecond)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for module in sorted(package.rglob("*.py")):
        with contextlib.suppress(OSError):
            digest.update(module.read_bytes())
    return digest.digest()


def plan_key(digest: str, paths: Sequence[Path]) -> str:
    """The cache key of the plan compiled from these rule files (digest: `Plan.digest`)."""
    key = hashlib.sha256(_FORMAT)
    key.update(_code_digest())
    for part in (digest, _version("retrohunt"), _version("pysigma"), sys.version):
        key.update(part.encode() + b"\0")
    for path in paths:
        key.update(str(path.resolve()).encode() + b"\0")
    return key.hexdigest()


def _path(key: str) -> Path | None:
    folder = cache_dir()
    return folder / f"{key}.plan" if folder else None


def load_plan(key: str) -> Plan | None:
    """The cached plan for `key`, or None."""
    path = _path(key)
    if path is None:
        return None
    try:
        plan = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return plan if isinstance(plan, Plan) else None


def store_plan(key: str, plan: Plan) -> None:
    """Cache `plan` under `key` (silently not, when the cache cannot be written)."""
    path = _path(key)
    if path is None:
        return
    data = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)

    def write(out: BinaryIO) -> None:
        out.write(data)

    with contextlib.suppress(OutputError):
        write_atomic(path, write)
