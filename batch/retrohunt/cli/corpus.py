"""`retrohunt corpus`: generate a labelled Falcon corpus for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from retrohunt.cli.errors import EXIT_OK
from retrohunt.cli.render import stdout

HELP = """Generate a labelled Falcon NDJSON corpus (deterministic for a seed).

Writes --out (zstd unless --compression says otherwise) and, with --labels, a JSON Lines
sidecar naming the rules each malicious line must raise.
"""


def generate_command(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Archive to write, e.g. corpora/generated/1gb.jsonl.zst."
    ),
    source: str = typer.Option("falcon", "--source", help="Telemetry source: falcon."),
    events: int = typer.Option(100_000, "--events", "-n", min=1, help="Number of events."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    malicious_rate: float = typer.Option(
        0.001, "--malicious-rate", min=0.0, max=0.5, help="Share of malicious lines."
    ),
    compression: str = typer.Option("zstd", "--compression", help="zstd, gzip or none."),
    labels: Path | None = typer.Option(None, "--labels", help="Labels sidecar to write."),
    frame_lines: int | None = typer.Option(
        None, "--frame-lines", min=1, help="Start a new zstd frame every N lines."
    ),
) -> int:
    """Generate a corpus (see HELP)."""
    from retrohunt.corpus import write_corpus

    if source != "falcon":
        raise typer.BadParameter("only 'falcon' is generated so far", param_hint="--source")
    if compression not in ("zstd", "gzip", "none"):
        raise typer.BadParameter("must be zstd, gzip or none", param_hint="--compression")
    kind: Literal["zstd", "gzip", "none"] = compression  # type: ignore[assignment]
    info = write_corpus(
        out,
        events,
        seed=seed,
        malicious_rate=malicious_rate,
        compression=kind,
        labels_path=labels,
        frame_lines=frame_lines,
    )
    stdout.print(
        f"{info.path}: {info.events:,} events, {info.malicious:,} malicious, "
        f"{info.bytes_decompressed / 1e6:,.1f} MB decompressed, sha256 {info.sha256}",
        highlight=False,
    )
    return EXIT_OK
