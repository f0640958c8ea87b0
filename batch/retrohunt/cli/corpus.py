"""`retrohunt corpus`: generate a labelled Falcon, Sysmon, CloudTrail or mixed corpus, or an
unlabelled Windows event-log corpus (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import typer

from retrohunt.cli.errors import EXIT_OK
from retrohunt.cli.render import stdout

HELP = """Generate a labelled NDJSON corpus (deterministic for a seed).

--source falcon writes CrowdStrike Falcon FDR-style events, sysmon flat-JSON Sysmon events
(Windows and Sysmon for Linux), cloudtrail AWS CloudTrail records (one per line, and now and
then an S3-style {"Records": [...]} line), mixed all three interleaved in one archive. Writes
--out (zstd unless --compression says otherwise) and, with --labels, a JSON Lines sidecar
naming the rules each line must raise (a Records line: those of any of its records).

--source winevt writes Windows event-log records as EVTX converters write them: mostly
evtx_dump's JSON ({"Event":{"System":{...},"EventData":{...}}}), one host in twenty
python-evtx + xmltodict's ("EventData":{"Data":[{"@Name":...,"#text":...}]}). A fleet of
workstations and servers: Sysmon process creation (about 55%), network, image load, process
access, file, registry and DNS events, Security 4624 / 4688, PowerShell 4104 script blocks and
System 7045 service installs; at --malicious-rate (default 0.0005 for winevt) attacker-like
stories (LOLBins, encoded PowerShell, persistence, credential dumping, shadow-copy deletion,
recon), administrators' look-alikes and hard negatives. There is no oracle for third-party
rule sets such as SigmaHQ's, so winevt lines carry no labels: --labels writes an empty file.
"""


def generate_command(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Archive to write, e.g. corpora/generated/1gb.jsonl.zst."
    ),
    source: str = typer.Option(
        "falcon", "--source", help="Telemetry source: falcon, sysmon, cloudtrail, mixed or winevt."
    ),
    events: int = typer.Option(100_000, "--events", "-n", min=1, help="Number of events."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    malicious_rate: float | None = typer.Option(
        None,
        "--malicious-rate",
        min=0.0,
        max=0.5,
        help="Share of scenario lines (those that raise alerts); default 0.001, winevt 0.0005.",
    ),
    compression: str = typer.Option("zstd", "--compression", help="zstd, gzip or none."),
    labels: Path | None = typer.Option(None, "--labels", help="Labels sidecar to write."),
    frame_lines: int | None = typer.Option(
        None, "--frame-lines", min=1, help="Start a new zstd frame every N lines."
    ),
) -> int:
    """Generate a corpus (see HELP)."""
    from retrohunt.corpus import CORPUS_SOURCES, write_corpus
    from retrohunt.corpus.winevt import DEFAULT_MALICIOUS_RATE

    if source not in CORPUS_SOURCES:
        raise typer.BadParameter(
            f"must be one of {', '.join(CORPUS_SOURCES)}", param_hint="--source"
        )
    if compression not in ("zstd", "gzip", "none"):
        raise typer.BadParameter("must be zstd, gzip or none", param_hint="--compression")
    kind = cast(Literal["zstd", "gzip", "none"], compression)
    if malicious_rate is None:
        malicious_rate = DEFAULT_MALICIOUS_RATE if source == "winevt" else 0.001
    info = write_corpus(
        out,
        events,
        seed=seed,
        malicious_rate=malicious_rate,
        compression=kind,
        labels_path=labels,
        frame_lines=frame_lines,
        source=source,
    )
    labelled = f"{info.malicious:,} labelled" if source != "winevt" else "no labels"
    stdout.print(
        f"{info.path}: {info.events:,} {info.source} events, {labelled}, "
        f"{info.bytes_decompressed / 1e6:,.1f} MB decompressed, sha256 {info.sha256}",
        highlight=False,
    )
    return EXIT_OK
