"""What a hunt worker does with one archive: read it through an engine of its own and hand
back its alerts so far, the lines waiting for the process join and the processes it saw.

This runs in a worker process (a local pool or a Dask worker), so the task carries
everything it needs (the compiled plan, not rule paths) and the outcome is plain data the
coordinator can pickle, keep in its state folder and finish.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retrohunt.compiler import Plan
from retrohunt.context import DEFAULT_HORIZON, ProcessTable
from retrohunt.engine import Engine
from retrohunt.scan import ArchiveResult, read_archive
from retrohunt.sink import QuarantineWriter
from retrohunt.store import Location, location_name


@dataclass(frozen=True, slots=True)
class HuntTask:
    """One archive to read, and how."""

    location: Location
    plan: Plan
    quarantine_dir: Path  # where the archive's bad lines are written (workers must reach it)
    source: str | None = None
    prefilter: bool = True
    process_join: bool = True
    chunk_size: int = 8 << 20
    horizon: dt.timedelta = DEFAULT_HORIZON


@dataclass(slots=True)
class HuntOutcome:
    """What reading one archive gave (its alerts are final once `pending` is resolved)."""

    result: ArchiveResult
    sightings: pl.DataFrame  # processes seen, positions = byte offsets in the archive
    stage_seconds: dict[str, float]


def run_task(task: HuntTask) -> HuntOutcome:
    """Read one archive. Damage to the archive is the result's `error`, not an exception."""
    engine = _engine(task)
    engine.restart(ProcessTable(task.horizon))
    name = location_name(task.location)
    quarantine = QuarantineWriter(
        task.quarantine_dir / f"{name}.quarantine.jsonl", str(task.location)
    )
    result = read_archive(task.location, engine, task.chunk_size, quarantine)
    sightings = engine.table.sightings(0)
    return HuntOutcome(result, sightings, engine.times.as_dict())


_ENGINES: dict[tuple[str, str | None, bool, bool], Engine] = {}


def _engine(task: HuntTask) -> Engine:
    """This process's engine for the task's rules and options (built once)."""
    key = (task.plan.digest, task.source, task.prefilter, task.process_join)
    if key not in _ENGINES:
        if len(_ENGINES) >= 4:
            _ENGINES.clear()
        _ENGINES[key] = Engine(
            task.plan,
            task.source,
            prefilter=task.prefilter,
            process_join=task.process_join,
            persist_table=True,  # the hunt keeps processes from night to night
        )
    return _ENGINES[key]
