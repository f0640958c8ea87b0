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


def write_quarantine(path: Path, archive: str, bad_lines: Iterable[BadLine]) -> Path:
    """Write bad lines as JSON Lines: archive, line number, byte offset, reason, raw text.

    `raw` is the line decoded as UTF-8 with invalid bytes replaced; `raw_base64` keeps the
    exact bytes, so nothing is lost.
    """

    def write(fh: BinaryIO) -> None:
        for bad in bad_lines:
            record = {
                "archive": archive,
                "line_number": bad.line_number,
                "byte_offset": bad.byte_offset,
                "reason": bad.reason,
                "raw": bad.raw.decode("utf-8", errors="replace"),
                "raw_base64": base64.b64encode(bad.raw).decode("ascii"),
            }
            fh.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")

    return write_atomic(path, write)


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write a JSON document (manifest) atomically, pretty-printed."""
    text = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"

    def write(fh: BinaryIO) -> None:
        fh.write(text.encode("utf-8"))

    return write_atomic(path, write)
