"""Finding archives under a hunt's root: names, globs, dates, hidden files, URLs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retrohunt.errors import ArchiveNotFound
from retrohunt.store import (
    archive_date,
    as_location,
    file_size,
    find_archives,
    location_name,
    open_binary,
)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("falcon/2026-11-20/part-0.jsonl.zst", dt.date(2026, 11, 20)),
        ("falcon/2026/11/20/part-0.jsonl.zst", dt.date(2026, 11, 20)),
        ("falcon/data_20261120T0000.jsonl.gz", dt.date(2026, 11, 20)),
        ("y=2026/2026-11-19/2026-11-20.jsonl", dt.date(2026, 11, 20)),  # the last date wins
        ("falcon/2026-13-45/part.jsonl", dt.date(2001, 9, 9)),  # no valid date: the mtime
        ("falcon/part-12026111999.jsonl", dt.date(2001, 9, 9)),  # digits inside a number
    ],
)
def test_archive_date_comes_from_the_path_else_the_mtime(relative: str, expected: dt.date) -> None:
    assert archive_date(relative, 1_000_000_000.0) == expected


def _tree(root: Path) -> None:
    for relative in (
        "2026-11-20/a.jsonl.zst",
        "2026-11-20/b.json.gz",
        "2026-11-21/c.ndjson",
        "2026-11-22/nested/d.log",
        "2026-11-22/notes.txt",
        ".hidden/e.jsonl.zst",
        "2026-11-22/.f.jsonl.zst",
        "out/alerts/g.jsonl",
    ):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'{"a": 1}\n')


def test_find_archives_takes_archive_names_and_skips_hidden_and_output(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = find_archives(tmp_path, exclude=tmp_path / "out")
    assert [a.relative for a in found] == [
        "2026-11-20/a.jsonl.zst",
        "2026-11-20/b.json.gz",
        "2026-11-21/c.ndjson",
        "2026-11-22/nested/d.log",
    ]
    assert found[0].size == 9 and found[0].date == dt.date(2026, 11, 20)
    assert found[0].key == str(tmp_path / "2026-11-20/a.jsonl.zst")


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("**/*.gz", ["b.json.gz"]),
        ("*.gz", ["b.json.gz"]),  # '*' crosses folders, as in fnmatch
        ("2026-11-22/**", ["d.log", "notes.txt"]),
        ("**/c.ndjson", ["c.ndjson"]),
    ],
)
def test_a_glob_chooses_by_path_below_the_root(
    tmp_path: Path, pattern: str, names: list[str]
) -> None:
    _tree(tmp_path)
    found = find_archives(tmp_path, pattern, exclude=tmp_path / "out")
    assert [Path(a.relative).name for a in found] == names


def test_since_and_until_are_inclusive(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = find_archives(
        tmp_path, since=dt.date(2026, 11, 21), until=dt.date(2026, 11, 21), exclude=tmp_path / "out"
    )
    assert [a.relative for a in found] == ["2026-11-21/c.ndjson"]


def test_a_file_url_lists_and_opens_the_same_archives(tmp_path: Path) -> None:
    _tree(tmp_path)
    local = find_archives(tmp_path, exclude=tmp_path / "out")
    remote = [a for a in find_archives(tmp_path.as_uri()) if not a.relative.startswith("out/")]
    assert [a.relative for a in remote] == [a.relative for a in local]
    assert [a.size for a in remote] == [a.size for a in local]
    assert all(str(a.location).startswith("file://") for a in remote)
    with open_binary(remote[0].location) as fh:
        assert fh.read() == b'{"a": 1}\n'
    assert file_size(remote[0].location) == 9
    assert location_name(remote[0].location) == "a.jsonl.zst"
    assert abs(remote[0].mtime - (tmp_path / remote[0].relative).stat().st_mtime) < 1


def test_a_missing_root_or_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ArchiveNotFound, match="no such folder"):
        find_archives(tmp_path / "nowhere")
    with pytest.raises(ArchiveNotFound, match="no such folder"):
        find_archives((tmp_path / "nowhere").as_uri())
    (tmp_path / "file.jsonl").write_text("{}\n")
    with pytest.raises(ArchiveNotFound, match="not a folder"):
        find_archives(tmp_path / "file.jsonl")
    with pytest.raises(ArchiveNotFound, match="no such file"):
        open_binary((tmp_path / "gone.jsonl").as_uri())


def test_as_location_keeps_urls_and_makes_paths() -> None:
    assert as_location("s3://bucket/x") == "s3://bucket/x"
    assert as_location("data/x") == Path("data/x")
