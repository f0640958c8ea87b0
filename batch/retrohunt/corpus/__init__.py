"""Deterministic generator of labelled telemetry corpora: CrowdStrike Falcon FDR-style NDJSON,
flat-JSON Sysmon (Windows and Sysmon for Linux), AWS CloudTrail (single records and S3-style
{"Records": [...]} documents), or all three interleaved in one archive; and, unlabelled,
Windows event-log JSON as EVTX converters write it (`winevt`).

Every line's labels are the exact set of T1204.003 rules that fire on it (see `rules`); the
Atomic Red Team T1204.003 stories, tuning false positives and hard negatives are woven into a
mostly benign stream (see corpora/README.md).
"""

from __future__ import annotations

from retrohunt.corpus.base import LabelledLine
from retrohunt.corpus.rules import (
    MINER_CMDLINE_STRINGS,
    MINER_IMAGE_STRINGS,
    POOL_DOMAIN_STRINGS,
    POOL_PORTS,
    RULE_AWS_LAUNCH,
    RULE_CREDENTIAL_EXFIL,
    RULE_DOWNLOADER_CONTAINER,
    RULE_MINER_ARGS,
    RULE_MINER_CONTAINER,
    RULE_MINER_PROCESS,
    RULE_POOL_CONNECTION,
    RULE_POOL_DNS,
    RULES,
    cloudtrail_labels,
    labels_of,
)
from retrohunt.corpus.writer import (
    CORPUS_SOURCES,
    LABELLED_SOURCES,
    CorpusInfo,
    CorpusSource,
    generate,
    generate_cloudtrail,
    generate_falcon,
    generate_sysmon,
    generate_winevt,
    write_corpus,
)

__all__ = [
    "CORPUS_SOURCES",
    "LABELLED_SOURCES",
    "MINER_CMDLINE_STRINGS",
    "MINER_IMAGE_STRINGS",
    "POOL_DOMAIN_STRINGS",
    "POOL_PORTS",
    "RULES",
    "RULE_AWS_LAUNCH",
    "RULE_CREDENTIAL_EXFIL",
    "RULE_DOWNLOADER_CONTAINER",
    "RULE_MINER_ARGS",
    "RULE_MINER_CONTAINER",
    "RULE_MINER_PROCESS",
    "RULE_POOL_CONNECTION",
    "RULE_POOL_DNS",
    "CorpusInfo",
    "CorpusSource",
    "LabelledLine",
    "cloudtrail_labels",
    "generate",
    "generate_cloudtrail",
    "generate_falcon",
    "generate_sysmon",
    "generate_winevt",
    "labels_of",
    "write_corpus",
]
