"""Regenerates the committed sample corpora and their labels (byte-identical every run):
corpora/falcon/sample.jsonl.zst (Falcon only) and corpora/mixed/sample.jsonl.zst (Falcon and
Sysmon interleaved), each with its sample.labels.jsonl."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = 5_000
MALICIOUS_RATE = 0.008
FRAME_LINES = 1_000
# (directory, source, seed): seeds chosen so that each sample raises all seven rules.
SAMPLES = (("falcon", "falcon", 1218), ("mixed", "mixed", 1218))


def main() -> int:
    try:
        from retrohunt.corpus import write_corpus
    except ModuleNotFoundError:  # a checkout without `pip install -e .`
        sys.path.insert(0, str(HERE.parent / "batch"))
        from retrohunt.corpus import write_corpus

    for directory, source, seed in SAMPLES:
        out = HERE / directory
        out.mkdir(parents=True, exist_ok=True)
        info = write_corpus(
            out / "sample.jsonl.zst",
            EVENTS,
            seed=seed,
            malicious_rate=MALICIOUS_RATE,
            compression="zstd",
            labels_path=out / "sample.labels.jsonl",
            frame_lines=FRAME_LINES,
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
