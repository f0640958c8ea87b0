"""The hunt ledger (SQLite) and the output folder's lock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retrohunt.errors import OutputError
from retrohunt.ledger import DONE, SCANNED, ArchiveEntry, HuntLock, HuntLocked, Ledger


def _entry(location: str = "/data/a.jsonl.zst", **changes: object) -> ArchiveEntry:
    entry = ArchiveEntry(
        location=location,
        size=10,
        mtime=1.5,
        sha256="ab" * 32,
        archive_date=dt.date(2026, 11, 20),
        rules_digest="d1",
        status=SCANNED,
        counts={"events": 3},
        files=["alerts/x.parquet"],
        state="state/abc",
        run_id=1,
    )
    for name, value in changes.items():
        setattr(entry, name, value)
    return entry


def test_entries_round_trip_and_replace(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.save(_entry())
    ledger.save(_entry("/data/b.jsonl.zst", status=DONE, error="oops"))
    ledger.save(_entry(status=DONE, state=None))  # same location: replaced
    ledger.close()
    entries = Ledger(tmp_path / "ledger.sqlite").entries()
    assert set(entries) == {"/data/a.jsonl.zst", "/data/b.jsonl.zst"}
    assert entries["/data/a.jsonl.zst"] == _entry(status=DONE, state=None)
    assert entries["/data/b.jsonl.zst"].error == "oops"


def test_entry_finds_one_row(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.save(_entry())
    assert ledger.entry("/data/a.jsonl.zst") == _entry()
    assert ledger.entry("/data/other") is None


def test_standing_and_with_state(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.save(_entry("/data/b"))
    ledger.save(_entry("/data/a", status=DONE, state=None))
    standing = ledger.standing()
    assert standing["/data/b"].has_state and not standing["/data/a"].has_state
    assert standing["/data/a"].status == DONE and standing["/data/a"].rules_digest == "d1"
    assert standing["/data/b"].same_archive(10, 1.5)
    assert not standing["/data/b"].same_archive(11, 1.5)
    assert not standing["/data/b"].same_archive(10, 2.5)
    assert [e.location for e in ledger.with_state()] == ["/data/b"]


def test_runs_are_recorded(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    first, second = ledger.start_run("d1"), ledger.start_run("d1")
    assert second == first + 1
    ledger.finish_run(first, "done", {"alerts": 2})


def test_a_file_that_is_not_a_ledger_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(OutputError, match="not a usable hunt ledger"):
        Ledger(tmp_path / "ledger.sqlite")


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with (
        HuntLock(tmp_path),
        pytest.raises(HuntLocked, match=r"another hunt is running .*pid"),
        HuntLock(tmp_path),
    ):
        pass
    with HuntLock(tmp_path):  # released on exit
        pass
