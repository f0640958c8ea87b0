"""Regenerates the committed Falcon sample corpus and its labels (byte-identical every run)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS = 5_000
SEED = 1204
MALICIOUS_RATE = 0.005
FRAME_LINES = 1_000


def main() -> int:
    try:
        from retrohunt.corpus import write_corpus
    except ModuleNotFoundError:  # a checkout without `pip install -e .`
        sys.path.insert(0, str(HERE.parent / "batch"))
        from retrohunt.corpus import write_corpus

    out = HERE / "falcon"
    out.mkdir(parents=True, exist_ok=True)
    info = write_corpus(
        out / "sample.jsonl.zst",
        EVENTS,
        seed=SEED,
        malicious_rate=MALICIOUS_RATE,
        compression="zstd",
        labels_path=out / "sample.labels.jsonl",
        frame_lines=FRAME_LINES,
    )
    rules = ", ".join(f"{name} {count}" for name, count in info.by_rule)
    sys.stderr.write(
        f"{info.path.relative_to(HERE.parent)}: {info.events} events, {info.malicious} malicious"
        f" ({rules}), {info.bytes_decompressed} bytes decompressed,"
        f" {info.bytes_compressed} bytes compressed, sha256 {info.sha256}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
