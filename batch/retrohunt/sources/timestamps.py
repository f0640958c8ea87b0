"""Event times as Polars expressions: epoch s / ms / µs, FILETIME, and ISO-8601 text, to UTC."""

from __future__ import annotations

import polars as pl

UTC_MICROS = pl.Datetime("us", "UTC")

# Epoch-number magnitudes that tell the units apart (any date between 1973 and 5138).
_MS_ABOVE = 1e11
_US_ABOVE = 1e14
_FILETIME_ABOVE = 1e16
_FILETIME_EPOCH_OFFSET_S = 11_644_473_600  # 1601-01-01 → 1970-01-01

_ISO_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
)


def parse_event_time(text: pl.Expr) -> pl.Expr:
    """Read a timestamp written as text or number into Datetime(µs, UTC); null if unreadable.

    Numbers are epoch seconds (10 digits, decimals allowed), milliseconds (13), microseconds
    (16) or Windows FILETIME (18, 100 ns since 1601); text is ISO-8601 UTC ("…Z" or no zone).
    """
    number = text.cast(pl.Float64, strict=False)
    micros = (
        pl.when(number >= _FILETIME_ABOVE)
        .then(number / 10 - _FILETIME_EPOCH_OFFSET_S * 1e6)
        .when(number >= _US_ABOVE)
        .then(number)
        .when(number >= _MS_ABOVE)
        .then(number * 1e3)
        .otherwise(number * 1e6)
    )
    as_number = micros.round(0).cast(pl.Int64, strict=False).cast(UTC_MICROS)
    as_text = [
        text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
        for fmt in _ISO_FORMATS
    ]
    return pl.coalesce(as_number, *as_text)
