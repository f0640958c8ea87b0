"""Pattern-count scaling: deterministic mining-pool-like indicator lists, the two Sigma rules
that carry them, and the Polars-regex baseline that evaluates the same two rules.

`write_rules(folder, n)` writes a DNS rule (`QueryName|endswith`, about n/2 domain names) and
a process rule (`Image|endswith`, the other n/2 image endings). The first entries of each list
are the indicators the corpus generator really uses, so the rules raise alerts on the
benchmark corpus; the rest are generated names that look like pool domains and miner binaries
(`<word>pool.<tld>`, `xmr-<region>.<pool>.org`, `/opt/<word>miner-<version>`, …) and match
nothing, so every pattern count raises the same alerts. The same n always gives the same
lists.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from random import Random

import polars as pl
import yaml

from baselines import decompressed
from retrohunt.corpus.catalogue import LIN_MINER_IMAGES, POOL_DOMAINS, WIN_MINER_IMAGES
from retrohunt.corpus.rules import FALCON_PROCESS_EVENTS

# Invented vocabulary for names; any resemblance to a real pool is by construction only.
_COINS = ("xmr", "etc", "rvn", "erg", "kas", "zec", "ltc", "btc", "dero", "beam", "firo", "cfx")
_WORDS = (
    "hash", "block", "stratum", "nonce", "share", "miner", "crypto", "coin", "mega", "ultra",
    "rapid", "solo", "prime", "alpha", "nova", "astro", "iron", "silver", "golden", "nord",
    "terra", "hydra", "vortex", "quantum", "atlas", "polar", "cobalt", "ember", "falcon", "lynx",
    "orbit", "pulse", "raven", "sigma", "titan", "zen", "apex", "bolt", "delta", "echo",
    "flux", "grid", "halo", "ion", "jade", "kilo", "luna", "metro", "neon", "onyx",
)  # fmt: skip
_TLDS = ("com", "org", "net", "io", "pro", "cc", "eu", "xyz", "me", "to", "top", "stream")
_REGIONS = ("eu", "us", "asia", "de", "fr", "ca", "sg", "jp", "br", "au", "ru", "in")
_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/", "/opt/", "/usr/local/bin/", "/home/user/.cache/")
_WIN_DIRS = (
    "\\AppData\\Roaming\\",
    "\\AppData\\Local\\Temp\\",
    "\\ProgramData\\",
    "\\Users\\Public\\",
)


# Real indicators at the head of each list: the same in every list of REAL or more entries, so
# the alert count does not change with the pattern count.
REAL = 12


def pool_domains(count: int, seed: int = 1204) -> list[str]:
    """`count` distinct domain names: the generator's real pool domains first, then generated
    pool-like names."""
    names = list(dict.fromkeys(d.lower() for d in POOL_DOMAINS))[: min(count, REAL)]
    seen = set(names)
    rng = Random(f"domains/{seed}")
    while len(names) < count:
        word = rng.choice(_WORDS) + rng.choice(_WORDS)
        tld = rng.choice(_TLDS)
        shape = rng.randrange(6)
        if shape == 0:
            name = f"{word}pool.{tld}"
        elif shape == 1:
            name = f"{rng.choice(_COINS)}-{rng.choice(_REGIONS)}{rng.randrange(1, 9)}.{word}.org"
        elif shape == 2:
            name = f"{rng.choice(_COINS)}.{word}pool.{tld}"
        elif shape == 3:
            name = f"pool.{word}.{tld}"
        elif shape == 4:
            name = f"{rng.choice(_REGIONS)}.{rng.choice(_COINS)}{word}.{tld}"
        else:
            name = f"stratum-{rng.choice(_REGIONS)}-{rng.randrange(100)}.{word}mine.{tld}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def miner_images(count: int, seed: int = 1204) -> list[str]:
    """`count` distinct image endings: the generator's real miner images (base names, with the
    separator before them) first, then generated miner-like binaries."""
    real = [_ending(p) for p in (*LIN_MINER_IMAGES, *WIN_MINER_IMAGES)]
    names = list(dict.fromkeys(r.lower() for r in real))[: min(count, REAL)]
    seen = set(names)
    rng = Random(f"images/{seed}")
    while len(names) < count:
        word = rng.choice(_WORDS)
        version = f"{rng.randrange(1, 7)}.{rng.randrange(30)}.{rng.randrange(10)}"
        shape = rng.randrange(4)
        if shape == 0:
            name = f"{rng.choice(_DIRS)}{word}miner-{version}"
        elif shape == 1:
            name = f"{rng.choice(_WIN_DIRS)}{word}{rng.choice(_COINS)}-{version}.exe"
        elif shape == 2:
            name = f"/{rng.choice(_COINS)}{word}d-{rng.randrange(1000)}"
        else:
            name = f"\\{word}-{rng.choice(_COINS)}-miner{rng.randrange(1000)}.exe"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _ending(path: str) -> str:
    """The separator and base name of a catalogue image path (templates like {U} dropped)."""
    cut = max(path.rfind("/"), path.rfind("\\"))
    return path[cut:] if cut >= 0 else path


def split(total: int) -> tuple[int, int]:
    """How `total` patterns are shared: (domains, images)."""
    return total // 2, total - total // 2


def write_rules(folder: Path, total: int) -> tuple[Path, Path]:
    """Two Sigma rules carrying `total` patterns between them; returns their paths."""
    domains, images = split(total)
    folder.mkdir(parents=True, exist_ok=True)
    dns = _rule(
        f"ScalingPoolDNS{total}",
        f"DNS lookup of one of {domains} pool-like domains (benchmark rule)",
        "dns_query",
        "QueryName|endswith",
        pool_domains(domains),
    )
    process = _rule(
        f"ScalingMinerImage{total}",
        f"Process image ending in one of {images} miner-like names (benchmark rule)",
        "process_creation",
        "Image|endswith",
        miner_images(images),
    )
    dns_path, process_path = folder / "scaling_dns.yml", folder / "scaling_process.yml"
    dns_path.write_text(dns, encoding="utf-8")
    process_path.write_text(process, encoding="utf-8")
    return dns_path, process_path


def _rule(name: str, title: str, category: str, field: str, values: list[str]) -> str:
    rule = {
        "title": title,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"retrohunt-benchmark/{name}")),
        "name": name,
        "status": "test",
        "description": "Generated by benchmarks/scaling.py to time pattern-count scaling.",
        "author": "retrohunt benchmarks",
        "date": "2026-11-24",
        "logsource": {"category": category},
        "detection": {"selection": {field: values}, "condition": "selection"},
        "level": "low",
    }
    return yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=1000)


def polars_regex(archive: Path, total: int) -> int:
    """The scaling rules as a Polars user writes them: decompress, `read_ndjson`, lower-case
    the field and test one anchored regex alternation of the (lower-case) patterns.

    Two adjustments a user is pushed into: `(?i)` instead of lower-casing was about 60×
    slower at 5,000 alternatives (the regex engine's literal optimisations give up), and one
    alternation of more than about 10,000 names exceeds the engine's 10 MiB compiled-size
    limit, so longer lists are split into alternations of at most CHUNK names, OR-ed.
    """
    domains, images = split(total)
    schema = {n: pl.String() for n in _SCHEMA}
    frame = pl.read_ndjson(io.BytesIO(decompressed(archive)), schema=schema)
    name = pl.col("event_simpleName")
    image = pl.coalesce(_nonempty("ImageFileName"), _nonempty("ContextBaseFileName"))
    process = name.is_in(list(FALCON_PROCESS_EVENTS)) & _ends_with(image, miner_images(images))
    dns = (name == "DnsRequest") & _ends_with(pl.col("DomainName"), pool_domains(domains))
    return int(frame.select(process.fill_null(False).sum() + dns.fill_null(False).sum()).item())


_SCHEMA = ("event_simpleName", "ImageFileName", "ContextBaseFileName", "DomainName")
CHUNK = 4_000


def _nonempty(name: str) -> pl.Expr:
    column = pl.col(name)
    return pl.when(column != "").then(column)


def _ends_with(column: pl.Expr, values: list[str]) -> pl.Expr:
    lower = column.str.to_lowercase()
    parts = [
        lower.str.contains("(?:" + "|".join(re.escape(v) for v in values[i : i + CHUNK]) + ")$")
        for i in range(0, len(values), CHUNK)
    ]
    return pl.any_horizontal(parts)
