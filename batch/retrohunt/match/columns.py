"""Run the Hyperscan database over a frame's string columns: one buffer, one scan, no row loop."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from retrohunt.compiler.plan import PatternId
from retrohunt.hyperscan_db import SEGMENT_START, TAG_WIDTH, VALUE_END, CompiledPatterns

_OVERHEAD = 2 + TAG_WIDTH  # 0xFF before the value, 0xFE and the tag after it


def pattern_hits(frame: pl.DataFrame, compiled: CompiledPatterns) -> dict[PatternId, np.ndarray]:
    """Return, for every pattern that matched at least one row, a boolean mask over the rows.

    Null values never match (their empty segments are masked out). Columns that the frame
    lacks cannot match either and are not scanned.
    """
    n = frame.height
    fields = [f for f in compiled.field_tags if f in frame.columns]
    if n == 0 or not fields or compiled.database is None:
        return {}
    blocks: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    nulls: list[np.ndarray] = []
    base = 0
    for field in fields:
        block, seg_ends, is_null = _tagged_block(
            frame.get_column(field), compiled.field_tags[field]
        )
        blocks.append(block)
        ends.append(seg_ends + base)
        nulls.append(is_null)
        base += len(block)
    buffer = np.concatenate(blocks).tobytes()
    ids, match_ends = compiled.scan(buffer)
    if len(ids) == 0:
        return {}
    segment = np.searchsorted(np.concatenate(ends), match_ends)
    valid = ~np.concatenate(nulls)[segment]
    ids, rows = ids[valid], segment[valid] % n
    if len(ids) == 0:
        return {}
    order = np.argsort(ids, kind="stable")
    ids, rows = ids[order], rows[order]
    unique, starts = np.unique(ids, return_index=True)
    hits: dict[PatternId, np.ndarray] = {}
    for pid, lo, hi in zip(unique, starts, [*starts[1:], len(ids)], strict=True):
        mask = np.zeros(n, dtype=bool)
        mask[rows[lo:hi]] = True
        hits[int(pid)] = mask
    return hits


def _tagged_block(column: pl.Series, tag: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay out one column as segments `0xFF value 0xFE tag`; return bytes, segment ends, nulls."""
    array = column.cast(pl.String).to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = pc.cast(array, pa.large_string())
    is_null = array.is_null().to_numpy(zero_copy_only=False)
    _validity, offsets_buf, data_buf = array.buffers()
    n = len(array)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    )
    lengths = np.diff(offsets)
    seg_lengths = lengths + _OVERHEAD
    seg_ends = np.cumsum(seg_lengths)
    seg_starts = seg_ends - seg_lengths
    out = np.empty(int(seg_ends[-1]) if n else 0, dtype=np.uint8)
    out[seg_starts] = SEGMENT_START
    value_bytes = data[offsets[0] : offsets[-1]]
    if len(value_bytes):
        # Destination of every value byte: its source position shifted by its row's offset.
        shift = np.repeat(seg_starts + 1 - offsets[:-1], lengths)
        out[np.arange(offsets[0], offsets[-1]) + shift] = value_bytes
    tails = seg_starts + 1 + lengths
    out[tails] = VALUE_END
    for i, byte in enumerate(tag):
        out[tails + 1 + i] = byte
    return out, seg_ends, is_null
