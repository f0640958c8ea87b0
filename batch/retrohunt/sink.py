"""Write alert Parquet files, quarantine files and JSON atomically (temp file, then rename)."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from retrohunt.errors import OutputError
from retrohunt.parse import BadLine


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write `path` through `write(file)` so readers see the old file or the whole new one.

    Raises:
        OutputError: the folder cannot be created or the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_alerts(path: Path, alerts: pl.DataFrame) -> Path:
    """Write an alert frame as one Parquet file (zstd-compressed, statistics on)."""
    return write_atomic(path, lambda fh: alerts.write_parquet(fh, compression="zstd"))


class QuarantineWriter:
    """Appends bad lines as JSON Lines while an archive is read, so memory does not grow with
    the number of bad lines; the file appears (atomically renamed) only if there was one.

    Each record: archive, line number, byte offset, reason, `raw` (the line as UTF-8 with
    invalid bytes replaced) and `raw_base64` (the exact bytes), so nothing is lost.
    """

    def __init__(self, path: Path, archive: str) -> None:
        self.path = path
        self.archive = archive
        self._file: BinaryIO | None = None
        self._tmp: Path | None = None

    def add(self, bad_lines: Iterable[BadLine]) -> None:
        """Append bad lines (opens the temporary file on the first one)."""
        for bad in bad_lines:
            if self._file is None:
                self._open()
            assert self._file is not None
            record = {
                "archive": self.archive,
                "line_number": bad.line_number,
                "byte_offset": bad.byte_offset,
                "reason": bad.reason,
                "raw": bad.raw.decode("utf-8", errors="replace"),
                "raw_base64": base64.b64encode(bad.raw).decode("ascii"),
            }
            try:
                self._file.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot write: {exc.strerror or exc}") from exc

    def close(self, rename_to: str | None = None) -> Path | None:
        """Finish: return the quarantine file's path, or None when there was no bad line.

        `rename_to` replaces the file's stem (e.g. to add the archive digest, known only now).
        """
        if self._file is None or self._tmp is None:
            return None
        target = (
            self.path if rename_to is None else self.path.with_name(f"{rename_to}.quarantine.jsonl")
        )
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._tmp.replace(target)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from exc
        finally:
            self._file = None
        return target

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as exc:
            raise OutputError(f"{self.path.parent}: cannot write: {exc.strerror or exc}") from exc
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")


def write_ndjson(path: Path, frame: pl.DataFrame) -> Path:
    """Write a frame as JSON Lines (e.g. suppressed alerts), atomically."""
    return write_atomic(path, lambda fh: frame.write_ndjson(fh))


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write a JSON document (manifest) atomically, pretty-printed."""
    text = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"

    def write(fh: BinaryIO) -> None:
        fh.write(text.encode("utf-8"))

    return write_atomic(path, write)
