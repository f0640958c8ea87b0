"""Regenerates the committed sample corpora and their labels (byte-identical every run):
corpora/falcon/sample.jsonl.zst (Falcon only), corpora/mixed/sample.jsonl.zst (Falcon, Sysmon
and CloudTrail interleaved) and corpora/cloudtrail/sample.json.gz (CloudTrail only, gzip as S3
delivers it), each with its sample.labels.jsonl."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrohunt.corpus.writer import Compression, CorpusSource

HERE = Path(__file__).resolve().parent
# (directory, source, seed, lines, malicious rate, compression, file name, zstd frame lines):
# the Falcon sample raises all seven process, network and DNS rules, the mixed one all eight,
# the CloudTrail one AWSInstanceLaunch on single records and on {"Records": [...]} lines.
SAMPLES: tuple[tuple[str, CorpusSource, int, int, float, Compression, str, int | None], ...] = (
    ("falcon", "falcon", 1218, 5_000, 0.008, "zstd", "sample.jsonl.zst", 1_000),
    ("mixed", "mixed", 1218, 5_000, 0.008, "zstd", "sample.jsonl.zst", 1_000),
    ("cloudtrail", "cloudtrail", 1218, 2_000, 0.005, "gzip", "sample.json.gz", None),
)


def main() -> int:
    try:
        from retrohunt.corpus import write_corpus
    except ModuleNotFoundError:  # a checkout without `pip install -e .`
        sys.path.insert(0, str(HERE.parent / "batch"))
        from retrohunt.corpus import write_corpus

    for directory, source, seed, events, rate, compression, name, frame_lines in SAMPLES:
        out = HERE / directory
        out.mkdir(parents=True, exist_ok=True)
        info = write_corpus(
            out / name,
            events,
            seed=seed,
            malicious_rate=rate,
            compression=compression,
            labels_path=out / "sample.labels.jsonl",
            frame_lines=frame_lines,
            source=source,
        )
        rules = ", ".join(f"{name} {count}" for name, count in info.by_rule)
        sys.stderr.write(
            f"{info.path.relative_to(HERE.parent)}: {info.events} {source} events,"
            f" {info.malicious} labelled lines ({rules}), {info.bytes_decompressed} bytes"
            f" decompressed, {info.bytes_compressed} bytes compressed, sha256 {info.sha256}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
