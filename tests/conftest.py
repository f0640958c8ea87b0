"""Shared test helpers: archives built from bytes in every compression, and Falcon events.

Import the helpers directly (`from conftest import make_archive, falcon_process, jsonl`);
nothing here is a binary fixture: every archive is written into `tmp_path` by the test.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import zstandard

ArchiveKind = Literal["zstd", "zstd-multiframe", "gzip", "gzip-multimember", "none"]
ARCHIVE_KINDS: tuple[ArchiveKind, ...] = (
    "zstd",
    "zstd-multiframe",
    "gzip",
    "gzip-multimember",
    "none",
)
SUFFIXES: dict[ArchiveKind, str] = {
    "zstd": ".jsonl.zst",
    "zstd-multiframe": ".jsonl.zst",
    "gzip": ".jsonl.gz",
    "gzip-multimember": ".jsonl.gz",
    "none": ".jsonl",
}

# Compiled Hyperscan databases are cached (retrohunt.hyperscan_cache): tests keep theirs in a
# folder of their own, never in the user's ~/.cache.
os.environ["RETROHUNT_CACHE_DIR"] = tempfile.mkdtemp(prefix="retrohunt-test-cache-")

AID = "7c3a2f9d1b8e4c6a9f0d2e1b3c4a5d6e"
CID = "c0ffee00c0ffee00c0ffee00c0ffee00"
TIMESTAMP = "1700000000123"  # 2023-11-14 22:13:20.123 UTC, epoch ms as Falcon writes it


def split_evenly(data: bytes, parts: int) -> list[bytes]:
    """Cut `data` into `parts` pieces at byte positions (not at line ends), none empty
    unless `data` is shorter than `parts`."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    step = max(1, -(-len(data) // parts))
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    return pieces or [b""]


def compress(data: bytes, kind: ArchiveKind, parts: int = 3) -> bytes:
    """`data` as the file bytes of an archive of `kind`.

    Multi-frame zstd and multi-member gzip cut `data` into `parts` pieces at arbitrary byte
    positions (so a frame/member boundary falls inside a line, as real writers do) and
    concatenate one independent frame/member per piece.
    """
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "zstd-multiframe":
        cctx = zstandard.ZstdCompressor()
        return b"".join(cctx.compress(piece) for piece in split_evenly(data, parts))
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "gzip-multimember":
        return b"".join(gzip.compress(piece, mtime=0) for piece in split_evenly(data, parts))
    if kind == "none":
        return data
    raise ValueError(f"unknown archive kind {kind!r}")


def ndjson(lines: Iterable[bytes]) -> bytes:
    """Lines joined as NDJSON: each gets b"\\n" unless it already ends with one (so a line
    may bring its own b"\\r\\n")."""
    return b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)


def make_archive(
    tmp_path: Path,
    lines: list[bytes],
    compression: ArchiveKind = "zstd",
    name: str | None = None,
    *,
    parts: int = 3,
) -> Path:
    """Write `lines` (see `ndjson`) as an archive in `tmp_path` and return its path.

    `name` defaults to `events` plus the usual suffix of the compression; pass a misleading
    name on purpose to test detection by content.
    """
    path = tmp_path / (name or f"events{SUFFIXES[compression]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(compress(ndjson(lines), compression, parts))
    return path


def _event(simple_name: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_simpleName": simple_name,
        "name": f"{simple_name}V1",
        "aid": AID,
        "cid": CID,
        "aip": "203.0.113.10",
        "event_platform": "Lin",
        "timestamp": TIMESTAMP,
        "ContextTimeStamp": "1700000000.118",
        "ComputerName": "web-01",
        **extra,
    }


def falcon_process(
    image: str = "/usr/bin/bash", command_line: str = "bash -c true", **extra: Any
) -> dict[str, Any]:
    """A Falcon ProcessRollup2 event (process_creation); `extra` adds or overrides fields."""
    return _event(
        "ProcessRollup2",
        {
            "ImageFileName": image,
            "CommandLine": command_line,
            "RawProcessId": "41873",
            "ParentProcessId": "41001",
            "ParentBaseFileName": "sh",
            "UserName": "www-data",
            "SHA256HashData": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "MD5HashData": "098f6bcd4621d373cade4e832627b4f6",
            **extra,
        },
    )


def falcon_network(
    remote_ip: str, remote_port: int | str, ipv6: bool = False, **extra: Any
) -> dict[str, Any]:
    """A Falcon NetworkConnectIP4/IP6 event (network_connection); the port is written as
    text, as Falcon does."""
    family = "6" if ipv6 else "4"
    local = "fd00::15" if ipv6 else "10.0.4.15"
    return _event(
        f"NetworkConnectIP{family}",
        {
            f"RemoteAddressIP{family}": remote_ip,
            "RemotePort": str(remote_port),
            f"LocalAddressIP{family}": local,
            "LocalPort": "49152",
            "Protocol": "6",
            "ConnectionDirection": "0",
            "ContextProcessId": "41873",
            **extra,
        },
    )


def falcon_dns(domain: str, **extra: Any) -> dict[str, Any]:
    """A Falcon DnsRequest event (dns_query)."""
    return _event(
        "DnsRequest",
        {
            "DomainName": domain,
            "RequestType": "1",
            "DualRequest": "0",
            "ContextProcessId": "41873",
            **extra,
        },
    )


def jsonl(events: Iterable[dict[str, Any]]) -> list[bytes]:
    """Events as compact JSON lines (no trailing newline; `make_archive` adds it)."""
    return [json.dumps(event, separators=(",", ":")).encode("utf-8") for event in events]
