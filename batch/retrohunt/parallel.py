"""Evaluate the chunks of one archive in worker processes, when no chunk needs another's
state (no prefilter batching; with the process join, only chunks no event of a join source
can be in).

Matching is bound to Python's interpreter lock (Hyperscan callbacks, condition masks, the
calls into Polars), so a second core helps only as a second process: each worker holds an
engine like the scan's, takes whole chunks and sends back their alerts, bad lines and
counts. Consecutive chunks go together up to the run's `whole_flush_bytes` (Polars' cost per
call is paid once for them, as in one process). They are taken back in the order they were
given, so the output is the same as one process gives, and at most two per worker are in
flight, so memory stays bounded by that size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, fields

from retrohunt.archive import Chunk
from retrohunt.compiler import Plan
from retrohunt.engine import ArchiveRun, Engine, Output, StageTimes
from retrohunt.environ import environment

IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class _Setup:
    plan: Plan
    source: str | None
    regex_baseline: bool


@dataclass(slots=True)
class ChunkOutcome:
    """What a worker made of one chunk."""

    output: Output
    lines: int
    bad_lines: int
    invalid_utf8: int
    unrecognised: int
    times: StageTimes


_ENGINE: Engine | None = None  # the worker's own


def _start(setup: _Setup) -> None:
    global _ENGINE
    _ENGINE = Engine(
        setup.plan,
        setup.source,
        prefilter=False,
        process_join=False,
        regex_baseline=setup.regex_baseline,
    )


def _evaluate(chunk: Chunk, archive: str, ordinal: int) -> ChunkOutcome:
    engine = _ENGINE
    assert engine is not None, "the worker was not started"
    engine.times = StageTimes()
    run = ArchiveRun(engine, archive, ordinal)
    output = run.evaluate_chunk(chunk)
    return ChunkOutcome(
        output, run.lines, run.bad_lines, run.invalid_utf8, run.unrecognised, engine.times
    )


class ChunkPool:
    """Worker processes evaluating whole chunks for an engine (see the module doc)."""

    def __init__(self, engine: Engine, workers: int) -> None:
        self.workers = workers
        setup = _Setup(engine.plan, engine.source, engine.regex_baseline)
        # Each worker gets its share of the cores for Polars' own threads.
        threads = max(1, (os.cpu_count() or 1) // workers)
        with environment(POLARS_MAX_THREADS=str(threads)):
            # spawn, not fork: forking a process that runs Polars' thread pool can deadlock.
            self._executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(setup,),
            )
            # Start every worker now, while the environment holds.
            for future in [self._executor.submit(_ready) for _ in range(workers)]:
                future.result()

    def close(self) -> None:
        """Stop the workers."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def runner(self, run: ArchiveRun) -> PooledChunks:
        """Where `run` sends the chunks it evaluates whole."""
        return PooledChunks(self, run)


def _ready() -> bool:
    return _ENGINE is not None


class PooledChunks:
    """The chunks of one archive run in flight in a pool, taken back in order."""

    def __init__(self, pool: ChunkPool, run: ArchiveRun) -> None:
        self.pool = pool
        self.run = run
        self._in_flight: deque[tuple[Future[ChunkOutcome], int]] = deque()  # and its chunks
        self._held: list[Chunk] = []
        self._held_bytes = 0

    def submit(self, chunk: Chunk) -> Output:
        """Take a chunk (sent with the ones after it, once they are `whole_flush_bytes`);
        returns the output of the chunks done so far (in order)."""
        output = Output()
        if self._held and chunk.offset != self._held[-1].offset + len(self._held[-1].data):
            # Chunks between went elsewhere (they hold events of the process join): what
            # is held goes alone, as only consecutive chunks travel together.
            output = self._send()
        self._held.append(chunk)
        self._held_bytes += len(chunk.data)
        if self._held_bytes < self.run.whole_flush_bytes:
            return output
        return output.extend(self._send())

    def _send(self) -> Output:
        if not self._held:
            return Output()
        chunk, count = Chunk.consecutive(self._held), len(self._held)
        self._held, self._held_bytes = [], 0
        future = self.pool._executor.submit(_evaluate, chunk, self.run.archive, self.run.ordinal)
        self._in_flight.append((future, count))
        limit = IN_FLIGHT_PER_WORKER * self.pool.workers
        output = Output()
        while self._in_flight and (len(self._in_flight) > limit or self._in_flight[0][0].done()):
            output.extend(self._take())
        return output

    def drain(self) -> Output:
        """Send the chunks held and wait for every chunk in flight."""
        output = self._send()
        while self._in_flight:
            output.extend(self._take())
        return output

    def _take(self) -> Output:
        future, chunks = self._in_flight.popleft()
        outcome = future.result()
        run = self.run
        run.lines += outcome.lines
        run.candidate_lines += outcome.lines
        run.bad_lines += outcome.bad_lines
        run.invalid_utf8 += outcome.invalid_utf8
        run.unrecognised += outcome.unrecognised
        run.engine.pooled_chunks += chunks
        times = run.engine.times
        for name in (f.name for f in fields(StageTimes)):
            setattr(times, name, getattr(times, name) + getattr(outcome.times, name))
        return outcome.output
