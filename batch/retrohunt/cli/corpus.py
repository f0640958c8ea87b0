"""`retrohunt corpus`: generate a labelled Falcon, Sysmon, CloudTrail or mixed corpus (tests,
benchmarks)."""

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
"""


def generate_command(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Archive to write, e.g. corpora/generated/1gb.jsonl.zst."
    ),
    source: str = typer.Option(
        "falcon", "--source", help="Telemetry source: falcon, sysmon, cloudtrail or mixed."
    ),
    events: int = typer.Option(100_000, "--events", "-n", min=1, help="Number of events."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    malicious_rate: float = typer.Option(
        0.001, "--malicious-rate", min=0.0, max=0.5, help="Share of lines that raise alerts."
    ),
    compression: str = typer.Option("zstd", "--compression", help="zstd, gzip or none."),
    labels: Path | None = typer.Option(None, "--labels", help="Labels sidecar to write."),
    frame_lines: int | None = typer.Option(
        None, "--frame-lines", min=1, help="Start a new zstd frame every N lines."
    ),
) -> int:
    """Generate a corpus (see HELP)."""
    from retrohunt.corpus import CORPUS_SOURCES, write_corpus

    if source not in CORPUS_SOURCES:
        raise typer.BadParameter(
            f"must be one of {', '.join(CORPUS_SOURCES)}", param_hint="--source"
        )
    if compression not in ("zstd", "gzip", "none"):
        raise typer.BadParameter("must be zstd, gzip or none", param_hint="--compression")
    kind = cast(Literal["zstd", "gzip", "none"], compression)
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
    stdout.print(
        f"{info.path}: {info.events:,} {info.source} events, {info.malicious:,} labelled, "
        f"{info.bytes_decompressed / 1e6:,.1f} MB decompressed, sha256 {info.sha256}",
        highlight=False,
    )
    return EXIT_OK
