"""What a user would reach for instead of retrohunt, on the three seed branches of T1204.003:
MinerProcessExecution, MiningPoolNetworkConnection and MiningPoolDNSLookup.

Every baseline returns its alert count: (line, rule) pairs, as the corpus labels count them
and as retrohunt writes alerts. They implement the rules' semantics on Falcon telemetry as the
engine applies them (rules/t1204.003-malicious-image/*.yml, sources/falcon.py):

- a taxonomy field is the first non-empty of its Falcon fields (Image: ImageFileName, then
  ContextBaseFileName; DestinationIp: RemoteAddressIP4, then RemoteAddressIP6);
- strings compare case-insensitively; a port matches the decimal text of the same integer;
- the process join: a network event without an image of its own takes the image of the process
  event (ProcessRollup2 / SyntheticProcessRollup2) with the same `aid` whose TargetProcessId
  is the event's ContextProcessId; an unknown process leaves the image null, which the
  browser filter does not exclude;
- the inbound filter: Initiated "false" (Falcon ConnectionDirection "1") is excluded; "0",
  "2" and a missing direction are not.

The indicator lists are read from the rule files; the condition of each rule is checked
against the shape these baselines implement, so a changed rule fails loudly instead of
silently benchmarking something else.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml
import zstandard

from retrohunt.corpus.rules import FILTERED_NETWORKS

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "rules" / "t1204.003-malicious-image"
SEED_RULE_FILES = tuple(
    RULES_DIR / f"{stem}.yml"
    for stem in (
        "miner_process_execution",
        "mining_pool_network_connection",
        "mining_pool_dns_lookup",
    )
)
SEED_RULE_NAMES = ("MinerProcessExecution", "MiningPoolNetworkConnection", "MiningPoolDNSLookup")

PROCESS_EVENTS = ("ProcessRollup2", "SyntheticProcessRollup2")
NETWORK_EVENTS = ("NetworkConnectIP4", "NetworkConnectIP6")
DNS_EVENT = "DnsRequest"

# The rule's filter_private networks as anchored regexes over the address text (what a user
# writes where there is no CIDR type). IPv4: a dotted quad with octets up to 255; IPv6:
# loopback in its two usual spellings, fc00::/7 and fe80::/10 by their first group.
# The networks the regexes below were written for (the corpus labeller's list).
PRIVATE_NETWORKS = FILTERED_NETWORKS
_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
PRIVATE_V4 = (
    rf"^(?:10\.{_OCTET}\.{_OCTET}|127\.{_OCTET}\.{_OCTET}|192\.168\.{_OCTET}"
    rf"|172\.(?:1[6-9]|2[0-9]|3[01])\.{_OCTET})\.{_OCTET}$"
)
PRIVATE_V6 = r"^(?:::1|0:0:0:0:0:0:0:1)$|^f[cd][0-9a-f]{2}:|^fe[89ab][0-9a-f]:"


@dataclass(frozen=True, slots=True)
class Detections:
    """The indicator lists of the three seed branches, as the rule files give them."""

    miner_images: tuple[str, ...]
    miner_cmdlines: tuple[str, ...]
    pool_ports: tuple[int, ...]
    browsers: tuple[str, ...]
    pool_domains: tuple[str, ...]

    @classmethod
    def load(cls, rules_dir: Path = RULES_DIR) -> Detections:
        process = _detection(rules_dir / "miner_process_execution.yml", "1 of selection_*")
        network = _detection(
            rules_dir / "mining_pool_network_connection.yml",
            "selection and not filter_private and not filter_browser and not filter_inbound",
        )
        dns = _detection(rules_dir / "mining_pool_dns_lookup.yml", "selection")
        if tuple(network["filter_private"]["DestinationIp|cidr"]) != PRIVATE_NETWORKS:
            raise ValueError("filter_private changed: update PRIVATE_NETWORKS and the regexes")
        if network["filter_inbound"] != {"Initiated": "false"}:
            raise ValueError("filter_inbound changed: update the baselines")
        return cls(
            miner_images=tuple(process["selection_image"]["Image|contains"]),
            miner_cmdlines=tuple(process["selection_cmdline"]["CommandLine|contains"]),
            pool_ports=tuple(int(p) for p in network["selection"]["DestinationPort"]),
            browsers=tuple(network["filter_browser"]["Image|endswith"]),
            pool_domains=tuple(dns["selection"]["QueryName|contains"]),
        )


def _detection(path: Path, condition: str) -> dict[str, Any]:
    detection: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["detection"]
    if detection.get("condition") != condition:
        raise ValueError(f"{path.name}: condition changed to {detection.get('condition')!r}")
    return detection


def contains_any(values: tuple[str, ...] | list[str]) -> str:
    """One case-insensitive regex alternation: any of the values anywhere."""
    return "(?i)(?:" + "|".join(re.escape(v) for v in values) + ")"


def ends_with_any(values: tuple[str, ...] | list[str]) -> str:
    """One case-insensitive regex alternation: the text ends with one of the values."""
    return contains_any(values) + "$"


DETECTIONS = Detections.load()


# --- the floor --------------------------------------------------------------------------------


def floor_zstd(archive: Path) -> int:
    """`zstd -dc ARCHIVE > /dev/null`: decompression alone, the physical floor. 0 alerts."""
    subprocess.run(["zstd", "-dcq", str(archive)], stdout=subprocess.DEVNULL, check=True)
    return 0


def decompressed(archive: Path) -> bytes:
    """The whole archive, decompressed in memory."""
    with archive.open("rb") as fh:
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()


# --- Polars only ------------------------------------------------------------------------------

_POLARS_FIELDS = (
    "event_simpleName",
    "aid",
    "TargetProcessId",
    "ContextProcessId",
    "ImageFileName",
    "ContextBaseFileName",
    "CommandLine",
    "RemoteAddressIP4",
    "RemoteAddressIP6",
    "RemotePort",
    "ConnectionDirection",
    "DomainName",
)


def _first(*names: str) -> pl.Expr:
    """The first non-empty of these columns."""
    return pl.coalesce([pl.when(pl.col(n) != "").then(pl.col(n)) for n in names])


def polars_only(archive: Path, *, join: bool = True) -> int:
    """Polars `read_ndjson` of every line (rule fields only), the process join as a Polars
    join, and each field tested with one regex alternation (`str.contains`)."""
    d = DETECTIONS
    frame = pl.read_ndjson(
        io.BytesIO(decompressed(archive)), schema={n: pl.String() for n in _POLARS_FIELDS}
    ).with_columns(_first("ImageFileName", "ContextBaseFileName").alias("image"))
    kind = pl.col("event_simpleName")
    process = frame.filter(kind.is_in(PROCESS_EVENTS))
    network = frame.filter(kind.is_in(NETWORK_EVENTS))
    dns = frame.filter(kind == DNS_EVENT)
    if join:
        known = (
            process.filter((pl.col("aid") != "") & (pl.col("TargetProcessId") != ""))
            .select("aid", "TargetProcessId", pl.col("image").alias("process_image"))
            .unique(["aid", "TargetProcessId"], keep="last")
        )
        network = network.join(
            known,
            left_on=["aid", "ContextProcessId"],
            right_on=["aid", "TargetProcessId"],
            how="left",
        ).with_columns(pl.coalesce("image", "process_image").alias("image"))
    ip = _first("RemoteAddressIP4", "RemoteAddressIP6")
    process_hits = process.filter(
        pl.col("image").str.contains(contains_any(d.miner_images)).fill_null(False)
        | pl.col("CommandLine").str.contains(contains_any(d.miner_cmdlines)).fill_null(False)
    ).height
    network_hits = network.filter(
        pl.col("RemotePort").cast(pl.Int64, strict=False).is_in(d.pool_ports).fill_null(False)
        & ~ip.str.contains(PRIVATE_V4).fill_null(False)
        & ~ip.str.to_lowercase().str.contains(PRIVATE_V6).fill_null(False)
        & ~pl.col("image").str.contains(ends_with_any(d.browsers)).fill_null(False)
        & (pl.col("ConnectionDirection").fill_null("") != "1")
    ).height
    dns_hits = dns.filter(
        pl.col("DomainName").str.contains(contains_any(d.pool_domains)).fill_null(False)
    ).height
    return process_hits + network_hits + dns_hits


# --- DuckDB -----------------------------------------------------------------------------------


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _events_sql(archive: Path) -> str:
    """The archive as rows with the rule fields (first non-empty already taken), the process
    table, and network events joined to it: the common part of both DuckDB contenders."""
    columns = ", ".join(f"{n}: 'VARCHAR'" for n in _POLARS_FIELDS)
    path = str(archive).replace("'", "''")
    return f"""
    e AS MATERIALIZED (
      SELECT event_simpleName AS kind, aid, TargetProcessId, ContextProcessId,
             coalesce(nullif(ImageFileName, ''), nullif(ContextBaseFileName, '')) AS image,
             CommandLine,
             coalesce(nullif(RemoteAddressIP4, ''), nullif(RemoteAddressIP6, '')) AS ip,
             RemotePort, ConnectionDirection, DomainName
      FROM read_json('{path}', format = 'newline_delimited', columns = {{{columns}}})),
    procs AS (
      SELECT aid, TargetProcessId AS pid, last(image) AS image FROM e
      WHERE kind IN ({_sql_list(PROCESS_EVENTS)}) AND aid <> '' AND TargetProcessId <> ''
      GROUP BY aid, TargetProcessId),
    net AS (
      SELECT coalesce(e.image, procs.image) AS image, ip, RemotePort, ConnectionDirection
      FROM e LEFT JOIN procs ON e.aid = procs.aid AND e.ContextProcessId = procs.pid
      WHERE kind IN ({_sql_list(NETWORK_EVENTS)}))
    """


def duckdb_sql(archive: Path) -> int:
    """DuckDB `read_json` on the archive, the process join in SQL and the three branches as
    `regexp_matches` (one alternation per field)."""
    import duckdb

    d = DETECTIONS
    ports = ", ".join(str(p) for p in d.pool_ports)
    query = f"""
    WITH {_events_sql(archive)}
    SELECT
      (SELECT count(*) FROM e WHERE kind IN ({_sql_list(PROCESS_EVENTS)})
         AND (coalesce(regexp_matches(image, '{contains_any(d.miner_images)}'), false)
              OR coalesce(regexp_matches(CommandLine, '{contains_any(d.miner_cmdlines)}'),
                          false)))
    + (SELECT count(*) FROM net WHERE TRY_CAST(RemotePort AS BIGINT) IN ({ports})
         AND NOT coalesce(regexp_matches(ip, '{PRIVATE_V4}'), false)
         AND NOT coalesce(regexp_matches(lower(ip), '{PRIVATE_V6}'), false)
         AND NOT coalesce(regexp_matches(image, '{ends_with_any(d.browsers)}'), false)
         AND coalesce(ConnectionDirection, '') <> '1')
    + (SELECT count(*) FROM e WHERE kind = '{DNS_EVENT}'
         AND regexp_matches(DomainName, '{contains_any(d.pool_domains)}'))
    """
    with duckdb.connect() as con:
        return int(con.sql(query).fetchall()[0][0])


def pysigma_duckdb_queries() -> list[str]:
    """The three seed rules converted by pySigma's DuckDB backend (pySigma-backend-duckdb),
    one `SELECT * FROM logs WHERE ...` each. A processing pipeline adds the logsource as a
    condition on a `category` column (the backend ignores logsource otherwise)."""
    from sigma.collection import SigmaCollection
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import AddConditionTransformation
    from sigma_backend_duckdb import DuckDBBackend

    pipeline = ProcessingPipeline(
        name="retrohunt benchmark: Falcon rows as Sigma taxonomy",
        priority=20,
        items=[
            ProcessingItem(
                identifier=f"category_{category}",
                transformation=AddConditionTransformation({"category": category}),
                rule_conditions=[LogsourceCondition(category=category)],
            )
            for category in ("process_creation", "network_connection", "dns_query")
        ],
    )
    backend = DuckDBBackend(processing_pipeline=pipeline)
    queries: list[str] = []
    for path in SEED_RULE_FILES:
        converted = backend.convert(SigmaCollection.from_yaml(path.read_text(encoding="utf-8")))
        queries.extend(str(q) for q in converted)
    return queries


def pysigma_duckdb(archive: Path, queries: list[str] | None = None) -> int:
    """DuckDB with the WHERE clauses pySigma's DuckDB backend generates from the rules, run on
    a `logs` table holding the Falcon events under Sigma taxonomy names (process join done
    in SQL, Initiated mapped from ConnectionDirection). Absent strings become '' so that the
    backend's `NOT (...)` keeps a row with a missing field, as Sigma does (SQL's NULL would
    drop it)."""
    import duckdb

    if queries is None:
        queries = pysigma_duckdb_queries()
    table = f"""
    CREATE TEMP TABLE logs AS
    WITH {_events_sql(archive)},
    joined AS (
      SELECT e.*, procs.image AS process_image FROM e LEFT JOIN procs
        ON e.kind IN ({_sql_list(NETWORK_EVENTS)}) AND e.aid = procs.aid
        AND e.ContextProcessId = procs.pid
      WHERE e.kind IN ({_sql_list((*PROCESS_EVENTS, *NETWORK_EVENTS, DNS_EVENT))}))
    SELECT
      CASE WHEN kind IN ({_sql_list(PROCESS_EVENTS)}) THEN 'process_creation'
           WHEN kind IN ({_sql_list(NETWORK_EVENTS)}) THEN 'network_connection'
           ELSE 'dns_query' END AS category,
      coalesce(image, process_image, '') AS Image,
      coalesce(CommandLine, '') AS CommandLine,
      coalesce(ip, '') AS DestinationIp,
      TRY_CAST(RemotePort AS BIGINT) AS DestinationPort,
      CASE ConnectionDirection WHEN '0' THEN 'true' WHEN '1' THEN 'false' ELSE '' END
        AS Initiated,
      coalesce(DomainName, '') AS QueryName
    FROM joined
    """
    with duckdb.connect() as con:
        con.execute(table)
        return sum(int(con.sql(f"SELECT count(*) FROM ({q})").fetchall()[0][0]) for q in queries)


# --- Python, line by line ---------------------------------------------------------------------


def _lines(archive: Path) -> Iterator[bytes]:
    with archive.open("rb") as fh:
        reader = io.BufferedReader(
            zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        )
        yield from reader


def python_re(archive: Path, limit: int | None = None) -> int:
    """`json.loads` and `re.search` per line, the process join as a dict filled in stream
    order (the generator writes a process before its connections). Optionally only the
    first `limit` lines."""
    d = DETECTIONS
    images, cmdlines = (
        re.compile(contains_any(d.miner_images)),
        re.compile(contains_any(d.miner_cmdlines)),
    )
    domains = re.compile(contains_any(d.pool_domains))
    browsers = re.compile(ends_with_any(d.browsers))
    private4, private6 = re.compile(PRIVATE_V4), re.compile(PRIVATE_V6)
    ports = frozenset(d.pool_ports)
    processes: dict[tuple[str, str], str | None] = {}
    alerts = 0
    for number, line in enumerate(_lines(archive)):
        if limit is not None and number >= limit:
            break
        if not line.strip():
            continue
        event = json.loads(line)
        kind = event.get("event_simpleName")
        image = _text(event, "ImageFileName") or _text(event, "ContextBaseFileName")
        if kind in PROCESS_EVENTS:
            aid, pid = _text(event, "aid"), _text(event, "TargetProcessId")
            if aid and pid:
                processes[(aid, pid)] = image
            cmd = _text(event, "CommandLine")
            alerts += bool((image and images.search(image)) or (cmd and cmdlines.search(cmd)))
        elif kind in NETWORK_EVENTS:
            if image is None:
                image = processes.get((_text(event, "aid"), _text(event, "ContextProcessId")))
            ip = _text(event, "RemoteAddressIP4") or _text(event, "RemoteAddressIP6") or ""
            port = _text(event, "RemotePort") or ""
            alerts += bool(
                port.isdigit()
                and int(port) in ports
                and not private4.search(ip)
                and not private6.search(ip.lower())
                and not (image and browsers.search(image))
                and _text(event, "ConnectionDirection") != "1"
            )
        elif kind == DNS_EVENT:
            domain = _text(event, "DomainName")
            alerts += bool(domain and domains.search(domain))
    return alerts


def _text(event: dict[str, Any], name: str) -> Any:
    """The field as text, None when missing or empty."""
    value = event.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
