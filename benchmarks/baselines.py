"""What a user would reach for instead of retrohunt, running the same three T1204.003 branches."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import polars as pl
import zstandard

from retrohunt import corpus
from retrohunt.corpus import MINER_CMDLINE_STRINGS, MINER_IMAGE_STRINGS, POOL_DOMAIN_STRINGS

# The seed branches' indicator lists, shared with the corpus generator (one definition).
MINER_IMAGES = list(MINER_IMAGE_STRINGS)
MINER_ARGS = list(MINER_CMDLINE_STRINGS)
POOL_PORTS = list(corpus.POOL_PORTS)
POOL_DOMAINS = list(POOL_DOMAIN_STRINGS)
PRIVATE_V4 = r"^(10\.|127\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.)"
PRIVATE_V6 = r"^(::1$|0:0:0:0:0:0:0:1$|f[cd]|fe[89ab])"
BROWSERS = r"(chrome|firefox|msedge|brave|opera|iexplore)\.exe$"


def floor_zstd(archive: Path) -> int:
    """`zstd -dc ARCHIVE > /dev/null`: the physical floor. Returns 0 (no alerts)."""
    subprocess.run(["zstd", "-dcq", str(archive), "-o", "/dev/null", "-f"], check=True)
    return 0


def _decompressed(archive: Path) -> bytes:
    with archive.open("rb") as fh:
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()


def polars_only(archive: Path) -> int:
    """Polars `read_ndjson` of everything, then the three branches as `str.contains`."""
    schema = {
        n: pl.String()
        for n in (
            "event_simpleName",
            "ImageFileName",
            "CommandLine",
            "RemoteAddressIP4",
            "RemoteAddressIP6",
            "RemotePort",
            "DomainName",
        )
    }
    frame = pl.read_ndjson(io.BytesIO(_decompressed(archive)), schema=schema)
    name = pl.col("event_simpleName")
    image = pl.col("ImageFileName").str.to_lowercase()
    cmd = pl.col("CommandLine").str.to_lowercase()
    ip = pl.coalesce("RemoteAddressIP4", "RemoteAddressIP6")
    process = name.is_in(["ProcessRollup2", "SyntheticProcessRollup2"]) & (
        image.str.contains_any(MINER_IMAGES) | cmd.str.contains_any(MINER_ARGS)
    )
    network = (
        name.is_in(["NetworkConnectIP4", "NetworkConnectIP6"])
        & pl.col("RemotePort").cast(pl.Int64, strict=False).is_in(POOL_PORTS)
        & ~ip.str.contains(PRIVATE_V4).fill_null(False)
        & ~ip.str.to_lowercase().str.contains(PRIVATE_V6).fill_null(False)
        & ~image.str.contains(BROWSERS).fill_null(False)
    )
    dns = (name == "DnsRequest") & pl.col("DomainName").str.to_lowercase().str.contains_any(
        POOL_DOMAINS
    )
    return int(
        frame.select(
            process.fill_null(False).sum()
            + network.fill_null(False).sum()
            + dns.fill_null(False).sum()
        ).item()
    )


def duckdb_sql(archive: Path) -> int:
    """DuckDB `read_json` + `regexp_matches`: the three branches as one SQL query."""
    import duckdb

    images = "|".join(re.escape(s) for s in MINER_IMAGES)
    args = "|".join(re.escape(s) for s in MINER_ARGS)
    domains = "|".join(re.escape(s) for s in POOL_DOMAINS)
    ports = ", ".join(str(p) for p in POOL_PORTS)
    query = f"""
    WITH e AS (SELECT * FROM read_json('{archive}', format='newline_delimited',
        columns={{event_simpleName:'VARCHAR', ImageFileName:'VARCHAR', CommandLine:'VARCHAR',
                 RemoteAddressIP4:'VARCHAR', RemoteAddressIP6:'VARCHAR', RemotePort:'VARCHAR',
                 DomainName:'VARCHAR'}}))
    SELECT
      count(*) FILTER (WHERE event_simpleName IN ('ProcessRollup2','SyntheticProcessRollup2')
        AND (regexp_matches(ImageFileName, '{images}', 'i')
             OR regexp_matches(CommandLine, '{args}', 'i')))
    + count(*) FILTER (WHERE event_simpleName IN ('NetworkConnectIP4','NetworkConnectIP6')
        AND TRY_CAST(RemotePort AS INTEGER) IN ({ports})
        AND NOT coalesce(regexp_matches(coalesce(RemoteAddressIP4, RemoteAddressIP6),
                                        '{PRIVATE_V4}'), false)
        AND NOT coalesce(regexp_matches(lower(coalesce(RemoteAddressIP4, RemoteAddressIP6)),
                                        '{PRIVATE_V6}'), false)
        AND NOT coalesce(regexp_matches(ImageFileName, '{BROWSERS}', 'i'), false))
    + count(*) FILTER (WHERE event_simpleName = 'DnsRequest'
        AND regexp_matches(DomainName, '{domains}', 'i'))
    FROM e
    """
    return int(duckdb.sql(query).fetchall()[0][0])


def python_re(archive: Path, limit: int | None = None) -> int:
    """Python, line by line: `json.loads` and `re.search` per row (optionally first N lines)."""
    images = re.compile("|".join(re.escape(s) for s in MINER_IMAGES), re.I)
    args = re.compile("|".join(re.escape(s) for s in MINER_ARGS), re.I)
    domains = re.compile("|".join(re.escape(s) for s in POOL_DOMAINS), re.I)
    private4, private6 = re.compile(PRIVATE_V4), re.compile(PRIVATE_V6)
    browsers = re.compile(BROWSERS, re.I)
    alerts = 0
    with archive.open("rb") as fh:
        reader = io.BufferedReader(
            zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        )
        for number, line in enumerate(reader):
            if limit is not None and number >= limit:
                break
            event = json.loads(line)
            name = event.get("event_simpleName")
            if name in ("ProcessRollup2", "SyntheticProcessRollup2"):
                alerts += bool(
                    images.search(event.get("ImageFileName") or "")
                    or args.search(event.get("CommandLine") or "")
                )
            elif name in ("NetworkConnectIP4", "NetworkConnectIP6"):
                ip = event.get("RemoteAddressIP4") or event.get("RemoteAddressIP6") or ""
                port = str(event.get("RemotePort", ""))
                alerts += bool(
                    port.isdigit()
                    and int(port) in POOL_PORTS
                    and not private4.search(ip)
                    and not private6.search(ip.lower())
                    and not browsers.search(event.get("ImageFileName") or "")
                )
            elif name == "DnsRequest":
                alerts += bool(domains.search(event.get("DomainName") or ""))
    return alerts
