"""Streams of labelled lines per source (Falcon, Sysmon, CloudTrail or all interleaved, and
unlabelled Windows event-log JSON) and the writer that compresses one to disk with its labels
sidecar."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import BinaryIO, Literal, cast

import zstandard

from retrohunt.corpus.base import LabelledLine, Line
from retrohunt.corpus.cloudtrail import CloudTrailGenerator
from retrohunt.corpus.falcon import FalconGenerator
from retrohunt.corpus.sysmon import SysmonGenerator
from retrohunt.corpus.winevt import WinEvtGenerator

CorpusSource = Literal["falcon", "sysmon", "cloudtrail", "mixed", "winevt"]
CORPUS_SOURCES: tuple[CorpusSource, ...] = ("falcon", "sysmon", "cloudtrail", "mixed", "winevt")
LABELLED_SOURCES: tuple[CorpusSource, ...] = ("falcon", "sysmon", "cloudtrail", "mixed")
"""The sources whose lines carry labels (winevt's carry none: no oracle for SigmaHQ rules)."""
Compression = Literal["zstd", "gzip", "none"]
MIXED_CLOUDTRAIL_SHARE = 0.1  # of mixed lines; Falcon and Sysmon share the rest equally
MIXED_FALCON_SHARE = MIXED_CLOUDTRAIL_SHARE + (1 - MIXED_CLOUDTRAIL_SHARE) / 2


@dataclass(frozen=True, slots=True)
class CorpusInfo:
    """What write_corpus wrote: counts, sizes and the sha256 of the file on disk."""

    path: Path
    events: int
    malicious: int
    bytes_decompressed: int
    sha256: str
    bytes_compressed: int
    by_rule: tuple[tuple[str, int], ...]
    labels_path: Path | None
    source: CorpusSource = "falcon"


def stream(
    n_events: int, *, source: CorpusSource = "falcon", seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[Line]:
    """n_events (text, labels) pairs of one source; "mixed" interleaves a Falcon, a Sysmon and
    a CloudTrail stream line by line (about 45%, 45% and 10%), each with the same malicious
    rate. A CloudTrail line may be a {"Records": [...]} document of many records. "winevt"
    lines (Windows event-log JSON) carry no labels."""
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if source == "falcon":
        return FalconGenerator(seed, malicious_rate).lines(n_events)
    if source == "sysmon":
        return SysmonGenerator(seed, malicious_rate).lines(n_events)
    if source == "cloudtrail":
        return CloudTrailGenerator(seed, malicious_rate).lines(n_events)
    if source == "mixed":
        return _mixed(n_events, seed, malicious_rate)
    if source == "winevt":
        return WinEvtGenerator(seed, malicious_rate).lines(n_events)
    raise ValueError(f"unknown corpus source {source!r}; expected one of {CORPUS_SOURCES}")


def _mixed(n_events: int, seed: int, malicious_rate: float) -> Iterator[Line]:
    falcon = FalconGenerator(seed, malicious_rate).lines(n_events)
    sysmon = SysmonGenerator(seed, malicious_rate).lines(n_events)
    cloudtrail = CloudTrailGenerator(seed, malicious_rate).lines(n_events)
    choose = Random(f"mixed/{seed}").random
    for _ in range(n_events):
        u = choose()
        if u < MIXED_CLOUDTRAIL_SHARE:
            yield next(cloudtrail)
        else:
            yield next(falcon) if u < MIXED_FALCON_SHARE else next(sysmon)


def generate(
    n_events: int, *, source: CorpusSource = "falcon", seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[LabelledLine]:
    """Yields n_events labelled lines of `source`; the same arguments give the same bytes."""
    for text, rules in stream(n_events, source=source, seed=seed, malicious_rate=malicious_rate):
        yield LabelledLine(text.encode(), rules)


def generate_falcon(
    n_events: int, *, seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[LabelledLine]:
    """Yields n_events labelled Falcon FDR lines; the same arguments give the same bytes."""
    return generate(n_events, source="falcon", seed=seed, malicious_rate=malicious_rate)


def generate_sysmon(
    n_events: int, *, seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[LabelledLine]:
    """Yields n_events labelled flat-JSON Sysmon lines (Windows and Linux)."""
    return generate(n_events, source="sysmon", seed=seed, malicious_rate=malicious_rate)


def generate_cloudtrail(
    n_events: int, *, seed: int = 0, malicious_rate: float = 0.001
) -> Iterator[LabelledLine]:
    """Yields n_events labelled CloudTrail lines: single records, now and then a
    {"Records": [...]} document of 2-50 records."""
    return generate(n_events, source="cloudtrail", seed=seed, malicious_rate=malicious_rate)


def generate_winevt(
    n_events: int, *, seed: int = 0, malicious_rate: float = 0.0005
) -> Iterator[LabelledLine]:
    """Yields n_events Windows event-log JSON lines (`evtx_dump` shape, one host in twenty
    python-evtx + xmltodict), none labelled: no oracle says which third-party rules fire."""
    return generate(n_events, source="winevt", seed=seed, malicious_rate=malicious_rate)


class _HashingWriter:
    """A binary sink that hashes and counts everything written through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


_BATCH_LINES = 2048


def write_corpus(
    path: Path,
    n_events: int,
    *,
    seed: int = 0,
    malicious_rate: float = 0.001,
    compression: Compression = "zstd",
    labels_path: Path | None = None,
    frame_lines: int | None = None,
    source: CorpusSource = "falcon",
) -> CorpusInfo:
    """Streams a labelled corpus of `source` to path (and its labels as JSON Lines to
    labels_path: one `{"line": n, "rules": [...]}` per line that raises alerts; for "winevt",
    whose lines carry no labels, an empty file).

    frame_lines, with zstd, starts a new zstd frame every that many lines.
    """
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if frame_lines is not None and frame_lines <= 0:
        raise ValueError(f"frame_lines must be > 0, got {frame_lines}")
    if compression not in ("zstd", "gzip", "none"):
        raise ValueError(f"unknown compression {compression!r}")
    it = stream(n_events, source=source, seed=seed, malicious_rate=malicious_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    if labels_path is not None:
        labels_path.parent.mkdir(parents=True, exist_ok=True)
    by_rule: dict[str, int] = {}
    malicious = 0
    decompressed = 0
    line_no = 0
    with ExitStack() as stack:
        sink = _HashingWriter(stack.enter_context(path.open("wb")))
        labels_fh = None
        if labels_path is not None:
            labels_fh = stack.enter_context(labels_path.open("w", encoding="utf-8", newline="\n"))
        zwriter = None
        write: Callable[[bytes], int]
        if compression == "zstd":
            cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
            zwriter = stack.enter_context(cctx.stream_writer(cast(BinaryIO, sink), closefd=False))
            write = zwriter.write
        elif compression == "gzip":
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6)
            write = stack.enter_context(gz).write
        else:
            write = sink.write
        step = _BATCH_LINES if frame_lines is None else min(_BATCH_LINES, frame_lines)
        batch: list[str] = []
        while line_no < n_events:
            if zwriter is not None and frame_lines and line_no and line_no % frame_lines == 0:
                zwriter.flush(zstandard.FLUSH_FRAME)
            take = min(step, n_events - line_no)
            if frame_lines is not None:
                take = min(take, frame_lines - line_no % frame_lines)
            batch.clear()
            for _ in range(take):
                text, rules = next(it)
                line_no += 1
                batch.append(text)
                if rules:
                    malicious += 1
                    for rule in rules:
                        by_rule[rule] = by_rule.get(rule, 0) + 1
                    if labels_fh is not None:
                        labels_fh.write(json.dumps({"line": line_no, "rules": list(rules)}) + "\n")
            batch.append("")
            data = "\n".join(batch).encode()
            decompressed += len(data)
            write(data)
    return CorpusInfo(
        path=path,
        events=n_events,
        malicious=malicious,
        bytes_decompressed=decompressed,
        sha256=sink.hash.hexdigest(),
        bytes_compressed=sink.size,
        by_rule=tuple(sorted(by_rule.items())),
        labels_path=labels_path,
        source=source,
    )
