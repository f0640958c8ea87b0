"""A hunt's memory between runs: the SQLite ledger of archives and runs, and the output
folder's lock.

One row per archive (keyed by its location) says what it was hunted with (rule-set
digest), what identified it (size, mtime, content digest), how far it got and which result
files hold its alerts. Every step is one committed transaction, so a run killed at any
moment leaves a ledger the next run can finish from:

- `scanned`: read; what it gave waits in its state folder for the process join.
- `done` / `failed`: alerts written (`failed`: the archive broke off; alerts before the
  damage kept, the error recorded). `files` lists the result files; `writing` lists files a
  killed run may have left half-replaced, removed when the archive is written again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from retrohunt.errors import OutputError

LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "hunt.lock"

SCANNED, DONE, FAILED = "scanned", "done", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS archives (
    location TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT,
    archive_date TEXT NOT NULL,
    rules_digest TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('scanned', 'done', 'failed')),
    error TEXT,
    counts TEXT NOT NULL DEFAULT '{}',
    files TEXT NOT NULL DEFAULT '[]',
    writing TEXT NOT NULL DEFAULT '[]',
    state TEXT,
    run_id INTEGER NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    rules_digest TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    summary TEXT
);
"""


class HuntLocked(OutputError):
    """Another hunt is writing to the same output folder."""


@dataclass(slots=True)
class ArchiveEntry:
    """One archive's row in the ledger."""

    location: str
    size: int
    mtime: float
    sha256: str | None
    archive_date: dt.date
    rules_digest: str
    status: str
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # relative to the output folder
    writing: list[str] = field(default_factory=list)
    state: str | None = None  # state folder, relative to the output folder
    run_id: int = 0


@dataclass(frozen=True, slots=True)
class ArchiveStanding:
    """The part of an archive's row that decides whether it is hunted again."""

    size: int
    mtime: float
    status: str
    rules_digest: str
    has_state: bool

    def same_archive(self, size: int, mtime: float) -> bool:
        """True when size and mtime still match: the archive has not been replaced."""
        return self.size == size and abs(self.mtime - mtime) < 1e-6


class Ledger:
    """The SQLite ledger of one output folder (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"{path}: not a usable hunt ledger ({exc})") from exc
        except OSError as exc:
            raise OutputError(f"{path}: cannot open the ledger: {exc.strerror or exc}") from exc
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, rules_digest: str) -> int:
        """Record a run starting now; returns its id."""
        cursor = self._db.execute(
            "INSERT INTO runs (started, rules_digest, host, pid) VALUES (?, ?, ?, ?)",
            (_now(), rules_digest, socket.gethostname(), os.getpid()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        """Record how a run ended."""
        self._db.execute(
            "UPDATE runs SET finished = ?, status = ?, summary = ? WHERE run_id = ?",
            (_now(), status, json.dumps(summary), run_id),
        )

    # --- archives ---------------------------------------------------------------------------

    def entries(self) -> dict[str, ArchiveEntry]:
        """Every archive's row, by location."""
        rows = self._db.execute("SELECT * FROM archives").fetchall()
        return {row["location"]: _entry(row) for row in rows}

    def standing(self) -> dict[str, ArchiveStanding]:
        """What decides whether each archive is hunted again, by location (cheap: a rerun
        over many thousands of archives reads only this)."""
        rows = self._db.execute(
            "SELECT location, size, mtime, status, rules_digest, state IS NOT NULL FROM archives"
        ).fetchall()
        return {row[0]: ArchiveStanding(*row[1:]) for row in rows}

    def with_state(self) -> list[ArchiveEntry]:
        """Archives whose state folder is still kept, in location order."""
        rows = self._db.execute(
            "SELECT * FROM archives WHERE state IS NOT NULL ORDER BY location"
        ).fetchall()
        return [_entry(row) for row in rows]

    def entry(self, location: str) -> ArchiveEntry | None:
        """One archive's row (None when the ledger has never seen it)."""
        row = self._db.execute("SELECT * FROM archives WHERE location = ?", (location,)).fetchone()
        return _entry(row) if row is not None else None

    def save(self, entry: ArchiveEntry) -> None:
        """Insert or replace an archive's row (one transaction)."""
        self._db.execute(
            """INSERT OR REPLACE INTO archives (location, size, mtime, sha256, archive_date,
                rules_digest, status, error, counts, files, writing, state, run_id, updated)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                entry.location,
                entry.size,
                entry.mtime,
                entry.sha256,
                entry.archive_date.isoformat(),
                entry.rules_digest,
                entry.status,
                entry.error,
                json.dumps(entry.counts),
                json.dumps(entry.files),
                json.dumps(entry.writing),
                entry.state,
                entry.run_id,
                _now(),
            ),
        )


def _entry(row: sqlite3.Row) -> ArchiveEntry:
    return ArchiveEntry(
        location=row["location"],
        size=row["size"],
        mtime=row["mtime"],
        sha256=row["sha256"],
        archive_date=dt.date.fromisoformat(row["archive_date"]),
        rules_digest=row["rules_digest"],
        status=row["status"],
        error=row["error"],
        counts=json.loads(row["counts"]),
        files=json.loads(row["files"]),
        writing=json.loads(row["writing"]),
        state=row["state"],
        run_id=row["run_id"],
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class HuntLock:
    """An exclusive lock on an output folder for the life of a hunt.

    An OS file lock (flock): the kernel drops it when the process ends, however it ends
    (`kill -9` included), so a killed run never leaves a stale lock behind.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> HuntLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise HuntLocked(
                f"{self.path.parent}: another hunt is running on this output folder "
                f"({holder}); wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
