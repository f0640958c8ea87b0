"""Where archives live: local paths or fsspec URLs — open one, list a tree of them.

A location is a `Path` (local, read with nothing but the standard library) or a string
URL such as `file:///data/falcon` or `s3://bucket/falcon`, read through fsspec (which must
then be installed with the scheme's own package, e.g. s3fs for `s3://`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import Any, BinaryIO, cast

from retrohunt.errors import ArchiveNotFound, InputError

Location = Path | str
"""A local path, or an fsspec URL (a string with `://`)."""

ARCHIVE_SUFFIXES = (".zst", ".zstd", ".gz", ".jsonl", ".ndjson", ".json", ".log")
"""File names a hunt picks up without --glob (the content still decides the format)."""

_DATE_IN_PATH = re.compile(
    r"(?<![0-9])(20[0-9]{2})(?:[-_/]?)(0[1-9]|1[0-2])(?:[-_/]?)(0[1-9]|[12][0-9]|3[01])(?![0-9])"
)


def is_url(location: Location) -> bool:
    """True for an fsspec URL, False for a local path."""
    return isinstance(location, str) and "://" in location


def as_location(text: str) -> Location:
    """A command-line argument as a location: URLs stay strings, the rest become paths."""
    return text if "://" in text else Path(text)


def open_binary(location: Location) -> BinaryIO:
    """Open an archive for reading bytes.

    Raises:
        ArchiveNotFound: there is no such file.
        InputError: it exists but cannot be opened (or the URL's scheme is not installed).
    """
    if not is_url(location):
        path = Path(location)
        if not path.exists():
            raise ArchiveNotFound(f"{path}: no such file")
        if not path.is_file():
            raise ArchiveNotFound(f"{path}: not a regular file")
        try:
            return path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    fs, path_in_fs = _filesystem(str(location))
    try:
        return cast(BinaryIO, fs.open(path_in_fs, "rb"))
    except FileNotFoundError as exc:
        raise ArchiveNotFound(f"{location}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{location}: cannot open: {exc}") from exc


def location_name(location: Location) -> str:
    """The file name of a location (its last path segment)."""
    return PurePosixPath(str(location)).name if is_url(location) else Path(location).name


def file_size(location: Location) -> int:
    """Size in bytes of the file at `location` (see `open_binary` for errors)."""
    if not is_url(location):
        return Path(location).stat().st_size
    fs, path_in_fs = _filesystem(str(location))
    try:
        return int(fs.size(path_in_fs))
    except FileNotFoundError as exc:
        raise ArchiveNotFound(f"{location}: no such file") from exc


@dataclass(frozen=True, slots=True)
class StoredArchive:
    """One archive found under a hunt's root, with what identifies it before it is read."""

    location: Location
    relative: str  # path below the root, with '/' separators: names outputs and the ledger
    size: int
    mtime: float  # seconds since the epoch (0.0 when the store does not say)
    date: dt.date  # from the path (…/2026-11-20/… or …/20261120…) else the mtime, in UTC

    @property
    def key(self) -> str:
        """The archive's name in the ledger: its location as given (path or URL)."""
        return str(self.location)


def find_archives(
    root: Location,
    pattern: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    exclude: Path | None = None,
) -> list[StoredArchive]:
    """Every archive under `root` (a directory or URL), sorted by relative path.

    Without `pattern`, files whose name ends in one of `ARCHIVE_SUFFIXES` are taken; with
    it, files whose path below the root matches the glob (`**` crosses folders). Hidden
    files and folders and anything under `exclude` (the hunt's own output) are skipped.
    `since` / `until` (inclusive) keep archives whose date is in range.

    Raises:
        ArchiveNotFound: the root does not exist or is not a folder.
    """
    entries = _list_url(str(root)) if is_url(root) else _list_local(Path(root), exclude)
    found = []
    for relative, location, size, mtime in entries:
        parts = PurePosixPath(relative).parts
        if any(part.startswith(".") for part in parts):
            continue
        if not _wanted(relative, pattern):
            continue
        date = archive_date(relative, mtime)
        if (since is not None and date < since) or (until is not None and date > until):
            continue
        found.append(StoredArchive(location, relative, size, mtime, date))
    return sorted(found, key=lambda a: a.relative)


def archive_date(relative: str, mtime: float) -> dt.date:
    """The day an archive holds: a date in its path (the last one), else its mtime's."""
    matches = list(_DATE_IN_PATH.finditer(relative))
    for match in reversed(matches):
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
    return dt.datetime.fromtimestamp(mtime, dt.UTC).date()


def _wanted(relative: str, pattern: str | None) -> bool:
    if pattern is None:
        return relative.lower().endswith(ARCHIVE_SUFFIXES)
    # fnmatch's '*' already crosses '/', so '**/' may also stand for no folder at all.
    return fnmatch.fnmatch(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:])
    )


def _list_local(root: Path, exclude: Path | None) -> Iterable[tuple[str, Location, int, float]]:
    if not root.exists():
        raise ArchiveNotFound(f"{root}: no such folder")
    if not root.is_dir():
        raise ArchiveNotFound(f"{root}: not a folder (hunt reads a tree of archives)")
    skip = os.path.realpath(exclude) if exclude is not None else None
    # os.walk (scandir) and os.path, not Path.rglob: a rerun over 10,000 archives that skips them
    # all is mostly this listing, and scandir's entries carry their type without a stat.
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and os.path.realpath(os.path.join(folder, name)) != skip  # noqa: PTH118
        ]
        prefix = os.path.relpath(folder, root)
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)  # noqa: PTH118
            try:
                stat = os.stat(path)  # noqa: PTH116
            except OSError:
                continue  # gone since it was listed, or a broken link
            if not S_ISREG(stat.st_mode):
                continue
            relative = name if prefix == "." else f"{prefix}/{name}".replace(os.sep, "/")
            yield relative, Path(path), stat.st_size, stat.st_mtime


def _list_url(root: str) -> Iterable[tuple[str, Location, int, float]]:
    fs, base = _filesystem(root)
    if not fs.isdir(base):
        raise ArchiveNotFound(f"{root}: no such folder")
    protocol = root.split("://", 1)[0]
    base = base.rstrip("/")
    for path, info in sorted(fs.find(base, detail=True).items()):
        if info.get("type") != "file":
            continue
        relative = path[len(base) :].lstrip("/")
        url = f"{protocol}://{path}" if not path.startswith(f"{protocol}://") else path
        yield relative, url, int(info.get("size") or 0), _mtime(info)


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime", info.get("LastModified", info.get("created", 0.0)))
    if isinstance(value, dt.datetime):
        return value.timestamp()
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs  # imported here: local paths never need it
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise InputError(f"{url}: reading URLs needs fsspec (pip install fsspec)") from exc
    try:
        fs, path = url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(f"{url}: cannot read this URL: {exc}") from exc
    return fs, str(path)
